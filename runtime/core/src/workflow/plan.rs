//! A workflow compiled for running: steps by index, their needs and dependants, and which step
//! results each step's templates read.

use monstrum_model::{Step, Workflow, template_references};
use std::collections::HashMap;
use std::sync::Arc;

/// Which earlier results a step's templates read.
#[derive(Clone, Debug)]
pub enum Reads {
    /// These steps (by index).
    Some(Vec<usize>),
    /// All of them (the template reads `steps` as a whole, e.g. `steps["tell-dba"]`).
    All,
}

/// One step, ready to schedule.
#[derive(Debug)]
pub struct PlannedStep {
    pub step: Step,
    pub needs: Vec<usize>,
    pub dependants: Vec<usize>,
    pub reads: Reads,
}

/// A validated workflow, compiled.
#[derive(Debug)]
pub struct Plan {
    pub workflow: Workflow,
    pub steps: Vec<PlannedStep>,
    pub index: HashMap<String, usize>,
    /// The step results the workflow's `outputs` read.
    pub output_reads: Reads,
}

impl Plan {
    /// Compiles a workflow that passed validation.
    pub fn new(workflow: Workflow) -> Arc<Plan> {
        let index: HashMap<String, usize> = workflow.steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        let env = monstrum_model::expression_env();
        let mut steps: Vec<PlannedStep> = workflow
            .steps
            .iter()
            .map(|step| PlannedStep {
                step: step.clone(),
                needs: step.needs.iter().filter_map(|n| index.get(n).copied()).collect(),
                dependants: Vec::new(),
                reads: reads_of(step.templates().into_iter().map(|(_, text, expr)| (text, expr)), &env, &index),
            })
            .collect();
        for i in 0..steps.len() {
            for n in steps[i].needs.clone() {
                steps[n].dependants.push(i);
            }
        }
        let output_texts = workflow.outputs.values().map(|t| (t.as_str(), false));
        let output_reads = reads_of(output_texts, &env, &index);
        Arc::new(Plan { workflow, steps, index, output_reads })
    }

    /// The step and every step that depends on it, directly or not.
    pub fn descendants(&self, from: usize) -> Vec<usize> {
        let mut seen = vec![false; self.steps.len()];
        let mut stack = vec![from];
        let mut out = Vec::new();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            out.push(i);
            stack.extend(self.steps[i].dependants.iter().copied());
        }
        out
    }
}

/// The step results that `texts` (templates, or expressions when flagged) read.
fn reads_of<'a>(
    texts: impl Iterator<Item = (&'a str, bool)>,
    env: &minijinja::Environment<'_>,
    index: &HashMap<String, usize>,
) -> Reads {
    let mut reads = Vec::new();
    for (text, expression) in texts {
        let Ok(refs) = template_references(env, text, expression) else { return Reads::All };
        for r in refs {
            let mut parts = r.split('.');
            if parts.next() != Some("steps") {
                continue;
            }
            match parts.next().and_then(|id| index.get(id)) {
                Some(i) => reads.push(*i),
                None => return Reads::All,
            }
        }
    }
    reads.sort_unstable();
    reads.dedup();
    Reads::Some(reads)
}

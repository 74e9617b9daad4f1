//! The canvas of a workflow: its steps as nodes by kind, with their badges, and `needs` as
//! edges, laid out in layers from left to right (Sugiyama, `rust-sugiyama`). The workflow is read
//! by `monstrum_model`, the code `monstrum validate` runs; a problem the server's checks found
//! shows on its step's node.

use leptos::prelude::*;
use monstrum_model::{Step, Workflow};
use std::collections::HashMap;

const W: f64 = 190.0;
const H: f64 = 64.0;
/// Room between layers (left to right) and between nodes of a layer.
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 28.0;
const MARGIN: f64 = 20.0;

/// A step placed on the canvas.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: String,
    pub kind: &'static str,
    /// What it calls: the tool, the bot, the sub-workflow, or the gate's message.
    pub detail: String,
    pub badges: Vec<&'static str>,
    /// The problems the checks found in this step.
    pub problems: Vec<String>,
    pub x: f64,
    pub y: f64,
}

/// The canvas of a workflow: nodes, edges (indexes into `nodes`) and its size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layout {
    pub nodes: Vec<Node>,
    pub edges: Vec<(usize, usize)>,
    pub width: f64,
    pub height: f64,
}

fn describe(step: &Step) -> (&'static str, String) {
    let kinds = step.kind_names();
    let kind = if kinds.len() == 1 { kinds[0] } else { "step" };
    let detail = match kind {
        "tool" => step.tool.clone().unwrap_or_default(),
        "llm" => step.bot.clone().map(|b| format!("bot {b}")).unwrap_or_else(|| "model".into()),
        "approval" => step.approval.as_ref().map(|a| a.message.clone()).unwrap_or_default(),
        "delegate" => step.delegate.as_ref().map(|d| format!("to {}", d.bot)).unwrap_or_default(),
        "workflow" => step.workflow.clone().unwrap_or_default(),
        _ => format!("{} kinds: {}", kinds.len(), kinds.join(", ")),
    };
    (kind, detail)
}

fn badges(step: &Step) -> Vec<&'static str> {
    let mut out = Vec::new();
    if step.condition.is_some() {
        out.push("if");
    }
    if step.for_each.is_some() {
        out.push("for_each");
    }
    if step.retry.is_some() {
        out.push("retry");
    }
    if step.on_error != Default::default() {
        out.push("on_error");
    }
    out
}

/// The step a diagnostic's path is about (`steps[2].needs[0]` is step 2).
pub fn step_of(path: &str) -> Option<usize> {
    path.strip_prefix("steps[")?.split(']').next()?.parse().ok()
}

/// Lays out `workflow`, marking steps with `problems` (step index, text).
pub fn layout(workflow: &Workflow, problems: &[(usize, String)]) -> Layout {
    let index: HashMap<&str, usize> = workflow.steps.iter().enumerate().map(|(i, s)| (s.id.as_str(), i)).collect();
    let edges: Vec<(usize, usize)> = workflow
        .steps
        .iter()
        .enumerate()
        .flat_map(|(j, s)| {
            s.needs.iter().filter_map(|n| index.get(n.as_str())).map(move |&i| (i, j)).collect::<Vec<_>>()
        })
        .filter(|(i, j)| i != j)
        .collect();
    let mut nodes: Vec<Node> = workflow
        .steps
        .iter()
        .map(|s| {
            let (kind, detail) = describe(s);
            Node { id: s.id.clone(), kind, detail, badges: badges(s), problems: Vec::new(), x: 0.0, y: 0.0 }
        })
        .collect();
    for (i, text) in problems {
        if let Some(node) = nodes.get_mut(*i) {
            node.problems.push(text.clone());
        }
    }
    if nodes.is_empty() {
        return Layout::default();
    }
    // Sugiyama lays layers top to bottom: a node's size is given turned, and x and y are
    // swapped back, so that layers run left to right.
    let vertices: Vec<(u32, (f64, f64))> = (0..nodes.len() as u32).map(|i| (i, (H + GAP_Y, W + GAP_X))).collect();
    let sugiyama_edges: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| (a as u32, b as u32)).collect();
    let config = rust_sugiyama::configure::Config { vertex_spacing: 1.0, dummy_vertices: true, ..Default::default() };
    let components = rust_sugiyama::from_vertices_and_edges(&vertices, &sugiyama_edges, &config);
    // Components one below the other.
    let (mut width, mut top) = (0.0f64, MARGIN);
    for (placed, _, _) in components {
        let min_x = placed.iter().map(|(_, (x, _))| *x).fold(f64::INFINITY, f64::min);
        let min_y = placed.iter().map(|(_, (_, y))| *y).fold(f64::INFINITY, f64::min);
        let mut bottom = top;
        for (i, (x, y)) in placed {
            let node = &mut nodes[i];
            node.x = MARGIN + (y - min_y);
            node.y = top + (x - min_x);
            width = width.max(node.x + W + MARGIN);
            bottom = bottom.max(node.y + H);
        }
        top = bottom + GAP_Y * 2.0;
    }
    Layout { nodes, edges, width, height: top - GAP_Y * 2.0 + MARGIN }
}

/// The canvas of `layout`; `status` gives a step's status in a run (none on the editor).
#[component]
pub fn Canvas(
    layout: Layout,
    #[prop(optional, into)] status: Option<Signal<HashMap<String, String>>>,
) -> impl IntoView {
    let Layout { nodes, edges, width, height } = layout;
    let paths = edges
        .iter()
        .map(|&(a, b)| {
            let (from, to) = (&nodes[a], &nodes[b]);
            let (x1, y1, x2, y2) = (from.x + W, from.y + H / 2.0, to.x, to.y + H / 2.0);
            let bend = ((x2 - x1) / 2.0).max(30.0);
            let d = format!("M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}", x1 + bend, x2 - bend);
            view! { <path class="edge" d=d data-from=from.id.clone() data-to=to.id.clone() /> }
        })
        .collect_view();
    let boxes = nodes
        .into_iter()
        .map(|n| {
            let id = n.id.clone();
            let (kind, invalid) = (n.kind, if n.problems.is_empty() { "" } else { "invalid" });
            let class = move || {
                let state = status.and_then(|s| s.get().get(&id).cloned()).unwrap_or_default();
                format!("node kind-{kind} {invalid} {state}")
            };
            let badges = n.badges.iter().map(|b| view! { <tspan class="badge">{format!("[{b}] ")}</tspan> }).collect_view();
            let title = if n.problems.is_empty() { n.detail.clone() } else { n.problems.join("\n") };
            // What fits in the box: kind and detail, cut with an ellipsis (the title has it all).
            let line = format!("{} · {}", n.kind, n.detail);
            let line = if line.chars().count() > 28 { format!("{}…", line.chars().take(27).collect::<String>()) } else { line };
            view! {
                <g class=class data-step=n.id.clone() transform=format!("translate({},{})", n.x, n.y)>
                    <title>{title}</title>
                    <rect width=W height=H rx="8" />
                    <text x="12" y="22" class="id">{n.id.clone()}</text>
                    <text x="12" y="40" class="detail">{line}</text>
                    <text x="12" y="56" class="badges">{badges}{(!n.problems.is_empty()).then(|| format!("⚠ {}", n.problems.len()))}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <svg id="canvas" class="canvas" width=width height=height viewBox=format!("0 0 {width} {height}")>
            <g class="edges">{paths}</g>
            <g class="nodes">{boxes}</g>
        </svg>
    }
}

//! Loading a file: YAML to typed values, collecting every problem at once.
//!
//! Each step is deserialized on its own, so one broken step does not hide the problems of the
//! others; then the semantic checks of [`crate::validate`] run over what was read.

use crate::bot::Bot;
use crate::diagnostic::{Diagnostic, PathSeg};
use crate::locate::Locator;
use crate::workflow::{Step, Workflow};
use serde::de::DeserializeOwned;
use std::collections::HashSet;

/// The code of an unknown key, which is shown at the key rather than at its value.
const UNKNOWN_KEY: &str = "E012";

/// A loaded file: the value when it could be read, and every problem found.
#[derive(Debug)]
pub struct Loaded<T> {
    /// The typed value; `None` when the file could not be read at all.
    pub value: Option<T>,
    /// Problems, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

impl<T> Loaded<T> {
    /// The value if there is no problem.
    pub fn ok(self) -> Result<T, Vec<Diagnostic>> {
        match self.value {
            Some(v) if self.diagnostics.iter().all(Diagnostic::is_warning) => Ok(v),
            _ => Err(self.diagnostics),
        }
    }
}

/// Reads and validates a workflow file's text.
pub fn load_workflow(text: &str) -> Loaded<Workflow> {
    let locator = Locator::new(text);
    let mut diagnostics = Vec::new();
    let Some(mut root) = yaml_root(text, &locator, &mut diagnostics) else {
        return Loaded { value: None, diagnostics };
    };
    let raw_steps = match root.as_mapping_mut().and_then(|m| m.remove("steps")) {
        Some(serde_yaml::Value::Sequence(seq)) => seq,
        Some(serde_yaml::Value::Null) | None => Vec::new(),
        Some(_) => {
            diagnostics.push(Diagnostic::new("E002", path_of(&["steps"]), "`steps` must be a list of steps"));
            Vec::new()
        }
    };
    let mut workflow: Option<Workflow> = typed(root, Vec::new(), &mut diagnostics);
    let mut steps = Vec::new();
    let mut unreadable_ids = HashSet::new();
    for (i, raw) in raw_steps.into_iter().enumerate() {
        let id = raw.get("id").and_then(|v| v.as_str()).map(str::to_string);
        match typed::<Step>(raw, vec![PathSeg::Key("steps".into()), PathSeg::Index(i)], &mut diagnostics) {
            Some(step) => steps.push((i, step)),
            None => unreadable_ids.extend(id),
        }
    }
    if let Some(wf) = workflow.as_mut() {
        diagnostics.extend(crate::validate::validate_workflow(wf, &steps, &unreadable_ids));
        wf.steps = steps.into_iter().map(|(_, s)| s).collect();
    } else if workflow.is_none() && diagnostics.is_empty() {
        diagnostics.push(Diagnostic::new("E002", Vec::new(), "not a workflow"));
    }
    finish(workflow, diagnostics, &locator)
}

/// Where `path` points in `text`, for problems found outside this crate (a missing file).
pub fn locate(text: &str, path: &[PathSeg]) -> Option<crate::Location> {
    Locator::new(text).locate(path)
}

/// Reads a bot file's text.
pub fn load_bot(text: &str) -> Loaded<Bot> {
    let locator = Locator::new(text);
    let mut diagnostics = Vec::new();
    let bot =
        yaml_root(text, &locator, &mut diagnostics).and_then(|root| typed::<Bot>(root, Vec::new(), &mut diagnostics));
    finish(bot, diagnostics, &locator)
}

/// Reads and checks a plugin manifest's text.
pub fn load_manifest(text: &str) -> Loaded<crate::Manifest> {
    load_checked(text, crate::manifest::validate_manifest)
}

/// Reads a YAML mapping into `T` and checks it with `check`, every problem located.
pub(crate) fn load_checked<T: DeserializeOwned>(text: &str, check: impl FnOnce(&T) -> Vec<Diagnostic>) -> Loaded<T> {
    let locator = Locator::new(text);
    let mut diagnostics = Vec::new();
    let value =
        yaml_root(text, &locator, &mut diagnostics).and_then(|root| typed::<T>(root, Vec::new(), &mut diagnostics));
    if let Some(v) = &value {
        diagnostics.extend(check(v));
    }
    finish(value, diagnostics, &locator)
}

fn finish<T>(value: Option<T>, mut diagnostics: Vec<Diagnostic>, locator: &Locator<'_>) -> Loaded<T> {
    for d in &mut diagnostics {
        if d.location.is_none()
            && d.code == UNKNOWN_KEY
            && let Some((PathSeg::Key(key), parent)) = d.path.split_last()
        {
            d.location = locator.locate_key(parent, key);
        }
        if d.location.is_none() {
            d.location = locator.locate(&d.path);
        }
    }
    diagnostics.sort_by_key(|d| d.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
    Loaded { value, diagnostics }
}

fn yaml_root(text: &str, locator: &Locator<'_>, out: &mut Vec<Diagnostic>) -> Option<serde_yaml::Value> {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(v @ serde_yaml::Value::Mapping(_)) => Some(v),
        Ok(_) => {
            out.push(Diagnostic::new("E001", Vec::new(), "the file must be a YAML mapping"));
            None
        }
        Err(e) => {
            let mut d =
                Diagnostic::new("E001", Vec::new(), format!("invalid YAML: {}", strip_location(&e.to_string())));
            d.location = e.location().map(|l| locator.at(l.line(), l.column()));
            out.push(d);
            None
        }
    }
}

/// Deserializes `value` into `T`, reporting a failure at the path where it happened.
fn typed<T: DeserializeOwned>(value: serde_yaml::Value, prefix: Vec<PathSeg>, out: &mut Vec<Diagnostic>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let mut path = prefix;
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Seq { index } => path.push(PathSeg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => path.push(PathSeg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => path.push(PathSeg::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            let message = strip_location(&e.inner().to_string());
            let unknown = message.starts_with("unknown field");
            let mut d = Diagnostic::new(if unknown { UNKNOWN_KEY } else { "E002" }, path, message.clone());
            if unknown {
                d.help =
                    Some(message.split_once(", expected").map_or(String::new(), |(_, rest)| format!("expected{rest}")));
                d.message = message.split_once(", expected").map_or(message.clone(), |(m, _)| m.to_string());
            }
            out.push(d);
            None
        }
    }
}

fn strip_location(message: &str) -> String {
    // serde_yaml appends " at line L column C"; the diagnostic carries the location itself.
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn path_of(keys: &[&str]) -> Vec<PathSeg> {
    keys.iter().map(|k| PathSeg::Key((*k).to_string())).collect()
}

//! Writing an edited workflow back over its text, keeping what the edit did not touch as it was
//! written: every line outside `steps`, and every step whose value did not change, with their
//! comments and style. Only the steps that changed (or are new) are written again; a removed
//! step's lines go. When the text's `steps` is not a block list of mappings, one per `- ` line,
//! the whole file is written again.

use serde_yaml::{Mapping, Value};

/// One step of the original text: its value and its lines (`start..end`, 0-based, end excluded).
struct Item {
    value: Value,
    lines: std::ops::Range<usize>,
}

/// The steps of `text` (whose values are `values`) with their lines, and the indentation of their
/// `- `; `None` when the text is not laid out so that steps can be kept line by line.
fn items(text: &str, values: &[Value]) -> Option<(Vec<Item>, usize)> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(false);
    let root = marked_yaml::parse_yaml_with_options(0, text, options).ok()?;
    let steps = root.as_mapping()?.get("steps")?.as_sequence()?;
    if values.len() != steps.len() || steps.is_empty() {
        return None;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::new();
    let mut dash = None;
    for item in steps.iter() {
        let (key, _) = item.as_mapping()?.iter().next()?;
        let line = key.span().start()?.line().checked_sub(1)?;
        let text = lines.get(line)?;
        let indent = text.len() - text.trim_start().len();
        // The item's first key is on its `- ` line, and every item has the same indentation.
        if !text.trim_start().starts_with("- ") || *dash.get_or_insert(indent) != indent {
            return None;
        }
        starts.push(line);
    }
    let dash = dash?;
    // An item ends before the next one; the last, at the first line after it indented no more
    // than its `- ` (the next key of the file), not counting blank and comment lines between.
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = match starts.get(i + 1) {
            Some(&next) => next,
            None => {
                let mut end = start + 1;
                let mut last_content = start + 1;
                while end < lines.len() {
                    let l = lines[end];
                    let t = l.trim();
                    if t.is_empty() || t.starts_with('#') {
                        end += 1;
                        continue;
                    }
                    if l.len() - l.trim_start().len() <= dash {
                        break;
                    }
                    end += 1;
                    last_content = end;
                }
                last_content
            }
        };
        if end <= start {
            return None;
        }
        out.push(Item { value: values[i].clone(), lines: start..end });
    }
    Some((out, dash))
}

/// `step` as a block list item at `indent`.
fn item_text(step: &Value, indent: usize) -> String {
    let text = serde_yaml::to_string(&vec![step]).expect("a YAML value always serializes");
    let pad = " ".repeat(indent);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The text of `root` (an edit of `original`'s mapping), keeping from `original` every line the
/// edit did not change.
pub(crate) fn write_over(original: &str, root: &Mapping) -> String {
    let whole = || serde_yaml::to_string(root).expect("a YAML value always serializes");
    let Ok(Value::Mapping(before)) = serde_yaml::from_str::<Value>(original) else { return whole() };
    // Only `steps` may differ; anything else is written whole.
    fn rest(m: &Mapping) -> Vec<(&Value, &Value)> {
        m.iter().filter(|(k, _)| k.as_str() != Some("steps")).collect()
    }
    if rest(&before) != rest(root) {
        return whole();
    }
    let Some(Value::Sequence(before_steps)) = before.get("steps") else { return whole() };
    let Some((kept, dash)) = items(original, before_steps) else { return whole() };
    let Some(Value::Sequence(steps)) = root.get("steps") else { return whole() };
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let (first, last) = (kept[0].lines.start, kept[kept.len() - 1].lines.end);
    let mut out: String = lines[..first].concat();
    let mut used = vec![false; kept.len()];
    for step in steps {
        // A step as it was (same value) keeps its text; each original is used once.
        let same = kept.iter().enumerate().position(|(i, k)| !used[i] && k.value == *step);
        match same {
            Some(i) => {
                used[i] = true;
                out.push_str(&lines[kept[i].lines.clone()].concat());
            }
            None => {
                if !out.ends_with('\n') && !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&item_text(step, dash));
            }
        }
    }
    if steps.is_empty() {
        return whole();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&lines[last..].concat());
    out
}

//! Enabling and disabling a skill in a bot file's text, keeping everything else as it was
//! written: comments, order, quoting and the other keys are left alone; only the `skills:` list
//! changes, in the style it is written in (`skills: [a, b]` on one line, or a block list of one
//! name per `- ` line). A layout this does not edit line by line is refused, and nothing is
//! written, rather than the file being written again without its comments.

use crate::edit::EditError;

fn refuse<T>(why: impl Into<String>) -> Result<T, EditError> {
    Err(EditError(why.into()))
}

/// Where the top-level `skills:` key is, and its names as written.
enum Skills {
    /// No `skills:` key.
    Absent,
    /// `skills:` with nothing after it, on line `line`.
    Empty { line: usize },
    /// `skills: [a, b]  # comment` on line `line`: the text between the brackets starts at
    /// `open + 1` and ends at `close`.
    Flow { line: usize, open: usize, close: usize, names: Vec<String> },
    /// `skills:` then one `- name` line each (`lines`, 0-based), with the indentation `indent`.
    Block { key_line: usize, lines: Vec<usize>, indent: String, names: Vec<String> },
}

fn locate(text: &str) -> Result<Skills, EditError> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(false);
    let root = marked_yaml::parse_yaml_with_options(0, text, options)
        .map_err(|e| EditError(format!("the bot file is not valid YAML: {e}")))?;
    let Some(map) = root.as_mapping() else { return refuse("the bot file is not a mapping") };
    let Some((key, value)) = map.iter().find(|(k, _)| k.as_str() == "skills") else { return Ok(Skills::Absent) };
    let lines: Vec<&str> = text.lines().collect();
    let key_line = key.span().start().map(|m| m.line() - 1).ok_or_else(|| EditError("no position".into()))?;
    let rest = lines[key_line].split_once(':').map(|(_, r)| r).unwrap_or_default();
    let after = rest.split_once(" #").map_or(rest, |(v, _)| v).trim();
    if after.is_empty() && value.as_sequence().is_none_or(|s| s.is_empty()) {
        return Ok(Skills::Empty { line: key_line });
    }
    let Some(items) = value.as_sequence() else { return refuse("`skills:` is not a list") };
    let mut names = Vec::new();
    for item in items.iter() {
        let Some(name) = item.as_scalar() else { return refuse("`skills:` holds something that is not a name") };
        names.push(name.as_str().to_string());
    }
    if after.starts_with('[') {
        let line = lines[key_line];
        let open = line.find('[').unwrap_or_default();
        let Some(close) = line.rfind(']') else {
            return refuse("`skills: [...]` spans several lines: edit it by hand, or write one name per line");
        };
        return Ok(Skills::Flow { line: key_line, open, close, names });
    }
    let mut item_lines = Vec::new();
    for item in items.iter() {
        let start = item.span().start().map(|m| m.line() - 1).ok_or_else(|| EditError("no position".into()))?;
        let end = item.span().end().map_or(start, |m| m.line() - 1);
        let dash = lines[start].trim_start();
        if end != start || !dash.starts_with('-') || item_lines.contains(&start) {
            return refuse("`skills:` is laid out in a way this does not edit: write one `- name` per line");
        }
        item_lines.push(start);
    }
    let first = lines[item_lines[0]];
    let indent = first[..first.len() - first.trim_start().len()].to_string();
    Ok(Skills::Block { key_line, lines: item_lines, indent, names })
}

/// The text of a bot file with skill `name` added to its `skills:` (the text as it was when it
/// is already there).
pub fn enable_skill(text: &str, name: &str) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match locate(text)? {
        Skills::Absent => lines.push(format!("skills: [{name}]")),
        Skills::Empty { line } => lines[line] = format!("skills: [{name}]"),
        Skills::Flow { names, .. } | Skills::Block { names, .. } if names.iter().any(|n| n == name) => {
            return Ok(text.to_string());
        }
        Skills::Flow { line, open, close, names } => {
            let l = &lines[line];
            let inside =
                if names.is_empty() { name.to_string() } else { format!("{}, {name}", l[open + 1..close].trim_end()) };
            lines[line] = format!("{}[{inside}]{}", &l[..open], &l[close + 1..]);
        }
        Skills::Block { lines: items, indent, .. } => {
            let last = *items.last().unwrap_or(&0);
            lines.insert(last + 1, format!("{indent}- {name}"));
        }
    }
    Ok(joined(lines))
}

/// The text of a bot file with skill `name` taken out of its `skills:` (the text as it was when
/// it is not there).
pub fn disable_skill(text: &str, name: &str) -> Result<String, EditError> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match locate(text)? {
        Skills::Absent | Skills::Empty { .. } => return Ok(text.to_string()),
        Skills::Flow { names, .. } | Skills::Block { names, .. } if !names.iter().any(|n| n == name) => {
            return Ok(text.to_string());
        }
        Skills::Flow { line, open, close, names } => {
            let kept: Vec<&str> = names.iter().map(String::as_str).filter(|n| *n != name).collect();
            let l = &lines[line];
            lines[line] = format!("{}[{}]{}", &l[..open], kept.join(", "), &l[close + 1..]);
        }
        Skills::Block { key_line, lines: items, names, .. } => {
            let at = names.iter().position(|n| n == name).unwrap_or_default();
            lines.remove(items[at]);
            if items.len() == 1 {
                lines[key_line] = lines[key_line].replacen("skills:", "skills: []", 1);
            }
        }
    }
    Ok(joined(lines))
}

fn joined(lines: Vec<String>) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str =
        "# the on-call bot\nname: ops   # keep me\nskills:\n  - log-triage   # first\n  - disk-care\nresources: []\n";

    #[test]
    fn a_block_list_gains_and_loses_one_line_and_keeps_the_rest() {
        let on = enable_skill(BLOCK, "careful").unwrap();
        assert_eq!(
            on,
            "# the on-call bot\nname: ops   # keep me\nskills:\n  - log-triage   # first\n  - disk-care\n  - careful\nresources: []\n"
        );
        assert_eq!(enable_skill(&on, "careful").unwrap(), on, "already there: unchanged");
        assert_eq!(disable_skill(&on, "careful").unwrap(), BLOCK);
        let off = disable_skill(BLOCK, "log-triage").unwrap();
        assert_eq!(off, "# the on-call bot\nname: ops   # keep me\nskills:\n  - disk-care\nresources: []\n");
        let none = disable_skill(&off, "disk-care").unwrap();
        assert_eq!(none, "# the on-call bot\nname: ops   # keep me\nskills: []\nresources: []\n");
        assert_eq!(
            enable_skill(&none, "x").unwrap(),
            "# the on-call bot\nname: ops   # keep me\nskills: [x]\nresources: []\n"
        );
    }

    #[test]
    fn a_flow_list_is_edited_in_place_with_its_comment() {
        let text = "name: ops\nskills: [log-triage]  # enabled by hand\n";
        let on = enable_skill(text, "careful").unwrap();
        assert_eq!(on, "name: ops\nskills: [log-triage, careful]  # enabled by hand\n");
        assert_eq!(disable_skill(&on, "log-triage").unwrap(), "name: ops\nskills: [careful]  # enabled by hand\n");
        assert_eq!(enable_skill("name: ops\n", "careful").unwrap(), "name: ops\nskills: [careful]\n");
        assert_eq!(enable_skill("name: ops\nskills:\n", "careful").unwrap(), "name: ops\nskills: [careful]\n");
        assert_eq!(disable_skill("name: ops\n", "careful").unwrap(), "name: ops\n");
    }

    #[test]
    fn a_layout_it_cannot_edit_line_by_line_is_refused() {
        assert!(enable_skill("name: ops\nskills: [a,\n  b]\n", "c").is_err());
        assert!(enable_skill("name: ops\nskills: log-triage\n", "c").is_err());
        assert!(enable_skill("name: [\n", "c").is_err());
    }
}

//! A skill (DESIGN.md, "Skills"): `skills/<name>/SKILL.md`, YAML front matter between `---`
//! lines and a Markdown body that joins the bot's system prompt when the skill is enabled.

use crate::diagnostic::Diagnostic;
use crate::parse::Loaded;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A skill's front matter and body.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    /// Its name (the folder's).
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Semantic version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The tools it needs (`<instance>.<tool>`); while it is enabled, they are the only plugin
    /// tools the bot is offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// Values per dimension that narrow the bot's scope while it is enabled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope: BTreeMap<String, Value>,
    /// The Markdown body.
    #[serde(skip)]
    pub body: String,
}

/// Reads a `SKILL.md` file's text.
pub fn load_skill(text: &str) -> Loaded<Skill> {
    let mut lines = text.split_inclusive('\n');
    let opened = lines.next().is_some_and(|l| l.trim_end() == "---");
    let mut front = String::new();
    let mut closed = false;
    if opened {
        for line in lines.by_ref() {
            if line.trim_end() == "---" {
                closed = true;
                break;
            }
            front.push_str(line);
        }
    }
    if !opened || !closed {
        let d = Diagnostic::new("E001", Vec::new(), "a SKILL.md starts with YAML front matter between `---` lines");
        return Loaded { value: None, diagnostics: vec![d] };
    }
    let body: String = lines.collect();
    let loaded = crate::parse::load_typed::<Skill>(&front);
    Loaded {
        value: loaded.value.map(|mut s| {
            s.body = body.trim().to_string();
            s
        }),
        diagnostics: loaded.diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::load_skill;

    #[test]
    fn front_matter_and_body() {
        let s = load_skill("---\nname: triage\ntools: [prod-ssh.exec]\n---\n# How\nLook at logs.\n").ok().unwrap();
        assert_eq!(s.tools, ["prod-ssh.exec"]);
        assert_eq!(s.body, "# How\nLook at logs.");
        assert!(load_skill("name: x\n").ok().is_err());
        assert!(load_skill("---\nname: x\nbogus: 1\n---\n").ok().is_err());
    }
}

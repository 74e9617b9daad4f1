//! A skill (DESIGN.md, "Skills"): `skills/<name>/SKILL.md` in the Agent Skills format
//! (agentskills.io): YAML front matter between `---` lines and a Markdown body that joins the
//! bot's system prompt when the skill is enabled.
//!
//! What the ecosystem publishes loads: the specification's fields (`name`, `description`,
//! `license`, `compatibility`, `metadata`, `allowed-tools` in each spelling found in published
//! skills), Monstrum's (`version`, `tools`, `scope`), and fields of other hosts
//! (`argument-hint`, `user-invocable`, ...), which are kept and ignored with a warning (W001).
//! A skill never grants: `allowed-tools` and `tools` only narrow what its bot's bindings allow.

use crate::diagnostic::{Diagnostic, PathSeg};
use crate::parse::Loaded;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A skill's front matter and body.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Skill {
    /// Its name: 1-64 lowercase letters, digits and single hyphens; its folder's name.
    pub name: String,
    /// What it is for and when to use it (1-1024 characters).
    #[serde(default)]
    pub description: String,
    /// Its license (the specification's field).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "scalar")]
    pub license: Option<String>,
    /// What it needs of its environment (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "scalar")]
    pub compatibility: Option<String>,
    /// Free string properties (`author`, `version`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "string_map")]
    pub metadata: BTreeMap<String, String>,
    /// The specification's tool list, in any spelling (space- or comma-separated, or a list).
    /// Here it narrows, as `tools` does; it never pre-approves.
    #[serde(default, rename = "allowed-tools", skip_serializing_if = "Vec::is_empty", deserialize_with = "tool_list")]
    pub allowed_tools: Vec<String>,
    /// Semantic version (also read from `metadata.version`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "scalar")]
    pub version: Option<String>,
    /// The tools it needs (`<instance>.<tool>`); while it is enabled, they are the only plugin
    /// tools the bot is offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "tool_list")]
    pub tools: Vec<String>,
    /// Values per dimension that narrow the bot's scope while it is enabled.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scope: BTreeMap<String, Value>,
    /// Fields of other hosts, kept as they are and ignored.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, Value>,
    /// The Markdown body.
    #[serde(skip)]
    pub body: String,
}

impl Skill {
    /// The tools it narrows to: `tools` and `allowed-tools` together (empty: it does not narrow
    /// the tool list).
    pub fn needed_tools(&self) -> impl Iterator<Item = &String> {
        self.tools.iter().chain(self.allowed_tools.iter().filter(|t| !self.tools.contains(t)))
    }
}

/// Whether `name` follows the Agent Skills rules: 1-64 lowercase letters, digits and single
/// hyphens, not at either end.
pub fn valid_skill_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Reads a `SKILL.md` file's text. Warnings (W001, W002) leave the skill loaded; errors (E001,
/// E002, E016) do not. Lines are the file's, front matter and all.
pub fn load_skill(text: &str) -> Loaded<Skill> {
    load_skill_in(text, None)
}

/// [`load_skill`] of the `SKILL.md` in folder `folder`, whose name the skill must have.
pub fn load_skill_in(text: &str, folder: Option<&str>) -> Loaded<Skill> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    let opened = first.trim_end() == "---";
    // The opening line as blanks: the front matter keeps the file's lines and offsets, so every
    // location (and the YAML parser's own messages) says the file's line.
    let mut front: String = first.chars().map(|c| if c == '\n' || c == '\r' { c } else { ' ' }).collect();
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
    let mut loaded = crate::parse::load_checked::<Skill>(&front, |s| {
        let mut problems = check(s);
        if let Some(folder) = folder.filter(|f| *f != s.name) {
            problems.push(
                Diagnostic::new(
                    "E016",
                    vec![PathSeg::Key("name".into())],
                    format!("the skill is named `{}`, but its folder is `{folder}`", s.name),
                )
                .with_help("a skill's name is its folder's name"),
            );
        }
        problems
    });
    if let Some(s) = &mut loaded.value {
        s.body = body.trim().to_string();
        if s.version.is_none() {
            s.version = s.metadata.get("version").cloned();
        }
    }
    loaded
}

/// The rules of the Agent Skills specification, and what Monstrum says about other hosts' fields.
fn check(s: &Skill) -> Vec<Diagnostic> {
    let key = |k: &str| vec![PathSeg::Key(k.to_string())];
    let mut out = Vec::new();
    if !valid_skill_name(&s.name) {
        out.push(
            Diagnostic::new("E016", key("name"), format!("`{}` is not a skill name", s.name))
                .with_help("1-64 lowercase letters, digits and single hyphens, not at either end; the folder's name"),
        );
    }
    let chars = s.description.chars().count();
    if chars == 0 || s.description.trim().is_empty() {
        out.push(
            Diagnostic::new("E016", key("description"), "a skill needs a description")
                .with_help("what it does and when to use it, 1-1024 characters"),
        );
    } else if chars > 1024 {
        out.push(Diagnostic::new(
            "E016",
            key("description"),
            format!("the description has {chars} characters, more than 1024"),
        ));
    }
    if let Some(c) = &s.compatibility
        && c.chars().count() > 500
    {
        out.push(Diagnostic::new("E016", key("compatibility"), "`compatibility` has more than 500 characters"));
    }
    for field in s.other.keys() {
        out.push(
            Diagnostic::new("W001", key(field), format!("`{field}` is another host's field: kept and ignored"))
                .with_help("Monstrum reads name, description, license, compatibility, metadata, allowed-tools, version, tools and scope"),
        );
    }
    for (field, list) in [("allowed-tools", &s.allowed_tools), ("tools", &s.tools)] {
        for (i, tool) in list.iter().enumerate() {
            if !tool.contains('.') {
                out.push(
                    Diagnostic::new(
                        "W002",
                        vec![PathSeg::Key(field.to_string()), PathSeg::Index(i)],
                        format!("`{tool}` is not a Monstrum tool name (`instance.tool`)"),
                    )
                    .with_help("the list only narrows: while the skill is enabled, the bot is offered only listed tools it is bound to"),
                );
            }
        }
    }
    out
}

/// A scalar as text: `version: 1.2` and `license: MIT` alike.
fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(_) => Err(de::Error::custom("expected text")),
    }
}

/// A mapping of scalars, as text.
fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Value>>::deserialize(d)?.unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            v @ (Value::Number(_) | Value::Bool(_)) => Ok((k, v.to_string())),
            _ => Err(de::Error::custom(format!("metadata `{k}`: expected text"))),
        })
        .collect()
}

/// A tool list as published skills write it: `a b`, `a, b`, `a,b` or a YAML list.
fn tool_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()).map(str::to_string).collect()
    };
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(split(&s)),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(split(&s)),
                _ => Err(de::Error::custom("expected tool names")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|lists| lists.into_iter().flatten().collect()),
        Some(_) => Err(de::Error::custom("expected tool names: a list, or names separated by spaces or commas")),
    }
}

#[cfg(test)]
mod tests {
    use super::load_skill;

    #[test]
    fn front_matter_and_body() {
        let s =
            load_skill("---\nname: triage\ndescription: Triage.\ntools: [prod-ssh.exec]\n---\n# How\nLook at logs.\n")
                .ok()
                .unwrap();
        assert_eq!(s.tools, ["prod-ssh.exec"]);
        assert_eq!(s.body, "# How\nLook at logs.");
        assert!(load_skill("name: x\n").ok().is_err());
    }

    #[test]
    fn a_published_skill_loads_with_warnings_for_other_hosts_fields() {
        let text = "---\nname: pdf-tools\ndescription: Fill PDF forms. Use when asked to.\nlicense: Apache-2.0\n\
                    metadata:\n  author: acme\n  version: 1.2\nargument-hint: \"[file]\"\nuser-invocable: true\n\
                    allowed-tools: Read Grep\n---\nBody.\n";
        let loaded = load_skill(text);
        let codes: Vec<(&str, usize)> =
            loaded.diagnostics.iter().map(|d| (d.code, d.location.map_or(0, |l| l.line))).collect();
        assert_eq!(codes, [("W001", 8), ("W001", 9), ("W002", 10), ("W002", 10)], "{:?}", loaded.diagnostics);
        let s = loaded.ok().expect("warnings do not stop a skill");
        assert_eq!(s.version.as_deref(), Some("1.2"), "version from metadata");
        assert_eq!(s.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(s.other["argument-hint"], "[file]");
        assert_eq!(s.allowed_tools, ["Read", "Grep"]);
    }

    #[test]
    fn allowed_tools_in_every_spelling() {
        for spelling in ["a.x b.y", "a.x, b.y", "a.x,b.y", "[a.x, b.y]", "\n  - a.x\n  - b.y"] {
            let text = format!("---\nname: s\ndescription: d\nallowed-tools: {spelling}\n---\n");
            let s = load_skill(&text).ok().unwrap_or_else(|e| panic!("{spelling}: {e:?}"));
            assert_eq!(s.allowed_tools, ["a.x", "b.y"], "{spelling}");
            assert_eq!(s.needed_tools().collect::<Vec<_>>(), ["a.x", "b.y"]);
        }
    }

    #[test]
    fn a_wrong_skill_is_located_in_the_file() {
        let bad_name = load_skill("---\nname: Bad--Name\ndescription: d\n---\n").ok().unwrap_err();
        assert_eq!((bad_name[0].code, bad_name[0].location.map(|l| l.line)), ("E016", Some(2)), "{bad_name:?}");
        let no_description = load_skill("---\nname: ok\n---\n").ok().unwrap_err();
        assert_eq!(no_description[0].code, "E016", "{no_description:?}");
        assert!(no_description[0].message.contains("description"), "{no_description:?}");
        let long = format!("---\nname: ok\ndescription: {}\n---\n", "x".repeat(1025));
        assert!(load_skill(&long).ok().unwrap_err()[0].message.contains("more than 1024"));
        let yaml = load_skill("---\nname: ok\ndescription: [unclosed\n---\n").ok().unwrap_err();
        // The flow list is still open where the front matter ends: the closing `---`, line 4.
        assert_eq!((yaml[0].code, yaml[0].location.map(|l| l.line)), ("E001", Some(4)), "{yaml:?}");
        let tools = load_skill("---\nname: ok\ndescription: d\ntools: 3\n---\n").ok().unwrap_err();
        assert_eq!(tools[0].code, "E002", "{tools:?}");
    }
}

//! A bot's enabled skills in its system prompt: their bodies while they fit
//! [`SKILL_PROMPT_BUDGET`]; past it (a bot with dozens of skills), their catalogue (name and
//! description), and the own-data tool `skills.read`, with which the model reads a skill's body
//! or a file of its folder (`references/guide.md`) when it needs one. Reading its own skills is
//! the bot's own business: ownership is the permission, as for its memory, and the call is
//! audited like any other. Nothing in a skill's folder is ever run.

use super::policy::BotPolicy;
use crate::llm::ToolSpec;
use jsonschema::Validator;
use serde_json::{Value, json};
use std::sync::{Arc, LazyLock};

/// The most characters of skill bodies that join a system prompt (about 4,000 tokens).
pub const SKILL_PROMPT_BUDGET: usize = 16_000;

/// The tool with which a model reads its bot's skills when they do not all fit its prompt.
pub const SKILLS_READ: &str = "skills.read";

/// Reads a skill's file: `(skill, path inside its folder)` to the file's text. The workspace
/// gives one that keeps every path inside the skill's folder.
pub type SkillFiles = Arc<dyn Fn(&str, &str) -> anyhow::Result<String> + Send + Sync>;

pub(super) static SPEC: LazyLock<Arc<ToolSpec>> = LazyLock::new(|| {
    Arc::new(ToolSpec {
        name: SKILLS_READ.into(),
        description: "Read one of your skills: its instructions, or a file of its folder such as references/guide.md"
            .into(),
        parameters: json!({
            "type": "object",
            "required": ["skill"],
            "properties": {
                "skill": { "type": "string", "description": "the skill's name, from the list in your instructions" },
                "file": { "type": "string", "description": "a file in the skill's folder; without it, the skill's instructions" }
            },
            "additionalProperties": false
        }),
    })
});

pub(super) static VALIDATOR: LazyLock<Validator> =
    LazyLock::new(|| jsonschema::validator_for(&SPEC.parameters).expect("the skills.read schema is valid"));

impl BotPolicy {
    /// Whether the bodies of its enabled skills fit [`SKILL_PROMPT_BUDGET`].
    pub fn skills_fit(&self) -> bool {
        self.skills.iter().map(|s| s.body.chars().count()).sum::<usize>() <= SKILL_PROMPT_BUDGET
    }

    /// What its enabled skills add to its system prompt: their bodies, or past the budget their
    /// catalogue and how to read one.
    pub fn skill_prompt(&self) -> Vec<String> {
        if self.skills_fit() {
            return self.skills.iter().map(|s| s.body.clone()).filter(|b| !b.is_empty()).collect();
        }
        let mut catalogue = format!(
            "You have these skills. Before you act on one, read its instructions with the tool {SKILLS_READ} \
             (and, if they point to one, a file of its folder):\n"
        );
        for s in &self.skills {
            catalogue.push_str(&format!("- {}: {}\n", s.name, s.description));
        }
        vec![catalogue]
    }
}

/// Runs `skills.read` for `policy`'s bot: only its enabled skills, only inside their folders.
pub(super) fn read(policy: &BotPolicy, arguments: &Value, files: Option<&SkillFiles>) -> Result<Value, String> {
    let name = arguments["skill"].as_str().unwrap_or_default();
    let Some(skill) = policy.skills.iter().find(|s| s.name == name) else {
        let names: Vec<&str> = policy.skills.iter().map(|s| s.name.as_str()).collect();
        return Err(format!("`{name}` is not one of your skills ({})", names.join(", ")));
    };
    match arguments.get("file").and_then(Value::as_str) {
        None => Ok(Value::String(skill.body.clone())),
        Some(file) => {
            let files = files.ok_or("the skills' files cannot be read here")?;
            files(name, file).map(Value::String).map_err(|e| format!("{e:#}"))
        }
    }
}

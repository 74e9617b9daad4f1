//! Which memory partitions a call may reach, decided from its call context alone.

use serde_json::Value;

/// What a memory call is made in: the partitions it may read and write are these and no others.
#[derive(Clone, Debug)]
pub struct CallContext<'a> {
    /// The run: its task partition.
    pub run: &'a str,
    /// The conversation the run came from (`<channel>/<conversation>`), if it came from one.
    pub conversation: Option<&'a str>,
    /// The instances the caller is bound to and may call a tool of (after every delegation's
    /// narrowing): their resource partitions.
    pub instances: Vec<String>,
}

/// The partitions one allowed call acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    One(String),
    /// A search without a partition: every partition of the call context.
    All(Vec<String>),
}

impl Reach {
    pub fn parts(&self) -> &[String] {
        match self {
            Reach::One(p) => std::slice::from_ref(p),
            Reach::All(ps) => ps,
        }
    }
}

/// Checks a conversation's name, `<channel>/<conversation>`: the channel up to 64 letters,
/// digits, `-` and `_`; the conversation up to 200 visible ASCII characters (the services'
/// ids: Slack `C024BE91L`, Telegram `-1001234567890`, Feishu `oc_5ad11d72…`).
pub fn check_conversation(name: &str) -> Result<(), String> {
    let bad = || format!("`{name}` is not a conversation: give CHANNEL/CONVERSATION, e.g. ops-slack/C024BE91L");
    let (channel, conversation) = name.split_once('/').ok_or_else(bad)?;
    let channel_ok = !channel.is_empty()
        && channel.len() <= 64
        && channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let conversation_ok =
        !conversation.is_empty() && conversation.len() <= 200 && conversation.bytes().all(|c| c.is_ascii_graphic());
    if channel_ok && conversation_ok { Ok(()) } else { Err(bad()) }
}

impl CallContext<'_> {
    /// Every partition of the context, `global` first.
    pub fn all(&self) -> Vec<String> {
        let mut parts = vec!["global".to_string(), format!("task:{}", self.run)];
        parts.extend(self.conversation.map(|c| format!("channel:{c}")));
        parts.extend(self.instances.iter().map(|i| format!("resource:{i}")));
        parts
    }

    /// The partition a call names (`partition`, default `global`), or why it may not reach it.
    pub fn resolve(&self, tool: &str, arguments: &Value) -> Result<Reach, String> {
        let named = arguments.get("partition").and_then(Value::as_str);
        let Some(named) = named else {
            return Ok(if tool == "memory.search" { Reach::All(self.all()) } else { Reach::One("global".into()) });
        };
        let this_run = format!("task:{}", self.run);
        let part = match named {
            "global" => "global".to_string(),
            "task" => this_run,
            p if p == this_run => this_run,
            p if p.starts_with("task:") => return Err("a task partition is its own run's only".into()),
            "channel" => match self.conversation {
                Some(c) => format!("channel:{c}"),
                None => return Err("this run did not come from a conversation, so it has no channel partition".into()),
            },
            p if p.starts_with("channel:") => match self.conversation {
                Some(c) if p["channel:".len()..] == *c => p.to_string(),
                _ => return Err("a channel partition is its own conversation's only".into()),
            },
            p if p.starts_with("resource:") => {
                let instance = &p["resource:".len()..];
                if !self.instances.iter().any(|i| i == instance) {
                    return Err(format!("`{instance}` is not an instance this bot is bound to here"));
                }
                p.to_string()
            }
            other => {
                return Err(format!("no partition `{other}`: global, task, channel or resource:<instance>"));
            }
        };
        Ok(Reach::One(part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cx() -> CallContext<'static> {
        CallContext { run: "r1", conversation: Some("ops-slack/C1"), instances: vec!["prod-db".into()] }
    }

    #[test]
    fn a_call_reaches_its_own_context_and_nothing_else() {
        let one = |p: &str| cx().resolve("memory.set", &json!({ "partition": p }));
        assert_eq!(one("global"), Ok(Reach::One("global".into())));
        assert!(check_conversation("ops-slack/C024BE91L").is_ok());
        for bad in ["ops-slack", "/C1", "ops slack/C1", "ops-slack/", "ops-slack/a b", "ops-slack/\n"] {
            assert!(check_conversation(bad).is_err(), "{bad:?}");
        }
        assert_eq!(one("task"), Ok(Reach::One("task:r1".into())));
        assert_eq!(one("task:r1"), Ok(Reach::One("task:r1".into())));
        assert_eq!(one("channel"), Ok(Reach::One("channel:ops-slack/C1".into())));
        assert_eq!(one("channel:ops-slack/C1"), Ok(Reach::One("channel:ops-slack/C1".into())));
        assert_eq!(one("resource:prod-db"), Ok(Reach::One("resource:prod-db".into())));
        for refused in
            ["task:r2", "channel:ops-slack/C2", "channel:", "resource:other", "resource:", "bot:dba", "Global"]
        {
            assert!(one(refused).is_err(), "{refused} must be refused");
        }
        let lone = CallContext { run: "r1", conversation: None, instances: vec![] };
        assert!(lone.resolve("memory.get", &json!({ "partition": "channel" })).is_err());
        assert_eq!(lone.resolve("memory.get", &json!({})), Ok(Reach::One("global".into())));
        assert_eq!(
            cx().resolve("memory.search", &json!({ "query": "x" })),
            Ok(Reach::All(vec![
                "global".into(),
                "task:r1".into(),
                "channel:ops-slack/C1".into(),
                "resource:prod-db".into()
            ]))
        );
    }
}

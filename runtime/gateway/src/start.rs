//! What a routed message runs: the route's workflow with `inputs.message`, or, for `llm` (the
//! default), a one-step conversation in which the route's bot answers the message. Either way
//! the run is for the message's conversation (the bots' `channel:` memory partition) and is
//! started by `CHANNEL/USER`.

use crate::message::Message;
use monstrum_core::workflow::{Plan, StartRun, resolve_inputs};
use monstrum_core::workspace::Workspace;
use monstrum_model::Route;
use serde_json::{Map, Value};
use std::path::Path;

/// The workflow of an `llm` route: the bot answers the message; its answer is the reply.
fn conversation_workflow(channel: &str, bot: &str) -> String {
    format!(
        r#"name: {channel} conversation
description: "{bot} answers a message of channel {channel}"
bot: {bot}
inputs:
  message: {{ type: object }}
steps:
  - id: answer
    llm:
      prompt: "{{{{ inputs.message.text }}}}"
outputs:
  reply: "{{{{ steps.answer.output }}}}"
"#
    )
}

/// The run `route` starts for `message` (of channel file `channel_file`).
pub fn run_for(
    workspace: &Workspace,
    channel_file: &Path,
    route: &Route,
    message: &Message,
) -> Result<StartRun, String> {
    let (file, text) = match route.workflow_file() {
        Some(name) => monstrum_core::check::route_workflow(workspace, name)?,
        None => (channel_file.to_path_buf(), conversation_workflow(&message.channel, &route.bot)),
    };
    let (workflow, problems) = monstrum_core::check::workflow(&text, &file, workspace);
    let workflow = workflow.ok_or_else(|| {
        let first = problems.first().map(|d| d.to_string()).unwrap_or_default();
        format!("{} does not validate: {first}", file.display())
    })?;
    let message_value = serde_json::to_value(message).map_err(|e| e.to_string())?;
    let inputs = resolve_inputs(&workflow, Map::from_iter([("message".to_string(), message_value)]))
        .map_err(|e| e.to_string())?;
    let conversation = format!("{}/{}", message.channel, message.conversation);
    let conversation = match monstrum_core::memory::check_conversation(&conversation) {
        Ok(()) => Some(conversation),
        Err(e) => {
            tracing::warn!("{e}: the run has no conversation memory");
            None
        }
    };
    Ok(StartRun {
        plan: Plan::new(workflow),
        source: text,
        file,
        inputs,
        started_by: format!("{}/{}", message.channel, message.user.id),
        parent: None,
        depth: 0,
        conversation,
    })
}

/// The answer to a run that ended: its `reply` output, else its only output, else its outputs as
/// JSON; a failure or a cancellation says so.
pub fn reply_text(status: &str, outputs: &Value, error: Option<&str>) -> String {
    match status {
        "succeeded" => {
            let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            match outputs {
                Value::Object(map) if map.contains_key("reply") => text(&map["reply"]),
                Value::Object(map) if map.len() == 1 => text(map.values().next().expect("one")),
                Value::Object(map) if map.is_empty() => "Done.".into(),
                Value::Null => "Done.".into(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            }
        }
        "cancelled" => "The run was cancelled.".into(),
        _ => format!("The run failed: {}", error.unwrap_or("no reason was recorded")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reply_is_the_reply_output() {
        assert_eq!(reply_text("succeeded", &json!({ "reply": "hi", "other": 1 }), None), "hi");
        assert_eq!(reply_text("succeeded", &json!({ "only": 3 }), None), "3");
        assert_eq!(reply_text("succeeded", &json!({}), None), "Done.");
        assert!(reply_text("succeeded", &json!({ "a": 1, "b": 2 }), None).contains("\"b\": 2"));
        assert_eq!(reply_text("failed", &json!(null), Some("boom")), "The run failed: boom");
    }

    #[test]
    fn the_conversation_workflow_loads() {
        let text = conversation_workflow("ops-slack", "ops");
        let wf = monstrum_model::load_workflow(&text).ok().expect("it loads");
        assert_eq!(wf.bot.as_deref(), Some("ops"));
        assert!(wf.inputs.contains_key("message"));
    }
}

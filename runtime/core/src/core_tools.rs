//! The `core.*` tools: they touch nothing outside the run, so every workflow has them without a
//! binding. They still pass the gate like any other tool.

use crate::llm::ToolSpec;
use serde_json::{Value, json};
use std::time::Duration;

/// The specs of the core tools, as offered to models.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "core.echo".into(),
            description: "Returns its arguments as its output.".into(),
            parameters: json!({ "type": "object" }),
        },
        ToolSpec {
            name: "core.wait".into(),
            description: "Waits for the given number of seconds.".into(),
            parameters: json!({
                "type": "object",
                "required": ["seconds"],
                "properties": { "seconds": { "type": "number", "minimum": 0, "maximum": 86400 } },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: "core.fail".into(),
            description: "Fails with the given message (for testing error paths).".into(),
            parameters: json!({
                "type": "object",
                "properties": { "message": { "type": "string" } },
                "additionalProperties": false
            }),
        },
    ]
}

/// Runs a core tool whose arguments the gate has checked.
pub async fn call(name: &str, arguments: Value) -> Result<Value, String> {
    match name {
        "core.echo" => Ok(arguments),
        "core.wait" => {
            let seconds = arguments.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            Ok(json!({ "waited": seconds }))
        }
        "core.fail" => {
            Err(arguments.get("message").and_then(Value::as_str).unwrap_or("core.fail was called").to_string())
        }
        other => Err(format!("no such tool: {other}")),
    }
}

//! The smallest integration: `noop` returns null, `echo` returns its arguments.

use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, register_plugin};

struct Noop;

impl Plugin for Noop {
    fn new() -> Self {
        Noop
    }

    fn call_tool(&mut self, tool: &str, args: Value, _cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "noop" => Ok(Value::Null),
            "echo" => Ok(args),
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

register_plugin!(Noop);

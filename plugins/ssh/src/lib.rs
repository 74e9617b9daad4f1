//! SSH: `exec(host, command)` runs one command on a host. The command line is split into argv
//! here with POSIX shell word rules (`shlex`: quotes and backslashes, no expansion), and the host
//! runs that argv: it checks host and argv against the binding's scope again, opens the session
//! with the vault's key (this code never sees it) and quotes each argument as one word.

use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, json, parse_args, register_plugin, ssh};
use serde::Deserialize;

struct Ssh;

#[derive(Deserialize)]
struct Exec {
    host: String,
    command: String,
}

impl Plugin for Ssh {
    fn new() -> Self {
        Ssh
    }

    fn call_tool(&mut self, tool: &str, args: Value, _cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "exec" => {
                let Exec { host, command } = parse_args(args)?;
                let argv = shlex::split(&command)
                    .filter(|argv| !argv.is_empty())
                    .ok_or_else(|| ToolError::InvalidArguments(format!("cannot split `{command}` into words")))?;
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                let out = ssh::exec(&host, &argv).map_err(ToolError::Failed)?;
                Ok(json!({
                    "exit_code": out.exit_code,
                    "stdout": String::from_utf8_lossy(&out.stdout),
                    "stderr": String::from_utf8_lossy(&out.stderr),
                }))
            }
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

register_plugin!(Ssh);

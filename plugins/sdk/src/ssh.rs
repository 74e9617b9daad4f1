//! Remote commands: the host checks the command against the binding's scope and opens the
//! session with the vault's key.

use crate::bindings::monstrum::plugin::ssh as wit;
pub use crate::bindings::monstrum::plugin::ssh::ExecOutput;

/// Runs `argv` on `host` (`name` or `name:port`).
pub fn exec(host: &str, argv: &[&str]) -> Result<ExecOutput, String> {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
    wit::exec(host, &argv)
}

//! The `ssh` capability: each command is first put to the call's [`SshPolicy`] (the binding's
//! scope, decided by the gate); then the host's [`SshExecutor`] opens the session with the key
//! bound to the instance (the manifest's credential with `inject: { ssh: true }`) and runs the
//! argv. Without a policy nothing runs; a host without an executor answers "not available".

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::state::CallEnv;

/// Decides whether `argv` may run on `host`: `Err(reason)` refuses.
pub type SshPolicy = Arc<dyn Fn(&str, &[String]) -> Result<(), String> + Send + Sync>;

/// What a remote command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Opens SSH sessions and runs one command each.
#[async_trait]
pub trait SshExecutor: Send + Sync {
    /// Runs `argv` on `host` (`name` or `name:port`) with the private key `key`, within
    /// `deadline`.
    async fn exec(&self, host: &str, argv: &[String], key: &str, deadline: Instant) -> Result<SshOutput, String>;
}

pub(crate) async fn exec(state: &CallEnv, host: &str, argv: &[String]) -> Result<SshOutput, String> {
    let Some(policy) = &state.ssh_policy else {
        return Err(format!("instance {} may not run SSH commands", state.instance));
    };
    if argv.is_empty() {
        return Err("empty command".into());
    }
    policy(host, argv).map_err(|reason| format!("SSH command refused: {reason}"))?;
    let Some(executor) = state.ssh.as_deref() else {
        return Err("SSH is not available in this host".into());
    };
    let field = state.manifest.credentials.iter().find(|(_, c)| c.inject.ssh).map(|(name, _)| name);
    let Some(field) = field else {
        return Err(format!("plugin {} declares no SSH credential", state.manifest.name));
    };
    let key = state.secrets.get(field).ok_or_else(|| format!("no SSH key is bound to instance {}", state.instance))?;
    executor.exec(host, argv, key, state.deadline).await
}

//! The host's [`SshExecutor`]: an SSH client (russh) that opens one session per command.
//!
//! - The private key is the vault's secret, parsed in memory; it is never written anywhere.
//! - Host keys fail closed: the binding's config must give the server's public key
//!   (`host_key: "ssh-ed25519 AAAA…"`, or `known_hosts:` lines); any other key is refused.
//! - The user is the config's `user`; the host is `name` or `name:port` (port 22 by default).
//! - The argv is quoted with `shlex::try_join` into one command line, since the server runs it
//!   through the user's shell: each argument arrives as one word.
//!
//! [`SshExecutor::exec`] has no place for per-binding settings, so [`HostExecutor`] runs each
//! plugin call inside [`with_target`], which makes the binding's [`SshTarget`] visible to this
//! client for that call only.
//!
//! [`HostExecutor`]: super::HostExecutor

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use russh::keys::{
    PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate, decode_secret_key, parse_public_key_base64,
};
use russh::{ChannelMsg, Disconnect, client};
use serde_json::{Map, Value};

use super::ssh::{SshExecutor, SshOutput};

/// The most bytes kept of a command's stdout and of its stderr; the rest is dropped.
pub const MAX_STREAM_BYTES: usize = 1 << 20;

/// Where and as whom a binding's SSH commands run.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The remote user.
    pub user: String,
    /// The accepted host keys.
    pub host_keys: Vec<PublicKey>,
}

impl SshTarget {
    /// Reads `user` and `host_key` / `known_hosts` from a binding's config. `Ok(None)` when
    /// neither is set (the plugin does not use SSH); an error when only part is given.
    pub fn from_config(config: &Map<String, Value>) -> Result<Option<SshTarget>, String> {
        let text = |k: &str| config.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        let (user, host_key, known_hosts) = (text("user"), text("host_key"), text("known_hosts"));
        if user.is_none() && host_key.is_none() && known_hosts.is_none() {
            return Ok(None);
        }
        let user = user.ok_or("ssh: the binding's config sets no `user`")?.to_string();
        let mut host_keys = Vec::new();
        for line in host_key.into_iter().chain(known_hosts).flat_map(str::lines) {
            if let Some(key) = parse_key_line(line)? {
                host_keys.push(key);
            }
        }
        if host_keys.is_empty() {
            return Err("ssh: the binding's config gives no server host key (`host_key` or `known_hosts`)".into());
        }
        Ok(Some(SshTarget { user, host_keys }))
    }
}

/// A public key from `ssh-ed25519 AAAA… comment` or a known_hosts line `host ssh-ed25519 AAAA…`.
fn parse_key_line(line: &str) -> Result<Option<PublicKey>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-"));
    let base64 = at.and_then(|i| words.get(i + 1)).ok_or_else(|| format!("ssh: `{line}` is not a public key line"))?;
    parse_public_key_base64(base64).map(Some).map_err(|e| format!("ssh: invalid host key `{line}`: {e}"))
}

tokio::task_local! {
    static TARGET: Option<SshTarget>;
}

/// Runs `fut` with `target` as the SSH target of the calls it makes.
pub async fn with_target<F: std::future::Future>(target: Option<SshTarget>, fut: F) -> F::Output {
    TARGET.scope(target, fut).await
}

/// The russh client.
#[derive(Clone, Copy, Debug, Default)]
pub struct RusshExecutor;

#[async_trait]
impl SshExecutor for RusshExecutor {
    async fn exec(&self, host: &str, argv: &[String], key: &str, deadline: Instant) -> Result<SshOutput, String> {
        let target = TARGET
            .try_with(Clone::clone)
            .ok()
            .flatten()
            .ok_or("ssh: the binding's config sets no `user` and `host_key`")?;
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::time::timeout(left, run(&target, host, argv, key))
            .await
            .map_err(|_| format!("ssh: {host}: did not finish in time"))?
    }
}

struct Verifier {
    accepted: Vec<PublicKey>,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        // Only a plain host key the binding names is accepted; a certificate is not.
        let PublicKeyOrCertificate::PublicKey { key, .. } = server else {
            return Ok(false);
        };
        Ok(self.accepted.iter().any(|k| k.key_data() == key.key_data()))
    }
}

fn address(host: &str) -> Result<(String, u16), String> {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => {
            Ok((name.to_string(), port.parse().map_err(|_| format!("ssh: invalid port in `{host}`"))?))
        }
        _ => Ok((host.to_string(), 22)),
    }
}

async fn run(target: &SshTarget, host: &str, argv: &[String], key: &str) -> Result<SshOutput, String> {
    let command =
        shlex::try_join(argv.iter().map(String::as_str)).map_err(|e| format!("ssh: cannot quote the command: {e}"))?;
    let key = decode_secret_key(key, None).map_err(|_| "ssh: the bound private key cannot be read".to_string())?;
    let (name, port) = address(host)?;
    let config = Arc::new(client::Config { inactivity_timeout: Some(Duration::from_secs(60)), ..Default::default() });
    let verifier = Verifier { accepted: target.host_keys.clone() };
    let mut session = client::connect(config, (name.as_str(), port), verifier).await.map_err(|e| match e {
        russh::Error::UnknownKey => format!("ssh: {host}: the server's host key is not the one the binding accepts"),
        e => format!("ssh: {host}: {e}"),
    })?;
    let hash = session.best_supported_rsa_hash().await.map_err(|e| format!("ssh: {host}: {e}"))?.flatten();
    let auth = session
        .authenticate_publickey(target.user.clone(), PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await
        .map_err(|e| format!("ssh: {host}: {e}"))?;
    if !auth.success() {
        return Err(format!("ssh: {host}: the server refused the key for user `{}`", target.user));
    }
    let mut channel = session.channel_open_session().await.map_err(|e| format!("ssh: {host}: {e}"))?;
    channel.exec(true, command).await.map_err(|e| format!("ssh: {host}: {e}"))?;
    let mut out = SshOutput { exit_code: -1, stdout: Vec::new(), stderr: Vec::new() };
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => append(&mut out.stdout, &data),
            ChannelMsg::ExtendedData { data, ext: 1 } => append(&mut out.stderr, &data),
            ChannelMsg::ExitStatus { exit_status } => out.exit_code = i32::try_from(exit_status).unwrap_or(i32::MAX),
            _ => {}
        }
    }
    let _ = session.disconnect(Disconnect::ByApplication, "", "en").await;
    Ok(out)
}

fn append(buffer: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_STREAM_BYTES.saturating_sub(buffer.len());
    buffer.extend_from_slice(&data[..data.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxIxNMroA1a2FDJWofdRO9hgggKND5gLnizJKONW4rA";

    fn config(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reads_host_key_and_known_hosts() {
        let t = SshTarget::from_config(&config(json!({ "user": "ops", "host_key": KEY }))).unwrap().unwrap();
        assert_eq!((t.user.as_str(), t.host_keys.len()), ("ops", 1));
        let known = format!("# comment\n[127.0.0.1]:2222 {KEY}\n");
        let t = SshTarget::from_config(&config(json!({ "user": "ops", "known_hosts": known }))).unwrap().unwrap();
        assert_eq!(t.host_keys.len(), 1);
    }

    #[test]
    fn fails_closed_without_a_host_key_or_user() {
        assert!(SshTarget::from_config(&config(json!({ "user": "ops" }))).is_err());
        assert!(SshTarget::from_config(&config(json!({ "host_key": KEY }))).is_err());
        assert!(
            SshTarget::from_config(&config(json!({ "user": "ops", "host_key": "ssh-ed25519 notbase64" }))).is_err()
        );
        assert!(SshTarget::from_config(&config(json!({}))).unwrap().is_none());
    }

    #[test]
    fn splits_host_and_port() {
        assert_eq!(address("db1").unwrap(), ("db1".into(), 22));
        assert_eq!(address("127.0.0.1:2222").unwrap(), ("127.0.0.1".into(), 2222));
        assert!(address("db1:x").is_err());
    }

    #[tokio::test]
    async fn refuses_without_a_target() {
        let err = RusshExecutor.exec("127.0.0.1:1", &["true".into()], "k", Instant::now()).await.unwrap_err();
        assert!(err.contains("no `user`"), "{err}");
    }
}

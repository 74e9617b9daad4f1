//! The `ssh` capability end to end at the host level: the built-in `ssh` plugin (a WebAssembly
//! guest) asks the host to run commands; the policy built from the manifest's `ssh:` block and a
//! binding's scope refuses hosts and commands outside the whitelist before any session opens; the
//! russh client runs what is allowed on a real OpenSSH server and refuses a wrong host key.

use crate::sshd;

use std::collections::BTreeMap;
use std::sync::Arc;

use monstrum_core::plugin::Proxy;
use monstrum_core::plugin::builtin;
use monstrum_core::plugin::internals::{
    HostConfig, LoadedPlugin, PluginCall, PluginHost, RusshExecutor, Secrets, SshTarget, ssh_policy, with_target,
};
use serde_json::{Value, json};
use sshd::Sshd;

fn start() -> Option<Sshd> {
    let server = Sshd::start();
    if server.is_none() {
        let reason = "/usr/sbin/sshd is not installed (apt-get install openssh-server)";
        assert!(std::env::var("MONSTRUM_REQUIRE_ALL").as_deref() != Ok("1"), "MONSTRUM_REQUIRE_ALL=1: {reason}");
        eprintln!("SKIPPED: {reason}");
    }
    server
}

struct Fixture {
    host: PluginHost,
    plugin: Arc<LoadedPlugin>,
    scope: BTreeMap<String, Value>,
}

impl Fixture {
    fn new(server: &Sshd) -> Fixture {
        let host = PluginHost::with_config(HostConfig {
            proxy: Proxy::None,
            ssh: Some(Arc::new(RusshExecutor)),
            ..HostConfig::default()
        })
        .expect("host starts");
        let ssh = builtin::find("ssh").expect("ssh is built in");
        let plugin = host.load(Arc::new(ssh.manifest), ssh.component).expect("ssh loads");
        let dir = server.dir.path().display();
        let scope = BTreeMap::from([
            ("hosts".to_string(), json!([server.addr])),
            ("commands".to_string(), json!([format!("tail -n * {dir}/*.log"), "echo *"])),
        ]);
        Fixture { host, plugin, scope }
    }

    /// What the gate's executor does with an allowed call: the policy from the manifest and the
    /// binding's scope, the key from the vault, the target from the binding's config.
    async fn exec(&self, server: &Sshd, host_key: &str, host: &str, command: &str) -> Result<Value, String> {
        self.exec_narrowed(server, host_key, host, command, &[]).await
    }

    /// [`Fixture::exec`] for a caller whose skills or delegations narrow the binding.
    async fn exec_narrowed(
        &self,
        server: &Sshd,
        host_key: &str,
        host: &str,
        command: &str,
        narrowing: &[&BTreeMap<String, Value>],
    ) -> Result<Value, String> {
        let mut call = PluginCall::new("ops", "exec", json!({ "host": host, "command": command }));
        call.ssh_policy = ssh_policy(self.plugin.manifest(), &self.scope, narrowing).expect("policy compiles");
        call.secrets = Secrets::new().with("key", server.user_key.clone());
        let config = json!({ "user": server.user, "host_key": host_key });
        call.config = config.as_object().cloned().unwrap_or_default();
        let target = SshTarget::from_config(&call.config).expect("target");
        with_target(target, self.host.call(&self.plugin, call)).await
    }
}

#[tokio::test]
async fn runs_allowed_commands_and_refuses_the_rest() {
    let Some(server) = start() else { return };
    let fx = Fixture::new(&server);
    let log = server.path("app.log");
    std::fs::write(&log, "one\ntwo\nthree\n").unwrap();

    let out = fx.exec(&server, &server.host_key, &server.addr, &format!("tail -n 2 {}", log.display())).await;
    assert_eq!(out, Ok(json!({ "exit_code": 0, "stdout": "two\nthree\n", "stderr": "" })), "{}", server.log());

    // An argument with a space arrives as one word: the remote shell sees it quoted.
    let out = fx.exec(&server, &server.host_key, &server.addr, "echo 'a  b'").await.unwrap();
    assert_eq!(out["stdout"], "a  b\n");

    let marker = server.path("pwned");
    let attacks = [
        (server.addr.clone(), format!("tail -n 2 {}; touch {}", log.display(), marker.display())),
        (server.addr.clone(), format!("touch {}", marker.display())),
        (server.addr.clone(), "cat /etc/shadow".to_string()),
        ("127.0.0.2:22".to_string(), format!("tail -n 2 {}", log.display())),
    ];
    let sessions = server.log().matches("Accepted publickey").count();
    for (host, command) in attacks {
        let err = fx.exec(&server, &server.host_key, &host, &command).await.unwrap_err();
        assert!(err.contains("SSH command refused"), "{host} {command}: {err}");
    }
    assert!(!marker.exists(), "a refused command ran");
    assert_eq!(server.log().matches("Accepted publickey").count(), sessions, "a refused command opened a session");
}

#[tokio::test]
async fn a_wrong_host_key_is_refused_and_no_block_means_no_ssh() {
    let Some(server) = start() else { return };
    let fx = Fixture::new(&server);
    let other = server.other_host_key();
    let err = fx.exec(&server, &other, &server.addr, "echo hi").await.unwrap_err();
    assert!(err.contains("host key is not the one the binding accepts"), "{err}");
    assert_eq!(server.log().matches("Accepted publickey").count(), 0, "{}", server.log());

    // A manifest without an `ssh:` block grants no policy at all.
    let mut manifest = fx.plugin.manifest().as_ref().clone();
    manifest.ssh = None;
    assert!(ssh_policy(&manifest, &fx.scope, &[]).unwrap().is_none());
    // A binding without the dimensions allows nothing.
    let policy = ssh_policy(fx.plugin.manifest(), &BTreeMap::new(), &[]).unwrap().expect("policy");
    assert!(policy(&server.addr, &["echo".into(), "hi".into()]).is_err());
}

/// A delegation (or skill) that narrows the binding narrows what the plugin may ask the host
/// for too: a command the binding allows but the delegation does not is refused at the
/// capability, before a session opens, whatever the guest asks.
#[tokio::test]
async fn the_callers_narrowing_binds_the_capability_too() {
    let Some(server) = start() else { return };
    let fx = Fixture::new(&server);
    let log = server.path("app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    let tail = format!("tail -n 1 {}", log.display());
    let only_echo = BTreeMap::from([("commands".to_string(), json!(["echo *"]))]);

    let sessions = server.log().matches("Accepted publickey").count();
    let err = fx.exec_narrowed(&server, &server.host_key, &server.addr, &tail, &[&only_echo]).await.unwrap_err();
    assert!(err.contains("SSH command refused") && err.contains("scope `commands`"), "{err}");
    assert_eq!(server.log().matches("Accepted publickey").count(), sessions, "no session for a refused command");

    let out = fx.exec_narrowed(&server, &server.host_key, &server.addr, "echo narrowed", &[&only_echo]).await;
    assert_eq!(out.unwrap()["stdout"], "narrowed\n");
    let out = fx.exec(&server, &server.host_key, &server.addr, &tail).await;
    assert_eq!(out.unwrap()["stdout"], "two\n", "the binding alone allows it");
    // A narrowing of another plugin's dimension does not touch SSH.
    let unrelated = BTreeMap::from([("repos".to_string(), json!(["org/x"]))]);
    let out = fx.exec_narrowed(&server, &server.host_key, &server.addr, "echo ok", &[&unrelated]).await;
    assert_eq!(out.unwrap()["stdout"], "ok\n");
}

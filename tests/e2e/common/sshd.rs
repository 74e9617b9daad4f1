//! A throwaway OpenSSH server for tests: host and user keys made with `ssh-keygen` in a temp
//! dir, `sshd -D` on a free loopback port, accepting only that user key, killed on drop.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd.
pub struct Sshd {
    /// The temp dir holding keys, config, log and the test's files.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The user key's private half (OpenSSH format).
    pub user_key: String,
    /// The host key's public line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
    /// The current user's name (the account the server logs into).
    pub user: String,
    child: Child,
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs");
    assert!(ok.success(), "ssh-keygen failed");
}

fn public(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

impl Sshd {
    /// Starts a server, or `None` when `/usr/sbin/sshd` is not installed.
    pub fn start() -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        let (host, user_key) = (d.join("host_ed25519"), d.join("user_ed25519"));
        keygen(&host);
        keygen(&user_key);
        std::fs::copy(user_key.with_extension("pub"), d.join("authorized_keys")).expect("authorized_keys");
        // Privilege separation needs this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let config = d.join("sshd_config");
        let text = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {auth}\n\
             StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nLogLevel VERBOSE\n",
            host = host.display(),
            pid = d.join("sshd.pid").display(),
            auth = d.join("authorized_keys").display(),
        );
        std::fs::write(&config, text).expect("sshd_config");
        let log = d.join("sshd.log");
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout).expect("utf-8");
        let server = Sshd {
            addr: format!("127.0.0.1:{port}"),
            user_key: std::fs::read_to_string(&user_key).expect("user key"),
            host_key: public(&host),
            user: user.trim().to_string(),
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&server.addr).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// sshd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// A path inside the server's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh ed25519 public key line that is not the server's.
    pub fn other_host_key(&self) -> String {
        let path = self.path("other_ed25519");
        keygen(&path);
        public(&path)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

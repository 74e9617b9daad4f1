//! Shared helpers of the end-to-end tests: a throwaway workspace, the real `monstrum` binary,
//! and the real servers the tests need.
#![allow(dead_code)]

pub mod chat_services;
pub mod ganache;
pub mod mcp_servers;
pub mod model_server;
pub mod sshd;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A workspace in a temporary folder.
pub struct Ws {
    pub dir: tempfile::TempDir,
    /// The store every command of this workspace uses (`MONSTRUM_DB`), if not its SQLite file.
    pub db: Option<String>,
}

impl Ws {
    /// An empty workspace.
    pub fn new() -> Ws {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
        Ws { dir, db: None }
    }

    /// A copy of `examples/<name>` (without its `.monstrum` data).
    pub fn example(name: &str) -> Ws {
        let ws = Ws::new();
        let from = repo().join("examples").join(name);
        copy_dir(&from, ws.path());
        ws
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The binary, in this workspace, as user `tester`.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_monstrum"));
        cmd.current_dir(self.path()).env("USER", "tester").env_remove("MONSTRUM_DB");
        if let Some(db) = &self.db {
            cmd.env("MONSTRUM_DB", db);
        }
        cmd
    }

    /// Runs the binary with `args` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run monstrum")
    }

    /// `monstrum vault set NAME` with `value` on stdin, as a user sets a credential.
    pub fn vault_set(&self, name: &str, value: &str) {
        use std::io::Write as _;
        let mut set =
            self.cmd().args(["vault", "set", name]).stdin(std::process::Stdio::piped()).spawn().expect("vault set");
        set.stdin.take().expect("stdin").write_all(value.as_bytes()).expect("write the value");
        let status = set.wait().expect("vault set");
        assert!(status.success(), "vault set {name}: {status}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == ".monstrum" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo")
}

/// The JSON events printed on stdout with `--json`.
pub fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Events of one type.
pub fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// The `run_finished` event.
pub fn finished(events: &[Value]) -> &Value {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "run_finished")
        .unwrap_or_else(|| panic!("no run_finished in {events:#?}"))
}

/// Text of stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Serves `app` on a free port of 127.0.0.1 from a thread of its own; returns the base URL.
pub fn serve(app: axum::Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{addr}")
}

/// Fails if `needle` is in any file under `dir` (the database, its journal, caches, keys).
pub fn assert_not_in_files(dir: &Path, needle: &[u8]) {
    for entry in std::fs::read_dir(dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_not_in_files(&path, needle);
        } else {
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{:?} is in plaintext in {}",
                String::from_utf8_lossy(needle),
                path.display()
            );
        }
    }
}

/// Whether tests must not skip (CI sets MONSTRUM_REQUIRE_ALL=1).
pub fn require_all() -> bool {
    std::env::var("MONSTRUM_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips with a printed reason on a bare laptop; fails under MONSTRUM_REQUIRE_ALL=1.
pub fn skip(reason: &str) {
    if require_all() {
        panic!("MONSTRUM_REQUIRE_ALL=1 and this test cannot run: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// A fresh, empty PostgreSQL database for one test, or `None` (after `skip`) when the server
/// at MONSTRUM_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test) is unreachable.
pub fn postgres_database() -> Option<String> {
    let base =
        std::env::var("MONSTRUM_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("monstrum_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let created = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&base).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        Ok::<_, sqlx::Error>(())
    });
    match created {
        Ok(()) => {
            let root = base.rsplit_once('/').map_or(base.as_str(), |(root, _)| root);
            Some(format!("{root}/{name}"))
        }
        Err(e) => {
            skip(&format!("PostgreSQL at {base} is unreachable: {e}"));
            None
        }
    }
}

//! End-to-end: the vault through the real binary. A value goes in on stdin, only its name ever
//! comes out, nothing on disk holds it in plaintext, and another process holding the same key
//! (this test, through the library) reads it back while a wrong key or a moved ciphertext fails.

use crate::common::{Ws, assert_not_in_files, events, of_type, postgres_database, text};
use monstrum_core::store::Store;
use monstrum_core::vault::{KEY_FILE, MasterKey, Vault, VaultError};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};

const CANARY: &str = "canary-7d1e04-must-never-appear";
const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/// `monstrum vault ARGS…` with `stdin` piped in and `MONSTRUM_VAULT_KEY` set to `key` (or unset).
fn cli(ws: &Ws, args: &[&str], stdin: &[u8], key: Option<&str>) -> Output {
    let mut cmd = ws.cmd();
    cmd.arg("vault").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    match key {
        Some(k) => cmd.env("MONSTRUM_VAULT_KEY", k),
        None => cmd.env_remove("MONSTRUM_VAULT_KEY"),
    };
    let mut child = cmd.spawn().expect("spawn monstrum");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("wait monstrum")
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn data(ws: &Ws) -> std::path::PathBuf {
    ws.path().join(".monstrum")
}

/// The workspace's store, opened by this (second) process.
fn store(ws: &Ws) -> Store {
    block_on(Store::open(&Store::sqlite_url(&data(ws).join("monstrum.db")))).expect("store")
}

/// One runtime per test thread: a store's pooled connections belong to the runtime that opened
/// them, so a runtime per call would hand the next call a connection whose runtime is shut down.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    }
    RUNTIME.with(|rt| rt.block_on(f))
}

fn names(ws: &Ws, db: &[&str]) -> Vec<String> {
    let out = ok(cli(ws, &[&["list", "--json"], db].concat(), b"", None));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(CANARY), "{}", text(&out));
    let events = events(&out);
    of_type(&events, "vault_entry")
        .iter()
        .map(|e| {
            let mut keys: Vec<&String> = e.as_object().expect("object").keys().collect();
            keys.sort();
            assert_eq!(keys, ["name", "type", "updated_at"], "{e}");
            assert!(e["updated_at"].as_i64().is_some_and(|t| t > 0), "{e}");
            e["name"].as_str().expect("name").to_string()
        })
        .collect()
}

#[test]
fn a_secret_set_on_stdin_is_listed_by_name_only_and_is_nowhere_on_disk_in_plaintext() {
    let ws = Ws::new();
    let out = ok(cli(&ws, &["set", "github.token"], format!("{CANARY}\n").as_bytes(), None));
    assert!(!text(&out).contains(CANARY), "{}", text(&out));
    ok(cli(&ws, &["set", "ssh-deploy_key"], b"second value", None));

    let listed = ok(cli(&ws, &["list"], b"", None));
    let shown = String::from_utf8_lossy(&listed.stdout);
    assert!(shown.contains("github.token") && shown.contains("ssh-deploy_key"), "{}", text(&listed));
    assert!(!text(&listed).contains(CANARY) && !text(&listed).contains("second value"));
    assert_eq!(names(&ws, &[]), ["github.token", "ssh-deploy_key"]);

    let key_file = data(&ws).join(KEY_FILE);
    let meta = std::fs::metadata(&key_file).expect("vault.key was created");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
    assert_not_in_files(&data(&ws), CANARY.as_bytes());
    assert_not_in_files(&data(&ws), b"second value");

    // Another process with the same key reads the value back, without the trailing newline.
    let key = MasterKey::from_file(&key_file).expect("key");
    let vault = Vault::with_key(&key, store(&ws));
    assert_eq!(block_on(vault.get("github.token")).expect("get").expose(), CANARY.as_bytes());
}

#[test]
fn the_environment_key_wins_and_another_key_cannot_decrypt() {
    let ws = Ws::new();
    ok(cli(&ws, &["set", "db.password"], CANARY.as_bytes(), Some(KEY_A)));
    assert!(!data(&ws).join(KEY_FILE).exists(), "a key file was created although MONSTRUM_VAULT_KEY was set");

    let right = Vault::with_key(&MasterKey::parse(KEY_A).expect("key"), store(&ws));
    assert_eq!(block_on(right.get("db.password")).expect("get").expose(), CANARY.as_bytes());

    let wrong = Vault::with_key(&MasterKey::parse(KEY_B).expect("key"), store(&ws));
    let err = block_on(wrong.get("db.password")).expect_err("another key must not decrypt");
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("db.password") && message.contains(right.key_id()), "{message}");
    assert!(message.contains("MONSTRUM_VAULT_KEY") && !message.contains(CANARY), "{message}");

    // The binary refuses to seal a second entry under another key (one vault, one key).
    let out = cli(&ws, &["set", "other"], b"v", Some(KEY_B));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("other keys") && err.contains(right.key_id()), "{err}");
    assert_eq!(names(&ws, &[]), ["db.password"]);

    let out = cli(&ws, &["list"], b"", Some("not-a-key"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid MONSTRUM_VAULT_KEY") && !err.contains("not-a-key"), "{err}");
}

#[test]
fn a_ciphertext_copied_to_another_entry_does_not_decrypt() {
    let ws = Ws::new();
    ok(cli(&ws, &["set", "admin"], CANARY.as_bytes(), None));
    ok(cli(&ws, &["set", "guest"], b"guest value", None));
    // An attacker with write access to the database copies admin's sealed value over guest's.
    let url = format!("sqlite://{}", data(&ws).join("monstrum.db").display());
    block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
        let copy = "UPDATE vault SET nonce = (SELECT nonce FROM vault WHERE name = 'admin'), \
                    ciphertext = (SELECT ciphertext FROM vault WHERE name = 'admin') WHERE name = 'guest'";
        let done = sqlx::raw_sql(copy).execute(&mut conn).await.expect("copy");
        assert_eq!(done.rows_affected(), 1);
    });
    let store = store(&ws);
    assert_eq!(
        block_on(store.vault_entry("guest")).expect("read").expect("row").ciphertext,
        block_on(store.vault_entry("admin")).expect("read").expect("row").ciphertext
    );
    let vault = Vault::with_key(&MasterKey::from_file(&data(&ws).join(KEY_FILE)).expect("key"), store);
    let err = block_on(vault.get("guest")).expect_err("a moved ciphertext must not decrypt");
    assert!(matches!(err, VaultError::Decrypt(ref n) if n == "guest"), "{err:?}");
}

#[test]
fn rm_removes_an_entry() {
    let ws = Ws::new();
    ok(cli(&ws, &["set", "old"], b"x1", None));
    ok(cli(&ws, &["set", "kept"], b"x2", None));
    ok(cli(&ws, &["rm", "old"], b"", None));
    assert_eq!(names(&ws, &[]), ["kept"]);
    let again = cli(&ws, &["rm", "old"], b"", None);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no vault entry named old"), "{}", text(&again));
}

#[test]
fn a_value_is_never_taken_from_argv_and_never_empty() {
    let ws = Ws::new();
    let out = cli(&ws, &["set", "token", CANARY], b"", None);
    assert_eq!(out.status.code(), Some(2), "clap must reject a value in argv: {}", text(&out));
    let out = cli(&ws, &["set", "token"], b"\n", None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"), "{}", text(&out));
    let out = cli(&ws, &["set", "Bad/Name"], b"x", None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid vault entry name"), "{}", text(&out));
    assert!(names(&ws, &[]).is_empty());
}

#[test]
fn a_key_file_others_can_read_is_refused() {
    let ws = Ws::new();
    ok(cli(&ws, &["set", "a"], b"x", None));
    let key_file = data(&ws).join(KEY_FILE);
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = cli(&ws, &["list"], b"", None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", text(&out));
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&key_file, b"short").expect("damage");
    let out = cli(&ws, &["set", "b"], b"y", None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not 32 bytes"), "{}", text(&out));
}

#[test]
fn the_vault_lives_in_postgres_too() {
    let Some(url) = postgres_database() else { return };
    let ws = Ws::new();
    let db = ["--db", url.as_str()];
    ok(cli(&ws, &[&["set", "pg.secret"], &db[..]].concat(), CANARY.as_bytes(), Some(KEY_A)));
    assert_eq!(names(&ws, &db), ["pg.secret"]);
    let store = block_on(Store::open(&url)).expect("postgres");
    let row = block_on(store.vault_entry("pg.secret")).expect("read").expect("row");
    assert!(!row.ciphertext.contains(CANARY) && !row.nonce.contains(CANARY));
    let vault = Vault::with_key(&MasterKey::parse(KEY_A).expect("key"), store);
    assert_eq!(block_on(vault.get("pg.secret")).expect("get").expose(), CANARY.as_bytes());
    ok(cli(&ws, &[&["rm", "pg.secret"], &db[..]].concat(), b"", Some(KEY_A)));
    assert!(names(&ws, &db).is_empty());
}

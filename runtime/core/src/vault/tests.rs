//! Unit tests of the vault API on a real SQLite store.

use super::*;
use crate::store::VaultRow;
use std::os::unix::fs::PermissionsExt;

const CANARY: &[u8] = b"canary-5f3a9c-do-not-leak";

async fn store(dir: &Path) -> Store {
    Store::open(&Store::sqlite_url(&dir.join("monstrum.db"))).await.expect("store")
}

async fn vault(dir: &Path) -> Vault {
    Vault::with_key(&MasterKey::from_file_or_create(&dir.join(KEY_FILE)).expect("key"), store(dir).await)
}

fn other_key() -> MasterKey {
    MasterKey::parse(&"ab".repeat(KEY_LEN)).expect("key")
}

#[tokio::test]
async fn a_value_comes_back_through_another_vault_on_the_same_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    vault(dir.path()).await.set("github.token", CANARY).await.expect("set");
    let again = vault(dir.path()).await;
    assert_eq!(again.get("github.token").await.expect("get").expose(), CANARY);
}

#[tokio::test]
async fn list_gives_names_and_times_only_and_set_replaces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = vault(dir.path()).await;
    v.set("zeta", b"one").await.expect("set");
    v.set("alpha", b"two").await.expect("set");
    v.set("zeta", b"three").await.expect("replace");
    let names: Vec<String> = v.list().await.expect("list").into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(v.get("zeta").await.expect("get").expose(), b"three");
}

#[tokio::test]
async fn every_write_uses_a_fresh_nonce() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (v, s) = (vault(dir.path()).await, store(dir.path()).await);
    v.set("a", CANARY).await.expect("set");
    let first = s.vault_entry("a").await.expect("row").expect("some");
    v.set("a", CANARY).await.expect("set");
    let second = s.vault_entry("a").await.expect("row").expect("some");
    assert_ne!(first.nonce, second.nonce);
    assert_ne!(first.ciphertext, second.ciphertext);
    assert_eq!(first.created_at, second.created_at);
}

#[tokio::test]
async fn another_key_cannot_decrypt_and_the_error_names_the_entry_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let right = vault(dir.path()).await;
    right.set("db.password", CANARY).await.expect("set");
    let (s, wrong) = (store(dir.path()).await, Vault::with_key(&other_key(), store(dir.path()).await));
    let err = wrong.get("db.password").await.expect_err("wrong key must fail");
    assert!(matches!(err, VaultError::WrongKey { ref name, .. } if name == "db.password"), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("db.password") && shown.contains(right.key_id()), "{shown}");
    assert!(!shown.contains("canary"), "{shown}");
    // Even with the key id forged to match, the AEAD refuses the other key.
    let row = s.vault_entry("db.password").await.expect("row").expect("some");
    s.put_vault_entry(&VaultRow { key_id: wrong.key_id().into(), ..row }).await.expect("forge");
    let err = wrong.get("db.password").await.expect_err("wrong key must fail");
    assert!(matches!(err, VaultError::Decrypt(ref n) if n == "db.password"), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("canary"));
}

#[tokio::test]
async fn entries_under_two_keys_are_never_mixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = vault(dir.path()).await;
    first.set("a", b"one").await.expect("set");
    let second = Vault::with_key(&other_key(), store(dir.path()).await);
    let err = second.set("b", b"two").await.expect_err("a second key must be refused");
    assert!(matches!(err, VaultError::OtherKeys { ref others, .. } if others == &[first.key_id().to_string()]));
    assert_eq!(first.list().await.expect("list").len(), 1);
    first.remove("a").await.expect("remove");
    second.set("b", b"two").await.expect("the vault is empty, any key may start it");
    assert_eq!(second.get("b").await.expect("get").expose(), b"two");
}

#[test]
fn key_ids_are_stable_distinct_and_not_the_key() {
    let (a, b) = (other_key(), MasterKey::parse(&"cd".repeat(KEY_LEN)).expect("key"));
    assert_eq!(a.id(), MasterKey::parse(&"ab".repeat(KEY_LEN)).expect("key").id());
    assert_ne!(a.id(), b.id());
    assert_eq!(a.id().len(), 16);
    assert!(!a.to_hex().contains(&a.id()));
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_name_does_not_decrypt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (v, s) = (vault(dir.path()).await, store(dir.path()).await);
    v.set("admin", CANARY).await.expect("set");
    v.set("guest", b"harmless").await.expect("set");
    let admin = s.vault_entry("admin").await.expect("row").expect("some");
    s.put_vault_entry(&VaultRow { name: "guest".into(), ..admin }).await.expect("swap");
    assert!(matches!(v.get("guest").await, Err(VaultError::Decrypt(n)) if n == "guest"));
    assert_eq!(v.get("admin").await.expect("untouched").expose(), CANARY);
}

#[tokio::test]
async fn altered_or_malformed_rows_fail() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let dir = tempfile::tempdir().expect("tempdir");
    let (v, s) = (vault(dir.path()).await, store(dir.path()).await);
    v.set("k", CANARY).await.expect("set");
    let row = s.vault_entry("k").await.expect("row").expect("some");
    let mut bytes = b64.decode(&row.ciphertext).expect("b64");
    bytes[0] ^= 1;
    s.put_vault_entry(&VaultRow { ciphertext: b64.encode(&bytes), ..row.clone() }).await.expect("tamper");
    assert!(matches!(v.get("k").await, Err(VaultError::Decrypt(_))));
    s.put_vault_entry(&VaultRow { nonce: b64.encode([0u8; 12]), ..row.clone() }).await.expect("short nonce");
    assert!(matches!(v.get("k").await, Err(VaultError::Malformed(_, _))));
    s.put_vault_entry(&VaultRow { nonce: "%%".into(), ..row }).await.expect("bad nonce");
    assert!(matches!(v.get("k").await, Err(VaultError::Malformed(_, _))));
}

#[tokio::test]
async fn remove_deletes_and_a_missing_entry_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = vault(dir.path()).await;
    v.set("gone", CANARY).await.expect("set");
    v.remove("gone").await.expect("remove");
    assert!(matches!(v.get("gone").await, Err(VaultError::NotFound(_))));
    assert!(matches!(v.remove("gone").await, Err(VaultError::NotFound(_))));
    assert!(v.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn names_empty_and_oversized_values_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = vault(dir.path()).await;
    for bad in ["", "Upper", "a b", "a/b", ".hidden", "-x", "ü", &"a".repeat(MAX_NAME_LEN + 1)] {
        assert!(matches!(v.set(bad, b"x").await, Err(VaultError::InvalidName(_))), "{bad:?} accepted");
        assert!(matches!(v.get(bad).await, Err(VaultError::InvalidName(_))), "{bad:?} accepted");
    }
    for good in ["a", "0", "github-main.token_2", &"a".repeat(MAX_NAME_LEN)] {
        check_name(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    assert!(matches!(v.set("e", b"").await, Err(VaultError::Empty(_))));
    assert!(matches!(v.set("big", &vec![7u8; MAX_SECRET_LEN + 1]).await, Err(VaultError::TooLarge(_))));
    v.set("max", &vec![7u8; MAX_SECRET_LEN]).await.expect("the largest value fits");
}

#[test]
fn secrets_and_keys_do_not_print() {
    let secret = Secret::new(zeroize::Zeroizing::new(CANARY.to_vec()));
    assert_eq!(format!("{secret:?}"), "Secret(***)");
    assert_eq!(secret.expose_str(), std::str::from_utf8(CANARY).ok());
    assert_eq!(format!("{:?}", other_key()), "MasterKey(***)");
}

#[test]
fn the_key_file_is_private_32_bytes_and_stable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join(KEY_FILE);
    let key = MasterKey::from_file_or_create(&path).expect("create");
    let meta = std::fs::metadata(&path).expect("key file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), KEY_LEN as u64);
    assert_eq!(MasterKey::from_file_or_create(&path).expect("read").bytes(), key.bytes());
    let leftovers = std::fs::read_dir(path.parent().expect("dir")).expect("ls").count();
    assert_eq!(leftovers, 1, "temporary key files were left behind");
}

#[test]
fn racing_creators_agree_on_one_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(KEY_FILE);
    let keys: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| MasterKey::from_file_or_create(&path).expect("key"))).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(keys.iter().all(|k| k.bytes() == keys[0].bytes()));
}

#[test]
fn a_shared_or_damaged_key_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(KEY_FILE);
    MasterKey::from_file_or_create(&path).expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let err = MasterKey::from_file_or_create(&path).expect_err("group-readable key").to_string();
    assert!(err.contains("mode 640") && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::write(&path, [1u8; KEY_LEN + 1]).expect("write");
    let err = MasterKey::from_file(&path).expect_err("long key").to_string();
    assert!(err.contains("not 32 bytes"), "{err}");
    std::fs::write(&path, [1u8; 5]).expect("write");
    assert!(MasterKey::from_file(&path).is_err());
}

#[test]
fn keys_parse_from_hex_or_base64_and_errors_do_not_echo_them() {
    use base64::Engine;
    let hex_key = "0123456789abcdef".repeat(4);
    let from_hex = MasterKey::parse(&hex_key).expect("hex");
    let b64 = base64::engine::general_purpose::STANDARD.encode(from_hex.bytes());
    assert_eq!(MasterKey::parse(&format!(" {b64}\n")).expect("base64").bytes(), from_hex.bytes());
    assert_eq!(*from_hex.to_hex(), hex_key);
    for bad in
        ["", "zz-not-a-key-zz", &"ab".repeat(KEY_LEN - 1), &base64::engine::general_purpose::STANDARD.encode([1u8; 16])]
    {
        let err = format!("{:#}", MasterKey::parse(bad).expect_err("bad key"));
        assert!(bad.is_empty() || !err.contains(bad), "{err}");
    }
}

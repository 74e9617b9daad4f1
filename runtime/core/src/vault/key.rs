//! The master key: 32 random bytes in `<workspace>/.monstrum/vault.key` (mode 0600), or the
//! `MONSTRUM_VAULT_KEY` environment variable (64 hex digits or standard base64), which wins.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable that holds the master key, when it is not in a file.
pub const KEY_ENV: &str = "MONSTRUM_VAULT_KEY";
/// The key file's name inside the workspace's data folder.
pub const KEY_FILE: &str = "vault.key";
/// Length of the master key in bytes.
pub const KEY_LEN: usize = 32;

/// A 256-bit master key, wiped from memory when dropped; `Debug` does not print it.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// The key from `MONSTRUM_VAULT_KEY` when set; else from `<data_dir>/vault.key`, which is
    /// created (32 random bytes, mode 0600) if missing.
    pub fn load(data_dir: &Path) -> anyhow::Result<MasterKey> {
        if let Some(value) = std::env::var_os(KEY_ENV) {
            let value = Zeroizing::new(value.into_string().map_err(|_| anyhow::anyhow!("{KEY_ENV} is not text"))?);
            return MasterKey::parse(&value).with_context(|| format!("invalid {KEY_ENV}"));
        }
        MasterKey::from_file_or_create(&data_dir.join(KEY_FILE))
    }

    /// 32 bytes from the OS random source.
    pub fn generate() -> anyhow::Result<MasterKey> {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(&mut *key).map_err(|e| anyhow::anyhow!("no randomness for a vault key: {e}"))?;
        Ok(MasterKey(key))
    }

    /// A key written as 64 hex digits or as standard base64 (44 characters with padding).
    /// Errors never quote the value.
    pub fn parse(text: &str) -> anyhow::Result<MasterKey> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Zeroizing::new(hex::decode(text).context("not hex")?)
        } else {
            Zeroizing::new(B64.decode(text).map_err(|_| anyhow::anyhow!("expected 64 hex digits or base64"))?)
        };
        MasterKey::from_slice(&bytes).context("expected 64 hex digits or base64 of 32 bytes")
    }

    /// A short public name of this key: 16 hex digits of a domain-separated SHA-256 of it. It
    /// tells keys apart in the store and in errors and reveals nothing about the key.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new().chain_update(b"monstrum vault key id\0").chain_update(*self.0).finalize();
        hex::encode(&digest[..8])
    }

    /// The key as 64 hex digits (for `MONSTRUM_VAULT_KEY`).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.0))
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn from_slice(bytes: &[u8]) -> anyhow::Result<MasterKey> {
        if bytes.len() != KEY_LEN {
            bail!("a vault key is {KEY_LEN} bytes, this one is {}", bytes.len());
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(MasterKey(key))
    }

    /// Reads the key file, refusing one that group or others may access or of the wrong length.
    pub fn from_file(path: &Path) -> anyhow::Result<MasterKey> {
        let mut file =
            OpenOptions::new().read(true).open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let meta = file.metadata().with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!("vault key {} is not a file", path.display());
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "vault key {} has mode {mode:o}: group and others must have no access (chmod 600 {})",
                path.display(),
                path.display()
            );
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
        (&mut file)
            .take(KEY_LEN as u64 + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if bytes.len() != KEY_LEN {
            bail!("vault key {} is not {KEY_LEN} bytes: it is damaged or not a vault key", path.display());
        }
        MasterKey::from_slice(&bytes)
    }

    /// Reads the key file, or creates it if there is none. Creation is atomic: the key is
    /// written to a private temporary file (mode 0600 from the start) that is then hard-linked
    /// into place, so no process ever sees a partial key, and of two processes racing to create
    /// it, the loser reads the winner's key.
    pub fn from_file_or_create(path: &Path) -> anyhow::Result<MasterKey> {
        match std::fs::metadata(path) {
            Ok(_) => return MasterKey::from_file(path),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        let dir = path.parent().context("the vault key path has no folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let key = MasterKey::generate()?;
        let tmp = temp_path(path)?;
        let written = write_private(&tmp, key.bytes()).and_then(|()| match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        });
        let _ = std::fs::remove_file(&tmp);
        match written.with_context(|| format!("cannot create the vault key {}", path.display()))? {
            true => Ok(key),
            false => MasterKey::from_file(path),
        }
    }
}

fn temp_path(path: &Path) -> anyhow::Result<PathBuf> {
    let mut tag = [0u8; 8];
    getrandom::fill(&mut tag).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(path.with_file_name(format!(".{KEY_FILE}.{}.{}.tmp", std::process::id(), hex::encode(tag))))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

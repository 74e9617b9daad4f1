//! The vault: credentials encrypted at rest with XChaCha20-Poly1305 under the workspace's master
//! key, stored in the store (SQLite or PostgreSQL) so they follow the workspace's database.
//!
//! Each entry is sealed with a fresh random 192-bit nonce and its name as associated data: a
//! ciphertext copied under another name, a changed byte or another key all fail to decrypt. The
//! store holds names, nonces, ciphertexts and times, never a plaintext. Values come back as
//! [`Secret`]s, wiped from memory on drop and never printed; the plugin host exposes them only at
//! the last boundary (an HTTP header, the SSH session, the signer).

mod error;
mod key;
mod name;
mod seal;
mod secret;
#[cfg(test)]
mod tests;

pub use error::VaultError;
pub use key::{KEY_ENV, KEY_FILE, KEY_LEN, MasterKey};
pub use name::{MAX_NAME_LEN, check_name};
pub use secret::Secret;

use crate::store::{Store, VaultRow, now_ms};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use std::fmt;
use std::path::Path;

/// The largest value an entry may hold (an SSH private key is a few KB).
pub const MAX_SECRET_LEN: usize = 64 * 1024;

/// The vault of one workspace; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
    key_id: String,
    store: Store,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(***)")
    }
}

impl Vault {
    /// The vault of the workspace whose data folder (`.monstrum/`) is `workspace_data_dir`, with
    /// its master key from `MONSTRUM_VAULT_KEY` or `vault.key` (created if missing).
    pub fn open(workspace_data_dir: &Path, store: Store) -> anyhow::Result<Vault> {
        Ok(Vault::with_key(&MasterKey::load(workspace_data_dir)?, store))
    }

    /// A vault under an explicit master key.
    pub fn with_key(key: &MasterKey, store: Store) -> Vault {
        Vault { cipher: XChaCha20Poly1305::new(key.bytes().into()), key_id: key.id(), store }
    }

    /// The public id of the master key in use ([`MasterKey::id`]).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Encrypts and stores `secret` under `name`, replacing any previous value. Refused if the
    /// vault holds entries sealed under another master key: one vault, one key.
    pub async fn set(&self, name: &str, secret: &[u8]) -> Result<(), VaultError> {
        check_name(name)?;
        if secret.is_empty() {
            return Err(VaultError::Empty(name.into()));
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(VaultError::TooLarge(name.into()));
        }
        let others = self.store.vault_other_keys(&self.key_id).await?;
        if !others.is_empty() {
            return Err(VaultError::OtherKeys { name: name.into(), current: self.key_id.clone(), others });
        }
        let (nonce, ciphertext) = seal::seal(&self.cipher, name, secret)?;
        let now = now_ms();
        let row = VaultRow {
            name: name.into(),
            nonce,
            ciphertext,
            key_id: self.key_id.clone(),
            created_at: now,
            updated_at: now,
        };
        self.store.put_vault_entry(&row).await?;
        Ok(())
    }

    /// Decrypts the value of `name`.
    pub async fn get(&self, name: &str) -> Result<Secret, VaultError> {
        check_name(name)?;
        let row = self.store.vault_entry(name).await?.ok_or_else(|| VaultError::NotFound(name.into()))?;
        if row.key_id != self.key_id {
            return Err(VaultError::WrongKey { name: row.name, stored: row.key_id, current: self.key_id.clone() });
        }
        seal::unseal(&self.cipher, &row)
    }

    /// Every entry's (name, updated_at in ms), by name. Nothing is decrypted.
    pub async fn list(&self) -> Result<Vec<(String, i64)>, VaultError> {
        Ok(self.store.vault_names().await?)
    }

    /// Deletes `name`; an error if there is no such entry.
    pub async fn remove(&self, name: &str) -> Result<(), VaultError> {
        check_name(name)?;
        match self.store.delete_vault_entry(name).await? {
            true => Ok(()),
            false => Err(VaultError::NotFound(name.into())),
        }
    }
}

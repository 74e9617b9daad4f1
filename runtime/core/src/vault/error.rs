//! What can go wrong with a vault entry. No variant ever carries a secret's value.

use crate::store::StoreError;

/// A vault failure, naming the entry.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "invalid vault entry name {0:?}: use 1 to 128 lowercase letters, digits, '-', '_' and '.', \
         starting with a letter or digit"
    )]
    InvalidName(String),
    #[error("no vault entry named {0}")]
    NotFound(String),
    #[error("refusing to store an empty value in vault entry {0}")]
    Empty(String),
    #[error("the value for vault entry {0} is too large (at most {max} bytes)", max = super::MAX_SECRET_LEN)]
    TooLarge(String),
    #[error("cannot encrypt vault entry {0}: {1}")]
    Encrypt(String, String),
    #[error(
        "cannot decrypt vault entry {0}: the master key is not the one it was stored with, \
         or the entry was altered or moved from another name"
    )]
    Decrypt(String),
    #[error(
        "vault entry {name} was stored under master key {stored}, not under the current key {current}: \
         set MONSTRUM_VAULT_KEY to the key it was stored with, or restore .monstrum/vault.key"
    )]
    WrongKey { name: String, stored: String, current: String },
    #[error(
        "refusing to store vault entry {name} under master key {current}: the vault holds entries under \
         other keys ({}); use their key (MONSTRUM_VAULT_KEY or .monstrum/vault.key) or remove them first",
        others.join(", ")
    )]
    OtherKeys { name: String, current: String, others: Vec<String> },
    #[error("vault entry {0} is malformed in the store: {1}")]
    Malformed(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

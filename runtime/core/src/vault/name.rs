//! Vault entry names.

use super::VaultError;

/// The longest entry name.
pub const MAX_NAME_LEN: usize = 128;

/// Checks an entry name: 1 to 128 lowercase letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit (so no `.`/`..` look-alikes).
pub fn check_name(name: &str) -> Result<(), VaultError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    let starts_well = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.len() <= MAX_NAME_LEN && starts_well && name.chars().all(allowed) {
        Ok(())
    } else {
        Err(VaultError::InvalidName(name.to_string()))
    }
}

//! XChaCha20-Poly1305 sealing of one entry: a fresh random 192-bit nonce per write, the entry's
//! name as associated data, nonce and ciphertext as base64 for the store.

use super::{Secret, VaultError};
use crate::store::VaultRow;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::{AeadInOut, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Encrypts `plaintext` for entry `name`: (nonce, ciphertext), both base64.
pub(super) fn seal(cipher: &XChaCha20Poly1305, name: &str, plaintext: &[u8]) -> Result<(String, String), VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| VaultError::Encrypt(name.into(), format!("no random nonce: {e}")))?;
    let nonce = XNonce::from(nonce);
    // Room for the tag up front, so the plaintext is never left behind by a reallocation.
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buffer.extend_from_slice(plaintext);
    cipher
        .encrypt_in_place(&nonce, name.as_bytes(), &mut *buffer)
        .map_err(|_| VaultError::Encrypt(name.into(), "the value is too long".into()))?;
    Ok((B64.encode(nonce), B64.encode(&*buffer)))
}

/// Decrypts a stored entry; fails if the key, the name, the nonce or the ciphertext differ from
/// what was sealed.
pub(super) fn unseal(cipher: &XChaCha20Poly1305, row: &VaultRow) -> Result<Secret, VaultError> {
    let malformed = |what| VaultError::Malformed(row.name.clone(), what);
    let nonce = B64.decode(&row.nonce).map_err(|_| malformed("its nonce is not base64"))?;
    let nonce = XNonce::try_from(nonce.as_slice()).map_err(|_| malformed("its nonce is not 24 bytes"))?;
    let mut buffer =
        Zeroizing::new(B64.decode(&row.ciphertext).map_err(|_| malformed("its ciphertext is not base64"))?);
    cipher
        .decrypt_in_place(&nonce, row.name.as_bytes(), &mut *buffer)
        .map_err(|_| VaultError::Decrypt(row.name.clone()))?;
    Ok(Secret::new(buffer))
}

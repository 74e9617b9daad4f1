//! A decrypted secret: wiped from memory when dropped, never printed.

use std::fmt;
use zeroize::Zeroizing;

/// A decrypted vault value. Its bytes are reachable only through [`Secret::expose`], which the
/// plugin host calls at the last boundary (the outgoing request's header, the SSH session, the
/// signer). It has no `Display`, no `Clone` and no serialization; `Debug` prints `Secret(***)`.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes that are already in zeroizing memory.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Secret {
        Secret(bytes)
    }

    /// The secret's bytes. Copy them only into memory that is itself wiped or sent at once.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as text, if it is UTF-8 (tokens, passwords, PEM keys).
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

//! The credential values of one call. They live in the host only: the host writes them into the
//! outgoing request, SSH session or signature, and they are zeroized when the call ends.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// Secrets by credential field (the manifest's `credentials:` keys). Its `Debug` shows the
/// field names only.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Zeroizing<String>>);

impl Secrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the secret of credential field `field`. The value is moved, not copied, and zeroized
    /// when dropped.
    pub fn insert(&mut self, field: impl Into<String>, secret: String) {
        self.0.insert(field.into(), Zeroizing::new(secret));
    }

    /// Builder form of [`Secrets::insert`].
    #[cfg_attr(not(feature = "internals"), allow(dead_code))] // used by the tests and benches
    pub fn with(mut self, field: impl Into<String>, secret: String) -> Self {
        self.insert(field, secret);
        self
    }

    /// The secret of `field`.
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(|s| s.as_str())
    }

    /// Every secret value (to scrub them from what goes back to the guest).
    pub(crate) fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(|s| s.as_str()).filter(|s| !s.is_empty())
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_only() {
        let s = Secrets::new().with("token", "hunter2".to_string());
        assert_eq!(format!("{s:?}"), "{\"token\"}");
        assert_eq!(s.get("token"), Some("hunter2"));
    }
}

//! A package's signature: the `SIGNATURE` entry, beside `SHA256SUMS`.
//!
//! ```text
//! publisher: alice
//! key: ed25519:BASE64
//! signature: BASE64
//! ```
//!
//! The signature is Ed25519 over a message that binds the package's kind, name, version and
//! publisher to its checksums (which cover every other entry), so a signature cannot be moved
//! to another package, another version, or another publisher's name. It is checked with
//! `verify_strict`, and accepted only when `trust:` lists that publisher with that key.

use super::keys::{PublicKey, SigningKey};
use super::{Kind, Signed, TrustedKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};

/// The `SIGNATURE` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub publisher: String,
    pub key: String,
    pub signature: String,
}

/// Why a package may not be installed. Each says what failed, for whom.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is not signed (publish it with --key NAME; a local folder index may take --allow-unsigned)")]
    Unsigned(String),
    #[error("{what}: the signature does not verify ({reason}); the package was changed or forged")]
    BadSignature { what: String, reason: String },
    #[error("{what} is signed by `{publisher}` with key {key}, which `trust:` in monstrum.yaml does not list{hint}")]
    Untrusted { what: String, publisher: String, key: String, hint: String },
}

/// The message a publisher signs for `signed`.
fn message(signed: &Signed, publisher: &str) -> Vec<u8> {
    format!(
        "monstrum package signature v1\nkind: {}\nname: {}\nversion: {}\npublisher: {publisher}\n{}",
        signed.kind.as_str(),
        signed.name,
        signed.version,
        signed.checksums
    )
    .into_bytes()
}

/// `kind name@version`, for messages.
pub fn describe(kind: Kind, name: &str, version: &semver::Version) -> String {
    format!("{} {name}@{version}", kind.as_str())
}

impl Signature {
    /// `key`'s signature of `signed`, as the `SIGNATURE` entry's text.
    pub fn sign(signed: &Signed, key: &SigningKey) -> String {
        let sig = key.key.sign(&message(signed, &key.name));
        let entry = Signature {
            publisher: key.name.clone(),
            key: key.public().to_string(),
            signature: STANDARD.encode(sig.to_bytes()),
        };
        serde_yaml::to_string(&entry).expect("a signature serializes")
    }

    /// Checks `signed`'s signature, and that `trust` lists its publisher with its key. Returns
    /// the publisher's name.
    pub fn verify(signed: &Signed, trust: &[TrustedKey]) -> Result<String, Refusal> {
        let what = describe(signed.kind, &signed.name, &signed.version);
        let text = signed.signature.as_deref().ok_or_else(|| Refusal::Unsigned(what.clone()))?;
        let entry =
            Signature::check(signed, text).map_err(|reason| Refusal::BadSignature { what: what.clone(), reason })?;
        let listed = trust.iter().filter(|t| PublicKey::parse(&t.key).ok() == PublicKey::parse(&entry.key).ok());
        if listed.clone().any(|t| t.name == entry.publisher) {
            return Ok(entry.publisher);
        }
        let hint = match listed.map(|t| t.name.clone()).next() {
            Some(other) => format!(" under that name (it lists this key as `{other}`)"),
            None => {
                format!(" (add `- name: {}` / `key: {}` under trust: if you trust them)", entry.publisher, entry.key)
            }
        };
        Err(Refusal::Untrusted { what, publisher: entry.publisher, key: entry.key, hint })
    }

    /// Parses `text` and checks its signature of `signed`, whoever signed it (no trust list):
    /// what an index checks before it takes a package.
    pub fn check(signed: &Signed, text: &str) -> Result<Signature, String> {
        let entry: Signature =
            serde_yaml::from_str(text).map_err(|e| format!("the SIGNATURE entry does not read: {e}"))?;
        super::keys::check_name(&entry.publisher).map_err(|e| e.to_string())?;
        let key = PublicKey::parse(&entry.key).map_err(|e| e.to_string())?;
        let bytes = STANDARD.decode(entry.signature.trim()).map_err(|_| "the signature is not base64".to_string())?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| "the signature is not 64 bytes".to_string())?;
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        key.0.verify_strict(&message(signed, &entry.publisher), &sig).map_err(|_| "Ed25519 says no".to_string())?;
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> Signed {
        Signed {
            kind: Kind::Skill,
            name: "log-triage".into(),
            version: semver::Version::new(1, 0, 0),
            checksums: format!("{}  SKILL.md\n", "a".repeat(64)),
            signature: None,
        }
    }

    fn trust(key: &SigningKey) -> Vec<TrustedKey> {
        vec![TrustedKey { name: key.name.clone(), key: key.public().to_string() }]
    }

    #[test]
    fn a_signature_verifies_for_its_package_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (alice, _) = SigningKey::create(dir.path(), "alice").unwrap();
        let (mallory, _) = SigningKey::create(dir.path(), "mallory").unwrap();
        let mut s = signed();
        s.signature = Some(Signature::sign(&s, &alice));
        assert_eq!(Signature::verify(&s, &trust(&alice)).unwrap(), "alice");
        // Not trusted: mallory's list, or nobody's.
        assert!(matches!(Signature::verify(&s, &trust(&mallory)), Err(Refusal::Untrusted { .. })));
        assert!(matches!(Signature::verify(&s, &[]), Err(Refusal::Untrusted { .. })));
        // Another version, other checksums, another kind: the same signature no longer verifies.
        let changes: [fn(&mut Signed); 3] = [
            |s| s.version = semver::Version::new(1, 0, 1),
            |s| s.checksums.replace_range(0..1, "b"),
            |s| s.kind = Kind::Plugin,
        ];
        for change in changes {
            let mut moved = s.clone();
            change(&mut moved);
            assert!(matches!(Signature::verify(&moved, &trust(&alice)), Err(Refusal::BadSignature { .. })));
        }
        // Mallory's signature claiming to be alice's (her name, her key, his signature).
        let forged = Signature::sign(&s, &mallory)
            .replace(&mallory.public().to_string(), &alice.public().to_string())
            .replace("mallory", "alice");
        let mut f = s.clone();
        f.signature = Some(forged);
        assert!(matches!(Signature::verify(&f, &trust(&alice)), Err(Refusal::BadSignature { .. })));
        // Alice's key listed under another name does not vouch for a signature naming alice.
        let renamed = vec![TrustedKey { name: "bob".into(), key: alice.public().to_string() }];
        let err = Signature::verify(&s, &renamed).unwrap_err().to_string();
        assert!(err.contains("lists this key as `bob`"), "{err}");
        s.signature = None;
        assert!(matches!(Signature::verify(&s, &trust(&alice)), Err(Refusal::Unsigned(_))));
    }
}

//! Publisher keys: an Ed25519 key pair per publisher name, made by `monstrum key create NAME`.
//!
//! The secret key is the file `NAME.key` (mode 0600, `ed25519-secret:BASE64` of its 32 bytes)
//! in the keys folder (`.monstrum/keys/` of the workspace); the public key is printed as
//! `ed25519:BASE64`, the form `trust:` in `monstrum.yaml` takes, and kept beside it in
//! `NAME.pub`.

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const SECRET_PREFIX: &str = "ed25519-secret:";
const PUBLIC_PREFIX: &str = "ed25519:";

/// A publisher's public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(pub ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Reads `ed25519:BASE64`.
    pub fn parse(text: &str) -> anyhow::Result<PublicKey> {
        let b64 = text.trim().strip_prefix(PUBLIC_PREFIX).with_context(|| {
            format!("`{text}` is not a public key: it must be `ed25519:` and base64, as `monstrum key create` prints")
        })?;
        let bytes = STANDARD.decode(b64).with_context(|| format!("`{text}` is not valid base64"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| anyhow::anyhow!("`{text}` is not 32 bytes, the size of an Ed25519 key"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| anyhow::anyhow!("`{text}` is not a point of Ed25519"))?;
        if key.is_weak() {
            bail!("`{text}` is a weak Ed25519 key (of small order): refused");
        }
        Ok(PublicKey(key))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.as_bytes()))
    }
}

/// A publisher's secret key and name.
pub struct SigningKey {
    /// The publisher's name, written into every signature.
    pub name: String,
    pub(crate) key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    /// Makes the key `name` in `dir`: `NAME.key` (0600) and `NAME.pub`. Refuses to replace a
    /// key that exists: a lost key cannot be made again, and packages signed with it would no
    /// longer match.
    pub fn create(dir: &Path, name: &str) -> anyhow::Result<(SigningKey, PathBuf)> {
        check_name(name)?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join(format!("{name}.key"));
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
        let key = SigningKey { name: name.to_string(), key: ed25519_dalek::SigningKey::from_bytes(&secret) };
        let text = Zeroizing::new(format!("{SECRET_PREFIX}{}\n", STANDARD.encode(secret.as_ref())));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options.open(&file).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                anyhow::anyhow!("key `{name}` exists ({}); it is never replaced", file.display())
            }
            _ => anyhow::Error::new(e).context(format!("cannot write {}", file.display())),
        })?;
        std::io::Write::write_all(&mut out, text.as_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?;
        std::fs::write(dir.join(format!("{name}.pub")), format!("{}\n", key.public()))
            .with_context(|| format!("cannot write {name}.pub in {}", dir.display()))?;
        Ok((key, file))
    }

    /// The key `name_or_file`: a file path (`…/alice.key`), or a name in `dir`.
    pub fn load(dir: &Path, name_or_file: &str) -> anyhow::Result<SigningKey> {
        let file = if name_or_file.contains('/') || name_or_file.ends_with(".key") {
            PathBuf::from(name_or_file)
        } else {
            check_name(name_or_file)?;
            dir.join(format!("{name_or_file}.key"))
        };
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        check_name(&name)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file)
                .with_context(|| format!("no key `{name}`: {} (monstrum key create {name})", file.display()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                bail!("{} can be read by others (mode {:o}): chmod 600 it", file.display(), mode & 0o777);
            }
        }
        let text =
            Zeroizing::new(std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?);
        let b64 = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .with_context(|| format!("{} is not a key of `monstrum key create`", file.display()))?;
        let bytes = Zeroizing::new(STANDARD.decode(b64).with_context(|| format!("{} is damaged", file.display()))?);
        let secret: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| anyhow::anyhow!("{} is damaged: not 32 bytes", file.display()))?;
        Ok(SigningKey { name, key: ed25519_dalek::SigningKey::from_bytes(&secret) })
    }
}

/// A publisher name: 1–64 of lowercase letters, digits, `-` and `_`.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { bail!("`{name}` is not a publisher name (1–64 lowercase letters, digits, - and _)") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (key, file) = SigningKey::create(dir.path(), "alice").unwrap();
        let back = SigningKey::load(dir.path(), "alice").unwrap();
        assert_eq!(back.public(), key.public());
        assert_eq!(PublicKey::parse(&key.public().to_string()).unwrap(), key.public());
        let err = SigningKey::create(dir.path(), "alice").err().unwrap().to_string();
        assert!(err.contains("never replaced"), "{err}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(SigningKey::load(dir.path(), "alice").err().unwrap().to_string().contains("chmod 600"));
    }

    #[test]
    fn public_keys_that_are_not_keys_are_refused() {
        for bad in ["", "ed25519:", "ed25519:abc", "rsa:AAAA", &format!("ed25519:{}", STANDARD.encode([0u8; 32]))] {
            assert!(PublicKey::parse(bad).is_err(), "{bad}");
        }
        assert!(check_name("../x").is_err() && check_name("Alice").is_err() && check_name("alice-2").is_ok());
    }
}

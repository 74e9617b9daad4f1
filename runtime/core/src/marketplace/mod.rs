//! The marketplace (DESIGN.md, "Marketplace"): signed packages of skills and plugins, the
//! indexes that hold them (a folder, or `monstrum serve`'s `/api/marketplace`), and installing
//! from one.
//!
//! The path of a package, one straight line:
//! 1. `monstrum key create NAME` makes a publisher key ([`keys`]).
//! 2. `skill publish DIR --key NAME` / `plugin publish FILE --key NAME` packs it with SHA-256
//!    checksums of every entry and an Ed25519 signature of those checksums ([`signature`]),
//!    and puts it in an index ([`index`]); a version, once there, never changes.
//! 3. `skill install NAME[@VERSION]` / `plugin install NAME[@VERSION] --index URL|DIR` picks the
//!    newest matching version, and [`install`] verifies checksums, signature and the
//!    publisher's place in `trust:` of `monstrum.yaml` before writing anything. Every install
//!    and every refusal is audited.

pub mod index;
pub mod install;
pub mod keys;
pub mod signature;
pub mod skill_package;

pub use index::{Index, IndexEntry};
pub use install::Installed;
pub use keys::{PublicKey, SigningKey};
pub use signature::{Refusal, Signature};
pub use skill_package::SkillPackage;

use serde::{Deserialize, Serialize};

/// What a package holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A skill's folder.
    Skill,
    /// A plugin (`.mst`).
    Plugin,
}

impl Kind {
    /// `skill` or `plugin`, as in routes and signatures.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Skill => "skill",
            Kind::Plugin => "plugin",
        }
    }

    /// The kind named `text`.
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "skill" => Some(Kind::Skill),
            "plugin" => Some(Kind::Plugin),
            _ => None,
        }
    }

    /// The file extension of its packages in an index.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Skill => "tgz",
            Kind::Plugin => crate::plugin::package::EXTENSION,
        }
    }
}

/// A publisher a workspace trusts: an entry of `trust:` in `monstrum.yaml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// The publisher's name, as its packages' signatures give it.
    pub name: String,
    /// Its public key, `ed25519:BASE64` as `monstrum key create` prints it.
    pub key: String,
}

/// A package's identity and what its signature covers, whatever its kind.
#[derive(Clone, Debug)]
pub struct Signed {
    pub kind: Kind,
    pub name: String,
    pub version: semver::Version,
    /// `SHA256SUMS` as packed.
    pub checksums: String,
    /// `SIGNATURE` as packed, if any.
    pub signature: Option<String>,
}

/// A package of either kind, read and checked (checksums, entries, contents) but whose
/// signature is not yet checked against a trust list.
#[derive(Clone, Debug)]
pub enum Package {
    Skill(SkillPackage),
    Plugin(crate::plugin::package::Package),
}

impl Package {
    /// Reads a package of `kind` from its bytes.
    pub fn from_bytes(kind: Kind, bytes: &[u8]) -> anyhow::Result<Package> {
        Ok(match kind {
            Kind::Skill => Package::Skill(SkillPackage::from_bytes(bytes)?),
            Kind::Plugin => Package::Plugin(crate::plugin::package::Package::from_bytes(bytes)?),
        })
    }

    /// Sets (or clears) the `SIGNATURE` entry and packs the package again.
    pub fn with_signature(&mut self, signature: Option<String>) -> anyhow::Result<Vec<u8>> {
        match self {
            Package::Skill(p) => {
                p.signature = signature;
                p.to_bytes()
            }
            Package::Plugin(p) => {
                p.signature = signature;
                Ok(p.to_bytes()?)
            }
        }
    }

    /// What the signature covers.
    pub fn signed(&self) -> anyhow::Result<Signed> {
        Ok(match self {
            Package::Skill(p) => Signed {
                kind: Kind::Skill,
                name: p.name.clone(),
                version: p.version.clone(),
                checksums: p.checksums(),
                signature: p.signature.clone(),
            },
            Package::Plugin(p) => Signed {
                kind: Kind::Plugin,
                name: p.manifest.name.clone(),
                version: parse_version(&p.manifest.version)?,
                checksums: p.checksums(),
                signature: p.signature.clone(),
            },
        })
    }
}

/// A package version: semver (`1.2.0`), as the index and `install NAME@VERSION` compare them.
pub fn parse_version(text: &str) -> anyhow::Result<semver::Version> {
    semver::Version::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("version `{text}` is not a semantic version such as 1.2.0: {e}"))
}

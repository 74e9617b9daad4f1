//! Installing from an index: resolve the version, fetch, verify, audit; then write.
//!
//! [`fetch_verified`] refuses, before anything is written, a package whose download does not
//! match the index's SHA-256, whose entries do not match its own checksums, whose signature does
//! not verify, or whose publisher `trust:` does not list with that key. An unsigned package is
//! taken only from a local folder and only with `--allow-unsigned`. The decision, either way,
//! is an audit record (kind `install`), committed before the caller writes.

use super::index::{Index, IndexEntry, resolve};
use super::signature::{Refusal, Signature, describe};
use super::{Kind, Package, TrustedKey, parse_version};
use crate::audit::{AuditEntry, AuditKind, Trail};
use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The file an installed skill's folder keeps of where it came from (hidden: `skill publish`
/// leaves it out): `skill list` shows such a skill as `installed`.
pub const INSTALLED_MARK: &str = ".package.json";

/// What to install.
pub struct Request<'a> {
    pub kind: Kind,
    pub name: &'a str,
    /// A version or requirement (`1.2.0`, `^1`), or the newest release.
    pub wanted: Option<&'a str>,
    pub index: &'a Index,
    /// Take an unsigned package (a local folder index only).
    pub allow_unsigned: bool,
}

/// A package that passed every check, ready to be written.
pub struct Installed {
    pub entry: IndexEntry,
    /// The package file.
    pub bytes: Vec<u8>,
    pub package: Package,
    /// Its trusted publisher; `None` for an unsigned package taken with `--allow-unsigned`.
    pub publisher: Option<String>,
}

/// Resolves, fetches and verifies `request`; audits the decision.
pub async fn fetch_verified(request: &Request<'_>, trust: &[TrustedKey], trail: &Trail) -> anyhow::Result<Installed> {
    let (kind, name) = (request.kind, request.name);
    let local = matches!(request.index, Index::Folder(_));
    if request.allow_unsigned && !local {
        bail!("--allow-unsigned is for a local folder index only, not {}", request.index.describe());
    }
    let entries = request.index.list(Some(kind)).await?;
    let entry = resolve(&entries, kind, name, request.wanted)?.clone();
    let version = parse_version(&entry.version)?;
    let what = describe(kind, name, &version);
    let index = request.index.describe();
    let index = index.as_str();
    let refuse = move |reason: String| async move {
        let record = audit_entry(kind, "denied", format!("{reason} (index {index})"))
            .with_detail(serde_json::json!({ "name": name, "index": index }));
        trail.append(record).await.map_err(|e| anyhow::anyhow!("the refusal could not be audited: {e}"))?;
        Err::<Installed, _>(anyhow::anyhow!("{reason}: nothing installed"))
    };
    let bytes = request.index.fetch(kind, name, &entry.version).await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    if sha != entry.sha256 {
        return refuse(format!("{what}: the download hashes to {sha}, the index says {}", entry.sha256)).await;
    }
    let package = match Package::from_bytes(kind, &bytes) {
        Ok(p) => p,
        Err(e) => return refuse(format!("{what} is not a valid package: {e:#}")).await,
    };
    let signed = package.signed()?;
    if signed.name != name || signed.version != version {
        let inside = describe(kind, &signed.name, &signed.version);
        return refuse(format!("the index's {what} holds {inside}")).await;
    }
    let publisher = match Signature::verify(&signed, trust) {
        Ok(p) => Some(p),
        Err(Refusal::Unsigned(_)) if request.allow_unsigned => None,
        Err(refusal) => return refuse(refusal.to_string()).await,
    };
    let reason = match &publisher {
        Some(p) => format!("signed by trusted publisher `{p}`"),
        None => "unsigned, taken with --allow-unsigned from a local folder".to_string(),
    };
    let record =
        audit_entry(kind, "allowed", format!("{what}: {reason} (index {index})")).with_detail(serde_json::json!({
            "name": name, "version": entry.version, "index": index, "sha256": sha,
            "publisher": publisher, "signed": publisher.is_some(),
        }));
    trail
        .append(record)
        .await
        .map_err(|e| anyhow::anyhow!("the install could not be audited, so it is not done: {e}"))?;
    Ok(Installed { entry, bytes, package, publisher })
}

/// Audits a publish to the index `monstrum serve` hosts: who sent which package, signed by whom,
/// and whether the index took it (`denied` when it holds that version with other content).
pub async fn audit_publish(
    trail: &Trail,
    signed: &super::Signed,
    publisher: &str,
    by: &str,
    outcome: Result<super::index::Published, String>,
) -> anyhow::Result<()> {
    let what = describe(signed.kind, &signed.name, &signed.version);
    let (decision, reason) = match &outcome {
        Ok(super::index::Published::Created) => {
            ("allowed", format!("{what} published by {by}, signed by `{publisher}`"))
        }
        Ok(super::index::Published::Unchanged) => ("allowed", format!("{what} sent again by {by}, unchanged")),
        Err(e) => ("denied", format!("{what} from {by}: {e}")),
    };
    let mut entry =
        AuditEntry::new(AuditKind::Publish).decided(decision, Some(reason)).with_detail(serde_json::json!({
            "name": signed.name, "version": signed.version.to_string(), "publisher": publisher, "by": by,
        }));
    entry.tool = Some(format!("{}.publish", signed.kind.as_str()));
    trail.append(entry).await.map_err(|e| anyhow::anyhow!("the publish could not be audited: {e}"))?;
    Ok(())
}

fn audit_entry(kind: Kind, decision: &str, reason: String) -> AuditEntry {
    let mut entry = AuditEntry::new(AuditKind::Install).decided(decision, Some(reason));
    entry.tool = Some(format!("{}.install", kind.as_str()));
    entry
}

/// Writes a verified skill into `skills/NAME/` of the workspace at `root`. A skill there already
/// is replaced only with `force`; the folder is swapped in whole, never half written.
pub fn write_skill(root: &Path, installed: &Installed, force: bool) -> anyhow::Result<PathBuf> {
    let Package::Skill(package) = &installed.package else { bail!("not a skill package") };
    crate::workspace::plain_name("skill", &package.name)?;
    let skills = root.join("skills");
    let target = skills.join(&package.name);
    if target.exists() && !force {
        let held = crate::workspace::skill_in_folder(
            &std::fs::read_to_string(target.join("SKILL.md")).unwrap_or_default(),
            &package.name,
        )
        .0
        .and_then(|s| s.version)
        .unwrap_or_else(|| "?".into());
        bail!(
            "skill `{}` is in {} already (version {held}); --force replaces it: nothing installed",
            package.name,
            target.display()
        );
    }
    let pid = std::process::id();
    let staging = skills.join(format!(".{}.installing-{pid}", package.name));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let mark = serde_json::json!({
        "name": package.name, "version": installed.entry.version, "sha256": installed.entry.sha256,
        "publisher": installed.publisher,
    });
    let written = package.write_to(&staging).and_then(|()| {
        std::fs::write(staging.join(INSTALLED_MARK), serde_json::to_vec_pretty(&mark)?)
            .with_context(|| format!("cannot write {INSTALLED_MARK}"))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let old = skills.join(format!(".{}.replaced-{pid}", package.name));
    if target.exists() {
        std::fs::rename(&target, &old).with_context(|| format!("cannot move {} aside", target.display()))?;
    }
    if let Err(e) = std::fs::rename(&staging, &target) {
        if old.exists() {
            let _ = std::fs::rename(&old, &target);
        }
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot write {}", target.display()));
    }
    let _ = std::fs::remove_dir_all(&old);
    Ok(target)
}

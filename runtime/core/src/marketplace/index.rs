//! Indexes of packages: a folder, or `monstrum serve`'s `/api/marketplace`.
//!
//! A folder index is `DIR/skill/NAME/VERSION.tgz` and `DIR/plugin/NAME/VERSION.mst`; the
//! server keeps its index as such a folder in `.monstrum/marketplace/`. A version, once in an
//! index, never changes: publishing it again with other bytes is refused, with the same bytes
//! it is a no-op.

use super::{Kind, Package, signature::Signature};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A package in an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// The package file's size in bytes.
    pub size: u64,
    /// Who signed it (not yet checked against anyone's trust), if it is signed.
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// What publishing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// The version is new in the index.
    Created,
    /// The index holds this version with these very bytes already.
    Unchanged,
}

/// Where packages are.
#[derive(Clone, Debug)]
pub enum Index {
    /// A folder.
    Folder(PathBuf),
    /// A server's `/api/marketplace`, with an API token.
    Remote { url: String, token: Option<String> },
}

impl Index {
    /// `http(s)://…` is a server, anything else a folder.
    pub fn parse(text: &str, token: Option<String>) -> Index {
        if text.starts_with("http://") || text.starts_with("https://") {
            Index::Remote { url: text.trim_end_matches('/').to_string(), token }
        } else {
            Index::Folder(PathBuf::from(text))
        }
    }

    /// Where it is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Index::Folder(dir) => dir.display().to_string(),
            Index::Remote { url, .. } => url.clone(),
        }
    }

    /// Every package of `kind` (all kinds if `None`).
    pub async fn list(&self, kind: Option<Kind>) -> anyhow::Result<Vec<IndexEntry>> {
        let mut entries = match self {
            Index::Folder(dir) => {
                // Reading every package file (and hashing it) is blocking work.
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || folder_list(&dir)).await.context("listing the index")??
            }
            Index::Remote { url, token } => {
                let response = request(reqwest::Method::GET, &format!("{url}/api/marketplace"), token).send().await;
                let body = answer(response, &format!("{url}/api/marketplace")).await?;
                serde_json::from_slice(&body)
                    .with_context(|| format!("{url}/api/marketplace did not answer with an index"))?
            }
        };
        entries.retain(|e: &IndexEntry| kind.is_none_or(|k| e.kind == k));
        Ok(entries)
    }

    /// The package file of `kind` `name` `version`.
    pub async fn fetch(&self, kind: Kind, name: &str, version: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Index::Folder(dir) => {
                let file = package_file(dir, kind, name, version)?;
                tokio::fs::read(&file).await.with_context(|| format!("cannot read {}", file.display()))
            }
            Index::Remote { url, token } => {
                let address = format!("{url}/api/marketplace/{}/{name}/{version}", kind.as_str());
                let response = request(reqwest::Method::GET, &address, token).send().await;
                answer(response, &address).await
            }
        }
    }

    /// Puts a package into the index under `entry` (its kind, name and version; a folder keeps
    /// the whole entry beside the file for listings). Refused when the index holds this version
    /// with other bytes.
    pub async fn publish(&self, entry: &IndexEntry, bytes: &[u8]) -> anyhow::Result<Published> {
        let (kind, name, version) = (entry.kind, &entry.name, &entry.version);
        match self {
            Index::Folder(dir) => {
                let (dir, entry, bytes) = (dir.clone(), entry.clone(), bytes.to_vec());
                tokio::task::spawn_blocking(move || folder_publish(&dir, &entry, &bytes))
                    .await
                    .context("publishing to the index")?
            }
            Index::Remote { url, token } => {
                let address = format!("{url}/api/marketplace/{}/{name}/{version}", kind.as_str());
                let response = request(reqwest::Method::PUT, &address, token)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.to_vec())
                    .send()
                    .await;
                let status = response.as_ref().map(|r| r.status()).ok();
                answer(response, &address).await?;
                Ok(if status == Some(reqwest::StatusCode::CREATED) { Published::Created } else { Published::Unchanged })
            }
        }
    }
}

fn request(method: reqwest::Method, address: &str, token: &Option<String>) -> reqwest::RequestBuilder {
    // One client for the listing and the download: building one (its TLS roots) is not free.
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build().unwrap_or_default()
    });
    let builder = client.request(method, address);
    match token {
        Some(t) => builder.bearer_auth(t),
        None => builder,
    }
}

/// The body of a successful answer, or what the server said went wrong.
async fn answer(response: reqwest::Result<reqwest::Response>, address: &str) -> anyhow::Result<Vec<u8>> {
    let response = response.with_context(|| format!("cannot reach {address}"))?;
    let status = response.status();
    let body = response.bytes().await.with_context(|| format!("{address}: the answer broke off"))?;
    if !status.is_success() {
        let said = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned());
        let hint = match status.as_u16() {
            401 => " (pass --token, or set MONSTRUM_TOKEN)",
            403 => " (publishing needs an admin token)",
            _ => "",
        };
        bail!("{address}: {status}: {said}{hint}");
    }
    Ok(body.to_vec())
}

/// `DIR/KIND/NAME/VERSION.EXT`, for a plain name and a semver version.
pub fn package_file(dir: &Path, kind: Kind, name: &str, version: &str) -> anyhow::Result<PathBuf> {
    crate::workspace::plain_name(kind.as_str(), name)?;
    let version = super::parse_version(version)?;
    Ok(dir.join(kind.as_str()).join(name).join(format!("{version}.{}", kind.extension())))
}

fn folder_list(dir: &Path) -> anyhow::Result<Vec<IndexEntry>> {
    if !dir.is_dir() {
        bail!("the index {} is not a folder", dir.display());
    }
    let mut entries = Vec::new();
    for kind in [Kind::Skill, Kind::Plugin] {
        let names = std::fs::read_dir(dir.join(kind.as_str())).into_iter().flatten().flatten();
        for name_dir in names {
            let Some(name) = name_dir.file_name().to_str().map(str::to_string) else { continue };
            for file in std::fs::read_dir(name_dir.path()).into_iter().flatten().flatten() {
                let path = file.path();
                let Some(version) = path
                    .file_name()
                    .and_then(|f| f.to_str())
                    .and_then(|f| f.strip_suffix(&format!(".{}", kind.extension())))
                    .filter(|v| semver::Version::parse(v).is_ok())
                    .map(str::to_string)
                else {
                    continue;
                };
                let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                entries.push(listed_entry(&path, kind, &name, &version, &bytes));
            }
        }
    }
    entries.sort_by_cached_key(|e| (e.kind, e.name.clone(), semver::Version::parse(&e.version).ok()));
    Ok(entries)
}

/// The entry `publish` kept beside a package file (`VERSION.tgz.json`), if it is this file's;
/// else the entry read from the package (a file put in the folder by other means).
fn listed_entry(file: &Path, kind: Kind, name: &str, version: &str, bytes: &[u8]) -> IndexEntry {
    let sha = hex::encode(Sha256::digest(bytes));
    let kept = std::fs::read(sidecar(file))
        .ok()
        .and_then(|b| serde_json::from_slice::<IndexEntry>(&b).ok())
        .filter(|e| e.sha256 == sha && e.kind == kind && e.name == name && e.version == version);
    kept.unwrap_or_else(|| {
        let package = Package::from_bytes(kind, bytes).ok();
        IndexEntry::with_hash(kind, name, version, package.as_ref(), sha, bytes.len())
    })
}

/// Where the entry of a package file is kept: `1.0.0.tgz` → `1.0.0.tgz.json`.
fn sidecar(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

impl IndexEntry {
    /// The entry of `package` (whose identity `signed` the caller has read already), whose file
    /// is `bytes`.
    pub fn of(package: &Package, signed: &super::Signed, bytes: &[u8]) -> IndexEntry {
        let sha = hex::encode(Sha256::digest(bytes));
        IndexEntry::with_hash(signed.kind, &signed.name, &signed.version.to_string(), Some(package), sha, bytes.len())
    }

    /// The entry of a package file; publisher and description when the package reads.
    fn with_hash(
        kind: Kind,
        name: &str,
        version: &str,
        package: Option<&Package>,
        sha256: String,
        size: usize,
    ) -> IndexEntry {
        // The signature's text alone: `signed()` would hash every entry again.
        let publisher = package
            .and_then(|p| match p {
                Package::Skill(s) => s.signature.as_deref(),
                Package::Plugin(p) => p.signature.as_deref(),
            })
            .and_then(|text| serde_yaml::from_str::<Signature>(text).ok())
            .map(|s| s.publisher);
        let description = package.map(|p| match p {
            Package::Skill(s) => s.description.clone(),
            Package::Plugin(p) => p.manifest.description.clone().unwrap_or_default(),
        });
        IndexEntry {
            kind,
            name: name.to_string(),
            version: version.to_string(),
            sha256,
            size: size as u64,
            publisher,
            description,
        }
    }
}

fn folder_publish(dir: &Path, entry: &IndexEntry, bytes: &[u8]) -> anyhow::Result<Published> {
    let (kind, name, version) = (entry.kind, &entry.name, &entry.version);
    let file = package_file(dir, kind, name, version)?;
    let parent = file.parent().expect("a package file has a folder");
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let temp = parent.join(format!(".{version}.{}.publishing", uuid::Uuid::new_v4().simple()));
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    // A hard link never replaces: of two publishers racing for one version, one wins.
    let linked = std::fs::hard_link(&temp, &file);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            // The listing reads this rather than every package (a plugin's component is
            // validated when read); it is checked against the file's hash when read.
            let _ = std::fs::write(sidecar(&file), serde_json::to_vec(entry).unwrap_or_default());
            Ok(Published::Created)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let held = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            if held == bytes {
                Ok(Published::Unchanged)
            } else {
                bail!(
                    "{} {name}@{version} is in the index already, with other content: a published version never \
                     changes (publish a new version)",
                    kind.as_str()
                )
            }
        }
        Err(e) => Err(e).with_context(|| format!("cannot write {}", file.display())),
    }
}

/// The newest version in `entries` of `kind` `name` that `wanted` matches: a version
/// (`1.2.0`, exactly that), a requirement (`1`, `^1.2`, `>=1.0, <2`), or none (the newest
/// release).
pub fn resolve<'a>(
    entries: &'a [IndexEntry],
    kind: Kind,
    name: &str,
    wanted: Option<&str>,
) -> anyhow::Result<&'a IndexEntry> {
    let req = match wanted.map(str::trim) {
        None | Some("") | Some("latest") => semver::VersionReq::STAR,
        Some(text) => match semver::Version::parse(text) {
            Ok(v) => semver::VersionReq::parse(&format!("={v}")).expect("an exact requirement parses"),
            Err(_) => semver::VersionReq::parse(text)
                .map_err(|e| anyhow::anyhow!("`{text}` is neither a version nor a version requirement: {e}"))?,
        },
    };
    let of_name: Vec<&IndexEntry> = entries.iter().filter(|e| e.kind == kind && e.name == name).collect();
    if of_name.is_empty() {
        bail!("the index has no {} `{name}`", kind.as_str());
    }
    of_name
        .iter()
        .filter_map(|e| semver::Version::parse(&e.version).ok().filter(|v| req.matches(v)).map(|v| (v, *e)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, e)| e)
        .with_context(|| {
            let held: Vec<&str> = of_name.iter().map(|e| e.version.as_str()).collect();
            format!("no version of {} `{name}` matches `{req}` (the index has {})", kind.as_str(), held.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str) -> IndexEntry {
        IndexEntry {
            kind: Kind::Skill,
            name: "tidy".into(),
            version: version.into(),
            sha256: String::new(),
            size: 0,
            publisher: None,
            description: None,
        }
    }

    #[test]
    fn the_newest_matching_version_wins() {
        let entries: Vec<IndexEntry> = ["1.0.0", "1.10.0", "1.2.0", "2.0.0", "3.0.0-rc.1"].map(entry).into();
        let pick = |w: Option<&str>| resolve(&entries, Kind::Skill, "tidy", w).map(|e| e.version.clone());
        assert_eq!(pick(None).unwrap(), "2.0.0", "a pre-release is not the newest release");
        assert_eq!(pick(Some("1")).unwrap(), "1.10.0", "semver order, not text order");
        assert_eq!(pick(Some("1.2.0")).unwrap(), "1.2.0", "a full version is exact");
        assert_eq!(pick(Some("~1.2")).unwrap(), "1.2.0");
        assert!(pick(Some("4")).unwrap_err().to_string().contains("the index has 1.0.0"));
        assert!(resolve(&entries, Kind::Plugin, "tidy", None).is_err());
        assert!(pick(Some("one")).is_err());
    }

    #[test]
    fn a_published_version_never_changes() {
        let dir = tempfile::tempdir().unwrap();
        let publish = |name: &str, version: &str, bytes: &[u8]| {
            let entry = IndexEntry::with_hash(
                Kind::Skill,
                name,
                version,
                None,
                hex::encode(Sha256::digest(bytes)),
                bytes.len(),
            );
            folder_publish(dir.path(), &entry, bytes)
        };
        assert_eq!(publish("tidy", "1.0.0", b"a").unwrap(), Published::Created);
        assert_eq!(publish("tidy", "1.0.0", b"a").unwrap(), Published::Unchanged);
        let err = publish("tidy", "1.0.0", b"b").unwrap_err().to_string();
        assert!(err.contains("never changes"), "{err}");
        assert_eq!(std::fs::read(dir.path().join("skill/tidy/1.0.0.tgz")).unwrap(), b"a");
        assert!(publish("../x", "1.0.0", b"a").is_err());
        assert!(publish("tidy", "../../x", b"a").is_err());
        // The listing takes the entry kept beside the file, since it is this file's.
        let listed = folder_list(dir.path()).unwrap();
        assert_eq!((listed.len(), listed[0].sha256.as_str()), (1, hex::encode(Sha256::digest(b"a")).as_str()));
    }
}

//! Skill packages: a skill's folder as a gzip-compressed tar, with `SHA256SUMS` over every file
//! and, when published with a key, a `SIGNATURE`.
//!
//! Entry names are paths inside the folder (`SKILL.md`, `references/guide.md`), never out of it:
//! no absolute path, no `..`, no empty or hidden component, no link or other non-file entry. A
//! package holds at most [`MAX_FILES`] files of at most [`MAX_FILE_BYTES`] each, and unpacks to
//! at most [`MAX_UNPACKED_BYTES`]. Its `SKILL.md` must load, with a semver `version:`. Packing
//! leaves out hidden files and folders (`.git`); a link in the folder is refused.

use crate::plugin::package::{
    CHECKSUMS, PackageError, SIGNATURE, UnpackRules, archive, checksums, is_plain_name, parse_checksums, unpack,
};
use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// The skill's own file.
pub const SKILL_FILE: &str = "SKILL.md";
/// The most files a skill package holds.
pub const MAX_FILES: usize = 256;
/// The largest file of a skill package.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most a skill package unpacks to.
pub const MAX_UNPACKED_BYTES: u64 = 8 << 20;

const RULES: UnpackRules = UnpackRules {
    max_entries: MAX_FILES + 2,
    max_unpacked: MAX_UNPACKED_BYTES,
    name_ok: is_skill_path,
    entry_limit: |_| MAX_FILE_BYTES,
};

/// A skill package, in memory, its files checked against its checksums and its `SKILL.md`
/// loaded; its signature is not yet checked against a trust list.
#[derive(Clone, Debug)]
pub struct SkillPackage {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    /// Every file by its path in the folder.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The `SIGNATURE` entry's text, if any.
    pub signature: Option<String>,
}

/// A path inside a skill's folder: `/`-separated plain names, none hidden.
pub fn is_skill_path(path: &str) -> bool {
    path.len() <= 200 && path.split('/').all(|part| is_plain_name(part) && !part.starts_with('.'))
}

impl SkillPackage {
    /// The skill in folder `dir` (whose name is the skill's), packed.
    pub fn from_dir(dir: &Path) -> anyhow::Result<SkillPackage> {
        let mut files = BTreeMap::new();
        collect(dir, "", &mut files)?;
        for reserved in [CHECKSUMS, SIGNATURE] {
            if files.contains_key(reserved) {
                bail!("{}: a skill folder may not hold a file named {reserved} (a package's own entry)", dir.display());
            }
        }
        let folder = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .with_context(|| format!("{} is not a folder", dir.display()))?;
        let package = SkillPackage::of_files(files, None, Some(&folder))?;
        Ok(package)
    }

    /// Checks `files` as a skill's folder.
    fn of_files(
        files: BTreeMap<String, Vec<u8>>,
        signature: Option<String>,
        folder: Option<&str>,
    ) -> anyhow::Result<SkillPackage> {
        let text = files.get(SKILL_FILE).with_context(|| format!("the skill has no {SKILL_FILE}"))?;
        let text = std::str::from_utf8(text).with_context(|| format!("{SKILL_FILE} is not UTF-8 text"))?;
        let loaded = monstrum_model::load_skill_in(text, folder);
        let errors: Vec<String> =
            loaded.diagnostics.iter().filter(|d| !d.is_warning()).map(|d| format!("  {SKILL_FILE}:{d}")).collect();
        let Some(skill) = loaded.value.filter(|_| errors.is_empty()) else {
            bail!("{SKILL_FILE} does not load:\n{}", errors.join("\n"));
        };
        let version = skill
            .version
            .as_deref()
            .with_context(|| format!("{SKILL_FILE} has no `version:`; a published skill needs one (1.0.0)"))?;
        let version = super::parse_version(version).with_context(|| format!("{SKILL_FILE}: `version:`"))?;
        Ok(SkillPackage { name: skill.name, version, description: skill.description, files, signature })
    }

    /// Reads and checks a package: entries, sizes, checksums, then the skill.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<SkillPackage> {
        let mut entries = unpack(bytes, &RULES)?;
        let sums_bytes = entries.remove(CHECKSUMS).ok_or_else(|| PackageError::Missing(CHECKSUMS.into()))?;
        let sums_text = String::from_utf8(sums_bytes).map_err(|_| PackageError::NotText(CHECKSUMS.into()))?;
        let signature = entries
            .remove(SIGNATURE)
            .map(|b| String::from_utf8(b).map_err(|_| PackageError::NotText(SIGNATURE.into())))
            .transpose()?;
        let sums = parse_checksums(&sums_text, is_skill_path)?;
        for name in entries.keys() {
            if !sums.contains_key(name) {
                return Err(PackageError::BadChecksums(format!("no checksum for `{name}`")).into());
            }
        }
        for (name, expected) in &sums {
            let bytes = entries.get(name).ok_or_else(|| PackageError::Missing(name.clone()))?;
            let actual = hex::encode(Sha256::digest(bytes));
            if &actual != expected {
                return Err(
                    PackageError::ChecksumMismatch { name: name.clone(), expected: expected.clone(), actual }.into()
                );
            }
        }
        let package = SkillPackage::of_files(entries, signature, None)?;
        if package.checksums() != sums_text {
            bail!("{CHECKSUMS} is not in the packed form (one line per file, in order): repack it");
        }
        Ok(package)
    }

    /// `SHA256SUMS` of the files, in path order: what a publisher signs.
    pub fn checksums(&self) -> String {
        checksums(self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice())))
    }

    /// The package file (the same files always give the same bytes).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let sums = self.checksums();
        let files = self.files.iter().map(|(n, b)| (n.as_str(), b.as_slice()));
        let signature = self.signature.as_deref().map(|s| (SIGNATURE, s.as_bytes()));
        Ok(archive(files.chain([(CHECKSUMS, sums.as_bytes())]).chain(signature))?)
    }

    /// Writes the files into `dir` (made, with the folders the paths need).
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<()> {
        for (path, bytes) in &self.files {
            let file = dir.join(path);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&file, bytes).with_context(|| format!("cannot write {}", file.display()))?;
        }
        Ok(())
    }
}

/// The files under `dir` by their path from the skill's folder; hidden entries are left out.
fn collect(dir: &Path, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry
            .file_name()
            .to_str()
            .map(str::to_string)
            .with_context(|| format!("{}: a file name that is not UTF-8", entry.path().display()))?;
        if name.starts_with('.') {
            continue;
        }
        let path = format!("{prefix}{name}");
        if !is_skill_path(&path) {
            bail!("{}: `{path}` cannot be a path in a package", entry.path().display());
        }
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            bail!("{} is a link: a skill package holds files only", entry.path().display());
        } else if kind.is_dir() {
            collect(&entry.path(), &format!("{path}/"), files)?;
        } else if kind.is_file() {
            let size = entry.metadata()?.len();
            if size > MAX_FILE_BYTES {
                bail!("{} is {size} bytes, more than {MAX_FILE_BYTES}", entry.path().display());
            }
            files.insert(path, std::fs::read(entry.path())?);
            if files.len() > MAX_FILES {
                bail!("{} holds more than {MAX_FILES} files", dir.display());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKILL: &str = "---\nname: tidy\ndescription: Keeps things tidy.\nversion: 1.2.0\n---\nBe tidy.\n";

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let skill = dir.path().join("tidy");
        std::fs::create_dir_all(skill.join("references")).unwrap();
        std::fs::write(skill.join(SKILL_FILE), SKILL).unwrap();
        std::fs::write(skill.join("references/guide.md"), "# Guide\n").unwrap();
        std::fs::create_dir_all(skill.join(".git")).unwrap();
        std::fs::write(skill.join(".git/HEAD"), "ref").unwrap();
        dir
    }

    #[test]
    fn a_folder_round_trips_without_its_hidden_files() {
        let dir = folder();
        let p = SkillPackage::from_dir(&dir.path().join("tidy")).unwrap();
        assert_eq!(p.name, "tidy");
        assert_eq!(p.version, semver::Version::new(1, 2, 0));
        assert_eq!(p.files.keys().collect::<Vec<_>>(), ["SKILL.md", "references/guide.md"]);
        let bytes = p.to_bytes().unwrap();
        assert_eq!(bytes, p.to_bytes().unwrap());
        let back = SkillPackage::from_bytes(&bytes).unwrap();
        assert_eq!(back.files, p.files);
    }

    #[test]
    fn hostile_paths_changed_files_and_links_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/../../x", ".hidden", "a//b", "a/./b", ""] {
            assert!(!is_skill_path(bad), "{bad}");
        }
        let dir = folder();
        let p = SkillPackage::from_dir(&dir.path().join("tidy")).unwrap();
        let mut changed = p.clone();
        changed.files.insert("references/guide.md".into(), b"# Changed\n".to_vec());
        let sums = p.checksums();
        let files = changed.files.iter().map(|(n, b)| (n.as_str(), b.as_slice()));
        let bytes = archive(files.chain([(CHECKSUMS, sums.as_bytes())])).unwrap();
        let err = SkillPackage::from_bytes(&bytes).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch for `references/guide.md`"), "{err}");
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("tidy/references/passwd")).unwrap();
        let err = SkillPackage::from_dir(&dir.path().join("tidy")).unwrap_err().to_string();
        assert!(err.contains("is a link"), "{err}");
    }
}

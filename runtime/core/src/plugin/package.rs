//! Plugin packages (`.mst`): what `monstrum plugin pack` writes and `plugin install` verifies
//! (DESIGN.md, "Plugins and the host").
//!
//! A package is a gzip-compressed tar archive of exactly four regular files, side by side:
//!
//! | entry | what |
//! |---|---|
//! | `manifest.yaml` | the plugin's manifest |
//! | the manifest's `component:` (`github.wasm`) | the WebAssembly component (wasm32-wasip2) |
//! | `README.md` | what the plugin does, for people |
//! | `SHA256SUMS` | `<sha256 hex>  <entry>` for each of the three others (`sha256sum -c` reads it) |
//! | `SIGNATURE` | optional: the publisher's Ed25519 signature of `SHA256SUMS` (`plugin publish`) |
//!
//! [`Package::from_bytes`] trusts nothing: it refuses entry names that are not one plain file
//! name (`../x`, `/etc/x`, `a/b`), links and other non-file entries, duplicates, unknown and
//! missing entries, entries larger than their limit, archives that unpack to more than
//! [`MAX_UNPACKED_BYTES`], a checksum that does not match, a manifest that does not load, a
//! `component:` that names no entry, and a component that is not a valid WebAssembly component
//! exporting `call-tool`. The checksums catch a package changed after it was packed (a
//! truncated download, an edit); the signature, checked against the workspace's `trust:` by
//! [`crate::marketplace`] when installing from an index, says who packed it.

use monstrum_model::{Manifest, load_manifest};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// The file extension of a package.
pub const EXTENSION: &str = "mst";
/// The manifest's entry.
pub const MANIFEST: &str = "manifest.yaml";
/// The README's entry.
pub const README: &str = "README.md";
/// The checksums' entry.
pub const CHECKSUMS: &str = "SHA256SUMS";
/// The signature's entry (see [`crate::marketplace::Signature`]).
pub const SIGNATURE: &str = "SIGNATURE";
/// The largest component, in bytes.
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;
/// The largest manifest or README, in bytes.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;
/// The largest package file (compressed), in bytes.
pub const MAX_PACKAGE_BYTES: u64 = MAX_COMPONENT_BYTES + 4 * MAX_TEXT_BYTES;
/// The most a package may unpack to (entries and tar headers), in bytes.
pub const MAX_UNPACKED_BYTES: u64 = MAX_COMPONENT_BYTES + 4 * MAX_TEXT_BYTES;

/// Why a package was refused. Each message says what is wrong and with which entry.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("the package is not a gzip-compressed tar archive, or is damaged: {0}")]
    Corrupt(String),
    #[error("the package is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("entry `{0}` is not a plain file name (a path or traversal such as `../x`); refused")]
    UnsafeName(String),
    #[error("entry `{name}` is a {kind}, not a regular file; refused")]
    NotAFile { name: String, kind: String },
    #[error("entry `{0}` appears twice")]
    Duplicate(String),
    #[error("unknown entry `{0}`: a package holds only {MANIFEST}, the component, {README} and {CHECKSUMS}")]
    Unknown(String),
    #[error("the package has no `{0}`")]
    Missing(String),
    #[error("entry `{name}` is larger than {limit} bytes")]
    EntryTooLarge { name: String, limit: u64 },
    #[error("entry `{0}` is not UTF-8 text")]
    NotText(String),
    #[error("{CHECKSUMS}: {0}")]
    BadChecksums(String),
    #[error("checksum mismatch for `{name}`: {CHECKSUMS} says {expected}, the entry hashes to {actual}")]
    ChecksumMismatch { name: String, expected: String, actual: String },
    #[error("{MANIFEST} does not load:\n{0}")]
    BadManifest(String),
    #[error("the manifest's `component: {0}` must be a plain file name ending in .wasm")]
    BadComponentName(String),
    #[error("the manifest names the component `{named}`, but the package holds `{held}`")]
    ComponentMismatch { named: String, held: String },
    #[error("`{name}` is not a valid WebAssembly component: {reason}")]
    BadComponent { name: String, reason: String },
}

/// A verified plugin package, in memory.
#[derive(Clone, Debug)]
pub struct Package {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The manifest as packed.
    pub manifest_text: String,
    /// The README.
    pub readme: String,
    /// The component (its entry name is `manifest.component`).
    pub component: Arc<[u8]>,
    /// The publisher's signature of [`Package::checksums`], as packed (not yet checked).
    pub signature: Option<String>,
}

impl Package {
    /// A package of these parts, verified as [`Package::from_bytes`] would verify them.
    pub fn new(manifest_text: String, readme: String, component: Vec<u8>) -> Result<Package, PackageError> {
        let manifest = parse_manifest(&manifest_text)?;
        check_component_name(&manifest.component)?;
        for (name, len, limit) in [
            (MANIFEST, manifest_text.len(), MAX_TEXT_BYTES),
            (README, readme.len(), MAX_TEXT_BYTES),
            (manifest.component.as_str(), component.len(), MAX_COMPONENT_BYTES),
        ] {
            if len as u64 > limit {
                return Err(PackageError::EntryTooLarge { name: name.to_string(), limit });
            }
        }
        validate_component(&manifest.component, &component)?;
        Ok(Package { manifest, manifest_text, readme, component: component.into(), signature: None })
    }

    /// Reads and verifies the package in `file`.
    pub fn read(file: &Path) -> anyhow::Result<Package> {
        use anyhow::Context as _;
        let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
        if size > MAX_PACKAGE_BYTES {
            anyhow::bail!("{}: {}", file.display(), PackageError::TooLarge { limit: MAX_PACKAGE_BYTES });
        }
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        Package::from_bytes(&bytes).with_context(|| format!("{} is not a valid plugin package", file.display()))
    }

    /// Unpacks and verifies a package (see the module's documentation for what is refused).
    pub fn from_bytes(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() as u64 > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge { limit: MAX_PACKAGE_BYTES });
        }
        let entries = unpack(bytes, &UnpackRules::PLUGIN)?;
        let text = |name: &str| -> Result<String, PackageError> {
            let bytes = entries.get(name).ok_or_else(|| PackageError::Missing(name.to_string()))?;
            String::from_utf8(bytes.clone()).map_err(|_| PackageError::NotText(name.to_string()))
        };
        // Every entry is hashed before anything in it is interpreted.
        let sums = parse_checksums(&text(CHECKSUMS)?, is_plain_name)?;
        for name in entries.keys().filter(|n| *n != CHECKSUMS && *n != SIGNATURE) {
            if !sums.contains_key(name) {
                return Err(if [MANIFEST, README].contains(&name.as_str()) || name.ends_with(".wasm") {
                    PackageError::BadChecksums(format!("no checksum for `{name}`"))
                } else {
                    PackageError::Unknown(name.clone())
                });
            }
        }
        for (name, expected) in &sums {
            let bytes = entries.get(name).ok_or_else(|| PackageError::Missing(name.clone()))?;
            let actual = hex::encode(Sha256::digest(bytes));
            if &actual != expected {
                return Err(PackageError::ChecksumMismatch { name: name.clone(), expected: expected.clone(), actual });
            }
        }
        let manifest_text = text(MANIFEST)?;
        let readme = text(README)?;
        let manifest = parse_manifest(&manifest_text)?;
        check_component_name(&manifest.component)?;
        let known = [MANIFEST, README, CHECKSUMS, SIGNATURE, manifest.component.as_str()];
        if let Some(extra) = entries.keys().find(|n| !known.contains(&n.as_str())) {
            return Err(if extra.ends_with(".wasm") && !entries.contains_key(&manifest.component) {
                PackageError::ComponentMismatch { named: manifest.component.clone(), held: extra.clone() }
            } else {
                PackageError::Unknown(extra.clone())
            });
        }
        let component =
            entries.get(&manifest.component).ok_or_else(|| PackageError::Missing(manifest.component.clone()))?;
        validate_component(&manifest.component, component)?;
        let signature = entries.get(SIGNATURE).map(|_| text(SIGNATURE)).transpose()?;
        Ok(Package { component: component.as_slice().into(), manifest, manifest_text, readme, signature })
    }

    fn parts(&self) -> [(&str, &[u8]); 3] {
        [
            (MANIFEST, self.manifest_text.as_bytes()),
            (self.manifest.component.as_str(), &self.component),
            (README, self.readme.as_bytes()),
        ]
    }

    /// `SHA256SUMS` as packed: what a publisher signs.
    pub fn checksums(&self) -> String {
        checksums(self.parts().iter().map(|(name, bytes)| (*name, *bytes)))
    }

    /// The package file: a gzip-compressed tar of the entries, in a fixed order with fixed
    /// metadata, so the same parts always give the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, PackageError> {
        let sums = self.checksums();
        let signature = self.signature.as_deref().map(|s| (SIGNATURE, s.as_bytes()));
        let parts = self.parts().into_iter().chain([(CHECKSUMS, sums.as_bytes())]).chain(signature);
        archive(parts).map_err(|e| PackageError::Corrupt(e.to_string()))
    }

    /// The sha256 of the component, hex.
    pub fn component_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.component))
    }
}

/// A README for a plugin folder that has none: the manifest's name, description and tools.
pub fn default_readme(manifest: &Manifest) -> String {
    let mut text = format!("# {} {}\n\n", manifest.name, manifest.version);
    if let Some(d) = &manifest.description {
        text.push_str(&format!("{d}\n\n"));
    }
    text.push_str("## Tools\n\n");
    for tool in &manifest.tools {
        text.push_str(&format!("- `{}`: {}\n", tool.name, tool.description));
    }
    text
}

/// `SHA256SUMS` of these entries, in their order: `<sha256 hex>  <name>` lines.
pub(crate) fn checksums<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    entries.map(|(name, bytes)| format!("{}  {name}\n", hex::encode(Sha256::digest(bytes)))).collect()
}

/// A gzip-compressed tar of `entries`, in their order, with fixed metadata (same entries, same
/// bytes).
pub(crate) fn archive<'a>(entries: impl Iterator<Item = (&'a str, &'a [u8])>) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes)?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// Counts what the gzip stream yields and fails past its limit (a gzip bomb).
struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| std::io::Error::other(format!("the package unpacks to more than {} bytes", self.limit)))?;
        Ok(n)
    }
}

/// What an archive may hold: how many entries, how much in all, which names, and how large
/// each entry may be.
pub(crate) struct UnpackRules {
    pub max_entries: usize,
    pub max_unpacked: u64,
    pub name_ok: fn(&str) -> bool,
    pub entry_limit: fn(&str) -> u64,
}

impl UnpackRules {
    const PLUGIN: UnpackRules = UnpackRules {
        max_entries: 5,
        max_unpacked: MAX_UNPACKED_BYTES,
        name_ok: is_plain_name,
        entry_limit: |name| if name.ends_with(".wasm") { MAX_COMPONENT_BYTES } else { MAX_TEXT_BYTES },
    };
}

/// The entries of the archive by name, each checked for its name, kind and size.
pub(crate) fn unpack(bytes: &[u8], rules: &UnpackRules) -> Result<BTreeMap<String, Vec<u8>>, PackageError> {
    let corrupt = |e: std::io::Error| PackageError::Corrupt(e.to_string());
    let gz = flate2::read::GzDecoder::new(bytes);
    let mut archive = tar::Archive::new(Bounded { inner: gz, left: rules.max_unpacked, limit: rules.max_unpacked });
    let mut entries = BTreeMap::new();
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).into_owned();
        if !(rules.name_ok)(&name) {
            return Err(PackageError::UnsafeName(name));
        }
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(PackageError::NotAFile { name, kind: format!("{kind:?}").to_lowercase() });
        }
        if entries.contains_key(&name) {
            return Err(PackageError::Duplicate(name));
        }
        if entries.len() >= rules.max_entries {
            return Err(PackageError::Unknown(name));
        }
        let limit = (rules.entry_limit)(&name);
        let declared = entry.header().size().map_err(corrupt)?;
        if declared > limit {
            return Err(PackageError::EntryTooLarge { name, limit });
        }
        let mut data = Vec::with_capacity(declared as usize);
        entry.take(limit + 1).read_to_end(&mut data).map_err(corrupt)?;
        if data.len() as u64 > limit {
            return Err(PackageError::EntryTooLarge { name, limit });
        }
        entries.insert(name, data);
    }
    Ok(entries)
}

/// One file name: not empty, no separator, not `.` or `..`, no control characters.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', ':'])
        && !name.chars().any(char::is_control)
        && name.len() <= 100
}

fn check_component_name(name: &str) -> Result<(), PackageError> {
    if is_plain_name(name) && name.ends_with(".wasm") && ![MANIFEST, README, CHECKSUMS].contains(&name) {
        Ok(())
    } else {
        Err(PackageError::BadComponentName(name.to_string()))
    }
}

/// `<64 hex digits>  <name>` lines (`sha256sum`'s format; `*` before the name is accepted).
pub(crate) fn parse_checksums(text: &str, name_ok: fn(&str) -> bool) -> Result<BTreeMap<String, String>, PackageError> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || PackageError::BadChecksums(format!("line {} is not `<sha256>  <entry>`", i + 1));
        let (digest, name) = line.split_once(' ').ok_or_else(bad)?;
        let name = name.trim_start_matches(' ').trim_start_matches('*');
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return Err(bad());
        }
        if !name_ok(name) {
            return Err(PackageError::UnsafeName(name.to_string()));
        }
        if name == CHECKSUMS || name == SIGNATURE {
            return Err(PackageError::BadChecksums(format!("line {} lists {name}, which is not checksummed", i + 1)));
        }
        if sums.insert(name.to_string(), digest.to_ascii_lowercase()).is_some() {
            return Err(PackageError::BadChecksums(format!("`{name}` is listed twice")));
        }
    }
    Ok(sums)
}

fn parse_manifest(text: &str) -> Result<Manifest, PackageError> {
    load_manifest(text).ok().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|d| format!("  {MANIFEST}:{d}")).collect();
        PackageError::BadManifest(lines.join("\n"))
    })
}

/// Validates `bytes` as a WebAssembly component whose top level exports `call-tool`.
pub fn validate_component(name: &str, bytes: &[u8]) -> Result<(), PackageError> {
    let bad = |reason: String| PackageError::BadComponent { name: name.to_string(), reason };
    if !wasmparser::Parser::is_component(bytes) {
        let reason = if wasmparser::Parser::is_core_wasm(bytes) {
            "it is a core module, not a component (build for wasm32-wasip2)".to_string()
        } else {
            "it does not start with a WebAssembly component header".to_string()
        };
        return Err(bad(reason));
    }
    wasmparser::Validator::new().validate_all(bytes).map_err(|e| bad(e.to_string()))?;
    let mut depth = 0usize;
    let mut exports_call_tool = false;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| bad(e.to_string()))? {
            wasmparser::Payload::ModuleSection { .. } | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentExportSection(exports) if depth == 0 => {
                for export in exports {
                    exports_call_tool |= export.map_err(|e| bad(e.to_string()))?.name.name == "call-tool";
                }
            }
            wasmparser::Payload::ComponentImportSection(imports) if depth == 0 => {
                for import in imports {
                    interface_version(import.map_err(|e| bad(e.to_string()))?.name.name).map_err(bad)?;
                }
            }
            _ => {}
        }
    }
    if !exports_call_tool {
        return Err(bad("it exports no `call-tool` (it is not of the world monstrum:plugin/integration)".into()));
    }
    Ok(())
}

/// The versions of the WIT package `monstrum:plugin` this host runs components of, oldest first:
/// each is a folder `since_vX.Y.Z` of the SDK's `wit/`, kept as it was released.
pub const INTERFACE_VERSIONS: &[&str] = &["0.1.0"];

/// Checks that an import of `monstrum:plugin` names a version this host speaks; other imports
/// (`wasi:...`) are the linker's to check.
fn interface_version(import: &str) -> Result<(), String> {
    let Some(rest) = import.strip_prefix("monstrum:plugin/") else { return Ok(()) };
    let version = rest.split_once('@').map(|(_, v)| v);
    match version {
        Some(v) if INTERFACE_VERSIONS.contains(&v) => Ok(()),
        Some(v) => Err(format!(
            "it imports `{import}`: it was built against monstrum:plugin {v}, and this host speaks {} \
             (update monstrum, or build the plugin against a monstrum-plugin-sdk of one of these)",
            INTERFACE_VERSIONS.join(", ")
        )),
        None => Err(format!("it imports `{import}` without a version: build it with monstrum-plugin-sdk")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Package {
        let p = crate::plugin::builtin::find("noop").expect("noop is built in");
        Package::new(p.manifest_text.to_string(), "# noop\n".into(), p.component.to_vec()).expect("valid")
    }

    #[test]
    fn a_package_round_trips_and_is_reproducible() {
        let p = noop();
        let bytes = p.to_bytes().unwrap();
        assert_eq!(bytes, p.to_bytes().unwrap(), "same parts, same bytes");
        let back = Package::from_bytes(&bytes).unwrap();
        assert_eq!(back.manifest, p.manifest);
        assert_eq!(back.readme, "# noop\n");
        assert_eq!(&*back.component, &*p.component);
    }

    #[test]
    fn a_core_module_or_garbage_is_not_a_component() {
        let p = crate::plugin::builtin::find("noop").unwrap();
        let core = b"\0asm\x01\0\0\0".to_vec();
        let err = Package::new(p.manifest_text.into(), String::new(), core).unwrap_err();
        assert!(err.to_string().contains("core module"), "{err}");
        let err = Package::new(p.manifest_text.into(), String::new(), b"hello".to_vec()).unwrap_err();
        assert!(matches!(err, PackageError::BadComponent { .. }), "{err}");
    }

    /// A gzip-compressed tar of `(name, type, data)` entries, headers written as given.
    fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_size(data.len() as u64);
            header.set_entry_type(*kind);
            header.set_cksum();
            tar.append(&header, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn oversized_duplicate_and_non_file_entries_are_refused() {
        let file = tar::EntryType::Regular;
        let big = vec![b'x'; MAX_TEXT_BYTES as usize + 1];
        let err = Package::from_bytes(&archive(&[(README, file, &big)])).unwrap_err();
        assert!(matches!(err, PackageError::EntryTooLarge { ref name, .. } if name == README), "{err}");
        let err = Package::from_bytes(&archive(&[(README, file, b"a"), (README, file, b"b")])).unwrap_err();
        assert!(matches!(err, PackageError::Duplicate(_)), "{err}");
        let err = Package::from_bytes(&archive(&[(MANIFEST, tar::EntryType::Symlink, b"")])).unwrap_err();
        assert!(matches!(err, PackageError::NotAFile { .. }), "{err}");
        let err = Package::from_bytes(&archive(&[
            ("a", file, b""),
            ("b", file, b""),
            ("c", file, b""),
            ("d", file, b""),
            ("e", file, b""),
            ("f", file, b""),
        ]))
        .unwrap_err();
        assert!(matches!(err, PackageError::Unknown(ref n) if n == "f"), "{err}");
        let err = Package::from_bytes(&archive(&[(README, file, b"hi")])).unwrap_err();
        assert!(matches!(err, PackageError::Missing(ref n) if n == CHECKSUMS), "{err}");
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        // A GNU long-name entry is read into memory by the tar reader before any entry is seen:
        // 70 MiB of zeros (70 KB compressed) must stop at MAX_UNPACKED_BYTES, not fill memory.
        let size = MAX_UNPACKED_BYTES + (2 << 20);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_size(size);
        header.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(header.as_bytes()).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..size >> 20 {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
        let err = Package::from_bytes(&bomb).unwrap_err();
        assert!(err.to_string().contains("unpacks to more than"), "{err}");
    }

    #[test]
    fn an_interface_version_the_host_does_not_speak_is_named() {
        assert!(interface_version("monstrum:plugin/http@0.1.0").is_ok());
        assert!(interface_version("wasi:cli/environment@0.2.6").is_ok());
        let err = interface_version("monstrum:plugin/http@9.0.0").unwrap_err();
        assert!(err.contains("built against monstrum:plugin 9.0.0") && err.contains("speaks 0.1.0"), "{err}");
        assert!(interface_version("monstrum:plugin/http").is_err());
    }

    #[test]
    fn names_are_plain_file_names() {
        for bad in ["", ".", "..", "../x", "/etc/passwd", "a/b", "a\\b", "c:x", "x\n"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
        assert!(is_plain_name("github.wasm"));
    }

    #[test]
    fn checksum_lines_are_strict() {
        let ok = format!("{}  a.wasm\n{} *README.md\n", "a".repeat(64), "B".repeat(64));
        let sums = parse_checksums(&ok, is_plain_name).unwrap();
        assert_eq!(sums["README.md"], "b".repeat(64));
        assert!(parse_checksums("abc  a.wasm", is_plain_name).is_err());
        assert!(parse_checksums(&format!("{}  ../a.wasm", "a".repeat(64)), is_plain_name).is_err());
        assert!(parse_checksums(&format!("{0}  a\n{0}  a\n", "a".repeat(64)), is_plain_name).is_err());
        assert!(parse_checksums(&format!("{}  SIGNATURE", "a".repeat(64)), is_plain_name).is_err());
    }
}

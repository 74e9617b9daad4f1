//! The fuzz targets' corpora replayed on stable: every file of `fuzz/corpus/<target>/` goes
//! through the same property check the target runs under libFuzzer (`fuzz/src/lib.rs`, included
//! here as a module), so a crash once found stays a regression test. `fuzz/run.sh` fuzzes.

#[path = "../../../../fuzz/src/lib.rs"]
mod bodies;

use std::io::Write as _;
use std::path::Path;

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] =
    &[("model", bodies::model), ("scope", bodies::scope), ("command", bodies::command), ("package", bodies::package)];

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut failures = Vec::new();
    for (target, body) in TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no files", dir.display());
        for file in &files {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Err(panic) = std::panic::catch_unwind(|| body(&data)) {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {why}", file.display()));
            }
        }
        // Straight to stderr, past the test harness's capture: the counts show on every run.
        let _ = writeln!(std::io::stderr(), "fuzz corpus `{target}`: {} files replayed", files.len());
    }
    assert!(failures.is_empty(), "{} corpus files fail their target:\n{}", failures.len(), failures.join("\n"));
}

/// The package target's seed: the built-in noop plugin packed as `monstrum plugin pack` packs
/// it. Run by hand to re-seed: `cargo test -p monstrum-core --test core write_package_seed --
/// --ignored`.
#[test]
#[ignore = "writes fuzz/corpus/package/noop.mst"]
fn write_package_seed() {
    use monstrum_core::plugin::{Package, builtin, package::default_readme};
    let noop = builtin::find("noop").expect("noop is built in");
    let readme = default_readme(&noop.manifest);
    let package = Package::new(noop.manifest_text.to_string(), readme, noop.component.to_vec()).expect("noop packs");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/package/noop.mst");
    std::fs::write(&file, package.to_bytes().expect("noop packs")).expect("the corpus folder is writable");
}

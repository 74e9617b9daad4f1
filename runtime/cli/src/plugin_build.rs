//! `monstrum plugin build [DIR] [--install WORKSPACE]`: compile a plugin crate for
//! `wasm32-wasip2`, check the manifest and that the component runs on this host, copy it where
//! the manifest says, and pack it (`NAME-VERSION.mst` in DIR).

use crate::plugin::{InstallMode, install_package, read_manifest, write_atomically};
use crate::{EXIT_DONE, Global};
use anyhow::{Context, bail};
use monstrum_core::plugin::package::{self, EXTENSION, Package};
use monstrum_core::workspace::Workspace;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-wasip2";

/// `plugin build`.
pub fn build(global: &Global, dir: &Path, install: Option<&Path>) -> anyhow::Result<u8> {
    let (manifest_text, manifest) = read_manifest(dir)?;
    let cargo_toml = dir.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!(
            "{} has no Cargo.toml: `plugin build` compiles a plugin crate (`monstrum plugin new NAME` makes one)",
            dir.display()
        );
    }
    // Refused before compiling: what would clash with a built-in is never built to be installed.
    if install.is_some() && monstrum_core::plugin::builtin::find(&manifest.name).is_some() {
        bail!(
            "`{}` is a built-in plugin's name: installing it would shadow the built-in; rename the plugin",
            manifest.name
        );
    }
    let wasm = compile(dir, &cargo_toml)?;
    let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let imports = monstrum_core::plugin::check_component(&manifest, &bytes, None)
        .with_context(|| format!("{} cannot run as plugin `{}`", wasm.display(), manifest.name))?;
    let component_file = dir.join(&manifest.component);
    write_atomically(&component_file, &bytes, true)?;
    let readme =
        std::fs::read_to_string(dir.join(package::README)).unwrap_or_else(|_| package::default_readme(&manifest));
    let package =
        Package::new(manifest_text, readme, bytes).with_context(|| format!("cannot pack {}", dir.display()))?;
    let data = package.to_bytes()?;
    let mst = dir.join(format!("{}-{}.{EXTENSION}", manifest.name, manifest.version));
    write_atomically(&mst, &data, true)?;
    let interfaces: Vec<&String> = imports.iter().filter(|i| i.starts_with("monstrum:plugin/")).collect();
    if global.json {
        println!(
            "{}",
            json!({ "type": "plugin_built", "name": manifest.name, "version": manifest.version, "component": component_file,
                    "package": mst, "bytes": data.len(), "component_sha256": package.component_sha256(),
                    "imports": interfaces })
        );
    } else {
        println!("built {} {}: {} ({} bytes)", manifest.name, manifest.version, mst.display(), data.len());
        println!(
            "  component {} of monstrum:plugin/integration, imports {}",
            component_file.display(),
            names(&interfaces)
        );
    }
    if let Some(root) = install {
        let ws = Workspace::discover(Some(root), root)?;
        install_package(global, &ws, &data, &package, InstallMode::Rebuild)?;
    }
    Ok(EXIT_DONE)
}

fn names(imports: &[&String]) -> String {
    let short: Vec<&str> = imports.iter().map(|i| i.trim_start_matches("monstrum:plugin/")).collect();
    if short.is_empty() { "nothing of the host".into() } else { short.join(", ") }
}

/// `cargo build --release --target wasm32-wasip2` in `dir`; the `.wasm` of the crate's library.
fn compile(dir: &Path, cargo_toml: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}: is Rust installed (https://rustup.rs)?", cargo.to_string_lossy()))?;
    // Cargo's progress and the compiler's messages pass through to the author as they come, and
    // are kept to tell a missing target from a compile error.
    let stderr = child.stderr.take().context("cargo's stderr")?;
    let echo = std::thread::spawn(move || {
        let mut kept = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            eprintln!("{line}");
            kept.push_str(&line);
            kept.push('\n');
        }
        kept
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().context("cargo's stdout")?, &mut stdout)?;
    let status = child.wait()?;
    let stderr = echo.join().unwrap_or_default();
    if !status.success() {
        if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`") {
            bail!("the {TARGET} target is not installed: run `rustup target add {TARGET}`, then build again");
        }
        bail!("`cargo build --release --target {TARGET}` failed in {} (its messages are above)", dir.display());
    }
    let me = cargo_toml.canonicalize().unwrap_or_else(|_| cargo_toml.to_path_buf());
    let wasm = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && Path::new(m["manifest_path"].as_str().unwrap_or("")) == me)
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"));
    wasm.with_context(|| format!("{} built no .wasm: its [lib] needs crate-type = [\"cdylib\"]", cargo_toml.display()))
}

//! Builds the visual editor (`ui/`, a Leptos client-side crate) for `wasm32-unknown-unknown` and
//! generates its JavaScript glue with wasm-bindgen's library (no CLI to install), into
//! `$OUT_DIR/ui/`, where `src/ui.rs` embeds it. One nested `cargo build --release` with a target
//! directory of its own (`<target>/ui`), so it never waits on the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    if let Err(e) = run() {
        eprintln!("error building the editor (ui/): {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let root = manifest_dir.join("../..").canonicalize().map_err(|e| e.to_string())?;
    let ui = root.join("ui");
    for input in ["src", "Cargo.toml", "Cargo.lock", "index.html", "style.css", "start.js"] {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("target"),
    }
    .join("ui");
    build(&ui, &target_dir)?;

    let wasm = target_dir.join(TARGET).join("release").join("monstrum_ui.wasm");
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?).join("ui");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .map_err(|e| e.to_string())?
        .typescript(false)
        .generate(&out)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", wasm.display()))?;
    for file in ["index.html", "style.css", "start.js"] {
        std::fs::copy(ui.join(file), out.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}

fn build(ui: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(ui)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(target_dir)
        // The outer build's flags are for the host, not for wasm; its jobserver (CARGO_MAKEFLAGS)
        // is inherited so that `-j2` still holds.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    let output = cmd.output().map_err(|e| format!("could not run cargo: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let hint = if stderr.contains("may not be installed") || stderr.contains("can't find crate for `core`") {
        format!("\nthe {TARGET} target is missing: run `rustup target add {TARGET}`")
    } else {
        String::new()
    };
    Err(format!("`cargo build --release --target {TARGET}` in {} failed:\n{stderr}{hint}", ui.display()))
}

//! A nested `cargo build --release --target TARGET` for a build script: the plugin guests
//! (runtime/core/build.rs, wasm32-wasip2) and the editor (runtime/server/build.rs,
//! wasm32-unknown-unknown). Included by both with `#[path]`; it is not a crate.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where nested builds put their output: `<CARGO_TARGET_DIR or <root>/target>/<name>`, a target
/// directory of their own, so that they never wait on the outer build's lock.
pub fn target_dir(root: &Path, name: &str) -> PathBuf {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("target"),
    }
    .join(name)
}

/// `cargo build --release --target TARGET --target-dir TARGET_DIR [extra]` in `dir`; an error
/// with cargo's output, and the one command to run if the target is not installed.
pub fn build(dir: &Path, target: &str, target_dir: &Path, extra: &[&str]) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--release", "--target", target])
        .args(extra)
        .arg("--target-dir")
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
        format!("\nthe {target} target is missing: run `rustup target add {target}`")
    } else {
        String::new()
    };
    Err(format!("`cargo build --release --target {target}` in {} failed:\n{stderr}{hint}", dir.display()))
}

//! Builds the visual editor (`ui/`, a Leptos client-side crate) for `wasm32-unknown-unknown` and
//! generates its JavaScript glue with wasm-bindgen's library (no CLI to install), into
//! `$OUT_DIR/ui/`, where `src/ui.rs` embeds it: one nested `cargo build --release` into
//! `<target>/ui` (`runtime/build/nested.rs`, shared with the core's build of the plugins).

#[path = "../build/nested.rs"]
mod nested;

use std::env;
use std::path::PathBuf;

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
    for input in ["src", "Cargo.toml", "Cargo.lock", "index.html", "style.css", "start.js", "vendor/codemirror.js"] {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }
    // The editor compiles the workflow model in too (the same checks as `monstrum validate`).
    for input in ["runtime/model/src", "runtime/model/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }
    let target_dir = nested::target_dir(&root, "ui");
    nested::build(&ui, TARGET, &target_dir, &[])?;

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
    for file in ["index.html", "style.css", "start.js", "vendor/codemirror.js"] {
        let name = std::path::Path::new(file).file_name().expect("a file name");
        std::fs::copy(ui.join(file), out.join(name)).map_err(|e| format!("{file}: {e}"))?;
    }
    // What the browser downloads, gzipped once here rather than on each request.
    for file in ["monstrum_ui_bg.wasm", "monstrum_ui.js", "codemirror.js", "style.css"] {
        gzip(&out.join(file))?;
    }
    Ok(())
}

/// Writes `file.gz` beside `file` (best compression).
fn gzip(file: &std::path::Path) -> Result<(), String> {
    use std::io::Write as _;
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes).map_err(|e| e.to_string())?;
    let packed = encoder.finish().map_err(|e| e.to_string())?;
    let mut name = file.as_os_str().to_owned();
    name.push(".gz");
    std::fs::write(&name, packed).map_err(|e| format!("{}.gz: {e}", file.display()))
}

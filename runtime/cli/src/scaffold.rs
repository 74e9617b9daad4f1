//! `monstrum plugin new NAME` and `monstrum skill new NAME`: a plugin crate or a skill that works
//! as written, from the templates in `runtime/cli/templates/`.

use crate::{EXIT_DONE, Global};
use anyhow::{Context, bail};
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::{Path, PathBuf};

/// The plugin template: (path in the new folder, text).
const PLUGIN: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/plugin/Cargo.toml")),
    ("manifest.yaml", include_str!("../templates/plugin/manifest.yaml")),
    ("src/lib.rs", include_str!("../templates/plugin/src/lib.rs")),
    ("README.md", include_str!("../templates/plugin/README.md")),
    (".gitignore", include_str!("../templates/plugin/gitignore")),
];

const SKILL: &str = include_str!("../templates/skill/SKILL.md");

/// The SDK's version on crates.io that the scaffold depends on outside a checkout.
const SDK_VERSION: &str = "0.1";

/// The SDK of the checkout this binary was built from, if it is still there.
fn checkout_sdk() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/sdk");
    dir.join("Cargo.toml").is_file().then(|| dir.canonicalize().ok()).flatten()
}

/// The dependency line of `monstrum-plugin-sdk`: `sdk` if given (a path), the checkout's SDK
/// when run from one, else the published version.
fn sdk_dependency(sdk: Option<&Path>) -> anyhow::Result<String> {
    let path = match sdk {
        Some(p) => Some(p.canonicalize().with_context(|| format!("--sdk {}: no such folder", p.display()))?),
        None => checkout_sdk(),
    };
    Ok(match path {
        Some(p) => {
            if !p.join("Cargo.toml").is_file() {
                bail!("{} holds no Cargo.toml: --sdk names the folder of monstrum-plugin-sdk", p.display());
            }
            format!("{{ path = {} }}", toml_string(&p.to_string_lossy()))
        }
        None => format!("\"{SDK_VERSION}\""),
    })
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// `plugin new NAME [--dir DIR] [--sdk PATH]`.
pub fn plugin_new(global: &Global, name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<u8> {
    if !monstrum_model::valid_name(name) {
        bail!("`{name}` is not a plugin name: lowercase letters, digits and `-`, starting with a letter");
    }
    if monstrum_core::plugin::builtin::find(name).is_some() {
        bail!("`{name}` is the name of a built-in plugin: a plugin of that name would shadow it; pick another");
    }
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty: nothing written", dir.display());
    }
    let lib = name.replace('-', "_");
    let ty: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    let sdk_line = sdk_dependency(sdk)?;
    let fill = |text: &str| {
        text.replace("__NAME__", name).replace("__LIB__", &lib).replace("__TYPE__", &ty).replace("__SDK__", &sdk_line)
    };
    let files: Vec<(PathBuf, String)> = PLUGIN.iter().map(|(rel, text)| (dir.join(rel), fill(text))).collect();
    write_all(&dir, &files)?;
    if global.json {
        println!("{}", json!({ "type": "plugin_created", "name": name, "dir": dir, "sdk": sdk_line }));
    } else {
        println!("created plugin {name} in {}", dir.display());
        println!(
            "next: cd {} && monstrum plugin build && monstrum plugin test get_record --args '{{\"collection\": \"books\", \"id\": \"1\"}}' --scope collections=books",
            dir.display()
        );
    }
    Ok(EXIT_DONE)
}

/// `skill new NAME`: `skills/NAME/SKILL.md` in the workspace.
pub fn skill_new(global: &Global, name: &str) -> anyhow::Result<u8> {
    if !monstrum_model::valid_skill_name(name) {
        bail!("`{name}` is not a skill name: 1-64 lowercase letters, digits and single hyphens, not at either end");
    }
    let ws = Workspace::discover(global.workspace.as_deref(), Path::new("."))?;
    let dir = ws.root.join("skills").join(name);
    let file = dir.join("SKILL.md");
    if file.exists() {
        bail!("{} exists: nothing written", file.display());
    }
    let text = SKILL.replace("__NAME__", name);
    // What is written must load, as the workspace will load it.
    monstrum_model::load_skill(&text).ok().map_err(|p| anyhow::anyhow!("the skill template does not load: {p:?}"))?;
    write_all(&dir, &[(file.clone(), text)])?;
    if global.json {
        println!("{}", json!({ "type": "skill_created", "name": name, "file": file }));
    } else {
        println!("created {}: enable it in a bot with `skills: [{name}]`", file.display());
    }
    Ok(EXIT_DONE)
}

/// Writes `files` under `dir`; if one fails, removes what was written, so a failure leaves
/// nothing behind.
fn write_all(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let existed = dir.exists();
    let result = files.iter().try_for_each(|(path, text)| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    });
    if result.is_err() {
        if existed {
            for (path, _) in files {
                let _ = std::fs::remove_file(path);
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

//! `monstrum plugin pack DIR`, `plugin install FILE`, `plugin list`, `plugin inspect NAME`:
//! plugin packages (`new`, `build` and `test` are in `scaffold`, `plugin_build` and `plugin_test`) (`.mst`, see [`monstrum_core::plugin::package`]) and what a workspace's plugins offer.

use crate::{EXIT_DONE, Global};
use anyhow::{Context, bail};
use clap::Subcommand;
use monstrum_core::plugin::package::{self, EXTENSION, Package};
use monstrum_core::plugin::{Component, effective_config, origins};
use monstrum_core::workspace::{AvailablePlugin, PluginSource, Workspace};
use monstrum_model::{Inject, Manifest};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `monstrum plugin` does.
#[derive(Subcommand)]
pub enum PluginAction {
    /// Start a plugin: a guest crate with one HTTP tool, its manifest, a README and unit tests.
    New {
        /// The plugin's name: lowercase letters, digits and `-`.
        name: String,
        /// The folder to create (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Depend on the monstrum-plugin-sdk in this folder (default: the checkout this binary
        /// was built from if it is there, else the published crate).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Compile a plugin crate for wasm32-wasip2, check it, and pack it as NAME-VERSION.mst.
    Build {
        /// The plugin folder (default: the current one).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Then install the package into this workspace (replacing an earlier build).
        #[arg(long, value_name = "WORKSPACE")]
        install: Option<PathBuf>,
    },
    /// Call one tool of a built plugin through the real gate and host, with a scratch binding.
    Test {
        /// [DIR] TOOL: the plugin folder (default: the current one) and the tool.
        #[arg(num_args = 1..=2, required = true, value_name = "[DIR] TOOL")]
        target: Vec<String>,
        /// The tool's arguments, a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// A scope value of the binding: DIMENSION=VALUE (repeat for several values).
        #[arg(long, value_name = "DIM=VALUE")]
        scope: Vec<String>,
        /// A config value of the binding: KEY=VALUE.
        #[arg(long, value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// A credential field bound to a vault entry of the workspace: FIELD=ENTRY.
        #[arg(long, value_name = "FIELD=ENTRY")]
        credential: Vec<String>,
    },
    /// Package a plugin folder (manifest.yaml, the component it names, README.md) as a .mst file.
    Pack {
        /// The folder holding manifest.yaml.
        dir: PathBuf,
        /// The package to write (default: NAME-VERSION.mst in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The built component (default: the manifest's `component:` in DIR).
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Verify a package and install it into the workspace as plugins/NAME.mst: a .mst FILE, or
    /// NAME[@VERSION] from an index (checksums, signature and `trust:` checked).
    Install {
        /// A .mst file, or NAME / NAME@VERSION with --index.
        file: String,
        /// The index to install NAME from: a folder, or a server's URL.
        #[arg(long)]
        index: Option<String>,
        /// Take an unsigned package (from a local folder index only; audited).
        #[arg(long, requires = "index")]
        allow_unsigned: bool,
        /// Replace an installed package of the same name, or shadow a built-in plugin.
        #[arg(long)]
        force: bool,
        /// An API token, for a server's index.
        #[arg(long, env = "MONSTRUM_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Sign a .mst package with a publisher key and put it in an index.
    Publish {
        file: PathBuf,
        #[command(flatten)]
        to: crate::marketplace::PublishTo,
    },
    /// The plugins this workspace can use: name, version, source, number of tools.
    List,
    /// A plugin's tools (parameters, scope rules), credentials, config, dimensions and origins.
    Inspect {
        /// A plugin name, or a .mst file to inspect before installing it.
        name: String,
    },
}

/// Runs `monstrum plugin ACTION`.
pub async fn run(global: &Global, action: PluginAction) -> anyhow::Result<u8> {
    match action {
        PluginAction::New { name, dir, sdk } => {
            crate::scaffold::plugin_new(global, &name, dir.as_deref(), sdk.as_deref())
        }
        PluginAction::Build { dir, install } => crate::plugin_build::build(global, &dir, install.as_deref()),
        PluginAction::Test { target, args, scope, config, credential } => {
            let (dir, tool) = match target.as_slice() {
                [tool] => (Path::new("."), tool.as_str()),
                [dir, tool] => (Path::new(dir.as_str()), tool.as_str()),
                _ => bail!("plugin test takes [DIR] TOOL"),
            };
            let args = crate::plugin_test::TestArgs {
                dir,
                tool,
                args: &args,
                scope: &scope,
                config: &config,
                credentials: &credential,
            };
            crate::plugin_test::test(global, args).await
        }
        PluginAction::Pack { dir, output, component } => pack(global, &dir, output.as_deref(), component.as_deref()),
        PluginAction::Install { file, index: None, force, .. } => install(global, Path::new(&file), force),
        PluginAction::Install { file, index: Some(index), allow_unsigned, force, token } => {
            let args = crate::marketplace::InstallArgs {
                kind: monstrum_core::marketplace::Kind::Plugin,
                spec: &file,
                index: &index,
                token,
                allow_unsigned,
                force,
            };
            crate::marketplace::install(global, args).await
        }
        PluginAction::Publish { file, to } => {
            crate::marketplace::publish(global, monstrum_core::marketplace::Kind::Plugin, &file, to).await
        }
        PluginAction::List => list(global),
        PluginAction::Inspect { name } => inspect(global, &name),
    }
}

fn workspace(global: &Global) -> anyhow::Result<Workspace> {
    Workspace::discover(global.workspace.as_deref(), Path::new("."))
}

/// `plugin pack DIR`: reads the folder's parts, verifies them as `install` will, writes the package.
fn pack(global: &Global, dir: &Path, output: Option<&Path>, component: Option<&Path>) -> anyhow::Result<u8> {
    let (manifest_text, manifest) = read_manifest(dir)?;
    let component_file = component.map(Path::to_path_buf).unwrap_or_else(|| dir.join(&manifest.component));
    let bytes = match std::fs::read(&component_file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}", missing_component(dir, &manifest, &component_file))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", component_file.display())),
    };
    let readme_file = dir.join(package::README);
    let (readme, generated) = match std::fs::read_to_string(&readme_file) {
        Ok(text) => (text, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (package::default_readme(&manifest), true),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", readme_file.display())),
    };
    let package =
        Package::new(manifest_text, readme, bytes).with_context(|| format!("cannot pack {}", dir.display()))?;
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(format!("{}-{}.{EXTENSION}", package.manifest.name, package.manifest.version))
    });
    let data = package.to_bytes()?;
    write_atomically(&out, &data, true)?;
    let sha = package.component_sha256();
    if global.json {
        let m = &package.manifest;
        println!(
            "{}",
            json!({ "type": "plugin_packed", "name": m.name, "version": m.version, "file": out, "bytes": data.len(),
                    "component_sha256": sha, "readme_generated": generated })
        );
    } else {
        if generated {
            println!("{} has no README.md: wrote one from the manifest", dir.display());
        }
        println!(
            "packed {} {} into {} ({} bytes; component sha256 {sha})",
            package.manifest.name,
            package.manifest.version,
            out.display(),
            data.len()
        );
    }
    Ok(EXIT_DONE)
}

/// A plugin folder's `manifest.yaml`: its text and what it says; every problem with its line.
pub(crate) fn read_manifest(dir: &Path) -> anyhow::Result<(String, Manifest)> {
    let manifest_file = dir.join(package::MANIFEST);
    let manifest_text = std::fs::read_to_string(&manifest_file)
        .with_context(|| format!("cannot read {}: a plugin folder holds manifest.yaml", manifest_file.display()))?;
    let manifest = monstrum_model::load_manifest(&manifest_text).ok().map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|d| format!("{}:{d}", manifest_file.display())).collect();
        anyhow::anyhow!("invalid manifest (nothing was built or written):\n{}", lines.join("\n"))
    })?;
    Ok((manifest_text, manifest))
}

/// What to say when the component is not where the manifest says.
fn missing_component(dir: &Path, manifest: &Manifest, file: &Path) -> String {
    let mut message = format!("the component {} does not exist", file.display());
    if dir.join("Cargo.toml").is_file() {
        let lib = manifest.name.replace('-', "_");
        message.push_str(&format!(
            "; {dir} is a guest crate: build it with `cargo build --release --target wasm32-wasip2` in {dir}, \
             then copy <target>/wasm32-wasip2/release/{lib}.wasm to {file} or pass it with --component",
            dir = dir.display(),
            file = file.display()
        ));
    } else {
        message.push_str("; build the plugin's component first, or pass it with --component FILE");
    }
    message
}

/// `plugin install FILE`: verifies the package, then writes `plugins/<name>.mst` in one step.
fn install(global: &Global, file: &Path, force: bool) -> anyhow::Result<u8> {
    let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    if size > package::MAX_PACKAGE_BYTES {
        bail!("{} is larger than {} bytes: not installed", file.display(), package::MAX_PACKAGE_BYTES);
    }
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let package = Package::from_bytes(&data)
        .with_context(|| format!("{} is not a valid plugin package: nothing installed", file.display()))?;
    let ws = workspace(global)?;
    install_package(global, &ws, &data, &package, if force { InstallMode::Force } else { InstallMode::Refuse })?;
    Ok(EXIT_DONE)
}

/// How an install treats what is there: a rebuild replaces its own earlier package.
pub enum InstallMode {
    /// `plugin install`: refuse to replace, unless forced.
    Refuse,
    /// `plugin install --force`: replace an installed package, shadow a built-in.
    Force,
    /// `plugin build --install`: replace an installed package of the same name, never a built-in.
    Rebuild,
}

/// Writes a verified package (`data`, read as `package`) to the workspace's `plugins/<name>.mst`.
pub(crate) fn install_package(
    global: &Global,
    ws: &Workspace,
    data: &[u8],
    package: &Package,
    mode: InstallMode,
) -> anyhow::Result<()> {
    let name = &package.manifest.name;
    let version = &package.manifest.version;
    let dir = ws.root.join("plugins");
    let target = dir.join(format!("{name}.{EXTENSION}"));
    let replace = !matches!(mode, InstallMode::Refuse);
    if !matches!(mode, InstallMode::Force) && monstrum_core::plugin::builtin::find(name).is_some() {
        bail!(
            "`{name}` is a built-in plugin: installing it would replace it in {}{}",
            ws.root.display(),
            if replace { "; rename the plugin" } else { "; pass --force to do so" }
        );
    }
    if !replace && target.exists() {
        bail!("{}", already_installed(&target, version));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_atomically(&target, data, replace).map_err(|e| {
        if target.exists() && !replace { anyhow::anyhow!("{}", already_installed(&target, version)) } else { e }
    })?;
    let shadowed_by_dev = dir.join(name).join(package::MANIFEST).is_file();
    if global.json {
        println!(
            "{}",
            json!({ "type": "plugin_installed", "name": name, "version": version, "file": target,
                    "tools": package.manifest.tools.len(), "component_sha256": package.component_sha256(),
                    "shadowed_by_dev": shadowed_by_dev })
        );
    } else {
        println!("installed {name} {version} into {} ({} tools)", target.display(), package.manifest.tools.len());
        if shadowed_by_dev {
            println!("note: the dev plugin in {} shadows it while that folder exists", dir.join(name).display());
        }
    }
    Ok(())
}

fn already_installed(target: &Path, new_version: &str) -> String {
    let old = Package::read(target).map(|p| format!(" (version {})", p.manifest.version)).unwrap_or_default();
    format!(
        "a package is already installed as {}{old}: pass --force to replace it with version {new_version}",
        target.display()
    )
}

/// Writes `data` to `target` through a temporary file in the same folder, so that `target` is
/// either absent or complete. Without `replace`, an existing `target` is never overwritten.
pub(crate) fn write_atomically(target: &Path, data: &[u8], replace: bool) -> anyhow::Result<()> {
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.{}.tmp", std::process::id(), uuid::Uuid::new_v4().simple()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(data).and_then(|()| f.sync_all()).with_context(|| format!("cannot write {}", tmp.display()))?;
        if replace {
            return std::fs::rename(&tmp, target).with_context(|| format!("cannot write {}", target.display()));
        }
        // A hard link never replaces an existing file: no window between the check and the write.
        match std::fs::hard_link(&tmp, target) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("{} already exists", target.display()),
            Err(_) if !target.exists() => {
                std::fs::rename(&tmp, target).with_context(|| format!("cannot write {}", target.display()))
            }
            Err(e) => Err(e).with_context(|| format!("cannot write {}", target.display())),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

/// `plugin list`.
fn list(global: &Global) -> anyhow::Result<u8> {
    let ws = workspace(global)?;
    let mut plugins = ws.available_plugins()?;
    // Stable: of one name, the shadowed ones come first, as in precedence order.
    let order: Vec<String> = plugins.iter().map(|p| p.manifest.name.clone()).collect();
    let last = |name: &str, i: usize| order.iter().rposition(|n| n == name) == Some(i);
    let active: Vec<bool> = order.iter().enumerate().map(|(i, n)| last(n, i)).collect();
    let mut rows: Vec<(AvailablePlugin, bool)> = plugins.drain(..).zip(active).collect();
    rows.sort_by(|a, b| a.0.manifest.name.cmp(&b.0.manifest.name));
    if !global.json {
        println!("{:<24} {:<10} {:<10} {:>5}", "NAME", "VERSION", "SOURCE", "TOOLS");
    }
    for (p, active) in &rows {
        let m = &p.manifest;
        if global.json {
            println!(
                "{}",
                json!({ "type": "plugin", "name": m.name, "version": m.version, "source": p.source.kind(),
                        "path": source_path(&p.source), "tools": m.tools.len(), "active": active })
            );
        } else {
            let note = if *active { String::new() } else { "  (shadowed)".to_string() };
            println!("{:<24} {:<10} {:<10} {:>5}{note}", m.name, m.version, p.source.kind(), m.tools.len());
        }
    }
    Ok(EXIT_DONE)
}

fn source_path(source: &PluginSource) -> Option<&Path> {
    match source {
        PluginSource::Builtin => None,
        PluginSource::Installed(p) | PluginSource::Dev(p) => Some(p),
    }
}

/// `plugin inspect NAME` (or a package file).
fn inspect(global: &Global, name: &str) -> anyhow::Result<u8> {
    let (manifest, source, sha) = if name.ends_with(&format!(".{EXTENSION}")) && Path::new(name).is_file() {
        let package = Package::read(Path::new(name))?;
        let sha = package.component_sha256();
        (package.manifest, format!("package {name}"), Some(sha))
    } else {
        let ws = workspace(global)?;
        let p = ws.available_plugins()?.into_iter().rev().find(|p| p.manifest.name == name).with_context(|| {
            format!("unknown plugin `{name}`: `monstrum plugin list` shows the plugins of {}", ws.root.display())
        })?;
        let sha = match &p.component {
            Component::Builtin(b) => Some(hex::encode(Sha256::digest(b))),
            Component::Package(b) => Some(hex::encode(Sha256::digest(b))),
            Component::File(f) => std::fs::read(f).ok().map(|b| hex::encode(Sha256::digest(b))),
        };
        let source = match source_path(&p.source) {
            Some(path) => format!("{} {}", p.source.kind(), path.display()),
            None => p.source.kind().to_string(),
        };
        (p.manifest, source, sha)
    };
    let defaults = effective_config(&manifest, &serde_json::Map::new());
    let origins = origins(&manifest, &defaults).unwrap_or_default();
    if global.json {
        let mut value = serde_json::to_value(&manifest)?;
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), json!("plugin"));
            map.insert("source".into(), json!(source));
            map.insert("component_sha256".into(), json!(sha));
            map.insert("default_origins".into(), json!(origins));
            let injected: serde_json::Map<String, Value> =
                manifest.credentials.iter().map(|(k, c)| (k.clone(), json!(injection(&c.inject)))).collect();
            map.insert("credential_injection".into(), Value::Object(injected));
        }
        println!("{value}");
    } else {
        print!("{}", describe(&manifest, &source, sha.as_deref(), &origins));
    }
    Ok(EXIT_DONE)
}

/// How the host injects a credential, in words.
fn injection(inject: &Inject) -> String {
    let format = inject.format.as_deref().unwrap_or("{}");
    if let Some(header) = &inject.header {
        format!("HTTP header `{header}: {}`", format.replace("{}", "<secret>"))
    } else if let Some(query) = &inject.query {
        format!("query parameter `{query}={}`", format.replace("{}", "<secret>"))
    } else if inject.ssh {
        "the private key of the SSH sessions the host opens".into()
    } else if inject.signer {
        "the key the host signs transactions with".into()
    } else {
        "nowhere".into()
    }
}

/// The text of `plugin inspect`.
fn describe(m: &Manifest, source: &str, sha: Option<&str>, origins: &[String]) -> String {
    let mut out = format!("{} {} ({source})\n", m.name, m.version);
    if let Some(d) = &m.description {
        out.push_str(&format!("{d}\n"));
    }
    out.push_str(&format!("component: {}", m.component));
    if let Some(sha) = sha {
        out.push_str(&format!(" (sha256 {sha})"));
    }
    out.push('\n');
    if !m.credentials.is_empty() {
        out.push_str("\ncredentials (a binding's `credential:` names a vault entry; the guest never sees it):\n");
        for (name, c) in &m.credentials {
            out.push_str(&format!("  {name:<16} injected as {}", injection(&c.inject)));
            if let Some(d) = &c.description {
                out.push_str(&format!(" - {d}"));
            }
            out.push('\n');
        }
    }
    if !m.config.is_empty() {
        out.push_str("\nconfig:\n");
        for (name, f) in &m.config {
            let default = f.default.as_ref().map_or_else(|| "required".to_string(), |d| format!("default {d}"));
            out.push_str(&format!("  {name:<16} {:<8} {default}", f.kind));
            if let Some(d) = &f.description {
                out.push_str(&format!(" - {d}"));
            }
            out.push('\n');
        }
    }
    if !m.network.is_empty() {
        out.push_str("\nnetwork (the only origins it may reach):\n");
        for (i, template) in m.network.iter().enumerate() {
            match origins.get(i).filter(|o| *o != template) {
                Some(o) => out.push_str(&format!("  {template}   (with the defaults: {o})\n")),
                None => out.push_str(&format!("  {template}\n")),
            }
        }
    }
    if !m.dimensions.is_empty() {
        out.push_str("\ndimensions (a binding's `scope:` gives their values; none allows nothing):\n");
        for (name, d) in &m.dimensions {
            out.push_str(&format!("  {name:<16} {}\n", d.description.as_deref().unwrap_or("")));
        }
    }
    if let Some(ssh) = &m.ssh {
        out.push_str(&format!(
            "\nssh: host by `{}` ({}), command by `{}` ({})\n",
            ssh.host.dimension,
            ssh.host.kind.name(),
            ssh.command.dimension,
            ssh.command.kind.name()
        ));
    }
    if let Some(signer) = &m.signer {
        out.push_str(&format!(
            "\nsigner (what the host signs, checked whatever the plugin asks):\n  to: `{}` ({}), value: `{}` ({})\n",
            signer.to.dimension,
            signer.to.kind.name(),
            signer.value.dimension,
            signer.value.kind.name()
        ));
        for call in &signer.calls {
            let args: Vec<String> =
                call.args.iter().map(|a| format!("`{}` ({})", a.dimension, a.kind.name())).collect();
            out.push_str(&format!(
                "  {} on `{}` ({}), arguments: {}\n",
                call.function,
                call.to.dimension,
                call.to.kind.name(),
                args.join(", ")
            ));
        }
    }
    out.push_str(&format!("\ntools ({}):\n", m.tools.len()));
    for tool in &m.tools {
        out.push_str(&format!("  {}  {}\n", tool.name, tool.description));
        out.push_str(&format!("    effect: {}\n", tool.effect.as_str()));
        let required: Vec<&str> =
            tool.parameters["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if let Some(props) = tool.parameters["properties"].as_object() {
            let params: Vec<String> = props
                .iter()
                .map(|(p, schema)| {
                    let kind = schema["type"].as_str().unwrap_or("any");
                    let req = if required.contains(&p.as_str()) { ", required" } else { "" };
                    format!("{p} ({kind}{req})")
                })
                .collect();
            out.push_str(&format!("    parameters: {}\n", params.join(", ")));
        }
        for rule in &tool.scope {
            out.push_str(&format!(
                "    scope: {} must match `{}` ({})\n",
                rule.param,
                rule.dimension,
                rule.kind.name()
            ));
        }
        if !tool.redact.is_empty() {
            out.push_str(&format!("    redacted: {}\n", tool.redact.join(", ")));
        }
    }
    out
}

//! `monstrum key create NAME`, `skill publish DIR`, `plugin publish FILE`, and `skill install` /
//! `plugin install NAME[@VERSION] --index URL|DIR`: the command line of
//! [`monstrum_core::marketplace`], which verifies; this module only prints and writes.

use crate::{EXIT_DONE, Global};
use anyhow::Context;
use monstrum_core::audit::Trail;
use monstrum_core::marketplace::index::{IndexEntry, Published};
use monstrum_core::marketplace::install::{Request, fetch_verified, write_skill};
use monstrum_core::marketplace::{Index, Kind, Package, Signature, SigningKey, SkillPackage};
use monstrum_core::store::Store;
use monstrum_core::workspace::Workspace;
use serde_json::json;
use std::path::Path;

fn workspace(global: &Global) -> anyhow::Result<Workspace> {
    Workspace::discover(global.workspace.as_deref(), Path::new("."))
}

/// Where `key create` keeps keys and `--key NAME` finds them: `.monstrum/keys/`.
fn keys_dir(ws: &Workspace) -> std::path::PathBuf {
    ws.data_dir().join("keys")
}

/// `key create NAME`: a publisher key; prints the public key and the `trust:` entry for it.
pub fn key_create(global: &Global, name: &str) -> anyhow::Result<u8> {
    let ws = workspace(global)?;
    let (key, file) = SigningKey::create(&keys_dir(&ws), name)?;
    let public = key.public().to_string();
    if global.json {
        println!("{}", json!({ "type": "key_created", "name": name, "file": file, "public_key": public }));
    } else {
        println!("created publisher key `{name}` in {} (keep it secret; it cannot be made again)", file.display());
        println!("workspaces that trust it list it in monstrum.yaml:\n\ntrust:\n  - name: {name}\n    key: {public}\n");
        println!("{public}");
    }
    Ok(EXIT_DONE)
}

/// Where and how `skill publish` and `plugin publish` publish.
#[derive(clap::Args)]
pub struct PublishTo {
    /// The publisher key (a name of `monstrum key create`, or a key file) that signs it.
    #[arg(long)]
    key: Option<String>,
    /// The index: a folder, or a server's URL (http://127.0.0.1:7410).
    #[arg(long)]
    index: String,
    /// An admin API token, for a server's index.
    #[arg(long, env = "MONSTRUM_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// `skill publish DIR` / `plugin publish FILE`: packs (skills) or reads (plugins) the package,
/// signs it with `--key`, and puts it in the index.
pub async fn publish(global: &Global, kind: Kind, source: &Path, to: PublishTo) -> anyhow::Result<u8> {
    let PublishTo { key, index, token } = to;
    let key = key.as_deref();
    let index = index.as_str();
    let ws = workspace(global)?;
    let mut package = match kind {
        Kind::Skill => Package::Skill(
            SkillPackage::from_dir(source).with_context(|| format!("cannot publish {}", source.display()))?,
        ),
        Kind::Plugin => Package::Plugin(monstrum_core::plugin::package::Package::read(source)?),
    };
    let signer = key.map(|k| SigningKey::load(&keys_dir(&ws), k)).transpose()?;
    let signed = package.signed()?;
    let signature = signer.as_ref().map(|k| Signature::sign(&signed, k));
    let bytes = package.with_signature(signature)?;
    let index = Index::parse(index, token);
    let version = signed.version.to_string();
    let published = index.publish(&IndexEntry::of(&package, &signed, &bytes), &bytes).await?;
    let publisher = signer.as_ref().map(|k| k.name.clone());
    if global.json {
        println!(
            "{}",
            json!({ "type": "published", "kind": kind, "name": signed.name, "version": version,
                    "index": index.describe(), "publisher": publisher, "bytes": bytes.len(),
                    "created": published == Published::Created })
        );
    } else {
        let how = match &publisher {
            Some(p) => format!("signed by {p}"),
            None => "UNSIGNED (only a folder index takes it, and only an install with --allow-unsigned)".into(),
        };
        let what = if published == Published::Created { "published" } else { "already published, unchanged:" };
        println!("{what} {} {}@{version} to {} ({how})", kind.as_str(), signed.name, index.describe());
    }
    Ok(EXIT_DONE)
}

/// What `skill install` / `plugin install NAME[@VERSION] --index …` is asked.
pub struct InstallArgs<'a> {
    pub kind: Kind,
    /// NAME or NAME@VERSION.
    pub spec: &'a str,
    pub index: &'a str,
    pub token: Option<String>,
    pub allow_unsigned: bool,
    pub force: bool,
}

/// Installs the newest matching version from an index, after the core verified it.
pub async fn install(global: &Global, args: InstallArgs<'_>) -> anyhow::Result<u8> {
    let ws = workspace(global)?;
    let (name, wanted) = match args.spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (args.spec, None),
    };
    let index = Index::parse(args.index, args.token.clone());
    let store = Store::open(&ws.store_url(global.db.as_deref())?).await?;
    let request = Request { kind: args.kind, name, wanted, index: &index, allow_unsigned: args.allow_unsigned };
    let verified = fetch_verified(&request, &ws.config.trust, &Trail::in_store(store)).await?;
    let version = verified.entry.version.clone();
    let by = match &verified.publisher {
        Some(p) => format!("signed by {p}, trusted"),
        None => "UNSIGNED, taken with --allow-unsigned (audited)".into(),
    };
    match &verified.package {
        Package::Skill(_) => {
            let dir = write_skill(&ws.root, &verified, args.force)?;
            if global.json {
                println!(
                    "{}",
                    json!({ "type": "skill_installed", "name": name, "version": version, "dir": dir,
                            "publisher": verified.publisher, "sha256": verified.entry.sha256 })
                );
            } else {
                println!("installed skill {name} {version} into {} ({by})", dir.display());
                println!("enable it in a bot: monstrum skill enable BOT {name}");
            }
        }
        Package::Plugin(plugin) => {
            let mode = if args.force { crate::plugin::InstallMode::Force } else { crate::plugin::InstallMode::Refuse };
            crate::plugin::install_package(global, &ws, &verified.bytes, plugin, mode)?;
            if !global.json {
                println!("({by})");
            }
        }
    }
    Ok(EXIT_DONE)
}

//! The workspace's channels, `channels/*.yaml`, loaded for the gateway: each file checked as
//! `monstrum validate` checks it, and its secrets read from the vault. A channel that does not
//! load is not served (its hook answers 404) and says why in `monstrum channel list`.

use crate::kinds::Secrets;
use monstrum_core::vault::Vault;
use monstrum_core::workspace::Workspace;
use monstrum_model::Channel;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A channel the gateway serves.
pub struct Live {
    pub channel: Channel,
    pub file: PathBuf,
    pub secrets: Secrets,
    /// The API base URL answers go to, without a trailing `/`.
    pub api: String,
    /// Its access token between answers (kinds that have one).
    pub token: crate::kinds::TokenCache,
    /// Its routes, their conditions compiled.
    pub routes: crate::route::Routes,
}

impl Live {
    /// What its answers and sends go out with.
    pub fn outbound<'a>(&'a self, http: &'a reqwest::Client) -> crate::kinds::Outbound<'a> {
        crate::kinds::Outbound {
            http,
            api: &self.api,
            secrets: &self.secrets,
            callback: self.channel.callback.as_deref(),
            token: Some(&self.token),
        }
    }
}

/// Every channel file of a workspace: those that load, and why the others do not.
#[derive(Default)]
pub struct Channels {
    pub live: BTreeMap<String, Arc<Live>>,
    pub problems: BTreeMap<String, String>,
}

/// Loads every channel of `workspace`.
pub async fn load(workspace: &Workspace, vault: &Vault) -> Channels {
    let mut channels = Channels::default();
    for (name, file) in workspace.channel_files() {
        match load_one(workspace, vault, &name, &file).await {
            Ok(live) => {
                channels.live.insert(name, Arc::new(live));
            }
            Err(e) => {
                channels.problems.insert(name, e);
            }
        }
    }
    channels
}

async fn load_one(workspace: &Workspace, vault: &Vault, name: &str, file: &std::path::Path) -> Result<Live, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (channel, problems) = monstrum_core::check::channel(&text, workspace);
    let Some(channel) = channel else {
        let first = problems.iter().find(|d| !d.is_warning()).map(|d| d.to_string()).unwrap_or_default();
        return Err(format!("{} does not validate: {first}", file.display()));
    };
    if channel.name != name {
        return Err(format!("{} is named `{}`: a channel's name is its file's", file.display(), channel.name));
    }
    let mut secrets = Secrets::default();
    for (role, entry) in &channel.secrets {
        let secret = vault.get(entry).await.map_err(|e| missing_secret(entry, role, &e.to_string()))?;
        secrets.0.insert(role.clone(), Zeroizing::new(secret.expose().to_vec()));
    }
    let api = channel.api.clone().unwrap_or_else(|| crate::kinds::default_api(channel.kind).to_string());
    let routes = crate::route::Routes::compile(&channel.routes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(Live {
        routes,
        api: api.trim_end_matches('/').to_string(),
        channel,
        file: file.to_path_buf(),
        secrets,
        token: Default::default(),
    })
}

/// Why a channel's secret cannot be read.
pub fn missing_secret(entry: &str, role: &str, error: &str) -> String {
    format!("its `{role}` secret, vault entry `{entry}`, cannot be read ({error}): `monstrum vault set {entry}`")
}

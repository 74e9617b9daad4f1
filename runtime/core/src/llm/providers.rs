//! Turns a `model:` reference into a provider, once per run, so the scripted provider's
//! position is shared by every step of the run.

use super::{AnthropicProvider, LlmError, LlmProvider, OpenAiProvider, ScriptedProvider};
use crate::workspace::Workspace;
use monstrum_model::ModelRef;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A provider and what a request to it is recorded as.
#[derive(Clone)]
pub struct Resolved {
    pub provider: Arc<dyn LlmProvider>,
    /// Model name sent.
    pub model: String,
    /// For `scripted`: the script's path relative to the workspace.
    pub script: Option<String>,
}

/// The providers of one run.
pub struct Providers {
    workspace: Arc<Workspace>,
    /// Turns already consumed per script by the finished steps of a resumed run.
    script_starts: HashMap<String, usize>,
    cache: Mutex<HashMap<String, Resolved>>,
}

impl Providers {
    /// Providers for a run; `script_starts` comes from the run's recorded model requests.
    pub fn new(workspace: Arc<Workspace>, script_starts: HashMap<String, usize>) -> Self {
        Providers { workspace, script_starts, cache: Mutex::new(HashMap::new()) }
    }

    /// The provider for `model`.
    pub fn get(&self, model: &ModelRef) -> Result<Resolved, LlmError> {
        let key = format!("{}|{:?}|{:?}|{:?}", model.provider, model.script, model.base_url, model.name);
        let mut cache = self.cache.lock().expect("provider cache");
        if let Some(r) = cache.get(&key) {
            return Ok(r.clone());
        }
        let env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
        let name = || {
            model
                .name
                .clone()
                .ok_or_else(|| LlmError::Config(format!("model of provider `{}` needs a name", model.provider)))
        };
        let resolved = match model.provider.as_str() {
            "scripted" => {
                let script = model
                    .script
                    .clone()
                    .ok_or_else(|| LlmError::Config("the scripted model needs `script:` (a file of turns)".into()))?;
                let start = self.script_starts.get(&script).copied().unwrap_or(0);
                let file = self
                    .workspace
                    .inside(std::path::Path::new(&script))
                    .map_err(|e| LlmError::Config(format!("{e:#}")))?;
                let provider = ScriptedProvider::load(&file, start)?;
                Resolved {
                    provider: Arc::new(provider),
                    model: model.name.clone().unwrap_or_else(|| "scripted".into()),
                    script: Some(script),
                }
            }
            "openai" => {
                let base = model
                    .base_url
                    .clone()
                    .or_else(|| env("OPENAI_BASE_URL"))
                    .unwrap_or_else(|| "https://api.openai.com/v1".into());
                let key = env(model.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY"));
                Resolved { provider: Arc::new(OpenAiProvider::new(base, key)), model: name()?, script: None }
            }
            "anthropic" => {
                let base = model
                    .base_url
                    .clone()
                    .or_else(|| env("ANTHROPIC_BASE_URL"))
                    .unwrap_or_else(|| "https://api.anthropic.com".into());
                let var = model.api_key_env.as_deref().unwrap_or("ANTHROPIC_API_KEY");
                let key = env(var)
                    .ok_or_else(|| LlmError::Config(format!("the anthropic provider needs an API key in ${var}")))?;
                Resolved { provider: Arc::new(AnthropicProvider::new(base, Some(key))), model: name()?, script: None }
            }
            other => {
                return Err(LlmError::Config(format!(
                    "unknown model provider `{other}` (openai, anthropic or scripted)"
                )));
            }
        };
        cache.insert(key, resolved.clone());
        Ok(resolved)
    }
}

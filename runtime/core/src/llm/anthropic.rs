//! Placeholder being replaced by the real anthropic provider.

use super::{ChatRequest, ChatResponse, LlmError, LlmProvider};
use async_trait::async_trait;

/// The anthropic provider.
pub struct AnthropicProvider {
    #[allow(dead_code)]
    base_url: String,
    #[allow(dead_code)]
    api_key: Option<String>,
}

impl AnthropicProvider {
    /// A provider talking to `base_url` with `api_key`.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        AnthropicProvider { base_url: base_url.into(), api_key }
    }
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    async fn complete(&self, _request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        Err(LlmError::Config("not yet implemented".into()))
    }
}

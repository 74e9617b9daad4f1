//! Placeholder being replaced by the real openai provider.

use super::{ChatRequest, ChatResponse, LlmError, LlmProvider};
use async_trait::async_trait;

/// The openai provider.
pub struct OpenAiProvider {
    #[allow(dead_code)]
    base_url: String,
    #[allow(dead_code)]
    api_key: Option<String>,
}

impl OpenAiProvider {
    /// A provider talking to `base_url` with `api_key`.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        OpenAiProvider { base_url: base_url.into(), api_key }
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn complete(&self, _request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        Err(LlmError::Config("not yet implemented".into()))
    }
}

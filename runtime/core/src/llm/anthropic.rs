//! The `anthropic` provider: the Messages API. `base_url` is the API root
//! (`https://api.anthropic.com`); requests go to `{base_url}/v1/messages`.

use super::http::{http_client, send, transport, trim_base_url, truncate};
use super::wire_names::{from_wire, to_wire};
use super::{ChatRequest, ChatResponse, LlmError, LlmProvider, Message, ToolCall, Usage, estimate_usage};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

const PROVIDER: &str = "anthropic";

/// API version sent with every request.
const API_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the Messages API; this is used when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic Messages API.
pub struct AnthropicProvider {
    base_url: String,
    api_key: Option<String>,
    client: Result<reqwest::Client, String>,
}

impl AnthropicProvider {
    /// A provider talking to `base_url` (the API root, e.g. `https://api.anthropic.com`) with
    /// `api_key`, sent as `x-api-key` when given.
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        AnthropicProvider { base_url: trim_base_url(base_url.into()), api_key, client: http_client() }
    }

    /// The JSON body sent for `request`.
    fn body(request: &ChatRequest) -> Value {
        // Roles must alternate: consecutive messages of one role (several tool results, a tool
        // result followed by the user's words) become one message with several blocks.
        let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for message in &request.messages {
            let (role, blocks) = match message {
                Message::User { content } => ("user", text_block(content).into_iter().collect()),
                Message::Assistant { content, tool_calls } => {
                    let mut blocks: Vec<Value> = content.as_deref().and_then(text_block).into_iter().collect();
                    for call in tool_calls {
                        // `input` must be an object; arguments that were not (a malformed call,
                        // denied by the gate) go back empty.
                        let input = if call.arguments.is_object() { call.arguments.clone() } else { json!({}) };
                        blocks.push(json!({
                            "type": "tool_use",
                            "id": call.id,
                            "name": to_wire(&call.name),
                            "input": input,
                        }));
                    }
                    ("assistant", blocks)
                }
                Message::Tool { tool_call_id, content, is_error, .. } => {
                    let mut block = json!({
                        "type": "tool_result",
                        "tool_use_id": tool_call_id,
                        "content": content,
                    });
                    if *is_error {
                        block["is_error"] = Value::Bool(true);
                    }
                    ("user", vec![block])
                }
            };
            if blocks.is_empty() {
                continue;
            }
            match messages.last_mut() {
                Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
                _ => messages.push((role, blocks)),
            }
        }
        let messages: Vec<Value> =
            messages.into_iter().map(|(role, content)| json!({ "role": role, "content": content })).collect();

        let mut body = Map::new();
        body.insert("model".into(), request.model.clone().into());
        body.insert("max_tokens".into(), request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS).into());
        if let Some(system) = request.system.as_deref().filter(|s| !s.is_empty()) {
            body.insert("system".into(), system.into());
        }
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|tool| {
                    let schema = if tool.parameters.is_null() {
                        json!({ "type": "object", "properties": {} })
                    } else {
                        tool.parameters.clone()
                    };
                    json!({
                        "name": to_wire(&tool.name),
                        "description": tool.description,
                        "input_schema": schema,
                    })
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), temperature.into());
        }
        // `json_output`: the Messages API has no JSON mode; the prompt asks for JSON.
        Value::Object(body)
    }

    /// Reads a successful answer.
    fn parse(request: &ChatRequest, answer: &Value) -> Result<ChatResponse, LlmError> {
        let Some(blocks) = answer.get("content").and_then(Value::as_array) else {
            return Err(transport(
                PROVIDER,
                format!("the answer has no content array: {}", truncate(&answer.to_string())),
            ));
        };
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
                Some("tool_use") => tool_calls.push(ToolCall {
                    id: block
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("toolu_{i}")),
                    name: from_wire(block.get("name").and_then(Value::as_str).unwrap_or("")),
                    arguments: block.get("input").cloned().unwrap_or_else(|| json!({})),
                }),
                // Thinking and other blocks are not part of the answer.
                _ => {}
            }
        }
        let text = (!text.is_empty()).then_some(text);

        let usage = answer.get("usage");
        let reported = |field: &str| usage.and_then(|u| u.get(field)).and_then(Value::as_u64);
        let estimate = estimate_usage(request, text.as_deref(), &tool_calls);
        let input_tokens = match reported("input_tokens") {
            // Cached prompt tokens are reported apart; they are still prompt.
            Some(n) => {
                n + reported("cache_creation_input_tokens").unwrap_or(0)
                    + reported("cache_read_input_tokens").unwrap_or(0)
            }
            None => estimate.input_tokens,
        };
        let usage = Usage { input_tokens, output_tokens: reported("output_tokens").unwrap_or(estimate.output_tokens) };
        Ok(ChatResponse { text, tool_calls, usage })
    }
}

/// A text block; empty text is not allowed in a block.
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({ "type": "text", "text": text }))
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let client = self.client.as_ref().map_err(|e| LlmError::Config(e.clone()))?;
        let url = format!("{}/v1/messages", self.base_url);
        let mut builder = client.post(&url).header("anthropic-version", API_VERSION).json(&Self::body(request));
        if let Some(key) = &self.api_key {
            let mut value = reqwest::header::HeaderValue::from_str(key).map_err(|_| {
                LlmError::Config("the Anthropic API key contains characters not allowed in a header".into())
            })?;
            value.set_sensitive(true);
            builder = builder.header("x-api-key", value);
        }
        tracing::debug!(provider = PROVIDER, model = %request.model, %url, tools = request.tools.len(), "model request");
        let answer = send(PROVIDER, builder, self.api_key.as_deref()).await?;
        Self::parse(request, &answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;

    #[test]
    fn tool_results_merge_into_one_user_message() {
        let request = ChatRequest {
            model: "m".into(),
            messages: vec![
                Message::User { content: "go".into() },
                Message::Assistant {
                    content: None,
                    tool_calls: vec![
                        ToolCall { id: "a".into(), name: "core.echo".into(), arguments: json!({ "x": 1 }) },
                        ToolCall { id: "b".into(), name: "core.wait".into(), arguments: json!("{bad") },
                    ],
                },
                Message::Tool {
                    tool_call_id: "a".into(),
                    name: "core.echo".into(),
                    content: "{\"x\":1}".into(),
                    is_error: false,
                },
                Message::Tool {
                    tool_call_id: "b".into(),
                    name: "core.wait".into(),
                    content: "denied".into(),
                    is_error: true,
                },
                Message::User { content: "and now?".into() },
            ],
            tools: vec![std::sync::Arc::new(ToolSpec {
                name: "core.echo".into(),
                description: "echo".into(),
                parameters: Value::Null,
            })],
            ..Default::default()
        };
        let body = AnthropicProvider::body(&request);
        assert_eq!(body["max_tokens"], 4096);
        assert!(body.get("system").is_none());
        assert_eq!(body["tools"][0]["name"], "core__echo");
        assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(messages[1]["content"][1]["input"], json!({}));
        assert_eq!(messages[2]["role"], "user");
        let blocks = messages[2]["content"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0]["tool_use_id"], "a");
        assert!(blocks[0].get("is_error").is_none());
        assert_eq!(blocks[1]["is_error"], true);
        assert_eq!(blocks[2], json!({ "type": "text", "text": "and now?" }));
    }
}

//! The `openai` provider: any server speaking the OpenAI chat-completions format (OpenAI,
//! DeepSeek, vLLM, Ollama, ...). `base_url` is the API root (`https://api.openai.com/v1`,
//! `http://localhost:11434/v1`); requests go to `{base_url}/chat/completions`.

use super::http::{http_client, send, transport, trim_base_url, truncate};
use super::wire_names::{from_wire, to_wire};
use super::{ChatRequest, ChatResponse, LlmError, LlmProvider, Message, ToolCall, Usage, estimate_usage};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

const PROVIDER: &str = "openai";

/// An OpenAI-compatible chat-completions server.
pub struct OpenAiProvider {
    base_url: String,
    api_key: Option<String>,
    client: Result<reqwest::Client, String>,
}

impl OpenAiProvider {
    /// A provider talking to `base_url` (the API root, e.g. `https://api.openai.com/v1`) with
    /// `api_key`, sent as a bearer token when given (local servers need none).
    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> Self {
        OpenAiProvider { base_url: trim_base_url(base_url.into()), api_key, client: http_client() }
    }

    /// The JSON body sent for `request`.
    fn body(request: &ChatRequest) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &request.system {
            messages.push(json!({ "role": "system", "content": system }));
        }
        for message in &request.messages {
            messages.push(match message {
                Message::User { content } => json!({ "role": "user", "content": content }),
                Message::Assistant { content, tool_calls } => {
                    let mut m = Map::new();
                    m.insert("role".into(), "assistant".into());
                    // `null` content is allowed only next to tool calls.
                    let content = match content {
                        Some(text) => Value::String(text.clone()),
                        None if !tool_calls.is_empty() => Value::Null,
                        None => Value::String(String::new()),
                    };
                    m.insert("content".into(), content);
                    if !tool_calls.is_empty() {
                        let calls = tool_calls
                            .iter()
                            .map(|call| {
                                json!({
                                    "id": call.id,
                                    "type": "function",
                                    "function": {
                                        "name": to_wire(&call.name),
                                        "arguments": arguments_string(&call.arguments),
                                    },
                                })
                            })
                            .collect();
                        m.insert("tool_calls".into(), Value::Array(calls));
                    }
                    Value::Object(m)
                }
                Message::Tool { tool_call_id, content, .. } => {
                    json!({ "role": "tool", "tool_call_id": tool_call_id, "content": content })
                }
            });
        }

        let mut body = Map::new();
        body.insert("model".into(), request.model.clone().into());
        body.insert("messages".into(), Value::Array(messages));
        if !request.tools.is_empty() {
            let tools = request
                .tools
                .iter()
                .map(|tool| {
                    let mut function = Map::new();
                    function.insert("name".into(), to_wire(&tool.name).into());
                    function.insert("description".into(), tool.description.clone().into());
                    if !tool.parameters.is_null() {
                        function.insert("parameters".into(), tool.parameters.clone());
                    }
                    json!({ "type": "function", "function": function })
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            body.insert("tool_choice".into(), "auto".into());
        }
        if let Some(max_tokens) = request.max_tokens {
            body.insert("max_tokens".into(), max_tokens.into());
        }
        if let Some(temperature) = request.temperature {
            body.insert("temperature".into(), temperature.into());
        }
        if request.json_output {
            body.insert("response_format".into(), json!({ "type": "json_object" }));
        }
        Value::Object(body)
    }

    /// Reads a successful answer.
    fn parse(request: &ChatRequest, answer: &Value) -> Result<ChatResponse, LlmError> {
        let Some(message) = answer.pointer("/choices/0/message") else {
            return Err(transport(
                PROVIDER,
                format!("the answer has no choices[0].message: {}", truncate(&answer.to_string())),
            ));
        };

        let text = match message.get("content") {
            Some(Value::String(s)) => Some(s.clone()),
            // Some servers answer with content parts.
            Some(Value::Array(parts)) => {
                Some(parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<String>())
            }
            _ => None,
        }
        .filter(|s| !s.is_empty())
        .or_else(|| message.get("refusal").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned));

        let mut tool_calls = Vec::new();
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            for (i, call) in calls.iter().enumerate() {
                let function = call.get("function").unwrap_or(&Value::Null);
                let name = function.get("name").and_then(Value::as_str).unwrap_or("");
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("call_{i}"));
                let arguments = match function.get("arguments") {
                    Some(Value::String(raw)) => parse_arguments(raw),
                    // Lenient servers send the object itself.
                    Some(other) => other.clone(),
                    None => json!({}),
                };
                tool_calls.push(ToolCall { id, name: from_wire(name), arguments });
            }
        }

        let reported = |field: &str| answer.pointer(&format!("/usage/{field}")).and_then(Value::as_u64);
        let estimate = estimate_usage(request, text.as_deref(), &tool_calls);
        let usage = Usage {
            input_tokens: reported("prompt_tokens").unwrap_or(estimate.input_tokens),
            output_tokens: reported("completion_tokens").unwrap_or(estimate.output_tokens),
        };
        Ok(ChatResponse { text, tool_calls, usage })
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        PROVIDER
    }

    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let client = self.client.as_ref().map_err(|e| LlmError::Config(e.clone()))?;
        let url = format!("{}/chat/completions", self.base_url);
        let mut builder = client.post(&url).json(&Self::body(request));
        if let Some(key) = &self.api_key {
            // `bearer_auth` marks the header sensitive.
            builder = builder.bearer_auth(key);
        }
        tracing::debug!(provider = PROVIDER, model = %request.model, %url, tools = request.tools.len(), "model request");
        let answer = send(PROVIDER, builder, self.api_key.as_deref()).await?;
        Self::parse(request, &answer)
    }
}

/// Arguments of a call made earlier, as the JSON string OpenAI expects. Arguments kept as a
/// string (the model sent something that was not JSON) go back as the model sent them.
fn arguments_string(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

/// Arguments as the model sent them: parsed JSON, or the raw text as a JSON string when it is
/// not JSON, so that the gate denies the call. An empty string (a call without arguments, as
/// some servers send it) is an empty object.
fn parse_arguments(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_that_are_not_json_stay_a_string() {
        assert_eq!(parse_arguments(r#"{"a":1}"#), json!({ "a": 1 }));
        assert_eq!(parse_arguments("{oops"), json!("{oops"));
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(arguments_string(&json!("{oops")), "{oops");
        assert_eq!(arguments_string(&json!({ "a": 1 })), r#"{"a":1}"#);
    }
}

//! The `openai` and `anthropic` providers against local HTTP servers that speak each wire
//! format: real sockets on loopback, no mocked client. Each fake server records what it received
//! (path, headers, body), checks the request the way the real API would (answering 400 with the
//! API's error JSON when it is malformed), and answers from a queue.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use monstrum_core::llm::{
    AnthropicProvider, ChatRequest, LlmError, LlmProvider, Message, OpenAiProvider, ToolCall, ToolSpec,
};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

// ---------------------------------------------------------------------------------------------
// The fake server.

#[derive(Clone, Copy)]
enum Flavor {
    OpenAi,
    Anthropic,
}

#[derive(Clone)]
struct Fake {
    flavor: Flavor,
    /// `{path, headers, body}` of every request, in order.
    received: Arc<Mutex<Vec<Value>>>,
    /// Answers, in order: status and body.
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl Fake {
    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    fn answer(&self, status: u16, body: impl Into<String>) {
        self.answers.lock().unwrap().push_back((status, body.into()));
    }

    fn answer_json(&self, body: Value) {
        self.answer(200, body.to_string());
    }
}

/// Starts a server for `flavor` on 127.0.0.1:0 and returns it with its `http://addr`.
async fn start(flavor: Flavor) -> (Fake, String) {
    let fake = Fake { flavor, received: Arc::default(), answers: Arc::default() };
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (fake, format!("http://{addr}"))
}

async fn handle(State(fake): State<Fake>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.to_str().unwrap_or("?").to_owned())))
        .collect();
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    fake.received.lock().unwrap().push(json!({
        "path": uri.path(),
        "headers": header_map,
        "body": parsed.as_ref().ok().cloned().unwrap_or(Value::Null),
    }));

    let expected_path = match fake.flavor {
        Flavor::OpenAi => "/v1/chat/completions",
        Flavor::Anthropic => "/v1/messages",
    };
    let check = if uri.path() != expected_path {
        Err((404, format!("no route {}", uri.path())))
    } else {
        match parsed {
            Err(e) => Err((400, format!("body is not JSON: {e}"))),
            Ok(body) => match fake.flavor {
                Flavor::OpenAi => check_openai(&headers, &body).map_err(|m| (400, m)),
                Flavor::Anthropic => check_anthropic(&headers, &body),
            },
        }
    };
    if let Err((status, message)) = check {
        let error = match fake.flavor {
            Flavor::OpenAi => {
                json!({ "error": { "message": message, "type": "invalid_request_error" } })
            }
            Flavor::Anthropic => {
                json!({ "type": "error", "error": { "type": "invalid_request_error", "message": message } })
            }
        };
        return (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], error.to_string())
            .into_response();
    }

    let (status, body) =
        fake.answers.lock().unwrap().pop_front().unwrap_or((500, "the fake server has no answer left".into()));
    let content_type = if serde_json::from_str::<Value>(&body).is_ok() { "application/json" } else { "text/plain" };
    (StatusCode::from_u16(status).unwrap(), [("content-type", content_type)], body).into_response()
}

/// Tool names the real APIs accept.
fn valid_wire_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

/// What the chat-completions API checks, roughly.
fn check_openai(headers: &HeaderMap, body: &Value) -> Result<(), String> {
    if !is_json(headers) {
        return Err("content-type must be application/json".into());
    }
    body["model"].as_str().ok_or("model is required")?;
    let messages = body["messages"].as_array().ok_or("messages is required")?;
    let mut open_calls: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("system") | Some("user") => {
                m["content"].as_str().ok_or(format!("messages[{i}].content must be a string"))?;
            }
            Some("assistant") => {
                if !(m["content"].is_string() || m["content"].is_null()) {
                    return Err(format!("messages[{i}].content must be a string or null"));
                }
                if let Some(calls) = m.get("tool_calls") {
                    let calls = calls.as_array().ok_or("tool_calls must be an array")?;
                    if calls.is_empty() {
                        return Err(format!("messages[{i}].tool_calls: [] is too short"));
                    }
                    for call in calls {
                        let id = call["id"].as_str().ok_or("tool call id is required")?;
                        if call["type"] != "function" {
                            return Err("tool call type must be function".into());
                        }
                        let name = call["function"]["name"].as_str().unwrap_or("");
                        if !valid_wire_name(name) {
                            return Err(format!("invalid tool call name {name:?}"));
                        }
                        call["function"]["arguments"].as_str().ok_or("arguments must be a string")?;
                        open_calls.insert(id.to_owned());
                    }
                } else if m["content"].is_null() {
                    return Err(format!("messages[{i}]: content is required without tool_calls"));
                }
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().ok_or(format!("messages[{i}].tool_call_id is required"))?;
                if !open_calls.remove(id) {
                    return Err(format!("messages[{i}]: tool_call_id {id} answers no tool call"));
                }
                m["content"].as_str().ok_or(format!("messages[{i}].content must be a string"))?;
            }
            other => return Err(format!("messages[{i}]: invalid role {other:?}")),
        }
    }
    if let Some(tools) = body.get("tools") {
        for tool in tools.as_array().ok_or("tools must be an array")? {
            if tool["type"] != "function" {
                return Err("tool type must be function".into());
            }
            let name = tool["function"]["name"].as_str().unwrap_or("");
            if !valid_wire_name(name) {
                return Err(format!("Invalid 'tools[].function.name': {name:?}"));
            }
        }
    } else if body.get("tool_choice").is_some() {
        return Err("tool_choice is only allowed when tools are specified".into());
    }
    Ok(())
}

/// What the Messages API checks, roughly; the status is 400, or 401 without `x-api-key`.
fn check_anthropic(headers: &HeaderMap, body: &Value) -> Result<(), (u16, String)> {
    let bad = |m: String| (400, m);
    if headers.get("anthropic-version").is_none() {
        return Err(bad("anthropic-version: header is required".into()));
    }
    if !is_json(headers) {
        return Err(bad("content-type must be application/json".into()));
    }
    body["model"].as_str().ok_or(bad("model: Field required".into()))?;
    body["max_tokens"].as_u64().ok_or(bad("max_tokens: Field required".into()))?;
    if let Some(system) = body.get("system") {
        system.as_str().ok_or(bad("system must be a string".into()))?;
    }
    let messages = body["messages"].as_array().ok_or(bad("messages: Field required".into()))?;
    let mut pending_tool_uses: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if role != expected {
            return Err(bad(format!("messages: roles must alternate, messages[{i}] is {role:?}")));
        }
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({ "type": "text", "text": s })],
            Value::Array(blocks) if !blocks.is_empty() => blocks.clone(),
            _ => {
                return Err(bad(format!("messages[{i}].content must be a string or blocks")));
            }
        };
        let mut answered: Vec<String> = Vec::new();
        let mut tool_uses: Vec<String> = Vec::new();
        for block in &blocks {
            match (role, block["type"].as_str()) {
                (_, Some("text")) => {
                    if block["text"].as_str().unwrap_or("").is_empty() {
                        return Err(bad("text content blocks must be non-empty".into()));
                    }
                }
                ("assistant", Some("tool_use")) => {
                    let name = block["name"].as_str().unwrap_or("");
                    if !valid_wire_name(name) {
                        return Err(bad(format!("invalid tool_use name {name:?}")));
                    }
                    if !block["input"].is_object() {
                        return Err(bad("tool_use.input must be an object".into()));
                    }
                    tool_uses.push(block["id"].as_str().ok_or(bad("tool_use.id is required".into()))?.to_owned());
                }
                ("user", Some("tool_result")) => {
                    answered
                        .push(block["tool_use_id"].as_str().ok_or(bad("tool_use_id is required".into()))?.to_owned());
                }
                (role, kind) => {
                    return Err(bad(format!("messages[{i}]: block {kind:?} not allowed in a {role} message")));
                }
            }
        }
        if role == "user" {
            for id in &answered {
                if !pending_tool_uses.contains(id) {
                    return Err(bad(format!("tool_result block(s) provided for unknown tool_use_id {id}")));
                }
            }
            if let Some(missing) = pending_tool_uses.iter().find(|id| !answered.contains(id)) {
                return Err(bad(format!("tool_use ids were found without tool_result blocks: {missing}")));
            }
            pending_tool_uses.clear();
        } else {
            pending_tool_uses = tool_uses;
        }
    }
    if let Some(tools) = body.get("tools") {
        for tool in tools.as_array().ok_or(bad("tools must be an array".into()))? {
            let name = tool["name"].as_str().unwrap_or("");
            if !valid_wire_name(name) {
                return Err(bad(format!("tools.0.custom.name: String should match pattern, got {name:?}")));
            }
            if tool["input_schema"]["type"] != "object" {
                return Err(bad("tools.0.custom.input_schema.type: Field required".into()));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Requests used by the tests.

fn echo_tool() -> ToolSpec {
    ToolSpec {
        name: "core.echo".into(),
        description: "Returns its arguments.".into(),
        parameters: json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"],
        }),
    }
}

fn simple_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: Some("You are terse.".into()),
        messages: vec![Message::User { content: "Say hello.".into() }],
        ..Default::default()
    }
}

fn tool_request() -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        system: Some("Use the tools.".into()),
        messages: vec![Message::User { content: "Echo 'hi'.".into() }],
        tools: vec![std::sync::Arc::new(echo_tool())],
        max_tokens: Some(256),
        temperature: Some(0.2),
        ..Default::default()
    }
}

fn header<'a>(received: &'a Value, name: &str) -> Option<&'a str> {
    received["headers"][name].as_str()
}

// ---------------------------------------------------------------------------------------------
// OpenAI.

#[tokio::test]
async fn openai_plain_text_with_usage() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer_json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": "Hello." },
            "finish_reason": "stop",
        }],
        "usage": { "prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20 },
    }));
    // A trailing slash on the API root is trimmed.
    let provider = OpenAiProvider::new(format!("{url}/v1/"), Some("sk-test".into()));
    assert_eq!(provider.name(), "openai");

    let response = provider.complete(&simple_request()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("Hello."));
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.usage.input_tokens, 17);
    assert_eq!(response.usage.output_tokens, 3);

    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["path"], "/v1/chat/completions");
    let body = &received[0]["body"];
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": "You are terse." },
            { "role": "user", "content": "Say hello." },
        ])
    );
    // Nothing that was not asked for.
    for absent in ["tools", "tool_choice", "max_tokens", "temperature", "response_format"] {
        assert!(body.get(absent).is_none(), "{absent} was sent: {body}");
    }
}

#[tokio::test]
async fn openai_tool_call_round_trip() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer_json(json!({
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_abc",
                    "type": "function",
                    "function": { "name": "core__echo", "arguments": "{\"text\":\"hi\"}" },
                }],
            },
            "finish_reason": "tool_calls",
        }],
        "usage": { "prompt_tokens": 50, "completion_tokens": 12 },
    }));
    fake.answer_json(json!({
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Echoed: hi" }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 80, "completion_tokens": 4 },
    }));
    let provider = OpenAiProvider::new(format!("{url}/v1"), Some("sk-test".into()));

    let mut request = tool_request();
    let first = provider.complete(&request).await.unwrap();
    assert_eq!(first.text, None);
    assert_eq!(
        first.tool_calls,
        vec![ToolCall { id: "call_abc".into(), name: "core.echo".into(), arguments: json!({ "text": "hi" }) }]
    );
    assert!(first.tool_calls[0].arguments.is_object());

    request.messages.push(Message::Assistant { content: None, tool_calls: first.tool_calls.clone() });
    request.messages.push(Message::Tool {
        tool_call_id: "call_abc".into(),
        name: "core.echo".into(),
        content: "{\"text\":\"hi\"}".into(),
        is_error: false,
    });
    let second = provider.complete(&request).await.unwrap();
    assert_eq!(second.text.as_deref(), Some("Echoed: hi"));
    assert!(second.tool_calls.is_empty());
    assert_eq!(second.usage.input_tokens, 80);

    let received = fake.received();
    assert_eq!(received.len(), 2);
    for r in &received {
        let body = &r["body"];
        assert_eq!(
            body["tools"],
            json!([{
                "type": "function",
                "function": {
                    "name": "core__echo",
                    "description": "Returns its arguments.",
                    "parameters": echo_tool().parameters,
                },
            }])
        );
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["max_tokens"], 256);
        assert_eq!(body["temperature"], 0.2);
    }
    let messages = received[1]["body"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(
        messages[2],
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_abc",
                "type": "function",
                "function": { "name": "core__echo", "arguments": "{\"text\":\"hi\"}" },
            }],
        })
    );
    assert_eq!(messages[3], json!({ "role": "tool", "tool_call_id": "call_abc", "content": "{\"text\":\"hi\"}" }));
}

#[tokio::test]
async fn openai_arguments_that_are_not_json_are_kept_as_a_string() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer_json(json!({
        "choices": [{
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{
                    "id": "call_1",
                    "type": "function",
                    "function": { "name": "core__echo", "arguments": "{\"text\": \"hi\"" },
                }],
            },
        }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 5 },
    }));
    let provider = OpenAiProvider::new(format!("{url}/v1"), None);
    let response = provider.complete(&tool_request()).await.unwrap();
    assert_eq!(response.text, None, "empty content is no text");
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(response.tool_calls[0].name, "core.echo");
    assert_eq!(response.tool_calls[0].arguments, json!("{\"text\": \"hi\""));
}

#[tokio::test]
async fn openai_json_output_asks_for_a_json_object() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer_json(json!({
        "choices": [{ "message": { "role": "assistant", "content": "{\"ok\":true}" } }],
        "usage": { "prompt_tokens": 5, "completion_tokens": 5 },
    }));
    let provider = OpenAiProvider::new(format!("{url}/v1"), None);
    let request = ChatRequest { json_output: true, ..simple_request() };
    let response = provider.complete(&request).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("{\"ok\":true}"));
    assert_eq!(fake.received()[0]["body"]["response_format"], json!({ "type": "json_object" }));
}

#[tokio::test]
async fn openai_errors_become_api_errors() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer(
        401,
        json!({ "error": { "message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key" } })
            .to_string(),
    );
    fake.answer(500, "upstream exploded");
    let provider = OpenAiProvider::new(format!("{url}/v1"), Some("sk-wrong".into()));

    match provider.complete(&simple_request()).await {
        Err(LlmError::Api { provider, status, message }) => {
            assert_eq!(provider, "openai");
            assert_eq!(status, 401);
            assert_eq!(message, "Incorrect API key provided.");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    match provider.complete(&simple_request()).await {
        Err(LlmError::Api { status, message, .. }) => {
            assert_eq!(status, 500);
            assert_eq!(message, "upstream exploded");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn openai_long_plain_error_bodies_are_truncated() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer(502, "é".repeat(5000));
    let provider = OpenAiProvider::new(format!("{url}/v1"), None);
    match provider.complete(&simple_request()).await {
        Err(LlmError::Api { status, message, .. }) => {
            assert_eq!(status, 502);
            assert!(message.starts_with("ééé"));
            assert!(message.chars().count() <= 510, "{} chars", message.chars().count());
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn openai_bearer_header_only_with_a_key() {
    let (fake, url) = start(Flavor::OpenAi).await;
    for _ in 0..2 {
        fake.answer_json(json!({
            "choices": [{ "message": { "role": "assistant", "content": "ok" } }],
            "usage": { "prompt_tokens": 1, "completion_tokens": 1 },
        }));
    }
    OpenAiProvider::new(format!("{url}/v1"), Some("sk-secret-123".into())).complete(&simple_request()).await.unwrap();
    OpenAiProvider::new(format!("{url}/v1"), None).complete(&simple_request()).await.unwrap();

    let received = fake.received();
    assert_eq!(header(&received[0], "authorization"), Some("Bearer sk-secret-123"));
    assert_eq!(header(&received[1], "authorization"), None);
    for r in &received {
        assert!(header(r, "content-type").unwrap().starts_with("application/json"));
        assert!(header(r, "x-api-key").is_none());
    }
}

#[tokio::test]
async fn openai_missing_usage_is_estimated() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer_json(json!({
        "choices": [{ "message": { "role": "assistant", "content": "A fairly long answer without usage." } }],
    }));
    let provider = OpenAiProvider::new(format!("{url}/v1"), None);
    let response = provider.complete(&simple_request()).await.unwrap();
    assert!(response.usage.input_tokens > 0, "{:?}", response.usage);
    assert!(response.usage.output_tokens > 0, "{:?}", response.usage);
}

#[tokio::test]
async fn openai_unreachable_server_is_a_transport_error() {
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let provider = OpenAiProvider::new(format!("http://{addr}/v1"), Some("sk-secret-123".into()));
    match provider.complete(&simple_request()).await {
        Err(LlmError::Transport { provider, message }) => {
            assert_eq!(provider, "openai");
            assert!(!message.contains("sk-secret-123"));
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

#[tokio::test]
async fn openai_answer_that_is_not_json_is_a_transport_error() {
    let (fake, url) = start(Flavor::OpenAi).await;
    fake.answer(200, "<html>proxy login</html>");
    let provider = OpenAiProvider::new(format!("{url}/v1"), None);
    match provider.complete(&simple_request()).await {
        Err(LlmError::Transport { message, .. }) => {
            assert!(message.contains("proxy login"), "{message}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic.

#[tokio::test]
async fn anthropic_plain_text_with_usage() {
    let (fake, url) = start(Flavor::Anthropic).await;
    fake.answer_json(json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "test-model",
        "content": [{ "type": "text", "text": "Hello." }],
        "stop_reason": "end_turn",
        "usage": { "input_tokens": 21, "output_tokens": 4 },
    }));
    let provider = AnthropicProvider::new(format!("{url}/"), Some("sk-ant-test".into()));
    assert_eq!(provider.name(), "anthropic");

    let response = provider.complete(&simple_request()).await.unwrap();
    assert_eq!(response.text.as_deref(), Some("Hello."));
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.usage.input_tokens, 21);
    assert_eq!(response.usage.output_tokens, 4);

    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["path"], "/v1/messages");
    let body = &received[0]["body"];
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_tokens"], 4096, "max_tokens is required: a default is sent");
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["messages"], json!([{ "role": "user", "content": [{ "type": "text", "text": "Say hello." }] }]));
    for absent in ["tools", "temperature", "response_format", "tool_choice"] {
        assert!(body.get(absent).is_none(), "{absent} was sent: {body}");
    }
}

#[tokio::test]
async fn anthropic_tool_call_round_trip() {
    let (fake, url) = start(Flavor::Anthropic).await;
    // Two calls in one turn: their results must come back in one user message.
    fake.answer_json(json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [
            { "type": "text", "text": "Echoing twice." },
            { "type": "tool_use", "id": "toolu_1", "name": "core__echo", "input": { "text": "hi" } },
            { "type": "tool_use", "id": "toolu_2", "name": "core__echo", "input": { "text": "ho" } },
        ],
        "stop_reason": "tool_use",
        "usage": { "input_tokens": 60, "output_tokens": 30 },
    }));
    fake.answer_json(json!({
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "content": [{ "type": "text", "text": "Done." }],
        "stop_reason": "end_turn",
        "usage": { "input_tokens": 90, "output_tokens": 2, "cache_read_input_tokens": 10 },
    }));
    let provider = AnthropicProvider::new(url, Some("sk-ant-test".into()));

    let mut request = tool_request();
    let first = provider.complete(&request).await.unwrap();
    assert_eq!(first.text.as_deref(), Some("Echoing twice."));
    assert_eq!(
        first.tool_calls,
        vec![
            ToolCall { id: "toolu_1".into(), name: "core.echo".into(), arguments: json!({ "text": "hi" }) },
            ToolCall { id: "toolu_2".into(), name: "core.echo".into(), arguments: json!({ "text": "ho" }) },
        ]
    );
    assert_eq!(first.usage.input_tokens, 60);
    assert_eq!(first.usage.output_tokens, 30);

    request.messages.push(Message::Assistant { content: first.text.clone(), tool_calls: first.tool_calls.clone() });
    request.messages.push(Message::Tool {
        tool_call_id: "toolu_1".into(),
        name: "core.echo".into(),
        content: "{\"text\":\"hi\"}".into(),
        is_error: false,
    });
    request.messages.push(Message::Tool {
        tool_call_id: "toolu_2".into(),
        name: "core.echo".into(),
        content: "denied: not allowed".into(),
        is_error: true,
    });
    let second = provider.complete(&request).await.unwrap();
    assert_eq!(second.text.as_deref(), Some("Done."));
    assert_eq!(second.usage.input_tokens, 100, "cached prompt tokens count as input");

    let received = fake.received();
    assert_eq!(received.len(), 2);
    for r in &received {
        let body = &r["body"];
        assert_eq!(
            body["tools"],
            json!([{
                "name": "core__echo",
                "description": "Returns its arguments.",
                "input_schema": echo_tool().parameters,
            }])
        );
        assert_eq!(body["max_tokens"], 256);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["system"], "Use the tools.");
    }
    assert_eq!(
        received[1]["body"]["messages"],
        json!([
            { "role": "user", "content": [{ "type": "text", "text": "Echo 'hi'." }] },
            { "role": "assistant", "content": [
                { "type": "text", "text": "Echoing twice." },
                { "type": "tool_use", "id": "toolu_1", "name": "core__echo", "input": { "text": "hi" } },
                { "type": "tool_use", "id": "toolu_2", "name": "core__echo", "input": { "text": "ho" } },
            ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"text\":\"hi\"}" },
                { "type": "tool_result", "tool_use_id": "toolu_2", "content": "denied: not allowed", "is_error": true },
            ] },
        ])
    );
}

#[tokio::test]
async fn anthropic_errors_become_api_errors() {
    let (fake, url) = start(Flavor::Anthropic).await;
    fake.answer(
        401,
        json!({ "type": "error", "error": { "type": "authentication_error", "message": "invalid x-api-key" } })
            .to_string(),
    );
    fake.answer(500, "upstream exploded");
    // A server that echoes the key back: it must not reach the error message.
    fake.answer(
        403,
        json!({ "type": "error", "error": { "type": "permission_error", "message": "key sk-ant-secret-9 is disabled" } })
            .to_string(),
    );
    let provider = AnthropicProvider::new(url, Some("sk-ant-secret-9".into()));

    match provider.complete(&simple_request()).await {
        Err(LlmError::Api { provider, status, message }) => {
            assert_eq!(provider, "anthropic");
            assert_eq!(status, 401);
            assert_eq!(message, "invalid x-api-key");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    match provider.complete(&simple_request()).await {
        Err(LlmError::Api { status, message, .. }) => {
            assert_eq!(status, 500);
            assert_eq!(message, "upstream exploded");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    match provider.complete(&simple_request()).await {
        Err(error @ LlmError::Api { status: 403, .. }) => {
            let text = error.to_string();
            assert!(!text.contains("sk-ant-secret-9"), "{text}");
            assert!(text.contains("is disabled"), "{text}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn anthropic_headers() {
    let (fake, url) = start(Flavor::Anthropic).await;
    for _ in 0..2 {
        fake.answer_json(json!({
            "content": [{ "type": "text", "text": "ok" }],
            "usage": { "input_tokens": 1, "output_tokens": 1 },
        }));
    }
    AnthropicProvider::new(url.clone(), Some("sk-ant-secret-123".into())).complete(&simple_request()).await.unwrap();
    AnthropicProvider::new(url, None).complete(&simple_request()).await.unwrap();

    let received = fake.received();
    assert_eq!(header(&received[0], "x-api-key"), Some("sk-ant-secret-123"));
    assert_eq!(header(&received[1], "x-api-key"), None);
    for r in &received {
        assert_eq!(header(r, "anthropic-version"), Some("2023-06-01"));
        assert!(header(r, "content-type").unwrap().starts_with("application/json"));
        assert!(header(r, "authorization").is_none(), "no bearer token for Anthropic");
    }
}

#[tokio::test]
async fn anthropic_missing_usage_is_estimated() {
    let (fake, url) = start(Flavor::Anthropic).await;
    fake.answer_json(json!({
        "content": [
            { "type": "tool_use", "id": "toolu_9", "name": "core__echo", "input": { "text": "no usage here" } },
        ],
    }));
    let provider = AnthropicProvider::new(url, None);
    let response = provider.complete(&tool_request()).await.unwrap();
    assert_eq!(response.tool_calls[0].name, "core.echo");
    assert!(response.usage.input_tokens > 0, "{:?}", response.usage);
    assert!(response.usage.output_tokens > 0, "{:?}", response.usage);
}

#[tokio::test]
async fn anthropic_json_output_adds_nothing() {
    let (fake, url) = start(Flavor::Anthropic).await;
    fake.answer_json(json!({
        "content": [{ "type": "text", "text": "{\"ok\":true}" }],
        "usage": { "input_tokens": 3, "output_tokens": 3 },
    }));
    let provider = AnthropicProvider::new(url, None);
    let request = ChatRequest { json_output: true, ..simple_request() };
    provider.complete(&request).await.unwrap();
    let body = &fake.received()[0]["body"];
    let keys: HashSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["model", "max_tokens", "system", "messages"]));
}

// ---------------------------------------------------------------------------------------------
// The fake servers' checks are live: a conversation the real APIs would refuse is refused.

#[tokio::test]
async fn fake_servers_refuse_malformed_conversations() {
    // A tool result that answers no call.
    let orphan = ChatRequest {
        messages: vec![
            Message::User { content: "hi".into() },
            Message::Tool {
                tool_call_id: "nope".into(),
                name: "core.echo".into(),
                content: "x".into(),
                is_error: false,
            },
        ],
        ..simple_request()
    };

    let (fake, url) = start(Flavor::OpenAi).await;
    match OpenAiProvider::new(format!("{url}/v1"), None).complete(&orphan).await {
        Err(LlmError::Api { status: 400, message, .. }) => {
            assert!(message.contains("answers no tool call"), "{message}")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(fake.received().len(), 1);

    let (_fake, url) = start(Flavor::Anthropic).await;
    match AnthropicProvider::new(url, None).complete(&orphan).await {
        Err(LlmError::Api { status: 400, message, .. }) => {
            assert!(message.contains("unknown tool_use_id nope"), "{message}")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

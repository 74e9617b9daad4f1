//! A local server speaking a hosted model's wire format (OpenAI's chat completions, Anthropic's
//! messages): it records every request and answers with the queued responses, in order.

#![allow(dead_code)]

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What the fake server received, and what it answers, in order.
#[derive(Clone, Default)]
pub struct Server {
    pub received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    pub answers: Arc<Mutex<Vec<(StatusCode, Value)>>>,
}

async fn answer(State(s): State<Server>, headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    s.received.lock().unwrap().push((headers, body));
    let mut answers = s.answers.lock().unwrap();
    let (status, body) = if answers.is_empty() {
        (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": {"message": "no more answers"}}))
    } else {
        answers.remove(0)
    };
    (status, Json(body))
}

/// Serves `path` on a loopback port in a background thread; returns the base URL.
pub fn serve(path: &'static str, server: Server) -> String {
    crate::common::serve(Router::new().route(path, post(answer)).with_state(server))
}

/// An OpenAI chat completion that calls `calls` (name, arguments) with tokens used.
pub fn openai_tool_calls(calls: &[(&str, Value)]) -> (StatusCode, Value) {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({ "id": format!("call_{i}"), "type": "function",
                    "function": { "name": name, "arguments": args.to_string() } })
        })
        .collect();
    (
        StatusCode::OK,
        json!({
            "choices": [{ "message": { "role": "assistant", "content": null, "tool_calls": calls }, "finish_reason": "tool_calls" }],
            "usage": { "prompt_tokens": 50, "completion_tokens": 9 }
        }),
    )
}

/// An OpenAI chat completion answering `text`.
pub fn openai_text(text: &str) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({
            "choices": [{ "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 80, "completion_tokens": 7 }
        }),
    )
}

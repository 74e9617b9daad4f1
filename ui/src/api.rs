//! The API, from the browser: the token in session storage, and JSON calls with it.

use gloo_net::http::{Method, RequestBuilder};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

const TOKEN_KEY: &str = "monstrum.token";

fn storage() -> Option<web_sys::Storage> {
    window().session_storage().ok().flatten()
}

/// The token this tab signed in with.
pub fn stored_token() -> Option<String> {
    storage()?.get_item(TOKEN_KEY).ok().flatten().filter(|t| !t.is_empty())
}

/// Keeps (or forgets) the tab's token.
pub fn store_token(token: Option<&str>) {
    if let Some(s) = storage() {
        let _ = match token {
            Some(t) => s.set_item(TOKEN_KEY, t),
            None => s.remove_item(TOKEN_KEY),
        };
    }
}

/// An answer that is not a success: its status (0 if the server was not reached), the server's
/// message, and the diagnostics it gave (a save of a text that does not validate).
#[derive(Clone, Debug)]
pub struct Refused {
    pub status: u16,
    pub message: String,
    pub diagnostics: Value,
}

fn unreached(e: gloo_net::Error) -> Refused {
    Refused { status: 0, message: format!("the server cannot be reached: {e}"), diagnostics: Value::Null }
}

fn with_token(method: Method, path: &str, token: &str) -> RequestBuilder {
    RequestBuilder::new(path).method(method).header("Authorization", &format!("Bearer {token}"))
}

/// `method path` with the token (and a JSON body); the answer's JSON.
pub async fn call(method: Method, path: &str, token: &str, body: Option<&Value>) -> Result<Value, Refused> {
    send(with_token(method, path, token), body).await
}

/// `method path` with the token and a YAML text as the body.
pub async fn call_text(method: Method, path: &str, token: &str, text: &str) -> Result<Value, Refused> {
    let request = with_token(method, path, token)
        .header("Content-Type", "application/yaml")
        .body(text.to_string())
        .map_err(unreached)?;
    answer(request.send().await.map_err(unreached)?).await
}

/// Sends `builder` (with a JSON body); the answer's JSON.
pub async fn send(builder: RequestBuilder, body: Option<&Value>) -> Result<Value, Refused> {
    let request = match body {
        Some(b) => builder.json(b),
        None => builder.build(),
    }
    .map_err(unreached)?;
    answer(request.send().await.map_err(unreached)?).await
}

async fn answer(response: gloo_net::http::Response) -> Result<Value, Refused> {
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        let message = value["error"]["message"].as_str().unwrap_or("the server refused the request").to_string();
        Err(Refused { status, message, diagnostics: value["error"]["diagnostics"].clone() })
    }
}

/// What a page loads: nothing yet, the answer, or why not.
pub type Loaded = Option<Result<Value, Refused>>;

/// `GET path` into a signal.
pub fn load(path: String, token: String) -> RwSignal<Loaded> {
    let out = RwSignal::new(None);
    spawn_local(async move {
        let answer = call(Method::GET, &path, &token, None).await;
        // The page may be gone by now: then nobody needs the answer.
        let _ = out.try_set(Some(answer));
    });
    out
}

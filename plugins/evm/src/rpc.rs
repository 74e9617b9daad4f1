//! Ethereum JSON-RPC over the host's `http` capability, to the binding's `rpc_url` (the only
//! origin the manifest lets this plugin reach).

use monstrum_plugin_sdk::http::Request;
use monstrum_plugin_sdk::{Context, ToolError, Value, json};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The binding's JSON-RPC endpoint.
pub(crate) struct Rpc {
    url: String,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
}

impl Rpc {
    /// The endpoint of the binding's config (`rpc_url`).
    pub(crate) fn new(cx: &Context) -> Result<Self, ToolError> {
        let url = cx.config_str("rpc_url").filter(|u| !u.trim().is_empty());
        let url = url.ok_or_else(|| ToolError::failed("the binding's config sets no `rpc_url`"))?;
        Ok(Self { url: url.to_string() })
    }

    /// Calls `method` with `params` and decodes its result (`null` decodes into an `Option`).
    pub(crate) fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, ToolError> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = Request::post(&self.url).json(&body)?.send()?;
        let reply: Reply = response.json().map_err(|e| {
            ToolError::failed(format!("{method}: HTTP {} without a JSON-RPC reply: {e}", response.status))
        })?;
        if let Some(RpcError { code, message }) = reply.error {
            return Err(ToolError::failed(format!("{method}: the node refused ({code}): {message}")));
        }
        serde_json::from_value(reply.result.unwrap_or(Value::Null))
            .map_err(|e| ToolError::failed(format!("{method}: unexpected result: {e}")))
    }
}

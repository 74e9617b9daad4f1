//! The few Ethereum JSON-RPC calls the host signer makes itself: what it needs to complete a
//! transaction the guest left incomplete (nonce, gas, fees) and to submit it.
//!
//! Quantities are parsed by alloy's types (`U256`, `U64`), never by hand.

use std::time::Duration;

use alloy_primitives::{Address, Bytes, U64, U256};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How long one RPC request may take (the plugin call's own deadline still applies around it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A JSON-RPC endpoint (the binding's `rpc_url`).
pub(crate) struct Rpc<'a> {
    client: &'a reqwest::Client,
    url: &'a str,
}

#[derive(Deserialize)]
struct Reply {
    result: Option<Value>,
    error: Option<RpcError>,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
}

/// The fields of a block the fee estimate reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block {
    base_fee_per_gas: Option<U256>,
}

impl<'a> Rpc<'a> {
    pub(crate) fn new(client: &'a reqwest::Client, url: &'a str) -> Self {
        Self { client, url }
    }

    /// Calls `method` with `params` and decodes its result.
    pub(crate) async fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, String> {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let response = self
            .client
            .post(self.url)
            .timeout(REQUEST_TIMEOUT)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("evm: {method}: the RPC endpoint cannot be reached: {}", e.without_url()))?;
        let status = response.status();
        let reply: Reply = response
            .json()
            .await
            .map_err(|e| format!("evm: {method}: the RPC endpoint answered {status} without a JSON-RPC reply: {e}"))?;
        if let Some(RpcError { code, message }) = reply.error {
            return Err(format!("evm: {method}: the node refused ({code}): {message}"));
        }
        serde_json::from_value(reply.result.unwrap_or(Value::Null))
            .map_err(|e| format!("evm: {method}: unexpected result: {e}"))
    }

    /// The next nonce of `from`, pending transactions included.
    pub(crate) async fn nonce(&self, from: Address) -> Result<u64, String> {
        let n: U64 = self.call("eth_getTransactionCount", json!([from, "pending"])).await?;
        Ok(n.to::<u64>())
    }

    /// The gas `from` needs to send `value` and `data` to `to`.
    pub(crate) async fn estimate_gas(
        &self,
        from: Address,
        to: Option<Address>,
        value: U256,
        data: &Bytes,
    ) -> Result<u64, String> {
        let mut tx = json!({ "from": from, "value": value, "data": data });
        if let Some(to) = to {
            tx["to"] = json!(to);
        }
        let gas: U64 = self.call("eth_estimateGas", json!([tx])).await?;
        Ok(gas.to::<u64>())
    }

    /// `(max_fee_per_gas, max_priority_fee_per_gas)`: the tip the node suggests (1 gwei if it
    /// suggests none) over twice the latest block's base fee.
    pub(crate) async fn fees(&self) -> Result<(u128, u128), String> {
        let block: Option<Block> = self.call("eth_getBlockByNumber", json!(["latest", false])).await?;
        let base = block.and_then(|b| b.base_fee_per_gas).ok_or("evm: the node's latest block has no base fee")?;
        let tip = match self.call::<U256>("eth_maxPriorityFeePerGas", json!([])).await {
            Ok(tip) => tip,
            Err(_) => U256::from(1_000_000_000u64),
        };
        let max = base.saturating_mul(U256::from(2)).saturating_add(tip);
        let to_u128 = |v: U256| u128::try_from(v).map_err(|_| "evm: the node's fees are out of range".to_string());
        Ok((to_u128(max)?, to_u128(tip)?))
    }

    /// Whether the node knows the transaction `hash` (pending or mined).
    pub(crate) async fn knows(&self, hash: &str) -> Result<bool, String> {
        let found: Value = self.call("eth_getTransactionByHash", json!([hash])).await?;
        Ok(!found.is_null())
    }

    /// Submits a signed transaction; returns its hash.
    pub(crate) async fn send_raw(&self, raw: &[u8]) -> Result<String, String> {
        self.call("eth_sendRawTransaction", json!([Bytes::copy_from_slice(raw)])).await
    }
}

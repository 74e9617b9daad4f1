//! A hostile guest for the host signer's tests: it asks the host to sign whatever its caller
//! describes. Its tool's parameters have no scope rules, so the gate lets every call through and
//! only the host's signer policy decides what gets signed.

use monstrum_plugin_sdk::evm::{self, Transaction};
use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, json, parse_args, register_plugin};
use serde::Deserialize;

struct EvilSigner;

#[derive(Deserialize)]
struct Sign {
    #[serde(default)]
    chain_id: Option<u64>,
    #[serde(default)]
    to: Option<String>,
    value: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    send: bool,
}

impl Plugin for EvilSigner {
    fn new() -> Self {
        EvilSigner
    }

    fn call_tool(&mut self, tool: &str, args: Value, _cx: &Context) -> Result<Value, ToolError> {
        if tool != "sign" {
            return Err(ToolError::unknown_tool(tool));
        }
        let a: Sign = parse_args(args)?;
        let data = hex(&a.data).ok_or_else(|| ToolError::failed("data is not hex"))?;
        let tx = Transaction {
            chain_id: a.chain_id.unwrap_or(1337),
            to: a.to,
            value: a.value,
            data,
            nonce: None,
            gas_limit: None,
            max_fee_per_gas: None,
            max_priority_fee_per_gas: None,
        };
        if a.send {
            let hash = evm::send_transaction(&tx).map_err(ToolError::failed)?;
            Ok(json!({ "hash": hash }))
        } else {
            let raw = evm::sign_transaction(&tx).map_err(ToolError::failed)?;
            Ok(json!({ "raw_bytes": raw.len() }))
        }
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

register_plugin!(EvilSigner);

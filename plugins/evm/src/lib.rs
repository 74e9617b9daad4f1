//! EVM chains over JSON-RPC: balances, ERC-20 balances and transfers, native transfers,
//! read-only contract calls, event logs and gas estimates.
//!
//! Reads go to the binding's `rpc_url` through the host's `http` capability. Transfers are
//! built here and signed by the host (`evm-signer`) with the key bound to the instance: this
//! code never sees it. Which recipients, contracts and functions a call may name, and how much
//! it may move, is decided by the gate before a call arrives here (the manifest's dimensions).

mod abi;
mod rpc;

use alloy_dyn_abi::EventExt;
use alloy_json_abi::Event;
use alloy_primitives::{Address, B256, Bytes, U64, U256, hex};
use alloy_sol_types::{SolCall, sol};
use monstrum_plugin_sdk::evm::{self, Transaction};
use monstrum_plugin_sdk::{Context, Map, Plugin, ToolError, Value, json, parse_args, register_plugin};
use rpc::Rpc;
use serde::Deserialize;

sol! {
    function balanceOf(address owner) returns (uint256);
    function transfer(address to, uint256 amount) returns (bool);
}

struct Evm;

#[derive(Deserialize)]
struct Balance {
    address: String,
}

#[derive(Deserialize)]
struct TokenBalance {
    token: String,
    address: String,
}

#[derive(Deserialize)]
struct Transfer {
    to: String,
    value: String,
}

#[derive(Deserialize)]
struct TokenTransfer {
    token: String,
    to: String,
    amount: String,
}

#[derive(Deserialize)]
struct Call {
    contract: String,
    function: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default)]
    returns: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Logs {
    contract: String,
    event: String,
    #[serde(default)]
    from_block: Option<Value>,
    #[serde(default)]
    to_block: Option<Value>,
}

#[derive(Deserialize)]
struct Estimate {
    to: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    args: Vec<Value>,
}

/// A log as `eth_getLogs` returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    topics: Vec<B256>,
    data: Bytes,
    block_number: Option<U64>,
    transaction_hash: Option<B256>,
    log_index: Option<U64>,
}

/// The fields of a receipt a transfer reports.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    status: Option<U64>,
    block_number: Option<U64>,
    gas_used: Option<U64>,
}

fn address(text: &str) -> Result<Address, ToolError> {
    text.parse().map_err(|_| ToolError::InvalidArguments(format!("`{text}` is not an address")))
}

fn amount(text: &str) -> Result<U256, ToolError> {
    U256::from_str_radix(text, 10).map_err(|_| ToolError::InvalidArguments(format!("`{text}` is not a decimal amount")))
}

fn lower(a: &Address) -> String {
    hex::encode_prefixed(a)
}

/// A block for `eth_getLogs`: a number, or a tag such as `latest`.
fn block(value: Option<Value>, default: &str) -> Result<Value, ToolError> {
    match value {
        None | Some(Value::Null) => Ok(json!(default)),
        Some(Value::Number(n)) => {
            let n =
                n.as_u64().ok_or_else(|| ToolError::InvalidArguments(format!("block {n} is not a block number")))?;
            Ok(json!(U64::from(n)))
        }
        Some(Value::String(tag)) => Ok(json!(tag)),
        Some(other) => Err(ToolError::InvalidArguments(format!("{other} is not a block"))),
    }
}

/// The chain id: the binding's `chain_id`, or the node's when that is 0.
fn chain_id(cx: &Context, rpc: &Rpc) -> Result<u64, ToolError> {
    match cx.config.get("chain_id").and_then(Value::as_u64) {
        Some(id) if id != 0 => Ok(id),
        _ => Ok(rpc.call::<U64>("eth_chainId", json!([]))?.to::<u64>()),
    }
}

/// Has the host sign and send a transaction to `to`, then reads its receipt. A reverted
/// transaction is a failure (it is on chain: its hash is in the message).
fn send(cx: &Context, rpc: &Rpc, to: Address, value: U256, data: Vec<u8>) -> Result<Map<String, Value>, ToolError> {
    let tx = Transaction {
        chain_id: chain_id(cx, rpc)?,
        to: Some(to.to_checksum(None)),
        value: value.to_string(),
        data,
        nonce: None,
        gas_limit: None,
        max_fee_per_gas: None,
        max_priority_fee_per_gas: None,
    };
    let hash = evm::send_transaction(&tx).map_err(ToolError::Failed)?;
    let receipt: Option<Receipt> = rpc.call("eth_getTransactionReceipt", json!([hash]))?;
    let mut out = Map::new();
    out.insert("hash".into(), json!(hash));
    let status = match &receipt {
        None => "pending",
        Some(Receipt { status: Some(s), .. }) if *s == U64::from(1) => "success",
        Some(_) => return Err(ToolError::failed(format!("transaction {hash} reverted"))),
    };
    out.insert("status".into(), json!(status));
    if let Some(r) = receipt {
        out.insert("block".into(), json!(r.block_number.map(|b| b.to::<u64>())));
        out.insert("gas_used".into(), json!(r.gas_used.map(|g| g.to::<u64>())));
    }
    Ok(out)
}

/// `eth_call` of `data` on `to`; the raw result.
fn eth_call(rpc: &Rpc, to: Address, data: Vec<u8>) -> Result<Bytes, ToolError> {
    rpc.call("eth_call", json!([{ "to": to, "data": Bytes::from(data) }, "latest"]))
}

impl Evm {
    fn balance(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let Balance { address: a } = parse_args(args)?;
        let a = address(&a)?;
        let wei: U256 = Rpc::new(cx)?.call("eth_getBalance", json!([a, "latest"]))?;
        Ok(json!({ "address": lower(&a), "wei": wei.to_string() }))
    }

    fn erc20_balance(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let TokenBalance { token, address: owner } = parse_args(args)?;
        let (token, owner) = (address(&token)?, address(&owner)?);
        let raw = eth_call(&Rpc::new(cx)?, token, balanceOfCall { owner }.abi_encode())?;
        let amount = balanceOfCall::abi_decode_returns(&raw)
            .map_err(|e| ToolError::failed(format!("{} is not an ERC-20 token: {e}", lower(&token))))?;
        Ok(json!({ "token": lower(&token), "address": lower(&owner), "amount": amount.to_string() }))
    }

    fn transfer(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let Transfer { to, value } = parse_args(args)?;
        let (to, value) = (address(&to)?, amount(&value)?);
        let mut out = send(cx, &Rpc::new(cx)?, to, value, Vec::new())?;
        out.insert("to".into(), json!(lower(&to)));
        out.insert("value".into(), json!(value.to_string()));
        Ok(Value::Object(out))
    }

    fn erc20_transfer(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let TokenTransfer { token, to, amount: a } = parse_args(args)?;
        let (token, to, a) = (address(&token)?, address(&to)?, amount(&a)?);
        let data = transferCall { to, amount: a }.abi_encode();
        let mut out = send(cx, &Rpc::new(cx)?, token, U256::ZERO, data)?;
        out.insert("token".into(), json!(lower(&token)));
        out.insert("to".into(), json!(lower(&to)));
        out.insert("amount".into(), json!(a.to_string()));
        Ok(Value::Object(out))
    }

    fn call(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let Call { contract, function, args, returns } = parse_args(args)?;
        let contract = address(&contract)?;
        let f = abi::function(&function)?;
        let raw = eth_call(&Rpc::new(cx)?, contract, abi::calldata(&f, &args)?)?;
        let mut out = json!({ "raw": hex::encode_prefixed(&raw) });
        if let Some(types) = returns {
            out["result"] = abi::decode(&types, &raw)?;
        }
        Ok(out)
    }

    fn logs(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let Logs { contract, event, from_block, to_block } = parse_args(args)?;
        let contract = address(&contract)?;
        let ev = Event::parse(&event)
            .map_err(|e| ToolError::InvalidArguments(format!("`{event}` is not an event signature: {e}")))?;
        let mut filter = json!({
            "address": contract,
            "fromBlock": block(from_block, "earliest")?,
            "toBlock": block(to_block, "latest")?,
        });
        if !ev.anonymous {
            filter["topics"] = json!([ev.selector()]);
        }
        let logs: Vec<RpcLog> = Rpc::new(cx)?.call("eth_getLogs", json!([filter]))?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            let decoded = ev
                .decode_log_parts(log.topics.iter().copied(), &log.data)
                .map_err(|e| ToolError::failed(format!("a log does not decode as {}: {e}", ev.signature())))?;
            let (mut indexed, mut body) = (decoded.indexed.iter(), decoded.body.iter());
            let mut fields = Map::new();
            for (i, input) in ev.inputs.iter().enumerate() {
                let value = if input.indexed { indexed.next() } else { body.next() };
                let name = if input.name.is_empty() { i.to_string() } else { input.name.clone() };
                fields.insert(name, value.map_or(Value::Null, abi::to_json));
            }
            out.push(json!({
                "block": log.block_number.map(|b| b.to::<u64>()),
                "transaction": log.transaction_hash,
                "index": log.log_index.map(|i| i.to::<u64>()),
                "args": fields,
            }));
        }
        Ok(json!({ "event": ev.signature(), "logs": out }))
    }

    fn estimate_gas(cx: &Context, args: Value) -> Result<Value, ToolError> {
        let Estimate { to, value, function, args } = parse_args(args)?;
        let to = address(&to)?;
        let value = amount(value.as_deref().unwrap_or("0"))?;
        let data = match function {
            Some(f) => abi::calldata(&abi::function(&f)?, &args)?,
            None => Vec::new(),
        };
        let from = evm::address().map_err(ToolError::Failed)?;
        let tx = json!({ "from": from, "to": to, "value": value, "data": Bytes::from(data) });
        let gas: U64 = Rpc::new(cx)?.call("eth_estimateGas", json!([tx]))?;
        Ok(json!({ "gas": gas.to::<u64>() }))
    }
}

impl Plugin for Evm {
    fn new() -> Self {
        Evm
    }

    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "address" => Ok(json!({ "address": evm::address().map_err(ToolError::Failed)?.to_lowercase() })),
            "balance" => Self::balance(cx, args),
            "erc20_balance" => Self::erc20_balance(cx, args),
            "transfer" => Self::transfer(cx, args),
            "erc20_transfer" => Self::erc20_transfer(cx, args),
            "call" => Self::call(cx, args),
            "logs" => Self::logs(cx, args),
            "estimate_gas" => Self::estimate_gas(cx, args),
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

register_plugin!(Evm);

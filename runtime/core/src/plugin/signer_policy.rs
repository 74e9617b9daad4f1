//! The policy of the `evm-signer` capability, from the manifest's `signer:` block, the binding's
//! scope and the values that narrow it (the caller's skills and delegations): the host decodes
//! what it is asked to sign and puts it to the same scope engine as tool parameters.
//!
//! - No data (a native transfer): `{to, value}` against `signer.to` and `signer.value`.
//! - Data: its first four bytes must be the selector of a function in `signer.calls`, the rest
//!   exactly that function's static arguments; `{to, value, args}` is checked against the call's
//!   `to`, `signer.value` and one rule per argument (addresses as lowercase 0x hex, integers as
//!   decimal strings, booleans as booleans).
//! - Contract creation (no `to`) and any other data are refused.

use super::evm::SignerPolicy;
use super::executor::{capability_scopes, check_all};
use crate::governance::scope::ToolScope;
use alloy_primitives::{U256, keccak256};
use monstrum_model::{CapabilityRule, Manifest, ScopeRule, signer_arg_types};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One function the policy lets a transaction call.
struct Call {
    function: String,
    selector: [u8; 4],
    types: Vec<String>,
    scopes: Vec<ToolScope>,
}

/// The signer policy of a call, or `None` when the manifest has no `signer:` block (then the
/// host signs nothing).
pub fn signer_policy(
    manifest: &Manifest,
    scope: &BTreeMap<String, Value>,
    narrowing: &[&BTreeMap<String, Value>],
) -> Result<Option<SignerPolicy>, String> {
    let Some(signer) = &manifest.signer else {
        return Ok(None);
    };
    let rule = |r: &CapabilityRule, param: String| ScopeRule { dimension: r.dimension.clone(), param, kind: r.kind };
    let native = capability_scopes(
        "signer",
        vec![rule(&signer.to, "/to".into()), rule(&signer.value, "/value".into())],
        scope,
        narrowing,
    )?;
    let mut calls = Vec::new();
    for call in &signer.calls {
        let types = signer_arg_types(&call.function)?;
        let mut rules = vec![rule(&call.to, "/to".into()), rule(&signer.value, "/value".into())];
        rules.extend(call.args.iter().enumerate().map(|(i, r)| rule(r, format!("/args/{i}"))));
        let hash = keccak256(call.function.as_bytes());
        calls.push(Call {
            function: call.function.clone(),
            selector: [hash[0], hash[1], hash[2], hash[3]],
            types,
            scopes: capability_scopes("signer", rules, scope, narrowing)?,
        });
    }
    Ok(Some(Arc::new(move |tx| {
        let to = tx.to.as_deref().ok_or("creating a contract is not allowed")?.to_ascii_lowercase();
        if tx.data.is_empty() {
            return check_all(&native, &json!({ "to": to, "value": tx.value }));
        }
        let selector = tx.data.get(..4).ok_or("the data is shorter than a function selector")?;
        let call = calls.iter().find(|c| c.selector == selector).ok_or_else(|| {
            format!(
                "the data calls function 0x{}, which the manifest's `signer:` block does not list",
                hex::encode(selector)
            )
        })?;
        let args = decode(&call.types, &tx.data[4..]).map_err(|e| format!("{}: {e}", call.function))?;
        check_all(&call.scopes, &json!({ "to": to, "value": tx.value, "args": args }))
            .map_err(|e| format!("{}: {e}", call.function))
    })))
}

/// Static ABI arguments of `types`, exactly: one 32-byte word each and nothing after them.
fn decode(types: &[String], data: &[u8]) -> Result<Vec<Value>, String> {
    if data.len() != 32 * types.len() {
        return Err(format!("{} bytes of arguments where {} are expected", data.len(), 32 * types.len()));
    }
    types
        .iter()
        .zip(data.chunks_exact(32))
        .enumerate()
        .map(|(i, (ty, word))| {
            let bad = || format!("argument {i} is not a valid {ty}");
            let n = U256::from_be_slice(word);
            match ty.as_str() {
                "address" if word[..12].iter().all(|b| *b == 0) => Ok(json!(format!("0x{}", hex::encode(&word[12..])))),
                "bool" if n <= U256::from(1u8) => Ok(json!(n == U256::from(1u8))),
                uint => {
                    let bits: usize = uint.strip_prefix("uint").and_then(|b| b.parse().ok()).ok_or_else(bad)?;
                    if n.bit_len() > bits {
                        return Err(bad());
                    }
                    Ok(json!(n.to_string()))
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::evm::EvmTransaction as Tx;

    const TOKEN: &str = "0x2222222222222222222222222222222222222222";
    const FRIEND: &str = "0x1111111111111111111111111111111111111111";
    const THIEF: &str = "0x9999999999999999999999999999999999999999";

    fn policy(narrowing: &[&BTreeMap<String, Value>]) -> SignerPolicy {
        let manifest = crate::plugin::builtin::find("evm").expect("evm is built in").manifest;
        let scope: BTreeMap<String, Value> = serde_json::from_value(json!({
            "recipients": [FRIEND], "contracts": [TOKEN], "functions": ["balanceOf(address)"], "max_value": 1000
        }))
        .unwrap();
        signer_policy(&manifest, &scope, narrowing).unwrap().expect("evm has a signer block")
    }

    fn tx(to: Option<&str>, value: &str, data: Vec<u8>) -> Tx {
        Tx {
            chain_id: 1,
            to: to.map(str::to_string),
            value: value.into(),
            data,
            nonce: None,
            gas_limit: None,
            max_fee_per_gas: None,
            max_priority_fee_per_gas: None,
        }
    }

    fn transfer(to: &str, amount: u64) -> Vec<u8> {
        let mut data = keccak256(b"transfer(address,uint256)")[..4].to_vec();
        data.extend([0u8; 12]);
        data.extend(hex::decode(&to[2..]).unwrap());
        data.extend(U256::from(amount).to_be_bytes::<32>());
        data
    }

    #[test]
    fn native_transfers_within_the_binding_are_signed_and_others_refused() {
        let p = policy(&[]);
        assert!(p(&tx(Some(FRIEND), "1000", vec![])).is_ok());
        assert!(p(&tx(Some(&FRIEND.to_uppercase().replace("0X", "0x")), "5", vec![])).is_ok(), "case does not matter");
        assert!(p(&tx(Some(THIEF), "1", vec![])).unwrap_err().contains("to"));
        assert!(p(&tx(Some(FRIEND), "1001", vec![])).is_err());
        assert!(p(&tx(None, "0", vec![0x60, 0x80])).unwrap_err().contains("creating a contract"));
    }

    #[test]
    fn token_transfers_are_decoded_and_every_argument_checked() {
        let p = policy(&[]);
        assert!(p(&tx(Some(TOKEN), "0", transfer(FRIEND, 1000))).is_ok());
        assert!(p(&tx(Some(TOKEN), "0", transfer(THIEF, 1))).is_err(), "a recipient inside the data");
        assert!(p(&tx(Some(TOKEN), "0", transfer(FRIEND, 1001))).is_err(), "an amount inside the data");
        assert!(p(&tx(Some(FRIEND), "0", transfer(FRIEND, 1))).is_err(), "a contract that is not listed");
        assert!(p(&tx(Some(TOKEN), "1", transfer(FRIEND, 1))).is_ok());
        let mut longer = transfer(FRIEND, 1);
        longer.push(0);
        assert!(p(&tx(Some(TOKEN), "0", longer)).unwrap_err().contains("bytes of arguments"));
        let mut approve = transfer(THIEF, 1);
        approve[..4].copy_from_slice(&keccak256(b"approve(address,uint256)")[..4]);
        assert!(p(&tx(Some(TOKEN), "0", approve)).unwrap_err().contains("does not list"));
        let mut dirty = transfer(FRIEND, 1);
        dirty[4] = 1; // an address word with high bytes set
        assert!(p(&tx(Some(TOKEN), "0", dirty)).unwrap_err().contains("not a valid address"));
    }

    #[test]
    fn skills_and_delegations_narrow_what_is_signed() {
        let narrower: BTreeMap<String, Value> = serde_json::from_value(json!({ "max_value": 10 })).unwrap();
        let p = policy(&[&narrower]);
        assert!(p(&tx(Some(FRIEND), "10", vec![])).is_ok());
        assert!(p(&tx(Some(FRIEND), "11", vec![])).is_err());
        assert!(p(&tx(Some(TOKEN), "0", transfer(FRIEND, 11))).is_err());
        let elsewhere: BTreeMap<String, Value> = serde_json::from_value(json!({ "recipients": [THIEF] })).unwrap();
        assert!(policy(&[&elsewhere])(&tx(Some(FRIEND), "1", vec![])).is_err(), "a narrowing only narrows");
    }
}

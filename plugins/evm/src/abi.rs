//! ABI values named at run time: arguments from JSON, results to JSON, with alloy's dynamic
//! ABI types (no encoder or decoder of our own).

use alloy_dyn_abi::{DynSolType, DynSolValue, Specifier};
use alloy_json_abi::Function;
use alloy_primitives::hex;
use monstrum_plugin_sdk::{ToolError, Value};

/// The function of a canonical signature (`balanceOf(address)`). A signature written any other
/// way is refused, so that the text the gate matched against the binding's `functions` is
/// exactly the function called.
pub(crate) fn function(signature: &str) -> Result<Function, ToolError> {
    let f = Function::parse(signature)
        .map_err(|e| ToolError::InvalidArguments(format!("`{signature}` is not a function signature: {e}")))?;
    if f.signature() != signature {
        return Err(ToolError::InvalidArguments(format!(
            "write the function as its canonical signature `{}`, not `{signature}`",
            f.signature()
        )));
    }
    Ok(f)
}

/// The calldata of `f` with `args` (selector included).
pub(crate) fn calldata(f: &Function, args: &[Value]) -> Result<Vec<u8>, ToolError> {
    if args.len() != f.inputs.len() {
        return Err(ToolError::InvalidArguments(format!(
            "{} takes {} arguments, not {}",
            f.signature(),
            f.inputs.len(),
            args.len()
        )));
    }
    let mut values = Vec::with_capacity(args.len());
    for (param, arg) in f.inputs.iter().zip(args) {
        let ty = param.resolve().map_err(|e| ToolError::InvalidArguments(format!("type {}: {e}", param.ty)))?;
        let text = literal(arg);
        let value = ty
            .coerce_str(&text)
            .map_err(|e| ToolError::InvalidArguments(format!("`{text}` is not a {}: {e}", param.ty)))?;
        values.push(value);
    }
    let mut data = f.selector().to_vec();
    data.extend(DynSolValue::Tuple(values).abi_encode_params());
    Ok(data)
}

/// Decodes `data` as the sequence of `types` (`["uint256", "bool"]`).
pub(crate) fn decode(types: &[String], data: &[u8]) -> Result<Value, ToolError> {
    let types = types
        .iter()
        .map(|t| DynSolType::parse(t).map_err(|e| ToolError::InvalidArguments(format!("type `{t}`: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let decoded = DynSolType::Tuple(types)
        .abi_decode_sequence(data)
        .map_err(|e| ToolError::failed(format!("the result does not decode as the given types: {e}")))?;
    Ok(to_json(&decoded))
}

/// A JSON argument as the text alloy's coercion reads: strings as they are, numbers and booleans
/// written out, arrays as `[a, b]`.
fn literal(arg: &Value) -> String {
    match arg {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(literal).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A decoded value as JSON: integers as decimal strings (they exceed JSON's safe range),
/// addresses as lowercase hex, bytes as `0x` hex, arrays and tuples as arrays.
pub(crate) fn to_json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Int(i, _) => Value::String(i.to_string()),
        DynSolValue::Uint(u, _) => Value::String(u.to_string()),
        DynSolValue::FixedBytes(word, size) => Value::String(hex::encode_prefixed(&word[..*size])),
        DynSolValue::Address(a) => Value::String(hex::encode_prefixed(a)),
        DynSolValue::Function(f) => Value::String(hex::encode_prefixed(f)),
        DynSolValue::Bytes(b) => Value::String(hex::encode_prefixed(b)),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
    }
}

//! What a tool knows about the call it serves.

use serde_json::{Map, Value};

use crate::bindings::monstrum::plugin::types::CallContext;

/// The call's context: which instance of the plugin runs and with which configuration.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// The instance's name (`github-work`).
    pub instance: String,
    /// The binding's configuration, the manifest's defaults applied.
    pub config: Map<String, Value>,
    /// The call's idempotency key: the same when a run resumes after a crash and sends the call
    /// again, so a service that dedupes by it (an `Idempotency-Key` header) does the work once.
    pub idempotency_key: Option<String>,
}

impl Context {
    pub(crate) fn from_wit(context: CallContext) -> Result<Self, String> {
        let config = match serde_json::from_str(&context.config) {
            Ok(Value::Object(map)) => map,
            Ok(Value::Null) => Map::new(),
            Ok(other) => return Err(format!("the host sent a config that is not an object: {other}")),
            Err(e) => return Err(format!("the host sent a config that is not JSON: {e}")),
        };
        Ok(Self { instance: context.instance, config, idempotency_key: context.idempotency_key })
    }

    /// A string config field.
    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config.get(key).and_then(Value::as_str)
    }
}

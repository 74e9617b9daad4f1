#![doc = include_str!("../README.md")]

mod context;
mod error;
pub mod evm;
pub mod http;
pub mod kv;
pub mod log;
pub mod ssh;

pub use context::Context;
pub use error::ToolError;
pub use serde_json::{self, Map, Value, json};

/// The generated bindings of the WIT world `monstrum:plugin/integration`, version 0.1.0
/// (`wit/since_v0.1.0`: a released interface version is never changed; a new one gets a folder
/// of its own, and the host keeps running components of the older ones).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/since_v0.1.0",
        world: "integration",
        pub_export_macro: true,
        default_bindings_module: "monstrum_plugin_sdk::bindings",
    });
}

/// An integration. The host creates a fresh one for every tool call ([`Plugin::new`]) in a fresh
/// sandbox, so state that must outlive a call belongs in [`kv`].
pub trait Plugin: Sized + 'static {
    /// Creates the plugin for one call.
    fn new() -> Self;

    /// Runs the tool `tool` with `args` (already checked by the host against the tool's schema
    /// and scope). The default knows no tools.
    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        let _ = (args, cx);
        Err(ToolError::unknown_tool(tool))
    }
}

/// Deserializes a tool's arguments; a mismatch is [`ToolError::InvalidArguments`].
pub fn parse_args<T: serde::de::DeserializeOwned>(args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// Exports a [`Plugin`] as the component's `call-tool`.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __MonstrumPluginExport;

        impl $crate::bindings::Guest for __MonstrumPluginExport {
            fn call_tool(
                name: ::std::string::String,
                arguments: ::std::string::String,
                context: $crate::bindings::monstrum::plugin::types::CallContext,
            ) -> ::std::result::Result<::std::string::String, $crate::bindings::monstrum::plugin::types::ToolError> {
                $crate::__private::call_tool::<$plugin>(name, arguments, context)
            }
        }

        $crate::bindings::export!(__MonstrumPluginExport with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::bindings::monstrum::plugin::types::{CallContext, ToolError as WitToolError};
    use crate::{Context, Plugin, ToolError};

    /// Decodes the call, runs the plugin, encodes its output.
    pub fn call_tool<P: Plugin>(name: String, arguments: String, context: CallContext) -> Result<String, WitToolError> {
        let args = serde_json::from_str(&arguments)
            .map_err(|e| WitToolError::InvalidArguments(format!("arguments are not JSON: {e}")))?;
        let cx = Context::from_wit(context).map_err(WitToolError::Failed)?;
        let output = P::new().call_tool(&name, args, &cx).map_err(ToolError::into_wit)?;
        serde_json::to_string(&output).map_err(|e| WitToolError::Failed(format!("output is not JSON: {e}")))
    }
}

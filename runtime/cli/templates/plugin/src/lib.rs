//! __NAME__: a Monstrum plugin. Its tools are listed in `manifest.yaml`; the host checks every
//! call against the tool's schema and the binding's scope before `call_tool` sees it.

use monstrum_plugin_sdk::http::Request;
use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, parse_args, register_plugin};
use serde::Deserialize;

struct __TYPE__;

/// The arguments of `get_record`, as its JSON Schema describes them.
#[derive(Debug, Deserialize)]
struct GetRecord {
    collection: String,
    id: String,
}

impl Plugin for __TYPE__ {
    fn new() -> Self {
        __TYPE__
    }

    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "get_record" => {
                let args: GetRecord = parse_args(args)?;
                let api = cx.config_str("api_url").unwrap_or("https://api.example.com");
                // `token` is the manifest's credential field: the host writes the secret into
                // the request. This code never sees it.
                let record: Value =
                    Request::get(record_url(api, &args)).credential("token").send()?.error_for_status()?.json()?;
                Ok(record)
            }
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

/// The URL of one record.
fn record_url(api: &str, args: &GetRecord) -> String {
    format!("{}/{}/{}", api.trim_end_matches('/'), args.collection, args.id)
}

register_plugin!(__TYPE__);

#[cfg(test)]
mod tests {
    use super::*;
    use monstrum_plugin_sdk::json;

    #[test]
    fn a_record_url_joins_the_base_the_collection_and_the_id() {
        let args = GetRecord { collection: "books".into(), id: "42".into() };
        assert_eq!(record_url("https://api.example.com/v1/", &args), "https://api.example.com/v1/books/42");
    }

    #[test]
    fn arguments_without_an_id_are_refused() {
        let err = parse_args::<GetRecord>(json!({ "collection": "books" })).unwrap_err();
        assert!(matches!(err, ToolError::InvalidArguments(_)), "{err:?}");
    }

    #[test]
    fn an_unknown_tool_is_said_so() {
        let err = __TYPE__::new().call_tool("nope", Value::Null, &Context::default()).unwrap_err();
        assert!(matches!(err, ToolError::UnknownTool(_)), "{err:?}");
    }
}

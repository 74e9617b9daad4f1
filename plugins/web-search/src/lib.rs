//! Web search and page fetching. `search` asks one of four providers (DuckDuckGo's Instant
//! Answer API, Brave Search, SerpAPI, Tavily) and normalizes their answers to
//! `{title, url, snippet}`; `fetch` GETs one URL and returns its text (an HTML page rendered
//! as plain text unless `raw`).
//!
//! Keys never reach this code: a request names the credential field (`brave`, `serpapi`,
//! `tavily`) and the host writes the key, only on requests to that provider's origin. Which URLs
//! `fetch` may read is the binding's `urls` scope, checked by the gate on the parameter and by
//! the host again on the request; size and time limits are the host's too.

mod providers;

use monstrum_plugin_sdk::http::{HttpError, Request, Response};
use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, json, parse_args, register_plugin};
use serde::Deserialize;

struct WebSearch;

#[derive(Deserialize)]
struct Search {
    query: String,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Deserialize)]
struct Fetch {
    url: String,
    /// Return an HTML page as it came instead of as text.
    #[serde(default)]
    raw: bool,
}

/// The width HTML is rendered to as text.
const TEXT_WIDTH: usize = 100;
/// The largest HTML page rendered as text; a larger one is returned as it came (rendering
/// takes tens of times the page's size in memory, and the call's memory is limited).
const MAX_HTML_TO_RENDER: usize = 512 << 10;

/// The most results any search returns.
const MAX_COUNT: u32 = 20;

fn search(args: Search, cx: &Context) -> Result<Value, ToolError> {
    let provider = args.provider.as_deref().or(cx.config_str("provider")).unwrap_or("duckduckgo").to_string();
    let default_count = cx.config.get("count").and_then(Value::as_u64).unwrap_or(5) as u32;
    let count = args.count.unwrap_or(default_count).clamp(1, MAX_COUNT);
    let base = |key: &str, default: &str| cx.config_str(key).unwrap_or(default).trim_end_matches('/').to_string();
    let mut results = match provider.as_str() {
        "duckduckgo" => providers::duckduckgo(&base("duckduckgo_url", "https://api.duckduckgo.com"), &args.query)?,
        "brave" => providers::brave(&base("brave_url", "https://api.search.brave.com"), &args.query, count)?,
        "serpapi" => providers::serpapi(&base("serpapi_url", "https://serpapi.com"), &args.query, count)?,
        "tavily" => providers::tavily(&base("tavily_url", "https://api.tavily.com"), &args.query, count)?,
        other => {
            return Err(ToolError::InvalidArguments(format!(
                "unknown provider `{other}` (duckduckgo, brave, serpapi or tavily)"
            )));
        }
    };
    results.truncate(count as usize);
    Ok(json!({ "provider": provider, "results": results }))
}

/// The media type of a `content-type` header, lower-cased, without parameters.
fn mime(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Whether a content type is text a model can read.
fn is_text(content_type: &str) -> bool {
    let mime = mime(content_type);
    mime.is_empty()
        || mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
        )
}

fn fetch(args: Fetch) -> Result<Value, ToolError> {
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(ToolError::InvalidArguments(format!("`{}` is not an http(s) URL", args.url)));
    }
    let response = Request::get(&args.url)
        .header("accept", "text/html, text/plain, application/json, application/xml;q=0.9, */*;q=0.5")
        .send()
        .map_err(http_error)?;
    let content_type = response.header("content-type").unwrap_or("").to_string();
    if !is_text(&content_type) {
        return Err(ToolError::Failed(format!("{} is `{content_type}`, not text", args.url)));
    }
    let html = matches!(mime(&content_type).as_str(), "text/html" | "application/xhtml+xml");
    let render = html && !args.raw && response.body.len() <= MAX_HTML_TO_RENDER;
    let text = if render {
        html2text::from_read(response.body.as_slice(), TEXT_WIDTH)
            .map_err(|e| ToolError::Failed(format!("{} is HTML that cannot be read as text: {e}", args.url)))?
    } else {
        response.text()
    };
    // `format` says what `text` holds: `text`, or `html` for a page returned as it came.
    let format = if html && !render { "html" } else { "text" };
    let mut out = json!({ "status": response.status, "content_type": content_type, "format": format, "text": text });
    if let Some(location) = response.header("location") {
        // Redirects are not followed: the model sees where it points and may fetch it (in scope).
        out["location"] = location.into();
    }
    Ok(out)
}

/// A host refusal, timeout or transport failure as the tool's error.
pub(crate) fn http_error(e: HttpError) -> ToolError {
    ToolError::Failed(e.to_string())
}

/// The JSON of a provider's 2xx answer, or an error naming the provider and status.
pub(crate) fn provider_json(provider: &str, response: Response) -> Result<Value, ToolError> {
    if !(200..300).contains(&response.status) {
        let text = response.text();
        let message: String = text.chars().take(300).collect();
        return Err(ToolError::Failed(format!("{provider} answered {}: {message}", response.status)));
    }
    response.json().map_err(|e| ToolError::Failed(format!("{provider}: {e}")))
}

impl Plugin for WebSearch {
    fn new() -> Self {
        WebSearch
    }

    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        match tool {
            "search" => search(parse_args(args)?, cx),
            "fetch" => fetch(parse_args(args)?),
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

register_plugin!(WebSearch);

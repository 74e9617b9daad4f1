//! The four search providers: one request each, in the provider's own format, and the mapping
//! of its answer to `{title, url, snippet}`.

use monstrum_plugin_sdk::http::Request;
use monstrum_plugin_sdk::{ToolError, Value, json};

use crate::{http_error, provider_json};

/// `key=value&...`, form-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn result(title: &Value, url: &Value, snippet: &Value) -> Option<Value> {
    let url = url.as_str().filter(|u| !u.is_empty())?;
    Some(json!({
        "title": title.as_str().unwrap_or_default(),
        "url": url,
        "snippet": snippet.as_str().unwrap_or_default(),
    }))
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// DuckDuckGo's Instant Answer API (`GET /?q=..&format=json`): the abstract (`Heading`,
/// `AbstractURL`, `AbstractText`), then `Results` and `RelatedTopics` (whose groups hold
/// `Topics`), each `{FirstURL, Text, Result}`. No key.
pub fn duckduckgo(base: &str, q: &str) -> Result<Vec<Value>, ToolError> {
    let params = query(&[("q", q), ("format", "json"), ("no_html", "1"), ("skip_disambig", "1"), ("t", "monstrum")]);
    let response = Request::get(format!("{base}/?{params}")).header("accept", "application/json").send();
    let v = provider_json("DuckDuckGo", response.map_err(http_error)?)?;
    let mut out = Vec::new();
    out.extend(result(&v["Heading"], &v["AbstractURL"], &v["AbstractText"]));
    let mut topics: Vec<&Value> = list(&v["Results"]).iter().collect();
    for topic in list(&v["RelatedTopics"]) {
        match topic.get("Topics") {
            Some(group) => topics.extend(list(group)),
            None => topics.push(topic),
        }
    }
    for topic in topics {
        let text = topic["Text"].as_str().unwrap_or_default();
        let title = topic["Result"].as_str().and_then(anchor_text).unwrap_or_else(|| text.to_string());
        out.extend(result(&title.into(), &topic["FirstURL"], &text.into()));
    }
    Ok(out)
}

/// The text of the first `<a ...>text</a>` in DuckDuckGo's `Result` snippet (a fixed, flat
/// shape: one link, maybe a `<b>` inside), tags inside it dropped.
fn anchor_text(html: &str) -> Option<String> {
    let start = html.find("<a ")?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</a>")?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[open_end..close].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// Brave Search (`GET /res/v1/web/search?q=..&count=..`, key in `X-Subscription-Token`):
/// `web.results[].{title, url, description}`.
pub fn brave(base: &str, q: &str, count: u32) -> Result<Vec<Value>, ToolError> {
    let params = query(&[("q", q), ("count", &count.to_string())]);
    let response = Request::get(format!("{base}/res/v1/web/search?{params}"))
        .header("accept", "application/json")
        .credential("brave")
        .send();
    let v = provider_json("Brave", response.map_err(http_error)?)?;
    Ok(list(&v["web"]["results"]).iter().filter_map(|r| result(&r["title"], &r["url"], &r["description"])).collect())
}

/// SerpAPI's Google engine (`GET /search.json?engine=google&q=..&num=..`, key as the `api_key`
/// query parameter): `organic_results[].{title, link, snippet}`.
pub fn serpapi(base: &str, q: &str, count: u32) -> Result<Vec<Value>, ToolError> {
    let params = query(&[("engine", "google"), ("q", q), ("num", &count.to_string())]);
    let response = Request::get(format!("{base}/search.json?{params}"))
        .header("accept", "application/json")
        .credential("serpapi")
        .send();
    let v = provider_json("SerpAPI", response.map_err(http_error)?)?;
    if let Some(error) = v["error"].as_str() {
        return Err(ToolError::Failed(format!("SerpAPI: {error}")));
    }
    Ok(list(&v["organic_results"]).iter().filter_map(|r| result(&r["title"], &r["link"], &r["snippet"])).collect())
}

/// Tavily (`POST /search` with `{query, max_results}`, key as a bearer token):
/// `results[].{title, url, content}`.
pub fn tavily(base: &str, q: &str, count: u32) -> Result<Vec<Value>, ToolError> {
    let request = Request::post(format!("{base}/search"))
        .json(&json!({ "query": q, "max_results": count }))
        .map_err(http_error)?
        .header("accept", "application/json")
        .credential("tavily");
    let v = provider_json("Tavily", request.send().map_err(http_error)?)?;
    Ok(list(&v["results"]).iter().filter_map(|r| result(&r["title"], &r["url"], &r["content"])).collect())
}

//! GitHub's REST API: issues, comments, pull requests and file contents. The token is attached by
//! the host (`credential("token")`); this code never sees it. Which repositories a binding may
//! touch is decided by the gate before a call arrives here.

use monstrum_plugin_sdk::http::{HttpError, Request, Response};
use monstrum_plugin_sdk::{Context, Plugin, ToolError, Value, json, parse_args, register_plugin};
use serde::Deserialize;

struct GitHub;

#[derive(Deserialize)]
struct Numbered {
    repo: String,
    number: u64,
}

#[derive(Deserialize)]
struct Repo {
    repo: String,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
struct NewIssue {
    repo: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
struct NewComment {
    repo: String,
    number: u64,
    body: String,
}

#[derive(Deserialize)]
struct File {
    repo: String,
    path: String,
    #[serde(default, rename = "ref")]
    git_ref: Option<String>,
}

/// `owner/name`, checked again here (the manifest's schema already did): it goes into a URL path.
fn repo_path(repo: &str) -> Result<&str, ToolError> {
    let ok = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    match repo.split_once('/') {
        Some((owner, name)) if ok(owner) && ok(name) => Ok(repo),
        _ => Err(ToolError::InvalidArguments(format!("`{repo}` is not owner/name"))),
    }
}

/// A file path for the contents API: each segment percent-encoded, `..` refused.
fn file_path(path: &str) -> Result<String, ToolError> {
    let mut out = Vec::new();
    for seg in path.trim_matches('/').split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(ToolError::InvalidArguments(format!("`{path}` is not a plain file path")));
        }
        out.push(encode(seg));
    }
    Ok(out.join("/"))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api(cx: &Context) -> String {
    cx.config_str("api_url").unwrap_or("https://api.github.com").trim_end_matches('/').to_string()
}

fn send(request: Request) -> Result<Value, ToolError> {
    let response: Response = request
        .header("accept", "application/vnd.github+json")
        .header("user-agent", "monstrum-github-plugin")
        .header("x-github-api-version", "2022-11-28")
        .credential("token")
        .send()
        .map_err(http_error)?;
    if !(200..300).contains(&response.status) {
        let message = response
            .json::<Value>()
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| response.text());
        return Err(ToolError::Failed(format!("GitHub answered {}: {message}", response.status)));
    }
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    response.json().map_err(http_error)
}

fn http_error(e: HttpError) -> ToolError {
    ToolError::Failed(e.to_string())
}

fn issue(v: &Value) -> Value {
    json!({
        "number": v["number"], "title": v["title"], "state": v["state"], "body": v["body"],
        "author": v["user"]["login"], "labels": v["labels"].as_array().map(|l| l.iter().map(|x| x["name"].clone()).collect::<Vec<_>>()),
        "comments": v["comments"], "url": v["html_url"],
    })
}

fn pull(v: &Value) -> Value {
    json!({
        "number": v["number"], "title": v["title"], "state": v["state"], "body": v["body"],
        "author": v["user"]["login"], "head": v["head"]["ref"], "base": v["base"]["ref"],
        "merged": v["merged"], "url": v["html_url"],
    })
}

impl Plugin for GitHub {
    fn new() -> Self {
        GitHub
    }

    fn call_tool(&mut self, tool: &str, args: Value, cx: &Context) -> Result<Value, ToolError> {
        let base = api(cx);
        match tool {
            "get_issue" => {
                let a: Numbered = parse_args(args)?;
                let v = send(Request::get(format!("{base}/repos/{}/issues/{}", repo_path(&a.repo)?, a.number)))?;
                Ok(issue(&v))
            }
            "list_issues" => {
                let a: Repo = parse_args(args)?;
                let state = a.state.as_deref().unwrap_or("open");
                let v =
                    send(Request::get(format!("{base}/repos/{}/issues?state={}", repo_path(&a.repo)?, encode(state))))?;
                Ok(Value::Array(v.as_array().map(|l| l.iter().map(issue).collect()).unwrap_or_default()))
            }
            "create_issue" => {
                let a: NewIssue = parse_args(args)?;
                let body = json!({ "title": a.title, "body": a.body });
                let request = Request::post(format!("{base}/repos/{}/issues", repo_path(&a.repo)?))
                    .json(&body)
                    .map_err(http_error)?;
                Ok(issue(&send(request)?))
            }
            "create_comment" => {
                let a: NewComment = parse_args(args)?;
                let url = format!("{base}/repos/{}/issues/{}/comments", repo_path(&a.repo)?, a.number);
                let v = send(Request::post(url).json(&json!({ "body": a.body })).map_err(http_error)?)?;
                Ok(json!({ "id": v["id"], "url": v["html_url"], "author": v["user"]["login"] }))
            }
            "get_pull_request" => {
                let a: Numbered = parse_args(args)?;
                let v = send(Request::get(format!("{base}/repos/{}/pulls/{}", repo_path(&a.repo)?, a.number)))?;
                Ok(pull(&v))
            }
            "list_pull_requests" => {
                let a: Repo = parse_args(args)?;
                let state = a.state.as_deref().unwrap_or("open");
                let v =
                    send(Request::get(format!("{base}/repos/{}/pulls?state={}", repo_path(&a.repo)?, encode(state))))?;
                Ok(Value::Array(v.as_array().map(|l| l.iter().map(pull).collect()).unwrap_or_default()))
            }
            "get_file" => {
                let a: File = parse_args(args)?;
                let mut url = format!("{base}/repos/{}/contents/{}", repo_path(&a.repo)?, file_path(&a.path)?);
                if let Some(r) = &a.git_ref {
                    url.push_str(&format!("?ref={}", encode(r)));
                }
                let v = send(Request::get(url).header("accept", "application/vnd.github.raw+json"))?;
                Ok(
                    json!({ "path": v["path"], "sha": v["sha"], "size": v["size"], "encoding": v["encoding"], "content": v["content"] }),
                )
            }
            "delete_repo" => {
                let a: Repo = parse_args(args)?;
                send(Request::new("DELETE", format!("{base}/repos/{}", repo_path(&a.repo)?)))?;
                Ok(json!({ "deleted": a.repo }))
            }
            _ => Err(ToolError::unknown_tool(tool)),
        }
    }
}

register_plugin!(GitHub);

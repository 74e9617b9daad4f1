//! The visual editor's files (built from `ui/` by build.rs and embedded): the page at `/` and its
//! script, WebAssembly and style under `/ui/`. Open, like `/health`: they hold no data; the
//! editor asks the API for everything, with the user's token.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! built {
    ($file:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/ui/", $file))
    };
}

/// Scripts and WebAssembly from this server only; no inline script, no other origin.
const POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
                      connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn file(body: &'static [u8], mime: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, mime), (header::CONTENT_SECURITY_POLICY, POLICY), (header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// `/`: the editor's page. Its policy allows one style nonce, new for each answer, which the page
/// gives its code editor (CodeMirror writes its styles into a `<style>` element): no other inline
/// style, and no inline script at all.
pub async fn index() -> Response {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness there is no nonce: the page still works, the code editor unstyled.
        return file(built!("index.html"), "text/html; charset=utf-8");
    }
    let nonce = hex::encode(bytes);
    let page = std::str::from_utf8(built!("index.html")).unwrap_or_default().replace("{{nonce}}", &nonce);
    let policy = POLICY.replace("style-src 'self'", &format!("style-src 'self' 'nonce-{nonce}'"));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, policy),
            (header::CACHE_CONTROL, "no-cache".to_string()),
        ],
        page,
    )
        .into_response()
}

/// `/ui/{file}`: what the page loads; gzipped (made at build time) for a browser that takes it.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
    let (plain, packed, mime): (&'static [u8], Option<&'static [u8]>, &'static str) = match name.as_str() {
        "start.js" => (built!("start.js"), None, "text/javascript; charset=utf-8"),
        // The YAML view's code editor (CodeMirror 6, bundled from ui/codemirror/).
        "codemirror.js" => {
            (built!("codemirror.js"), Some(built!("codemirror.js.gz")), "text/javascript; charset=utf-8")
        }
        "monstrum_ui.js" => {
            (built!("monstrum_ui.js"), Some(built!("monstrum_ui.js.gz")), "text/javascript; charset=utf-8")
        }
        "monstrum_ui_bg.wasm" => {
            (built!("monstrum_ui_bg.wasm"), Some(built!("monstrum_ui_bg.wasm.gz")), "application/wasm")
        }
        "style.css" => (built!("style.css"), Some(built!("style.css.gz")), "text/css; charset=utf-8"),
        _ => return crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such file").into_response(),
    };
    let mut response = match packed.filter(|_| gzip) {
        Some(body) => {
            let mut r = file(body, mime);
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => file(plain, mime),
    };
    if packed.is_some() {
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

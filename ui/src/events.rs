//! A run's live events, read from `GET /api/runs/{id}/events` (server-sent events). The browser's
//! `EventSource` cannot send the `Authorization` header, so the stream is a `fetch` whose body is
//! read as it arrives and cut into events here; a dropped connection is taken up again after
//! the last event seen (`Last-Event-ID`), as `EventSource` would.

use gloo_net::http::RequestBuilder;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What is left of a stream's text once its whole events are taken out.
#[derive(Default)]
struct Frames {
    buffer: String,
    last_id: Option<String>,
}

impl Frames {
    /// The events completed by `chunk`, in order.
    fn push(&mut self, chunk: &str) -> Vec<Value> {
        self.buffer.push_str(&chunk.replace("\r\n", "\n"));
        let mut out = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            let frame: String = self.buffer.drain(..end + 2).collect();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(id) = line.strip_prefix("id:") {
                    self.last_id = Some(id.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if let Ok(event) = serde_json::from_str(&data) {
                out.push(event);
            }
        }
        out
    }
}

/// Reads the run's events until the stream ends (after `run_finished`), calling `on_event` for
/// each; after a dropped connection it asks again from the last event, up to five times in a
/// row. `alive` is asked between reads: when the page is gone, reading stops. The answer is the
/// status `run_finished` gave (`waiting` when the run waits for a gate: it goes on after the
/// decision, in events after these), if the stream got that far.
async fn follow_once(
    path: &str,
    token: &str,
    frames: &mut Frames,
    on_event: &impl Fn(Value),
    alive: &impl Fn() -> bool,
) -> Option<String> {
    let mut finished = None;
    let mut failures = 0;
    while failures < 5 && alive() {
        let mut request = RequestBuilder::new(path)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Accept", "text/event-stream");
        if let Some(id) = &frames.last_id {
            request = request.header("Last-Event-ID", id);
        }
        let Ok(response) = request.send().await else {
            failures += 1;
            continue;
        };
        if !response.ok() {
            return Some("refused".into()); // the run is gone, or the token: nothing to follow
        }
        let Some(body) = response.body() else { return None };
        let Ok(reader) = body.get_reader().dyn_into::<web_sys::ReadableStreamDefaultReader>() else { return None };
        let decoder = web_sys::TextDecoder::new().expect("the browser decodes UTF-8");
        loop {
            if !alive() {
                let _ = reader.cancel();
                return None;
            }
            let Ok(chunk) = JsFuture::from(reader.read()).await else {
                failures += 1;
                break;
            };
            let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
            if done {
                return finished; // the server ends the stream after `run_finished`
            }
            failures = 0;
            let bytes: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())
                .ok()
                .and_then(|v| v.dyn_into().ok())
                .unwrap_or_else(|| js_sys::Uint8Array::new_with_length(0));
            let options = web_sys::TextDecodeOptions::new();
            options.set_stream(true);
            let text = decoder.decode_with_buffer_source_and_options(&bytes, &options).unwrap_or_default();
            for event in frames.push(&text) {
                if event["type"] == "run_finished" {
                    finished = event["status"].as_str().map(str::to_string);
                }
                on_event(event);
            }
        }
    }
    None
}

/// Waits `ms` milliseconds.
async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = leptos::prelude::window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Follows a run's events (see [`follow_once`]) until it has ended or the page is gone. While
/// the run waits for a gate, the stream is asked again each second (an answer that ends at once
/// when nothing happened), or at once when `kicked` says something was done here (a decision).
pub async fn follow(
    path: String,
    token: String,
    on_event: impl Fn(Value),
    alive: impl Fn() -> bool,
    kicked: impl Fn() -> bool,
) {
    let mut frames = Frames::default();
    let mut quiet = 0;
    while alive() {
        match follow_once(&path, &token, &mut frames, &on_event, &alive).await.as_deref() {
            Some("waiting") | None => {}
            Some(_) => return, // ended (or refused)
        }
        quiet = (quiet + 1).min(30);
        // Waiting: ask again in a second (longer after a while of nothing), or when kicked.
        for _ in 0..(10 * quiet.clamp(1, 5)) {
            sleep(100).await;
            if kicked() || !alive() {
                quiet = 0;
                break;
            }
        }
    }
}

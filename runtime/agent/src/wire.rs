//! MCP over a WebSocket: each text frame is one JSON-RPC message. The same adapter serves the
//! server's end (axum's socket) and the daemon's (tokio-tungstenite's).
//!
//! Each end pings the other every [`PING_EVERY`] (the peer's library answers with a pong) and
//! takes a link on which nothing arrived for [`SILENT_FOR`] as closed: a peer that vanished
//! without closing (a frozen process, a cut network) is noticed within that, not only at the
//! next call's time limit, and never holds a link open forever.

use futures::future::ready;
use futures::{Sink, SinkExt, Stream, StreamExt};
use rmcp::service::{RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often each end pings the other.
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// How long a link may stay silent (no message, ping or pong) before it is taken as closed.
pub const SILENT_FOR: Duration = Duration::from_secs(30);

/// A frame of either WebSocket library: text in, text out; other frames are not messages.
pub(crate) trait Frame: Sized {
    fn text(text: String) -> Self;
    fn ping() -> Self;
    fn into_text(self) -> Option<String>;
}

/// The two libraries' `Message`s have the same text variant (over `Utf8Bytes`).
macro_rules! text_frames {
    ($($message:ty),*) => {$(
        impl Frame for $message {
            fn text(text: String) -> Self {
                Self::Text(text.into())
            }
            fn ping() -> Self {
                Self::Ping(Default::default())
            }
            fn into_text(self) -> Option<String> {
                match self {
                    Self::Text(t) => Some(t.to_string()),
                    _ => None,
                }
            }
        }
    )*};
}

text_frames!(axum::extract::ws::Message, tokio_tungstenite::tungstenite::Message);

/// `socket` as an rmcp transport for role `R`: a sink of messages and a stream of them. The
/// stream ends at the socket's first error, its close, or a silence of [`SILENT_FOR`]; a frame
/// that is not a message of MCP is dropped with a warning. Pings go out every [`PING_EVERY`]
/// until the stream ends.
#[allow(clippy::type_complexity)]
pub(crate) fn transport<R, W, M, E, E2>(
    socket: W,
) -> (
    impl Sink<TxJsonRpcMessage<R>, Error = E> + Send + Unpin + 'static,
    impl Stream<Item = RxJsonRpcMessage<R>> + Send + Unpin + 'static,
)
where
    R: ServiceRole,
    M: Frame + Send + 'static,
    W: Sink<M, Error = E> + Stream<Item = Result<M, E2>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
    E2: Send + 'static,
{
    let (sink, stream) = socket.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let ended = Arc::new(AtomicBool::new(false));
    // The pinger holds the sink weakly: when rmcp drops the transport (a closed or revoked
    // link), the socket is dropped with it and the peer sees the close at once.
    tokio::spawn(ping(Arc::downgrade(&sink), ended.clone()));
    let sink = Box::pin(futures::sink::unfold(sink, |sink, message: TxJsonRpcMessage<R>| async move {
        // Messages rmcp made always serialize; an empty object would be refused by the peer.
        let text = serde_json::to_string(&message).unwrap_or_else(|_| "{}".into());
        sink.lock().await.send(M::text(text)).await?;
        Ok::<_, E>(sink)
    }));
    let frames = futures::stream::unfold((stream, ended), |(mut stream, ended)| async move {
        match tokio::time::timeout(SILENT_FOR, stream.next()).await {
            Ok(Some(Ok(frame))) => Some((frame, (stream, ended))),
            Ok(None) | Ok(Some(Err(_))) => {
                ended.store(true, Ordering::Relaxed);
                None
            }
            Err(_) => {
                tracing::warn!("the agent link was silent for {SILENT_FOR:?}: taken as closed");
                ended.store(true, Ordering::Relaxed);
                None
            }
        }
    });
    let stream = Box::pin(frames).filter_map(|frame| {
        ready(M::into_text(frame).and_then(|text| match serde_json::from_str(&text) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!("a frame of the agent link that is not an MCP message: {e}");
                None
            }
        }))
    });
    (sink, stream)
}

/// Pings the peer over `sink` every [`PING_EVERY`] until the transport is dropped, the link's
/// stream has `ended`, or a ping cannot be sent.
async fn ping<S, M, E>(sink: std::sync::Weak<tokio::sync::Mutex<S>>, ended: Arc<AtomicBool>)
where
    S: Sink<M, Error = E> + Unpin,
    M: Frame,
{
    loop {
        tokio::time::sleep(PING_EVERY).await;
        let Some(sink) = sink.upgrade() else { return };
        // A peer that stopped reading fills the socket's buffer: a ping that cannot be sent
        // within a period is the end too.
        let sent = async { sink.lock().await.send(M::ping()).await.is_ok() };
        if ended.load(Ordering::Relaxed) || !tokio::time::timeout(PING_EVERY, sent).await.unwrap_or(false) {
            let _ = tokio::time::timeout(PING_EVERY, async { sink.lock().await.close().await }).await;
            return;
        }
    }
}

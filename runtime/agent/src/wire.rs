//! MCP over a WebSocket: each text frame is one JSON-RPC message. The same adapter serves the
//! server's end (axum's socket) and the daemon's (tokio-tungstenite's).

use futures::future::ready;
use futures::{Sink, SinkExt, Stream, StreamExt};
use rmcp::service::{RxJsonRpcMessage, ServiceRole, TxJsonRpcMessage};

/// A frame of either WebSocket library: text in, text out; other frames are not messages.
pub(crate) trait Frame: Sized {
    fn text(text: String) -> Self;
    fn into_text(self) -> Option<String>;
}

/// The two libraries' `Message`s have the same text variant (over `Utf8Bytes`).
macro_rules! text_frames {
    ($($message:ty),*) => {$(
        impl Frame for $message {
            fn text(text: String) -> Self {
                Self::Text(text.into())
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
/// stream ends at the socket's first error or its close; a frame that is not a message of MCP
/// is dropped with a warning.
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
    let sink = sink.with(|message: TxJsonRpcMessage<R>| {
        // Messages rmcp made always serialize; an empty object would be refused by the peer.
        ready(Ok::<_, E>(M::text(serde_json::to_string(&message).unwrap_or_else(|_| "{}".into()))))
    });
    let stream = stream.take_while(|frame| ready(frame.is_ok())).filter_map(|frame| {
        ready(frame.ok().and_then(M::into_text).and_then(|text| match serde_json::from_str(&text) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!("a frame of the agent link that is not an MCP message: {e}");
                None
            }
        }))
    });
    (sink, stream)
}

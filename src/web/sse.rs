//! Live push over Server-Sent Events. Each tick's fragment is rendered once
//! and serialized once into SSE wire bytes (`Bytes`, shared by reference
//! count); every viewer's stream only clones those bytes, so the cost per
//! tick does not grow with viewers. Streams end when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::{stream, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

/// A comment line every 15 s keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Sent first: EventSource waits this long before reconnecting after the
/// server went away (a restart), instead of its 3 s default.
const RETRY: &[u8] = b"retry: 2000\n\n";

/// What every viewer receives for one tick.
#[derive(Debug, Default)]
pub struct LiveFragment {
    pub sequence: u64,
    pub html: String,
    /// `html` as one SSE event, ready to write.
    pub wire: Bytes,
}

impl LiveFragment {
    pub fn new(event: &str, sequence: u64, html: String) -> Self {
        let wire = sse_event(event, sequence, &html);
        LiveFragment {
            sequence,
            html,
            wire,
        }
    }
}

/// One SSE event: every line of `data` gets its own `data:` field.
pub fn sse_event(event: &str, id: u64, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + data.len() / 16 + 64);
    out.push_str("event: ");
    out.push_str(event);
    out.push_str("\nid: ");
    out.push_str(&id.to_string());
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// An SSE response streaming `events` (already serialized), with keep-alive
/// comments, until `shutdown`.
/// Live viewers (SSE streams) at once: enough for 2,000 viewers (a
/// wallboard each, or many tabs), bounded so a flood of streams cannot hold
/// every connection.
pub const MAX_VIEWERS: usize = 2000;

/// An SSE stream of `events` for one viewer, or a 503 when [`MAX_VIEWERS`]
/// streams are open (the permit is held for as long as the stream is).
pub fn sse_response<S>(
    events: S,
    shutdown: CancellationToken,
    viewers: &Arc<tokio::sync::Semaphore>,
) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let Ok(permit) = viewers.clone().try_acquire_owned() else {
        return crate::web::error::ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "{MAX_VIEWERS} live views are open, the most kafka-pulse serves at once; \
                 close some or try again later (the pages still load, without live updates)"
            ),
        }
        .into_response();
    };
    let keep_alive = stream::unfold((), |()| async {
        tokio::time::sleep(KEEP_ALIVE).await;
        Some((Bytes::from_static(b": keep-alive\n\n"), ()))
    });
    let body = stream::iter([Bytes::from_static(RETRY)])
        .chain(stream::select(events, keep_alive))
        .take_until(shutdown.cancelled_owned())
        .map(move |bytes| {
            // The viewer's place is given back when its stream ends.
            let _held = &permit;
            Ok::<_, Infallible>(bytes)
        });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_becomes_a_data_field() {
        let wire = sse_event("x", 7, "<p>a</p>\r\n<p>b</p>");
        assert_eq!(
            wire,
            Bytes::from("event: x\nid: 7\ndata: <p>a</p>\ndata: <p>b</p>\n\n")
        );
    }
}

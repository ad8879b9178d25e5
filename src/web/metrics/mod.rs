//! `/metrics`: Prometheus text format 0.0.4.
//!
//! A body is two parts: the snapshot's families, rendered once per snapshot
//! and shared by every scrape of it (`cache.rs`, `render.rs`,
//! `exporter.rs`), then the counters that move between snapshots, rendered
//! for each scrape (`counters.rs`; why, there). With `Accept-Encoding: gzip`
//! the cached part is a gzip head compressed once and the scrape deflates
//! only its own small tail onto it (`gzip.rs`).

pub mod cache;
pub mod counters;
mod exporter;
pub mod gzip;
pub mod render;
pub mod text;

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::error::ApiError;
use super::AppState;
use crate::config::MetricsOptions;
use crate::model::Snapshot;
pub use cache::{Head, MetricsCache};
pub use counters::{render_request_stats, render_sinks, Counters};
pub use render::render_snapshot;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The whole exposition of `snapshot` in one string, rendered from scratch:
/// what a scrape's body is (decoded), for tests and the benchmark.
pub fn render(snapshot: &Snapshot, counters: &Counters, options: MetricsOptions) -> String {
    let mut out = render_snapshot(snapshot, options, 0);
    out.push_str(&counters.render());
    out
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let head = match state.metrics.head(state.store.latest(), gzip).await {
        Ok(head) => head,
        Err(error) => {
            tracing::error!("rendering /metrics failed: {error}");
            return ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "rendering /metrics failed; see the log".to_string(),
            }
            .into_response();
        }
    };
    // Read after the head is ready, so the counters are as of now.
    let tail = Counters::read(&state.store, &state.access).render();
    let (body, encoding) = scrape_body(head, tail);
    let length = body.len();
    let mut response = Body::new(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

/// The body of one scrape from the cached head and this scrape's tail, and
/// its Content-Encoding. The handler's whole per-scrape work besides
/// reading the counters (the benchmark times it).
pub fn scrape_body(head: Head, tail: String) -> (TwoChunks, Option<&'static str>) {
    match head {
        Head::Text(text) => (TwoChunks::new(text, Bytes::from(tail)), None),
        Head::Gzip(gzip) => {
            let end = gzip.finish(tail.as_bytes(), gzip::LEVEL);
            (TwoChunks::new(gzip.bytes, end), Some("gzip"))
        }
    }
}

/// Whether `Accept-Encoding` offers gzip (`gzip` or `x-gzip`, not `q=0`).
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|offer| {
            let mut parts = offer.split(';');
            let coding = parts.next().unwrap_or("").trim();
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !parts.any(|param| {
                    let param = param.trim();
                    let q = param
                        .strip_prefix("q=")
                        .or_else(|| param.strip_prefix("Q="));
                    q.is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
                })
        })
}

/// A body of two shared chunks, the cached head and the scrape's tail, so
/// the head is sent without copying it.
pub struct TwoChunks {
    chunks: [Option<Bytes>; 2],
}

impl TwoChunks {
    pub fn new(head: Bytes, tail: Bytes) -> Self {
        TwoChunks {
            chunks: [Some(head), Some(tail)],
        }
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().flatten().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Both chunks in one buffer (tests).
    pub fn concat(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flatten()
            .flat_map(|c| &c[..])
            .copied()
            .collect()
    }
}

impl hyper::body::Body for TwoChunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunks = &mut self.get_mut().chunks;
        let next = chunks.iter_mut().find_map(Option::take);
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.iter().all(Option::is_none)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len() as u64)
    }
}

#[cfg(test)]
mod tests;

//! `/metrics`: Prometheus text format 0.0.4, every watched cluster in one
//! exposition.
//!
//! A body is two parts: the snapshots' families, rendered once per snapshot
//! of each cluster and shared by every scrape of it (`cache.rs`,
//! `render.rs`, `exporter.rs`), then the counters that move between
//! snapshots, rendered for each scrape (`counters.rs`; why, there). Every
//! series of a cluster carries its `cluster` label; each family's HELP/TYPE
//! comes once, with every cluster's series under it: a cluster's render is
//! kept cut at its families, the first cluster's with the headers, and a
//! scrape of several clusters interleaves the pieces family by family
//! (refcounts, no copy). With `Accept-Encoding: gzip` each cached part is a
//! gzip head compressed once, piece by piece, and the scrape deflates only
//! its own small tail onto them (`gzip.rs`).

pub mod cache;
pub mod counters;
mod exporter;
pub mod gzip;
pub mod render;
pub mod text;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use super::auth::AccessPolicy;
use super::clusters::ClusterPlace;
use super::error::ApiError;
use crate::config::MetricsOptions;
use crate::model::Snapshot;
use crate::store::Store;
pub use cache::{Head, MetricsCache};
pub use counters::{ClusterCounters, Counters};
pub use render::render_snapshot;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The whole exposition of `snapshot` in one string, rendered from scratch:
/// what a scrape's body is (decoded), for tests and the benchmark.
pub fn render(snapshot: &Snapshot, counters: &Counters, options: MetricsOptions) -> String {
    let mut out = render_snapshot(snapshot, options, 0);
    out.push_str(&counters.render());
    out
}

/// What `/metrics` reads: every watched cluster, in configuration order.
pub struct Exposition {
    pub clusters: Vec<Source>,
    pub access: Arc<AccessPolicy>,
}

/// One cluster's store and the cache of its render.
pub struct Source {
    pub place: Arc<ClusterPlace>,
    pub store: Arc<Store>,
    pub cache: Arc<MetricsCache>,
}

impl Exposition {
    /// Clusters (place, store) in order, all rendered with `options`: a
    /// cache each, the first one's render carrying the families' headers.
    pub fn new(
        clusters: Vec<(Arc<ClusterPlace>, Arc<Store>)>,
        options: MetricsOptions,
        access: Arc<AccessPolicy>,
    ) -> Self {
        let several = clusters.len() > 1;
        let clusters = clusters
            .into_iter()
            .enumerate()
            .map(|(index, (place, store))| Source {
                cache: Arc::new(MetricsCache::for_cluster(
                    options,
                    place.configured.clone(),
                    index == 0,
                    several,
                )),
                place,
                store,
            })
            .collect();
        Exposition { clusters, access }
    }

    /// The per-scrape counters of every cluster and of the process.
    pub fn counters(&self) -> Counters {
        let labels: Vec<String> = self
            .clusters
            .iter()
            .map(|c| c.place.label(&c.store.latest()).to_string())
            .collect();
        let stores: Vec<(&str, &Store)> = labels
            .iter()
            .zip(&self.clusters)
            .map(|(label, c)| (label.as_str(), &*c.store))
            .collect();
        Counters::read_all(&stores, &self.access)
    }
}

pub async fn metrics(State(exposition): State<Arc<Exposition>>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    // Clusters not cached yet are rendered side by side in the blocking pool.
    let heads = futures::future::try_join_all(
        exposition
            .clusters
            .iter()
            .map(|c| c.cache.head(c.store.latest(), gzip)),
    )
    .await;
    let heads = match heads {
        Ok(heads) => heads,
        Err(error) => {
            tracing::error!("rendering /metrics failed: {error}");
            return ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "rendering /metrics failed; see the log".to_string(),
            }
            .into_response();
        }
    };
    // Read after the heads are ready, so the counters are as of now.
    let tail = exposition.counters().render();
    let (body, encoding) = scrape_body(heads, tail);
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

/// The body of one scrape from the clusters' cached heads (all of one
/// encoding, in configuration order) and this scrape's tail, and its
/// Content-Encoding. The handler's whole per-scrape work besides reading
/// the counters (the benchmark times it). One cluster's head goes out
/// whole; several are interleaved family by family.
pub fn scrape_body(heads: Vec<Head>, tail: String) -> (Chunks, Option<&'static str>) {
    let gzip = matches!(heads.first(), Some(Head::Gzip(_)));
    if let [head] = &heads[..] {
        return match head {
            Head::Text(text) => (
                Chunks::new(vec![text.bytes.clone(), Bytes::from(tail)]),
                None,
            ),
            Head::Gzip(head) => {
                let end = head.finish(tail.as_bytes(), gzip::LEVEL);
                (
                    Chunks::new(vec![head.pieces.bytes.clone(), end]),
                    Some("gzip"),
                )
            }
        };
    }
    if gzip {
        let heads: Vec<&gzip::GzipHead> = heads
            .iter()
            .filter_map(|h| match h {
                Head::Gzip(head) => Some(head),
                Head::Text(_) => None,
            })
            .collect();
        let chunks = gzip::merge(&heads, tail.as_bytes(), gzip::LEVEL);
        return (Chunks::new(chunks), Some("gzip"));
    }
    let texts: Vec<&text::Pieces> = heads
        .iter()
        .filter_map(|h| match h {
            Head::Text(text) => Some(text),
            Head::Gzip(_) => None,
        })
        .collect();
    let families = texts.first().map_or(0, |t| t.count());
    debug_assert!(texts.iter().all(|t| t.count() == families));
    let mut chunks = Vec::with_capacity(families * texts.len() + 1);
    for family in 0..families {
        chunks.extend(texts.iter().map(|t| t.piece(family)));
    }
    chunks.push(Bytes::from(tail));
    (Chunks::new(chunks), None)
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

/// A body of shared chunks (cached heads or their pieces, and the
/// scrape's tail), so the heads are sent without copying them.
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Chunks {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        let len = chunks.iter().map(Bytes::len).sum();
        Chunks {
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All chunks in one buffer (tests).
    pub fn concat(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|c| &c[..]).copied().collect()
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = this.chunks.pop_front();
        if let Some(chunk) = &next {
            this.len -= chunk.len();
        }
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len as u64)
    }
}

#[cfg(test)]
mod tests;

//! The home page's live part: `/live/home` (SSE) and `/fragments/home`.
//! The fragment is rendered at most once per change, shared by every
//! viewer: a change is a new sample in any cluster, or a cluster turning
//! stale or fresh again (which happens without a sample, so it is checked
//! every second too).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use futures::{future, stream, StreamExt};
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

use super::{home, html_fragment};
use crate::web::clusters::Directory;
use crate::web::sse::{sse_response, LiveFragment};
use crate::web::AppState;

/// How often viewers look for clusters turning stale.
const STALE_CHECK: Duration = Duration::from_secs(1);
/// The SSE event name the page script listens for.
const LIVE_EVENT: &str = "fragment";

/// What the home fragment depends on besides the clock: each cluster's
/// sample and whether it is fresh.
type Key = Vec<(u64, bool)>;

/// The last render and what it was rendered for.
type Rendered = Option<(Key, Arc<LiveFragment>)>;

fn key(directory: &Directory) -> Key {
    directory
        .members
        .iter()
        .map(|m| {
            let snapshot = m.store.latest();
            let fresh = m.is_fresh(&snapshot);
            (snapshot.sequence, fresh)
        })
        .collect()
}

/// The last rendered home fragment, one per router; cloning shares it.
#[derive(Clone)]
pub struct HomeCache {
    last: Arc<tokio::sync::Mutex<Rendered>>,
    /// SSE ids of the renders (the fragment has no one sequence).
    renders: Arc<AtomicU64>,
    shutdown: CancellationToken,
    viewers: Arc<tokio::sync::Semaphore>,
}

impl HomeCache {
    /// `shutdown` ends the streams; `viewers` is the shared SSE cap.
    pub fn new(shutdown: CancellationToken, viewers: Arc<tokio::sync::Semaphore>) -> Self {
        HomeCache {
            last: Arc::default(),
            renders: Arc::default(),
            shutdown,
            viewers,
        }
    }

    /// The fragment for the clusters as they are now, rendered only when
    /// something it shows changed.
    pub async fn fragment(&self, directory: &Directory) -> Arc<LiveFragment> {
        let now = key(directory);
        let mut last = self.last.lock().await;
        if let Some((key, fragment)) = last.as_ref() {
            if *key == now {
                return fragment.clone();
            }
        }
        let html = home::render_live(directory).unwrap_or_else(|error| {
            tracing::error!("rendering the live clusters page failed: {error}");
            "<p class=\"badge err\">rendering this page failed; see the kafka-pulse log</p>".into()
        });
        let id = self.renders.fetch_add(1, Ordering::Relaxed) + 1;
        let fragment = Arc::new(LiveFragment::new(LIVE_EVENT, id, html));
        *last = Some((now, fragment.clone()));
        fragment
    }
}

async fn fragment(
    State(directory): State<Arc<Directory>>,
    Extension(cache): Extension<HomeCache>,
) -> Response {
    html_fragment(&cache.fragment(&directory).await.html)
}

/// `/live/home`: the fragment now, then on every change.
async fn live(
    State(directory): State<Arc<Directory>>,
    Extension(cache): Extension<HomeCache>,
) -> Response {
    let samples = stream::select_all(
        directory
            .members
            .iter()
            .map(|m| WatchStream::from_changes(m.store.subscribe()).map(|_| ())),
    );
    let clock = stream::unfold((), |()| async {
        tokio::time::sleep(STALE_CHECK).await;
        Some(((), ()))
    });
    let (shutdown, viewers) = (cache.shutdown.clone(), cache.viewers.clone());
    let mut sent = 0;
    let events = stream::once(future::ready(()))
        .chain(stream::select(samples, clock))
        .then(move |()| {
            let (cache, directory) = (cache.clone(), directory.clone());
            async move { cache.fragment(&directory).await }
        })
        // Only what this viewer has not seen yet.
        .filter_map(move |fragment| {
            let new = fragment.sequence != sent;
            sent = fragment.sequence;
            future::ready(new.then(|| fragment.wire.clone()))
        });
    sse_response(events, shutdown, &viewers)
}

/// The home page's fragment and live stream, for the clusters of the
/// router; `first` gives the shutdown token and the viewer cap that every
/// cluster's state shares.
pub fn routes(first: &AppState) -> Router<Arc<Directory>> {
    Router::new()
        .route("/fragments/home", get(fragment))
        .route("/live/home", get(live))
        .layer(Extension(HomeCache::new(
            first.shutdown.clone(),
            first.viewers.clone(),
        )))
}

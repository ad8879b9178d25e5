//! Live fragments of the pages other than the overview, rendered on demand:
//! a subject (the topic list, one topic, one group, ...) is rendered at
//! most once per tick, by the first viewer that needs it, and every other
//! viewer of that tick gets the same serialized bytes. A subject nobody
//! watches costs nothing; its cache slot is dropped after a few ticks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use futures::{future, StreamExt};
use tokio_stream::wrappers::WatchStream;

use super::{brokers, events, groups, topics};
use crate::model::Snapshot;
use crate::store::Store;
use crate::web::clusters::ClusterPlace;
use crate::web::sse::{sse_response, LiveFragment};
use crate::web::AppState;

/// What a live fragment shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Topics,
    Topic(String),
    Groups,
    Group(String),
    Brokers,
    Events(events::EventFilter),
}

/// The SSE event name the page script listens for.
const LIVE_EVENT: &str = "fragment";

type Slot = Arc<tokio::sync::Mutex<Option<Arc<LiveFragment>>>>;

/// Slots kept before unwatched ones are dropped.
const KEEP_SLOTS: usize = 64;
/// Slots kept at most, watched or not: distinct subjects are unbounded
/// (every events filter is one), and each slot holds a rendered page. A
/// subject beyond this is rendered for its viewer and not cached (2,000
/// distinct filter URLs in one tick once held 500 MB).
const MAX_SLOTS: usize = 256;
/// A slot not rendered for this many ticks is unwatched.
const STALE_TICKS: u64 = 5;

/// The render cache, one per cluster's router; cloning shares it. It
/// knows its cluster's place, so every fragment it serves links into that
/// cluster and no other.
#[derive(Clone)]
pub struct LiveCache {
    slots: Arc<Mutex<HashMap<Subject, Slot>>>,
    place: Arc<ClusterPlace>,
}

impl LiveCache {
    pub fn new(place: Arc<ClusterPlace>) -> Self {
        LiveCache {
            slots: Arc::default(),
            place,
        }
    }

    fn slot(&self, subject: &Subject, sequence: u64) -> Slot {
        let mut slots = self.slots.lock().expect("live cache poisoned");
        if slots.len() > KEEP_SLOTS && !slots.contains_key(subject) {
            // Drop slots nobody rendered lately (a slot being rendered right
            // now is locked and kept).
            slots.retain(|_, slot| match slot.try_lock() {
                Ok(cached) => cached
                    .as_ref()
                    .is_some_and(|f| f.sequence + STALE_TICKS >= sequence),
                Err(_) => true,
            });
        }
        if slots.len() >= MAX_SLOTS && !slots.contains_key(subject) {
            return Slot::default();
        }
        slots.entry(subject.clone()).or_default().clone()
    }

    /// The fragment of `subject` for `snapshot`, rendered once per tick.
    pub async fn fragment(
        &self,
        subject: &Subject,
        snapshot: &Snapshot,
        store: &Store,
    ) -> Arc<LiveFragment> {
        let slot = self.slot(subject, snapshot.sequence);
        // Viewers of the same subject wait here while the first renders.
        let mut cached = slot.lock().await;
        if let Some(fragment) = cached.as_ref() {
            if fragment.sequence == snapshot.sequence {
                return fragment.clone();
            }
        }
        let html = render(subject, snapshot, store, &self.place).unwrap_or_else(|error| {
            tracing::error!("rendering the live fragment of {subject:?} failed: {error}");
            format!(
                "<p class=\"badge err\">rendering this page failed: {}</p>",
                askama_escape(&error.to_string())
            )
        });
        let fragment = Arc::new(LiveFragment::new(LIVE_EVENT, snapshot.sequence, html));
        *cached = Some(fragment.clone());
        fragment
    }
}

/// Escapes an error text by hand (it can quote a name).
fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn render(
    subject: &Subject,
    snapshot: &Snapshot,
    store: &Store,
    place: &ClusterPlace,
) -> Result<String, askama::Error> {
    match subject {
        Subject::Topics => topics::list_live(snapshot, place),
        Subject::Topic(name) => topics::detail_live(snapshot, name, place),
        Subject::Groups => groups::list_live(snapshot, place),
        Subject::Group(name) => groups::detail_live(snapshot, name, place),
        Subject::Brokers => brokers::live(snapshot),
        Subject::Events(filter) => events::live(snapshot, store, filter, place),
    }
}

/// An SSE stream of `subject`'s fragment, one event per tick.
pub fn stream(state: AppState, cache: LiveCache, subject: Subject) -> Response {
    let store = state.store.clone();
    let events = WatchStream::new(state.store.subscribe())
        .filter(|snapshot| future::ready(snapshot.sequence > 0))
        .then(move |snapshot| {
            let (cache, store, subject) = (cache.clone(), store.clone(), subject.clone());
            async move {
                cache
                    .fragment(&subject, &snapshot, &store)
                    .await
                    .wire
                    .clone()
            }
        });
    sse_response(events, state.shutdown.clone(), &state.viewers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TopicView;

    #[tokio::test]
    async fn one_render_per_tick_is_shared() {
        let store = Store::new(10, 10);
        let snapshot = Snapshot {
            sequence: 3,
            kafka_up: true,
            topics: vec![TopicView {
                name: "orders".into(),
                ..TopicView::default()
            }],
            ..Snapshot::default()
        };
        let cache = LiveCache::new(Arc::default());
        let first = cache.fragment(&Subject::Topics, &snapshot, &store).await;
        let second = cache.fragment(&Subject::Topics, &snapshot, &store).await;
        assert!(Arc::ptr_eq(&first, &second), "rendered twice in one tick");
        assert!(first.html.contains("orders"));
        let next = Snapshot {
            sequence: 4,
            ..snapshot.clone()
        };
        let third = cache.fragment(&Subject::Topics, &next, &store).await;
        assert_eq!(third.sequence, 4);
    }

    #[tokio::test]
    async fn fragments_link_into_the_caches_cluster() {
        let store = Store::new(10, 10);
        let snapshot = Snapshot {
            sequence: 1,
            topics: vec![TopicView {
                name: "orders".into(),
                ..TopicView::default()
            }],
            ..Snapshot::default()
        };
        let place = Arc::new(ClusterPlace::among_several("b"));
        let cache = LiveCache::new(place);
        let html = &cache
            .fragment(&Subject::Topics, &snapshot, &store)
            .await
            .html;
        assert!(
            html.contains("href=\"/clusters/b/topics/orders\""),
            "{html}"
        );
        let gone = &cache
            .fragment(&Subject::Topic("gone".into()), &snapshot, &store)
            .await
            .html;
        assert!(gone.contains("href=\"/clusters/b/topics\""), "{gone}");
    }

    #[tokio::test]
    async fn unwatched_subjects_leave_the_cache() {
        let store = Store::new(10, 10);
        let cache = LiveCache::new(Arc::default());
        let mut snapshot = Snapshot::default();
        for i in 0..(KEEP_SLOTS as u64 + 10) {
            snapshot.sequence = i + 1;
            cache
                .fragment(&Subject::Topic(format!("t{i}")), &snapshot, &store)
                .await;
        }
        let slots = cache.slots.lock().unwrap().len();
        assert!(slots <= KEEP_SLOTS + 1, "{slots} slots kept");
    }

    #[tokio::test]
    async fn distinct_subjects_in_one_tick_are_bounded_and_still_served() {
        let store = Store::new(10, 10);
        let cache = LiveCache::new(Arc::default());
        let snapshot = Snapshot {
            sequence: 1,
            ..Snapshot::default()
        };
        for i in 0..(MAX_SLOTS + 200) {
            let fragment = cache
                .fragment(&Subject::Topic(format!("t{i}")), &snapshot, &store)
                .await;
            assert_eq!(fragment.sequence, 1);
        }
        let slots = cache.slots.lock().unwrap().len();
        assert_eq!(slots, MAX_SLOTS, "all fresh, so the cap decides");
    }
}

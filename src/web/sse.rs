//! Live push: one task renders the overview fragment once per snapshot and
//! every SSE viewer streams that same rendering (cost per tick does not grow
//! with viewers). Streams end when the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{future, Stream, StreamExt};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

use super::pages::{render_live, sink_rows, OverviewView, OVERVIEW_EVENTS};
use super::AppState;
use crate::store::Store;

/// What every viewer receives for one tick.
#[derive(Debug, Default)]
pub struct LiveFragment {
    pub sequence: u64,
    pub html: String,
}

/// Renders a fragment for each new snapshot until `shutdown`.
pub async fn render_loop(
    store: Arc<Store>,
    live: watch::Sender<Arc<LiveFragment>>,
    shutdown: CancellationToken,
) {
    let mut snapshots = store.subscribe();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let mut view = OverviewView::build(&snapshot, &store.events(OVERVIEW_EVENTS));
        view.sinks = sink_rows(&store.sinks());
        match render_live(&view) {
            Ok(html) => {
                live.send_replace(Arc::new(LiveFragment {
                    sequence: snapshot.sequence,
                    html,
                }));
            }
            Err(error) => tracing::error!("rendering the live overview failed: {error}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = snapshots.changed() => if changed.is_err() { return },
        }
    }
}

pub async fn live(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = WatchStream::new(state.live.clone())
        .filter(|fragment| future::ready(fragment.sequence > 0))
        .map(|fragment| {
            Ok(Event::default()
                .event("overview")
                .id(fragment.sequence.to_string())
                .data(fragment.html.as_str()))
        })
        .take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

//! The overview: cluster health, totals, groups in trouble first, busiest
//! topics with a sparkline, recent events. Its live part is rendered once
//! per tick by `render_loop` below and pushed to every viewer (`/live`).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::events::EventRow;
use super::{clears_in, html_page, member_count, shown_state, status_class, Link, StatusView};
use crate::model::Snapshot;
use crate::store::{Event, SinkCounters, Store};
use crate::web::clusters::ClusterPlace;
use crate::web::sse::{sse_response, LiveFragment};
use crate::web::{format, AppState};
use futures::{future, StreamExt};
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;

pub struct TopicRow {
    pub name: String,
    pub href: String,
    /// Points of an SVG polyline of the in-rate over the last minute.
    pub spark: String,
    pub partitions: usize,
    pub messages_in_per_sec: String,
    pub messages_out_per_sec: String,
    pub depth: String,
    pub groups: String,
}

pub struct GroupRow {
    pub name: String,
    pub href: String,
    pub status: &'static str,
    /// CSS class of the status badge.
    pub status_class: &'static str,
    pub reason: String,
    pub state: String,
    pub state_note: String,
    pub members: String,
    pub lag: String,
    pub lag_seconds: String,
    pub clears_in: String,
    pub messages_out_per_sec: String,
}

/// One group's tile above the tables: status as colour and as text, the
/// reason, the lag.
pub struct GroupTile {
    pub name: String,
    pub href: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub reason: String,
    pub lag: String,
}

/// The newest totals, appended to the overview's charts by the page
/// script each tick (`.chart-point`).
pub struct TotalsPoint {
    pub time_ms: i64,
    pub messages_in_per_sec: f64,
    pub messages_out_per_sec: f64,
    pub lag: i64,
}

/// Tiles above the overview's tables: the worst groups; the rest are
/// counted ("and N more"), and all are in the table below.
pub const OVERVIEW_TILES: usize = 12;

/// Everything the overview shows, formatted for people.
pub struct OverviewView {
    pub status: StatusView,
    pub tiles: Vec<GroupTile>,
    /// Groups beyond the tiles.
    pub more_tiles: usize,
    pub point: TotalsPoint,
    pub topic_count: usize,
    pub group_count: usize,
    pub total_in: String,
    pub total_out: String,
    pub total_depth: String,
    pub total_lag: String,
    pub topics: Vec<TopicRow>,
    pub groups: Vec<GroupRow>,
    /// Why group states are inferred, when the broker cannot describe groups.
    pub members_note: String,
    pub errors: Vec<String>,
    pub events: Vec<EventRow>,
    pub sinks: Vec<SinkRow>,
}

/// Health of one sink, for the status bar.
pub struct SinkRow {
    pub name: String,
    pub sent: String,
    pub dropped: String,
    pub queued: String,
    pub errors: String,
    pub last_error: String,
    pub class: &'static str,
}

/// Sink rows from the store's counters.
pub fn sink_rows(sinks: &[(String, std::sync::Arc<SinkCounters>)]) -> Vec<SinkRow> {
    sinks
        .iter()
        .map(|(name, c)| {
            let last_error = c.last_error().unwrap_or_default();
            let dropped = SinkCounters::get(&c.dropped);
            SinkRow {
                name: name.clone(),
                sent: format::int(SinkCounters::get(&c.sent) as i64),
                dropped: format::int(dropped as i64),
                queued: format::int(SinkCounters::get(&c.queued) as i64),
                errors: format::int(SinkCounters::get(&c.errors) as i64),
                class: if !last_error.is_empty() {
                    "err"
                } else if dropped > 0 {
                    "warn"
                } else {
                    "ok"
                },
                last_error,
            }
        })
        .collect()
}

/// Rows per table on the overview: it is rendered every tick, and a wall
/// screen needs the top of the list, not 50,000 rows (the JSON API has all).
pub const OVERVIEW_ROWS: usize = 100;

/// Busiest topics first (by in-rate, then depth).
fn busiest_first(snapshot: &Snapshot) -> Vec<&crate::model::TopicView> {
    let mut topics: Vec<_> = snapshot.topics.iter().collect();
    topics.sort_by(|a, b| {
        b.messages_in_per_sec
            .total_cmp(&a.messages_in_per_sec)
            .then(b.depth.cmp(&a.depth))
            .then(a.name.cmp(&b.name))
    });
    topics
}

/// Groups in trouble first (by status severity, then lag), so a wall screen
/// shows what needs attention at the top.
fn worst_first(snapshot: &Snapshot) -> Vec<&crate::model::GroupView> {
    let mut groups: Vec<_> = snapshot.groups.iter().collect();
    groups.sort_by(|a, b| {
        b.status
            .severity()
            .cmp(&a.status.severity())
            .then(b.lag.cmp(&a.lag))
            .then(a.group.cmp(&b.group))
    });
    groups
}

impl OverviewView {
    /// The overview of the cluster at `place` (every link goes there).
    pub fn build(snapshot: &Snapshot, events: &[Event], place: &ClusterPlace) -> Self {
        let worst = worst_first(snapshot);
        OverviewView {
            status: StatusView::build(snapshot),
            tiles: worst
                .iter()
                .take(OVERVIEW_TILES)
                .map(|g| GroupTile {
                    name: g.group.to_string(),
                    href: Link::group(place, &g.group).href,
                    status: g.status.as_str(),
                    status_class: status_class(g.status),
                    reason: g.reason.clone(),
                    lag: format::int(g.lag),
                })
                .collect(),
            more_tiles: worst.len().saturating_sub(OVERVIEW_TILES),
            point: TotalsPoint {
                time_ms: snapshot.taken_at.timestamp_millis(),
                messages_in_per_sec: snapshot.total_in_per_sec(),
                messages_out_per_sec: snapshot.total_out_per_sec(),
                lag: snapshot.total_lag(),
            },
            topic_count: snapshot.topics.len(),
            group_count: snapshot.groups.len(),
            total_in: format::rate(snapshot.total_in_per_sec()),
            total_out: format::rate(snapshot.total_out_per_sec()),
            total_depth: format::int(snapshot.total_depth()),
            total_lag: format::int(snapshot.total_lag()),
            topics: busiest_first(snapshot)
                .into_iter()
                .take(OVERVIEW_ROWS)
                .map(|t| TopicRow {
                    name: t.name.to_string(),
                    href: Link::topic(place, &t.name).href,
                    spark: String::new(),
                    partitions: t.partitions.len(),
                    messages_in_per_sec: format::rate(t.messages_in_per_sec),
                    messages_out_per_sec: format::rate(t.messages_out_per_sec),
                    depth: format::int(t.depth),
                    groups: t.groups.join(", "),
                })
                .collect(),
            groups: worst
                .into_iter()
                .take(OVERVIEW_ROWS)
                .map(|g| GroupRow {
                    name: g.group.to_string(),
                    href: Link::group(place, &g.group).href,
                    status: g.status.as_str(),
                    status_class: status_class(g.status),
                    reason: g.reason.clone(),
                    state: shown_state(g),
                    state_note: g
                        .state_note
                        .as_ref()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    members: member_count(g),
                    lag: format::int(g.lag),
                    lag_seconds: format::duration(g.lag_seconds),
                    clears_in: clears_in(g),
                    messages_out_per_sec: format::rate(g.messages_out_per_sec),
                })
                .collect(),
            members_note: snapshot
                .groups
                .iter()
                .find(|g| g.members.is_none())
                .and_then(|g| g.state_note.as_ref())
                .map(|note| note.to_string())
                .unwrap_or_default(),
            errors: snapshot.errors.clone(),
            events: events
                .iter()
                .map(|e| EventRow::from_event(e, place))
                .collect(),
            sinks: Vec::new(),
        }
    }

    /// The view with what only the store has: recent events, sink health
    /// and each shown topic's sparkline.
    pub fn build_full(snapshot: &Snapshot, store: &Store, place: &ClusterPlace) -> Self {
        let mut view = OverviewView::build(snapshot, &store.events(OVERVIEW_EVENTS), place);
        view.sinks = sink_rows(&store.sinks());
        for topic in &mut view.topics {
            topic.spark = sparkline(&store.topic_in_rates_tail(&topic.name, SPARK_POINTS));
        }
        view
    }
}

/// Samples in a sparkline: a minute at the default interval.
pub const SPARK_POINTS: usize = 60;

/// SVG polyline points for `values` in a 100 × 24 box, scaled to the
/// largest value (a flat zero line when all are zero); empty below 2 points.
pub fn sparkline(values: &[f64]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let max = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let step = 100.0 / (values.len() - 1) as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let level = if max > 0.0 && v.is_finite() {
                v.max(0.0) / max
            } else {
                0.0
            };
            format!("{:.1},{:.1}", i as f64 * step, 23.0 - level * 22.0)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Template)]
#[template(path = "overview_live.html")]
pub struct OverviewLive<'a> {
    pub view: &'a OverviewView,
    pub status: &'a StatusView,
    pub place: &'a ClusterPlace,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage<'a> {
    pub view: &'a OverviewView,
    /// The included live template reads the status strip from here.
    pub status: &'a StatusView,
    pub place: &'a ClusterPlace,
    pub interval_ms: u128,
    /// The chart window the page opens with (`?window=`, else 5m).
    pub window: &'static str,
}

/// Events shown on the overview.
pub const OVERVIEW_EVENTS: usize = 10;

/// The live overview of the cluster at `place` (`view` built for it).
pub fn render_live(view: &OverviewView, place: &ClusterPlace) -> Result<String, askama::Error> {
    OverviewLive {
        view,
        status: &view.status,
        place,
    }
    .render()
}

pub async fn overview(State(state): State<AppState>) -> Response {
    let snapshot = state.store.latest();
    let view = OverviewView::build_full(&snapshot, &state.store, &state.place);
    let page = OverviewPage {
        view: &view,
        status: &view.status,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
        window: super::wall::current().window.unwrap_or("5m"),
    };
    html_page("the overview", page.render())
}

pub async fn overview_fragment(State(state): State<AppState>) -> Response {
    let live = state.live.borrow().clone();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        live.html.clone(),
    )
        .into_response()
}

/// Renders the overview fragment of the cluster at `place` for each new
/// snapshot until `shutdown`.
pub async fn render_loop(
    store: Arc<Store>,
    place: Arc<ClusterPlace>,
    live: watch::Sender<Arc<LiveFragment>>,
    shutdown: CancellationToken,
) {
    let mut snapshots = store.subscribe();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        let view = OverviewView::build_full(&snapshot, &store, &place);
        match render_live(&view, &place) {
            Ok(html) => {
                live.send_replace(Arc::new(LiveFragment::new(
                    "overview",
                    snapshot.sequence,
                    html,
                )));
            }
            Err(error) => tracing::error!("rendering the live overview failed: {error}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = snapshots.changed() => if changed.is_err() { return },
        }
    }
}

/// `/live`: the overview fragment of every tick.
pub async fn live(State(state): State<AppState>) -> Response {
    let events = WatchStream::new(state.live.clone())
        .filter(|fragment| future::ready(fragment.sequence > 0))
        .map(|fragment| fragment.wire.clone());
    sse_response(events, state.shutdown.clone(), &state.viewers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest_value() {
        assert_eq!(sparkline(&[1.0]), "");
        assert_eq!(sparkline(&[0.0, 10.0, 5.0]), "0.0,23.0 50.0,1.0 100.0,12.0");
        assert_eq!(sparkline(&[0.0, 0.0]), "0.0,23.0 100.0,23.0");
    }
}

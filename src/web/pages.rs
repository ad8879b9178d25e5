//! Server-rendered HTML (askama escapes every value). The overview's live
//! part is a fragment the SSE stream pushes on each tick.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use super::error::ApiError;
use super::{format, AppState};
use crate::model::Snapshot;
use crate::store::{Event, SinkCounters};

pub struct TopicRow {
    pub name: String,
    pub partitions: usize,
    pub messages_in_per_sec: String,
    pub messages_out_per_sec: String,
    pub depth: String,
    pub groups: String,
}

pub struct GroupRow {
    pub name: String,
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

pub struct EventRow {
    pub time: String,
    pub kind: String,
    pub subject: String,
    pub message: String,
}

/// Everything the overview shows, formatted for people.
pub struct OverviewView {
    pub has_sample: bool,
    pub kafka_up: bool,
    pub taken_at: String,
    pub taken_at_ms: i64,
    pub sequence: u64,
    pub cluster: String,
    pub brokers: usize,
    pub topic_count: usize,
    pub group_count: usize,
    pub total_in: String,
    pub total_out: String,
    pub total_depth: String,
    pub total_lag: String,
    pub topics: Vec<TopicRow>,
    pub groups: Vec<GroupRow>,
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

fn status_class(status: crate::model::GroupStatus) -> &'static str {
    match status.severity() {
        0 => "ok",
        1 => "warn",
        2 => "bad",
        _ => "err",
    }
}

/// A group whose lag is not shrinking but is only seconds behind while it
/// consumes is keeping up, not falling behind.
const KEEPING_UP_SECONDS: f64 = 10.0;

fn clears_in(group: &crate::model::GroupView) -> String {
    match group.time_to_clear_seconds {
        Some(seconds) if seconds <= 0.0 => "—".into(),
        Some(seconds) if seconds < 1.0 => "< 1s".into(),
        Some(seconds) => format::duration(seconds),
        None if group.messages_out_per_sec > 0.0 && group.lag_seconds < KEEPING_UP_SECONDS => {
            "keeping up".into()
        }
        None => "not catching up".into(),
    }
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
    pub fn build(snapshot: &Snapshot, events: &[Event]) -> Self {
        OverviewView {
            has_sample: snapshot.sequence > 0,
            kafka_up: snapshot.kafka_up,
            taken_at: snapshot
                .taken_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            taken_at_ms: snapshot.taken_at.timestamp_millis(),
            sequence: snapshot.sequence,
            cluster: snapshot
                .cluster_id
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            brokers: snapshot.brokers.len(),
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
                    name: t.name.clone(),
                    partitions: t.partitions.len(),
                    messages_in_per_sec: format::rate(t.messages_in_per_sec),
                    messages_out_per_sec: format::rate(t.messages_out_per_sec),
                    depth: format::int(t.depth),
                    groups: t.groups.join(", "),
                })
                .collect(),
            groups: worst_first(snapshot)
                .into_iter()
                .take(OVERVIEW_ROWS)
                .map(|g| GroupRow {
                    name: g.group.clone(),
                    status: g.status.as_str(),
                    status_class: status_class(g.status),
                    reason: g.reason.clone(),
                    state: g.state.clone(),
                    state_note: g.state_note.clone().unwrap_or_default(),
                    members: g
                        .members
                        .as_ref()
                        .map(|m| m.len().to_string())
                        .unwrap_or_else(|| "?".into()),
                    lag: format::int(g.lag),
                    lag_seconds: format::duration(g.lag_seconds),
                    clears_in: clears_in(g),
                    messages_out_per_sec: format::rate(g.messages_out_per_sec),
                })
                .collect(),
            errors: snapshot.errors.clone(),
            events: events
                .iter()
                .map(|e| EventRow {
                    time: e.timestamp.format("%H:%M:%S").to_string(),
                    kind: e.kind.clone(),
                    subject: e.subject.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            sinks: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "overview_live.html")]
pub struct OverviewLive<'a> {
    pub view: &'a OverviewView,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage<'a> {
    pub view: &'a OverviewView,
    pub interval_ms: u128,
}

/// Events shown on the overview.
pub const OVERVIEW_EVENTS: usize = 10;

pub fn render_live(view: &OverviewView) -> Result<String, askama::Error> {
    OverviewLive { view }.render()
}

pub async fn overview(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = state.store.latest();
    let mut view = OverviewView::build(&snapshot, &state.store.events(OVERVIEW_EVENTS));
    view.sinks = sink_rows(&state.store.sinks());
    let page = OverviewPage {
        view: &view,
        interval_ms: state.interval.as_millis(),
    };
    let html = page
        .render()
        .map_err(|e| ApiError::internal(format!("rendering the overview failed: {e}")))?;
    Ok(Html(html).into_response())
}

pub async fn overview_fragment(State(state): State<AppState>) -> Response {
    let live = state.live.borrow().clone();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        live.html.clone(),
    )
        .into_response()
}

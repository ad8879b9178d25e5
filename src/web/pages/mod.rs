//! Server-rendered HTML pages (askama escapes every value). Each page has a
//! live part, a fragment that `/live/...` pushes on every tick and
//! `/fragments/...` serves on request; the page itself is that fragment
//! wrapped in the layout.

pub mod brokers;
pub mod chrome;
pub mod events;
pub mod groups;
pub mod home;
pub mod home_live;
pub mod live;
pub mod overview;
pub mod topics;
pub mod wall;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use super::clusters::ClusterPlace;
use super::{format, AppState};
use crate::model::{GroupStatus, Snapshot};
use live::{LiveCache, Subject};

pub use overview::{
    overview, overview_fragment, render_live, sink_rows, OverviewView, OVERVIEW_EVENTS,
    OVERVIEW_ROWS,
};

/// Rows per list page: it is rendered every tick, and 50,000 rows help no
/// one on a screen (the JSON API has them all).
pub const LIST_ROWS: usize = 1000;

/// A name and the link to its page.
pub struct Link {
    pub name: String,
    pub href: String,
}

impl Link {
    /// The page of topic `name` in the cluster at `place`.
    pub fn topic(place: &ClusterPlace, name: &str) -> Self {
        Link {
            name: name.to_string(),
            href: format!("{}/topics/{}", place.base, format::path_segment(name)),
        }
    }

    /// The page of group `name` in the cluster at `place`.
    pub fn group(place: &ClusterPlace, name: &str) -> Self {
        Link {
            name: name.to_string(),
            href: format!("{}/groups/{}", place.base, format::path_segment(name)),
        }
    }
}

/// The strip at the top of every live fragment: is the data fresh, is
/// Kafka up. The page script turns `taken_at_ms` into "updated 3s ago" or
/// a STALE warning when ticks stop arriving.
pub struct StatusView {
    pub has_sample: bool,
    pub kafka_up: bool,
    pub taken_at: String,
    pub taken_at_ms: i64,
    pub sequence: u64,
    pub cluster: String,
    pub brokers: usize,
    pub first_error: String,
}

impl StatusView {
    pub fn build(snapshot: &Snapshot) -> Self {
        StatusView {
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
            first_error: snapshot.errors.first().cloned().unwrap_or_default(),
        }
    }
}

/// CSS class of a status badge; the badge always shows the status as text
/// too, so colour is never the only signal.
pub fn status_class(status: GroupStatus) -> &'static str {
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

pub fn clears_in(group: &crate::model::GroupView) -> String {
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

/// Members as a number, "–" when the broker could not say (the state
/// column then says what is inferred, and a note line why).
pub fn member_count(group: &crate::model::GroupView) -> String {
    group
        .members
        .as_ref()
        .map(|m| m.len().to_string())
        .unwrap_or_else(|| "–".into())
}

/// The broker's group state, or, where it could not describe the group
/// (the embedded tansu broker never can), what commit movement tells:
/// "active" while offsets are committed, "inactive" when commits stopped
/// with lag, "idle" when caught up. Marked as inferred, never "Unknown" in
/// every row of a first-time user's screen.
pub fn shown_state(group: &crate::model::GroupView) -> String {
    if group.members.is_some() || group.state_note.is_none() {
        return group.state.to_string();
    }
    let inferred = if group.messages_out_per_sec > 0.0 {
        "active"
    } else if matches!(
        group.status,
        crate::model::GroupStatus::Stall | crate::model::GroupStatus::Stop
    ) {
        "inactive"
    } else {
        "idle"
    };
    format!("{inferred} (inferred)")
}

/// Shown instead of a topic or group that does not exist: what does.
#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    kind: &'a str,
    name: &'a str,
    list_href: &'a str,
    existing: Vec<Link>,
    more: usize,
}

/// Names listed on a 404 page.
const NOT_FOUND_NAMES: usize = 50;

pub fn not_found_page(
    kind: &str,
    name: &str,
    list_href: &str,
    mut existing: Vec<Link>,
) -> Response {
    existing.sort_by(|a, b| a.name.cmp(&b.name));
    let more = existing.len().saturating_sub(NOT_FOUND_NAMES);
    existing.truncate(NOT_FOUND_NAMES);
    let page = NotFoundPage {
        kind,
        name,
        list_href,
        existing,
        more,
    };
    match page.render() {
        Ok(html) => (StatusCode::NOT_FOUND, Html(html)).into_response(),
        Err(error) => render_failed("the not-found page", error),
    }
}

pub fn render_failed(what: &str, error: askama::Error) -> Response {
    tracing::error!("rendering {what} failed: {error}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("rendering {what} failed: {error}"),
    )
        .into_response()
}

/// A rendered page, or a 500 that names what failed.
pub fn html_page(what: &str, rendered: Result<String, askama::Error>) -> Response {
    match rendered {
        Ok(html) => Html(html).into_response(),
        Err(error) => render_failed(what, error),
    }
}

pub fn html_fragment(html: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html.to_string(),
    )
        .into_response()
}

fn missing_topic(place: &ClusterPlace, snapshot: &Snapshot, name: &str) -> Response {
    let existing = snapshot
        .topics
        .iter()
        .map(|t| Link::topic(place, &t.name))
        .collect();
    not_found_page("topic", name, &format!("{}/topics", place.base), existing)
}

fn missing_group(place: &ClusterPlace, snapshot: &Snapshot, name: &str) -> Response {
    let existing = snapshot
        .groups
        .iter()
        .map(|g| Link::group(place, &g.group))
        .collect();
    not_found_page("group", name, &format!("{}/groups", place.base), existing)
}

/// The fragment of `subject` for the current tick (shared with live viewers).
async fn fragment_of(state: &AppState, cache: &LiveCache, subject: Subject) -> Response {
    let snapshot = state.store.latest();
    match &subject {
        Subject::Topic(name) if snapshot.topic(name).is_none() => {
            return missing_topic(&state.place, &snapshot, name)
        }
        Subject::Group(name) if snapshot.group(name).is_none() => {
            return missing_group(&state.place, &snapshot, name)
        }
        _ => {}
    }
    let fragment = cache.fragment(&subject, &snapshot, &state.store).await;
    html_fragment(&fragment.html)
}

async fn topics_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    fragment_of(&state, &cache, Subject::Topics).await
}

async fn topic_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Path(name): Path<String>,
) -> Response {
    fragment_of(&state, &cache, Subject::Topic(name)).await
}

async fn groups_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    fragment_of(&state, &cache, Subject::Groups).await
}

async fn group_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Path(name): Path<String>,
) -> Response {
    fragment_of(&state, &cache, Subject::Group(name)).await
}

async fn brokers_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    fragment_of(&state, &cache, Subject::Brokers).await
}

async fn events_fragment(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Query(filter): Query<events::EventFilter>,
) -> Response {
    fragment_of(&state, &cache, Subject::Events(filter.normalized())).await
}

async fn topics_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    live::stream(state, cache, Subject::Topics)
}

async fn topic_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Path(name): Path<String>,
) -> Response {
    live::stream(state, cache, Subject::Topic(name))
}

async fn groups_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    live::stream(state, cache, Subject::Groups)
}

async fn group_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Path(name): Path<String>,
) -> Response {
    live::stream(state, cache, Subject::Group(name))
}

async fn brokers_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
) -> Response {
    live::stream(state, cache, Subject::Brokers)
}

async fn events_live(
    State(state): State<AppState>,
    Extension(cache): Extension<LiveCache>,
    Query(filter): Query<events::EventFilter>,
) -> Response {
    live::stream(state, cache, Subject::Events(filter.normalized()))
}

/// Every page but the overview (which `web::router` wires to its own
/// renderer), with their fragments and live streams, for the cluster at
/// `place`. The render cache is one per router, shared by all viewers of
/// it, and renders links into that cluster only.
pub fn routes(place: std::sync::Arc<ClusterPlace>) -> Router<AppState> {
    Router::new()
        .route("/topics", get(topics::list_page))
        .route("/topics/{topic}", get(topics::detail_page))
        .route("/groups", get(groups::list_page))
        .route("/groups/{group}", get(groups::detail_page))
        .route("/brokers", get(brokers::page))
        .route("/events", get(events::page))
        .route("/fragments/topics", get(topics_fragment))
        .route("/fragments/topics/{topic}", get(topic_fragment))
        .route("/fragments/groups", get(groups_fragment))
        .route("/fragments/groups/{group}", get(group_fragment))
        .route("/fragments/brokers", get(brokers_fragment))
        .route("/fragments/events", get(events_fragment))
        .route("/live/topics", get(topics_live))
        .route("/live/topics/{topic}", get(topic_live))
        .route("/live/groups", get(groups_live))
        .route("/live/groups/{group}", get(group_live))
        .route("/live/brokers", get(brokers_live))
        .route("/live/events", get(events_live))
        .layer(Extension(LiveCache::new(place)))
}

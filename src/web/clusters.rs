//! Which cluster a request is about. Every cluster's pages live under
//! `/clusters/NAME` and its API under `/api/v1/clusters/NAME`; with one
//! cluster the pages and API are also served at `/` and `/api/v1` (the URLs
//! of a single-cluster kafka-pulse). With several, those old URLs redirect
//! to the all-clusters home (pages) or answer 409 with the list of clusters
//! (API): never a silent pick.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::model::Snapshot;
use crate::store::SinkCounters;

use super::error::ApiError;
use crate::store::Store;

/// Where one cluster's pages and API are served.
#[derive(Debug, Clone)]
pub struct ClusterPlace {
    /// The name in URLs (`default` for one unnamed cluster).
    pub name: String,
    /// The configured name; `None`: labelled by Kafka's cluster id.
    pub configured: Option<String>,
    /// Prefix of its page links: empty when the one cluster is served at
    /// the root, else `/clusters/NAME`.
    pub base: String,
    /// Prefix of its API: `/api/v1`, or `/api/v1/clusters/NAME`.
    pub api: String,
    /// `--lag-threshold-messages` of this cluster: the line drawn on its
    /// lag chart (pages show where the alerts would fire).
    pub lag_threshold: Option<i64>,
}

impl Default for ClusterPlace {
    fn default() -> Self {
        ClusterPlace::single(None)
    }
}

impl ClusterPlace {
    /// The one cluster of a single-cluster kafka-pulse: links as before.
    pub fn single(configured: Option<String>) -> Self {
        ClusterPlace {
            name: configured
                .clone()
                .unwrap_or_else(|| crate::model::DEFAULT_CLUSTER_NAME.to_string()),
            configured,
            base: String::new(),
            api: "/api/v1".to_string(),
            lag_threshold: None,
        }
    }

    /// One of several clusters.
    pub fn among_several(name: &str) -> Self {
        ClusterPlace {
            name: name.to_string(),
            configured: Some(name.to_string()),
            base: format!("/clusters/{name}"),
            api: format!("/api/v1/clusters/{name}"),
            lag_threshold: None,
        }
    }

    /// The `cluster` label of its outputs.
    pub fn label<'a>(&'a self, snapshot: &'a crate::model::Snapshot) -> &'a str {
        snapshot.cluster_label(self.configured.as_deref())
    }
}

/// One watched cluster as the all-clusters views see it.
#[derive(Clone)]
pub struct Member {
    pub place: Arc<ClusterPlace>,
    pub store: Arc<Store>,
    pub interval: Duration,
    pub request_timeout: Duration,
}

impl Member {
    /// Whether `snapshot`, this cluster's latest, is fresh for its interval.
    pub fn is_fresh(&self, snapshot: &Snapshot) -> bool {
        sample_is_fresh(snapshot, self.interval, self.request_timeout)
    }
}

/// Every watched cluster, in configuration order; empty in tests that
/// build one cluster's state by hand (then that one is all there is).
#[derive(Clone, Default)]
pub struct Directory {
    pub members: Vec<Member>,
}

impl Directory {
    pub fn is_several(&self) -> bool {
        self.members.len() > 1
    }

    pub fn names(&self) -> Vec<&str> {
        self.members.iter().map(|m| m.place.name.as_str()).collect()
    }
}

/// `GET /api/v1/clusters`: every cluster with its summary and URLs.
pub async fn list(State(directory): State<Arc<Directory>>) -> Json<Value> {
    Json(json!({
        "clusters": directory.members.iter().map(summary).collect::<Vec<_>>(),
    }))
}

/// One cluster's line in `/api/v1/clusters` (and on the home page).
pub fn summary(member: &Member) -> Value {
    let snapshot = member.store.latest();
    let fresh = member.is_fresh(&snapshot);
    let worst = snapshot.worst_group();
    json!({
        "name": member.place.name,
        "label": member.place.label(&snapshot),
        "cluster_id": snapshot.cluster_id,
        "kafka_up": snapshot.kafka_up,
        "stale": !fresh,
        "last_sample_at": (snapshot.sequence > 0).then_some(snapshot.taken_at),
        "brokers": snapshot.brokers.len(),
        "topics": snapshot.topics.len(),
        "groups": snapshot.groups.len(),
        "total_lag": snapshot.total_lag(),
        "messages_in_per_sec": snapshot.total_in_per_sec(),
        "messages_out_per_sec": snapshot.total_out_per_sec(),
        "worst_group": worst.map(|g| json!({
            "group": g.group.as_str(),
            "status": g.status,
            "reason": g.reason,
        })),
        "pages": if member.place.base.is_empty() { "/".to_string() } else { member.place.base.clone() },
        "api": member.place.api,
    })
}

/// One cluster's health: ok when Kafka answers, samples are fresh and no
/// sink is failing.
pub fn health_of(member: &Member) -> Value {
    let snapshot = member.store.latest();
    let fresh = member.is_fresh(&snapshot);
    let sinks = member.store.sinks();
    let sinks_failing = sinks.iter().any(|(_, c)| c.is_failing());
    let ok = snapshot.kafka_up && fresh && !sinks_failing;
    json!({
        "status": if ok { "ok" } else { "degraded" },
        "cluster": member.place.label(&snapshot),
        "kafka_up": snapshot.kafka_up,
        "last_sample_at": (snapshot.sequence > 0).then_some(snapshot.taken_at),
        "sequence": snapshot.sequence,
        "stale": !fresh,
        "sample_duration_seconds": snapshot.sample_duration_seconds,
        "errors": snapshot.errors,
        "topics": snapshot.topics.len(),
        "groups": snapshot.groups.len(),
        "sinks": sinks.iter().map(|(name, c)| json!({
            "sink": name,
            "failing": c.is_failing(),
            "points_produced": SinkCounters::get(&c.produced),
            "points_sent": SinkCounters::get(&c.sent),
            "points_dropped": SinkCounters::get(&c.dropped),
            "errors": SinkCounters::get(&c.errors),
            "queued": SinkCounters::get(&c.queued),
            "queued_bytes": SinkCounters::get(&c.queued_bytes),
            "last_error": c.last_error(),
        })).collect::<Vec<_>>(),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

pub fn sample_is_fresh(
    snapshot: &Snapshot,
    interval: std::time::Duration,
    request_timeout: std::time::Duration,
) -> bool {
    snapshot.sequence > 0
        && sample_is_recent(
            snapshot.taken_at,
            chrono::Utc::now(),
            interval * 3 + request_timeout,
        )
}

/// The clock-free core of [`is_fresh`], tested at its edges: a sample taken
/// `limit` ago is still fresh; one "from the future" (the clock stepped
/// back) counts as fresh rather than raising a false alarm.
fn sample_is_recent(
    taken_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    limit: std::time::Duration,
) -> bool {
    (now - taken_at).to_std().map_or(true, |age| age <= limit)
}

/// `GET /api/v1/health` with several clusters: ok when every cluster is.
pub async fn health(State(directory): State<Arc<Directory>>) -> Json<Value> {
    let clusters: Vec<Value> = directory.members.iter().map(health_of).collect();
    let ok = clusters.iter().all(|c| c["status"] == "ok");
    Json(json!({
        "status": if ok { "ok" } else { "degraded" },
        "clusters": clusters,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// A single-cluster URL of the API or of the pages' live parts
/// (`/live/...`, `/fragments/...`) asked while several clusters are watched.
pub async fn ambiguous(State(directory): State<Arc<Directory>>, uri: Uri) -> Response {
    let path = uri.path();
    let names = directory.names();
    let example = names
        .first()
        .map(|name| match path.strip_prefix("/api/v1") {
            Some(rest) => format!("/api/v1/clusters/{name}{rest}"),
            None => format!("/clusters/{name}{path}"),
        })
        .unwrap_or_default();
    let mut body = ApiError {
        status: StatusCode::CONFLICT,
        message: format!(
            "kafka-pulse watches {} clusters ({}); ask one of them, e.g. {example}",
            names.len(),
            names.join(", ")
        ),
    }
    .into_response();
    // The list in machine-readable form too.
    body.headers_mut().insert(
        "x-kafka-pulse-clusters",
        axum::http::HeaderValue::from_str(&names.join(","))
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
    );
    body
}

/// `/clusters/ANY/REST` with one cluster: its page `/REST`, query kept.
pub async fn to_single(uri: Uri) -> Redirect {
    let path = uri.path();
    let rest = path
        .strip_prefix("/clusters/")
        .and_then(|tail| tail.split_once('/'))
        .map_or("", |(_, rest)| rest);
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    Redirect::to(&format!("/{rest}{query}"))
}

/// A single-cluster page URL asked while several clusters are watched.
pub async fn to_home() -> Redirect {
    Redirect::to("/")
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration as Age, TimeZone, Utc};
    use std::time::Duration;

    #[test]
    fn a_sample_is_fresh_up_to_the_limit_and_stale_after_it() {
        let taken = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let limit = Duration::from_secs(8);
        assert!(sample_is_recent(taken, taken, limit));
        assert!(sample_is_recent(taken, taken + Age::seconds(8), limit));
        assert!(!sample_is_recent(
            taken,
            taken + Age::seconds(8) + Age::milliseconds(1),
            limit
        ));
        assert!(!sample_is_recent(taken, taken + Age::hours(1), limit));
        // The wall clock stepped back: not an alarm.
        assert!(sample_is_recent(taken, taken - Age::seconds(30), limit));
    }
}

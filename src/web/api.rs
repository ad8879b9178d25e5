//! JSON API under /api/v1 (README "HTTP surface"; outside tests rely on it).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::clusters::health_of;
use super::error::ApiError;
use super::AppState;

const MAX_EVENTS: usize = 10_000;

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(health_of(&state.member()))
}

pub async fn brokers(State(state): State<AppState>) -> Json<Value> {
    let snapshot = state.store.latest();
    let brokers: Vec<Value> = snapshot
        .brokers
        .iter()
        .map(|b| {
            let leaders = snapshot
                .partitions()
                .filter(|p| p.leader == b.node_id)
                .count();
            let replicas = snapshot
                .partitions()
                .filter(|p| p.replicas.contains(&b.node_id))
                .count();
            let out_of_sync = snapshot
                .partitions()
                .filter(|p| p.replicas.contains(&b.node_id) && !p.isr.contains(&b.node_id))
                .count();
            json!({
                "node_id": b.node_id,
                "host": b.host,
                "port": b.port,
                "rack": b.rack,
                "controller": snapshot.controller_id == Some(b.node_id),
                "leader_partitions": leaders,
                "replica_partitions": replicas,
                "out_of_sync_replicas": out_of_sync,
            })
        })
        .collect();
    Json(json!({
        "cluster_id": snapshot.cluster_id,
        "controller_id": snapshot.controller_id,
        "brokers": brokers,
        "partitions": snapshot.partitions().count(),
        "under_replicated_partitions": snapshot.under_replicated_partitions(),
        "offline_partitions": snapshot.offline_partitions(),
    }))
}

pub async fn topics(State(state): State<AppState>) -> Json<Value> {
    let snapshot = state.store.latest();
    let topics: Vec<Value> = snapshot
        .topics
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "partitions": t.partitions.len(),
                "depth": t.depth,
                "messages_in_per_sec": t.messages_in_per_sec,
                "messages_out_per_sec": t.messages_out_per_sec,
                "internal": t.internal,
                "groups": t.groups,
            })
        })
        .collect();
    Json(json!({ "topics": topics }))
}

pub async fn topic(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.store.latest();
    let topic = snapshot.topic(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "topic '{name}' not found; GET {}/topics lists the topics",
            state.place.api
        ))
    })?;
    let groups: Vec<Value> = snapshot
        .groups
        .iter()
        .filter_map(|g| {
            let on_topic = g.topics.iter().find(|t| t.topic == name)?;
            Some(json!({
                "group": g.group,
                "status": g.status,
                "lag": on_topic.lag,
                "lag_seconds": on_topic.lag_seconds,
                "messages_out_per_sec": on_topic.messages_out_per_sec,
            }))
        })
        .collect();
    Ok(Json(json!({
        "name": topic.name,
        "internal": topic.internal,
        "depth": topic.depth,
        "messages_in_per_sec": topic.messages_in_per_sec,
        "messages_out_per_sec": topic.messages_out_per_sec,
        "partitions": topic.partitions,
        "groups": groups,
    })))
}

pub async fn groups(State(state): State<AppState>) -> Json<Value> {
    let snapshot = state.store.latest();
    let groups: Vec<Value> = snapshot
        .groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group,
                "group_type": g.group_type,
                "state": g.state,
                "status": g.status,
                "reason": g.reason,
                "members": g.members.as_ref().map(Vec::len),
                "lag": g.lag,
                "lag_seconds": g.lag_seconds,
                "lost_messages": g.lost_messages,
                "time_to_clear_seconds": g.time_to_clear_seconds,
                "messages_out_per_sec": g.messages_out_per_sec,
                "topics": g.topics,
            })
        })
        .collect();
    Json(json!({ "groups": groups }))
}

pub async fn group(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.store.latest();
    let group = snapshot.group(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "group '{name}' not found; GET {}/groups lists the groups",
            state.place.api
        ))
    })?;
    Ok(Json(
        serde_json::to_value(group).map_err(|e| ApiError::internal(e.to_string()))?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    limit: Option<String>,
}

pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = match query.limit {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_EVENTS).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit must be a whole number from 1 to {MAX_EVENTS}, got '{text}'"
                ))
            })?,
    };
    Ok(Json(json!({ "events": state.store.events(limit) })))
}

#[derive(Debug, Deserialize)]
pub struct SeriesQuery {
    topic: Option<String>,
    group: Option<String>,
    /// Present (any value): the cluster's totals (the overview's charts).
    totals: Option<String>,
    /// `5m` or `1h` (every sample), `24h` (one point per minute); without
    /// it, every sample kept (up to 1 h).
    range: Option<String>,
}

/// Which history a chart asked for.
enum SeriesRange {
    All,
    Since(chrono::DateTime<chrono::Utc>),
    Minutes,
}

fn series_range(
    range: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SeriesRange, ApiError> {
    match range {
        None => Ok(SeriesRange::All),
        Some("5m") => Ok(SeriesRange::Since(now - chrono::Duration::minutes(5))),
        Some("15m") => Ok(SeriesRange::Since(now - chrono::Duration::minutes(15))),
        Some("1h" | "60m") => Ok(SeriesRange::Since(now - chrono::Duration::hours(1))),
        Some("24h") => Ok(SeriesRange::Minutes),
        Some(other) => Err(ApiError::bad_request(format!(
            "range must be 5m, 15m, 60m (or 1h) or 24h, got '{other}'"
        ))),
    }
}

pub async fn series(
    State(state): State<AppState>,
    Query(query): Query<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    // Ranges end at the latest sample, so a stalled collector still shows
    // the last 5 minutes it saw rather than an empty chart.
    let latest = state.store.latest().taken_at;
    let range = series_range(query.range.as_deref(), latest)?;
    let store = &state.store;
    if query.totals.is_some() {
        if query.topic.is_some() || query.group.is_some() {
            return Err(ApiError::bad_request(
                "give exactly one of ?totals, ?topic=NAME or ?group=NAME",
            ));
        }
        let points = match range {
            SeriesRange::All => store.totals_since(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            SeriesRange::Since(since) => store.totals_since(since),
            SeriesRange::Minutes => store.totals_minutes(),
        };
        return Ok(Json(
            json!({ "totals": true, "range": query.range, "points": points }),
        ));
    }
    match (query.topic, query.group) {
        (Some(topic), None) => {
            let points = match range {
                SeriesRange::All => store.topic_series(&topic),
                SeriesRange::Since(since) => store.topic_series_since(&topic, since),
                SeriesRange::Minutes => store.topic_series_minutes(&topic),
            }
            .ok_or_else(|| ApiError::not_found(format!("no series for topic '{topic}'")))?;
            Ok(Json(
                json!({ "topic": topic, "range": query.range, "points": points }),
            ))
        }
        (None, Some(group)) => {
            let points = match range {
                SeriesRange::All => store.group_series(&group),
                SeriesRange::Since(since) => store.group_series_since(&group, since),
                SeriesRange::Minutes => store.group_series_minutes(&group),
            }
            .ok_or_else(|| ApiError::not_found(format!("no series for group '{group}'")))?;
            Ok(Json(
                json!({ "group": group, "range": query.range, "points": points }),
            ))
        }
        _ => Err(ApiError::bad_request(
            "give exactly one of ?totals, ?topic=NAME or ?group=NAME",
        )),
    }
}

/// Rows of a heatmap unless `?rows=` says otherwise: enough for a screen,
/// and a stuck partition is among the ones with the most lag.
pub const HEATMAP_ROWS: usize = 64;
/// The most rows `?rows=` may ask for.
const MAX_HEATMAP_ROWS: usize = 1024;

#[derive(Debug, Deserialize)]
pub struct HeatmapQuery {
    rows: Option<String>,
}

/// `GET /groups/{group}/heatmap`: lag per partition per minute over the
/// last hour, the partitions with the most lag first.
pub async fn heatmap(
    State(state): State<AppState>,
    Path(group): Path<String>,
    Query(query): Query<HeatmapQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = match query.rows.as_deref() {
        None => HEATMAP_ROWS,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_HEATMAP_ROWS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "rows must be a whole number from 1 to {MAX_HEATMAP_ROWS}, got '{text}'"
                )))
            }
        },
    };
    let map = state
        .store
        .lag_heatmap(&group, rows)
        .ok_or_else(|| ApiError::not_found(format!("no heatmap for group '{group}'")))?;
    Ok(Json(json!({ "group": group, "heatmap": map })))
}

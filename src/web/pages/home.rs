//! The all-clusters home (`/` with several clusters, `/clusters` always):
//! per cluster whether Kafka answers, its size, its worst group with the
//! reason, its total lag and flow, and the link to its pages. Its live part
//! is pushed by `home_live`.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{html_page, status_class};
use crate::web::clusters::{Directory, Member};
use crate::web::format;

pub struct ClusterRow {
    pub name: String,
    pub href: String,
    pub sequence: u64,
    pub up: bool,
    pub waiting: bool,
    pub stale: bool,
    /// When the last sample was taken (UTC, and RFC 3339 for the script).
    pub last_sample: String,
    pub last_sample_iso: String,
    pub first_error: String,
    pub brokers: usize,
    pub topics: usize,
    pub groups: usize,
    pub worst_group: String,
    pub worst_href: String,
    pub worst_status: String,
    pub worst_class: &'static str,
    pub worst_reason: String,
    pub total_lag: String,
    pub in_per_sec: String,
    pub out_per_sec: String,
    /// Its totals series (the home chart's history) and newest point.
    pub series: String,
    pub time_ms: i64,
    pub in_raw: f64,
    pub out_raw: f64,
    pub lag_raw: i64,
}

impl ClusterRow {
    fn build(member: &Member) -> Self {
        let snapshot = member.store.latest();
        let base = &member.place.base;
        let worst = snapshot.worst_group();
        ClusterRow {
            name: member.place.name.clone(),
            href: if base.is_empty() {
                "/".into()
            } else {
                base.clone()
            },
            sequence: snapshot.sequence,
            up: snapshot.kafka_up,
            waiting: snapshot.sequence == 0,
            stale: !member.is_fresh(&snapshot),
            last_sample: snapshot.taken_at.format("%H:%M:%S UTC").to_string(),
            last_sample_iso: snapshot.taken_at.to_rfc3339(),
            first_error: snapshot.errors.first().cloned().unwrap_or_default(),
            brokers: snapshot.brokers.len(),
            topics: snapshot.topics.len(),
            groups: snapshot.groups.len(),
            worst_group: worst.map(|g| g.group.to_string()).unwrap_or_default(),
            worst_href: worst
                .map(|g| format!("{base}/groups/{}", format::path_segment(&g.group)))
                .unwrap_or_default(),
            worst_status: worst
                .map(|g| g.status.as_str().to_string())
                .unwrap_or_default(),
            worst_class: worst.map(|g| status_class(g.status)).unwrap_or("ok"),
            worst_reason: worst.map(|g| g.reason.clone()).unwrap_or_default(),
            total_lag: format::int(snapshot.total_lag()),
            in_per_sec: format::rate(snapshot.total_in_per_sec()),
            out_per_sec: format::rate(snapshot.total_out_per_sec()),
            series: format!("{}/series?totals", member.place.api),
            time_ms: if snapshot.sequence > 0 {
                snapshot.taken_at.timestamp_millis()
            } else {
                0
            },
            in_raw: snapshot.total_in_per_sec(),
            out_raw: snapshot.total_out_per_sec(),
            lag_raw: snapshot.total_lag(),
        }
    }
}

#[derive(Template)]
#[template(path = "home_live.html")]
struct HomeLive<'a> {
    rows: &'a [ClusterRow],
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    rows: &'a [ClusterRow],
    interval_ms: u128,
    window: &'static str,
}

fn rows(directory: &Directory) -> Vec<ClusterRow> {
    directory.members.iter().map(ClusterRow::build).collect()
}

/// The live part of the home page, as it is now.
pub fn render_live(directory: &Directory) -> Result<String, askama::Error> {
    HomeLive {
        rows: &rows(directory),
    }
    .render()
}

pub async fn page(State(directory): State<Arc<Directory>>) -> Response {
    let rows = rows(&directory);
    // The page script's staleness clock: the quickest cluster's interval.
    let interval = directory.members.iter().map(|m| m.interval).min();
    let page = HomePage {
        rows: &rows,
        interval_ms: interval.unwrap_or_default().as_millis(),
        window: super::wall::current().window.unwrap_or("5m"),
    };
    html_page("the clusters page", page.render())
}

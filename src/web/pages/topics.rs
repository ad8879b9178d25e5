//! `/topics` (every topic, sortable and filterable in the browser) and
//! `/topics/{topic}` (partitions, charts, the groups reading it).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{html_page, missing_topic, status_class, Link, StatusView, LIST_ROWS};
use crate::model::{Snapshot, TopicView};
use crate::web::clusters::ClusterPlace;
use crate::web::{format, AppState};

pub struct TopicListRow {
    pub link: Link,
    pub internal: bool,
    pub partitions: usize,
    pub under_replicated: usize,
    pub offline: usize,
    /// Raw numbers for sorting in the browser; the text is for people.
    pub in_raw: f64,
    pub messages_in_per_sec: String,
    pub out_raw: f64,
    pub messages_out_per_sec: String,
    pub depth_raw: i64,
    pub depth: String,
    pub groups: Vec<Link>,
}

pub struct TopicsView {
    pub status: StatusView,
    pub rows: Vec<TopicListRow>,
    pub total: usize,
}

fn under_replicated(topic: &TopicView) -> usize {
    topic
        .partitions
        .iter()
        .filter(|p| p.isr.len() < p.replicas.len())
        .count()
}

fn offline(topic: &TopicView) -> usize {
    topic.partitions.iter().filter(|p| p.leader < 0).count()
}

impl TopicsView {
    pub fn build(snapshot: &Snapshot, place: &ClusterPlace) -> Self {
        let mut topics: Vec<&TopicView> = snapshot.topics.iter().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        TopicsView {
            status: StatusView::build(snapshot),
            total: topics.len(),
            rows: topics
                .into_iter()
                .take(LIST_ROWS)
                .map(|t| TopicListRow {
                    link: Link::topic(place, &t.name),
                    internal: t.internal,
                    partitions: t.partitions.len(),
                    under_replicated: under_replicated(t),
                    offline: offline(t),
                    in_raw: t.messages_in_per_sec,
                    messages_in_per_sec: format::rate(t.messages_in_per_sec),
                    out_raw: t.messages_out_per_sec,
                    messages_out_per_sec: format::rate(t.messages_out_per_sec),
                    depth_raw: t.depth,
                    depth: format::int(t.depth),
                    groups: t.groups.iter().map(|g| Link::group(place, g)).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "topics_live.html")]
struct TopicsLive<'a> {
    status: &'a StatusView,
    view: &'a TopicsView,
    place: &'a ClusterPlace,
}

#[derive(Template)]
#[template(path = "topics.html")]
struct TopicsPage<'a> {
    status: &'a StatusView,
    view: &'a TopicsView,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

pub fn list_live(snapshot: &Snapshot, place: &ClusterPlace) -> Result<String, askama::Error> {
    let view = TopicsView::build(snapshot, place);
    TopicsLive {
        status: &view.status,
        view: &view,
        place,
    }
    .render()
}

pub async fn list_page(State(state): State<AppState>) -> Response {
    let view = TopicsView::build(&state.store.latest(), &state.place);
    let page = TopicsPage {
        status: &view.status,
        view: &view,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the topics page", page.render())
}

pub struct PartitionRow {
    pub partition: i32,
    pub leader: String,
    pub offline: bool,
    pub replicas: String,
    pub isr: String,
    pub under_replicated: bool,
    pub low_watermark: String,
    pub high_watermark: String,
    pub depth: String,
    pub messages_in_per_sec: String,
}

/// One bar of the per-partition in-rate chart (skew between partitions).
pub struct SkewBar {
    pub partition: i32,
    /// Bar length, 0–100 (share of the busiest partition's rate).
    pub length: String,
    pub rate: String,
}

/// Bars shown at most: the busiest partitions beyond that are what skew is
/// about; the partitions table has them all.
pub const SKEW_BARS: usize = 64;

/// Per-partition in-rate bars, by partition number (the busiest
/// [`SKEW_BARS`] when there are more), scaled to the busiest.
fn skew_bars(topic: &TopicView) -> Vec<SkewBar> {
    let mut partitions: Vec<_> = topic.partitions.iter().collect();
    if partitions.len() > SKEW_BARS {
        partitions.sort_by(|a, b| b.messages_in_per_sec.total_cmp(&a.messages_in_per_sec));
        partitions.truncate(SKEW_BARS);
    }
    partitions.sort_by_key(|p| p.partition);
    let max = partitions
        .iter()
        .map(|p| p.messages_in_per_sec)
        .filter(|r| r.is_finite())
        .fold(0.0, f64::max);
    partitions
        .into_iter()
        .map(|p| SkewBar {
            partition: p.partition,
            length: if max > 0.0 && p.messages_in_per_sec.is_finite() {
                format!("{:.1}", (p.messages_in_per_sec.max(0.0) / max) * 100.0)
            } else {
                "0".into()
            },
            rate: format::rate(p.messages_in_per_sec),
        })
        .collect()
}

pub struct TopicGroupRow {
    pub link: Link,
    pub status: &'static str,
    pub status_class: &'static str,
    pub reason: String,
    pub lag: String,
    pub lag_seconds: String,
    pub messages_out_per_sec: String,
}

/// The newest values, appended to the charts by the page script each tick.
pub struct TopicPointView {
    pub time_ms: i64,
    pub depth: i64,
    pub messages_in_per_sec: f64,
    pub messages_out_per_sec: f64,
}

pub struct TopicDetailView {
    pub status: StatusView,
    pub name: String,
    /// `name` encoded for URLs.
    pub path: String,
    pub internal: bool,
    pub messages_in_per_sec: String,
    pub messages_out_per_sec: String,
    pub depth: String,
    pub partition_count: usize,
    pub under_replicated: usize,
    pub offline: usize,
    pub partitions: Vec<PartitionRow>,
    pub skew: Vec<SkewBar>,
    pub groups: Vec<TopicGroupRow>,
    pub point: TopicPointView,
}

impl TopicDetailView {
    pub fn build(snapshot: &Snapshot, name: &str, place: &ClusterPlace) -> Option<Self> {
        let topic = snapshot.topic(name)?;
        let mut groups: Vec<_> = snapshot
            .groups
            .iter()
            .filter_map(|g| Some((g, g.topics.iter().find(|t| t.topic == name)?)))
            .collect();
        groups.sort_by(|(a, on_a), (b, on_b)| {
            b.status
                .severity()
                .cmp(&a.status.severity())
                .then(on_b.lag.cmp(&on_a.lag))
                .then(a.group.cmp(&b.group))
        });
        Some(TopicDetailView {
            status: StatusView::build(snapshot),
            name: topic.name.to_string(),
            path: format::path_segment(&topic.name),
            internal: topic.internal,
            messages_in_per_sec: format::rate(topic.messages_in_per_sec),
            messages_out_per_sec: format::rate(topic.messages_out_per_sec),
            depth: format::int(topic.depth),
            partition_count: topic.partitions.len(),
            under_replicated: under_replicated(topic),
            offline: offline(topic),
            partitions: topic
                .partitions
                .iter()
                .map(|p| PartitionRow {
                    partition: p.partition,
                    leader: if p.leader < 0 {
                        "none".into()
                    } else {
                        p.leader.to_string()
                    },
                    offline: p.leader < 0,
                    replicas: format::ids(&p.replicas),
                    isr: format::ids(&p.isr),
                    under_replicated: p.isr.len() < p.replicas.len(),
                    low_watermark: format::offset(p.low_watermark),
                    high_watermark: format::offset(p.high_watermark),
                    depth: format::int(p.depth),
                    messages_in_per_sec: format::rate(p.messages_in_per_sec),
                })
                .collect(),
            skew: skew_bars(topic),
            groups: groups
                .into_iter()
                .map(|(g, on_topic)| TopicGroupRow {
                    link: Link::group(place, &g.group),
                    status: g.status.as_str(),
                    status_class: status_class(g.status),
                    reason: g.reason.clone(),
                    lag: format::int(on_topic.lag),
                    lag_seconds: format::duration(on_topic.lag_seconds),
                    messages_out_per_sec: format::rate(on_topic.messages_out_per_sec),
                })
                .collect(),
            point: TopicPointView {
                time_ms: snapshot.taken_at.timestamp_millis(),
                depth: topic.depth,
                messages_in_per_sec: topic.messages_in_per_sec,
                messages_out_per_sec: topic.messages_out_per_sec,
            },
        })
    }
}

#[derive(Template)]
#[template(path = "topic_live.html")]
struct TopicLive<'a> {
    status: &'a StatusView,
    view: &'a TopicDetailView,
}

#[derive(Template)]
#[template(path = "topic.html")]
struct TopicPage<'a> {
    status: &'a StatusView,
    view: &'a TopicDetailView,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

/// Shown to live viewers of a topic that was deleted since they opened it.
#[derive(Template)]
#[template(path = "gone_live.html")]
pub struct GoneLive<'a> {
    pub status: &'a StatusView,
    pub kind: &'a str,
    pub name: &'a str,
    pub list_href: &'a str,
}

pub fn detail_live(
    snapshot: &Snapshot,
    name: &str,
    place: &ClusterPlace,
) -> Result<String, askama::Error> {
    match TopicDetailView::build(snapshot, name, place) {
        Some(view) => TopicLive {
            status: &view.status,
            view: &view,
        }
        .render(),
        None => GoneLive {
            status: &StatusView::build(snapshot),
            kind: "topic",
            name,
            list_href: &format!("{}/topics", place.base),
        }
        .render(),
    }
}

pub async fn detail_page(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let snapshot = state.store.latest();
    let Some(view) = TopicDetailView::build(&snapshot, &name, &state.place) else {
        return missing_topic(&state.place, &snapshot, &name);
    };
    let page = TopicPage {
        status: &view.status,
        view: &view,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the topic page", page.render())
}

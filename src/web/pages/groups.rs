//! `/groups` (every consumer group with status and reason) and
//! `/groups/{group}` (per-partition lag, charts, members).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use super::topics::GoneLive;
use super::{
    clears_in, html_page, member_count, missing_group, shown_state, status_class, Link, StatusView,
    LIST_ROWS,
};
use crate::model::{GroupView, Snapshot};
use crate::web::clusters::ClusterPlace;
use crate::web::{format, AppState};

pub struct GroupListRow {
    pub link: Link,
    pub status: &'static str,
    pub status_class: &'static str,
    /// Sorts worst first in the browser.
    pub severity: u8,
    pub reason: String,
    pub state: String,
    pub state_note: String,
    pub members: String,
    pub lag_raw: i64,
    pub lag: String,
    pub lag_seconds_raw: f64,
    pub lag_seconds: String,
    pub clears_in: String,
    pub out_raw: f64,
    pub messages_out_per_sec: String,
    pub topics: Vec<Link>,
}

pub struct GroupsView {
    pub status: StatusView,
    pub rows: Vec<GroupListRow>,
    pub total: usize,
    /// Why members show as "?", when the broker could not describe groups.
    pub members_note: String,
}

impl GroupsView {
    pub fn build(snapshot: &Snapshot, place: &ClusterPlace) -> Self {
        let mut groups: Vec<&GroupView> = snapshot.groups.iter().collect();
        // Worst first, like the overview: what needs attention on top.
        groups.sort_by(|a, b| {
            b.status
                .severity()
                .cmp(&a.status.severity())
                .then(b.lag.cmp(&a.lag))
                .then(a.group.cmp(&b.group))
        });
        GroupsView {
            status: StatusView::build(snapshot),
            total: groups.len(),
            members_note: groups
                .iter()
                .find_map(|g| {
                    g.members
                        .is_none()
                        .then_some(g.state_note.as_ref())
                        .flatten()
                })
                .map(|note| note.to_string())
                .unwrap_or_default(),
            rows: groups
                .into_iter()
                .take(LIST_ROWS)
                .map(|g| GroupListRow {
                    link: Link::group(place, &g.group),
                    status: g.status.as_str(),
                    status_class: status_class(g.status),
                    severity: g.status.severity(),
                    reason: g.reason.clone(),
                    state: shown_state(g),
                    state_note: g
                        .state_note
                        .as_ref()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    members: member_count(g),
                    lag_raw: g.lag,
                    lag: format::int(g.lag),
                    lag_seconds_raw: g.lag_seconds,
                    lag_seconds: format::duration(g.lag_seconds),
                    clears_in: clears_in(g),
                    out_raw: g.messages_out_per_sec,
                    messages_out_per_sec: format::rate(g.messages_out_per_sec),
                    topics: g
                        .topics
                        .iter()
                        .map(|t| Link::topic(place, &t.topic))
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "groups_live.html")]
struct GroupsLive<'a> {
    status: &'a StatusView,
    view: &'a GroupsView,
    place: &'a ClusterPlace,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage<'a> {
    status: &'a StatusView,
    view: &'a GroupsView,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

pub fn list_live(snapshot: &Snapshot, place: &ClusterPlace) -> Result<String, askama::Error> {
    let view = GroupsView::build(snapshot, place);
    GroupsLive {
        status: &view.status,
        view: &view,
        place,
    }
    .render()
}

pub async fn list_page(State(state): State<AppState>) -> Response {
    let view = GroupsView::build(&state.store.latest(), &state.place);
    let page = GroupsPage {
        status: &view.status,
        view: &view,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the groups page", page.render())
}

pub struct GroupPartitionRow {
    pub topic: Link,
    pub partition: i32,
    pub committed_offset: String,
    pub high_watermark: String,
    pub lag: String,
    pub lag_seconds: String,
    pub messages_out_per_sec: String,
    /// Behind at all: highlighted so the partition in trouble stands out.
    pub behind: bool,
}

pub struct MemberRow {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub assignment: String,
}

/// The newest values, appended to the charts by the page script each tick.
pub struct GroupPointView {
    pub time_ms: i64,
    pub lag: i64,
    pub lag_seconds: f64,
}

pub struct GroupDetailView {
    pub status: StatusView,
    pub name: String,
    pub path: String,
    pub group_status: &'static str,
    pub status_class: &'static str,
    pub reason: String,
    pub state: String,
    pub lag: String,
    pub lag_seconds: String,
    pub clears_in: String,
    pub messages_out_per_sec: String,
    /// `None`: the broker could not describe the group.
    pub members: Option<Vec<MemberRow>>,
    pub members_note: String,
    pub error: String,
    pub partitions: Vec<GroupPartitionRow>,
    pub point: GroupPointView,
}

impl GroupDetailView {
    pub fn build(snapshot: &Snapshot, name: &str, place: &ClusterPlace) -> Option<Self> {
        let g = snapshot.group(name)?;
        let mut partitions: Vec<_> = g.partitions.iter().collect();
        partitions.sort_by(|a, b| a.topic.cmp(&b.topic).then(a.partition.cmp(&b.partition)));
        Some(GroupDetailView {
            status: StatusView::build(snapshot),
            name: g.group.to_string(),
            path: format::path_segment(&g.group),
            group_status: g.status.as_str(),
            status_class: status_class(g.status),
            reason: g.reason.clone(),
            state: g.state.to_string(),
            lag: format::int(g.lag),
            lag_seconds: format::duration(g.lag_seconds),
            clears_in: clears_in(g),
            messages_out_per_sec: format::rate(g.messages_out_per_sec),
            members: g.members.as_ref().map(|members| {
                members
                    .iter()
                    .map(|m| MemberRow {
                        member_id: m.member_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        assignment: m
                            .assignment
                            .iter()
                            .map(|a| format!("{} [{}]", a.topic, format::ids(&a.partitions)))
                            .collect::<Vec<_>>()
                            .join("; "),
                    })
                    .collect()
            }),
            members_note: g.state_note.as_ref().map_or_else(
                || "the broker did not describe this group".to_string(),
                |n| n.to_string(),
            ),
            error: g.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
            partitions: partitions
                .into_iter()
                .map(|p| GroupPartitionRow {
                    topic: Link::topic(place, &p.topic),
                    partition: p.partition,
                    committed_offset: format::offset(p.committed_offset.get()),
                    high_watermark: format::offset(p.high_watermark.get()),
                    lag: format::int(p.lag),
                    lag_seconds: format::duration(p.lag_seconds),
                    messages_out_per_sec: format::rate(p.messages_out_per_sec),
                    behind: p.lag > 0,
                })
                .collect(),
            point: GroupPointView {
                time_ms: snapshot.taken_at.timestamp_millis(),
                lag: g.lag,
                lag_seconds: g.lag_seconds,
            },
        })
    }
}

#[derive(Template)]
#[template(path = "group_live.html")]
struct GroupLive<'a> {
    status: &'a StatusView,
    view: &'a GroupDetailView,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage<'a> {
    status: &'a StatusView,
    view: &'a GroupDetailView,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

pub fn detail_live(
    snapshot: &Snapshot,
    name: &str,
    place: &ClusterPlace,
) -> Result<String, askama::Error> {
    match GroupDetailView::build(snapshot, name, place) {
        Some(view) => GroupLive {
            status: &view.status,
            view: &view,
        }
        .render(),
        None => GoneLive {
            status: &StatusView::build(snapshot),
            kind: "group",
            name,
            list_href: &format!("{}/groups", place.base),
        }
        .render(),
    }
}

pub async fn detail_page(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let snapshot = state.store.latest();
    let Some(view) = GroupDetailView::build(&snapshot, &name, &state.place) else {
        return missing_group(&state.place, &snapshot, &name);
    };
    let page = GroupPage {
        status: &view.status,
        view: &view,
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the group page", page.render())
}

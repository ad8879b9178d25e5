//! `/events`: the event log, newest first, filtered by kind, topic and
//! group. The filter lives in the URL (`/events?kind=&topic=&group=`), so a
//! filtered view can be bookmarked; the live stream takes the same query.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::{html_page, Link, StatusView};
use crate::analysis::events::KNOWN_KINDS;
use crate::model::{Event, Snapshot};
use crate::store::Store;
use crate::web::clusters::ClusterPlace;
use crate::web::{format, AppState};

/// Events shown on the page.
pub const EVENT_ROWS: usize = 200;
/// Events searched for matches (the whole default log).
const EVENT_SCAN: usize = crate::store::DEFAULT_EVENT_CAPACITY;

/// `kind` matches exactly; `topic` and `group` match part of the event's
/// topic, group or subject (typing "pay" finds "payments").
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub topic: Option<String>,
    pub group: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl EventFilter {
    /// Blank fields mean "any", as an empty form field sends them.
    pub fn normalized(self) -> Self {
        EventFilter {
            kind: non_empty(self.kind),
            topic: non_empty(self.topic),
            group: non_empty(self.group),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.topic.is_none() && self.group.is_none()
    }

    pub fn matches(&self, event: &Event) -> bool {
        let part = |wanted: &Option<String>, field: &Option<String>| match wanted {
            None => true,
            Some(wanted) => {
                field
                    .as_deref()
                    .is_some_and(|f| f.contains(wanted.as_str()))
                    || event.subject.contains(wanted.as_str())
            }
        };
        self.kind.as_ref().is_none_or(|kind| &event.kind == kind)
            && part(&self.topic, &event.topic)
            && part(&self.group, &event.group)
    }

    /// The filter as a query string ("" or "?kind=...&topic=...").
    pub fn query(&self) -> String {
        let parts: Vec<String> = [
            ("kind", &self.kind),
            ("topic", &self.topic),
            ("group", &self.group),
        ]
        .into_iter()
        .filter_map(|(key, value)| {
            Some(format!("{key}={}", format::path_segment(value.as_deref()?)))
        })
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }
}

pub struct EventRow {
    pub time: String,
    /// RFC 3339, for the page script to show local time.
    pub iso: String,
    pub kind: String,
    pub subject: String,
    pub message: String,
    pub topic: Option<Link>,
    pub group: Option<Link>,
}

impl EventRow {
    /// The event with links into the cluster at `place`.
    pub fn from_event(event: &Event, place: &ClusterPlace) -> Self {
        EventRow {
            time: event.timestamp.format("%H:%M:%S").to_string(),
            iso: event.timestamp.to_rfc3339(),
            kind: event.kind.clone(),
            subject: event.subject.clone(),
            message: event.message.clone(),
            topic: event.topic.as_deref().map(|t| Link::topic(place, t)),
            group: event.group.as_deref().map(|g| Link::group(place, g)),
        }
    }
}

pub struct EventsView {
    pub status: StatusView,
    pub rows: Vec<EventRow>,
    pub filtered: bool,
}

impl EventsView {
    pub fn build(
        snapshot: &Snapshot,
        store: &Store,
        filter: &EventFilter,
        place: &ClusterPlace,
    ) -> Self {
        EventsView {
            status: StatusView::build(snapshot),
            rows: store
                .events(EVENT_SCAN)
                .iter()
                .filter(|e| filter.matches(e))
                .take(EVENT_ROWS)
                .map(|e| EventRow::from_event(e, place))
                .collect(),
            filtered: !filter.is_empty(),
        }
    }
}

#[derive(Template)]
#[template(path = "events_live.html")]
struct EventsLive<'a> {
    status: &'a StatusView,
    view: &'a EventsView,
    place: &'a ClusterPlace,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage<'a> {
    status: &'a StatusView,
    view: &'a EventsView,
    filter: &'a EventFilter,
    kinds: Vec<String>,
    query: String,
    place: &'a ClusterPlace,
    interval_ms: u128,
}

pub fn live(
    snapshot: &Snapshot,
    store: &Store,
    filter: &EventFilter,
    place: &ClusterPlace,
) -> Result<String, askama::Error> {
    let view = EventsView::build(snapshot, store, filter, place);
    EventsLive {
        status: &view.status,
        view: &view,
        place,
    }
    .render()
}

pub async fn page(State(state): State<AppState>, Query(filter): Query<EventFilter>) -> Response {
    let filter = filter.normalized();
    let snapshot = state.store.latest();
    let view = EventsView::build(&snapshot, &state.store, &filter, &state.place);
    let mut kinds: BTreeSet<String> = KNOWN_KINDS.iter().map(|k| k.to_string()).collect();
    kinds.extend(state.store.events(EVENT_SCAN).into_iter().map(|e| e.kind));
    let page = EventsPage {
        status: &view.status,
        view: &view,
        filter: &filter,
        kinds: kinds.into_iter().collect(),
        query: filter.query(),
        place: &state.place,
        interval_ms: state.interval.as_millis(),
    };
    html_page("the events page", page.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn filters_match_kind_exactly_and_names_in_part() {
        let event = Event::new(Utc::now(), "lag_threshold_crossed", "billing", "lag 5")
            .for_group("billing")
            .for_topic("payments");
        let filter = |kind: &str, topic: &str, group: &str| {
            EventFilter {
                kind: Some(kind.into()),
                topic: Some(topic.into()),
                group: Some(group.into()),
            }
            .normalized()
        };
        assert!(filter("", "", "").matches(&event));
        assert!(filter("lag_threshold_crossed", "pay", "bill").matches(&event));
        assert!(!filter("lag_threshold", "", "").matches(&event));
        assert!(!filter("", "orders", "").matches(&event));
        assert_eq!(filter(" ", "a b", "").query(), "?topic=a%20b");
    }
}

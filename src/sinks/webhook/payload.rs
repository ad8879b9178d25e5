//! The JSON document posted for one event. Built once when the event is
//! queued, so every retry sends the same bytes and the same `id`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::analysis::status::group_digits;
use crate::model::{Event, Snapshot};
use crate::sinks::queue::Queued;

/// One queued POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The payload's `id`, for logs and tests.
    pub id: String,
    pub body: String,
}

impl Queued for Notification {
    fn records(&self) -> usize {
        1
    }

    fn size(&self) -> usize {
        self.body.len()
    }
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Slack's and Mattermost's `text` is markup: `&`, `<` and `>` must be
/// escaped or a group named `<!channel>` would ping everyone.
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `id` is unique per event for this kafka-pulse run (`run` is a random id
/// chosen at start, `event_id` the store's sequence), so a receiver can drop
/// a second delivery of the same event.
pub fn build(
    run: &str,
    event_id: u64,
    event: &Event,
    cluster: &str,
    latest: &Snapshot,
) -> Notification {
    let id = format!("{run}-{event_id}");
    let group = event.group.as_deref().and_then(|name| latest.group(name));
    let mut text = format!(
        "kafka-pulse [{}] {}: {}",
        escape_markup(cluster),
        event.kind,
        escape_markup(&event.message)
    );
    if let Some(group) = group {
        text.push_str(&format!(
            " (now {}, lag {} messages, {:.0}s behind)",
            group.status.as_str(),
            group_digits(group.lag),
            finite(group.lag_seconds)
        ));
    }
    let mut body = json!({
        "id": id,
        "timestamp": timestamp(event.timestamp),
        "kind": event.kind,
        "subject": event.subject,
        "message": event.message,
        "topic": event.topic,
        "group": event.group,
        "cluster": cluster,
        "text": text,
        "source": "kafka-pulse",
    });
    if let Some(group) = group {
        body["status"] = json!(group.status.as_str());
        body["reason"] = json!(group.reason);
        body["lag"] = json!(group.lag);
        body["lag_seconds"] = json!(finite(group.lag_seconds));
    }
    Notification {
        id,
        body: body.to_string(),
    }
}

fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

/// Parses a queued body back (tests and logs).
pub fn parse(notification: &Notification) -> Value {
    serde_json::from_str(&notification.body).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupStatus, GroupView};
    use chrono::TimeZone;

    fn snapshot_with_group() -> Snapshot {
        Snapshot {
            sequence: 7,
            groups: vec![GroupView {
                group: "billing<eu>".into(),
                group_type: None,
                state: "Stable".into(),
                state_note: None,
                status: GroupStatus::Warn,
                reason: "lag grew 10 samples in a row: 1 → 20".into(),
                members: None,
                lag: 20,
                lag_seconds: 3.4,
                lost_messages: 0,
                time_to_clear_seconds: None,
                messages_out_per_sec: 0.0,
                topics: vec![],
                partitions: vec![],
                error: None,
            }],
            ..Snapshot::default()
        }
    }

    #[test]
    fn group_event_carries_the_groups_current_state() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 30, 0).unwrap();
        let event = Event::new(
            at,
            "lag_threshold_crossed",
            "billing<eu>",
            "group billing<eu> lag 20 messages is above the threshold of 5",
        )
        .for_group("billing<eu>");
        let n = build("run1", 42, &event, "prod", &snapshot_with_group());
        let body = parse(&n);
        assert_eq!(n.id, "run1-42");
        assert_eq!(body["id"], "run1-42");
        assert_eq!(body["timestamp"], "2024-05-01T12:30:00.000Z");
        assert_eq!(body["kind"], "lag_threshold_crossed");
        assert_eq!(body["subject"], "billing<eu>");
        assert_eq!(body["group"], "billing<eu>");
        assert_eq!(body["topic"], Value::Null);
        assert_eq!(body["cluster"], "prod");
        assert_eq!(body["status"], "WARN");
        assert_eq!(body["reason"], "lag grew 10 samples in a row: 1 → 20");
        assert_eq!(body["lag"], 20);
        assert_eq!(body["lag_seconds"], 3.4);
        assert_eq!(
            body["text"],
            "kafka-pulse [prod] lag_threshold_crossed: group billing&lt;eu&gt; lag 20 messages \
             is above the threshold of 5 (now WARN, lag 20 messages, 3s behind)"
        );
    }

    #[test]
    fn cluster_event_has_no_group_fields() {
        let event = Event::new(Utc::now(), "kafka_down", "cluster", "Kafka is unreachable");
        let body = parse(&build("r", 1, &event, "prod", &snapshot_with_group()));
        assert_eq!(body["kind"], "kafka_down");
        assert_eq!(body["group"], Value::Null);
        assert!(body.get("status").is_none() && body.get("lag").is_none());
        assert_eq!(
            body["text"],
            "kafka-pulse [prod] kafka_down: Kafka is unreachable"
        );
    }

    #[test]
    fn a_group_missing_from_the_snapshot_still_notifies() {
        let event = Event::new(
            Utc::now(),
            "group_status_changed",
            "gone",
            "group gone is DEAD",
        )
        .for_group("gone");
        let body = parse(&build("r", 2, &event, "c", &snapshot_with_group()));
        assert_eq!(body["group"], "gone");
        assert!(body.get("status").is_none());
    }
}

//! Documents for Elasticsearch: one per event (kafka-pulse-events) and one
//! per topic and group at each metrics period (kafka-pulse-metrics), and the
//! bulk body that ships them with `create` actions (data streams accept only
//! `create`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::templates::{EVENTS_STREAM, METRICS_STREAM};
use crate::model::{Event, Snapshot};
use crate::sinks::influxdb::encoder::status_code;

/// A document waiting to be shipped. The id is fixed when the document is
/// made, so a retry of a document Elasticsearch already stored is answered
/// with a conflict instead of storing it twice.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingDoc {
    pub index: &'static str,
    pub id: String,
    pub source: String,
}

fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn service() -> Value {
    json!({ "name": "kafka-pulse", "version": env!("CARGO_PKG_VERSION") })
}

fn pending(index: &'static str, doc: Value) -> PendingDoc {
    PendingDoc {
        index,
        id: uuid::Uuid::new_v4().to_string(),
        source: doc.to_string(),
    }
}

pub fn event_doc(event: &Event, cluster: &str) -> PendingDoc {
    let mut kafka = Map::new();
    kafka.insert("cluster".into(), json!(cluster));
    kafka.insert("subject".into(), json!(event.subject));
    if let Some(topic) = &event.topic {
        kafka.insert("topic".into(), json!(topic));
    }
    if let Some(group) = &event.group {
        kafka.insert("group".into(), json!(group));
    }
    let mut doc = pending(EVENTS_STREAM, Value::Null);
    doc.source = json!({
        "@timestamp": timestamp(event.timestamp),
        "event": {
            "kind": "event",
            "action": event.kind,
            "dataset": "kafka_pulse.events",
            "id": doc.id,
        },
        "message": event.message,
        "kafka": kafka,
        "service": service(),
    })
    .to_string();
    doc
}

/// One document per topic and per group of `snapshot`.
pub fn metric_docs(snapshot: &Snapshot, cluster: &str) -> Vec<PendingDoc> {
    let at = timestamp(snapshot.taken_at);
    let mut docs = Vec::with_capacity(snapshot.topics.len() + snapshot.groups.len());
    for topic in &snapshot.topics {
        docs.push(pending(
            METRICS_STREAM,
            json!({
                "@timestamp": at,
                "event": { "kind": "metric", "dataset": "kafka_pulse.topic" },
                "kafka": {
                    "cluster": cluster,
                    "topic": topic.name,
                    "depth": topic.depth,
                    "messages_in_per_sec": finite(topic.messages_in_per_sec),
                    "messages_out_per_sec": finite(topic.messages_out_per_sec),
                    "partitions": topic.partitions.len(),
                },
                "service": service(),
            }),
        ));
    }
    for group in &snapshot.groups {
        let mut kafka = json!({
            "cluster": cluster,
            "group": group.group,
            "lag": group.lag,
            "lag_seconds": finite(group.lag_seconds),
            "status": group.status.as_str(),
            "status_code": status_code(group.status),
            "state": group.state,
            "messages_out_per_sec": finite(group.messages_out_per_sec),
        });
        if let Some(members) = &group.members {
            kafka["members"] = json!(members.len());
        }
        docs.push(pending(
            METRICS_STREAM,
            json!({
                "@timestamp": at,
                "event": { "kind": "metric", "dataset": "kafka_pulse.group" },
                "kafka": kafka,
                "service": service(),
            }),
        ));
    }
    docs
}

/// JSON has no NaN or infinity: such values become 0.
fn finite(value: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        0.0
    }
}

/// The bulk request body for `docs`: an action line and a source line per
/// document, each ended by a newline, the last one too (the bulk API
/// requires it).
pub fn bulk_body(docs: &[PendingDoc]) -> Vec<u8> {
    let size: usize = docs.iter().map(|d| d.source.len() + d.id.len() + 64).sum();
    let mut body = Vec::with_capacity(size);
    for doc in docs {
        let action = json!({ "create": { "_index": doc.index, "_id": doc.id } });
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, &action);
        body.push(b'\n');
        body.extend_from_slice(doc.source.as_bytes());
        body.push(b'\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupStatus, GroupView, TopicView};

    #[test]
    fn event_document_shape() {
        let event = Event::new(
            DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap(),
            "group_status_changed",
            "billing",
            "group billing is STALL (was OK): because",
        )
        .for_group("billing");
        let doc = event_doc(&event, "prod");
        assert_eq!(doc.index, "kafka-pulse-events");
        let source: Value = serde_json::from_str(&doc.source).unwrap();
        assert_eq!(
            source,
            json!({
                "@timestamp": "2023-11-14T22:13:20.005Z",
                "event": {"kind": "event", "action": "group_status_changed",
                          "dataset": "kafka_pulse.events", "id": doc.id},
                "message": "group billing is STALL (was OK): because",
                "kafka": {"cluster": "prod", "subject": "billing", "group": "billing"},
                "service": {"name": "kafka-pulse", "version": env!("CARGO_PKG_VERSION")}
            })
        );
    }

    #[test]
    fn metric_documents_per_topic_and_group() {
        let snapshot = Snapshot {
            topics: vec![TopicView {
                name: "orders".into(),
                depth: 12,
                messages_in_per_sec: f64::NAN,
                ..TopicView::default()
            }],
            groups: vec![GroupView {
                group: "billing".into(),
                group_type: None,
                state: "Stable".into(),
                state_note: None,
                status: GroupStatus::Stall,
                reason: String::new(),
                members: Some(vec![]),
                lag: 7,
                lag_seconds: 1.5,
                lost_messages: 0,
                time_to_clear_seconds: None,
                messages_out_per_sec: 0.0,
                topics: vec![],
                partitions: vec![],
                error: None,
            }],
            ..Snapshot::default()
        };
        let docs = metric_docs(&snapshot, "prod");
        assert_eq!(docs.len(), 2);
        let topic: Value = serde_json::from_str(&docs[0].source).unwrap();
        assert_eq!(topic["kafka"]["depth"], 12);
        assert_eq!(topic["kafka"]["messages_in_per_sec"], 0.0);
        let group: Value = serde_json::from_str(&docs[1].source).unwrap();
        assert_eq!(group["kafka"]["status"], "STALL");
        assert_eq!(group["kafka"]["status_code"], 5);
        assert_eq!(group["kafka"]["members"], 0);
        assert_eq!(group["event"]["kind"], "metric");
    }

    #[test]
    fn bulk_body_pairs_create_actions_with_sources() {
        let docs = vec![
            pending(EVENTS_STREAM, json!({"a": 1})),
            pending(EVENTS_STREAM, json!({"b": "x\ny"})),
        ];
        let body = String::from_utf8(bulk_body(&docs)).unwrap();
        assert!(body.ends_with('\n'));
        let lines: Vec<&str> = body.trim_end_matches('\n').split('\n').collect();
        assert_eq!(lines.len(), 4, "{body}");
        assert_eq!(lines[3], r#"{"b":"x\ny"}"#);
        let action: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action["create"]["_index"], "kafka-pulse-events");
        assert_eq!(action["create"]["_id"], docs[0].id);
        assert_eq!(lines[1], r#"{"a":1}"#);
    }
}

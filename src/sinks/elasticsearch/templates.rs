//! Index templates for the two data streams, installed at start. ECS-style
//! names; identifiers are `keyword` (exact match, aggregations), the event
//! message is `text` (full-text search), numbers are `long`/`double`.

use serde_json::{json, Value};

pub const EVENTS_STREAM: &str = "kafka-pulse-events";
pub const METRICS_STREAM: &str = "kafka-pulse-metrics";

/// Mappings shared by both data streams.
fn common_properties() -> Value {
    json!({
        "@timestamp": { "type": "date" },
        "message": { "type": "text" },
        "event": { "properties": {
            "kind": { "type": "keyword" },
            "action": { "type": "keyword" },
            "dataset": { "type": "keyword" },
            "id": { "type": "keyword" }
        }},
        "service": { "properties": {
            "name": { "type": "keyword" },
            "version": { "type": "keyword" }
        }},
        "kafka": { "properties": {
            "cluster": { "type": "keyword" },
            "subject": { "type": "keyword" },
            "topic": { "type": "keyword" },
            "group": { "type": "keyword" },
            "status": { "type": "keyword" },
            "state": { "type": "keyword" },
            "depth": { "type": "long" },
            "partitions": { "type": "long" },
            "lag": { "type": "long" },
            "status_code": { "type": "long" },
            "members": { "type": "long" },
            "lag_seconds": { "type": "double" },
            "messages_in_per_sec": { "type": "double" },
            "messages_out_per_sec": { "type": "double" }
        }}
    })
}

/// The composable index template that makes `stream` a data stream.
pub fn index_template(stream: &str) -> Value {
    json!({
        "index_patterns": [format!("{stream}*")],
        "data_stream": {},
        "priority": 200,
        "template": {
            "settings": { "index": { "number_of_replicas": 0 } },
            "mappings": {
                // Unknown fields are kept in _source but not indexed: a typo
                // in a future version cannot explode the mapping.
                "dynamic": false,
                "properties": common_properties()
            }
        },
        "_meta": {
            "managed_by": "kafka-pulse",
            "version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// Flattened `field → type` of a template's mappings (for tests and checks).
pub fn field_types(template: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, properties: &Value, out: &mut Vec<(String, String)>) {
        if let Some(map) = properties.as_object() {
            for (name, spec) in map {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                if let Some(kind) = spec.get("type").and_then(Value::as_str) {
                    out.push((path.clone(), kind.to_string()));
                }
                if let Some(nested) = spec.get("properties") {
                    walk(&path, nested, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &template["template"]["mappings"]["properties"],
        &mut out,
    );
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_make_data_streams_with_typed_fields() {
        let template = index_template(EVENTS_STREAM);
        assert_eq!(template["index_patterns"], json!(["kafka-pulse-events*"]));
        assert!(template["data_stream"].is_object());
        let types = field_types(&template);
        let of = |field: &str| {
            types
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, t)| t.as_str())
        };
        assert_eq!(of("@timestamp"), Some("date"));
        assert_eq!(of("message"), Some("text"));
        assert_eq!(of("event.action"), Some("keyword"));
        assert_eq!(of("kafka.group"), Some("keyword"));
        assert_eq!(of("kafka.lag"), Some("long"));
        assert_eq!(of("kafka.lag_seconds"), Some("double"));
    }
}

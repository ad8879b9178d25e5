//! The message browser: GET /api/v1/topics/{topic}/messages and the
//! /messages page. Values are shown as text, pretty JSON, or a hex dump —
//! always escaped, never interpreted as HTML.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::AppState;
use crate::replay::record::{format_timestamp, Record, RecordJson};
use crate::replay::spec::{parse_time, StartAt};
use crate::replay::ReplayError;

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 500;
/// Longer values are cut in the API and on the page (with the full size
/// shown); `kafka-pulse export` keeps every byte.
pub const VALUE_LIMIT: usize = 256 * 1024;
/// The hex dump shows this much of a binary value.
const HEX_LIMIT: usize = 4096;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub offset: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub limit: Option<String>,
}

#[derive(Debug)]
struct Browse {
    partition: i32,
    start: StartAt,
    limit: u64,
}

fn empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_browse(query: &MessageQuery) -> Result<Browse, String> {
    let partition = match empty(&query.partition) {
        None => 0,
        Some(text) => text
            .parse::<i32>()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(|| format!("partition must be a partition number ≥ 0, got {text:?}"))?,
    };
    let limit = match empty(&query.limit) {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| format!("limit must be 1 to {MAX_LIMIT}, got {text:?}"))?,
    };
    let start = match (empty(&query.offset), empty(&query.timestamp)) {
        (Some(_), Some(_)) => return Err("give either offset or timestamp, not both".into()),
        (Some(text), None) => StartAt::Offsets(crate::replay::spec::OffsetSpec::All(
            text.parse::<i64>()
                .ok()
                .filter(|o| *o >= 0)
                .ok_or_else(|| format!("offset must be an offset ≥ 0, got {text:?}"))?,
        )),
        (None, Some(text)) => StartAt::Time(parse_time("timestamp", text).map_err(|e| e.0)?),
        // The newest messages, which is what one usually wants to see.
        (None, None) => StartAt::Tail(limit),
    };
    Ok(Browse {
        partition,
        start,
        limit,
    })
}

async fn read(state: &AppState, topic: &str, browse: &Browse) -> Result<Vec<Record>, ApiError> {
    let snapshot = state.store.latest();
    let known = snapshot.topics.iter().find(|t| t.name == topic);
    match known {
        None if snapshot.sequence > 0 => {
            return Err(ApiError::not_found(format!(
                "no topic {topic:?}; GET {}/topics lists the topics",
                state.place.api
            )))
        }
        Some(t) if browse.partition as usize >= t.partitions.len() => {
            return Err(ApiError::bad_request(format!(
                "topic {topic:?} has partitions 0 to {}; partition {} does not exist",
                t.partitions.len().saturating_sub(1),
                browse.partition
            )))
        }
        _ => {}
    }
    let service = state.replays.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "reading messages is not available in this process (no Kafka connection)".into(),
    })?;
    service
        .read_messages(topic, browse.partition, browse.start.clone(), browse.limit)
        .await
        .map_err(|error| match error {
            ReplayError::Invalid(message) => ApiError::bad_request(message),
            ReplayError::Busy(message) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message,
            },
            ReplayError::Denied(message) => ApiError {
                status: StatusCode::FORBIDDEN,
                message,
            },
            other => ApiError {
                status: StatusCode::BAD_GATEWAY,
                message: other.to_string(),
            },
        })
}

pub async fn api(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    query: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "{}; parameters are partition, offset or timestamp, limit",
            e.body_text()
        ))
    })?;
    let browse = parse_browse(&query).map_err(ApiError::bad_request)?;
    let records = read(&state, &topic, &browse).await?;
    let next_offset = records.last().map(|r| r.offset + 1);
    let messages: Vec<RecordJson> = records
        .iter()
        .map(|record| RecordJson::from_record(None, record, Some(VALUE_LIMIT)))
        .collect();
    Ok(Json(serde_json::json!({
        "topic": topic,
        "partition": browse.partition,
        "messages": messages,
        "next_offset": next_offset,
    }))
    .into_response())
}

/// How one message is shown.
pub struct MessageRow {
    pub offset: String,
    pub timestamp: String,
    pub key: String,
    pub key_note: String,
    pub headers: Vec<(String, String)>,
    /// "json", "text", "binary" or "null"
    pub kind: &'static str,
    pub body: String,
    pub size: String,
}

/// Pretty JSON when the value parses as JSON, text when it is UTF-8, else
/// a hex dump of the start.
pub fn show_value(value: Option<&[u8]>) -> (&'static str, String) {
    let Some(bytes) = value else {
        return ("null", "(null)".into());
    };
    let shown = &bytes[..bytes.len().min(VALUE_LIMIT)];
    if let Ok(text) = std::str::from_utf8(shown) {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
            if json.is_object() || json.is_array() {
                if let Ok(pretty) = serde_json::to_string_pretty(&json) {
                    return ("json", pretty);
                }
            }
        }
        if !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return ("text", text.to_string());
        }
    }
    ("binary", hex_dump(&bytes[..bytes.len().min(HEX_LIMIT)]))
}

/// `00000000  7b 22 61 ...  |{"a...|` — 16 bytes a line.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(byte) => out.push_str(&format!("{byte:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push_str(" |");
        out.extend(chunk.iter().map(|b| {
            if b.is_ascii_graphic() || *b == b' ' {
                *b as char
            } else {
                '.'
            }
        }));
        out.push_str("|\n");
    }
    out
}

fn show_key(key: Option<&[u8]>) -> (String, String) {
    match key {
        None => ("(null)".into(), String::new()),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.chars().any(char::is_control) => (text.to_string(), String::new()),
            _ => (
                hex_dump(&bytes[..bytes.len().min(64)])
                    .trim_end()
                    .to_string(),
                "binary".into(),
            ),
        },
    }
}

fn row(record: &Record) -> MessageRow {
    let (key, key_note) = show_key(record.key.as_deref());
    let (kind, body) = show_value(record.value.as_deref());
    let size = record.value.as_ref().map_or(0, Vec::len);
    MessageRow {
        offset: crate::analysis::status::group_digits(record.offset),
        timestamp: record
            .timestamp_ms
            .and_then(format_timestamp)
            .unwrap_or_else(|| "—".into()),
        key,
        key_note,
        headers: record
            .headers
            .iter()
            .map(|h| {
                let value = match &h.value {
                    None => "(null)".to_string(),
                    Some(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) if !text.chars().any(char::is_control) => text.to_string(),
                        _ => format!(
                            "0x{}",
                            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
                        ),
                    },
                };
                (h.key.clone(), value)
            })
            .collect(),
        kind,
        body,
        size: if size > VALUE_LIMIT && kind != "binary" {
            format!(
                "{} bytes, first {} shown",
                crate::analysis::status::group_digits(size as i64),
                crate::analysis::status::group_digits(VALUE_LIMIT as i64)
            )
        } else {
            format!(
                "{} bytes",
                crate::analysis::status::group_digits(size as i64)
            )
        },
    }
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage<'a> {
    /// The cluster whose messages these are (the form, the next link).
    place: &'a super::clusters::ClusterPlace,
    topics: Vec<String>,
    topic: String,
    partition: String,
    offset: String,
    timestamp: String,
    limit: String,
    error: String,
    searched: bool,
    rows: Vec<MessageRow>,
    next_href: String,
}

pub async fn page(
    State(state): State<AppState>,
    query: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (query, mut error) = match query {
        Ok(Query(query)) => (query, String::new()),
        Err(rejection) => (MessageQuery::default(), rejection.body_text()),
    };
    let snapshot = state.store.latest();
    let mut page = MessagesPage {
        place: &state.place,
        topics: snapshot.topics.iter().map(|t| t.name.to_string()).collect(),
        topic: query.topic.clone().unwrap_or_default(),
        partition: query.partition.clone().unwrap_or_default(),
        offset: query.offset.clone().unwrap_or_default(),
        timestamp: query.timestamp.clone().unwrap_or_default(),
        limit: query.limit.clone().unwrap_or_default(),
        error: String::new(),
        searched: false,
        rows: Vec::new(),
        next_href: String::new(),
    };
    let mut status = StatusCode::OK;
    if let Some(topic) = empty(&query.topic).map(str::to_string) {
        page.searched = true;
        match parse_browse(&query) {
            Err(message) => {
                error = message;
                status = StatusCode::BAD_REQUEST;
            }
            Ok(browse) => match read(&state, &topic, &browse).await {
                Ok(records) => {
                    if let Some(last) = records.last() {
                        page.next_href = format!(
                            "{}/messages?topic={}&partition={}&offset={}&limit={}",
                            state.place.base,
                            url::form_urlencoded::byte_serialize(topic.as_bytes())
                                .collect::<String>(),
                            browse.partition,
                            last.offset + 1,
                            browse.limit
                        );
                    }
                    page.rows = records.iter().map(row).collect();
                }
                Err(api_error) => {
                    status = api_error.status;
                    error = api_error.message;
                }
            },
        }
    }
    page.error = error;
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => ApiError::internal(format!("rendering the message page failed: {error}"))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 100,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d65_7373_6167),
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]
        /// Any record (binary, invalid UTF-8, control characters, any
        /// timestamp) is shown without a panic, and what the API serves
        /// gives back every byte (or says it was cut).
        #[test]
        fn any_record_is_shown_and_served_without_loss(
            key in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)),
            value in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..(VALUE_LIMIT + 64))),
            header in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
            timestamp_ms in proptest::option::of(proptest::prelude::any::<i64>()),
            offset in proptest::prelude::any::<i64>(),
        ) {
            let record = Record {
                partition: 0,
                offset,
                timestamp_ms,
                key,
                value,
                headers: vec![crate::replay::record::RecordHeader { key: "h".into(), value: header }],
            };
            let shown = row(&record);
            proptest::prop_assert!(["json", "text", "binary", "null"].contains(&shown.kind));
            let served = RecordJson::from_record(None, &record, Some(VALUE_LIMIT));
            let text = serde_json::to_string(&served).unwrap();
            let back: RecordJson = serde_json::from_str(&text).unwrap();
            if back.value_truncated {
                proptest::prop_assert!(record.value.as_ref().is_some_and(|v| v.len() > VALUE_LIMIT));
            } else {
                let restored = back.into_record().unwrap();
                proptest::prop_assert_eq!(restored.key, record.key);
                proptest::prop_assert_eq!(restored.value, record.value);
                proptest::prop_assert_eq!(restored.headers, record.headers);
            }
        }
    }

    #[test]
    fn values_are_shown_as_json_text_or_hex() {
        assert_eq!(show_value(None).0, "null");
        let (kind, body) = show_value(Some(br#"{"a":1,"b":[2]}"#));
        assert_eq!(kind, "json");
        assert!(body.contains("\n  \"a\": 1"), "{body}");
        assert_eq!(show_value(Some(b"<b>plain</b>")).0, "text");
        let (kind, body) = show_value(Some(&[0, 1, 0xff, b'A']));
        assert_eq!(kind, "binary");
        assert_eq!(
            body,
            "00000000  00 01 ff 41                                      |...A|\n"
        );
    }

    #[test]
    fn browse_parameters_are_checked() {
        let query = |offset: &str, timestamp: &str, limit: &str, partition: &str| MessageQuery {
            topic: Some("t".into()),
            partition: Some(partition.into()),
            offset: Some(offset.into()),
            timestamp: Some(timestamp.into()),
            limit: Some(limit.into()),
        };
        let browse = parse_browse(&query("", "", "", "")).unwrap();
        assert_eq!((browse.partition, browse.limit), (0, DEFAULT_LIMIT));
        assert_eq!(browse.start, StartAt::Tail(DEFAULT_LIMIT));
        assert!(parse_browse(&query("5", "2026-11-26T10:00:00Z", "", "")).is_err());
        assert!(parse_browse(&query("-1", "", "", ""))
            .unwrap_err()
            .contains("offset"));
        assert!(parse_browse(&query("", "", "501", ""))
            .unwrap_err()
            .contains("limit"));
        assert!(parse_browse(&query("", "", "", "x"))
            .unwrap_err()
            .contains("partition"));
        assert!(parse_browse(&query("", "noon", "", ""))
            .unwrap_err()
            .contains("RFC 3339"));
    }
}

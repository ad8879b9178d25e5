//! One Kafka record as kafka-pulse reads, replays, exports and shows it, and
//! its JSON form (the export file's lines and the message API's items).
//! Bytes stay bytes: text that is valid UTF-8 is written as text, anything
//! else as base64, and the encoding is said next to it, so a round trip
//! through JSON gives back exactly the same bytes.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch (CreateTime or LogAppendTime); None when
    /// the broker gave none.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<RecordHeader>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl Record {
    /// Bytes of payload (key, value and headers), what "MB replayed" counts.
    pub fn payload_bytes(&self) -> u64 {
        let key = self.key.as_ref().map_or(0, Vec::len);
        let value = self.value.as_ref().map_or(0, Vec::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len))
            .sum();
        (key + value + headers) as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Utf8,
    Base64,
}

/// The JSON shape of a record. Field names follow the message API in the
/// README; `*_encoding` is present whenever the matching bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    pub partition: i32,
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_encoding: Option<Encoding>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_encoding: Option<Encoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub value_truncated: bool,
    #[serde(default)]
    pub headers: Vec<HeaderJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderJson {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

/// Text when the bytes are UTF-8 without control characters other than
/// whitespace (so a terminal or a diff shows them as they are), else base64.
pub fn encode_bytes(bytes: &[u8]) -> (String, Encoding) {
    match std::str::from_utf8(bytes) {
        Ok(text)
            if !text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            (text.to_string(), Encoding::Utf8)
        }
        _ => (BASE64.encode(bytes), Encoding::Base64),
    }
}

fn decode_bytes(
    field: &str,
    text: &str,
    encoding: Option<Encoding>,
) -> Result<Vec<u8>, RecordJsonError> {
    match encoding.unwrap_or(Encoding::Utf8) {
        Encoding::Utf8 => Ok(text.as_bytes().to_vec()),
        Encoding::Base64 => BASE64
            .decode(text)
            .map_err(|error| RecordJsonError(format!("{field} is not valid base64: {error}"))),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct RecordJsonError(pub String);

pub fn format_timestamp(timestamp_ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(timestamp_ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl RecordJson {
    /// `value_limit` cuts long values for display (the message browser);
    /// exports pass None and keep every byte.
    pub fn from_record(topic: Option<&str>, record: &Record, value_limit: Option<usize>) -> Self {
        let (key, key_encoding) = split(record.key.as_deref().map(encode_bytes));
        let value_size = record.value.as_ref().map(Vec::len);
        let (shown, value_truncated) = match (&record.value, value_limit) {
            (Some(value), Some(limit)) if value.len() > limit => (Some(&value[..limit]), true),
            (value, _) => (value.as_deref(), false),
        };
        let (value, value_encoding) = split(shown.map(encode_bytes));
        RecordJson {
            topic: topic.map(str::to_string),
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp_ms.and_then(format_timestamp),
            timestamp_ms: record.timestamp_ms,
            key,
            key_encoding,
            value,
            value_encoding,
            value_size: value_truncated.then_some(value_size.unwrap_or(0)),
            value_truncated,
            headers: record
                .headers
                .iter()
                .map(|header| {
                    let (value, encoding) = split(header.value.as_deref().map(encode_bytes));
                    HeaderJson {
                        key: header.key.clone(),
                        value,
                        encoding,
                    }
                })
                .collect(),
        }
    }

    pub fn into_record(self) -> Result<Record, RecordJsonError> {
        if self.value_truncated {
            return Err(RecordJsonError(
                "value_truncated is true: this line was cut for display and cannot be replayed; \
                 export with `kafka-pulse export` instead"
                    .to_string(),
            ));
        }
        let timestamp_ms = match (self.timestamp_ms, &self.timestamp) {
            (Some(ms), _) => Some(ms),
            (None, Some(text)) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|error| {
                        RecordJsonError(format!(
                            "timestamp {text:?} is not RFC 3339 ({error}); use e.g. 2026-11-26T10:00:00.000Z"
                        ))
                    })?
                    .timestamp_millis(),
            ),
            (None, None) => None,
        };
        let key = self
            .key
            .map(|key| decode_bytes("key", &key, self.key_encoding))
            .transpose()?;
        let value = self
            .value
            .map(|value| decode_bytes("value", &value, self.value_encoding))
            .transpose()?;
        let headers = self
            .headers
            .into_iter()
            .map(|header| {
                let value = header
                    .value
                    .map(|value| decode_bytes("header value", &value, header.encoding))
                    .transpose()?;
                Ok(RecordHeader {
                    key: header.key,
                    value,
                })
            })
            .collect::<Result<_, RecordJsonError>>()?;
        Ok(Record {
            partition: self.partition,
            offset: self.offset,
            timestamp_ms,
            key,
            value,
            headers,
        })
    }
}

fn split(encoded: Option<(String, Encoding)>) -> (Option<String>, Option<Encoding>) {
    match encoded {
        Some((text, encoding)) => (Some(text), Some(encoding)),
        None => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Record {
        Record {
            partition: 3,
            offset: 42,
            timestamp_ms: Some(1_764_150_000_123),
            key,
            value,
            headers: vec![
                RecordHeader {
                    key: "trace".into(),
                    value: Some(b"abc".to_vec()),
                },
                RecordHeader {
                    key: "bin".into(),
                    value: Some(vec![0, 255, 7]),
                },
                RecordHeader {
                    key: "none".into(),
                    value: None,
                },
            ],
        }
    }

    #[test]
    fn text_stays_text_and_binary_becomes_base64() {
        let json = RecordJson::from_record(
            Some("t"),
            &record(Some(b"k1".to_vec()), Some(vec![0xff, 0x00, 0x10])),
            None,
        );
        assert_eq!(json.key.as_deref(), Some("k1"));
        assert_eq!(json.key_encoding, Some(Encoding::Utf8));
        assert_eq!(json.value.as_deref(), Some("/wAQ"));
        assert_eq!(json.value_encoding, Some(Encoding::Base64));
        assert_eq!(json.headers[1].encoding, Some(Encoding::Base64));
        assert_eq!(json.headers[2].value, None);
        assert_eq!(json.timestamp.as_deref(), Some("2025-11-26T09:40:00.123Z"));
        // A NUL or escape character is valid UTF-8 but not text.
        assert_eq!(encode_bytes(b"a\x1b[31m").1, Encoding::Base64);
        assert_eq!(encode_bytes(b"line\nnext\t").1, Encoding::Utf8);
    }

    #[test]
    fn truncated_values_say_so_and_cannot_be_replayed() {
        let json =
            RecordJson::from_record(None, &record(None, Some(b"0123456789".to_vec())), Some(4));
        assert_eq!(json.value.as_deref(), Some("0123"));
        assert!(json.value_truncated);
        assert_eq!(json.value_size, Some(10));
        assert!(json
            .into_record()
            .unwrap_err()
            .0
            .contains("value_truncated"));
    }

    #[test]
    fn bad_base64_and_bad_timestamps_are_named() {
        let line = r#"{"partition":0,"offset":1,"value":"***","value_encoding":"base64"}"#;
        let error = serde_json::from_str::<RecordJson>(line)
            .unwrap()
            .into_record()
            .unwrap_err();
        assert!(error.0.contains("value is not valid base64"), "{error}");
        let line = r#"{"partition":0,"offset":1,"timestamp":"yesterday"}"#;
        let error = serde_json::from_str::<RecordJson>(line)
            .unwrap()
            .into_record()
            .unwrap_err();
        assert!(error.0.contains("RFC 3339"), "{error}");
        assert!(
            serde_json::from_str::<RecordJson>(r#"{"partition":0,"offset":1,"valu":"x"}"#).is_err()
        );
    }

    proptest! {
        #[test]
        fn json_round_trip_keeps_every_byte(
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            value in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            header in proptest::collection::vec(any::<u8>(), 0..20),
            text in "\\PC{0,30}",
        ) {
            let mut original = record(key, value);
            original.headers.push(RecordHeader { key: text.clone(), value: Some(header) });
            original.headers.push(RecordHeader { key: "t".into(), value: Some(text.into_bytes()) });
            let line = serde_json::to_string(&RecordJson::from_record(Some("x"), &original, None)).unwrap();
            let back = serde_json::from_str::<RecordJson>(&line).unwrap().into_record().unwrap();
            prop_assert_eq!(back, original);
        }
    }
}

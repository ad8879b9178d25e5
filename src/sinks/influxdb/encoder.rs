//! InfluxDB line protocol, written straight into a buffer (no per-point
//! allocation): `measurement,tag=v field=1i,other=2.5 1700000000000`.
//!
//! Escaping (InfluxDB line protocol reference):
//! - measurement: comma and space;
//! - tag keys, tag values, field keys: comma, equals sign and space;
//! - string field values: double quote and backslash, inside double quotes.
//!
//! Names come from users (topic and group names are arbitrary bytes) and
//! line protocol cannot carry everything: a newline ends the line (a group
//! named "x\nkafka_group" would inject points into another measurement) and
//! a trailing backslash escapes the separator after it. So tag values and
//! string field values are first percent-encoded where needed: control
//! characters, `%` itself and a trailing backslash become `%XX` (UTF-8,
//! upper-case hex). Names without them are written unchanged; the encoding
//! is reversible ([`decode_name`]) and collision-free, since `%` is encoded.
//!
//! Empty tag values are not allowed by InfluxDB: such tags are left out.
//! Non-finite floats (NaN, ±inf) cannot be written: such fields are left out.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::model::{GroupStatus, Snapshot};

/// Timestamp precision of the written points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    Nanoseconds,
    Microseconds,
    #[default]
    Milliseconds,
    Seconds,
}

impl Precision {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ns" => Some(Precision::Nanoseconds),
            "us" => Some(Precision::Microseconds),
            "ms" => Some(Precision::Milliseconds),
            "s" => Some(Precision::Seconds),
            _ => None,
        }
    }

    /// The `precision` query value of the v2 API (v1 spells ns as "n" and us as "u").
    pub fn v2_name(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "ns",
            Precision::Microseconds => "us",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
        }
    }

    pub fn v1_name(self) -> &'static str {
        match self {
            Precision::Nanoseconds => "n",
            Precision::Microseconds => "u",
            Precision::Milliseconds => "ms",
            Precision::Seconds => "s",
        }
    }

    pub fn timestamp(self, time: DateTime<Utc>) -> i64 {
        match self {
            Precision::Nanoseconds => time.timestamp_nanos_opt().unwrap_or(i64::MAX),
            Precision::Microseconds => time.timestamp_micros(),
            Precision::Milliseconds => time.timestamp_millis(),
            Precision::Seconds => time.timestamp(),
        }
    }
}

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Integer(i64),
    Float(f64),
    Text(&'a str),
    Boolean(bool),
}

fn escape_into(out: &mut String, text: &str, special: &[char]) {
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Escapes `text` for line protocol after percent-encoding what line
/// protocol cannot carry (see the module comment): control characters, `%`
/// and a trailing backslash become `%XX` of their UTF-8 bytes.
fn encode_into(out: &mut String, text: &str, special: &[char]) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let trailing_backslash = c == '\\' && chars.peek().is_none();
        if c.is_control() || c == '%' || trailing_backslash {
            let mut bytes = [0u8; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            if special.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
}

/// `name` as it is stored in InfluxDB (a tag value): percent-encoded where
/// line protocol cannot carry it, unchanged otherwise. For dashboards,
/// queries and tests.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    encode_into(&mut out, name, &[]);
    out
}

/// The name a tag value or string field stands for: undoes the
/// percent-encoding of [`encode_into`] (for readers of the data and tests).
pub fn decode_name(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

const MEASUREMENT_SPECIAL: &[char] = &[',', ' '];
const KEY_SPECIAL: &[char] = &[',', '=', ' '];
const STRING_SPECIAL: &[char] = &['"', '\\'];

/// Builds one line; `finish` appends it (with the newline) to the buffer.
pub struct Line<'a> {
    out: &'a mut String,
    start: usize,
    fields: usize,
}

impl<'a> Line<'a> {
    pub fn new(out: &'a mut String, measurement: &str) -> Self {
        let start = out.len();
        escape_into(out, measurement, MEASUREMENT_SPECIAL);
        Line {
            out,
            start,
            fields: 0,
        }
    }

    /// Tags must be added before fields; empty values are skipped.
    pub fn tag(self, key: &str, value: &str) -> Self {
        debug_assert_eq!(self.fields, 0, "tags after fields");
        if value.is_empty() {
            return self;
        }
        self.out.push(',');
        escape_into(self.out, key, KEY_SPECIAL);
        self.out.push('=');
        encode_into(self.out, value, KEY_SPECIAL);
        self
    }

    pub fn field(mut self, key: &str, value: FieldValue<'_>) -> Self {
        if let FieldValue::Float(f) = value {
            if !f.is_finite() {
                return self;
            }
        }
        self.out.push(if self.fields == 0 { ' ' } else { ',' });
        self.fields += 1;
        escape_into(self.out, key, KEY_SPECIAL);
        self.out.push('=');
        match value {
            FieldValue::Integer(i) => {
                let _ = write!(self.out, "{i}i");
            }
            FieldValue::Float(f) => {
                // `{:?}` keeps a decimal point for whole numbers (1.0, not 1),
                // so InfluxDB types the field float from the first point on.
                let _ = write!(self.out, "{f:?}");
            }
            FieldValue::Text(s) => {
                self.out.push('"');
                encode_into(self.out, s, STRING_SPECIAL);
                self.out.push('"');
            }
            FieldValue::Boolean(b) => self.out.push(if b { 't' } else { 'f' }),
        }
        self
    }

    pub fn int(self, key: &str, value: i64) -> Self {
        self.field(key, FieldValue::Integer(value))
    }

    pub fn float(self, key: &str, value: f64) -> Self {
        self.field(key, FieldValue::Float(value))
    }

    /// Ends the line with its timestamp. A line without fields is invalid in
    /// InfluxDB and is removed again; returns whether a line was written.
    pub fn finish(self, timestamp: i64) -> bool {
        if self.fields == 0 {
            self.out.truncate(self.start);
            return false;
        }
        let _ = writeln!(self.out, " {timestamp}");
        true
    }
}

/// Numeric code of a status for graphs and alert thresholds: 0 is healthy,
/// higher is worse ([`GroupStatus::code`], shared with /metrics).
pub fn status_code(status: GroupStatus) -> i64 {
    i64::from(status.code())
}

/// Appends every point of `snapshot` to `out`; returns the number of lines.
/// Measurements and fields are those of the README ("InfluxDB and Grafana").
pub fn encode_snapshot(
    snapshot: &Snapshot,
    cluster: &str,
    precision: Precision,
    per_partition: bool,
    out: &mut String,
) -> usize {
    let ts = precision.timestamp(snapshot.taken_at);
    let mut lines = 0;
    let mut count = |written: bool| lines += usize::from(written);

    count(
        Line::new(out, "kafka_pulse")
            .tag("cluster", cluster)
            .int("kafka_up", i64::from(snapshot.kafka_up))
            .float("sample_duration_seconds", snapshot.sample_duration_seconds)
            .int("topics", snapshot.topics.len() as i64)
            .int("groups", snapshot.groups.len() as i64)
            .int("brokers", snapshot.brokers.len() as i64)
            .int("collector_errors", snapshot.errors.len() as i64)
            .int(
                "under_replicated_partitions",
                snapshot.under_replicated_partitions() as i64,
            )
            .int("offline_partitions", snapshot.offline_partitions() as i64)
            .finish(ts),
    );
    if !snapshot.kafka_up {
        // Nothing was read: writing zeros would draw a false cliff in graphs.
        return lines;
    }
    for topic in &snapshot.topics {
        count(
            Line::new(out, "kafka_topic")
                .tag("cluster", cluster)
                .tag("topic", &topic.name)
                .int("depth", topic.depth)
                .float("messages_in_per_sec", topic.messages_in_per_sec)
                .float("messages_out_per_sec", topic.messages_out_per_sec)
                .int("partitions", topic.partitions.len() as i64)
                .finish(ts),
        );
        if per_partition {
            for p in &topic.partitions {
                let partition = p.partition.to_string();
                let mut line = Line::new(out, "kafka_partition")
                    .tag("cluster", cluster)
                    .tag("topic", &topic.name)
                    .tag("partition", &partition);
                if let Some(low) = p.low_watermark {
                    line = line.int("low_watermark", low);
                }
                if let Some(high) = p.high_watermark {
                    line = line.int("high_watermark", high);
                }
                count(
                    line.int("depth", p.depth)
                        .float("messages_in_per_sec", p.messages_in_per_sec)
                        .int("leader", i64::from(p.leader))
                        .int("in_sync_replicas", p.isr.len() as i64)
                        .finish(ts),
                );
            }
        }
    }
    for group in &snapshot.groups {
        let mut line = Line::new(out, "kafka_group")
            .tag("cluster", cluster)
            .tag("group", &group.group)
            .int("lag", group.lag)
            .float("lag_seconds", group.lag_seconds)
            .field("status", FieldValue::Text(group.status.as_str()))
            .int("status_code", status_code(group.status))
            .field("state", FieldValue::Text(&group.state))
            .float("messages_out_per_sec", group.messages_out_per_sec);
        if let Some(members) = &group.members {
            line = line.int("members", members.len() as i64);
        }
        if let Some(seconds) = group.time_to_clear_seconds {
            line = line.float("time_to_clear_seconds", seconds);
        }
        count(line.finish(ts));
        if per_partition {
            for p in &group.partitions {
                let partition = p.partition.to_string();
                let mut line = Line::new(out, "kafka_group_partition")
                    .tag("cluster", cluster)
                    .tag("group", &group.group)
                    .tag("topic", &p.topic)
                    .tag("partition", &partition);
                if let Some(offset) = p.committed_offset.get() {
                    line = line.int("committed_offset", offset);
                }
                count(
                    line.int("lag", p.lag)
                        .float("lag_seconds", p.lag_seconds)
                        .float("messages_out_per_sec", p.messages_out_per_sec)
                        .finish(ts),
                );
            }
        }
    }
    lines
}

#[cfg(test)]
pub(crate) mod parse {
    //! A strict line-protocol parser for tests: the inverse of the encoder.

    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Integer(i64),
        Float(f64),
        Text(String),
        Boolean(bool),
    }

    #[derive(Debug, Clone, PartialEq)]
    pub struct Point {
        pub measurement: String,
        pub tags: Vec<(String, String)>,
        pub fields: Vec<(String, Value)>,
        pub timestamp: i64,
    }

    /// Reads up to an unescaped char of `stops`, unescaping `escapable`.
    fn token(
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        stops: &[char],
        escapable: &[char],
    ) -> String {
        let mut out = String::new();
        while let Some(&c) = chars.peek() {
            if stops.contains(&c) {
                break;
            }
            chars.next();
            if c == '\\' {
                if let Some(&next) = chars.peek() {
                    if escapable.contains(&next) {
                        chars.next();
                        out.push(next);
                        continue;
                    }
                }
            }
            out.push(c);
        }
        out
    }

    pub fn parse_line(line: &str) -> Result<Point, String> {
        let mut chars = line.chars().peekable();
        let measurement = token(&mut chars, &[',', ' '], &[',', ' ']);
        let mut tags = Vec::new();
        while chars.peek() == Some(&',') {
            chars.next();
            let key = token(&mut chars, &['='], &[',', '=', ' ']);
            if chars.next() != Some('=') {
                return Err(format!("tag without '=' in {line}"));
            }
            let value = token(&mut chars, &[',', ' '], &[',', '=', ' ']);
            tags.push((key, value));
        }
        if chars.next() != Some(' ') {
            return Err(format!("no space before fields in {line}"));
        }
        let mut fields = Vec::new();
        loop {
            let key = token(&mut chars, &['='], &[',', '=', ' ']);
            if chars.next() != Some('=') {
                return Err(format!("field without '=' in {line}"));
            }
            let value = if chars.peek() == Some(&'"') {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => text.push(chars.next().ok_or("dangling escape")?),
                        Some('"') => break,
                        Some(c) => text.push(c),
                        None => return Err(format!("unterminated string in {line}")),
                    }
                }
                Value::Text(text)
            } else {
                let raw = token(&mut chars, &[',', ' '], &[]);
                if let Some(int) = raw.strip_suffix('i') {
                    Value::Integer(int.parse().map_err(|e| format!("{raw}: {e}"))?)
                } else if raw == "t" || raw == "true" {
                    Value::Boolean(true)
                } else if raw == "f" || raw == "false" {
                    Value::Boolean(false)
                } else {
                    Value::Float(raw.parse().map_err(|e| format!("{raw}: {e}"))?)
                }
            };
            fields.push((key, value));
            match chars.next() {
                Some(',') => continue,
                Some(' ') => break,
                other => return Err(format!("unexpected {other:?} after field in {line}")),
            }
        }
        let rest: String = chars.collect();
        let timestamp = rest
            .trim_end_matches('\n')
            .parse()
            .map_err(|e| format!("timestamp {rest:?}: {e}"))?;
        Ok(Point {
            measurement,
            tags,
            fields,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse::{parse_line, Value};
    use super::*;
    use proptest::prelude::*;

    fn one(build: impl FnOnce(&mut String) -> bool) -> String {
        let mut out = String::new();
        assert!(build(&mut out));
        out
    }

    #[test]
    fn measurement_escapes_comma_and_space_only() {
        let line = one(|o| Line::new(o, "a b,c=d").int("x", 1).finish(5));
        assert_eq!(line, "a\\ b\\,c=d x=1i 5\n");
    }

    #[test]
    fn names_that_would_break_lines_stay_distinct_series_and_inject_nothing() {
        let line = |group: &str| {
            let mut out = String::new();
            Line::new(&mut out, "kafka_group")
                .tag("group", group)
                .int("lag", 1)
                .finish(1);
            out
        };
        let newline = line("a\nb");
        let space = line("a b");
        let literal = line("a%0Ab");
        assert_eq!(newline, "kafka_group,group=a%0Ab lag=1i 1\n");
        assert_eq!(space, "kafka_group,group=a\\ b lag=1i 1\n");
        assert_eq!(literal, "kafka_group,group=a%250Ab lag=1i 1\n");
        // One line each, whatever the name: no injected measurement.
        for name in ["x\nkafka_group", "trailing\\", "cr\rlf", "tab\t"] {
            let text = line(name);
            assert_eq!(text.matches('\n').count(), 1, "{text:?}");
            let point = parse_line(text.trim_end()).unwrap();
            assert_eq!(point.measurement, "kafka_group");
            assert_eq!(decode_name(&point.tags[0].1), name);
        }
        // Ordinary names are written as they are.
        assert_eq!(
            line("orders-eu.v2"),
            "kafka_group,group=orders-eu.v2 lag=1i 1\n"
        );
    }

    #[test]
    fn tags_and_field_keys_escape_comma_equals_space() {
        let line = one(|o| {
            Line::new(o, "m")
                .tag("k=1", "v, x=y")
                .float("f k", 1.5)
                .finish(1)
        });
        assert_eq!(line, "m,k\\=1=v\\,\\ x\\=y f\\ k=1.5 1\n");
    }

    #[test]
    fn strings_escape_quotes_and_backslashes() {
        let line = one(|o| {
            Line::new(o, "m")
                .field("s", FieldValue::Text("say \"hi\" \\o/"))
                .finish(1)
        });
        assert_eq!(line, "m s=\"say \\\"hi\\\" \\\\o/\" 1\n");
    }

    #[test]
    fn integers_have_the_i_suffix_and_floats_a_decimal_point() {
        let line = one(|o| Line::new(o, "m").int("i", -7).float("f", 3.0).finish(1));
        assert_eq!(line, "m i=-7i,f=3.0 1\n");
    }

    #[test]
    fn empty_tags_and_non_finite_floats_are_left_out() {
        let line = one(|o| {
            Line::new(o, "m")
                .tag("empty", "")
                .float("nan", f64::NAN)
                .float("inf", f64::INFINITY)
                .int("ok", 1)
                .finish(1)
        });
        assert_eq!(line, "m ok=1i 1\n");
    }

    #[test]
    fn a_line_without_fields_is_not_written() {
        let mut out = String::from("keep\n");
        assert!(!Line::new(&mut out, "m").float("nan", f64::NAN).finish(1));
        assert_eq!(out, "keep\n");
    }

    #[test]
    fn precision_converts_timestamps() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(Precision::Seconds.timestamp(t), 1_700_000_000);
        assert_eq!(Precision::Milliseconds.timestamp(t), 1_700_000_000_123);
        assert_eq!(Precision::Microseconds.timestamp(t), 1_700_000_000_123_456);
        assert_eq!(
            Precision::Nanoseconds.timestamp(t),
            1_700_000_000_123_456_789
        );
    }

    /// Keys and measurements as kafka-pulse writes them (its own words).
    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 ,=._\\-<>\"'/:é]{1,20}"
    }

    /// Topic and group names as users may give them: any Unicode, with the
    /// characters line protocol cannot carry made likely.
    fn user_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                any::<char>(),
                Just('\n'),
                Just('\r'),
                Just('\t'),
                Just('\\'),
                Just('%'),
                Just(','),
                Just(' '),
                Just('='),
                Just('"'),
            ],
            1..16,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #[test]
        fn encoded_points_parse_back_to_the_same_point(
            measurement in name(),
            tags in proptest::collection::vec((name(), user_name()), 0..4),
            int in any::<i64>(),
            float in any::<f64>().prop_filter("finite", |f| f.is_finite()),
            text in user_name(),
            flag in any::<bool>(),
            ts in any::<i64>(),
        ) {
            let mut out = String::new();
            let mut line = Line::new(&mut out, &measurement);
            for (k, v) in &tags {
                line = line.tag(k, v);
            }
            prop_assert!(line
                .int("int", int)
                .float("float", float)
                .field("text", FieldValue::Text(&text))
                .field("flag", FieldValue::Boolean(flag))
                .finish(ts));
            prop_assert!(out.ends_with('\n'));
            prop_assert_eq!(out.matches('\n').count(), 1);
            let point = parse_line(out.trim_end_matches('\n')).map_err(TestCaseError::fail)?;
            prop_assert_eq!(point.measurement, measurement);
            let decoded: Vec<(String, String)> = point
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), decode_name(v)))
                .collect();
            prop_assert_eq!(decoded, tags);
            prop_assert_eq!(point.timestamp, ts);
            prop_assert_eq!(&point.fields[0], &("int".to_string(), Value::Integer(int)));
            prop_assert_eq!(&point.fields[1], &("float".to_string(), Value::Float(float)));
            let Value::Text(written) = &point.fields[2].1 else {
                return Err(TestCaseError::fail("text field"));
            };
            prop_assert_eq!(decode_name(written), text.clone());
            prop_assert_eq!(&point.fields[3], &("flag".to_string(), Value::Boolean(flag)));
        }
    }
}

//! What to replay: a validated description built from CLI flags or from the
//! JSON body of POST /api/v1/replays, with messages that name the option
//! and the fix.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Where reading starts in each source partition.
#[derive(Debug, Clone, PartialEq)]
pub enum StartAt {
    Earliest,
    /// The newest N records of each partition (the message browser's default).
    Tail(u64),
    /// One offset for every partition, or one per partition ("0:120,1:98").
    Offsets(OffsetSpec),
    Time(DateTime<Utc>),
}

/// Where reading stops. The high watermark at start always caps it: a
/// replay is of retained data and never waits for new messages.
#[derive(Debug, Clone, PartialEq)]
pub enum EndAt {
    Latest,
    /// Inclusive.
    Offsets(OffsetSpec),
    /// Messages with a later timestamp are not replayed.
    Time(DateTime<Utc>),
    /// At most this many messages in all.
    Count(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum OffsetSpec {
    All(i64),
    PerPartition(BTreeMap<i32, i64>),
}

impl OffsetSpec {
    /// None when a per-partition list does not name `partition`.
    pub fn for_partition(&self, partition: i32) -> Option<i64> {
        match self {
            OffsetSpec::All(offset) => Some(*offset),
            OffsetSpec::PerPartition(map) => map.get(&partition).copied(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the target accepts.
    Max,
    /// 1.0 reproduces the original gaps; 2.0 halves them.
    Factor(f64),
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Factor(factor) => write!(f, "{factor}"),
        }
    }
}

/// Reading one topic range (replay, export, message browser).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRange {
    pub topic: String,
    /// None: every partition of the topic.
    pub partitions: Option<Vec<i32>>,
    pub start: StartAt,
    pub end: EndAt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TargetOptions {
    pub topic: String,
    pub speed: Speed,
    /// Write each record with its original timestamp instead of "now".
    pub keep_timestamps: bool,
    /// Write each record to the partition number it came from.
    pub keep_partition: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySpec {
    pub source: SourceRange,
    pub target: TargetOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

fn error(message: impl Into<String>) -> SpecError {
    SpecError(message.into())
}

pub fn parse_speed(text: &str) -> Result<Speed, SpecError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("max") {
        return Ok(Speed::Max);
    }
    match text.parse::<f64>() {
        Ok(factor) if factor.is_finite() && factor > 0.0 && factor <= 1_000_000.0 => {
            Ok(Speed::Factor(factor))
        }
        _ => Err(error(format!(
            "--speed must be a positive number (1 = original pace, 2.5 = 2.5× faster) or `max`, got {text:?}"
        ))),
    }
}

/// "120" (every partition) or "0:120,1:98" (per partition).
pub fn parse_offsets(option: &str, text: &str) -> Result<OffsetSpec, SpecError> {
    let text = text.trim();
    let bad = || {
        error(format!(
            "{option} must be an offset (e.g. 120) or partition:offset pairs (e.g. 0:120,1:98), got {text:?}"
        ))
    };
    if !text.contains(':') {
        let offset: i64 = text.parse().map_err(|_| bad())?;
        if offset < 0 {
            return Err(bad());
        }
        return Ok(OffsetSpec::All(offset));
    }
    let mut map = BTreeMap::new();
    for pair in text.split(',') {
        let (partition, offset) = pair.split_once(':').ok_or_else(bad)?;
        let partition: i32 = partition.trim().parse().map_err(|_| bad())?;
        let offset: i64 = offset.trim().parse().map_err(|_| bad())?;
        if partition < 0 || offset < 0 || map.insert(partition, offset).is_some() {
            return Err(bad());
        }
    }
    Ok(OffsetSpec::PerPartition(map))
}

pub fn parse_time(option: &str, text: &str) -> Result<DateTime<Utc>, SpecError> {
    let time = DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| {
            error(format!(
                "{option} must be an RFC 3339 time such as 2026-11-26T09:30:00Z, got {text:?} ({e})"
            ))
        })?;
    // Kafka timestamps are milliseconds since 1970: earlier times have no
    // offset to look up (the broker answers with an error, not a range).
    if time.timestamp_millis() < 0 {
        return Err(error(format!(
            "{option} must be 1970-01-01T00:00:00Z or later (Kafka timestamps start there), got {text:?}"
        )));
    }
    Ok(time)
}

pub fn parse_partitions(text: &str) -> Result<Vec<i32>, SpecError> {
    let mut partitions = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<i32>() {
            Ok(partition) if partition >= 0 => partitions.push(partition),
            _ => {
                return Err(error(format!(
                    "--partitions must be partition numbers separated by commas (e.g. 0,1,4), got {text:?}"
                )))
            }
        }
    }
    if partitions.is_empty() {
        return Err(error(
            "--partitions is empty; leave it out to use every partition",
        ));
    }
    partitions.sort_unstable();
    partitions.dedup();
    Ok(partitions)
}

/// The options both front ends share, as text, so the CLI and the API give
/// the same messages for the same mistake.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub partitions: Option<Vec<i32>>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub start_offset: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub end_offset: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub speed: Option<String>,
    #[serde(default)]
    pub keep_timestamps: bool,
    #[serde(default)]
    pub keep_partition: bool,
    #[serde(default)]
    pub allow_same_topic: bool,
    /// Create a missing target with the source's partition count.
    #[serde(default)]
    pub create_target: bool,
    /// The cluster to write to, by name (API: POST
    /// /api/v1/clusters/SOURCE/replays); None: the source's cluster.
    #[serde(default)]
    pub to_cluster: Option<String>,
}

/// `"speed": 2.5` and `"speed": "max"` both work, as do offsets given as
/// numbers or "0:10,1:20" strings.
fn text_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text)),
        Some(serde_json::Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a number or a string, got {other}"
        ))),
    }
}

pub fn validate_topic_name(option: &str, name: &str) -> Result<(), SpecError> {
    if name.is_empty() || name.len() > 249 {
        return Err(error(format!(
            "{option} must be a topic name of 1 to 249 characters, got {} characters",
            name.len()
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(error(format!(
            "{option}: topic names use only letters, digits, '.', '_' and '-'; {name:?} contains {bad:?}"
        )));
    }
    Ok(())
}

/// The reading half, shared by replay and export.
pub fn source_range(request: &ReplayRequest) -> Result<SourceRange, SpecError> {
    validate_topic_name("--from", &request.from)?;
    if let Some(partitions) = &request.partitions {
        if partitions.is_empty() || partitions.iter().any(|p| *p < 0) {
            return Err(error(
                "--partitions must list partition numbers ≥ 0 (leave it out for all partitions)",
            ));
        }
    }
    let start = match (&request.start_offset, &request.start_time) {
        (Some(_), Some(_)) => {
            return Err(error(
                "give either --start-offset or --start-time, not both",
            ))
        }
        (Some(offsets), None) => StartAt::Offsets(parse_offsets("--start-offset", offsets)?),
        (None, Some(time)) => StartAt::Time(parse_time("--start-time", time)?),
        (None, None) => StartAt::Earliest,
    };
    let end = match (&request.end_offset, &request.end_time, request.count) {
        (None, None, None) => EndAt::Latest,
        (Some(offsets), None, None) => EndAt::Offsets(parse_offsets("--end-offset", offsets)?),
        (None, Some(time), None) => EndAt::Time(parse_time("--end-time", time)?),
        (None, None, Some(0)) => return Err(error("--count must be at least 1")),
        (None, None, Some(count)) => EndAt::Count(count),
        _ => {
            return Err(error(
                "give at most one of --end-offset, --end-time and --count",
            ))
        }
    };
    if let (StartAt::Time(start), EndAt::Time(end)) = (&start, &end) {
        if end < start {
            return Err(error(format!(
                "--end-time {end} is before --start-time {start}"
            )));
        }
    }
    if let (StartAt::Offsets(OffsetSpec::All(start)), EndAt::Offsets(OffsetSpec::All(end))) =
        (&start, &end)
    {
        if end < start {
            return Err(error(format!(
                "--end-offset {end} is before --start-offset {start} (the end offset is inclusive)"
            )));
        }
    }
    let mut partitions = request.partitions.clone();
    if let Some(partitions) = partitions.as_mut() {
        partitions.sort_unstable();
        partitions.dedup();
    }
    Ok(SourceRange {
        topic: request.from.clone(),
        partitions,
        start,
        end,
    })
}

pub fn target_options(request: &ReplayRequest) -> Result<TargetOptions, SpecError> {
    validate_topic_name("--to", &request.to)?;
    let speed = match &request.speed {
        Some(speed) => parse_speed(speed)?,
        None => Speed::Factor(1.0),
    };
    Ok(TargetOptions {
        topic: request.to.clone(),
        speed,
        keep_timestamps: request.keep_timestamps,
        keep_partition: request.keep_partition,
    })
}

impl ReplaySpec {
    /// A replay within one cluster.
    pub fn from_request(request: &ReplayRequest) -> Result<ReplaySpec, SpecError> {
        ReplaySpec::from_request_between(request, true)
    }

    /// `same_cluster`: source and target are one cluster. Across clusters
    /// the same topic name is the usual case (production's orders into the
    /// test cluster's orders) and reads nothing it writes, so it needs no
    /// --allow-same-topic.
    pub fn from_request_between(
        request: &ReplayRequest,
        same_cluster: bool,
    ) -> Result<ReplaySpec, SpecError> {
        let source = source_range(request)?;
        let target = target_options(request)?;
        if same_cluster && source.topic == target.topic && !request.allow_same_topic {
            return Err(error(format!(
                "--from and --to are both {:?}: replaying a topic into itself re-reads what it writes; \
                 add --allow-same-topic if that is what you want",
                source.topic
            )));
        }
        Ok(ReplaySpec { source, target })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(from: &str, to: &str) -> ReplayRequest {
        ReplayRequest {
            from: from.into(),
            to: to.into(),
            ..ReplayRequest::default()
        }
    }

    #[test]
    fn times_before_1970_are_refused_with_the_reason() {
        let error = parse_time("timestamp", "0001-01-01T00:00:00Z").unwrap_err();
        assert!(
            error.to_string().contains("1970-01-01T00:00:00Z or later"),
            "{error}"
        );
        assert!(parse_time("timestamp", "1970-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn defaults_replay_everything_at_original_pace() {
        let spec = ReplaySpec::from_request(&request("orders", "orders-copy")).unwrap();
        assert_eq!(spec.source.start, StartAt::Earliest);
        assert_eq!(spec.source.end, EndAt::Latest);
        assert_eq!(spec.target.speed, Speed::Factor(1.0));
        assert!(!spec.target.keep_partition);
    }

    #[test]
    fn same_topic_needs_an_explicit_yes() {
        let error = ReplaySpec::from_request(&request("orders", "orders")).unwrap_err();
        assert!(error.0.contains("--allow-same-topic"), "{error}");
        let mut allowed = request("orders", "orders");
        allowed.allow_same_topic = true;
        assert!(ReplaySpec::from_request(&allowed).is_ok());
    }

    #[test]
    fn the_same_topic_name_on_another_cluster_needs_no_yes() {
        assert!(ReplaySpec::from_request_between(&request("orders", "orders"), false).is_ok());
        assert!(ReplaySpec::from_request_between(&request("orders", "orders"), true).is_err());
        let body = r#"{"from":"a","to":"a","to_cluster":"test"}"#;
        let request: ReplayRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.to_cluster.as_deref(), Some("test"));
    }

    #[test]
    fn speeds_and_offsets_parse_or_say_why_not() {
        assert_eq!(parse_speed("max").unwrap(), Speed::Max);
        assert_eq!(parse_speed("2.5").unwrap(), Speed::Factor(2.5));
        for bad in ["0", "-1", "fast", "NaN", "inf"] {
            assert!(parse_speed(bad).unwrap_err().0.contains("--speed"), "{bad}");
        }
        assert_eq!(
            parse_offsets("--start-offset", "12").unwrap(),
            OffsetSpec::All(12)
        );
        let per = parse_offsets("--start-offset", "0:10, 2:30").unwrap();
        assert_eq!(per.for_partition(2), Some(30));
        assert_eq!(per.for_partition(1), None);
        for bad in ["-1", "x", "0:1,0:2", "0:", "1:2:3"] {
            assert!(parse_offsets("--start-offset", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicting_ends_and_backwards_ranges_are_refused() {
        let mut both = request("a", "b");
        both.end_offset = Some("5".into());
        both.count = Some(3);
        assert!(ReplaySpec::from_request(&both)
            .unwrap_err()
            .0
            .contains("at most one"));
        let mut backwards = request("a", "b");
        backwards.start_offset = Some("10".into());
        backwards.end_offset = Some("5".into());
        assert!(ReplaySpec::from_request(&backwards)
            .unwrap_err()
            .0
            .contains("inclusive"));
        let mut times = request("a", "b");
        times.start_time = Some("2026-11-26T10:00:00Z".into());
        times.end_time = Some("2026-11-26T09:00:00Z".into());
        assert!(ReplaySpec::from_request(&times)
            .unwrap_err()
            .0
            .contains("before"));
        let mut zero = request("a", "b");
        zero.count = Some(0);
        assert!(ReplaySpec::from_request(&zero).is_err());
    }

    #[test]
    fn hostile_topic_names_are_refused_with_the_rule() {
        let error = ReplaySpec::from_request(&request("<script>", "b")).unwrap_err();
        assert!(error.0.contains("letters, digits"), "{error}");
        assert!(ReplaySpec::from_request(&request("", "b")).is_err());
    }

    #[test]
    fn api_bodies_take_numbers_or_text() {
        let body = r#"{"from":"a","to":"b","speed":2.5,"start_offset":3,"end_offset":"0:9,1:9"}"#;
        let request: ReplayRequest = serde_json::from_str(body).unwrap();
        let spec = ReplaySpec::from_request(&request).unwrap();
        assert_eq!(spec.target.speed, Speed::Factor(2.5));
        assert_eq!(spec.source.start, StartAt::Offsets(OffsetSpec::All(3)));
        assert!(
            serde_json::from_str::<ReplayRequest>(r#"{"from":"a","to":"b","sped":1}"#).is_err()
        );
    }

    #[test]
    fn partitions_parse() {
        assert_eq!(parse_partitions("3, 1,1").unwrap(), vec![1, 3]);
        assert!(parse_partitions("a").is_err());
        assert!(parse_partitions("").is_err());
    }
}

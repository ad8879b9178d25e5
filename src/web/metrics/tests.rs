//! Rendered names and values (the public contract), the status code gauge,
//! the options, and content negotiation.

use super::*;
use crate::model::{GroupPartitionView, GroupStatus, GroupView, PartitionView, TopicView};
use crate::store::DurationHistogram;

fn group(name: &str, status: GroupStatus) -> GroupView {
    GroupView {
        group: name.into(),
        group_type: None,
        state: "Stable".into(),
        state_note: None,
        status,
        reason: String::new(),
        members: None,
        lag: 7,
        lag_seconds: 1.5,
        lost_messages: 0,
        time_to_clear_seconds: None,
        messages_out_per_sec: 0.0,
        topics: vec![],
        partitions: vec![GroupPartitionView {
            topic: "orders".into(),
            partition: 0,
            committed_offset: Some(43).into(),
            high_watermark: Some(50).into(),
            lag: 7,
            lag_seconds: 1.5,
            lost_messages: 0,
            lag_seconds_exact: false,
            messages_out_per_sec: 0.0,
        }],
        error: None,
    }
}

fn snapshot(groups: Vec<GroupView>) -> Snapshot {
    Snapshot {
        kafka_up: true,
        topics: vec![TopicView {
            name: "orders".into(),
            depth: 42,
            partitions: vec![PartitionView {
                partition: 0,
                low_watermark: Some(8),
                high_watermark: Some(50),
                depth: 42,
                ..PartitionView::default()
            }],
            ..TopicView::default()
        }],
        groups,
        ..Snapshot::default()
    }
}

fn counters() -> Counters {
    let mut sample_durations = DurationHistogram::default();
    sample_durations.observe(0.02);
    Counters {
        sample_durations,
        auth_failures: 3,
        ..Counters::default()
    }
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn renders_the_contract_names_with_values() {
    let snapshot = snapshot(vec![group("we\"ird", GroupStatus::Warn)]);
    let text = render(&snapshot, &counters(), MetricsOptions::default());
    for line in [
        "kafka_pulse_up 1",
        "kafka_pulse_partition_high_watermark{topic=\"orders\",partition=\"0\"} 50",
        "kafka_pulse_partition_low_watermark{topic=\"orders\",partition=\"0\"} 8",
        "kafka_pulse_topic_depth_messages{topic=\"orders\"} 42",
        "kafka_pulse_group_lag_messages{group=\"we\\\"ird\"} 7",
        "kafka_pulse_group_lag_seconds{group=\"we\\\"ird\"} 1.5",
        "kafka_pulse_group_partition_committed_offset{group=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 43",
        "kafka_pulse_group_status{group=\"we\\\"ird\",status=\"WARN\"} 1",
        "kafka_pulse_group_status{group=\"we\\\"ird\",status=\"OK\"} 0",
        "kafka_pulse_group_status_code{group=\"we\\\"ird\"} 3",
        "kafka_pulse_collector_sample_duration_seconds_count 1",
        "kafka_pulse_collector_sample_duration_seconds_bucket{le=\"0.025\"} 1",
        "kafka_pulse_collector_sample_duration_seconds_bucket{le=\"+Inf\"} 1",
        "kafka_pulse_web_auth_failures_total 3",
    ] {
        assert!(has_line(&text, line), "missing line {line}\n{text}");
    }
    assert!(
        !text.contains("kafka_consumergroup_lag"),
        "compat series are opt-in"
    );

    let lean = MetricsOptions {
        per_partition: false,
        kafka_exporter_compat: true,
        ..MetricsOptions::default()
    };
    let text = render(&snapshot, &counters(), lean);
    assert!(!text.contains("kafka_pulse_partition_high_watermark{"));
    assert!(!text.contains("kafka_pulse_group_partition_lag_messages{"));
    assert!(text.contains("kafka_pulse_topic_depth_messages{topic=\"orders\"} 42"));
    for line in [
        "kafka_consumergroup_lag{consumergroup=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 7",
        "kafka_consumergroup_current_offset{consumergroup=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 43",
        "kafka_topic_partition_current_offset{topic=\"orders\",partition=\"0\"} 50",
        "kafka_topic_partition_oldest_offset{topic=\"orders\",partition=\"0\"} 8",
        "kafka_topic_partition_under_replicated_partition{topic=\"orders\",partition=\"0\"} 0",
        "kafka_topic_partition_in_sync_replica{topic=\"orders\",partition=\"0\"} 0",
    ] {
        assert!(has_line(&text, line), "missing line {line}\n{text}");
    }
}

#[test]
fn status_code_gauge_has_one_series_per_group_with_each_status_code() {
    let expected = [
        (GroupStatus::Ok, 0),
        (GroupStatus::Empty, 1),
        (GroupStatus::Unknown, 2),
        (GroupStatus::Warn, 3),
        (GroupStatus::Rewind, 4),
        (GroupStatus::Stall, 5),
        (GroupStatus::Stop, 6),
        (GroupStatus::Dead, 7),
        (GroupStatus::Err, 8),
    ];
    assert_eq!(
        expected.len(),
        GroupStatus::ALL.len(),
        "every status listed"
    );
    let groups = expected
        .iter()
        .map(|(status, _)| group(status.as_str(), *status))
        .collect();
    let text = render_snapshot(&snapshot(groups), MetricsOptions::default(), 0);
    for (status, code) in expected {
        let line = format!(
            "kafka_pulse_group_status_code{{group=\"{}\"}} {code}",
            status.as_str()
        );
        assert!(has_line(&text, &line), "missing {line}\n{text}");
        // The one-hot family agrees.
        let hot = format!(
            "kafka_pulse_group_status{{group=\"{0}\",status=\"{0}\"}} 1",
            status.as_str()
        );
        assert!(has_line(&text, &hot), "missing {hot}");
    }
    let series = text
        .lines()
        .filter(|l| l.starts_with("kafka_pulse_group_status_code{"))
        .count();
    assert_eq!(series, expected.len(), "one series per group");
    assert!(has_line(
        &text,
        "# HELP kafka_pulse_group_status_code The group's status as a number, higher is worse: \
         0 OK, 1 EMPTY, 2 UNKNOWN, 3 WARN, 4 REWIND, 5 STALL, 6 STOP, 7 DEAD, 8 ERR."
    ));
    assert!(has_line(
        &text,
        "# TYPE kafka_pulse_group_status_code gauge"
    ));
}

#[test]
fn the_one_hot_status_family_can_be_turned_off() {
    let snapshot = snapshot(vec![group("billing", GroupStatus::Stall)]);
    let on = render_snapshot(&snapshot, MetricsOptions::default(), 0);
    assert_eq!(
        on.lines()
            .filter(|l| l.starts_with("kafka_pulse_group_status{"))
            .count(),
        GroupStatus::ALL.len()
    );
    let off = MetricsOptions {
        group_status_one_hot: false,
        ..MetricsOptions::default()
    };
    let text = render_snapshot(&snapshot, off, 0);
    assert!(
        !text.contains("kafka_pulse_group_status{") && !text.contains(" kafka_pulse_group_status "),
        "no one-hot series nor its HELP/TYPE:\n{text}"
    );
    assert!(has_line(
        &text,
        "kafka_pulse_group_status_code{group=\"billing\"} 5"
    ));
    // Everything else is unchanged: the same lines minus the family.
    let without: Vec<&str> = on
        .lines()
        .filter(|l| {
            !l.starts_with("kafka_pulse_group_status{")
                && !l.ends_with(" kafka_pulse_group_status gauge")
                && !l.starts_with("# HELP kafka_pulse_group_status 1 for")
        })
        .collect();
    assert_eq!(without, text.lines().collect::<Vec<_>>());
}

#[test]
fn a_scrape_body_is_the_fresh_render_in_both_encodings() {
    use std::io::Read;
    use std::sync::Arc;
    let snapshot = Arc::new(snapshot(vec![
        group("a", GroupStatus::Ok),
        group("b", GroupStatus::Err),
    ]));
    let cache = MetricsCache::default();
    let expected = render(&snapshot, &counters(), MetricsOptions::default());
    let (plain, encoding) = scrape_body(cache.head_blocking(&snapshot, false), counters().render());
    assert_eq!(encoding, None);
    assert_eq!(String::from_utf8(plain.concat()).unwrap(), expected);
    let (gzipped, encoding) =
        scrape_body(cache.head_blocking(&snapshot, true), counters().render());
    assert_eq!(encoding, Some("gzip"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gzipped.concat()[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, expected);
}

#[test]
fn gzip_is_negotiated_from_accept_encoding() {
    let offers = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        accepts_gzip(&headers)
    };
    assert!(!accepts_gzip(&HeaderMap::new()));
    assert!(offers("gzip"));
    assert!(offers("GZIP"));
    assert!(offers("deflate, gzip;q=0.5"));
    assert!(offers("x-gzip"));
    // Prometheus' own header.
    assert!(offers("gzip"));
    assert!(offers("br, gzip, deflate"));
    assert!(!offers("gzip;q=0"));
    assert!(!offers("gzip; q=0.0, identity"));
    assert!(!offers("identity"));
    assert!(!offers("gzipped"));
}

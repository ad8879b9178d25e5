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
        clusters: vec![ClusterCounters {
            cluster: "default".into(),
            sample_durations,
            ..ClusterCounters::default()
        }],
        auth_failures: 3,
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
        "kafka_pulse_up{cluster=\"default\"} 1",
        "kafka_pulse_partition_high_watermark{cluster=\"default\",topic=\"orders\",partition=\"0\"} 50",
        "kafka_pulse_partition_low_watermark{cluster=\"default\",topic=\"orders\",partition=\"0\"} 8",
        "kafka_pulse_topic_depth_messages{cluster=\"default\",topic=\"orders\"} 42",
        "kafka_pulse_group_lag_messages{cluster=\"default\",group=\"we\\\"ird\"} 7",
        "kafka_pulse_group_lag_seconds{cluster=\"default\",group=\"we\\\"ird\"} 1.5",
        "kafka_pulse_group_partition_committed_offset{cluster=\"default\",group=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 43",
        "kafka_pulse_group_status{cluster=\"default\",group=\"we\\\"ird\",status=\"WARN\"} 1",
        "kafka_pulse_group_status{cluster=\"default\",group=\"we\\\"ird\",status=\"OK\"} 0",
        "kafka_pulse_group_status_code{cluster=\"default\",group=\"we\\\"ird\"} 3",
        "kafka_pulse_collector_sample_duration_seconds_count{cluster=\"default\"} 1",
        "kafka_pulse_collector_sample_duration_seconds_bucket{cluster=\"default\",le=\"0.025\"} 1",
        "kafka_pulse_collector_sample_duration_seconds_bucket{cluster=\"default\",le=\"+Inf\"} 1",
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
    assert!(
        text.contains("kafka_pulse_topic_depth_messages{cluster=\"default\",topic=\"orders\"} 42")
    );
    for line in [
        "kafka_consumergroup_lag{cluster=\"default\",consumergroup=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 7",
        "kafka_consumergroup_current_offset{cluster=\"default\",consumergroup=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 43",
        "kafka_topic_partition_current_offset{cluster=\"default\",topic=\"orders\",partition=\"0\"} 50",
        "kafka_topic_partition_oldest_offset{cluster=\"default\",topic=\"orders\",partition=\"0\"} 8",
        "kafka_topic_partition_under_replicated_partition{cluster=\"default\",topic=\"orders\",partition=\"0\"} 0",
        "kafka_topic_partition_in_sync_replica{cluster=\"default\",topic=\"orders\",partition=\"0\"} 0",
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
            "kafka_pulse_group_status_code{{cluster=\"default\",group=\"{}\"}} {code}",
            status.as_str()
        );
        assert!(has_line(&text, &line), "missing {line}\n{text}");
        // The one-hot family agrees.
        let hot = format!(
            "kafka_pulse_group_status{{cluster=\"default\",group=\"{0}\",status=\"{0}\"}} 1",
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
        "kafka_pulse_group_status_code{cluster=\"default\",group=\"billing\"} 5"
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
    let (plain, encoding) = scrape_body(
        vec![cache.head_blocking(&snapshot, false)],
        counters().render(),
    );
    assert_eq!(encoding, None);
    assert_eq!(String::from_utf8(plain.concat()).unwrap(), expected);
    let (gzipped, encoding) = scrape_body(
        vec![cache.head_blocking(&snapshot, true)],
        counters().render(),
    );
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

/// Checks an exposition's structure: each family's HELP and TYPE once and
/// first, then only its own series (histograms: `_bucket`, `_sum`,
/// `_count`), every series line `name{labels} value` with a number. Returns
/// the families in order.
fn check_exposition(text: &str) -> Vec<String> {
    let mut families: Vec<String> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(!families.contains(&name), "second HELP of {name}");
            families.push(name);
            current = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(
                Some(&name.to_string()),
                families.last(),
                "TYPE after its HELP"
            );
            assert!(current.is_none(), "second TYPE of {name}");
            current = Some((name.to_string(), kind.to_string()));
        } else {
            let (name, kind) = current.as_ref().expect("a series before any TYPE");
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            assert!(
                value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
                "{line}"
            );
            let series_name = series.split('{').next().unwrap();
            let own = series_name == name
                || (kind == "histogram"
                    && ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| series_name == format!("{name}{s}")));
            assert!(own, "{line} is not a series of family {name}");
            if series.contains('{') {
                assert!(series.ends_with('}'), "{line}");
            }
        }
    }
    families
}

/// Two clusters in one /metrics: each family once, both clusters' series
/// under it with their labels (kafka_exporter's and the per-scrape
/// counters too), the process-wide auth counter without; the gzip body is
/// the same text; each cluster's render is cached on its own.
#[tokio::test]
async fn two_clusters_make_one_exposition_with_each_family_once() {
    use super::super::clusters::ClusterPlace;
    use crate::store::Store;
    use std::io::Read;
    use std::sync::Arc;

    let options = MetricsOptions {
        kafka_exporter_compat: true,
        ..MetricsOptions::default()
    };
    let mut sources = Vec::new();
    for (name, group_name) in [("local", "billing"), ("mirror", "audit")] {
        let store = Arc::new(Store::new(10, 10));
        store.publish(snapshot(vec![group(group_name, GroupStatus::Warn)]));
        store.register_sink("influxdb");
        sources.push((Arc::new(ClusterPlace::among_several(name)), store));
    }
    let exposition = Arc::new(Exposition::new(
        sources,
        options,
        Arc::new(crate::web::auth::AccessPolicy::open()),
    ));
    let scrape = |gzip: bool| {
        let exposition = exposition.clone();
        async move {
            let mut headers = HeaderMap::new();
            if gzip {
                headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            }
            let response = metrics(State(exposition), headers).await;
            assert_eq!(response.status(), StatusCode::OK);
            let encoded = response.headers().get(header::CONTENT_ENCODING).is_some();
            assert_eq!(encoded, gzip);
            let length: usize = response.headers()[header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            assert_eq!(body.len(), length);
            if !gzip {
                return String::from_utf8(body.to_vec()).unwrap();
            }
            // One member: a single-member decoder reads everything.
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        }
    };
    let plain = scrape(false).await;
    let families = check_exposition(&plain);
    assert!(families.contains(&"kafka_consumergroup_lag".to_string()));
    assert!(families.contains(&"kafka_pulse_sink_points_sent_total".to_string()));
    for (cluster, group) in [("local", "billing"), ("mirror", "audit")] {
        for line in [
            format!("kafka_pulse_up{{cluster=\"{cluster}\"}} 1"),
            format!("kafka_pulse_topic_depth_messages{{cluster=\"{cluster}\",topic=\"orders\"}} 42"),
            format!("kafka_pulse_group_lag_messages{{cluster=\"{cluster}\",group=\"{group}\"}} 7"),
            format!("kafka_pulse_group_status_code{{cluster=\"{cluster}\",group=\"{group}\"}} 3"),
            format!("kafka_brokers{{cluster=\"{cluster}\"}} 0"),
            format!("kafka_consumergroup_lag{{cluster=\"{cluster}\",consumergroup=\"{group}\",topic=\"orders\",partition=\"0\"}} 7"),
            format!("kafka_pulse_sink_points_sent_total{{cluster=\"{cluster}\",sink=\"influxdb\"}} 0"),
            format!("kafka_pulse_collector_sample_duration_seconds_count{{cluster=\"{cluster}\"}} 0"),
        ] {
            assert!(has_line(&plain, &line), "missing {line}\n{plain}");
        }
    }
    assert!(has_line(&plain, "kafka_pulse_web_auth_failures_total 0"));
    // Every series but the process-wide one names its cluster.
    for line in plain.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.contains("{cluster=\"local\"")
                || line.contains("{cluster=\"mirror\"")
                || line.starts_with("kafka_pulse_web_auth_failures_total "),
            "{line}"
        );
    }
    // The same body gzipped, first rendered (no text kept) and cached.
    assert_eq!(scrape(true).await, plain);
    for source in &exposition.clusters {
        let latest = source.store.latest();
        assert!(source.cache.cached(&latest, true).is_some());
    }
    assert_eq!(scrape(true).await, plain);
    assert_eq!(scrape(false).await, plain);

    // A new snapshot of one cluster is rendered again; the other's render
    // is reused.
    let mirror = &exposition.clusters[1];
    let before = match mirror.cache.cached(&mirror.store.latest(), true) {
        Some(Head::Gzip(head)) => head.pieces.bytes.as_ptr(),
        _ => panic!("cached"),
    };
    exposition.clusters[0]
        .store
        .publish(snapshot(vec![group("billing", GroupStatus::Ok)]));
    let after = scrape(true).await;
    check_exposition(&after);
    assert!(has_line(
        &after,
        "kafka_pulse_group_status_code{cluster=\"local\",group=\"billing\"} 0"
    ));
    match mirror.cache.cached(&mirror.store.latest(), true) {
        Some(Head::Gzip(head)) => assert_eq!(head.pieces.bytes.as_ptr(), before),
        _ => panic!("still cached"),
    }
}

#[test]
fn one_cluster_is_one_valid_exposition() {
    let text = render(
        &snapshot(vec![group("a", GroupStatus::Ok)]),
        &counters(),
        MetricsOptions {
            kafka_exporter_compat: true,
            ..MetricsOptions::default()
        },
    );
    check_exposition(&text);
}

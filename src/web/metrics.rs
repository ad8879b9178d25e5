//! Prometheus text format 0.0.4, rendered from the latest snapshot only
//! (series of deleted topics and groups vanish with them).

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::config::MetricsOptions;
use crate::model::{GroupStatus, Snapshot};
use crate::store::{DurationHistogram, RequestStat, SinkCounters};

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.store.latest();
    let histogram = state.store.sample_durations();
    let mut text = render(&snapshot, &histogram, state.metrics);
    render_request_stats(&mut text, &state.store.request_stats());
    render_sinks(&mut text, &state.store.sinks());
    render_web_auth(&mut text, &state.access);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Escapes a label value: backslash, double quote and newline.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{value}")
    }
}

struct Writer {
    out: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", label(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

pub fn render(
    snapshot: &Snapshot,
    durations: &DurationHistogram,
    options: MetricsOptions,
) -> String {
    let mut w = Writer {
        out: String::with_capacity(4096),
    };
    w.family(
        "kafka_pulse_up",
        "gauge",
        "1 when the last sample reached Kafka.",
    );
    w.sample(
        "kafka_pulse_up",
        &[],
        if snapshot.kafka_up { 1.0 } else { 0.0 },
    );

    w.family(
        "kafka_pulse_brokers",
        "gauge",
        "Brokers in the cluster metadata.",
    );
    w.sample("kafka_pulse_brokers", &[], snapshot.brokers.len() as f64);

    w.family(
        "kafka_pulse_under_replicated_partitions",
        "gauge",
        "Partitions with fewer in-sync replicas than replicas.",
    );
    w.sample(
        "kafka_pulse_under_replicated_partitions",
        &[],
        snapshot.under_replicated_partitions() as f64,
    );
    w.family(
        "kafka_pulse_offline_partitions",
        "gauge",
        "Partitions without a leader.",
    );
    w.sample(
        "kafka_pulse_offline_partitions",
        &[],
        snapshot.offline_partitions() as f64,
    );

    if options.per_partition {
        let partition_rows: Vec<(&str, String, &crate::model::PartitionView)> = snapshot
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.as_str(), p.partition.to_string(), p))
            })
            .collect();
        w.family(
            "kafka_pulse_partition_high_watermark",
            "gauge",
            "Offset of the next message to be written.",
        );
        for (topic, partition, p) in &partition_rows {
            if let Some(high) = p.high_watermark {
                w.sample(
                    "kafka_pulse_partition_high_watermark",
                    &[("topic", topic), ("partition", partition)],
                    high as f64,
                );
            }
        }
        w.family(
            "kafka_pulse_partition_low_watermark",
            "gauge",
            "Offset of the oldest retained message.",
        );
        for (topic, partition, p) in &partition_rows {
            if let Some(low) = p.low_watermark {
                w.sample(
                    "kafka_pulse_partition_low_watermark",
                    &[("topic", topic), ("partition", partition)],
                    low as f64,
                );
            }
        }
        w.family(
            "kafka_pulse_partition_depth_messages",
            "gauge",
            "Retained messages of the partition (high - low watermark).",
        );
        for (topic, partition, p) in &partition_rows {
            w.sample(
                "kafka_pulse_partition_depth_messages",
                &[("topic", topic), ("partition", partition)],
                p.depth as f64,
            );
        }
    }

    w.family(
        "kafka_pulse_topic_depth_messages",
        "gauge",
        "Retained messages of the topic (sum over partitions).",
    );
    for t in &snapshot.topics {
        w.sample(
            "kafka_pulse_topic_depth_messages",
            &[("topic", &t.name)],
            t.depth as f64,
        );
    }
    w.family(
        "kafka_pulse_topic_partitions",
        "gauge",
        "Partitions of the topic.",
    );
    for t in &snapshot.topics {
        w.sample(
            "kafka_pulse_topic_partitions",
            &[("topic", &t.name)],
            t.partitions.len() as f64,
        );
    }
    w.family(
        "kafka_pulse_topic_messages_in_per_second",
        "gauge",
        "Messages produced per second (change of high watermarks between samples).",
    );
    for t in &snapshot.topics {
        w.sample(
            "kafka_pulse_topic_messages_in_per_second",
            &[("topic", &t.name)],
            t.messages_in_per_sec,
        );
    }
    w.family(
        "kafka_pulse_topic_messages_out_per_second",
        "gauge",
        "Messages consumed per second, summed over the groups reading the topic.",
    );
    for t in &snapshot.topics {
        w.sample(
            "kafka_pulse_topic_messages_out_per_second",
            &[("topic", &t.name)],
            t.messages_out_per_sec,
        );
    }

    w.family(
        "kafka_pulse_group_lag_messages",
        "gauge",
        "Messages the group is behind, all partitions.",
    );
    for g in &snapshot.groups {
        w.sample(
            "kafka_pulse_group_lag_messages",
            &[("group", &g.group)],
            g.lag as f64,
        );
    }
    w.family(
        "kafka_pulse_group_lag_seconds",
        "gauge",
        "Age of the oldest unconsumed message of the group (max over partitions).",
    );
    for g in &snapshot.groups {
        w.sample(
            "kafka_pulse_group_lag_seconds",
            &[("group", &g.group)],
            g.lag_seconds,
        );
    }
    w.family(
        "kafka_pulse_group_lost_messages",
        "gauge",
        "Messages deleted before the group read them (committed offset below the log start); not in the lag.",
    );
    for g in &snapshot.groups {
        w.sample(
            "kafka_pulse_group_lost_messages",
            &[("group", &g.group)],
            g.lost_messages as f64,
        );
    }
    w.family(
        "kafka_pulse_group_members",
        "gauge",
        "Members of the group, when the broker can tell.",
    );
    for g in &snapshot.groups {
        if let Some(members) = &g.members {
            w.sample(
                "kafka_pulse_group_members",
                &[("group", &g.group)],
                members.len() as f64,
            );
        }
    }
    w.family(
        "kafka_pulse_group_status",
        "gauge",
        "1 for the group's current status, 0 for the others.",
    );
    for g in &snapshot.groups {
        for status in GroupStatus::ALL {
            w.sample(
                "kafka_pulse_group_status",
                &[("group", &g.group), ("status", status.as_str())],
                if g.status == status { 1.0 } else { 0.0 },
            );
        }
    }
    w.family(
        "kafka_pulse_group_topic_lag_messages",
        "gauge",
        "Messages the group is behind on one topic.",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            w.sample(
                "kafka_pulse_group_topic_lag_messages",
                &[("group", &g.group), ("topic", &t.topic)],
                t.lag as f64,
            );
        }
    }
    if options.per_partition {
        w.family(
            "kafka_pulse_group_partition_lag_messages",
            "gauge",
            "Messages the group is behind on one partition.",
        );
        for g in &snapshot.groups {
            for p in &g.partitions {
                w.sample(
                    "kafka_pulse_group_partition_lag_messages",
                    &[
                        ("group", &g.group),
                        ("topic", &p.topic),
                        ("partition", &p.partition.to_string()),
                    ],
                    p.lag as f64,
                );
            }
        }
        w.family(
            "kafka_pulse_group_partition_lost_messages",
            "gauge",
            "Messages of one partition deleted before the group read them (only partitions that lost any).",
        );
        for g in &snapshot.groups {
            for p in g.partitions.iter().filter(|p| p.lost_messages > 0) {
                w.sample(
                    "kafka_pulse_group_partition_lost_messages",
                    &[
                        ("group", &g.group),
                        ("topic", &p.topic),
                        ("partition", &p.partition.to_string()),
                    ],
                    p.lost_messages as f64,
                );
            }
        }
        w.family(
            "kafka_pulse_group_partition_committed_offset",
            "gauge",
            "Committed offset of the group on one partition (absent before the first commit).",
        );
        for g in &snapshot.groups {
            for p in &g.partitions {
                if let Some(offset) = p.committed_offset.get() {
                    w.sample(
                        "kafka_pulse_group_partition_committed_offset",
                        &[
                            ("group", &g.group),
                            ("topic", &p.topic),
                            ("partition", &p.partition.to_string()),
                        ],
                        offset as f64,
                    );
                }
            }
        }
        w.family(
            "kafka_pulse_group_partition_lag_seconds",
            "gauge",
            "Age of the oldest unconsumed message of the group on one partition.",
        );
        for g in &snapshot.groups {
            for p in &g.partitions {
                w.sample(
                    "kafka_pulse_group_partition_lag_seconds",
                    &[
                        ("group", &g.group),
                        ("topic", &p.topic),
                        ("partition", &p.partition.to_string()),
                    ],
                    p.lag_seconds,
                );
            }
        }
    }

    w.family(
        "kafka_pulse_collector_errors",
        "gauge",
        "Parts of the last sample that failed (see /api/v1/health).",
    );
    w.sample(
        "kafka_pulse_collector_errors",
        &[],
        snapshot.errors.len() as f64,
    );
    w.family(
        "kafka_pulse_collector_sample_duration_seconds",
        "histogram",
        "Time one collector tick took.",
    );
    histogram(
        &mut w,
        "kafka_pulse_collector_sample_duration_seconds",
        &[],
        durations,
    );
    if options.kafka_exporter_compat {
        render_kafka_exporter(&mut w, snapshot);
    }
    w.out
}

/// Duration histogram and error counter of each Kafka request type.
pub fn render_request_stats(out: &mut String, stats: &[(String, RequestStat)]) {
    let mut w = Writer {
        out: std::mem::take(out),
    };
    const NAME: &str = "kafka_pulse_kafka_request_duration_seconds";
    w.family(
        NAME,
        "histogram",
        "Time of each Kafka request the collector sent, by request type.",
    );
    for (api, stat) in stats {
        histogram(&mut w, NAME, &[("api", api)], &stat.durations);
    }
    w.family(
        "kafka_pulse_kafka_request_errors_total",
        "counter",
        "Kafka requests that failed (timeout, connection, protocol), by request type.",
    );
    for (api, stat) in stats {
        w.sample(
            "kafka_pulse_kafka_request_errors_total",
            &[("api", api)],
            stat.errors as f64,
        );
    }
    *out = w.out;
}

/// Sent, dropped and failed points of each sink, and its queue length.
/// Requests refused for missing or wrong credentials: an alert on its rate
/// shows someone guessing or a client with a stale secret.
fn render_web_auth(out: &mut String, access: &super::auth::AccessPolicy) {
    let mut w = Writer {
        out: std::mem::take(out),
    };
    w.family(
        "kafka_pulse_web_auth_failures_total",
        "counter",
        "Web requests refused for missing or wrong credentials (--auth-token-file).",
    );
    w.sample(
        "kafka_pulse_web_auth_failures_total",
        &[],
        access.failures.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    *out = w.out;
}

pub fn render_sinks(out: &mut String, sinks: &[(String, std::sync::Arc<SinkCounters>)]) {
    let mut w = Writer {
        out: std::mem::take(out),
    };
    type SinkValue = fn(&SinkCounters) -> u64;
    let families: [(&str, &str, &str, SinkValue); 4] = [
        (
            "kafka_pulse_sink_points_sent_total",
            "counter",
            "Points (lines, documents) the sink delivered.",
            |c| SinkCounters::get(&c.sent),
        ),
        (
            "kafka_pulse_sink_points_dropped_total",
            "counter",
            "Points the sink gave up on (queue full, rejected, shutdown).",
            |c| SinkCounters::get(&c.dropped),
        ),
        (
            "kafka_pulse_sink_errors_total",
            "counter",
            "Failed delivery attempts.",
            |c| SinkCounters::get(&c.errors),
        ),
        (
            "kafka_pulse_sink_queue_points",
            "gauge",
            "Points waiting in the sink's queue.",
            |c| SinkCounters::get(&c.queued),
        ),
    ];
    for (name, kind, help, value) in families {
        w.family(name, kind, help);
        for (sink, counters) in sinks {
            w.sample(name, &[("sink", sink)], value(counters) as f64);
        }
    }
    *out = w.out;
}

/// Writes `_bucket`, `_sum` and `_count` lines of one histogram.
fn histogram(w: &mut Writer, name: &str, labels: &[(&str, &str)], values: &DurationHistogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (bound, count) in values.buckets() {
        cumulative += count;
        let le = number(bound);
        let mut with_le = labels.to_vec();
        with_le.push(("le", &le));
        w.sample(&bucket, &with_le, cumulative as f64);
    }
    let mut with_le = labels.to_vec();
    with_le.push(("le", "+Inf"));
    w.sample(&bucket, &with_le, values.count() as f64);
    w.sample(&format!("{name}_sum"), labels, values.sum());
    w.sample(&format!("{name}_count"), labels, values.count() as f64);
}

/// The series kafka_exporter (danielqsj) exports, with its names and labels,
/// so dashboards built for it work unchanged.
fn render_kafka_exporter(w: &mut Writer, snapshot: &Snapshot) {
    w.family(
        "kafka_brokers",
        "gauge",
        "Number of Brokers in the Kafka Cluster.",
    );
    w.sample("kafka_brokers", &[], snapshot.brokers.len() as f64);
    w.family(
        "kafka_topic_partitions",
        "gauge",
        "Number of partitions for this Topic",
    );
    for t in &snapshot.topics {
        w.sample(
            "kafka_topic_partitions",
            &[("topic", &t.name)],
            t.partitions.len() as f64,
        );
    }
    type PartitionValue = fn(&crate::model::PartitionView) -> Option<f64>;
    let partition_families: [(&str, &str, PartitionValue); 6] = [
        (
            "kafka_topic_partition_current_offset",
            "Current Offset of a Broker at Topic/Partition",
            |p| p.high_watermark.map(|v| v as f64),
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "Oldest Offset of a Broker at Topic/Partition",
            |p| p.low_watermark.map(|v| v as f64),
        ),
        (
            "kafka_topic_partition_in_sync_replica",
            "Number of In-Sync Replicas for this Topic/Partition",
            |p| Some(p.isr.len() as f64),
        ),
        (
            "kafka_topic_partition_leader",
            "Leader Broker ID of this Topic/Partition",
            |p| Some(p.leader as f64),
        ),
        (
            "kafka_topic_partition_replicas",
            "Number of Replicas for this Topic/Partition",
            |p| Some(p.replicas.len() as f64),
        ),
        (
            "kafka_topic_partition_under_replicated_partition",
            "1 if Topic/Partition is under Replicated",
            |p| {
                Some(if p.isr.len() < p.replicas.len() {
                    1.0
                } else {
                    0.0
                })
            },
        ),
    ];
    for (name, help, value) in partition_families {
        w.family(name, "gauge", help);
        for t in &snapshot.topics {
            for p in &t.partitions {
                if let Some(v) = value(p) {
                    w.sample(
                        name,
                        &[("topic", &t.name), ("partition", &p.partition.to_string())],
                        v,
                    );
                }
            }
        }
    }
    w.family(
        "kafka_consumergroup_current_offset",
        "gauge",
        "Current Offset of a ConsumerGroup at Topic/Partition",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            if let Some(offset) = p.committed_offset.get() {
                w.sample(
                    "kafka_consumergroup_current_offset",
                    &[
                        ("consumergroup", &g.group),
                        ("topic", &p.topic),
                        ("partition", &p.partition.to_string()),
                    ],
                    offset as f64,
                );
            }
        }
    }
    w.family(
        "kafka_consumergroup_current_offset_sum",
        "gauge",
        "Current Offset of a ConsumerGroup at Topic for all partitions",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            let sum: i64 = g
                .partitions
                .iter()
                .filter(|p| p.topic == t.topic)
                .filter_map(|p| p.committed_offset.get())
                .sum();
            w.sample(
                "kafka_consumergroup_current_offset_sum",
                &[("consumergroup", &g.group), ("topic", &t.topic)],
                sum as f64,
            );
        }
    }
    w.family(
        "kafka_consumergroup_lag",
        "gauge",
        "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            w.sample(
                "kafka_consumergroup_lag",
                &[
                    ("consumergroup", &g.group),
                    ("topic", &p.topic),
                    ("partition", &p.partition.to_string()),
                ],
                p.lag as f64,
            );
        }
    }
    w.family(
        "kafka_consumergroup_lag_sum",
        "gauge",
        "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            w.sample(
                "kafka_consumergroup_lag_sum",
                &[("consumergroup", &g.group), ("topic", &t.topic)],
                t.lag as f64,
            );
        }
    }
    w.family(
        "kafka_consumergroup_members",
        "gauge",
        "Amount of members in a consumer group",
    );
    for g in &snapshot.groups {
        if let Some(members) = &g.members {
            w.sample(
                "kafka_consumergroup_members",
                &[("consumergroup", &g.group)],
                members.len() as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupPartitionView, GroupView, PartitionView, TopicView};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn renders_the_contract_names_with_values() {
        let snapshot = Snapshot {
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
            groups: vec![GroupView {
                group: "we\"ird".into(),
                group_type: None,
                state: "Stable".into(),
                state_note: None,
                status: GroupStatus::Warn,
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
            }],
            ..Snapshot::default()
        };
        let mut histogram = DurationHistogram::default();
        histogram.observe(0.02);
        let text = render(&snapshot, &histogram, MetricsOptions::default());
        for line in [
            "kafka_pulse_up 1",
            "kafka_pulse_partition_high_watermark{topic=\"orders\",partition=\"0\"} 50",
            "kafka_pulse_partition_low_watermark{topic=\"orders\",partition=\"0\"} 8",
            "kafka_pulse_topic_depth_messages{topic=\"orders\"} 42",
            "kafka_pulse_group_lag_messages{group=\"we\\\"ird\"} 7",
            "kafka_pulse_group_partition_committed_offset{group=\"we\\\"ird\",topic=\"orders\",partition=\"0\"} 43",
            "kafka_pulse_group_status{group=\"we\\\"ird\",status=\"WARN\"} 1",
            "kafka_pulse_group_status{group=\"we\\\"ird\",status=\"OK\"} 0",
            "kafka_pulse_collector_sample_duration_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing line {line}\n{text}");
        }
        assert!(
            !text.contains("kafka_consumergroup_lag"),
            "compat series are opt-in"
        );

        let lean = MetricsOptions {
            per_partition: false,
            kafka_exporter_compat: true,
        };
        let text = render(&snapshot, &histogram, lean);
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
            assert!(text.lines().any(|l| l == line), "missing line {line}\n{text}");
        }
    }
}

//! The part of /metrics that is a function of one snapshot: cluster, topic,
//! group and partition families (and kafka_exporter's, `exporter.rs`).
//! Rendered once per snapshot by `cache.rs`, never per scrape. Series of
//! deleted topics and groups vanish with them.

use super::exporter;
use super::text::{Part, Pieces, Spill, Writer};
use crate::config::MetricsOptions;
use crate::model::{GroupStatus, Snapshot};

/// The snapshot families as one cluster's whole exposition, labelled as an
/// unnamed cluster's (tests, the benchmark); `capacity` sizes the buffer.
pub fn render_snapshot(snapshot: &Snapshot, options: MetricsOptions, capacity: usize) -> String {
    let part = Part {
        cluster: Some(snapshot.cluster_label(None)),
        headers: true,
    };
    let pieces = render_part(snapshot, options, part, capacity);
    String::from_utf8(pieces.bytes.to_vec()).expect("rendered as UTF-8")
}

/// One cluster's part of the exposition, cut at the families; `capacity`
/// sizes the buffer (the previous render's length: one allocation, no
/// regrowth).
pub fn render_part(
    snapshot: &Snapshot,
    options: MetricsOptions,
    part: Part<'_>,
    capacity: usize,
) -> Pieces {
    let mut w = Writer::for_part(capacity.max(4096), part);
    render_into(&mut w, snapshot, options);
    w.finish_pieces()
}

/// The same text handed to `spill` in pieces of ~128 KiB, never whole:
/// the gzip head is made from it without a text of tens of MiB in memory.
pub fn render_part_to(
    snapshot: &Snapshot,
    options: MetricsOptions,
    part: Part<'_>,
    spill: &mut dyn Spill,
) {
    let mut w = Writer::spilling(spill, part);
    render_into(&mut w, snapshot, options);
    w.finish();
}

fn render_into(w: &mut Writer, snapshot: &Snapshot, options: MetricsOptions) {
    cluster(w, snapshot);
    if options.per_partition {
        partitions(w, snapshot);
    }
    topics(w, snapshot);
    groups(w, snapshot, options);
    if options.per_partition {
        group_partitions(w, snapshot);
    }
    w.family(
        "kafka_pulse_collector_errors",
        "gauge",
        "Parts of the last sample that failed (see /api/v1/health).",
    );
    w.series("kafka_pulse_collector_errors")
        .count(snapshot.errors.len());
    if options.kafka_exporter_compat {
        exporter::render(w, snapshot);
    }
}

fn cluster(w: &mut Writer, snapshot: &Snapshot) {
    w.family(
        "kafka_pulse_up",
        "gauge",
        "1 when the last sample reached Kafka.",
    );
    w.series("kafka_pulse_up").flag(snapshot.kafka_up);
    w.family(
        "kafka_pulse_brokers",
        "gauge",
        "Brokers in the cluster metadata.",
    );
    w.series("kafka_pulse_brokers")
        .count(snapshot.brokers.len());
    w.family(
        "kafka_pulse_under_replicated_partitions",
        "gauge",
        "Partitions with fewer in-sync replicas than replicas.",
    );
    w.series("kafka_pulse_under_replicated_partitions")
        .count(snapshot.under_replicated_partitions());
    w.family(
        "kafka_pulse_offline_partitions",
        "gauge",
        "Partitions without a leader.",
    );
    w.series("kafka_pulse_offline_partitions")
        .count(snapshot.offline_partitions());
}

fn partitions(w: &mut Writer, snapshot: &Snapshot) {
    type Value = fn(&crate::model::PartitionView) -> Option<i64>;
    let families: [(&str, &str, Value); 3] = [
        (
            "kafka_pulse_partition_high_watermark",
            "Offset of the next message to be written.",
            |p| p.high_watermark,
        ),
        (
            "kafka_pulse_partition_low_watermark",
            "Offset of the oldest retained message.",
            |p| p.low_watermark,
        ),
        (
            "kafka_pulse_partition_depth_messages",
            "Retained messages of the partition (high - low watermark).",
            |p| Some(p.depth),
        ),
    ];
    for (name, help, value) in families {
        w.family(name, "gauge", help);
        for t in &snapshot.topics {
            for p in &t.partitions {
                if let Some(v) = value(p) {
                    w.series(name)
                        .label("topic", &t.name)
                        .label_int("partition", p.partition.into())
                        .int(v);
                }
            }
        }
    }
}

fn topics(w: &mut Writer, snapshot: &Snapshot) {
    w.family(
        "kafka_pulse_topic_depth_messages",
        "gauge",
        "Retained messages of the topic (sum over partitions).",
    );
    for t in &snapshot.topics {
        w.series("kafka_pulse_topic_depth_messages")
            .label("topic", &t.name)
            .int(t.depth);
    }
    w.family(
        "kafka_pulse_topic_partitions",
        "gauge",
        "Partitions of the topic.",
    );
    for t in &snapshot.topics {
        w.series("kafka_pulse_topic_partitions")
            .label("topic", &t.name)
            .count(t.partitions.len());
    }
    w.family(
        "kafka_pulse_topic_messages_in_per_second",
        "gauge",
        "Messages produced per second (change of high watermarks between samples).",
    );
    for t in &snapshot.topics {
        w.series("kafka_pulse_topic_messages_in_per_second")
            .label("topic", &t.name)
            .value(t.messages_in_per_sec);
    }
    w.family(
        "kafka_pulse_topic_messages_out_per_second",
        "gauge",
        "Messages consumed per second, summed over the groups reading the topic.",
    );
    for t in &snapshot.topics {
        w.series("kafka_pulse_topic_messages_out_per_second")
            .label("topic", &t.name)
            .value(t.messages_out_per_sec);
    }
}

/// HELP of `kafka_pulse_group_status_code`, listing the codes from
/// [`GroupStatus::code`] so the two cannot drift apart.
pub fn status_code_help() -> String {
    let mut statuses = GroupStatus::ALL;
    statuses.sort_by_key(|s| s.code());
    let codes: Vec<String> = statuses
        .iter()
        .map(|s| format!("{} {}", s.code(), s.as_str()))
        .collect();
    format!(
        "The group's status as a number, higher is worse: {}.",
        codes.join(", ")
    )
}

fn groups(w: &mut Writer, snapshot: &Snapshot, options: MetricsOptions) {
    w.family(
        "kafka_pulse_group_lag_messages",
        "gauge",
        "Messages the group is behind, all partitions.",
    );
    for g in &snapshot.groups {
        w.series("kafka_pulse_group_lag_messages")
            .label("group", &g.group)
            .int(g.lag);
    }
    w.family(
        "kafka_pulse_group_lag_seconds",
        "gauge",
        "Age of the oldest unconsumed message of the group (max over partitions).",
    );
    for g in &snapshot.groups {
        w.series("kafka_pulse_group_lag_seconds")
            .label("group", &g.group)
            .value(g.lag_seconds);
    }
    w.family(
        "kafka_pulse_group_lost_messages",
        "gauge",
        "Messages deleted before the group read them (committed offset below the log start); not in the lag.",
    );
    for g in &snapshot.groups {
        w.series("kafka_pulse_group_lost_messages")
            .label("group", &g.group)
            .int(g.lost_messages);
    }
    w.family(
        "kafka_pulse_group_members",
        "gauge",
        "Members of the group, when the broker can tell.",
    );
    for g in &snapshot.groups {
        if let Some(members) = &g.members {
            w.series("kafka_pulse_group_members")
                .label("group", &g.group)
                .count(members.len());
        }
    }
    // One series per group instead of nine: the family to keep at scale.
    w.family(
        "kafka_pulse_group_status_code",
        "gauge",
        &status_code_help(),
    );
    for g in &snapshot.groups {
        w.series("kafka_pulse_group_status_code")
            .label("group", &g.group)
            .int(g.status.code().into());
    }
    if options.group_status_one_hot {
        w.family(
            "kafka_pulse_group_status",
            "gauge",
            "1 for the group's current status, 0 for the others.",
        );
        for g in &snapshot.groups {
            for status in GroupStatus::ALL {
                w.series("kafka_pulse_group_status")
                    .label("group", &g.group)
                    .label("status", status.as_str())
                    .flag(g.status == status);
            }
        }
    }
    w.family(
        "kafka_pulse_group_topic_lag_messages",
        "gauge",
        "Messages the group is behind on one topic.",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            w.series("kafka_pulse_group_topic_lag_messages")
                .label("group", &g.group)
                .label("topic", &t.topic)
                .int(t.lag);
        }
    }
}

fn group_partitions(w: &mut Writer, snapshot: &Snapshot) {
    const LAG: &str = "kafka_pulse_group_partition_lag_messages";
    w.family(
        LAG,
        "gauge",
        "Messages the group is behind on one partition.",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            w.series(LAG)
                .label("group", &g.group)
                .label("topic", &p.topic)
                .label_int("partition", p.partition.into())
                .int(p.lag);
        }
    }
    const LOST: &str = "kafka_pulse_group_partition_lost_messages";
    w.family(
        LOST,
        "gauge",
        "Messages of one partition deleted before the group read them (only partitions that lost any).",
    );
    for g in &snapshot.groups {
        for p in g.partitions.iter().filter(|p| p.lost_messages > 0) {
            w.series(LOST)
                .label("group", &g.group)
                .label("topic", &p.topic)
                .label_int("partition", p.partition.into())
                .int(p.lost_messages);
        }
    }
    const COMMITTED: &str = "kafka_pulse_group_partition_committed_offset";
    w.family(
        COMMITTED,
        "gauge",
        "Committed offset of the group on one partition (absent before the first commit).",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            if let Some(offset) = p.committed_offset.get() {
                w.series(COMMITTED)
                    .label("group", &g.group)
                    .label("topic", &p.topic)
                    .label_int("partition", p.partition.into())
                    .int(offset);
            }
        }
    }
    const LAG_SECONDS: &str = "kafka_pulse_group_partition_lag_seconds";
    w.family(
        LAG_SECONDS,
        "gauge",
        "Age of the oldest unconsumed message of the group on one partition.",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            w.series(LAG_SECONDS)
                .label("group", &g.group)
                .label("topic", &p.topic)
                .label_int("partition", p.partition.into())
                .value(p.lag_seconds);
        }
    }
}

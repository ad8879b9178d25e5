//! Encodes one synthetic snapshot (1,000 topics × 10 partitions, 500 groups ×
//! 20 partitions: 21,501 lines) repeatedly with kafka-pulse's encoder and with
//! influxdb2's DataPoint builder + serializer, and prints both rates.

use std::hint::black_box;
use std::time::{Duration, Instant};

use influxdb2::models::{DataPoint, WriteDataPoint};
use kafka_pulse::model::{
    GroupPartitionView, GroupStatus, GroupView, PartitionView, Snapshot, TopicView,
};
use kafka_pulse::sinks::influxdb::encoder::{encode_snapshot, Precision};

fn snapshot() -> Snapshot {
    let topics = (0..1000)
        .map(|t| TopicView {
            name: format!("topic-{t}"),
            depth: 123_456,
            messages_in_per_sec: 42.5,
            messages_out_per_sec: 40.25,
            partitions: (0..10)
                .map(|p| PartitionView {
                    partition: p,
                    leader: 1,
                    replicas: vec![1, 2, 3],
                    isr: vec![1, 2, 3],
                    low_watermark: Some(1000),
                    high_watermark: Some(13_345),
                    depth: 12_345,
                    messages_in_per_sec: 4.25,
                })
                .collect(),
            groups: vec![],
            internal: false,
        })
        .collect();
    let groups = (0..500)
        .map(|g| GroupView {
            group: format!("group-{g}"),
            state: "Stable".into(),
            state_note: None,
            status: GroupStatus::Ok,
            reason: "consuming".into(),
            members: None,
            lag: 77,
            lag_seconds: 1.5,
            time_to_clear_seconds: Some(3.0),
            messages_out_per_sec: 12.0,
            topics: vec![],
            partitions: (0..20)
                .map(|p| GroupPartitionView {
                    topic: format!("topic-{}", (g * 2 + p / 10) % 1000),
                    partition: p % 10,
                    committed_offset: Some(13_300),
                    high_watermark: Some(13_345),
                    lag: 45,
                    lag_seconds: 0.75,
                    messages_out_per_sec: 1.5,
                })
                .collect(),
            error: None,
        })
        .collect();
    Snapshot {
        sequence: 1,
        kafka_up: true,
        taken_at: chrono::Utc::now(),
        topics,
        groups,
        ..Snapshot::default()
    }
}

/// The same points as `encode_snapshot`, built with influxdb2's DataPoint.
fn influxdb2_points(snapshot: &Snapshot, cluster: &str, ts: i64, out: &mut Vec<u8>) -> usize {
    let mut lines = 0;
    let mut write = |point: DataPoint| {
        point.write_data_point_to(&mut *out).expect("write");
        lines += 1;
    };
    write(
        DataPoint::builder("kafka_pulse")
            .tag("cluster", cluster)
            .field("kafka_up", 1i64)
            .field("sample_duration_seconds", snapshot.sample_duration_seconds)
            .field("topics", snapshot.topics.len() as i64)
            .field("groups", snapshot.groups.len() as i64)
            .field("brokers", 0i64)
            .field("collector_errors", 0i64)
            .field("under_replicated_partitions", 0i64)
            .field("offline_partitions", 0i64)
            .timestamp(ts)
            .build()
            .unwrap(),
    );
    for t in &snapshot.topics {
        write(
            DataPoint::builder("kafka_topic")
                .tag("cluster", cluster)
                .tag("topic", t.name.as_str())
                .field("depth", t.depth)
                .field("messages_in_per_sec", t.messages_in_per_sec)
                .field("messages_out_per_sec", t.messages_out_per_sec)
                .field("partitions", t.partitions.len() as i64)
                .timestamp(ts)
                .build()
                .unwrap(),
        );
        for p in &t.partitions {
            write(
                DataPoint::builder("kafka_partition")
                    .tag("cluster", cluster)
                    .tag("topic", t.name.as_str())
                    .tag("partition", p.partition.to_string())
                    .field("low_watermark", p.low_watermark.unwrap_or(0))
                    .field("high_watermark", p.high_watermark.unwrap_or(0))
                    .field("depth", p.depth)
                    .field("messages_in_per_sec", p.messages_in_per_sec)
                    .field("leader", i64::from(p.leader))
                    .field("in_sync_replicas", p.isr.len() as i64)
                    .timestamp(ts)
                    .build()
                    .unwrap(),
            );
        }
    }
    for g in &snapshot.groups {
        write(
            DataPoint::builder("kafka_group")
                .tag("cluster", cluster)
                .tag("group", g.group.as_str())
                .field("lag", g.lag)
                .field("lag_seconds", g.lag_seconds)
                .field("status", g.status.as_str())
                .field("status_code", 0i64)
                .field("state", g.state.as_str())
                .field("messages_out_per_sec", g.messages_out_per_sec)
                .field(
                    "time_to_clear_seconds",
                    g.time_to_clear_seconds.unwrap_or(0.0),
                )
                .timestamp(ts)
                .build()
                .unwrap(),
        );
        for p in &g.partitions {
            write(
                DataPoint::builder("kafka_group_partition")
                    .tag("cluster", cluster)
                    .tag("group", g.group.as_str())
                    .tag("topic", p.topic.as_str())
                    .tag("partition", p.partition.to_string())
                    .field("committed_offset", p.committed_offset.unwrap_or(0))
                    .field("lag", p.lag)
                    .field("lag_seconds", p.lag_seconds)
                    .field("messages_out_per_sec", p.messages_out_per_sec)
                    .timestamp(ts)
                    .build()
                    .unwrap(),
            );
        }
    }
    lines
}

/// Runs `work` until `budget` has passed; returns lines per second.
fn rate(budget: Duration, mut work: impl FnMut() -> usize) -> (f64, usize) {
    let started = Instant::now();
    let mut lines = 0;
    let mut rounds = 0;
    while started.elapsed() < budget {
        lines += work();
        rounds += 1;
    }
    (lines as f64 / started.elapsed().as_secs_f64(), rounds)
}

fn main() {
    let snapshot = snapshot();
    let ts = snapshot.taken_at.timestamp_millis();
    let budget = Duration::from_secs(3);
    let mut ours_buf = String::new();
    let mut theirs_buf = Vec::new();
    // Warm up both, and check they produce the same number of lines.
    let ours_lines = encode_snapshot(
        &snapshot,
        "bench",
        Precision::Milliseconds,
        true,
        &mut ours_buf,
    );
    let theirs_lines = influxdb2_points(&snapshot, "bench", ts, &mut theirs_buf);
    assert_eq!(ours_lines, theirs_lines, "both encode the same points");
    // Alternate so both see the same machine state; report each.
    let (ours, ours_rounds) = rate(budget, || {
        ours_buf.clear();
        black_box(encode_snapshot(
            &snapshot,
            "bench",
            Precision::Milliseconds,
            true,
            &mut ours_buf,
        ))
    });
    let (theirs, theirs_rounds) = rate(budget, || {
        theirs_buf.clear();
        black_box(influxdb2_points(&snapshot, "bench", ts, &mut theirs_buf))
    });
    println!("points per snapshot:      {ours_lines}");
    println!("kafka-pulse encoder:      {ours:>12.0} lines/s ({ours_rounds} snapshots)");
    println!("influxdb2 DataPoint:      {theirs:>12.0} lines/s ({theirs_rounds} snapshots)");
    println!("ratio (ours / influxdb2): {:>12.2}", ours / theirs);
}

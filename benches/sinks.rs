//! Encoding rates of both sinks on the same synthetic snapshot (1,000
//! topics × 10 partitions, 500 groups × 20 partitions), in one run:
//! InfluxDB lines/s and Elasticsearch bulk documents/s (documents built and
//! serialized into bulk lines). For the influxdb2 crate side by side, see
//! bench/influx-encoder.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use kafka_pulse::model::{
    Event, GroupPartitionView, GroupStatus, GroupView, PartitionView, Snapshot, TopicView,
};
use kafka_pulse::sinks::elasticsearch::encoder::{bulk_body, event_doc, metric_docs};
use kafka_pulse::sinks::influxdb::encoder::{encode_snapshot, Precision};

fn snapshot() -> Snapshot {
    Snapshot {
        sequence: 1,
        kafka_up: true,
        taken_at: Utc::now(),
        topics: (0..1000)
            .map(|t| TopicView {
                name: format!("topic-{t}").into(),
                depth: 123_456,
                messages_in_per_sec: 42.5,
                messages_out_per_sec: 40.25,
                partitions: (0..10)
                    .map(|p| PartitionView {
                        partition: p,
                        leader: 1,
                        replicas: vec![1, 2, 3].into(),
                        isr: vec![1, 2, 3].into(),
                        low_watermark: Some(1000),
                        high_watermark: Some(13_345),
                        depth: 12_345,
                        messages_in_per_sec: 4.25,
                    })
                    .collect(),
                ..TopicView::default()
            })
            .collect(),
        groups: (0..500)
            .map(|g| GroupView {
                group: format!("group-{g}").into(),
                group_type: None,
                state: "Stable".into(),
                state_note: None,
                status: GroupStatus::Ok,
                reason: "consuming".into(),
                members: None,
                lag: 77,
                lag_seconds: 1.5,
                lost_messages: 0,
                time_to_clear_seconds: Some(3.0),
                messages_out_per_sec: 12.0,
                topics: vec![],
                partitions: (0..20)
                    .map(|p| GroupPartitionView {
                        topic: format!("topic-{}", (g * 2 + p / 10) % 1000).into(),
                        partition: p % 10,
                        committed_offset: Some(13_300).into(),
                        high_watermark: Some(13_345).into(),
                        lag: 45,
                        lag_seconds: 0.75,
                        lost_messages: 0,
                        lag_seconds_exact: false,
                        messages_out_per_sec: 1.5,
                    })
                    .collect(),
                error: None,
            })
            .collect(),
        ..Snapshot::default()
    }
}

fn rate(budget: Duration, mut work: impl FnMut() -> usize) -> f64 {
    let started = Instant::now();
    let mut items = 0;
    while started.elapsed() < budget {
        items += work();
    }
    items as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let snapshot = snapshot();
    let budget = Duration::from_secs(2);
    let mut buffer = String::new();
    let influx = rate(budget, || {
        buffer.clear();
        black_box(encode_snapshot(
            &snapshot,
            "bench",
            Precision::Milliseconds,
            true,
            &mut buffer,
        ))
    });
    let es_metrics = rate(budget, || {
        let docs = metric_docs(&snapshot, "bench");
        {
            black_box(bulk_body(&docs));
            docs.len()
        }
    });
    let events: Vec<Event> = (0..1000)
        .map(|i| {
            Event::new(
                Utc::now(),
                "group_status_changed",
                &format!("group-{i}"),
                format!("group group-{i} is STALL (was OK): orders/3: commits stopped for 9s while lag is 1,146"),
            )
            .for_group(&format!("group-{i}"))
        })
        .collect();
    let es_events = rate(budget, || {
        let docs: Vec<_> = events.iter().map(|e| event_doc(e, "bench")).collect();
        {
            black_box(bulk_body(&docs));
            docs.len()
        }
    });
    println!("InfluxDB line protocol:        {influx:>12.0} lines/s");
    println!("Elasticsearch metric docs:     {es_metrics:>12.0} docs/s (built + bulk-encoded)");
    println!("Elasticsearch event docs:      {es_events:>12.0} docs/s (built + bulk-encoded)");
}

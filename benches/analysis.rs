//! Cost of turning one sample into a snapshot (rates, lag, time lag, status,
//! events) for synthetic clusters, without any I/O. Prints milliseconds per
//! tick and the process's resident memory, in one run, so ratios between the
//! sizes are meaningful on a noisy machine.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use kafka_pulse::analysis::events::{diff, LagThresholds};
use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::{CommittedOffset, GroupSample, PartitionSample, Sample, TopicSample};

const PARTITIONS_PER_TOPIC: usize = 4;

/// `partitions` partitions in topics of 4; each group reads one topic.
fn sample(tick: i64, partitions: usize, groups: usize) -> Sample {
    let topics = partitions / PARTITIONS_PER_TOPIC;
    Sample {
        taken_at: Utc.timestamp_opt(1_700_000_000 + tick, 0).unwrap(),
        kafka_up: true,
        topics: (0..topics)
            .map(|t| TopicSample {
                name: format!("topic-{t:05}"),
                internal: false,
                partitions: (0..PARTITIONS_PER_TOPIC as i32)
                    .map(|p| PartitionSample {
                        partition: p,
                        leader: p % 3,
                        replicas: vec![0, 1, 2],
                        isr: vec![0, 1, 2],
                        low_watermark: Some(0),
                        high_watermark: Some(1000 + tick * (10 + t as i64 % 7)),
                    })
                    .collect(),
            })
            .collect(),
        groups: (0..groups)
            .map(|g| GroupSample {
                group: format!("group-{g:05}"),
                offsets: (0..PARTITIONS_PER_TOPIC as i32)
                    .map(|p| CommittedOffset {
                        topic: format!("topic-{:05}", g % topics),
                        partition: p,
                        offset: Some(900 + tick * 9),
                    })
                    .collect(),
                ..GroupSample::default()
            })
            .collect(),
        ..Sample::default()
    }
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|pages| pages * 4096.0 / (1024.0 * 1024.0))
        .unwrap_or(f64::NAN)
}

fn main() {
    println!("partitions  groups  group-partitions  ms/tick (analyze+events)  RSS MiB");
    for (partitions, groups) in [(1_000, 100), (10_000, 500), (40_000, 50_000)] {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        let thresholds = LagThresholds::default();
        let mut previous = analyzer.analyze(&sample(0, partitions, groups));
        // Fill the status windows and time tables as a long run would.
        let warmup = 12;
        for tick in 1..warmup {
            previous = analyzer.analyze(&sample(tick, partitions, groups));
        }
        let samples: Vec<Sample> = (warmup..warmup + 5)
            .map(|tick| sample(tick, partitions, groups))
            .collect();
        let started = Instant::now();
        for s in &samples {
            let next = analyzer.analyze(s);
            std::hint::black_box(diff(&previous, &next, &thresholds));
            previous = next;
        }
        let per_tick = started.elapsed().as_secs_f64() * 1000.0 / samples.len() as f64;
        drop(samples);
        println!(
            "{partitions:>10}  {groups:>6}  {:>16}  {per_tick:>24.1}  {:>7.0}",
            groups * PARTITIONS_PER_TOPIC,
            rss_mib()
        );
    }
}

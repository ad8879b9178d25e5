//! Memory over time: one simulated hour at 10,000 partitions (500 groups),
//! no broker. The app's real analysis and store (what `collector::run`
//! does each tick, minus the Kafka requests: analyzer, event diff, store
//! history and latest snapshot, the previous snapshot kept for the diff)
//! are fed 3,600 synthetic samples one simulated second apart, as fast as
//! they run. Every 5 simulated minutes: the process's RSS (VmRSS)
//! and live heap (a counting allocator over the binary's own allocator,
//! benches/common). Verdict: RSS at 60 min ≤ 1.2 × RSS at 10 min + 5 MiB.
//!
//!     cargo bench --bench memory_hour [-- --partitions N --groups N --minutes M --every M]
//!
//! The synthetic cluster is benches/common's, as in benches/analysis.rs (topics of 4
//! partitions, each group reading one topic and committing a bit behind its
//! high watermark, watermarks advancing in irregular bursts).

use std::sync::Arc;
use std::time::Instant;

use kafka_pulse::analysis::events::{diff, LagThresholds};
use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::Snapshot;
use kafka_pulse::store::{Store, DEFAULT_EVENT_CAPACITY, DEFAULT_HISTORY_POINTS};

mod common;
use common::{live_mib, peak_rss_mib, rss_mib, Cluster, PARTITIONS_PER_TOPIC};

struct Options {
    partitions: usize,
    groups: usize,
    minutes: i64,
    every: i64,
}

fn options() -> Options {
    let mut options = Options {
        partitions: 10_000,
        groups: 500,
        minutes: 60,
        every: 5,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || -> i64 {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} needs a number", args[i]))
        };
        match args[i].as_str() {
            "--partitions" => options.partitions = value() as usize,
            "--groups" => options.groups = value() as usize,
            "--minutes" => options.minutes = value(),
            "--every" => options.every = value(),
            // cargo bench passes --bench; anything else is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    assert!(
        options.partitions >= PARTITIONS_PER_TOPIC && options.minutes > 0 && options.every > 0,
        "need at least {PARTITIONS_PER_TOPIC} partitions and positive minutes"
    );
    options
}

fn main() {
    kafka_pulse::alloc::tune_process_allocator();
    let o = options();
    let started = Instant::now();
    let store = Store::new(DEFAULT_HISTORY_POINTS, DEFAULT_EVENT_CAPACITY);
    let mut analyzer = Analyzer::new(AnalyzerSettings::default());
    let mut cluster = Cluster::new(o.partitions, o.groups);
    let mut previous: Arc<Snapshot> = store.latest();
    let thresholds = LagThresholds::default();
    let (per_sample, per_minute) =
        store.ring_points(o.partitions / PARTITIONS_PER_TOPIC + o.groups);
    println!(
        "One simulated hour: {} partitions ({} topics of {PARTITIONS_PER_TOPIC}), {} groups \
         ({} group-partitions), a tick every simulated second for {} min, analysis + store as the \
         app runs them, no broker.",
        o.partitions,
        o.partitions / PARTITIONS_PER_TOPIC,
        o.groups,
        o.groups * PARTITIONS_PER_TOPIC,
        o.minutes
    );
    println!(
        "Store rings at this size: {per_sample} points per series per sample, {per_minute} per \
         minute (the per-minute rings fill after {per_minute} simulated minutes)."
    );
    println!();
    println!("| simulated min | ticks | RSS MiB | heap MiB | peak RSS MiB | wall s |");
    println!("|---|---|---|---|---|---|");
    let mut curve: Vec<(i64, f64)> = Vec::new();
    let row = |minute: i64, ticks: i64, curve: &mut Vec<(i64, f64)>| {
        let rss = rss_mib();
        curve.push((minute, rss));
        println!(
            "| {minute} | {ticks} | {rss:.1} | {:.1} | {:.1} | {:.1} |",
            live_mib(),
            peak_rss_mib(),
            started.elapsed().as_secs_f64()
        );
    };
    row(0, 0, &mut curve);
    let mut slowest = 0.0f64;
    for tick in 1..=o.minutes * 60 {
        let begun = Instant::now();
        cluster.advance(tick);
        let sample = cluster.sample(tick, tick, true);
        let snapshot = analyzer.analyze(sample);
        let events = diff(&previous, &snapshot, &thresholds);
        store.publish(snapshot);
        store.push_events(events);
        previous = store.latest();
        slowest = slowest.max(begun.elapsed().as_secs_f64());
        if tick % (o.every * 60) == 0 {
            row(tick / 60, tick, &mut curve);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let ticks = o.minutes * 60;
    println!();
    println!(
        "{ticks} ticks in {wall:.1} s of wall time ({:.2} ms per tick, slowest {:.1} ms)",
        wall * 1000.0 / ticks as f64,
        slowest * 1000.0
    );
    // The last point at or before `minute` (the curve is in time order).
    let at = |minute: i64| curve.iter().rev().find(|(m, _)| *m <= minute).copied();
    match (at(10.min(o.minutes)), curve.last()) {
        (Some((m0, base)), Some(&(m1, end))) if m1 > m0 => {
            let limit = 1.2 * base + 5.0;
            println!(
                "bounded: {} (RSS at {m1} min {end:.1} MiB {} 1.2 × RSS at {m0} min {base:.1} MiB + 5 = {limit:.1} MiB)",
                if end <= limit { "yes" } else { "NO" },
                if end <= limit { "≤" } else { ">" },
            );
        }
        _ => println!("bounded: unknown (the run is too short to compare two points)"),
    }
}

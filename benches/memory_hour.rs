//! Memory over time: one simulated hour at 10,000 partitions (500 groups),
//! no broker. The app's real analysis and store (what `collector::run`
//! does each tick, minus the Kafka requests: analyzer, event diff, store
//! history and latest snapshot, the previous snapshot kept for the diff)
//! are fed 3,600 synthetic samples one simulated second apart, as fast as
//! they run. Every 5 simulated minutes: the process's RSS (/proc/self/statm)
//! and live heap (a counting allocator over the binary's jemalloc and its
//! options). Verdict: RSS at 60 min ≤ 1.2 × RSS at 10 min + 5 MiB.
//!
//!     cargo bench --bench memory_hour [-- --partitions N --groups N --minutes M --every M]
//!
//! The synthetic cluster is the one of benches/analysis.rs (topics of 4
//! partitions, each group reading one topic and committing a bit behind its
//! high watermark, watermarks advancing in irregular bursts).

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use kafka_pulse::analysis::events::{diff, LagThresholds};
use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::{
    BrokerIds, CommittedOffset, GroupSample, Name, PartitionSample, Sample, Snapshot, TopicSample,
};
use kafka_pulse::store::{Store, DEFAULT_EVENT_CAPACITY, DEFAULT_HISTORY_POINTS};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The allocator the binary uses, with its options (src/main.rs).
static INNER: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0\0";

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        INNER.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        INNER.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        INNER.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;
const PARTITIONS_PER_TOPIC: usize = 4;
/// Resident pages are counted in this unit by /proc/self/statm (x86_64 and
/// aarch64 Linux with 4 KiB pages; the bench says so if the kernel differs).
const PAGE_BYTES: f64 = 4096.0;

fn live_mib() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / MIB
}

/// Resident set from /proc/self/statm (second field, in pages).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |pages| pages * PAGE_BYTES / MIB)
}

/// Peak resident set (VmHWM) from /proc/self/status.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Cheap deterministic noise (as in benches/analysis.rs).
fn noise(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// Topics of 4 partitions; each group reads one topic and commits a bit
/// behind the high watermark.
struct Cluster {
    topics: Vec<String>,
    groups: Vec<String>,
    highs: Vec<i64>,
}

impl Cluster {
    fn new(partitions: usize, groups: usize) -> Self {
        Cluster {
            topics: (0..partitions / PARTITIONS_PER_TOPIC)
                .map(|t| format!("topic-{t:05}"))
                .collect(),
            groups: (0..groups).map(|g| format!("group-{g:05}")).collect(),
            highs: vec![1_000; partitions],
        }
    }

    fn advance(&mut self, tick: i64) {
        for (i, high) in self.highs.iter_mut().enumerate() {
            *high += (noise(tick as u64, i as u64) % 200) as i64;
        }
    }

    fn sample(&self, tick: i64) -> Sample {
        let topics = self.topics.len().max(1);
        // Like the collector: names are new each tick.
        let topic_names: Vec<Name> = self.topics.iter().map(|t| Name::from(t.as_str())).collect();
        let replicas: BrokerIds = vec![0, 1, 2].into();
        Sample {
            // The synthetic clock: one simulated second per tick.
            taken_at: Utc.timestamp_opt(1_700_000_000 + tick, 0).unwrap(),
            kafka_up: true,
            topics: topic_names
                .iter()
                .enumerate()
                .map(|(t, name)| TopicSample {
                    name: name.clone(),
                    internal: false,
                    partitions: (0..PARTITIONS_PER_TOPIC)
                        .map(|p| PartitionSample {
                            partition: p as i32,
                            leader: p as i32 % 3,
                            replicas: replicas.clone(),
                            isr: replicas.clone(),
                            low_watermark: Some(0),
                            high_watermark: Some(self.highs[t * PARTITIONS_PER_TOPIC + p]),
                        })
                        .collect(),
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .enumerate()
                .map(|(g, name)| {
                    let topic = g % topics;
                    GroupSample {
                        group: name.as_str().into(),
                        offsets: (0..PARTITIONS_PER_TOPIC)
                            .map(|p| {
                                let high = self.highs[topic * PARTITIONS_PER_TOPIC + p];
                                let behind = noise(tick as u64, (g * 8 + p) as u64) % 500;
                                CommittedOffset {
                                    topic: topic_names[topic].clone(),
                                    partition: p as i32,
                                    offset: Some((high - behind as i64).max(0)).into(),
                                }
                            })
                            .collect(),
                        ..GroupSample::default()
                    }
                })
                .collect(),
            ..Sample::default()
        }
    }
}

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
        let sample = cluster.sample(tick);
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

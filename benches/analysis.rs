//! Cost of one collector tick without I/O (analysis, events, publishing to
//! the store) and the memory a process needs to run it, for synthetic
//! clusters of 1,000 / 10,000 / 40,000 partitions.
//!
//! Each size runs in its own child process (the bench re-executes itself),
//! so the resident memory of one size is not left over from another. A
//! child does what the app does: analyzer + a Store fed with every
//! snapshot, the previous snapshot kept for the event diff, one Sample in
//! flight; it warms up until time tables, status windows and the store's
//! history rings are full (steady state), then times a few ticks.
//! A counting allocator attributes the live heap to each part.

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;
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

/// Counts live heap bytes so the report can say which part holds what.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The allocator the binary uses, with its options (src/main.rs), so RSS is
/// the app's.
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

fn live_mib() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / MIB
}

const MIB: f64 = 1024.0 * 1024.0;
const PARTITIONS_PER_TOPIC: usize = 4;
/// The targets: 40,000 partitions / 50,000 groups in ≤ 5 s and
/// ≤ 200 MiB; 10,000 partitions / 500 groups within a 1 s interval.
const BIG_RSS_TARGET_MIB: f64 = 200.0;
const SIZES: [(usize, usize, f64); 3] =
    [(1_000, 100, 1.0), (10_000, 500, 1.0), (40_000, 50_000, 5.0)];
/// Ticks that are timed once the steady state is reached.
const TIMED_TICKS: i64 = 5;
/// Seconds between warm-up samples: one per minute fills the per-minute
/// history rings as fast as the per-sample ones.
const WARMUP_SPACING: i64 = 60;

/// Cheap deterministic noise, so watermarks move irregularly (bursts) and
/// the time tables keep their full number of points, as on a real cluster.
fn noise(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// A synthetic cluster: `partitions` partitions in topics of 4, each group
/// reads one topic and commits a bit behind the high watermark.
struct Cluster {
    topics: Vec<String>,
    groups: Vec<String>,
    /// High watermark per partition, advanced in bursts each tick.
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

    fn sample(&self, tick: i64, time: i64, with_groups: bool) -> Sample {
        let topics = self.topics.len();
        // Like the collector: names are new each tick, and commits share
        // their topic's name.
        let topic_names: Vec<Name> = self.topics.iter().map(|t| Name::from(t.as_str())).collect();
        let replicas: BrokerIds = vec![0, 1, 2].into();
        Sample {
            taken_at: Utc.timestamp_opt(1_700_000_000 + time, 0).unwrap(),
            kafka_up: true,
            topics: self
                .topics
                .iter()
                .enumerate()
                .map(|(t, _)| TopicSample {
                    name: topic_names[t].clone(),
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
            groups: if with_groups {
                self.groups
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
                    .collect()
            } else {
                Vec::new()
            },
            ..Sample::default()
        }
    }
}

fn rss_mib() -> f64 {
    status_kib("VmRSS:") / 1024.0
}

fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:") / 1024.0
}

fn status_kib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(f64::NAN)
}

/// What the app keeps between ticks, fed by the synthetic cluster.
struct Process {
    cluster: Cluster,
    analyzer: Analyzer,
    store: Store,
    previous: Arc<Snapshot>,
    thresholds: LagThresholds,
}

/// One tick's cost and the memory at its peak.
struct Tick {
    analyse_seconds: f64,
    publish_seconds: f64,
    rss_mib: f64,
    live_mib: f64,
}

impl Process {
    /// One tick as `collector::run` does it, minus the Kafka requests.
    fn tick(&mut self, tick: i64, time: i64) -> Tick {
        self.cluster.advance(tick);
        let sample = self.cluster.sample(tick, time, true);
        let begun = Instant::now();
        // The analyzer consumes the sample as it goes.
        let snapshot = self.analyzer.analyze(sample);
        let events = diff(&self.previous, &snapshot, &self.thresholds);
        let analyse_seconds = begun.elapsed().as_secs_f64();
        // The peak of a tick: previous and new snapshot, before publishing.
        let (rss_mib, live_mib) = (rss_mib(), live_mib());
        let begun = Instant::now();
        self.store.publish(snapshot);
        self.store.push_events(events);
        self.previous = self.store.latest();
        Tick {
            analyse_seconds,
            publish_seconds: begun.elapsed().as_secs_f64(),
            rss_mib,
            live_mib,
        }
    }
}

/// One size, in this process; prints one result line and a breakdown.
fn run_size(partitions: usize, groups: usize, budget_seconds: f64) {
    let rss_start = rss_mib();
    let live_start = live_mib();
    let store = Store::new(DEFAULT_HISTORY_POINTS, DEFAULT_EVENT_CAPACITY);
    let mut process = Process {
        cluster: Cluster::new(partitions, groups),
        analyzer: Analyzer::new(AnalyzerSettings::default()),
        previous: store.latest(),
        store,
        thresholds: LagThresholds::default(),
    };
    let table_points = AnalyzerSettings::default().time_table_points as i64;
    let started = Instant::now();

    // Fill the time tables: watermarks only (no groups), one per second.
    let mut tick = 0;
    while tick < table_points + 2 {
        process.cluster.advance(tick);
        let sample = process.cluster.sample(tick, tick, false);
        process.analyzer.analyze(sample);
        tick += 1;
    }
    // Fill status windows and history rings: full samples, a minute apart,
    // published like the app does.
    let series = partitions / PARTITIONS_PER_TOPIC + groups;
    let (per_sample, per_minute) = process.store.ring_points(series);
    let warmup = per_sample.max(per_minute) as i64 + 1;
    let mut time = tick;
    for _ in 0..warmup {
        time += WARMUP_SPACING;
        process.tick(tick, time);
        tick += 1;
    }
    let warmed = started.elapsed().as_secs_f64();
    let (mut analyse, mut publish, mut rss_peak, mut live_peak) = (0.0, 0.0, 0.0f64, 0.0f64);
    for _ in 0..TIMED_TICKS {
        time += 1;
        let t = process.tick(tick, time);
        analyse += t.analyse_seconds;
        publish += t.publish_seconds;
        rss_peak = rss_peak.max(t.rss_mib);

        live_peak = live_peak.max(t.live_mib);
        tick += 1;
    }
    let analyse_ms = analyse * 1000.0 / TIMED_TICKS as f64;
    let publish_ms = publish * 1000.0 / TIMED_TICKS as f64;

    // The lag heatmap's share of the store history (counted in it).
    let heat_bytes = process.store.heatmap_bytes();
    let heat_minutes = process
        .store
        .lag_heatmap(&process.cluster.groups[0], 1)
        .map_or(0, |map| map.minutes);
    // Attribute the steady-state heap: one part at a time.
    let Process {
        cluster,
        analyzer,
        store,
        previous,
        ..
    } = process;
    let before = live_mib();
    let sample = cluster.sample(tick, time + 1, true);
    let sample_mib = live_mib() - before;
    drop(sample);
    drop(cluster);
    let before = live_mib();
    drop(previous);
    let latest = store.latest();
    drop(store);
    let history_mib = before - live_mib();
    let before = live_mib();
    drop(latest);
    let snapshot_mib = before - live_mib();
    let parts = analyzer.memory();
    let before = live_mib();
    drop(analyzer);
    let analyzer_mib = before - live_mib();

    let tick_ms = analyse_ms + publish_ms;
    let verdict = if tick_ms / 1000.0 <= budget_seconds {
        format!("yes (≤ {budget_seconds} s)")
    } else {
        format!("NO (> {budget_seconds} s)")
    };
    println!(
        "{partitions:>10}  {groups:>6}  {:>10}  {analyse_ms:>10.1}  {publish_ms:>10.1}  {:>8.0}  {rss_peak:>7.0}  {:>8.0}  {:>8.0}  {verdict}",
        groups * PARTITIONS_PER_TOPIC,
        rss_peak - rss_start,
        peak_rss_mib(),
        live_peak - live_start,
    );
    println!(
        "            heap: sample {sample_mib:.1} MiB, snapshot {snapshot_mib:.1} MiB (x2 at the peak), \
         store history {history_mib:.1} MiB, analyzer {analyzer_mib:.1} MiB \
         (time tables {:.1}, group windows {:.1}, group-partition windows {:.1}); \
         warm-up {warmup} ticks in {warmed:.0} s",
        parts.time_tables as f64 / MIB,
        parts.group_windows as f64 / MIB,
        parts.partition_windows as f64 / MIB,
    );
    println!(
        "            lag heatmap (in the store history): {:.1} MiB for {} group-partitions, \
         {heat_minutes} minutes each ({:.1} bytes per group-partition)",
        heat_bytes as f64 / MIB,
        groups * PARTITIONS_PER_TOPIC,
        heat_bytes as f64 / (groups * PARTITIONS_PER_TOPIC).max(1) as f64,
    );
    if partitions == 40_000 {
        println!(
            "            200 MiB target at 40k/50k: {} (peak RSS {:.0} MiB)",
            if peak_rss_mib() <= BIG_RSS_TARGET_MIB {
                "met"
            } else {
                "NOT met"
            },
            peak_rss_mib()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--size") {
        let partitions = args[i + 1].parse().expect("partitions");
        let groups = args[i + 2].parse().expect("groups");
        let budget = args[i + 3].parse().expect("budget");
        run_size(partitions, groups, budget);
        return;
    }
    println!(
        "Per tick without I/O: analyse = analysis + event diff, publish = store history + latest."
    );
    println!(
        "RSS: growth over the child's start and absolute at the tick's peak (sample in flight,"
    );
    println!(
        "previous and new snapshot, analyzer, store at steady state); heap = live allocations."
    );
    println!(
        "partitions  groups  group-part  analyse ms  publish ms  RSS +MiB  RSS MiB  peak MiB  heap MiB  tick within interval"
    );
    let me = std::env::current_exe().expect("own path");
    for (partitions, groups, budget) in SIZES {
        let status = Command::new(&me)
            .args([
                "--size",
                &partitions.to_string(),
                &groups.to_string(),
                &budget.to_string(),
            ])
            .status()
            .expect("run one size");
        assert!(status.success(), "size {partitions}/{groups} failed");
    }
}

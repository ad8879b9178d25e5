//! Cost of one collector tick without I/O (analysis, events, publishing to
//! the store) and the memory a process needs to run it: a curve over the
//! number of group-partitions (1k to 1M), plus the partition-heavy sizes
//! quoted before (1,000 / 100 and 10,000 / 500).
//!
//! Each size runs in its own child process (the bench re-executes itself),
//! so the resident memory of one size is not left over from another. A
//! child does what the app does: analyzer + a Store fed with every
//! snapshot, the previous snapshot kept for the event diff, one Sample in
//! flight; it warms up until time tables, status windows and the store's
//! history rings are full (steady state), then times a few ticks and
//! reports the median, phase by phase. A counting allocator attributes the
//! live heap to each part.
//!
//! `cargo bench --bench analysis -- --up-to 200000` stops the curve early;
//! `--size PARTITIONS GROUPS` runs one size in this process (for profiling).

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use kafka_pulse::analysis::events::{diff, LagThresholds};
use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::Snapshot;
use kafka_pulse::store::{Store, DEFAULT_EVENT_CAPACITY, DEFAULT_HISTORY_POINTS};

mod common;
use common::{available_mib, live_mib, peak_rss_mib, rss_mib, Cluster, MIB, PARTITIONS_PER_TOPIC};

/// The curve's shape: each group reads one 4-partition topic and five
/// groups share a topic, so groups = gp / 4 and partitions = gp / 5; the
/// number of group-partitions (gp) is the one variable. 200,000 is issue
/// 18's 40,000 partitions / 50,000 groups.
const GROUPS_PER_TOPIC: usize = 5;
const CURVE: [usize; 7] = [1_000, 10_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];
/// The partition-heavy sizes the README quoted before the curve.
const PARTITION_SIZES: [(usize, usize); 2] = [(1_000, 100), (10_000, 500)];
/// Issue 18's targets: 200,000 group-partitions in ≤ 200 ms per tick, and
/// the whole process within 200 MiB at 40,000 partitions / 50,000 groups.
const BIG_GROUP_PARTITIONS: usize = 200_000;
const BIG_TICK_TARGET_MS: f64 = 200.0;
const BIG_RSS_TARGET_MIB: f64 = 200.0;
/// Ticks timed once the steady state is reached; the median is reported.
const TIMED_TICKS: usize = 7;
/// Seconds between warm-up samples: one per minute fills the per-minute
/// history rings as fast as the per-sample ones.
const WARMUP_SPACING: i64 = 60;
/// A size is skipped (and says so) when the previous one projects its wall
/// time above this or its memory above what the machine has free: the whole
/// bench stays within ~10 minutes on a 2-core machine.
const SIZE_WALL_BOUND_SECONDS: f64 = 240.0;
/// The child's last stdout line, read by the parent: "#child WALL_S PEAK_MIB".
const CHILD_TAG: &str = "#child";

/// What the app keeps between ticks, fed by the synthetic cluster.
struct Process {
    cluster: Cluster,
    analyzer: Analyzer,
    store: Store,
    previous: Arc<Snapshot>,
    thresholds: LagThresholds,
}

/// Seconds spent in each part of one tick, in the app's order.
#[derive(Debug, Clone, Copy, Default)]
struct Phases {
    /// `Analyzer::analyze`: sample → snapshot.
    analyze: f64,
    /// `events::diff` of the previous and the new snapshot.
    diff: f64,
    /// `Store::publish`: history rings and the latest snapshot.
    publish: f64,
    /// `Store::push_events`.
    events: f64,
    /// Letting go of the previous snapshot: its last reference is the
    /// collector's, so freeing it happens here.
    drop_previous: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.analyze + self.diff + self.publish + self.events + self.drop_previous
    }

    /// Each phase's own median (so they need not add up to the total's).
    fn medians(ticks: &[Phases]) -> Phases {
        let median = |part: fn(&Phases) -> f64| median(ticks.iter().map(part).collect());
        Phases {
            analyze: median(|p| p.analyze),
            diff: median(|p| p.diff),
            publish: median(|p| p.publish),
            events: median(|p| p.events),
            drop_previous: median(|p| p.drop_previous),
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One tick's cost and the memory at its peak.
struct Tick {
    phases: Phases,
    rss_mib: f64,
    live_mib: f64,
}

fn seconds_since(begun: &mut Instant) -> f64 {
    let now = Instant::now();
    let seconds = (now - *begun).as_secs_f64();
    *begun = now;
    seconds
}

impl Process {
    /// One tick as `collector::run` does it, minus the Kafka requests.
    fn tick(&mut self, tick: i64, time: i64) -> Tick {
        self.cluster.advance(tick);
        let sample = self.cluster.sample(tick, time, true);
        let mut phases = Phases::default();
        let mut begun = Instant::now();
        // The analyzer consumes the sample as it goes.
        let snapshot = self.analyzer.analyze(sample);
        phases.analyze = seconds_since(&mut begun);
        let events = diff(&self.previous, &snapshot, &self.thresholds);
        phases.diff = seconds_since(&mut begun);
        // The peak of a tick: previous and new snapshot, before publishing.
        let (rss_mib, live_mib) = (rss_mib(), live_mib());
        let mut begun = Instant::now();
        self.store.publish(snapshot);
        phases.publish = seconds_since(&mut begun);
        self.store.push_events(events);
        phases.events = seconds_since(&mut begun);
        self.previous = self.store.latest();
        phases.drop_previous = seconds_since(&mut begun);
        Tick {
            phases,
            rss_mib,
            live_mib,
        }
    }
}

/// One size, in this process; prints one table row and a heap breakdown,
/// then the tag line the parent reads.
fn run_size(partitions: usize, groups: usize) {
    let child_started = Instant::now();
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
    let warmed = child_started.elapsed().as_secs_f64();
    let (mut ticks, mut rss_peak, mut live_peak) = (Vec::new(), 0.0f64, 0.0f64);
    for _ in 0..TIMED_TICKS {
        time += 1;
        let t = process.tick(tick, time);
        ticks.push(t.phases);
        rss_peak = rss_peak.max(t.rss_mib);
        live_peak = live_peak.max(t.live_mib);
        tick += 1;
    }
    let tick_ms = median(ticks.iter().map(Phases::total).collect()) * 1000.0;
    let phases = Phases::medians(&ticks);

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

    let group_partitions = groups * PARTITIONS_PER_TOPIC;
    let ms = |seconds: f64| seconds * 1000.0;
    println!(
        "{group_partitions:>9}  {partitions:>10}  {groups:>7}  {tick_ms:>8.1}  {:>8.3}  {:>8.1}  {:>6.1}  {:>7.1}  {:>6.1}  {:>6.1}  {rss_peak:>7.0}  {:>8.0}  {:>8.0}",
        tick_ms * 1000.0 / group_partitions as f64,
        ms(phases.analyze),
        ms(phases.diff),
        ms(phases.publish),
        ms(phases.events),
        ms(phases.drop_previous),
        peak_rss_mib(),
        live_peak - live_start,
    );
    println!(
        "           heap: sample {sample_mib:.1} MiB, snapshot {snapshot_mib:.1} MiB (x2 at the peak), \
         store history {history_mib:.1} MiB, analyzer {analyzer_mib:.1} MiB \
         (time tables {:.1}, group windows {:.1}, group-partition windows {:.1}); \
         RSS +{:.0} MiB over the child's start; {TIMED_TICKS} ticks timed after a \
         warm-up of {warmup} in {warmed:.0} s",
        parts.time_tables as f64 / MIB,
        parts.group_windows as f64 / MIB,
        parts.partition_windows as f64 / MIB,
        rss_peak - rss_start,
    );
    println!(
        "            lag heatmap (in the store history): {:.1} MiB for {} group-partitions, \
         {heat_minutes} minutes each ({:.1} bytes per group-partition)",
        heat_bytes as f64 / MIB,
        groups * PARTITIONS_PER_TOPIC,
        heat_bytes as f64 / (groups * PARTITIONS_PER_TOPIC).max(1) as f64,
    );
    println!(
        "{CHILD_TAG} {} {} {tick_ms}",
        child_started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );
}

/// What a child reported: wall seconds, peak RSS (MiB), median tick (ms).
#[derive(Debug, Clone, Copy)]
struct ChildReport {
    wall_seconds: f64,
    peak_mib: f64,
    tick_ms: f64,
}

/// Runs one size in a child process, echoes its rows, returns its report.
fn run_child(partitions: usize, groups: usize) -> ChildReport {
    let me = std::env::current_exe().expect("own path");
    let output = Command::new(me)
        .args(["--size", &partitions.to_string(), &groups.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run one size");
    assert!(output.status.success(), "size {partitions}/{groups} failed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut report = None;
    for line in stdout.lines() {
        match line.strip_prefix(CHILD_TAG) {
            Some(tag) => {
                let values: Vec<f64> = tag
                    .split_whitespace()
                    .map(|v| v.parse().expect("child tag"))
                    .collect();
                report = Some(ChildReport {
                    wall_seconds: values[0],
                    peak_mib: values[1],
                    tick_ms: values[2],
                });
            }
            None => println!("{line}"),
        }
    }
    report.expect("the child's report")
}

fn print_header() {
    println!(
        "group-pt  partitions   groups   tick ms  ms/1k gp   analyze    diff  publish  events    drop  RSS MiB  peak MiB  heap MiB"
    );
}

fn main() {
    kafka_pulse::alloc::tune_process_allocator();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--size") {
        let partitions = args[i + 1].parse().expect("partitions");
        let groups = args[i + 2].parse().expect("groups");
        run_size(partitions, groups);
        return;
    }
    let up_to: usize = args
        .iter()
        .position(|a| a == "--up-to")
        .map_or(usize::MAX, |i| args[i + 1].parse().expect("--up-to N"));
    println!("Per tick without I/O, median of {TIMED_TICKS} steady-state ticks (ms): analyze, event diff,");
    println!(
        "store publish (history rings + latest), events pushed, drop of the previous snapshot;"
    );
    println!(
        "ms/1k gp = tick ms per 1,000 group-partitions (flat = linear). RSS at the tick's peak"
    );
    println!(
        "(sample in flight, previous and new snapshot, analyzer, store); heap = live allocations."
    );
    println!();
    println!("Curve: each group reads one 4-partition topic, 5 groups per topic.");
    print_header();
    let mut per_1k = Vec::new();
    let mut big: Option<ChildReport> = None;
    let mut last: Option<(usize, ChildReport)> = None;
    for gp in CURVE.into_iter().filter(|&gp| gp <= up_to) {
        let (groups, partitions) = (gp / PARTITIONS_PER_TOPIC, gp / GROUPS_PER_TOPIC);
        if let Some((previous_gp, previous)) = last {
            // Cost and memory grow (at most) linearly: project from the
            // size before, with a margin.
            let scale = gp as f64 / previous_gp as f64 * 1.2;
            let (wall, peak) = (previous.wall_seconds * scale, previous.peak_mib * scale);
            if wall > SIZE_WALL_BOUND_SECONDS || peak > available_mib() * 0.8 {
                println!(
                    "{gp:>9}  skipped: projected {wall:.0} s (bound {SIZE_WALL_BOUND_SECONDS:.0} s) \
                     and {peak:.0} MiB ({:.0} MiB available)",
                    available_mib()
                );
                continue;
            }
        }
        let report = run_child(partitions, groups);
        if gp >= 10_000 {
            per_1k.push(report.tick_ms * 1000.0 / gp as f64);
        }
        if gp == BIG_GROUP_PARTITIONS {
            big = Some(report);
        }
        last = Some((gp, report));
    }
    if per_1k.len() >= 2 {
        let (low, high) = per_1k
            .iter()
            .fold((f64::MAX, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
        println!(
            "Linearity from 10k on: ms per 1k group-partitions {low:.3} to {high:.3} ({:.2}x)",
            high / low
        );
    }
    if let Some(big) = big {
        println!(
            "Targets at 200,000 group-partitions (40,000 partitions / 50,000 groups): \
             tick ≤ {BIG_TICK_TARGET_MS} ms: {} ({:.1} ms); peak RSS ≤ {BIG_RSS_TARGET_MIB} MiB: {} ({:.0} MiB)",
            if big.tick_ms <= BIG_TICK_TARGET_MS { "met" } else { "NOT met" },
            big.tick_ms,
            if big.peak_mib <= BIG_RSS_TARGET_MIB { "met" } else { "NOT met" },
            big.peak_mib,
        );
    }
    println!();
    println!("Partition-heavy sizes (topics of 4 partitions, each group reads one topic):");
    print_header();
    for (partitions, groups) in PARTITION_SIZES {
        run_child(partitions, groups);
    }
}

//! Cost of /metrics at demo scale and at 40,000 partitions / 50,000 groups:
//! one full render per option set, its size, gzip time and size, what the
//! first scrape of a snapshot costs (render + gzip + the per-scrape
//! counters) and what every later scrape of it costs (the handler's path:
//! take the cached head, render the counters, deflate them onto the head).
//!
//! Times are medians of several runs on synthetic snapshots built directly
//! (no analysis); the allocator is the binary's (src/main.rs).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use flate2::Compression;
use kafka_pulse::config::MetricsOptions;
use kafka_pulse::model::{
    GroupPartitionView, GroupStatus, GroupTopicView, GroupView, MemberSample, PartitionView,
    Snapshot, TopicAssignment, TopicView,
};
use kafka_pulse::store::{RequestStat, Store};
use kafka_pulse::web::auth::AccessPolicy;
use kafka_pulse::web::metrics::{gzip, render_snapshot, scrape_body, Counters, MetricsCache};

/// The binary's allocator (src/alloc.rs), so timings include its costs.
#[global_allocator]
static ALLOCATOR: kafka_pulse::alloc::ProcessAllocator = kafka_pulse::alloc::PROCESS_ALLOCATOR;

const PARTITIONS_PER_TOPIC: usize = 4;
/// The hard target: a complete scrape at 40k/50k with per-partition
/// series and the one-hot status family off.
const LEAN_TARGET_MS: f64 = 50.0;

/// Topics of 4 partitions; each group reads one topic (4 group-partitions,
/// one member), statuses spread over all nine.
fn snapshot(partitions: usize, groups: usize) -> Snapshot {
    let topics = (partitions / PARTITIONS_PER_TOPIC).max(1);
    let names: Vec<kafka_pulse::model::Name> = (0..topics)
        .map(|t| format!("topic-{t:05}").into())
        .collect();
    Snapshot {
        sequence: 1,
        kafka_up: true,
        topics: names
            .iter()
            .enumerate()
            .map(|(t, name)| TopicView {
                name: name.clone(),
                depth: 4 * 123_456,
                messages_in_per_sec: 42.5 + t as f64,
                messages_out_per_sec: 40.25,
                partitions: (0..PARTITIONS_PER_TOPIC as i32)
                    .map(|p| PartitionView {
                        partition: p,
                        leader: p % 3,
                        replicas: vec![0, 1, 2].into(),
                        isr: vec![0, 1, 2].into(),
                        low_watermark: Some(1_000_000),
                        high_watermark: Some(1_123_456 + t as i64),
                        depth: 123_456,
                        messages_in_per_sec: 10.625,
                    })
                    .collect(),
                ..TopicView::default()
            })
            .collect(),
        groups: (0..groups)
            .map(|g| {
                let topic = &names[g % topics];
                GroupView {
                    group: format!("group-{g:05}").into(),
                    group_type: None,
                    state: "Stable".into(),
                    state_note: None,
                    status: GroupStatus::ALL[g % GroupStatus::ALL.len()],
                    reason: "consuming".into(),
                    members: Some(vec![MemberSample {
                        member_id: format!("consumer-{g}-1"),
                        client_id: "consumer".into(),
                        client_host: "/10.0.0.7".into(),
                        assignment: vec![TopicAssignment {
                            topic: topic.to_string(),
                            partitions: (0..PARTITIONS_PER_TOPIC as i32).collect(),
                        }],
                    }]),
                    lag: 4 * (g as i64 % 500),
                    lag_seconds: 1.25,
                    lost_messages: 0,
                    time_to_clear_seconds: Some(3.0),
                    messages_out_per_sec: 12.5,
                    topics: vec![GroupTopicView {
                        topic: topic.clone(),
                        lag: 4 * (g as i64 % 500),
                        lag_seconds: 1.25,
                        messages_out_per_sec: 12.5,
                    }],
                    partitions: (0..PARTITIONS_PER_TOPIC as i32)
                        .map(|p| GroupPartitionView {
                            topic: topic.clone(),
                            partition: p,
                            committed_offset: Some(1_123_000 + g as i64).into(),
                            high_watermark: Some(1_123_456).into(),
                            lag: g as i64 % 500,
                            lag_seconds: 0.75,
                            lost_messages: i64::from(g % 97 == 0),
                            lag_seconds_exact: false,
                            messages_out_per_sec: 3.125,
                        })
                        .collect(),
                    error: None,
                }
            })
            .collect(),
        ..Snapshot::default()
    }
}

/// A store and auth policy as a running app has them: 15 Kafka request
/// types with histograms, three sinks.
fn counters_source() -> (Store, AccessPolicy) {
    let store = Store::new(10, 10);
    let mut stats = Vec::new();
    for api in [
        "ApiVersions",
        "Metadata",
        "ListOffsets",
        "ListGroups",
        "FindCoordinator",
        "OffsetFetch",
        "DescribeGroups",
        "ConsumerGroupDescribe",
        "ShareGroupDescribe",
        "DescribeCluster",
        "SaslHandshake",
        "SaslAuthenticate",
        "Fetch",
        "CreateTopics",
        "DescribeConfigs",
    ] {
        let mut stat = RequestStat::default();
        for i in 0..100 {
            stat.durations.observe(f64::from(i) / 1000.0);
        }
        stat.errors = 3;
        stats.push((api.to_string(), stat));
    }
    store.set_request_stats(stats);
    for sink in ["influxdb", "elasticsearch", "webhook"] {
        store.register_sink(sink);
    }
    (store, AccessPolicy::open())
}

/// Median milliseconds of `runs` calls.
fn median_ms(runs: usize, mut work: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

struct Row {
    render_ms: f64,
    bytes: usize,
    lines: usize,
    gzip_ms: f64,
    gzip_bytes: usize,
    first_ms: f64,
    cached_plain_ms: f64,
    cached_gzip_ms: f64,
}

fn measure(snapshot: &Arc<Snapshot>, options: MetricsOptions, runs: usize) -> Row {
    let (store, access) = counters_source();
    let text = render_snapshot(snapshot, options, 0);
    let render_ms = median_ms(runs, || {
        black_box(render_snapshot(snapshot, options, text.len() + 4096));
    });
    let gzip_ms = median_ms(runs, || {
        black_box(gzip::compress_head(text.as_bytes(), gzip::LEVEL));
    });
    let gzip_bytes = gzip::compress_head(text.as_bytes(), gzip::LEVEL)
        .pieces
        .bytes
        .len();
    // First scrape of a snapshot, in the steady state (the cache knows the
    // previous sizes): two distinct snapshots with the same content take
    // turns, so every run renders and compresses (streamed) a new one.
    let cache = MetricsCache::new(options);
    let turns = [Arc::new(Snapshot::clone(snapshot)), snapshot.clone()];
    cache.head_blocking(&turns[0], true);
    let mut turn = 0;
    let first_ms = median_ms(runs, || {
        turn += 1;
        let head = cache.head_blocking(&turns[turn % 2], true);
        let tail = Counters::read(&store, &access).render();
        black_box(scrape_body(vec![head], tail));
    });
    drop(turns);
    // Every later scrape of it: the handler's path on a warm cache.
    let cache = MetricsCache::new(options);
    cache.head_blocking(snapshot, true);
    cache.head_blocking(snapshot, false);
    let cached = |gzip: bool| {
        median_ms(runs.max(201), || {
            let head = cache.cached(snapshot, gzip).expect("cached");
            let tail = Counters::read(&store, &access).render();
            black_box(scrape_body(vec![head], tail));
        })
    };
    Row {
        render_ms,
        bytes: text.len(),
        lines: text.lines().filter(|l| !l.starts_with('#')).count(),
        gzip_ms,
        gzip_bytes,
        first_ms,
        cached_plain_ms: cached(false),
        cached_gzip_ms: cached(true),
    }
}

fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn main() {
    kafka_pulse::alloc::tune_process_allocator();
    let everything = MetricsOptions {
        per_partition: true,
        group_status_one_hot: true,
        kafka_exporter_compat: true,
    };
    let defaults = MetricsOptions::default();
    let no_partitions = MetricsOptions {
        per_partition: false,
        ..defaults
    };
    let lean = MetricsOptions {
        per_partition: false,
        group_status_one_hot: false,
        kafka_exporter_compat: false,
    };
    let option_sets = [
        ("everything on (+ kafka_exporter)", everything),
        ("defaults (partitions, one-hot)", defaults),
        ("--partition-metrics false", no_partitions),
        ("lean: partitions off, one-hot off", lean),
    ];
    let (store, access) = counters_source();
    let tail = Counters::read(&store, &access).render();
    let tail_ms = median_ms(1001, || {
        black_box(Counters::read(&store, &access).render());
    });
    println!(
        "Per-scrape counters (tick histogram, 15 request types, 3 sinks, auth): {} lines, {}, {:.3} ms to read and render",
        tail.lines().filter(|l| !l.starts_with('#')).count(),
        mib(tail.len()),
        tail_ms
    );
    let sample = render_snapshot(&Arc::new(snapshot(40_000, 50_000)), lean, 0);
    for (name, level) in [
        ("1 (used)", gzip::LEVEL),
        ("6 (default)", Compression::default()),
    ] {
        let ms = median_ms(5, || {
            black_box(gzip::compress_head(sample.as_bytes(), level));
        });
        let size = gzip::compress_head(sample.as_bytes(), level)
            .pieces
            .bytes
            .len();
        println!(
            "gzip level {name} on the lean 40k/50k body ({}): {ms:.1} ms, {} ({:.1}x smaller)",
            mib(sample.len()),
            mib(size),
            sample.len() as f64 / size as f64
        );
    }
    drop(sample);
    println!();
    println!("| scale | options | series | body | render ms | gzip ms | gzip body | first gzip scrape ms (render streamed into gzip + counters) | vs everything on | cached scrape ms plain / gzip | first / cached gzip |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut verdict = None;
    for (scale, partitions, groups, runs) in [
        ("demo: 16 partitions / 4 groups", 16, 4, 201),
        ("40,000 partitions / 50,000 groups", 40_000, 50_000, 7),
    ] {
        let snapshot = Arc::new(snapshot(partitions, groups));
        let mut first_of_everything = None;
        for (name, options) in option_sets {
            let row = measure(&snapshot, options, runs);
            let base = *first_of_everything.get_or_insert(row.first_ms);
            println!(
                "| {scale} | {name} | {} | {} | {:.2} | {:.2} | {} | {:.2} | {:.2}x | {:.3} / {:.3} | {:.0}x |",
                row.lines,
                mib(row.bytes),
                row.render_ms,
                row.gzip_ms,
                mib(row.gzip_bytes),
                row.first_ms,
                row.first_ms / base,
                row.cached_plain_ms,
                row.cached_gzip_ms,
                row.first_ms / row.cached_gzip_ms,
            );
            if partitions == 40_000 && options == lean {
                verdict = Some(row.first_ms);
            }
        }
    }
    if let Some(ms) = verdict {
        println!(
            "\nTarget at 40k/50k, lean: complete scrape ≤ {LEAN_TARGET_MS} ms: {} ({ms:.1} ms)",
            if ms <= LEAN_TARGET_MS {
                "met"
            } else {
                "NOT met"
            },
        );
    }
}

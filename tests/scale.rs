//! Benchmark, not part of `cargo test` (ignored; run `bench/collector-fake/run`):
//! the kafka-pulse binary against the fake cluster of
//! tests/common/fake_kafka.rs at 1,000 / 10,000 / 40,000 partitions (100 /
//! 500 / 50,000 groups), sizes the embedded broker cannot hold or answer in
//! time. The fake answers from memory, so what is measured is kafka-pulse:
//! its Kafka requests and decoding, analysis, store and web server, as one
//! process. Per size: the achieved tick period at `--interval 1s`, the mean
//! time of the Kafka part of a tick, and the process's RSS (mean and peak).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fake_kafka::{self, Shape};
use common::get_json;
use common::proc_status::status_field;
use common::servers::free_port;

/// The targets: 40,000 partitions / 50,000 groups in one cycle of at
/// most 5 s and 200 MiB; 10,000 / 500 within a 1 s interval.
const SIZES: [(usize, usize, f64, f64); 3] = [
    (1_000, 100, 1.0, 200.0),
    (10_000, 500, 1.0, 200.0),
    (40_000, 50_000, 5.0, 200.0),
];
const PARTITIONS_PER_TOPIC: usize = 4;
/// Measured per size; `KAFKA_PULSE_BENCH_SECONDS` overrides it.
const MEASURE: Duration = Duration::from_secs(20);

/// The sizes to run: all of `SIZES`, or those whose partitions are listed
/// in `KAFKA_PULSE_SCALE_PARTITIONS` (e.g. "1000" for a quick check).
fn sizes() -> Vec<(usize, usize, f64, f64)> {
    match std::env::var("KAFKA_PULSE_SCALE_PARTITIONS") {
        Ok(list) => {
            let wanted: Vec<usize> = list
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            SIZES
                .into_iter()
                .filter(|size| wanted.contains(&size.0))
                .collect()
        }
        Err(_) => SIZES.to_vec(),
    }
}

struct Pulse(Child);

impl Drop for Pulse {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/collector-fake/run"]
async fn collector_at_scale() {
    let measure = std::env::var("KAFKA_PULSE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(MEASURE, Duration::from_secs);
    println!(
        "kafka-pulse (this build) against a fake cluster, --interval 1s, {} s per size",
        measure.as_secs()
    );
    for (partitions, groups, budget, rss_target) in sizes() {
        let cluster = fake_kafka::start(Shape {
            topics: partitions / PARTITIONS_PER_TOPIC,
            partitions: PARTITIONS_PER_TOPIC,
            groups,
            nodes: 1,
        })
        .await;
        let port = free_port();
        let pulse = Pulse(
            Command::new(env!("CARGO_BIN_EXE_kafka-pulse"))
                .args(["--brokers", &cluster.bootstrap()])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--interval", "1s"])
                .env("KAFKA_PULSE_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .expect("start kafka-pulse"),
        );
        let pid = pulse.0.id();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        // Warm up: every group seen and the time tables filling.
        loop {
            if let Ok(response) = reqwest::get(format!("{base}/api/v1/health")).await {
                if let Ok(health) = response.json::<serde_json::Value>().await {
                    if health["groups"].as_u64() == Some(groups as u64)
                        && health["sequence"].as_u64().unwrap_or(0) >= 3
                    {
                        break;
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "kafka-pulse did not see {groups} groups within 180 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (_, first) = get_json(&base, "/api/v1/health").await;
        let measure_start = Instant::now();
        let (mut rss_sum, mut rss_n, mut read_sum, mut read_n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut last_sequence = first["sequence"].as_u64().unwrap_or(0);
        while measure_start.elapsed() < measure {
            tokio::time::sleep(Duration::from_millis(250)).await;
            rss_sum += status_field(pid, "VmRSS:") / 1024.0;
            rss_n += 1.0;
            let (_, health) = get_json(&base, "/api/v1/health").await;
            let sequence = health["sequence"].as_u64().unwrap_or(0);
            if sequence != last_sequence {
                last_sequence = sequence;
                read_sum += health["sample_duration_seconds"].as_f64().unwrap_or(0.0);
                read_n += 1.0;
            }
        }
        let ticks = last_sequence - first["sequence"].as_u64().unwrap_or(0);
        let period = measure_start.elapsed().as_secs_f64() / ticks.max(1) as f64;
        let peak = status_field(pid, "VmHWM:") / 1024.0;
        println!(
            "{partitions:>6} partitions {groups:>6} groups: a tick every {period:.2} s \
             (within {budget} s: {}), Kafka part {:.3} s mean; RSS {:.0} MiB mean, \
             {peak:.0} MiB peak (≤ {rss_target} MiB: {}); warm-up {:.0} s",
            if period <= budget + 0.05 { "yes" } else { "NO" },
            read_sum / read_n.max(1.0),
            rss_sum / rss_n.max(1.0),
            if peak <= rss_target { "yes" } else { "NO" },
            (measure_start - started).as_secs_f64(),
        );
    }
}

//! Several clusters in one kafka-pulse, on real Kafka: two Apache Kafka
//! KRaft clusters (tests/common/kafka_cluster.rs, shared by every test of
//! this binary) plus the embedded broker, watched by ONE kafka-pulse.
//! Each cluster gets traffic of its own shape, so a number read from the
//! wrong cluster cannot match the oracle (python confluent-kafka's own view,
//! tests/common/crosscheck.rs). A cluster whose broker hangs (SIGSTOP) must
//! leave the others sampled on time; the InfluxDB sink tags every cluster's
//! points with its name.
//!
//! Without java/Maven, python confluent-kafka or influxd these tests skip
//! with the reason; with KAFKA_PULSE_REQUIRE_EXTERNAL=1 (CI) they fail.
//!
//! The benchmark `multi_cluster_cost` (ignored; bench/multi-cluster/run)
//! lives here too, so it costs no test binary of its own.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::crosscheck::{confluent_kafka_agrees_at, confluent_kafka_available, Traffic};
use common::kafka_cluster::{versions, ClusterSpec, KafkaCluster};
use common::proc_status::status_field;
use common::servers::{self, require};
use common::*;
use kafka_pulse::app;
use kafka_pulse::config::ClusterConfig;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
/// The two real clusters' and the embedded one's names in URLs.
const EAST: &str = "east";
const WEST: &str = "west";
const LOCAL: &str = "local";

/// Two one-broker clusters of the current Kafka, started once for the
/// whole binary (each test starts its own kafka-pulse against them).
struct RealPair {
    east: KafkaCluster,
    west: KafkaCluster,
}

static REAL: OnceLock<Option<RealPair>> = OnceLock::new();

/// The tests take turns: one SIGSTOPs a shared cluster's broker, which
/// would fail the others' exact numbers if they ran meanwhile.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn real() -> Option<&'static RealPair> {
    REAL.get_or_init(|| {
        // Both started at once, off the test's runtime (the launcher blocks
        // on its own small runtime while it waits for the brokers).
        let begun = Instant::now();
        let launch = || {
            std::thread::spawn(|| KafkaCluster::start(&ClusterSpec::new(&versions().current, 1)))
        };
        let (east, west) = (launch(), launch());
        let east = east.join().expect("east launcher thread");
        let west = west.join().expect("west launcher thread");
        let pair = match (east, west) {
            (Ok(east), Ok(west)) => Ok(RealPair { east, west }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        if pair.is_ok() {
            eprintln!(
                "two Kafka {} clusters up in {:.1}s",
                versions().current,
                begun.elapsed().as_secs_f64()
            );
        }
        require(pair)
    })
    .as_ref()
}

/// One watched cluster: everything but the name, brokers and interval
/// inherited from the test configuration's defaults.
fn cluster(name: &str, brokers: Option<&str>, interval: Duration) -> ClusterConfig {
    let mut cluster = test_config(None, None).clusters().remove(0);
    cluster.name = Some(name.to_string());
    cluster.brokers = brokers.map(|b| vec![b.to_string()]);
    cluster.interval = interval;
    cluster
}

/// One kafka-pulse watching east, west and the embedded broker (local),
/// every cluster at `interval`.
async fn start_three(
    pair: &RealPair,
    interval: Duration,
    adjust: impl FnOnce(&mut kafka_pulse::config::Config),
) -> (app::RunningApp, String) {
    let mut config = kafka_pulse::config::Config {
        clusters: vec![
            cluster(EAST, Some(&pair.east.bootstrap), interval),
            cluster(WEST, Some(&pair.west.bootstrap), interval),
            cluster(LOCAL, None, interval),
        ],
        ..test_config(None, None)
    };
    adjust(&mut config);
    let running = app::start(config).await.expect("kafka-pulse starts");
    let names: Vec<&str> = running.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [EAST, WEST, LOCAL]);
    let base = format!("http://{}", running.web_addr);
    (running, base)
}

/// The bootstrap servers kafka-pulse reads for cluster `name`.
fn bootstrap_of(running: &app::RunningApp, name: &str) -> String {
    running
        .clusters
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cluster {name}"))
        .kafka_bootstrap
        .clone()
}

/// The names `/api/v1/clusters/NAME/topics` lists.
async fn topic_names(base: &str, name: &str) -> BTreeSet<String> {
    let (status, body) = get_json(base, &format!("/api/v1/clusters/{name}/topics")).await;
    assert_eq!(status, 200, "{body}");
    body["topics"]
        .as_array()
        .unwrap_or_else(|| panic!("no topics in {body}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// One cluster's entry in an answer listing several (`/api/v1/clusters`
/// by `name`, the aggregated `/api/v1/health` by `cluster`).
fn entry<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|c| c[key] == name))
        .unwrap_or_else(|| panic!("no {key}={name} in {list}"))
}

/// a. Per cluster, exact numbers through its own API; the cluster list,
/// the 409 of single-cluster API URLs and each cluster's topics page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_clusters_numbers_match_its_own_oracle_in_one_process() {
    let _turn = SERIAL.lock().await;
    let Some(pair) = real() else { return };
    if require(confluent_kafka_available()).is_none() {
        return;
    }
    let begun = Instant::now();
    let (running, base) = start_three(pair, Duration::from_millis(250), |_| {}).await;
    // Different partition counts, message counts and lag per cluster (lag
    // 260 / 250 / 330): reading another cluster's numbers fails the oracle.
    let plan = [
        (EAST, 2, 300, 40),
        (WEST, 3, 450, 200),
        (LOCAL, 4, 500, 170),
    ];
    let checks = plan.map(|(name, partitions, produce, consume)| {
        let base = base.clone();
        let bootstrap = bootstrap_of(&running, name);
        async move {
            confluent_kafka_agrees_at(
                &base,
                &format!("/api/v1/clusters/{name}"),
                &bootstrap,
                &format!("mc-{name}-orders"),
                &format!("mc-{name}-readers"),
                Traffic {
                    partitions,
                    produce,
                    consume,
                },
            )
            .await
        }
    });
    let [east, west, local] = checks;
    tokio::join!(east, west, local);

    // Each cluster lists its own topic and none of the others'; another
    // cluster's URL does not know it.
    for (name, ..) in plan {
        let topics = topic_names(&base, name).await;
        for (other, ..) in plan {
            let topic = format!("mc-{other}-orders");
            assert_eq!(topics.contains(&topic), other == name, "{name}: {topics:?}");
            let (status, body) =
                get_json(&base, &format!("/api/v1/clusters/{name}/topics/{topic}")).await;
            assert_eq!(status, if other == name { 200 } else { 404 }, "{body}");
            let (status, body) = get_json(
                &base,
                &format!("/api/v1/clusters/{name}/groups/mc-{other}-readers"),
            )
            .await;
            assert_eq!(status, if other == name { 200 } else { 404 }, "{body}");
        }
    }

    // The list: all three, in configuration order, each with its own
    // cluster id and counts.
    let (status, list) = get_json(&base, "/api/v1/clusters").await;
    assert_eq!(status, 200, "{list}");
    let clusters = list["clusters"].as_array().expect("clusters");
    let names: Vec<&str> = clusters.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, [EAST, WEST, LOCAL], "{list}");
    let ids: BTreeSet<&str> = clusters
        .iter()
        .filter_map(|c| c["cluster_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "three distinct Kafka cluster ids: {list}");
    for (name, _, produce, consume) in plan {
        let summary = entry(&list["clusters"], "name", name);
        assert_eq!(summary["kafka_up"], true, "{summary}");
        assert_eq!(summary["stale"], false, "{summary}");
        assert_eq!(summary["label"], name, "{summary}");
        assert_eq!(summary["api"], format!("/api/v1/clusters/{name}"));
        assert_eq!(summary["pages"], format!("/clusters/{name}"));
        assert_eq!(
            summary["topics"],
            topic_names(&base, name).await.len(),
            "{summary}"
        );
        // The only group with lag on each cluster is this test's (east and
        // west may hold other tests' groups, all caught up or gone).
        let (_, groups) = get_json(&base, &format!("/api/v1/clusters/{name}/groups")).await;
        let lag: i64 = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["lag"].as_i64().unwrap())
            .sum();
        assert_eq!(summary["total_lag"], lag, "{summary} vs {groups}");
        let (_, group) = get_json(
            &base,
            &format!("/api/v1/clusters/{name}/groups/mc-{name}-readers"),
        )
        .await;
        assert_eq!(group["lag"], produce - consume, "{group}");
    }

    // A single-cluster API URL is ambiguous: 409 naming every cluster.
    let response = reqwest::get(format!("{base}/api/v1/topics"))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 409);
    let header = response
        .headers()
        .get("x-kafka-pulse-clusters")
        .map(|h| h.to_str().unwrap().to_string());
    assert_eq!(header.as_deref(), Some("east,west,local"));
    let body: Value = response.json().await.expect("JSON error");
    let message = body.to_string();
    for name in [EAST, WEST, LOCAL] {
        assert!(message.contains(name), "409 does not name {name}: {body}");
    }

    // Each cluster's topics page shows its topics only.
    for (name, ..) in plan {
        let (status, page) = get_text(&base, &format!("/clusters/{name}/topics")).await;
        assert_eq!(status, 200, "{page}");
        for (other, ..) in plan {
            assert_eq!(
                page.contains(&format!("mc-{other}-orders")),
                other == name,
                "/clusters/{name}/topics and mc-{other}-orders"
            );
        }
    }
    running.stop().await.expect("clean stop");
    eprintln!(
        "three clusters checked against the oracle in {:.1}s",
        begun.elapsed().as_secs_f64()
    );
}

/// Sends SIGSTOP to a cluster's broker processes and SIGCONT when dropped,
/// so a failing assertion never leaves a shared broker hung for the next
/// test (if the test process itself dies, the watchdog of
/// kafka_cluster.rs kills the JVMs, stopped or not).
struct Hung {
    pids: Vec<u32>,
}

impl Hung {
    fn stop(cluster: &KafkaCluster) -> Hung {
        let pids = cluster.pids();
        assert!(!pids.is_empty(), "no broker process to stop");
        let hung = Hung { pids };
        hung.signal("STOP");
        hung
    }

    fn signal(&self, signal: &str) {
        for pid in &self.pids {
            let status = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal} {pid}");
        }
    }
}

impl Drop for Hung {
    fn drop(&mut self) {
        for pid in &self.pids {
            // Not `signal`: no panic while unwinding.
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// A cluster's samples as its collector publishes them: sequence, when
/// taken, whether Kafka answered, when published; until `stop`.
async fn record(
    mut samples: tokio::sync::watch::Receiver<std::sync::Arc<kafka_pulse::model::Snapshot>>,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<(
    u64,
    chrono::DateTime<chrono::Utc>,
    bool,
    chrono::DateTime<chrono::Utc>,
)> {
    let mut stamps = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            changed = samples.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = samples.borrow_and_update().clone();
                stamps.push((snapshot.sequence, snapshot.taken_at, snapshot.kafka_up, chrono::Utc::now()));
            }
        }
    }
    stamps
}

fn cluster_is_ok(entry: &Value) -> bool {
    entry["status"] == "ok" && entry["kafka_up"] == true && entry["stale"] == false
}

/// b. A hung cluster (its broker SIGSTOPped: connections open, no answer)
/// is reported down or stale alone, while the other real cluster keeps
/// being sampled every interval ±20 %; it recovers when resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_cluster_leaves_the_other_clusters_sampled_on_time() {
    let _turn = SERIAL.lock().await;
    let Some(pair) = real() else { return };
    let interval = Duration::from_millis(500);
    // 2 s is four intervals: were the clusters sampled one after another
    // (or on one starved thread), west's spacing would grow by seconds.
    let timeout = Duration::from_secs(2);
    let (running, base) = start_three(pair, interval, |c| c.request_timeout = timeout).await;
    wait_for_json(&base, "/api/v1/health", WAIT, |h| h["status"] == "ok").await;

    // West's and east's samples, as their collectors publish them.
    assert_eq!(running.clusters[0].name, EAST);
    assert_eq!(running.clusters[1].name, WEST);
    let stop = tokio_util::sync::CancellationToken::new();
    let east_recorder = tokio::spawn(record(running.clusters[0].store.subscribe(), stop.clone()));
    let recorder = tokio::spawn(record(running.clusters[1].store.subscribe(), stop.clone()));

    let stopped_at = chrono::Utc::now();
    let hung = Hung::stop(&pair.east);
    let stopped = Instant::now();
    // Until east is reported: everyone else stays ok all along.
    let reported = loop {
        let (_, health) = get_json(&base, "/api/v1/health").await;
        for name in [WEST, LOCAL] {
            let other = entry(&health["clusters"], "cluster", name);
            assert!(cluster_is_ok(other), "{name} while east hangs: {health}");
        }
        let east = entry(&health["clusters"], "cluster", EAST);
        if !cluster_is_ok(east) {
            assert_eq!(health["status"], "degraded", "{health}");
            break stopped.elapsed();
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "a hung east was not reported within 15 s: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The list agrees: east down, the others up and fresh. (Not "east
    // stale": a failed sample is stamped when it began, so a hung cluster's
    // age swings between one and two request timeouts and crosses the
    // stale limit only for part of each cycle.)
    let list = wait_for_json(&base, "/api/v1/clusters", WAIT, |list| {
        entry(&list["clusters"], "name", EAST)["kafka_up"] == false
    })
    .await;
    for name in [WEST, LOCAL] {
        let summary = entry(&list["clusters"], "name", name);
        assert_eq!(summary["kafka_up"], true, "{list}");
        assert_eq!(summary["stale"], false, "{list}");
    }
    // Hang on for a few more of west's samples, so the spacing below
    // covers the outage after its detection too.
    let (_, west) = get_json(&base, "/api/v1/clusters/west/health").await;
    let target = west["sequence"].as_u64().expect("west's sequence") + 3;
    wait_for_json(&base, "/api/v1/clusters/west/health", WAIT, |h| {
        h["sequence"].as_u64() >= Some(target)
    })
    .await;
    let (_, east_health) = get_json(&base, "/api/v1/clusters/east/health").await;
    assert_eq!(east_health["kafka_up"], false, "{east_health}");
    assert_eq!(east_health["status"], "degraded", "{east_health}");
    let hung_for = stopped.elapsed();

    drop(hung);
    let resumed_at = chrono::Utc::now();
    let resumed = Instant::now();
    wait_for_json(&base, "/api/v1/health", WAIT, |h| h["status"] == "ok").await;
    let recovered_after = resumed.elapsed();
    stop.cancel();
    let stamps = recorder.await.expect("recorder");
    let east_stamps = east_recorder.await.expect("recorder");

    // West's spacing while east hung: consecutive samples, each a fresh
    // read (up), interval ±20 %.
    let during: Vec<_> = stamps
        .iter()
        .filter(|(_, taken_at, ..)| (stopped_at..=resumed_at).contains(taken_at))
        .collect();
    let (low, high) = (interval.mul_f64(0.8), interval.mul_f64(1.2));
    let mut gaps = Vec::new();
    for pair in during.windows(2) {
        let ((s0, t0, _, _), (s1, t1, up, _)) = (pair[0], pair[1]);
        assert!(*up, "west was down while east hung: {stamps:?}");
        assert_eq!(*s1, s0 + 1, "a west sample was skipped: {stamps:?}");
        let gap = (*t1 - *t0).to_std().expect("samples in order");
        gaps.push(gap);
    }
    let gap_ms: Vec<u128> = gaps.iter().map(|g| g.as_millis()).collect();
    assert!(
        gaps.len() >= 5,
        "only {} west intervals measured while east hung: {stamps:?}",
        gaps.len()
    );
    assert!(
        gaps.iter().all(|g| (low..=high).contains(g)),
        "west's sample spacing left {low:?}..={high:?} while east hung: {gap_ms:?} ms"
    );
    // East's failed samples while hung: how old each was when published
    // (for the report: how "stale" behaves on a hung cluster).
    let east_ages: Vec<i64> = east_stamps
        .iter()
        .filter(|(_, taken_at, up, _)| !up && (stopped_at..=resumed_at).contains(taken_at))
        .map(|(_, taken_at, _, published)| (*published - *taken_at).num_milliseconds())
        .collect();
    eprintln!(
        "east hung {hung_for:?}: reported after {reported:?}, recovered {recovered_after:?} \
         after SIGCONT; west's {} gaps meanwhile (ms): {gap_ms:?}; east's failed samples \
         were {east_ages:?} ms old when published",
        gaps.len()
    );
    running.stop().await.expect("clean stop");
}

async fn influxql(base: &str, query: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/query"))
        .query(&[("db", "kafka"), ("q", query)])
        .send()
        .await
        .expect("InfluxQL query")
        .json()
        .await
        .expect("JSON answer")
}

/// `SELECT last(FIELD) FROM MEASUREMENT WHERE cluster = NAME GROUP BY
/// TAG`: tag value → last value, one series per tag value.
async fn last_by(
    base: &str,
    field: &str,
    measurement: &str,
    cluster: &str,
    tag: &str,
) -> BTreeMap<String, i64> {
    let answer = influxql(
        base,
        &format!(
            "SELECT last(\"{field}\") FROM \"{measurement}\" WHERE \"cluster\" = '{cluster}' GROUP BY \"{tag}\""
        ),
    )
    .await;
    answer["results"][0]["series"]
        .as_array()
        .map(|series| {
            series
                .iter()
                .map(|s| {
                    (
                        s["tags"][tag].as_str().unwrap().to_string(),
                        s["values"][0][1].as_i64().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// c. The InfluxDB sink with several clusters: every cluster's points are
/// tagged `cluster=NAME` and hold that cluster's own topics and groups,
/// with its numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influxdb_gets_each_clusters_points_tagged_with_its_name() {
    use kafka_pulse::sinks::influxdb::config::{InfluxApi, InfluxConfig};
    use kafka_pulse::sinks::influxdb::encoder::Precision;

    let _turn = SERIAL.lock().await;
    let Some(pair) = real() else { return };
    let Some(influx) = require(servers::influxd()) else {
        return;
    };
    let created = reqwest::Client::new()
        .post(format!("{}/query", influx.base))
        .form(&[("q", "CREATE DATABASE \"kafka\"")])
        .send()
        .await
        .expect("create database");
    assert!(created.status().is_success());
    let sink = InfluxConfig {
        url: url::Url::parse(&influx.base).unwrap(),
        api: InfluxApi::V1 {
            database: "kafka".into(),
            retention_policy: None,
            username: None,
            password: None,
        },
        precision: Precision::Milliseconds,
        gzip: true,
        queue_lines: 100_000,
        per_partition: false,
    };
    let (running, base) =
        start_three(pair, Duration::from_millis(250), |c| c.influx = Some(sink)).await;

    // Per cluster a topic of its own with its own depth and lag:
    // (name, messages per partition, read per partition).
    let plan = [
        (EAST, [(0, 10), (1, 20)], [(0, 5), (1, 5)]),
        (WEST, [(0, 25), (1, 35)], [(0, 25), (1, 10)]),
        (LOCAL, [(0, 40), (1, 50)], [(0, 1), (1, 2)]),
    ];
    for (name, produced, read) in plan {
        let bootstrap = bootstrap_of(&running, name);
        let topic = format!("mc-influx-{name}");
        kafka_pulse::demo::ensure_topic(bootstrap.as_str(), &topic, 2)
            .await
            .expect("create topic");
        produce_split(&bootstrap, &topic, &produced).await;
        consume_and_commit(
            &bootstrap,
            &format!("mc-influx-{name}-readers"),
            &topic,
            &read,
        )
        .await;
    }
    for (name, produced, read) in plan {
        let depth: usize = produced.iter().map(|(_, n)| n).sum();
        let lag = depth - read.iter().map(|(_, n)| n).sum::<usize>();
        wait_for_json(
            &base,
            &format!("/api/v1/clusters/{name}/groups/mc-influx-{name}-readers"),
            WAIT,
            |g| g["lag"] == lag,
        )
        .await;
        // InfluxDB holds, under this cluster's tag, exactly the topics its
        // API lists (its own, none of the others'), with the same depth.
        let topics = topic_names(&base, name).await;
        let deadline = Instant::now() + WAIT;
        let stored = loop {
            let stored = last_by(&influx.base, "depth", "kafka_topic", name, "topic").await;
            let names: BTreeSet<String> = stored.keys().cloned().collect();
            if names == topics && stored.get(&format!("mc-influx-{name}")) == Some(&(depth as i64))
            {
                break stored;
            }
            assert!(
                Instant::now() < deadline,
                "cluster={name} in InfluxDB: {stored:?}; its API lists {topics:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        for (other, ..) in plan {
            assert_eq!(
                stored.contains_key(&format!("mc-influx-{other}")),
                other == name,
                "cluster={name}: {stored:?}"
            );
        }
        let groups = last_by(&influx.base, "lag", "kafka_group", name, "group").await;
        assert_eq!(
            groups.get(&format!("mc-influx-{name}-readers")),
            Some(&(lag as i64)),
            "cluster={name}: {groups:?}"
        );
        for (other, ..) in plan {
            assert_eq!(
                groups.contains_key(&format!("mc-influx-{other}-readers")),
                other == name,
                "cluster={name}: {groups:?}"
            );
        }
        // The sink's own health is per cluster too.
        let (_, health) = get_json(&base, &format!("/api/v1/clusters/{name}/health")).await;
        let sink = &health["sinks"][0];
        assert_eq!(sink["sink"], "influxdb", "{health}");
        assert!(sink["points_sent"].as_u64() > Some(0), "{health}");
        assert_eq!(sink["points_dropped"], 0, "{health}");
    }
    let tags = influxql(
        &influx.base,
        "SHOW TAG VALUES FROM \"kafka_topic\" WITH KEY = \"cluster\"",
    )
    .await;
    let clusters: BTreeSet<&str> = tags["results"][0]["series"][0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|row| row[1].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        clusters,
        BTreeSet::from([EAST, WEST, LOCAL]),
        "cluster tags: {tags}"
    );
    running.stop().await.expect("clean stop");
}

/// CPU (user + system clock ticks) of process `pid` so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

struct Pulse(std::process::Child);

impl Drop for Pulse {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// What one layout cost over the measured window.
struct Cost {
    cpu_percent: f64,
    rss_mean_mib: f64,
    rss_peak_mib: f64,
    threads: f64,
    /// Achieved tick period, the slowest cluster's.
    period: f64,
    warm_up: f64,
}

/// `clusters` fake clusters of `partitions` partitions (topics of 4) and
/// `groups` groups each, watched by one kafka-pulse (this build's binary)
/// at --interval 1s; its CPU and RSS over `measure`.
async fn measure_layout(
    clusters: usize,
    partitions: usize,
    groups: usize,
    measure: Duration,
) -> Cost {
    use common::fake_kafka::{self, Shape};
    let mut fakes = Vec::new();
    for _ in 0..clusters {
        fakes.push(
            fake_kafka::start(Shape {
                topics: partitions / 4,
                partitions: 4,
                groups,
                nodes: 1,
            })
            .await,
        );
    }
    let names: Vec<String> = (0..clusters).map(|i| format!("c{i:02}")).collect();
    let port = servers::free_port();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-pulse"));
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--interval", "1s"])
        .env("KAFKA_PULSE_LOG", "warn")
        .stdout(std::process::Stdio::null());
    // One --cluster flag even for one cluster: the same code path, and its
    // API under /api/v1/clusters/NAME either way.
    for (name, fake) in names.iter().zip(&fakes) {
        command.args(["--cluster", &format!("{name}={}", fake.bootstrap())]);
    }
    let pulse = Pulse(command.spawn().expect("start kafka-pulse"));
    let pid = pulse.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let sequences = || async {
        let mut all = Vec::new();
        for name in &names {
            let health = match reqwest::get(format!("{base}/api/v1/clusters/{name}/health")).await {
                Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            all.push((
                health["sequence"].as_u64().unwrap_or(0),
                health["groups"].as_u64().unwrap_or(0),
            ));
        }
        all
    };
    let started = Instant::now();
    // Warm up: every cluster's groups seen and a few ticks taken.
    loop {
        let all = sequences().await;
        if all
            .iter()
            .all(|&(sequence, seen)| sequence >= 3 && seen == groups as u64)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not every cluster warmed up within 120 s: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let warm_up = started.elapsed().as_secs_f64();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let first = sequences().await;
    let (cpu0, t0) = (cpu_ticks(pid), Instant::now());
    let (mut rss_sum, mut rss_n) = (0.0, 0.0);
    while t0.elapsed() < measure {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_sum += status_field(pid, "VmRSS:") / 1024.0;
        rss_n += 1.0;
    }
    let (cpu1, wall) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let last = sequences().await;
    let period = first
        .iter()
        .zip(&last)
        .map(|((a, _), (b, _))| wall / (b - a).max(1) as f64)
        .fold(0.0, f64::max);
    Cost {
        cpu_percent: (cpu1 - cpu0) as f64 / ticks_per_second / wall * 100.0,
        rss_mean_mib: rss_sum / rss_n,
        rss_peak_mib: status_field(pid, "VmHWM:") / 1024.0,
        threads: status_field(pid, "Threads:"),
        period,
        warm_up,
    }
}

/// Benchmark, not part of `cargo test` (bench/multi-cluster/run): the cost
/// of watching 10 clusters × 1,000 partitions in one process, against
/// 1 cluster × 10,000 (the same partitions and groups in all) and
/// 1 cluster × 1,000 (what each of the ten would cost alone), measured one
/// after another in the same run. The fake clusters of
/// tests/common/fake_kafka.rs answer from memory in this process, so the
/// CPU and RSS read from /proc are kafka-pulse's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: bench/multi-cluster/run"]
async fn multi_cluster_cost() {
    let measure = Duration::from_secs(
        std::env::var("KAFKA_PULSE_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    println!(
        "kafka-pulse (this build) against fake clusters, --interval 1s, {} s measured per layout",
        measure.as_secs()
    );
    let layouts = [(1, 10_000, 500), (10, 1_000, 50), (1, 1_000, 50)];
    let mut costs = Vec::new();
    for (clusters, partitions, groups) in layouts {
        let cost = measure_layout(clusters, partitions, groups, measure).await;
        println!(
            "{clusters:>2} cluster(s) x {partitions:>6} partitions, {groups:>3} groups each: \
             CPU {:5.1}% of one core, RSS {:5.1} MiB mean / {:5.1} MiB peak, {} threads, \
             slowest cluster ticks every {:.2} s (warm-up {:.0} s)",
            cost.cpu_percent,
            cost.rss_mean_mib,
            cost.rss_peak_mib,
            cost.threads,
            cost.period,
            cost.warm_up
        );
        costs.push(cost);
    }
    let (one_big, ten, one_small) = (&costs[0], &costs[1], &costs[2]);
    println!(
        "10 x 1,000 vs 1 x 10,000: CPU {:.2}x, RSS {:.2}x (mean), {:.2}x (peak)",
        ten.cpu_percent / one_big.cpu_percent,
        ten.rss_mean_mib / one_big.rss_mean_mib,
        ten.rss_peak_mib / one_big.rss_peak_mib
    );
    println!(
        "10 x 1,000 vs 1 x 1,000: CPU {:.2}x, RSS {:.2}x (mean)",
        ten.cpu_percent / one_small.cpu_percent,
        ten.rss_mean_mib / one_small.rss_mean_mib
    );
    for cost in &costs {
        assert!(cost.period < 1.5, "a cluster fell behind its 1 s interval");
    }
}

/// Every root-relative link, live-update, chart and form URL of a page.
fn page_urls(page: &str) -> BTreeSet<String> {
    let mut urls = BTreeSet::new();
    for attribute in [
        "href=\"",
        "action=\"",
        "data-live=\"",
        "data-series=\"",
        "data-fragment=\"",
    ] {
        for piece in page.split(attribute).skip(1) {
            let url = piece.split('"').next().unwrap_or_default();
            if url.starts_with('/') && !url.starts_with("/static/") {
                urls.insert(url.replace("&amp;", "&"));
            }
        }
    }
    urls
}

/// A cluster's pages under /clusters/NAME keep their links, live updates
/// and charts within that cluster: with several clusters the
/// single-cluster URLs redirect home (pages), 404 (`/live/...`) or answer
/// 409 (API); only the cluster switcher leads to the other cluster. No Kafka needed: the pages render while the brokers (closed
/// ports) do not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn cluster_pages_link_within_their_cluster() {
    let closed = servers::free_port();
    let config = kafka_pulse::config::Config {
        clusters: vec![
            cluster(
                "a",
                Some(&format!("127.0.0.1:{closed}")),
                Duration::from_secs(1),
            ),
            cluster(
                "b",
                Some(&format!("127.0.0.1:{closed}")),
                Duration::from_secs(1),
            ),
        ],
        ..test_config(None, None)
    };
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // URLs that are about every cluster, the same from any cluster's page.
    let shared = [
        "/",
        "/clusters",
        "/metrics",
        "/api/v1/clusters",
        "/api/v1/health",
    ];
    let mut wrong = Vec::new();
    for page in [
        "",
        "/topics",
        "/groups",
        "/brokers",
        "/events",
        "/messages",
        "/replays",
    ] {
        let path = format!("/clusters/a{page}");
        let (status, html) = get_text(&base, &path).await;
        assert_eq!(status, 200, "{path}: {html}");
        // The cluster switcher is the one place meant to leave cluster a:
        // it leads to the same page of cluster b.
        let (switcher, rest) = split_switcher(&html);
        let expected = format!("/clusters/b{page}");
        assert!(
            page_urls(&switcher).contains(&expected),
            "{path}: the switcher does not lead to {expected}: {switcher}"
        );
        for url in page_urls(&rest) {
            let within = url.starts_with("/clusters/a/")
                || url == "/clusters/a"
                || url.starts_with("/api/v1/clusters/a/");
            let answer = client
                .get(format!("{base}{url}"))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            if !(within || shared.contains(&url.as_str())) || answer != 200 {
                wrong.push(format!("{path} → {url} ({answer})"));
            }
        }
    }
    running.stop().await.expect("clean stop");
    assert!(
        wrong.is_empty(),
        "links leaving cluster a:\n{}",
        wrong.join("\n")
    );
}

/// The page's cluster switcher (`<nav class="clusters">`) and the rest.
fn split_switcher(html: &str) -> (String, String) {
    let Some(start) = html.find("<nav class=\"clusters\"") else {
        return (String::new(), html.to_string());
    };
    let end = html[start..]
        .find("</nav>")
        .map_or(html.len(), |i| start + i + "</nav>".len());
    (
        html[start..end].to_string(),
        format!("{}{}", &html[..start], &html[end..]),
    )
}

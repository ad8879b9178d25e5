//! Replay from one cluster into another ("production traffic into a test
//! cluster") in one kafka-pulse watching two clusters: the embedded broker
//! and a real Apache Kafka (tests/common/kafka_cluster.rs). Through the API
//! (POST /api/v1/clusters/SOURCE/replays with "to_cluster") and the CLI
//! (`replay --config FILE --from-cluster A --to-cluster B`), both directions,
//! compared with plain rdkafka reads (tests/common/replay_checks.rs).
//!
//! The tests needing Kafka skip with the reason without java and the jars;
//! with KAFKA_PULSE_REQUIRE_EXTERNAL=1 they fail instead. The error cases
//! need no Kafka.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::kafka_cluster::{versions, ClusterSpec, KafkaCluster};
use common::replay_checks::*;
use common::servers::require;
use common::{get_json, get_text, post_json, test_config, wait_for_json};
use kafka_pulse::app::{self, RunningApp};
use kafka_pulse::config::{ClusterConfig, Config};
use kafka_pulse::demo::ensure_topic;

const WAIT: Duration = Duration::from_secs(60);

/// One cluster entry: `brokers` None is the embedded broker.
fn cluster(name: &str, brokers: Option<&str>) -> ClusterConfig {
    let defaults = test_config(None, None);
    ClusterConfig {
        name: Some(name.to_string()),
        brokers: brokers.map(|b| vec![b.to_string()]),
        interval: defaults.interval,
        demo: false,
        filters: defaults.filters.clone(),
        lag_thresholds: defaults.lag_thresholds.clone(),
        exact_lag_fetches: 0,
        kafka_security: Arc::new(kafka_pulse::security::Security::plaintext()),
    }
}

/// kafka-pulse watching the embedded broker as `local` and `other` as
/// `real`, writes from the web allowed.
async fn start_two(other: &str) -> (RunningApp, String) {
    let config = Config {
        enable_writes: true,
        clusters: vec![cluster("local", None), cluster("real", Some(other))],
        ..test_config(None, None)
    };
    let running = app::start(config).await.expect("kafka-pulse starts");
    let base = format!("http://{}", running.web_addr);
    (running, base)
}

fn embedded_bootstrap(running: &RunningApp) -> String {
    running
        .clusters
        .iter()
        .find(|c| c.name == "local")
        .expect("the local cluster")
        .kafka_bootstrap
        .clone()
}

/// A real Kafka of the current version, started off the async runtime.
fn real_kafka() -> Option<KafkaCluster> {
    let started =
        std::thread::spawn(|| KafkaCluster::start(&ClusterSpec::new(&versions().current, 1)))
            .join()
            .expect("cluster launcher thread");
    require(started)
}

/// Starts a replay through `source`'s API and waits until it is finished.
async fn replay_via_api(base: &str, source: &str, body: Value) -> Value {
    let path = format!("/api/v1/clusters/{source}/replays");
    let (status, started) = post_json(base, &path, &body).await;
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().expect("id").to_string();
    let done = wait_for_json(base, &format!("{path}/{id}"), WAIT, |view| {
        view["state"] != "running"
    })
    .await;
    assert_eq!(done["state"], "finished", "{done}");
    done
}

fn kafka_pulse_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kafka-pulse"))
        .arg("replay")
        .args(args)
        // The test's own environment must not name a cluster or a file.
        .env_remove("KAFKA_PULSE_BROKERS")
        .env_remove("KAFKA_PULSE_CONFIG")
        .env_remove("KAFKA_PULSE_CLUSTERS")
        .env_remove("KAFKA_PULSE_KAFKA_PROPERTIES")
        .output()
        .expect("run kafka-pulse replay")
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("pulse.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().expect("a UTF-8 temp path").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_between_the_embedded_broker_and_real_kafka_are_exact_both_ways() {
    let Some(kafka) = real_kafka() else { return };
    let (running, base) = start_two(&kafka.bootstrap).await;
    let local = embedded_bootstrap(&running);

    // local → real through the API: every byte, partition and timestamp,
    // the same topic name on both clusters (no --allow-same-topic needed).
    ensure_topic(&local, "xc-orders", 3).await.unwrap();
    let source = awkward_messages(3, 30, now_ms() - 60_000);
    produce(&local, "xc-orders", &source).await;
    let source = by_partition(source);
    let view = replay_via_api(
        &base,
        "local",
        json!({"from": "xc-orders", "to": "xc-orders", "to_cluster": "real",
               "speed": "max", "keep_partition": true, "keep_timestamps": true,
               "create_target": true}),
    )
    .await;
    assert_eq!(
        (&view["from_cluster"], &view["to_cluster"]),
        (&json!("local"), &json!("real")),
        "{view}"
    );
    assert_eq!(view["report"]["messages_written"], 90, "{view}");
    let copy = read_all(&kafka.bootstrap, "xc-orders", 3).await;
    assert_same(&copy, &source, "local → real keeps everything");
    // The list, and the audit trail of the source cluster, name both.
    let (_, list) = get_json(&base, "/api/v1/clusters/local/replays").await;
    assert_eq!(list["replays"][0]["to_cluster"], "real", "{list}");
    let (_, events) = get_json(&base, "/api/v1/clusters/local/events").await;
    let events = events.to_string();
    assert!(
        events.contains("xc-orders on cluster local → xc-orders on cluster real"),
        "{events}"
    );
    assert!(
        events.contains("(cluster local → real) finished"),
        "{events}"
    );

    // real → local at the original pace: each partition's gaps reproduced
    // (send-time timestamps), contents per partition unchanged.
    ensure_topic(&kafka.bootstrap, "xc-paced", 2).await.unwrap();
    let start = now_ms() - 30_000;
    let offsets_ms = [0, 150, 160, 400, 1000, 1010, 1300, 1900, 2000, 2400];
    let paced: Vec<Msg> = offsets_ms
        .iter()
        .enumerate()
        .map(|(i, at)| Msg {
            partition: (i % 2) as i32,
            offset: (i / 2) as i64,
            timestamp: start + at,
            key: Some(format!("k{i}").into_bytes()),
            value: Some(vec![i as u8, 0, 255]),
            headers: vec![("h".into(), Some(vec![i as u8])), ("null".into(), None)],
        })
        .collect();
    produce(&kafka.bootstrap, "xc-paced", &paced).await;
    let started = Instant::now();
    let view = replay_via_api(
        &base,
        "real",
        json!({"from": "xc-paced", "to": "xc-paced-copy", "to_cluster": "local",
               "speed": 1, "keep_partition": true, "create_target": true}),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(2300), "paced");
    let timing = &view["report"]["timing_error"];
    assert!(timing["mean_ms"].as_f64().expect("timing") < 20.0, "{view}");
    let got = read_all(&local, "xc-paced-copy", 2).await;
    const TOLERANCE_MS: i64 = 40;
    for partition in 0..2 {
        let want: Vec<&Msg> = paced.iter().filter(|m| m.partition == partition).collect();
        let have: Vec<&Msg> = got.iter().filter(|m| m.partition == partition).collect();
        assert_eq!(have.len(), want.len(), "partition {partition}");
        for (h, w) in have.iter().zip(&want) {
            assert_eq!(h.content(), w.content(), "partition {partition}");
        }
        for (i, (h, w)) in have.windows(2).zip(want.windows(2)).enumerate() {
            let original = w[1].timestamp - w[0].timestamp;
            let replayed = h[1].timestamp - h[0].timestamp;
            assert!(
                (replayed - original).abs() <= TOLERANCE_MS,
                "partition {partition} gap {i}: {replayed} ms, original {original} ms (±{TOLERANCE_MS})"
            );
        }
    }
    let (_, events) = get_json(&base, "/api/v1/clusters/real/events").await;
    assert!(
        events
            .to_string()
            .contains("xc-paced on cluster real → xc-paced-copy on cluster local"),
        "{events}"
    );

    // The CLI: the clusters of the file kafka-pulse runs with, the embedded
    // one at the file's kafka_listen.
    ensure_topic(&local, "xc-cli", 2).await.unwrap();
    let cli_source = awkward_messages(2, 20, now_ms() - 20_000);
    produce(&local, "xc-cli", &cli_source).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(
        dir.path(),
        &format!(
            "kafka_listen = \"{local}\"\n\
             [[cluster]]\nname = \"local\"\nembedded = true\n\
             [[cluster]]\nname = \"real\"\nbrokers = \"{}\"\n",
            kafka.bootstrap
        ),
    );
    let output = kafka_pulse_cli(&[
        "--config",
        &file,
        "--from-cluster",
        "local",
        "--to-cluster",
        "real",
        "--from",
        "xc-cli",
        "--to",
        "xc-cli",
        "--speed",
        "max",
        "--keep-partition",
        "--keep-timestamps",
        "--create-target",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("on cluster local") && stderr.contains("on cluster real"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("--json report");
    assert_eq!(report["messages_written"], 40, "{report}");
    let copy = read_all(&kafka.bootstrap, "xc-cli", 2).await;
    assert_same(&copy, &by_partition(cli_source), "the CLI: local → real");

    running.stop().await.expect("clean stop");
}

#[test]
fn the_cli_refuses_unclear_clusters_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: every refusal comes before any connection.
    let file = write_config(
        dir.path(),
        "[[cluster]]\nname = \"prod\"\nbrokers = \"127.0.0.1:1\"\n\
         [[cluster]]\nname = \"test\"\nbrokers = \"127.0.0.1:2\"\n",
    );
    let topics = ["--from", "orders", "--to", "orders"];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            vec![
                "--config",
                &file,
                "--from-cluster",
                "prod",
                "--to-cluster",
                "tset",
            ],
            &[
                "--to-cluster \"tset\" is not a configured cluster",
                "prod, test",
            ],
        ),
        (
            vec!["--config", &file, "--from-cluster", "prdo"],
            &["--from-cluster \"prdo\"", "prod, test"],
        ),
        (
            vec!["--config", &file, "--to-cluster", "test"],
            &["has 2 clusters (prod, test)", "--from-cluster NAME"],
        ),
        (
            vec![
                "--brokers",
                "127.0.0.1:1",
                "--config",
                &file,
                "--from-cluster",
                "prod",
            ],
            &["--brokers", "--config", "both say where to connect"],
        ),
        (
            vec!["--from-cluster", "prod", "--to-cluster", "test"],
            &["add --config FILE"],
        ),
        (
            vec![
                "--config",
                &file,
                "--from-cluster",
                "prod",
                "--kafka-property",
                "security.protocol=SSL",
            ],
            &["--kafka-property", "[cluster.kafka]"],
        ),
        (
            vec![
                "--config",
                "/nonexistent/pulse.toml",
                "--from-cluster",
                "prod",
            ],
            &["/nonexistent/pulse.toml"],
        ),
    ];
    for (args, wanted) in cases {
        let mut all = args.clone();
        all.extend(topics);
        let output = kafka_pulse_cli(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for want in wanted {
            assert!(stderr.contains(want), "{args:?}: {want:?} not in {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_and_page_name_the_target_cluster_and_refuse_unknown_ones() {
    // The second cluster is unreachable: every answer here comes before a
    // connection to it.
    let (running, base) = start_two("127.0.0.1:1").await;
    let path = "/api/v1/clusters/local/replays";
    let (status, body) = post_json(
        &base,
        path,
        &json!({"from": "orders", "to": "orders-copy", "to_cluster": "staging"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("to_cluster \"staging\"") && error.contains("local, real"),
        "{body}"
    );
    // Naming its own cluster is a replay within it: the same topic still
    // needs the explicit yes.
    let (status, body) = post_json(
        &base,
        path,
        &json!({"from": "orders", "to": "orders", "to_cluster": "local"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("--allow-same-topic"), "{body}");

    // The page calls its own cluster's API and offers every cluster as target.
    let (status, page) = get_text(&base, "/clusters/local/replays").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"data-api="/api/v1/clusters/local""#),
        "{page}"
    );
    assert!(page.contains(r#"<select name="to_cluster">"#), "{page}");
    assert!(page.contains(r#"<option value="local" selected>local</option>"#));
    assert!(page.contains(r#"<option value="real">real</option>"#));
    running.stop().await.expect("clean stop");

    // One cluster: the API at /api/v1 and no select.
    let mut config = test_config(None, None);
    config.enable_writes = true;
    let single = app::start(config).await.expect("start");
    let base = format!("http://{}", single.web_addr);
    let (_, page) = get_text(&base, "/replays").await;
    assert!(page.contains(r#"data-api="/api/v1""#), "{page}");
    assert!(!page.contains("to_cluster"), "{page}");
    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "orders", "to": "orders-copy", "to_cluster": "prod"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("the clusters are: default"),
        "{body}"
    );
    single.stop().await.expect("clean stop");
}

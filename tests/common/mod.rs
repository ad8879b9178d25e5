//! Helpers for end-to-end tests: real embedded broker, real Kafka clients
//! (rdkafka), real HTTP.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

use kafka_pulse::config::Config;

pub mod crosscheck;
pub mod es_server;
pub mod fake_kafka;
pub mod kafka_cluster;
pub mod kibana_queries;
pub mod opensearch;
pub mod proc_status;
pub mod replay_checks;
pub mod servers;

pub fn test_config(brokers: Option<String>, data_dir: Option<PathBuf>) -> Config {
    Config {
        brokers: brokers.map(|b| vec![b]),
        listen: "127.0.0.1:0".parse().unwrap(),
        kafka_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        interval: Duration::from_millis(250),
        demo: false,
        request_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

/// The two clusters' names of [`two_clusters`].
pub const LOCAL: &str = "local";
pub const MIRROR: &str = "mirror";

/// A kafka-pulse watching two clusters: `local`, the embedded broker with
/// demo traffic, and `mirror`, the same broker through its address, only
/// the topic `mirror_topic` (so a filter on the cluster shows a difference).
pub fn two_clusters(mirror_topic: &str) -> Config {
    use kafka_pulse::config::ClusterConfig;
    use kafka_pulse::filter::{Filters, NameFilter};
    // A free port for the embedded broker, known before it starts.
    let kafka_listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let base = test_config(None, None);
    let cluster =
        |name: &str, brokers: Option<Vec<String>>, demo: bool, filters: Filters| ClusterConfig {
            name: Some(name.to_string()),
            brokers,
            interval: base.interval,
            demo,
            filters,
            lag_thresholds: base.lag_thresholds.clone(),
            exact_lag_fetches: 0,
            kafka_security: base.kafka_security.clone(),
        };
    let only_topic = Filters {
        topics: NameFilter::new(Some(("--include-topics", mirror_topic)), None).unwrap(),
        groups: NameFilter::default(),
    };
    Config {
        clusters: vec![
            cluster(LOCAL, None, true, Filters::default()),
            cluster(
                MIRROR,
                Some(vec![kafka_listen.to_string()]),
                false,
                only_topic,
            ),
        ],
        kafka_listen,
        ..base
    }
}

/// An rdkafka client configuration for `bootstrap`, quiet below errors.
pub fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3");
    config
}

/// Produces `count` messages to each listed partition; waits for every ack.
pub async fn produce_split(bootstrap: &str, topic: &str, split: &[(i32, usize)]) {
    let producer: FutureProducer = client(bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    let mut deliveries = Vec::new();
    for &(partition, count) in split {
        for i in 0..count {
            let key = format!("key-{partition}-{i}");
            let value = format!("{{\"n\":{i}}}");
            let record = FutureRecord::to(topic)
                .partition(partition)
                .key(&key)
                .payload(&value);
            deliveries.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueue"),
            );
        }
    }
    for delivery in deliveries {
        delivery.await.expect("delivery future").expect("delivered");
    }
}

/// Reads `count` messages from the start of each listed partition as group
/// `group`, then commits exactly those positions.
pub async fn consume_and_commit(bootstrap: &str, group: &str, topic: &str, split: &[(i32, usize)]) {
    let bootstrap = bootstrap.to_string();
    let group = group.to_string();
    let topic = topic.to_string();
    let split = split.to_vec();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client(&bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        let mut commits = TopicPartitionList::new();
        for &(partition, count) in &split {
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&topic, partition, Offset::Beginning)
                .unwrap();
            consumer.assign(&assignment).expect("assign");
            let mut read = 0;
            let deadline = Instant::now() + Duration::from_secs(30);
            while read < count {
                assert!(
                    Instant::now() < deadline,
                    "timed out reading {topic}/{partition}"
                );
                if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                    let message = message.expect("message");
                    assert_eq!(message.partition(), partition);
                    read += 1;
                }
            }
            commits
                .add_partition_offset(&topic, partition, Offset::Offset(count as i64))
                .unwrap();
        }
        consumer.commit(&commits, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("consumer thread");
}

pub async fn get_json(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn post_json(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn get_text(base: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Polls `path` until `check` accepts the JSON, or panics with the last
/// answer after `timeout`.
pub async fn wait_for_json(
    base: &str,
    path: &str,
    timeout: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (_, body) = get_json(base, path).await;
        if check(&body) {
            return body;
        }
        if Instant::now() > deadline {
            panic!("{path} never satisfied the check within {timeout:?}; last answer: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` every 50 ms until it holds; panics naming `what` if it
/// still does not after `timeout`. For conditions observed over real I/O
/// (a receiver got a request, a thread saw a message), where a fixed sleep
/// would be either too short on a loaded machine or needlessly long.
pub async fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `sequence` of the latest sample, from /api/v1/health.
pub async fn sample_sequence(base: &str) -> u64 {
    let (_, health) = get_json(base, "/api/v1/health").await;
    health["sequence"]
        .as_u64()
        .unwrap_or_else(|| panic!("no sequence in {health}"))
}

/// Waits until the collector has taken `samples` more samples than it had
/// when called: the positive sign that time passed in the app (a later tick
/// happened), to check something did *not* happen meanwhile, or that a
/// state was sampled more than once. Returns the health answer.
pub async fn wait_for_samples(base: &str, samples: u64, timeout: Duration) -> Value {
    let target = sample_sequence(base).await + samples;
    wait_for_json(base, "/api/v1/health", timeout, |h| {
        h["sequence"].as_u64() >= Some(target)
    })
    .await
}

/// The value of one metric line (exact name and labels) in Prometheus text.
/// A `series` without `cluster` label matches the line of its one cluster
/// (every series carries one; single-cluster tests name series without it).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series || without_cluster(name) == series)
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// A series (`name{labels}`) without its leading `cluster` label.
pub fn without_cluster(series: &str) -> String {
    const OPEN: &str = "{cluster=\"";
    let Some(at) = series.find(OPEN) else {
        return series.to_string();
    };
    let rest = &series[at + OPEN.len()..];
    let Some(close) = rest.find('"') else {
        return series.to_string();
    };
    let after = &rest[close + 1..];
    match after.strip_prefix(',') {
        Some(labels) => format!("{}{{{labels}", &series[..at]),
        None => format!(
            "{}{}",
            &series[..at],
            after.strip_prefix('}').unwrap_or(after)
        ),
    }
}

/// Produces `count` messages to partition 0 stamped `age_ms` in the past,
/// one second apart (CreateTime), waiting for each ack.
pub async fn produce_aged(bootstrap: &str, topic: &str, count: i64, age_ms: i64) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3")
        .create()
        .expect("producer");
    let start = chrono::Utc::now().timestamp_millis() - age_ms;
    for i in 0..count {
        let value = format!("m{i}");
        producer
            .send(
                FutureRecord::<(), _>::to(topic)
                    .partition(0)
                    .payload(&value)
                    // One second apart: the group's position decides the age.
                    .timestamp(start + i * 1000),
                Duration::from_secs(10),
            )
            .await
            .expect("delivered");
    }
}

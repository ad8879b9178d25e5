//! kafka-pulse against real Apache Kafka: KRaft clusters started from the
//! Maven Central jars (tests/common/kafka_cluster.rs), one per version and
//! shape, shared by every test of this binary. Kafka's own
//! `kafka-consumer-groups` (ConsumerGroupCommand) is the oracle for offsets,
//! lag and group state; producers' and consumers' own counts are the
//! oracle for rates.
//!
//! Without java/Maven these tests skip with the reason; with
//! KAFKA_PULSE_REQUIRE_EXTERNAL=1 (CI) they fail instead.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::kafka_cluster::{versions, ClusterSpec, KafkaCluster};
use common::servers::require;
use common::*;
use kafka_pulse::app;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

static CURRENT: OnceLock<Option<KafkaCluster>> = OnceLock::new();
static LEGACY: OnceLock<Option<KafkaCluster>> = OnceLock::new();
static TRIO: OnceLock<Option<KafkaCluster>> = OnceLock::new();
static HUNG: OnceLock<Option<KafkaCluster>> = OnceLock::new();

/// The pinned current Kafka (4.x), one broker.
fn current() -> Option<&'static KafkaCluster> {
    shared(&CURRENT, || ClusterSpec::new(&versions().current, 1))
}

/// The pinned last 3.x line (before KIP-896 removed old protocol versions), one broker.
fn legacy() -> Option<&'static KafkaCluster> {
    shared(&LEGACY, || ClusterSpec::new(&versions().legacy, 1))
}

/// Three brokers of the current version, replication factor 3: only the
/// fault test uses it (it kills and restarts a broker).
fn trio() -> Option<&'static KafkaCluster> {
    shared(&TRIO, || ClusterSpec::new(&versions().current, 3))
}

/// A broker of the current version of its own, for the test that stops it
/// with SIGSTOP (the others' tests must not hang with it).
fn hung() -> Option<&'static KafkaCluster> {
    shared(&HUNG, || ClusterSpec::new(&versions().current, 1))
}

fn shared(
    slot: &'static OnceLock<Option<KafkaCluster>>,
    spec: impl FnOnce() -> ClusterSpec,
) -> Option<&'static KafkaCluster> {
    slot.get_or_init(|| {
        let spec = spec();
        // Started off the test's async runtime: the launcher blocks on its
        // own small runtime while it waits for the brokers.
        let started = std::thread::spawn(move || {
            let begun = Instant::now();
            let cluster = KafkaCluster::start(&spec);
            if cluster.is_ok() {
                eprintln!(
                    "Kafka {} with {} broker(s) up in {:.1}s",
                    spec.version,
                    spec.brokers,
                    begun.elapsed().as_secs_f64()
                );
            }
            cluster
        })
        .join()
        .expect("cluster launcher thread");
        require(started)
    })
    .as_ref()
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32, replication: i32) {
    create_topic_with(bootstrap, topic, partitions, replication, &[]).await
}

async fn create_topic_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create().expect("admin");
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let results = admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .expect("create topics");
    for result in results {
        result.unwrap_or_else(|(name, e)| panic!("create {name}: {e}"));
    }
}

/// One row of `kafka-consumer-groups --describe`.
#[derive(Debug, Clone)]
struct OracleRow {
    topic: String,
    partition: i32,
    current_offset: Option<i64>,
    log_end_offset: i64,
    lag: Option<i64>,
}

/// Parses a column-aligned table of Kafka's tools by its header line: a
/// column name is separated from the next by two or more spaces
/// ("COORDINATOR (ID)" is one name), and a cell is the words under its
/// name (3.9 leaves ASSIGNMENT-STRATEGY empty while a group rebalances;
/// splitting on whitespace alone would shift the columns).
fn parse_table(output: &str, first_column: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    let mut header: Option<Vec<(String, usize)>> = None;
    for line in output.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.split_whitespace().next() == Some(first_column) {
            let mut columns = Vec::new();
            let mut at = 0;
            while at < line.len() {
                let rest = &line[at..];
                let skip = rest.len() - rest.trim_start().len();
                at += skip;
                if at >= line.len() {
                    break;
                }
                let name_len = line[at..].find("  ").unwrap_or(line.len() - at);
                columns.push((line[at..at + name_len].trim().to_string(), at));
                at += name_len;
            }
            header = Some(columns);
            continue;
        }
        let Some(columns) = &header else {
            continue;
        };
        // Each word belongs to the last column starting at or before it:
        // a value wider than its column ("PreparingRebalance") pushes the
        // next ones right, never into an earlier column.
        let mut row: BTreeMap<String, String> = columns
            .iter()
            .map(|(name, _)| (name.clone(), String::new()))
            .collect();
        let mut at = 0;
        for word in line.split_whitespace() {
            let start = at + line[at..].find(word).expect("word in line");
            at = start + word.len();
            let column = columns
                .iter()
                .rev()
                .find(|(_, column_start)| *column_start <= start)
                .unwrap_or(&columns[0]);
            let cell = row.get_mut(&column.0).expect("column");
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(word);
        }
        rows.push(row);
    }
    rows
}

/// kafka-consumer-groups: moved from core (kafka.admin) to kafka-tools in
/// 3.7; both pins have it here (checked by every oracle call).
const ORACLE_CLASS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";

fn oracle_offsets(cluster: &KafkaCluster, group: &str) -> Vec<OracleRow> {
    let output = cluster
        .tool(
            ORACLE_CLASS,
            &[
                "--bootstrap-server",
                &cluster.bootstrap,
                "--describe",
                "--group",
                group,
            ],
        )
        .expect("kafka-consumer-groups --describe");
    let number = |text: &str| (text != "-").then(|| text.parse::<i64>().expect("number"));
    let rows: Vec<OracleRow> = parse_table(&output, "GROUP")
        .into_iter()
        .map(|row| OracleRow {
            topic: row["TOPIC"].clone(),
            partition: row["PARTITION"].parse().expect("partition"),
            current_offset: number(&row["CURRENT-OFFSET"]),
            log_end_offset: number(&row["LOG-END-OFFSET"]).expect("log end"),
            lag: number(&row["LAG"]),
        })
        .collect();
    assert!(
        !rows.is_empty(),
        "oracle printed no rows for {group}:\n{output}"
    );
    rows
}

/// (STATE, #MEMBERS) from `kafka-consumer-groups --describe --state`.
fn oracle_state(cluster: &KafkaCluster, group: &str) -> (String, i64) {
    let output = cluster
        .tool(
            ORACLE_CLASS,
            &[
                "--bootstrap-server",
                &cluster.bootstrap,
                "--describe",
                "--state",
                "--group",
                group,
            ],
        )
        .expect("kafka-consumer-groups --describe --state");
    let rows = parse_table(&output, "GROUP");
    let row = rows
        .iter()
        .find(|r| r["GROUP"] == group)
        .unwrap_or_else(|| panic!("no state row for {group}:\n{output}"));
    (
        row["STATE"].clone(),
        row["#MEMBERS"]
            .parse()
            .unwrap_or_else(|_| panic!("#MEMBERS in {row:?} of:\n{output}")),
    )
}

/// Kafka's group states and what kafka-pulse shows for each: the broker's
/// own name, one to one (DescribeGroups for classic groups,
/// ConsumerGroupDescribe for KIP-848 groups). The README has this table.
const STATE_MAP: [(&str, &str); 7] = [
    ("PreparingRebalance", "PreparingRebalance"),
    ("CompletingRebalance", "CompletingRebalance"),
    ("Assigning", "Assigning"),
    ("Reconciling", "Reconciling"),
    ("Stable", "Stable"),
    ("Empty", "Empty"),
    ("Dead", "Dead"),
];

fn mapped_state(oracle: &str) -> &'static str {
    STATE_MAP
        .iter()
        .find(|(kafka, _)| kafka.eq_ignore_ascii_case(oracle))
        .map(|(_, shown)| *shown)
        .unwrap_or_else(|| panic!("state {oracle} is not in the state table"))
}

async fn start_pulse(cluster: &KafkaCluster) -> (app::RunningApp, String) {
    let running = app::start(test_config(Some(cluster.bootstrap.clone()), None))
        .await
        .expect("kafka-pulse starts");
    let base = format!("http://{}", running.web_addr);
    (running, base)
}

/// Waits for a sample taken after now, so what the API says is newer than
/// whatever the oracle saw before this call.
async fn fresh_sample(base: &str) {
    let (_, health) = get_json(base, "/api/v1/health").await;
    let seen = health["sequence"].as_u64().unwrap_or(0);
    wait_for_json(base, "/api/v1/health", WAIT, |body| {
        body["sequence"].as_u64().is_some_and(|n| n >= seen + 2)
    })
    .await;
}

fn partition_row<'a>(detail: &'a Value, topic: &str, partition: i32) -> &'a Value {
    detail["partitions"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|p| p["topic"] == topic && p["partition"] == partition)
        })
        .unwrap_or_else(|| panic!("{topic}/{partition} missing: {detail}"))
}

/// kafka-pulse's API and /metrics agree with the oracle on every partition.
async fn assert_matches_oracle(cluster: &KafkaCluster, base: &str, group: &str) {
    let rows = oracle_offsets(cluster, group);
    fresh_sample(base).await;
    let (status, detail) = get_json(base, &format!("/api/v1/groups/{group}")).await;
    assert_eq!(status, 200, "{detail}");
    let (_, metrics) = get_text(base, "/metrics").await;
    let mut total = 0;
    for row in &rows {
        let mine = partition_row(&detail, &row.topic, row.partition);
        assert_eq!(
            mine["committed_offset"].as_i64(),
            row.current_offset,
            "committed {row:?} vs {mine}"
        );
        assert_eq!(
            mine["high_watermark"], row.log_end_offset,
            "{row:?} vs {mine}"
        );
        let oracle_lag = row.lag.unwrap_or(row.log_end_offset);
        assert_eq!(mine["lag"], oracle_lag, "lag {row:?} vs {mine}");
        total += oracle_lag;
        let labels = format!(
            "{{group=\"{group}\",topic=\"{}\",partition=\"{}\"}}",
            row.topic, row.partition
        );
        assert_eq!(
            metric(
                &metrics,
                &format!("kafka_pulse_group_partition_lag_messages{labels}")
            ),
            Some(oracle_lag as f64),
            "{labels}"
        );
        if let Some(offset) = row.current_offset {
            assert_eq!(
                metric(
                    &metrics,
                    &format!("kafka_pulse_group_partition_committed_offset{labels}")
                ),
                Some(offset as f64),
                "{labels}"
            );
        }
        assert_eq!(
            metric(
                &metrics,
                &format!(
                    "kafka_pulse_partition_high_watermark{{topic=\"{}\",partition=\"{}\"}}",
                    row.topic, row.partition
                )
            ),
            Some(row.log_end_offset as f64)
        );
    }
    assert_eq!(detail["lag"], total, "{detail}");
    assert_eq!(
        metric(
            &metrics,
            &format!("kafka_pulse_group_lag_messages{{group=\"{group}\"}}")
        ),
        Some(total as f64)
    );
}

/// A subscribed consumer (classic or KIP-848 protocol) on its own thread:
/// polls, counts what it read, and commits synchronously every `commit_every`.
struct Member {
    stop: Arc<AtomicBool>,
    /// While set the member does not poll (a stuck application).
    paused: Arc<AtomicBool>,
    read: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    fn start(bootstrap: &str, group: &str, topics: &[&str], protocol: &str) -> Self {
        let mut config = client(bootstrap);
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        if protocol == "consumer" {
            // KIP-848: the broker assigns; these classic settings are refused.
            config.set("group.protocol", "consumer");
        } else {
            config
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "500")
                .set("max.poll.interval.ms", "60000");
        }
        let consumer: BaseConsumer = config.create().expect("consumer");
        consumer.subscribe(topics).expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let read = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, paused, read) = (stop.clone(), paused.clone(), read.clone());
            std::thread::spawn(move || {
                let mut last_commit = Instant::now();
                let mut uncommitted = false;
                while !stop.load(Ordering::Relaxed) {
                    if paused.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                        read.fetch_add(1, Ordering::Relaxed);
                        uncommitted = true;
                    }
                    if uncommitted && last_commit.elapsed() >= Duration::from_millis(200) {
                        if consumer.commit_consumer_state(CommitMode::Sync).is_ok() {
                            uncommitted = false;
                        }
                        last_commit = Instant::now();
                    }
                }
                if uncommitted {
                    let _ = consumer.commit_consumer_state(CommitMode::Sync);
                }
                consumer.unsubscribe();
                drop(consumer);
            })
        };
        Member {
            stop,
            paused,
            read,
            thread: Some(thread),
        }
    }

    fn read(&self) -> usize {
        self.read.load(Ordering::Relaxed)
    }

    /// Commits what it read, leaves the group and closes.
    fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("member thread");
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Produces `rate` messages/s round-robin over `partitions` for `seconds`;
/// returns (messages acknowledged, seconds it took).
fn produce_steadily(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rate: u32,
    seconds: u32,
) -> (usize, f64) {
    let producer: ThreadedProducer<DefaultProducerContext> = client(bootstrap)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .expect("producer");
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let key = i.to_string();
        let mut record = BaseRecord::to(topic)
            .key(&key)
            .payload("steady")
            .partition(i as i32 % partitions);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    (total, started.elapsed().as_secs_f64())
}

/// Scenario 1: known production per partition, commits from a non-member
/// and from real subscribed consumers over two topics; offsets, depth and
/// lag equal the oracle; rates equal the clients' own counts.
async fn exact_numbers(cluster: &KafkaCluster, tag: &str) {
    let bootstrap = &cluster.bootstrap;
    let (running, base) = start_pulse(cluster).await;
    let orders = format!("s1-orders-{tag}");
    let refunds = format!("s1-refunds-{tag}");
    create_topic(bootstrap, &orders, 3, 1).await;
    create_topic(bootstrap, &refunds, 2, 1).await;
    produce_split(bootstrap, &orders, &[(0, 50), (1, 100), (2, 150)]).await;
    produce_split(bootstrap, &refunds, &[(0, 30), (1, 70)]).await;

    // A non-member commit (assign + commit, as tools and stream processors do).
    let manual = format!("s1-manual-{tag}");
    consume_and_commit(bootstrap, &manual, &orders, &[(0, 20), (1, 100), (2, 30)]).await;
    // A real subscribed consumer over both topics that reads everything.
    let subscribed = format!("s1-subscribed-{tag}");
    let member = Member::start(bootstrap, &subscribed, &[&orders, &refunds], "classic");
    let deadline = Instant::now() + WAIT;
    while member.read() < 400 {
        assert!(
            Instant::now() < deadline,
            "subscribed consumer read {}",
            member.read()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let its last commit land before the oracle looks.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let depth = wait_for_json(&base, &format!("/api/v1/topics/{orders}"), WAIT, |body| {
        body["depth"] == 300
    })
    .await;
    for (partition, made) in [(0, 50), (1, 100), (2, 150)] {
        let row = depth["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["partition"] == partition)
            .unwrap();
        assert_eq!(row["high_watermark"], made);
        assert_eq!(row["low_watermark"], 0);
        assert_eq!(row["depth"], made);
    }
    wait_for_json(&base, &format!("/api/v1/groups/{manual}"), WAIT, |body| {
        body["lag"] == 150
    })
    .await;
    wait_for_json(
        &base,
        &format!("/api/v1/groups/{subscribed}"),
        WAIT,
        |body| body["lag"] == 0,
    )
    .await;
    assert_matches_oracle(cluster, &base, &manual).await;
    assert_matches_oracle(cluster, &base, &subscribed).await;

    // Rates: a steady producer and the subscribed consumer; kafka-pulse's
    // rates over the steady part equal their own counts per second.
    let producer_bootstrap = bootstrap.clone();
    let orders_for_producer = orders.clone();
    let (produced, took) = tokio::task::spawn_blocking(move || {
        produce_steadily(&producer_bootstrap, &orders_for_producer, 3, 200, 8)
    })
    .await
    .unwrap();
    let wanted_read = 400 + produced;
    let deadline = Instant::now() + WAIT;
    while member.read() < wanted_read {
        assert!(Instant::now() < deadline, "consumer read {}", member.read());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let produced_rate = produced as f64 / took;
    let series = get_json(&base, &format!("/api/v1/series?topic={orders}"))
        .await
        .1;
    let points = series["points"].as_array().expect("points").clone();
    // The middle of the steady part: skip the first and last 1.5 s.
    let times: Vec<f64> = points
        .iter()
        .map(|p| {
            chrono::DateTime::parse_from_rfc3339(p["time"].as_str().unwrap())
                .unwrap()
                .timestamp_millis() as f64
                / 1000.0
        })
        .collect();
    let active: Vec<usize> = (0..points.len())
        .filter(|&i| points[i]["messages_in_per_sec"].as_f64().unwrap_or(0.0) > 0.0)
        .collect();
    let (first, last) = (times[active[0]], times[*active.last().unwrap()]);
    let middle: Vec<&Value> = active
        .iter()
        .filter(|&&i| times[i] > first + 1.5 && times[i] < last - 1.5)
        .map(|&i| &points[i])
        .collect();
    assert!(
        middle.len() >= 8,
        "too few steady samples: {}",
        middle.len()
    );
    let mean = |field: &str| {
        middle
            .iter()
            .map(|p| p[field].as_f64().unwrap())
            .sum::<f64>()
            / middle.len() as f64
    };
    let in_rate = mean("messages_in_per_sec");
    // Stated tolerance: ±15 % of the producer's own rate (ticks of 250 ms
    // see batches of 5 ms linger; the mean over ≥ 8 ticks smooths them).
    assert!(
        (in_rate - produced_rate).abs() <= produced_rate * 0.15,
        "in-rate {in_rate:.1}/s vs producer's {produced_rate:.1}/s"
    );
    let out_rate = mean("messages_out_per_sec");
    assert!(
        (out_rate - produced_rate).abs() <= produced_rate * 0.25,
        "out-rate {out_rate:.1}/s vs consumer's {produced_rate:.1}/s (it keeps up)"
    );
    // Everything produced shows: the in-rate integrated over time is the
    // count (the first 300 messages and the steady part).
    let integral: f64 = (1..points.len())
        .map(|i| points[i]["messages_in_per_sec"].as_f64().unwrap() * (times[i] - times[i - 1]))
        .sum();
    let all = (300 + produced) as f64;
    assert!(
        (integral - all).abs() <= all * 0.02,
        "∫ in-rate dt = {integral:.0} vs {all} produced"
    );
    member.leave();
    assert_matches_oracle(cluster, &base, &subscribed).await;
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_numbers_match_kafka_tools_on_current_kafka() {
    let Some(cluster) = current() else { return };
    exact_numbers(cluster, "current").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_numbers_match_kafka_tools_on_kafka_3() {
    let Some(cluster) = legacy() else { return };
    exact_numbers(cluster, "legacy").await;
}

/// Scenario 2: group states and members, classic and KIP-848, equal the
/// oracle's; a group that left shows STOP with "no members".
async fn group_states(cluster: &KafkaCluster, tag: &str) {
    let bootstrap = &cluster.bootstrap;
    let (running, base) = start_pulse(cluster).await;
    let topic = format!("s2-events-{tag}");
    create_topic(bootstrap, &topic, 4, 1).await;
    produce_split(bootstrap, &topic, &[(0, 40), (1, 40), (2, 40), (3, 40)]).await;

    // Classic group with two members.
    let pair = format!("s2-pair-{tag}");
    let first = Member::start(bootstrap, &pair, &[&topic], "classic");
    let second = Member::start(bootstrap, &pair, &[&topic], "classic");
    let detail = wait_for_json(&base, &format!("/api/v1/groups/{pair}"), WAIT, |body| {
        body["state"] == "Stable"
            && body["members"].as_array().is_some_and(|m| m.len() == 2)
            && body["lag"] == 0
    })
    .await;
    assert_eq!(detail["group_type"], "classic", "{detail}");
    let assigned: usize = detail["members"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["assignment"].as_array().unwrap().iter())
        .map(|a| a["partitions"].as_array().unwrap().len())
        .sum();
    assert_eq!(assigned, 4, "every partition assigned once: {detail}");
    let (state, members) = oracle_state(cluster, &pair);
    assert_eq!((mapped_state(&state), members), ("Stable", 2));

    // A group that left: Empty with its commits, then STOP naming "no members".
    let gone = format!("s2-gone-{tag}");
    let leaver = Member::start(bootstrap, &gone, &[&topic], "classic");
    let deadline = Instant::now() + WAIT;
    while leaver.read() < 60 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    leaver.paused.store(true, Ordering::Relaxed);
    leaver.leave();
    // Traffic after it left: lag with nobody to read it.
    produce_split(bootstrap, &topic, &[(0, 30)]).await;
    let detail = wait_for_json(&base, &format!("/api/v1/groups/{gone}"), WAIT, |body| {
        body["state"] == "Empty" && body["status"] == "STOP"
    })
    .await;
    assert!(
        detail["reason"].as_str().unwrap().contains("no members"),
        "{detail}"
    );
    assert_eq!(detail["members"].as_array().map(Vec::len), Some(0));
    let (state, members) = oracle_state(cluster, &gone);
    assert_eq!((mapped_state(&state), members), ("Empty", 0));

    // KIP-848 consumer groups (not on 3.9, where the protocol was preview).
    if cluster.is_4x() {
        let modern = format!("s2-modern-{tag}");
        let a = Member::start(bootstrap, &modern, &[&topic], "consumer");
        let b = Member::start(bootstrap, &modern, &[&topic], "consumer");
        let detail = wait_for_json(&base, &format!("/api/v1/groups/{modern}"), WAIT, |body| {
            body["state"] == "Stable"
                && body["members"].as_array().is_some_and(|m| {
                    m.len() == 2
                        && m.iter()
                            .flat_map(|m| m["assignment"].as_array().unwrap().iter())
                            .map(|a| a["partitions"].as_array().unwrap().len())
                            .sum::<usize>()
                            == 4
                })
                && body["lag"] == 0
        })
        .await;
        assert_eq!(detail["group_type"], "consumer", "{detail}");
        assert_eq!(detail["status"], "OK", "{detail}");
        let (state, members) = oracle_state(cluster, &modern);
        assert_eq!((mapped_state(&state), members), ("Stable", 2));
        assert_matches_oracle(cluster, &base, &modern).await;
        a.leave();
        b.leave();
        let detail = wait_for_json(&base, &format!("/api/v1/groups/{modern}"), WAIT, |body| {
            body["state"] == "Empty"
        })
        .await;
        assert_ne!(detail["status"], "DEAD", "{detail}");
        let (state, _) = oracle_state(cluster, &modern);
        assert_eq!(mapped_state(&state), "Empty");
        let (_, list) = get_json(&base, "/api/v1/groups").await;
        let listed = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == modern.as_str())
            .unwrap_or_else(|| panic!("{modern} not listed: {list}"));
        assert_eq!(listed["group_type"], "consumer");
    }

    // A rebalancing classic group: one member stops polling, a new one
    // joins; the group waits in PreparingRebalance for the stuck member.
    first.paused.store(true, Ordering::Relaxed);
    let third = Member::start(bootstrap, &pair, &[&topic], "classic");
    let detail = wait_for_json(&base, &format!("/api/v1/groups/{pair}"), WAIT, |body| {
        body["state"] == "PreparingRebalance" || body["state"] == "CompletingRebalance"
    })
    .await;
    let (state, _) = oracle_state(cluster, &pair);
    assert!(
        state.contains("Rebalance"),
        "oracle says {state}, kafka-pulse {detail}"
    );
    assert_ne!(detail["status"], "DEAD");
    first.paused.store(false, Ordering::Relaxed);
    wait_for_json(&base, &format!("/api/v1/groups/{pair}"), WAIT, |body| {
        body["state"] == "Stable" && body["members"].as_array().is_some_and(|m| m.len() == 3)
    })
    .await;
    first.leave();
    second.leave();
    third.leave();
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_states_and_members_match_kafka_tools_on_current_kafka() {
    let Some(cluster) = current() else { return };
    group_states(cluster, "current").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_states_and_members_match_kafka_tools_on_kafka_3() {
    let Some(cluster) = legacy() else { return };
    group_states(cluster, "legacy").await;
}

/// A share group (KIP-932) made by Kafka's console share consumer is listed
/// with type "share", described, and never counted as a dead consumer group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn share_groups_are_listed_as_share_groups_never_dead() {
    let Some(cluster) = current() else { return };
    let bootstrap = &cluster.bootstrap;
    let (running, base) = start_pulse(cluster).await;
    let topic = "s2-share-jobs";
    create_topic(bootstrap, topic, 2, 1).await;
    produce_split(bootstrap, topic, &[(0, 10), (1, 10)]).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("share-consumer.log");
    let _share = cluster
        .spawn_tool(
            "org.apache.kafka.tools.consumer.ConsoleShareConsumer",
            &[
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--group",
                "s2-share-workers",
            ],
            &log,
        )
        .expect("console share consumer");
    let detail = wait_for_json(&base, "/api/v1/groups/s2-share-workers", WAIT, |body| {
        body["group_type"] == "share" && body["state"] == "Stable"
    })
    .await;
    assert_eq!(
        detail["members"].as_array().map(Vec::len),
        Some(1),
        "{detail}"
    );
    assert_ne!(detail["status"], "DEAD", "{detail}");
    assert_ne!(detail["status"], "STOP", "{detail}");
    assert!(
        detail["reason"].as_str().unwrap().contains("share group"),
        "{detail}"
    );
    let (_, metrics) = get_text(&base, "/metrics").await;
    assert_eq!(
        metric(
            &metrics,
            "kafka_pulse_group_status{group=\"s2-share-workers\",status=\"DEAD\"}"
        ),
        Some(0.0)
    );
    running.stop().await.expect("clean stop");
}

/// Scenario 4: partitions added to a consumed topic; DeleteRecords moving
/// the log start past a group's committed offset (lost, not lag); a topic
/// deleted and re-created with the same name (no negative rates).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topology_changes_and_deleted_records() {
    let Some(cluster) = current() else { return };
    let bootstrap = &cluster.bootstrap;
    let (running, base) = start_pulse(cluster).await;
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create().expect("admin");

    // Partitions added: an event, and the new partitions count in the lag.
    let topic = "s4-grow";
    create_topic(bootstrap, topic, 2, 1).await;
    produce_split(bootstrap, topic, &[(0, 10), (1, 10)]).await;
    consume_and_commit(bootstrap, "s4-grow-reader", topic, &[(0, 10), (1, 10)]).await;
    wait_for_json(&base, "/api/v1/groups/s4-grow-reader", WAIT, |b| {
        b["lag"] == 0
    })
    .await;
    admin
        .create_partitions(&[NewPartitions::new(topic, 4)], &AdminOptions::new())
        .await
        .expect("create partitions")
        .into_iter()
        .for_each(|r| {
            r.expect("partitions added");
        });
    produce_split(bootstrap, topic, &[(2, 7), (3, 5)]).await;
    wait_for_json(&base, "/api/v1/groups/s4-grow-reader", WAIT, |b| {
        b["lag"] == 12
    })
    .await;
    wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"].as_array().is_some_and(|list| {
            list.iter()
                .any(|e| e["kind"] == "partitions_added" && e["topic"] == topic)
        })
    })
    .await;

    // DeleteRecords past a committed offset.
    let trimmed = "s4-trimmed";
    create_topic(bootstrap, trimmed, 1, 1).await;
    produce_split(bootstrap, trimmed, &[(0, 1000)]).await;
    consume_and_commit(bootstrap, "s4-slow", trimmed, &[(0, 100)]).await;
    wait_for_json(&base, "/api/v1/groups/s4-slow", WAIT, |b| b["lag"] == 900).await;
    let mut cut = TopicPartitionList::new();
    cut.add_partition_offset(trimmed, 0, Offset::Offset(600))
        .unwrap();
    admin
        .delete_records(&cut, &AdminOptions::new())
        .await
        .expect("delete records");
    let detail = wait_for_json(&base, "/api/v1/groups/s4-slow", WAIT, |b| {
        b["lost_messages"] == 500
    })
    .await;
    // Lag counts only messages that still exist: 1,000 − 600.
    assert_eq!(detail["lag"], 400, "{detail}");
    let row = partition_row(&detail, trimmed, 0);
    assert_eq!(row["lost_messages"], 500);
    assert_eq!(row["committed_offset"], 100);
    assert!(
        detail["reason"]
            .as_str()
            .unwrap()
            .contains("500 messages lost"),
        "{detail}"
    );
    let (_, metrics) = get_text(&base, "/metrics").await;
    assert_eq!(
        metric(
            &metrics,
            "kafka_pulse_group_lost_messages{group=\"s4-slow\"}"
        ),
        Some(500.0)
    );
    wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"].as_array().is_some_and(|list| {
            list.iter()
                .any(|e| e["kind"] == "messages_lost" && e["group"] == "s4-slow")
        })
    })
    .await;
    // The oracle subtracts the committed offset: its LAG includes what was
    // deleted. kafka-pulse's lag + lost equals it.
    let rows = oracle_offsets(cluster, "s4-slow");
    assert_eq!(rows[0].lag, Some(900));
    assert_eq!(
        detail["lag"].as_i64().unwrap() + detail["lost_messages"].as_i64().unwrap(),
        900
    );

    // Deleted and re-created with the same name: rates never go negative.
    let again = "s4-again";
    create_topic(bootstrap, again, 1, 1).await;
    produce_split(bootstrap, again, &[(0, 500)]).await;
    wait_for_json(&base, &format!("/api/v1/topics/{again}"), WAIT, |b| {
        b["depth"] == 500
    })
    .await;
    admin
        .delete_topics(&[again], &AdminOptions::new())
        .await
        .expect("delete topic");
    wait_for_json(&base, "/api/v1/topics", WAIT, |body| {
        body["topics"]
            .as_array()
            .is_some_and(|list| list.iter().all(|t| t["name"] != again))
    })
    .await;
    create_topic(bootstrap, again, 1, 1).await;
    produce_split(bootstrap, again, &[(0, 20)]).await;
    wait_for_json(&base, &format!("/api/v1/topics/{again}"), WAIT, |b| {
        b["depth"] == 20
    })
    .await;
    fresh_sample(&base).await;
    let series = get_json(&base, &format!("/api/v1/series?topic={again}"))
        .await
        .1;
    for point in series["points"].as_array().into_iter().flatten() {
        assert!(
            point["messages_in_per_sec"].as_f64().unwrap() >= 0.0,
            "negative rate after re-creation: {point}"
        );
    }
    running.stop().await.expect("clean stop");
}

/// The watchdog: a process started under it dies when its owner's pipe
/// closes, as it does when the test binary exits or is killed.
#[test]
fn watched_processes_die_with_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let mut watched = common::kafka_cluster::Watched::spawn(
        &["sleep".to_string(), "300".to_string()],
        &dir.path().join("log"),
    )
    .expect("spawn");
    let pid = watched.pid;
    assert!(common::kafka_cluster::process_alive(pid));
    watched.close();
    let deadline = Instant::now() + Duration::from_secs(5);
    while common::kafka_cluster::process_alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} outlived its pipe");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// python confluent-kafka's own view equals kafka-pulse's on real Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confluent_kafka_agrees_on_real_kafka() {
    use common::crosscheck::{confluent_kafka_agrees, confluent_kafka_available};
    let Some(cluster) = current() else { return };
    if require(confluent_kafka_available()).is_none() {
        return;
    }
    let (running, base) = start_pulse(cluster).await;
    confluent_kafka_agrees(&base, &cluster.bootstrap, "s1-cross", "s1-cross-group").await;
    running.stop().await.expect("clean stop");
}

/// Scenario 6: messages stamped an hour ago. With --exact-lag-fetches the
/// lag in seconds is their real age (±2 s); without, the interpolated
/// estimate only knows when kafka-pulse saw them arrive (README).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_time_lag_is_the_real_age_on_real_kafka() {
    let Some(cluster) = current() else { return };
    let bootstrap = &cluster.bootstrap;
    let mut config = test_config(Some(bootstrap.clone()), None);
    config.exact_lag_fetches = 10;
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    create_topic(bootstrap, "s6-aged", 1, 1).await;
    produce_aged(bootstrap, "s6-aged", 20, 3_600_000).await;
    let produced_at = chrono::Utc::now().timestamp_millis() - 3_600_000;
    consume_and_commit(bootstrap, "s6-aged-reader", "s6-aged", &[(0, 5)]).await;
    let detail = wait_for_json(&base, "/api/v1/groups/s6-aged-reader", WAIT, |body| {
        body["partitions"][0]["lag_seconds_exact"] == true
    })
    .await;
    let partition = &detail["partitions"][0];
    assert_eq!(partition["lag"], 15);
    // The message at offset 5 was stamped 5 s after the first.
    let age = (chrono::Utc::now().timestamp_millis() - (produced_at + 5_000)) as f64 / 1000.0;
    let lag_seconds = partition["lag_seconds"].as_f64().unwrap();
    assert!(
        (lag_seconds - age).abs() <= 2.0 + 0.5,
        "exact lag_seconds {lag_seconds:.1} vs real age {age:.1} ({detail})"
    );
    running.stop().await.expect("clean stop");
}

/// Scenario 5: committed and aborted transactions leave control records
/// in the log; a read_committed consumer that read everything has lag 0
/// (no phantom lag from the markers), as the oracle says too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transactions_leave_no_phantom_lag() {
    let Some(cluster) = current() else { return };
    let bootstrap = cluster.bootstrap.clone();
    let (running, base) = start_pulse(cluster).await;
    let topic = "s5-ledger";
    create_topic(&bootstrap, topic, 2, 1).await;
    let writer_bootstrap = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = client(&writer_bootstrap)
            .set("transactional.id", "s5-writer")
            .create()
            .expect("transactional producer");
        producer
            .init_transactions(Duration::from_secs(30))
            .expect("init transactions");
        for (round, commit) in [(0, true), (1, false), (2, true)] {
            producer.begin_transaction().expect("begin");
            for i in 0..50 {
                let key = format!("{round}-{i}");
                producer
                    .send(
                        BaseRecord::to(topic)
                            .key(&key)
                            .payload("entry")
                            .partition(i % 2),
                    )
                    .map_err(|(e, _)| e)
                    .expect("send");
            }
            // Sent before the abort: an abort purges what is still queued.
            producer.flush(Duration::from_secs(30)).expect("flush");
            if commit {
                producer
                    .commit_transaction(Duration::from_secs(30))
                    .expect("commit");
            } else {
                producer
                    .abort_transaction(Duration::from_secs(30))
                    .expect("abort");
            }
        }
    })
    .await
    .unwrap();
    // 150 records + 3 markers per partition: the log ends past the data.
    let reader_bootstrap = bootstrap.clone();
    let read = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client(&reader_bootstrap)
            .set("group.id", "s5-auditor")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut read = 0;
        let deadline = Instant::now() + WAIT;
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_secs(3) {
            assert!(Instant::now() < deadline, "read {read}");
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                read += 1;
                quiet_since = Instant::now();
            }
        }
        consumer
            .commit_consumer_state(CommitMode::Sync)
            .expect("commit");
        consumer.unsubscribe();
        read
    })
    .await
    .unwrap();
    assert_eq!(
        read, 100,
        "read_committed sees the two committed transactions"
    );
    let detail = wait_for_json(&base, "/api/v1/groups/s5-auditor", WAIT, |body| {
        body["partitions"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    assert_eq!(detail["lag"], 0, "control records are not lag: {detail}");
    for partition in detail["partitions"].as_array().unwrap() {
        // 75 records and 3 markers per partition.
        assert_eq!(partition["high_watermark"], 78, "{partition}");
        assert_eq!(partition["committed_offset"], 78, "{partition}");
    }
    assert_matches_oracle(cluster, &base, "s5-auditor").await;
    running.stop().await.expect("clean stop");
}

/// Scenario 3: SIGKILL one of three brokers (the group's coordinator):
/// broker_down, leaders moved, under-replicated partitions on /brokers,
/// the API and /metrics; restart: recovered. Across the failover no false
/// group status alarms and no negative or spiking rates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_broker_is_reported_and_recovers() {
    let Some(cluster) = trio() else { return };
    let bootstrap = cluster.bootstrap.clone();
    let mut config = test_config(None, None);
    config.brokers = Some(bootstrap.split(',').map(String::from).collect());
    // The production interval: the status window (10 samples) spans 10 s,
    // longer than a coordinator failover.
    config.interval = Duration::from_secs(1);
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let topic = "s3-replicated";
    create_topic(&bootstrap, topic, 6, 3).await;

    // Steady traffic for the whole test, and a group reading it.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (bootstrap, stop) = (bootstrap.clone(), stop.clone());
        std::thread::spawn(move || {
            let producer: ThreadedProducer<DefaultProducerContext> = client(&bootstrap)
                .set("linger.ms", "5")
                .set("acks", "all")
                .create()
                .expect("producer");
            let mut sent = 0u64;
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let due = started + Duration::from_millis(sent * 10);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let key = sent.to_string();
                if producer
                    .send(BaseRecord::to(topic).key(&key).payload("tick"))
                    .is_ok()
                {
                    sent += 1;
                }
            }
            producer.flush(Duration::from_secs(30)).ok();
        })
    };
    let member = Member::start(&bootstrap, "s3-readers", &[topic], "classic");
    wait_for_json(&base, "/api/v1/groups/s3-readers", WAIT, |body| {
        body["status"] == "OK" && body["messages_out_per_sec"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let (_, brokers) = get_json(&base, "/api/v1/brokers").await;
    assert_eq!(brokers["brokers"].as_array().unwrap().len(), 3, "{brokers}");
    assert_eq!(brokers["under_replicated_partitions"], 0, "{brokers}");

    // The victim: the group's coordinator, so its move is exercised too.
    let client = kafka_pulse::collector::kafka::KafkaClient::new(
        bootstrap.split(',').map(String::from).collect(),
        "test",
        Duration::from_secs(5),
    );
    client.metadata().await.expect("metadata");
    let coordinators = client
        .find_coordinators(&["s3-readers".to_string()])
        .await
        .expect("find coordinator");
    let victim = coordinators["s3-readers"].clone().expect("coordinator");

    // Watch every sample from here on.
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (base, watching) = (base.clone(), watching.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while watching.load(Ordering::Relaxed) {
                let (_, group) = get_json(&base, "/api/v1/groups/s3-readers").await;
                let (_, topic) = get_json(&base, "/api/v1/topics/s3-replicated").await;
                seen.push((group, topic));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            seen
        })
    };
    cluster.kill_node(victim);
    let down = format!("broker {victim}");
    wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"].as_array().is_some_and(|list| {
            list.iter()
                .any(|e| e["kind"] == "broker_down" && e["subject"] == down.as_str())
        })
    })
    .await;
    let brokers = wait_for_json(&base, "/api/v1/brokers", WAIT, |body| {
        body["under_replicated_partitions"]
            .as_u64()
            .is_some_and(|n| n > 0)
            && body["brokers"].as_array().is_some_and(|b| b.len() == 2)
    })
    .await;
    assert_eq!(
        brokers["offline_partitions"], 0,
        "RF 3 keeps every partition online"
    );
    let (_, metrics) = get_text(&base, "/metrics").await;
    assert!(
        metric(&metrics, "kafka_pulse_under_replicated_partitions").is_some_and(|n| n > 0.0),
        "under-replicated partitions on /metrics"
    );
    let (_, detail) = get_json(&base, &format!("/api/v1/topics/{topic}")).await;
    for partition in detail["partitions"].as_array().unwrap() {
        assert_ne!(
            partition["leader"], victim,
            "leader moved off the dead broker: {partition}"
        );
    }
    wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"].as_array().is_some_and(|list| {
            list.iter()
                .any(|e| e["kind"] == "leader_changed" && e["topic"] == topic)
        })
    })
    .await;

    // Back: broker_up, nothing under-replicated.
    cluster.start_node(victim).expect("restart broker");
    wait_for_json(&base, "/api/v1/brokers", Duration::from_secs(90), |body| {
        body["brokers"].as_array().is_some_and(|b| b.len() == 3)
            && body["under_replicated_partitions"] == 0
    })
    .await;
    wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e["kind"] == "broker_up"))
    })
    .await;
    // A few more samples of normal operation, then judge what was seen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    watching.store(false, Ordering::Relaxed);
    let seen = watcher.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    member.leave();
    assert!(seen.len() > 20, "only {} observations", seen.len());
    for (group, topic) in &seen {
        let status = group["status"].as_str().unwrap_or("");
        assert!(
            matches!(status, "OK" | "WARN"),
            "false alarm during the failover: {group}"
        );
        assert!(
            topic["messages_in_per_sec"].as_f64().unwrap_or(0.0) >= 0.0,
            "negative rate: {topic}"
        );
        let out = group["messages_out_per_sec"].as_f64().unwrap_or(0.0);
        assert!(out >= 0.0, "negative out-rate: {group}");
    }
    // Rates neither invent nor lose messages across the failover: the
    // in-rate integrated over every sample is what the log grew by. (The
    // producer's backlog for the dead leader's partitions does arrive in a
    // burst after the failover: a real spike, counted once.)
    fresh_sample(&base).await;
    let series = get_json(&base, &format!("/api/v1/series?topic={topic}"))
        .await
        .1;
    let points = series["points"].as_array().expect("points");
    let time = |p: &Value| {
        chrono::DateTime::parse_from_rfc3339(p["time"].as_str().unwrap())
            .unwrap()
            .timestamp_millis() as f64
            / 1000.0
    };
    let integral: f64 = points
        .windows(2)
        .map(|w| w[1]["messages_in_per_sec"].as_f64().unwrap() * (time(&w[1]) - time(&w[0])))
        .sum();
    let grown = (points.last().unwrap()["depth"].as_i64().unwrap()
        - points[0]["depth"].as_i64().unwrap()) as f64;
    let trace: Vec<String> = points
        .iter()
        .map(|p| format!("{} {} {}", p["time"], p["messages_in_per_sec"], p["depth"]))
        .collect();
    assert!(
        (integral - grown).abs() <= grown * 0.03 + 5.0,
        "∫ in-rate dt = {integral:.0} but the log grew by {grown}; points (time, in/s, depth):\n{}",
        trace.join("\n")
    );
    running.stop().await.expect("clean stop");
}

/// Scenario 7: replay topic to topic on real Kafka, byte-exact with keys,
/// headers, partitions and timestamps (the idempotent writer, acks=all).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_is_byte_exact_on_real_kafka() {
    let Some(cluster) = current() else { return };
    common::replay_checks::replay_is_byte_exact(&cluster.bootstrap, "s7-").await;
}

/// Scenario 7: export, import and the message browser on real Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_import_and_the_message_browser_work_on_real_kafka() {
    let Some(cluster) = current() else { return };
    let (running, base) = start_pulse(cluster).await;
    common::replay_checks::export_import_and_browse(&base, &cluster.bootstrap, "s7-").await;
    running.stop().await.expect("clean stop");
}

/// Scenario 7: `--demo --brokers` creates the demo topics and groups on a
/// real cluster, and there every group has a described state and members
/// (the embedded broker can only infer them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_traffic_runs_on_real_kafka_with_described_groups() {
    let Some(cluster) = current() else { return };
    let mut config = test_config(Some(cluster.bootstrap.clone()), None);
    config.demo = true;
    let running = app::start(config).await.expect("start with --demo");
    let base = format!("http://{}", running.web_addr);
    let groups = wait_for_json(&base, "/api/v1/groups", WAIT, |body| {
        let list = body["groups"].as_array().cloned().unwrap_or_default();
        ["order-service", "analytics-etl", "fraud-detector"]
            .iter()
            .all(|name| {
                list.iter()
                    .any(|g| g["group"] == *name && g["state"] == "Stable" && g["members"] == 1)
            })
    })
    .await;
    for group in groups["groups"].as_array().unwrap() {
        assert_ne!(group["state"], "Unknown", "{group}");
        assert_ne!(group["status"], "DEAD", "{group}");
    }
    let topics = wait_for_json(&base, "/api/v1/topics", WAIT, |body| {
        body["topics"].as_array().is_some_and(|list| {
            ["orders", "payments", "page-views"].iter().all(|name| {
                list.iter().any(|t| {
                    t["name"] == *name && t["messages_in_per_sec"].as_f64().unwrap_or(0.0) > 0.0
                })
            })
        })
    })
    .await;
    assert!(topics["topics"].as_array().unwrap().len() >= 3);
    let (_, html) = get_text(&base, "/").await;
    assert!(
        !html.contains("(inferred)"),
        "real Kafka describes its groups"
    );
    running.stop().await.expect("clean stop");
}

/// The oracle's parser on the recorded output of both pinned versions
/// (testing/kafka/samples): every state row and offset row is read whole,
/// including 3.9's empty ASSIGNMENT-STRATEGY cell.
#[test]
fn oracle_parser_reads_the_recorded_outputs_of_both_versions() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testing/kafka/samples");
    let mut checked = 0;
    for version in [versions().current, versions().legacy] {
        for entry in std::fs::read_dir(root.join(&version)).expect("samples of a pinned version") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            if name.ends_with(".describe-state") {
                let rows = parse_table(&text, "GROUP");
                assert_eq!(rows.len(), 1, "{name}: {rows:?}");
                assert!(!rows[0]["STATE"].is_empty(), "{name}: {rows:?}");
                rows[0]["#MEMBERS"]
                    .parse::<i64>()
                    .unwrap_or_else(|_| panic!("{name}: {rows:?}"));
                checked += 1;
            } else if name.ends_with(".describe")
                && !name.starts_with("no-such")
                && !name.starts_with("share")
            {
                let rows = parse_table(&text, "GROUP");
                assert!(!rows.is_empty(), "{name}");
                for row in &rows {
                    row["PARTITION"]
                        .parse::<i32>()
                        .unwrap_or_else(|_| panic!("{name}: {row:?}"));
                    row["LOG-END-OFFSET"]
                        .parse::<i64>()
                        .unwrap_or_else(|_| panic!("{name}: {row:?}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 16, "only {checked} samples checked");
}

/// A broker that hangs (SIGSTOP) rather than dies: reported down within a
/// bounded time while the dashboard stays responsive, and its recovery is
/// stamped when it was observed, not when the waiting request was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_broker_and_a_dead_cluster_are_reported_and_recover() {
    let Some(cluster) = hung() else { return };
    let mut config = test_config(Some(cluster.bootstrap.clone()), None);
    config.request_timeout = Duration::from_secs(2);
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    wait_for_json(&base, "/api/v1/health", WAIT, |b| b["kafka_up"] == true).await;

    cluster.signal_node(1, "STOP");
    let stopped = Instant::now();
    let mut slowest_page = Duration::ZERO;
    loop {
        let asked = Instant::now();
        let (status, _) = get_text(&base, "/").await;
        assert_eq!(status, 200);
        slowest_page = slowest_page.max(asked.elapsed());
        let (_, health) = get_json(&base, "/api/v1/health").await;
        if health["kafka_up"] == false {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "a hung broker was not reported down within 15 s: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reported_after = stopped.elapsed();
    // Hang for a while longer, then resume.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.signal_node(1, "CONT");
    let resumed = chrono::Utc::now();
    let events = wait_for_json(&base, "/api/v1/events?limit=1000", WAIT, |body| {
        body["events"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e["kind"] == "kafka_up"))
    })
    .await;
    let up = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "kafka_up")
        .unwrap();
    let stamped = chrono::DateTime::parse_from_rfc3339(up["timestamp"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!(
        stamped >= resumed - chrono::Duration::milliseconds(200),
        "kafka_up stamped {stamped}, the broker resumed at {resumed}"
    );
    assert!(
        slowest_page < Duration::from_secs(1),
        "the dashboard took {slowest_page:?} while the broker hung"
    );
    eprintln!("hung broker reported down after {reported_after:?}; slowest page {slowest_page:?}");

    // The whole cluster dies (kill -9 of its only node) and comes back with
    // its data: down and up are reported, and the numbers read before are
    // read again, with no rate spike from the gap and no status alarm.
    create_topic(&cluster.bootstrap, "h-orders", 2, 1).await;
    produce_split(&cluster.bootstrap, "h-orders", &[(0, 40), (1, 60)]).await;
    consume_and_commit(
        &cluster.bootstrap,
        "h-readers",
        "h-orders",
        &[(0, 30), (1, 50)],
    )
    .await;
    let lag_of = |body: &Value| body["lag"].as_i64();
    let before = wait_for_json(&base, "/api/v1/groups/h-readers", WAIT, |b| {
        lag_of(b) == Some(20)
    })
    .await;
    // Nothing is produced from here on: any in-rate after it is false.
    let killed_at = chrono::Utc::now();
    cluster.kill_node(1);
    wait_for_json(&base, "/api/v1/health", WAIT, |b| b["kafka_up"] == false).await;
    cluster.start_node(1).expect("restart the cluster");
    wait_for_json(&base, "/api/v1/health", WAIT, |b| b["kafka_up"] == true).await;
    let after = wait_for_json(&base, "/api/v1/groups/h-readers", WAIT, |b| {
        lag_of(b) == Some(20)
    })
    .await;
    assert_eq!(after["status"], before["status"], "{before} → {after}");
    wait_for_samples(&base, 3, WAIT).await;
    let (_, topic) = get_json(&base, "/api/v1/topics/h-orders").await;
    assert_eq!(topic["depth"], 100, "{topic}");
    let (_, series) = get_json(&base, "/api/v1/series?topic=h-orders").await;
    let after_kill: Vec<f64> = series["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points in {series}"))
        .iter()
        .filter(|p| {
            p["time"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t > killed_at)
        })
        .filter_map(|p| p["messages_in_per_sec"].as_f64())
        .collect();
    assert!(after_kill.len() >= 3, "{series}");
    assert!(
        after_kill.iter().all(|rate| *rate == 0.0),
        "in-rates after the restart, with nothing produced: {after_kill:?}"
    );
    let (_, events) = get_json(&base, "/api/v1/events?limit=1000").await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.iter().filter(|k| **k == "kafka_up").count() >= 2,
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"lag_threshold_crossed"),
        "no alarm from the restart: {kinds:?}"
    );
    running.stop().await.expect("clean stop");
}

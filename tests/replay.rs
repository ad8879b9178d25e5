//! Replay, export and import end to end on the embedded broker. Source data
//! is produced and target data read back with plain rdkafka clients, not
//! with kafka-pulse's own reader, so a bug in the reader cannot hide itself.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use common::{get_json, get_text, test_config, wait_for_json};
use kafka_pulse::app::{self, RunningApp};
use kafka_pulse::demo::ensure_topic;
use kafka_pulse::replay::run::Progress;
use kafka_pulse::replay::spec::{ReplayRequest, ReplaySpec};
use kafka_pulse::replay::{prepare_replay, ReplayError};

/// What the tests compare: everything a replay must keep.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

type HeaderPair = (String, Option<Vec<u8>>);
/// Key, value and headers: what a replay copies without change.
type Content = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<HeaderPair>);

impl Msg {
    fn content(&self) -> Content {
        (self.key.clone(), self.value.clone(), self.headers.clone())
    }
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3");
    config
}

/// Equal, or a panic naming the first difference (not both whole lists).
fn assert_same(got: &[Msg], want: &[Msg], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: message {i} differs:\n got  {g:?}\n want {w:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: message count");
}

fn by_partition(mut messages: Vec<Msg>) -> Vec<Msg> {
    messages.sort_by_key(|m| (m.partition, m.offset));
    messages
}

async fn produce(bootstrap: &str, topic: &str, messages: &[Msg]) {
    let producer: FutureProducer = client(bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    let mut deliveries = Vec::new();
    for message in messages {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &message.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
            .partition(message.partition)
            .timestamp(message.timestamp)
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = &message.value {
            record = record.payload(value.as_slice());
        }
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in deliveries {
        delivery.await.expect("delivery future").expect("delivered");
    }
}

/// Every message of `topic`, per partition in offset order.
async fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Msg> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client(&bootstrap)
            .set("group.id", "replay-test-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(&topic, partition, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).expect("assign");
        let mut done = std::collections::BTreeSet::new();
        let mut messages = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while done.len() < partitions as usize {
            assert!(Instant::now() < deadline, "timed out reading {topic}");
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    done.insert(p);
                }
                Some(Err(error)) => panic!("reading {topic}: {error}"),
                Some(Ok(m)) => messages.push(Msg {
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis().expect("timestamp"),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default(),
                }),
            }
        }
        messages.sort_by_key(|m| (m.partition, m.offset));
        messages
    })
    .await
    .expect("reader thread")
}

/// Runs the kafka-pulse binary with `args` against `bootstrap`.
fn kafka_pulse(command: &str, bootstrap: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kafka-pulse"))
        .args([command, "--brokers", bootstrap])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kafka-pulse {command}: {e}"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Text, binary (every byte value), empty, null keys and values (tombstones),
/// binary and null header values.
fn awkward_messages(partitions: i32, per_partition: i64, start_ms: i64) -> Vec<Msg> {
    let mut messages = Vec::new();
    for i in 0..per_partition {
        for partition in 0..partitions {
            let n = i * partitions as i64 + partition as i64;
            let value = match n % 4 {
                0 => Some(format!("{{\"n\":{n},\"text\":\"<b>é</b>\"}}").into_bytes()),
                1 => Some((0..=255u8).rev().chain([0, 0, n as u8]).collect()),
                2 => Some(Vec::new()),
                _ => None,
            };
            messages.push(Msg {
                partition,
                offset: i,
                timestamp: start_ms + n * 7,
                key: (n % 3 != 0).then(|| format!("key-{n}").into_bytes()),
                value,
                headers: vec![
                    ("trace".into(), Some(format!("t-{n}").into_bytes())),
                    ("bin".into(), Some(vec![0, 1, 2, 255])),
                    ("null".into(), None),
                ],
            });
        }
    }
    messages
}

async fn start() -> RunningApp {
    app::start(test_config(None, None)).await.expect("start")
}

fn request(from: &str, to: &str) -> ReplayRequest {
    ReplayRequest {
        from: from.into(),
        to: to.into(),
        ..ReplayRequest::default()
    }
}

async fn replay(bootstrap: &str, request: &ReplayRequest) -> kafka_pulse::replay::run::Report {
    let spec = ReplaySpec::from_request(request).expect("valid spec");
    let prepared = prepare_replay(
        bootstrap,
        &spec,
        request.create_target,
        Duration::from_secs(5),
    )
    .await
    .expect("prepared");
    prepared
        .run(&Progress::default(), &CancellationToken::new())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_copies_every_byte_partition_and_timestamp_and_ranges_are_exact() {
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    ensure_topic(&bootstrap, "src", 3).await.unwrap();
    let source = awkward_messages(3, 40, now_ms() - 60_000);
    produce(&bootstrap, "src", &source).await;
    let source = by_partition(source);
    let stored = read_all(&bootstrap, "src", 3).await;
    assert_same(&stored, &source, "the source holds what was produced");

    // Everything, same partitions, same timestamps, as fast as possible.
    let mut all = request("src", "copy");
    all.speed = Some("max".into());
    all.keep_partition = true;
    all.keep_timestamps = true;
    all.create_target = true;
    let report = replay(&bootstrap, &all).await;
    assert_eq!(report.error, None);
    assert_eq!((report.messages_read, report.messages_written), (120, 120));
    assert_eq!(
        report.last_written,
        BTreeMap::from([(0, 39), (1, 39), (2, 39)])
    );
    let copy = read_all(&bootstrap, "copy", 3).await;
    assert_same(
        &copy,
        &source,
        "partitions, order, timestamps, keys, values, headers",
    );

    // An inclusive offset range of two partitions, into a one-partition
    // topic: exactly 2 × 10 records, merged by timestamp.
    ensure_topic(&bootstrap, "slice", 1).await.unwrap();
    let mut slice = request("src", "slice");
    slice.speed = Some("max".into());
    slice.partitions = Some(vec![0, 2]);
    slice.start_offset = Some("5".into());
    slice.end_offset = Some("14".into());
    slice.keep_timestamps = true;
    let report = replay(&bootstrap, &slice).await;
    assert_eq!((report.messages_read, report.messages_written), (20, 20));
    let expected: Vec<_> = {
        let mut wanted: Vec<&Msg> = source
            .iter()
            .filter(|m| m.partition != 1 && (5..=14).contains(&m.offset))
            .collect();
        wanted.sort_by_key(|m| m.timestamp);
        wanted
            .into_iter()
            .map(|m| (m.timestamp, m.content()))
            .collect()
    };
    let got: Vec<_> = read_all(&bootstrap, "slice", 1)
        .await
        .into_iter()
        .map(|m| (m.timestamp, m.content()))
        .collect();
    let stamps = |list: &[(i64, _)]| list.iter().map(|(t, _)| *t).collect::<Vec<_>>();
    assert_eq!(
        stamps(&got),
        stamps(&expected),
        "the slice, merged by timestamp"
    );
    assert!(
        got == expected,
        "the slice's keys, values or headers differ"
    );

    // --count and a per-partition start: the first 7 records from 0:30,1:35.
    ensure_topic(&bootstrap, "counted", 1).await.unwrap();
    let mut counted = request("src", "counted");
    counted.speed = Some("max".into());
    counted.start_offset = Some("0:30,1:35".into());
    counted.count = Some(7);
    let report = replay(&bootstrap, &counted).await;
    assert_eq!(report.messages_written, 7);
    let got = read_all(&bootstrap, "counted", 1).await;
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|m| m.headers[0].1.is_some()));
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn original_gaps_are_reproduced_at_speed_1_and_scaled_at_speed_10() {
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    ensure_topic(&bootstrap, "paced", 2).await.unwrap();
    // Two partitions whose timestamps interleave; gaps from 10 ms to 600 ms.
    let base = now_ms() - 30_000;
    let offsets_ms = [0, 150, 160, 400, 1000, 1010, 1300, 1900, 2000, 2400];
    let source: Vec<Msg> = offsets_ms
        .iter()
        .enumerate()
        .map(|(i, at)| Msg {
            partition: (i % 2) as i32,
            offset: (i / 2) as i64,
            timestamp: base + at,
            key: None,
            value: Some(format!("m{i}").into_bytes()),
            headers: vec![],
        })
        .collect();
    produce(&bootstrap, "paced", &source).await;

    /// Stated tolerance per gap: the scheduler sleeps to the millisecond,
    /// the rest is this machine's scheduling noise.
    const TOLERANCE_MS: i64 = 40;
    for (speed, target) in [(1.0, "paced-1"), (10.0, "paced-10")] {
        ensure_topic(&bootstrap, target, 1).await.unwrap();
        let mut paced = request("paced", target);
        paced.speed = Some(speed.to_string());
        let started = Instant::now();
        let report = replay(&bootstrap, &paced).await;
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(report.messages_written, 10, "{report:?}");
        let timing = report.timing_error.expect("paced runs report timing");
        assert_eq!(timing.paced_messages, 10);
        assert!(timing.mean_ms < 20.0, "{timing:?}");
        // Without --keep-timestamps the target's timestamps are send times.
        let got = read_all(&bootstrap, target, 1).await;
        let values: Vec<_> = got.iter().map(|m| m.value.clone().unwrap()).collect();
        let expected: Vec<_> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
        assert_eq!(values, expected, "merged by timestamp across partitions");
        for (i, pair) in got.windows(2).enumerate() {
            let want = ((offsets_ms[i + 1] - offsets_ms[i]) as f64 / speed).round() as i64;
            let have = pair[1].timestamp - pair[0].timestamp;
            assert!(
                (have - want).abs() <= TOLERANCE_MS,
                "speed {speed}: gap {i} was {have} ms, original {want} ms (±{TOLERANCE_MS})"
            );
        }
        let span = (got[9].timestamp - got[0].timestamp) as f64 / 1000.0;
        assert!(
            (span - 2.4 / speed).abs() < 0.06,
            "speed {speed}: span {span}s"
        );
        assert!(elapsed < 2.4 / speed + 5.0, "took {elapsed}s");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_merge_stays_exact_when_partitions_are_far_apart_in_time() {
    use kafka_pulse::replay::source::KafkaRangeReader;
    use kafka_pulse::replay::spec::{EndAt, SourceRange, StartAt};
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    ensure_topic(&bootstrap, "skewed", 3).await.unwrap();
    // Partition 0 is all early, 1 all late, 2 spread across both: the merge
    // must hold 1 back while 0 and 2 drain, and 0 back while 2 catches up.
    let base = now_ms() - 100_000;
    let mut source = Vec::new();
    for i in 0..200i64 {
        for (partition, at) in [(0, i), (1, 50_000 + i), (2, i * 400)] {
            source.push(Msg {
                partition,
                offset: i,
                timestamp: base + at,
                key: None,
                value: Some(vec![7; 100]),
                headers: vec![],
            });
        }
    }
    produce(&bootstrap, "skewed", &source).await;
    let mut expected: Vec<(i64, i32, i64)> = source
        .iter()
        .map(|m| (m.timestamp, m.partition, m.offset))
        .collect();
    expected.sort();
    let range = SourceRange {
        topic: "skewed".into(),
        partitions: None,
        start: StartAt::Earliest,
        end: EndAt::Latest,
    };
    let mut reader = KafkaRangeReader::open(&bootstrap, &range, Duration::from_secs(5))
        .await
        .expect("reader");
    let mut got = Vec::new();
    while let Some(record) = reader.next().await.expect("read") {
        got.push((
            record.timestamp_ms.unwrap(),
            record.partition,
            record.offset,
        ));
    }
    assert_eq!(got.len(), expected.len(), "record count");
    assert!(got == expected, "not merged by timestamp");
    running.stop().await.expect("clean stop");
}

async fn post_json(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_starts_lists_and_cancels_replays_promptly() {
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&bootstrap, "slow", 1).await.unwrap();
    // 3 records at once, then one every 10 s: a paced replay takes minutes.
    let base_ms = now_ms() - 120_000;
    let source: Vec<Msg> = (0..12)
        .map(|i| Msg {
            partition: 0,
            offset: i,
            timestamp: base_ms + if i < 3 { i } else { i * 10_000 },
            key: None,
            value: Some(vec![i as u8]),
            headers: vec![],
        })
        .collect();
    produce(&bootstrap, "slow", &source).await;

    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "slow", "to": "slow-copy", "create_target": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    assert_eq!(body["state"], "running");
    assert_eq!(body["progress"]["planned_messages"], 12);
    wait_for_json(
        &base,
        &format!("/api/v1/replays/{id}"),
        Duration::from_secs(15),
        |b| b["progress"]["messages_written"].as_u64() >= Some(3),
    )
    .await;
    let list = get_json(&base, "/api/v1/replays").await.1;
    assert_eq!(list["replays"][0]["id"], id.as_str());

    let cancelled_at = Instant::now();
    let response = reqwest::Client::new()
        .delete(format!("{base}/api/v1/replays/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let done = wait_for_json(
        &base,
        &format!("/api/v1/replays/{id}"),
        Duration::from_secs(5),
        |b| b["state"] == "cancelled",
    )
    .await;
    let stop_seconds = cancelled_at.elapsed().as_secs_f64();
    assert!(stop_seconds < 2.0, "cancel took {stop_seconds}s");
    let written = done["report"]["messages_written"].as_u64().unwrap();
    assert!((3..12).contains(&written), "{done}");
    assert_eq!(
        done["report"]["last_written"]["0"],
        json!(written as i64 - 1)
    );
    let events = get_json(&base, "/api/v1/events?limit=50").await.1;
    let kinds: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"replay_started".to_string()), "{events}");
    assert!(kinds.contains(&"replay_finished".to_string()), "{events}");

    // Bad requests say what is wrong.
    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "slow", "to": "slow"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--allow-same-topic"),
        "{body}"
    );
    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "nope", "to": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("does not exist"),
        "{body}"
    );
    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "slow", "to": "x", "sped": 2}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("sped"), "{body}");
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/replays"))
        .body(r#"{"from":"slow","to":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        415,
        "JSON content type required"
    );
    assert_eq!(get_json(&base, "/api/v1/replays/r999").await.0, 404);
    let (status, page) = get_text(&base, "/replays").await;
    assert_eq!(status, 200);
    assert!(page.contains("/static/replays.js") && page.contains("Start replay"));
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn too_small_targets_are_refused_with_the_fix() {
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    ensure_topic(&bootstrap, "wide", 3).await.unwrap();
    ensure_topic(&bootstrap, "narrow", 1).await.unwrap();
    produce(&bootstrap, "wide", &awkward_messages(3, 2, now_ms())).await;
    let mut keep = request("wide", "narrow");
    keep.keep_partition = true;
    let spec = ReplaySpec::from_request(&keep).unwrap();
    let error = match prepare_replay(&bootstrap, &spec, false, Duration::from_secs(5)).await {
        Err(error) => error,
        Ok(_) => panic!("a 1-partition target cannot keep 3 partitions"),
    };
    let ReplayError::Invalid(message) = error else {
        panic!("expected a usage error, got {error:?}");
    };
    assert!(
        message.contains("has 1 partitions") && message.contains("at least 3"),
        "{message}"
    );
    // The binary: exit code 2 and the same message.
    let output = kafka_pulse(
        "replay",
        &bootstrap,
        &["--from", "wide", "--to", "narrow", "--keep-partition"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 3"), "{stderr}");
    let output = kafka_pulse("replay", &bootstrap, &["--from", "wide", "--to", "missing"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--create-target"), "{stderr}");
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn export_then_import_gives_equal_content_and_the_browser_shows_it() {
    let running = start().await;
    let bootstrap = running.kafka_bootstrap.clone();
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&bootstrap, "fixture", 2).await.unwrap();
    let mut source = awkward_messages(2, 15, now_ms() - 10_000);
    source[0].value = Some(b"<script>window.__xss=1</script>".to_vec());
    produce(&bootstrap, "fixture", &source).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.jsonl");
    let file = path.to_str().expect("a UTF-8 temp path");
    let output = kafka_pulse("export", &bootstrap, &["--from", "fixture", "--to", file]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("exported 30 of 30"), "{stdout}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 30);
    assert!(text.contains(r#""value_encoding":"base64""#));
    // A second export to the same file needs --force.
    let again = kafka_pulse("export", &bootstrap, &["--from", "fixture", "--to", file]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let output = kafka_pulse(
        "import",
        &bootstrap,
        &[
            "--to",
            "restored",
            "--create-target",
            "--keep-partition",
            "--keep-timestamps",
            "--speed",
            "max",
            "--json",
            file,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("--json report");
    assert_eq!(report["messages_written"], 30);
    let restored = read_all(&bootstrap, "restored", 2).await;
    assert_same(
        &restored,
        &by_partition(source),
        "export → import keeps everything",
    );

    // The message API and page.
    wait_for_json(&base, "/api/v1/topics", Duration::from_secs(15), |b| {
        b["topics"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "fixture"))
    })
    .await;
    let (status, body) = get_json(
        &base,
        "/api/v1/topics/fixture/messages?partition=0&offset=0&limit=3",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["value"], "<script>window.__xss=1</script>");
    let (_, odd) = get_json(
        &base,
        "/api/v1/topics/fixture/messages?partition=1&offset=0&limit=1",
    )
    .await;
    assert_eq!(odd["messages"][0]["value_encoding"], "base64", "{odd}");
    assert_eq!(body["next_offset"], 3);
    let (_, newest) = get_json(&base, "/api/v1/topics/fixture/messages?partition=1&limit=2").await;
    let offsets: Vec<_> = newest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![13, 14], "without an offset: the newest");
    assert_eq!(get_json(&base, "/api/v1/topics/nope/messages").await.0, 404);
    assert_eq!(
        get_json(&base, "/api/v1/topics/fixture/messages?partition=9")
            .await
            .0,
        400
    );
    assert_eq!(
        get_json(&base, "/api/v1/topics/fixture/messages?limit=0")
            .await
            .0,
        400
    );
    let (status, page) = get_text(
        &base,
        "/messages?topic=fixture&partition=0&offset=0&limit=2",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>window"), "values are escaped");
    let shown = page
        .find("xss")
        .and_then(|at| page.get(at.saturating_sub(60)..(at + 60).min(page.len())));
    assert!(
        page.contains("&#60;script&#62;window.__xss=1&#60;/script&#62;"),
        "the value is shown escaped: {shown:?}"
    );
    let (_, page) = get_text(
        &base,
        "/messages?topic=fixture&partition=1&offset=0&limit=1",
    )
    .await;
    assert!(page.contains("00000000  ff fe fd"), "binary as a hex dump");
    running.stop().await.expect("clean stop");
}

//! Replay, export/import and message-browser checks shared by the embedded
//! broker's tests (tests/replay.rs) and real Kafka's (tests/real_kafka.rs).
//! Source data is produced and target data read back with plain rdkafka
//! clients, not with kafka-pulse's own reader, so a bug in the reader
//! cannot hide itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{client, get_json, get_text, wait_for_json};
use kafka_pulse::demo::ensure_topic;
use kafka_pulse::replay::prepare_replay;
use kafka_pulse::replay::run::Progress;
use kafka_pulse::replay::spec::{ReplayRequest, ReplaySpec};

/// What the tests compare: everything a replay must keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

pub type HeaderPair = (String, Option<Vec<u8>>);
/// Key, value and headers: what a replay copies without change.
pub type Content = (Option<Vec<u8>>, Option<Vec<u8>>, Vec<HeaderPair>);

impl Msg {
    pub fn content(&self) -> Content {
        (self.key.clone(), self.value.clone(), self.headers.clone())
    }
}

/// Equal, or a panic naming the first difference (not both whole lists).
pub fn assert_same(got: &[Msg], want: &[Msg], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: message {i} differs:\n got  {g:?}\n want {w:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: message count");
}

pub fn by_partition(mut messages: Vec<Msg>) -> Vec<Msg> {
    messages.sort_by_key(|m| (m.partition, m.offset));
    messages
}

pub async fn produce(bootstrap: &str, topic: &str, messages: &[Msg]) {
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
pub async fn read_all(bootstrap: &str, topic: &str, partitions: i32) -> Vec<Msg> {
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
pub fn kafka_pulse(command: &str, bootstrap: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kafka-pulse"))
        .args([command, "--brokers", bootstrap])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kafka-pulse {command}: {e}"))
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Text, binary (every byte value), empty, null keys and values (tombstones),
/// binary and null header values.
pub fn awkward_messages(partitions: i32, per_partition: i64, start_ms: i64) -> Vec<Msg> {
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

pub fn request(from: &str, to: &str) -> ReplayRequest {
    ReplayRequest {
        from: from.into(),
        to: to.into(),
        ..ReplayRequest::default()
    }
}

pub async fn replay(bootstrap: &str, request: &ReplayRequest) -> kafka_pulse::replay::run::Report {
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

/// Replay topic to topic: every byte, partition and timestamp kept; offset
/// ranges, partition choices and counts exact. Topic names get `prefix`.
pub async fn replay_is_byte_exact(bootstrap: &str, prefix: &str) {
    let t = |name: &str| format!("{prefix}{name}");
    ensure_topic(bootstrap, &t("src"), 3).await.unwrap();
    let source = awkward_messages(3, 40, now_ms() - 60_000);
    produce(bootstrap, &t("src"), &source).await;
    let source = by_partition(source);
    let stored = read_all(bootstrap, &t("src"), 3).await;
    assert_same(&stored, &source, "the source holds what was produced");

    // Everything, same partitions, same timestamps, as fast as possible.
    let mut all = request(&t("src"), &t("copy"));
    all.speed = Some("max".into());
    all.keep_partition = true;
    all.keep_timestamps = true;
    all.create_target = true;
    let report = replay(bootstrap, &all).await;
    assert_eq!(report.error, None);
    assert_eq!((report.messages_read, report.messages_written), (120, 120));
    assert_eq!(
        report.last_written,
        BTreeMap::from([(0, 39), (1, 39), (2, 39)])
    );
    let copy = read_all(bootstrap, &t("copy"), 3).await;
    assert_same(
        &copy,
        &source,
        "partitions, order, timestamps, keys, values, headers",
    );

    // An inclusive offset range of two partitions, into a one-partition
    // topic: exactly 2 × 10 records, merged by timestamp.
    ensure_topic(bootstrap, &t("slice"), 1).await.unwrap();
    let mut slice = request(&t("src"), &t("slice"));
    slice.speed = Some("max".into());
    slice.partitions = Some(vec![0, 2]);
    slice.start_offset = Some("5".into());
    slice.end_offset = Some("14".into());
    slice.keep_timestamps = true;
    let report = replay(bootstrap, &slice).await;
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
    let got: Vec<_> = read_all(bootstrap, &t("slice"), 1)
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
    ensure_topic(bootstrap, &t("counted"), 1).await.unwrap();
    let mut counted = request(&t("src"), &t("counted"));
    counted.speed = Some("max".into());
    counted.start_offset = Some("0:30,1:35".into());
    counted.count = Some(7);
    let report = replay(bootstrap, &counted).await;
    assert_eq!(report.messages_written, 7);
    let got = read_all(bootstrap, &t("counted"), 1).await;
    assert_eq!(got.len(), 7);
    assert!(got.iter().all(|m| m.headers[0].1.is_some()));
}

/// Export to a file, import into a new topic: equal content; the message
/// API and page show the data escaped. `base` is kafka-pulse's web address
/// watching `bootstrap`; topic names get `prefix`.
pub async fn export_import_and_browse(base: &str, bootstrap: &str, prefix: &str) {
    let t = |name: &str| format!("{prefix}{name}");
    ensure_topic(bootstrap, &t("fixture"), 2).await.unwrap();
    let mut source = awkward_messages(2, 15, now_ms() - 10_000);
    source[0].value = Some(b"<script>window.__xss=1</script>".to_vec());
    produce(bootstrap, &t("fixture"), &source).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.jsonl");
    let file = path.to_str().expect("a UTF-8 temp path");
    let output = kafka_pulse(
        "export",
        bootstrap,
        &["--from", &t("fixture"), "--to", file],
    );
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
    let again = kafka_pulse(
        "export",
        bootstrap,
        &["--from", &t("fixture"), "--to", file],
    );
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let output = kafka_pulse(
        "import",
        bootstrap,
        &[
            "--to",
            &t("restored"),
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
    let restored = read_all(bootstrap, &t("restored"), 2).await;
    assert_same(
        &restored,
        &by_partition(source),
        "export → import keeps everything",
    );

    // The message API and page.
    wait_for_json(base, "/api/v1/topics", Duration::from_secs(15), |b| {
        b["topics"].as_array().is_some_and(|list| {
            list.iter()
                .any(|topic| topic["name"] == t("fixture").as_str())
        })
    })
    .await;
    let (status, body) = get_json(
        base,
        &format!(
            "/api/v1/topics/{}/messages?partition=0&offset=0&limit=3",
            t("fixture")
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["value"], "<script>window.__xss=1</script>");
    let (_, odd) = get_json(
        base,
        &format!(
            "/api/v1/topics/{}/messages?partition=1&offset=0&limit=1",
            t("fixture")
        ),
    )
    .await;
    assert_eq!(odd["messages"][0]["value_encoding"], "base64", "{odd}");
    assert_eq!(body["next_offset"], 3);
    let (_, newest) = get_json(
        base,
        &format!(
            "/api/v1/topics/{}/messages?partition=1&limit=2",
            t("fixture")
        ),
    )
    .await;
    let offsets: Vec<_> = newest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, vec![13, 14], "without an offset: the newest");
    assert_eq!(get_json(base, "/api/v1/topics/nope/messages").await.0, 404);
    assert_eq!(
        get_json(
            base,
            &format!("/api/v1/topics/{}/messages?partition=9", t("fixture"))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        get_json(
            base,
            &format!("/api/v1/topics/{}/messages?limit=0", t("fixture"))
        )
        .await
        .0,
        400
    );
    let (status, page) = get_text(
        base,
        &format!(
            "/messages?topic={}&partition=0&offset=0&limit=2",
            t("fixture")
        ),
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
        base,
        &format!(
            "/messages?topic={}&partition=1&offset=0&limit=1",
            t("fixture")
        ),
    )
    .await;
    assert!(
        page.contains("00000000  ff fe fd"),
        "binary as a hex dump: {}",
        page.get(page.find("<main").unwrap_or(0)..).unwrap_or(&page)
    );
}

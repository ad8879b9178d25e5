//! Replay, export and import end to end on the embedded broker (the checks
//! shared with real Kafka are in tests/common/replay_checks.rs).

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::replay_checks::*;
use common::{get_json, get_text, post_json, test_config, wait_for_json};
use kafka_pulse::app::{self, RunningApp};
use kafka_pulse::demo::ensure_topic;
use kafka_pulse::replay::spec::ReplaySpec;
use kafka_pulse::replay::{prepare_replay, ReplayError};

async fn start() -> RunningApp {
    app::start(test_config(None, None)).await.expect("start")
}

/// With --enable-writes: replays may be started from the web.
async fn start_writable() -> RunningApp {
    app::start(writable_config()).await.expect("start")
}

fn writable_config() -> kafka_pulse::config::Config {
    let mut config = test_config(None, None);
    config.enable_writes = true;
    config
}

/// Records at these timestamps on partition 0, offsets from 0, each value
/// its offset as one byte.
fn one_partition(timestamps: impl Iterator<Item = i64>) -> Vec<Msg> {
    timestamps
        .enumerate()
        .map(|(i, timestamp)| Msg {
            partition: 0,
            offset: i as i64,
            timestamp,
            key: None,
            value: Some(vec![i as u8]),
            headers: vec![],
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_copies_every_byte_partition_and_timestamp_and_ranges_are_exact() {
    let running = start().await;
    replay_is_byte_exact(&running.kafka_bootstrap, "").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_starts_lists_and_cancels_replays_promptly() {
    let running = start_writable().await;
    let bootstrap = running.kafka_bootstrap.clone();
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&bootstrap, "slow", 1).await.unwrap();
    // 3 records at once, then one every 10 s: a paced replay takes minutes.
    let base_ms = now_ms() - 120_000;
    let source = one_partition((0..12).map(|i| base_ms + if i < 3 { i } else { i * 10_000 }));
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
    // The audit trail names who started it.
    let started = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subject"] == id.as_str() && e["kind"] == "replay_started")
        .unwrap();
    assert!(
        started["message"]
            .as_str()
            .unwrap()
            .contains("started by 127.0.0.1:"),
        "{started}"
    );

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

/// With --auth-token-file, writes need credentials; the audit events name
/// the credential; a browser's write (Basic, Origin) needs the page's CSRF
/// token, scraped here from the page as the page's script reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_need_credentials_and_the_audit_trail_names_them() {
    let mut config = writable_config();
    config.auth = Some(std::sync::Arc::new(
        kafka_pulse::web::auth::Credentials::parse("ops:ops-secret-0123456789abcdef\n").unwrap(),
    ));
    let running = app::start(config).await.expect("start");
    let bootstrap = running.kafka_bootstrap.clone();
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&bootstrap, "audited", 1).await.unwrap();
    let base_ms = now_ms() - 60_000;
    let source = one_partition((0..6).map(|i| base_ms + i * 10_000));
    produce(&bootstrap, "audited", &source).await;
    let body = json!({"from": "audited", "to": "audited-copy", "create_target": true});
    let client = reqwest::Client::new();

    let refused = client
        .post(format!("{base}/api/v1/replays"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));

    let started = client
        .post(format!("{base}/api/v1/replays"))
        .bearer_auth("ops-secret-0123456789abcdef")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status().as_u16(), 201);
    let id = started.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The browser's way: Basic credentials, its Origin, the page's token.
    let page = client
        .get(format!("{base}/replays"))
        .basic_auth("ops", Some("ops-secret-0123456789abcdef"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries a CSRF token")
        .to_string();
    let cancel = |origin: String, token: Option<String>| {
        let mut request = client
            .delete(format!("{base}/api/v1/replays/{id}"))
            .basic_auth("ops", Some("ops-secret-0123456789abcdef"))
            .header("origin", origin);
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    let forged = cancel("https://evil.example".into(), Some(token.clone()))
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let tokenless = cancel(base.clone(), None).await.unwrap();
    assert_eq!(tokenless.status().as_u16(), 403);
    let cancelled = cancel(base.clone(), Some(token)).await.unwrap();
    assert_eq!(cancelled.status().as_u16(), 202);

    let events = wait_for_json(
        &base,
        "/api/v1/events?limit=100",
        Duration::from_secs(15),
        |b| {
            b["events"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|e| e["subject"] == id.as_str() && e["kind"] == "replay_finished")
            })
        },
    )
    .await;
    let message = |kind: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == id.as_str() && e["kind"] == kind)
            .and_then(|e| e["message"].as_str())
            .unwrap()
            .to_string()
    };
    assert!(
        message("replay_started").contains("started by ops from 127.0.0.1:"),
        "{events}"
    );
    assert!(
        message("replay_finished").contains("cancelled by ops from 127.0.0.1:"),
        "{events}"
    );
    // The secret is nowhere on the pages or in the API.
    for path in [
        "/replays",
        "/api/v1/events?limit=100",
        "/api/v1/replays",
        "/metrics",
    ] {
        let text = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains("ops-secret"), "{path}");
    }
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
    let base = format!("http://{}", running.web_addr);
    export_import_and_browse(&base, &running.kafka_bootstrap, "").await;
    running.stop().await.expect("clean stop");
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |dir| dir.count())
}

/// A burst of message-browser reads: at most a few librdkafka consumers
/// run at once (each has its own threads); the rest wait briefly or are
/// told to come back (503, Retry-After, JSON). Nothing else answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_message_reads_are_capped() {
    let running = start().await;
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    ensure_topic(&bootstrap, "burst", 1).await.unwrap();
    common::produce_split(&bootstrap, "burst", &[(0, 50)]).await;
    wait_for_json(
        &base,
        "/api/v1/topics/burst",
        Duration::from_secs(15),
        |b| b["depth"] == 50,
    )
    .await;
    let idle_threads = thread_count();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                most = most.max(thread_count());
                std::thread::sleep(Duration::from_millis(5));
            }
            most
        })
    };
    let client = reqwest::Client::new();
    let reads = (0..40).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let response = client
                .get(format!(
                    "{base}/api/v1/topics/burst/messages?partition=0&offset={}&limit=5",
                    i % 40
                ))
                .send()
                .await
                .expect("answer");
            let status = response.status().as_u16();
            let retry_after = response.headers().get("retry-after").cloned();
            let body: Value = response.json().await.expect("JSON body");
            (status, retry_after, body)
        }
    });
    let answers = futures::future::join_all(reads).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let most_threads = sampler.join().unwrap();
    let ok = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .count();
    for (status, retry_after, body) in &answers {
        match status {
            200 => assert_eq!(body["messages"].as_array().unwrap().len(), 5, "{body}"),
            503 => {
                assert!(retry_after.is_some(), "503 without Retry-After");
                assert!(
                    body["error"].as_str().unwrap().contains("try again"),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= 4, "only {ok} of 40 reads served");
    // 4 consumers at once; 40 at once was ~6 threads each more.
    assert!(
        most_threads <= idle_threads + 64,
        "threads rose from {idle_threads} to {most_threads}"
    );
    running.stop().await.expect("clean stop");
}

/// Writes from the web are off by default: POST /api/v1/replays is a 403
/// naming the flag, and the page shows why instead of the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_writes_are_off_unless_enabled() {
    let running = start().await;
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&running.kafka_bootstrap, "guarded", 1)
        .await
        .unwrap();
    let (status, body) = post_json(
        &base,
        "/api/v1/replays",
        &json!({"from": "guarded", "to": "guarded-copy", "create_target": true}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--enable-writes"),
        "{body}"
    );
    let (status, page) = get_text(&base, "/replays").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("id=\"writes-off\""),
        "the page says writes are off"
    );
    assert!(
        !page.contains("id=\"replay-form\""),
        "no form without --enable-writes"
    );
    running.stop().await.expect("clean stop");
}

//! --exact-lag-fetches: lag_seconds from the real timestamp of the message at
//! the committed offset. Messages are produced with timestamps one hour in
//! the past, which the interpolated estimate cannot know (it only sees the
//! watermark move now): exact says ~3,600 s, interpolation would say ~0.

mod common;

use std::time::Duration;

use common::{consume_and_commit, produce_aged, test_config, wait_for_json};
use kafka_pulse::app;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_fetches_give_the_real_age_of_the_committed_message() {
    let mut config = test_config(None, None);
    config.exact_lag_fetches = 10;
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "aged", 1)
        .await
        .unwrap();
    kafka_pulse::demo::ensure_topic(&bootstrap, "fresh", 1)
        .await
        .unwrap();
    produce_aged(&bootstrap, "aged", 20, 3_600_000).await;
    produce_aged(&bootstrap, "fresh", 5, 0).await;
    // Committed at offset 5: the next message to read was produced 3,595 s ago.
    consume_and_commit(&bootstrap, "aged-reader", "aged", &[(0, 5)]).await;
    // Caught up: no lag, nothing to fetch.
    consume_and_commit(&bootstrap, "fresh-reader", "fresh", &[(0, 5)]).await;

    let detail = wait_for_json(&base, "/api/v1/groups/aged-reader", WAIT, |body| {
        body["partitions"][0]["lag_seconds_exact"] == true
    })
    .await;
    let partition = &detail["partitions"][0];
    assert_eq!(partition["lag"], 15);
    let lag_seconds = partition["lag_seconds"].as_f64().unwrap();
    assert!(
        (lag_seconds - 3_595.0).abs() < 10.0,
        "exact lag_seconds {lag_seconds} should be the message's age, ~3,595 s ({detail})"
    );
    assert!((detail["lag_seconds"].as_f64().unwrap() - lag_seconds).abs() < 2.0);

    let fresh = wait_for_json(&base, "/api/v1/groups/fresh-reader", WAIT, |body| {
        body["partitions"][0]["lag"] == 0
    })
    .await;
    assert_eq!(fresh["partitions"][0]["lag_seconds"], 0.0);
    assert_eq!(fresh["partitions"][0]["lag_seconds_exact"], false);
    running.stop().await.expect("clean stop");
}

/// Without the option the same data gives the interpolated estimate, which
/// only knows when kafka-pulse saw the messages arrive: far below an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_option_lag_seconds_is_interpolated() {
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "aged", 1)
        .await
        .unwrap();
    wait_for_json(&base, "/api/v1/topics/aged", WAIT, |body| {
        body["depth"] == 0
    })
    .await;
    produce_aged(&bootstrap, "aged", 20, 3_600_000).await;
    consume_and_commit(&bootstrap, "aged-reader", "aged", &[(0, 5)]).await;
    let detail = wait_for_json(&base, "/api/v1/groups/aged-reader", WAIT, |body| {
        body["lag"] == 15
    })
    .await;
    let partition = &detail["partitions"][0];
    assert_eq!(partition["lag_seconds_exact"], false);
    assert!(
        partition["lag_seconds"].as_f64().unwrap() < 60.0,
        "{detail}"
    );
    running.stop().await.expect("clean stop");
}

/// Several topics whose same-numbered partitions lag: each gets its own
/// exact answer, and when the commits move, the first sample that shows
/// the new offsets already has their exact times (no tick falls back to
/// the interpolated estimate).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exact_times_are_per_topic_and_follow_commits_without_a_fallback_tick() {
    let mut config = test_config(None, None);
    config.exact_lag_fetches = 10;
    config.interval = Duration::from_secs(1);
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    let topics = ["multi-a", "multi-b", "multi-c"];
    // Each topic an hour old at a different offset: 3,600 s, 3,000 s, 2,400 s.
    for (i, topic) in topics.iter().enumerate() {
        kafka_pulse::demo::ensure_topic(&bootstrap, topic, 1)
            .await
            .unwrap();
        produce_aged(&bootstrap, topic, 20, 3_600_000 - i as i64 * 600_000).await;
        consume_and_commit(&bootstrap, "multi-reader", topic, &[(0, 5)]).await;
    }
    let expected_age = |topic: usize, offset: i64| 3_600.0 - topic as f64 * 600.0 - offset as f64;
    // Every row already at `offset` must carry its exact age; Ok(n) counts them.
    let check = |body: &serde_json::Value, offset: i64| -> Result<usize, String> {
        let mut at_offset = 0;
        for (i, topic) in topics.iter().enumerate() {
            let Some(row) = body["partitions"]
                .as_array()
                .and_then(|list| list.iter().find(|p| p["topic"] == *topic))
            else {
                continue;
            };
            if row["committed_offset"] != offset {
                continue;
            }
            at_offset += 1;
            if row["lag_seconds_exact"] != true {
                return Err(format!("{topic} at {offset} not exact: {row}"));
            }
            let age = row["lag_seconds"].as_f64().unwrap();
            if (age - expected_age(i, offset)).abs() > 10.0 {
                return Err(format!(
                    "{topic}: {age:.0} s, expected {:.0}",
                    expected_age(i, offset)
                ));
            }
        }
        Ok(at_offset)
    };
    wait_for_json(&base, "/api/v1/groups/multi-reader", WAIT, |body| {
        check(body, 5) == Ok(3)
    })
    .await;

    // The commits move: every sample that shows a new offset has its exact
    // time already.
    for topic in topics {
        consume_and_commit(&bootstrap, "multi-reader", topic, &[(0, 12)]).await;
    }
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, body) = common::get_json(&base, "/api/v1/groups/multi-reader").await;
        match check(&body, 12) {
            Ok(3) => break,
            Ok(_) => {}
            Err(problem) => panic!("a sample right after the commit: {problem}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "commits never seen: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.expect("clean stop");
}

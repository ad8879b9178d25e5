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

//! Group status end to end with real consumers on the embedded broker: a
//! consumer that keeps up, one that is too slow, one that stopped, one that
//! was rewound to the earliest offset. The window is 10 samples of 250 ms.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

use common::{produce_split, test_config, wait_for_json};
use kafka_pulse::app;

const WAIT: Duration = Duration::from_secs(30);

/// Commits `offset` for `group` on partition 0 of `topic`, as a consumer
/// does after processing (or as `kafka-consumer-groups --reset-offsets` does).
async fn commit_at(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let (bootstrap, group, topic) = (bootstrap.to_string(), group.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("log_level", "3")
            .create()
            .expect("consumer");
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&topic, 0, Offset::Offset(offset))
            .unwrap();
        consumer.commit(&offsets, CommitMode::Sync).expect("commit");
    })
    .await
    .expect("commit thread");
}

/// Raises the flag when dropped, so a failing assertion stops the traffic
/// thread too (the runtime waits for it when the test ends).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn status(body: &Value) -> &str {
    body["status"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_rewound_slow_and_healthy_consumers_get_their_status_and_reason() {
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    for topic in ["st-stop", "st-rewind", "st-slow", "st-ok"] {
        kafka_pulse::demo::ensure_topic(&bootstrap, topic, 1)
            .await
            .unwrap();
    }
    produce_split(&bootstrap, "st-stop", &[(0, 100)]).await;
    produce_split(&bootstrap, "st-rewind", &[(0, 100)]).await;
    produce_split(&bootstrap, "st-ok", &[(0, 50)]).await;

    // Stopped: read 10 of 100, then nothing more.
    commit_at(&bootstrap, "stopped", "st-stop", 10).await;
    // Healthy: caught up.
    commit_at(&bootstrap, "healthy", "st-ok", 50).await;
    // Rewound: was at 80, then reset to the earliest offset.
    commit_at(&bootstrap, "rewound", "st-rewind", 80).await;
    wait_for_json(&base, "/api/v1/groups/rewound", WAIT, |b| b["lag"] == 20).await;
    commit_at(&bootstrap, "rewound", "st-rewind", 0).await;

    // Slow: the topic gets 10 messages every 40 ms, the group commits 2 —
    // a steady consumer that falls further behind at every sample.
    let stop_slow = Arc::new(AtomicBool::new(false));
    let _stop_on_panic = StopOnDrop(stop_slow.clone());
    let slow = {
        let (bootstrap, stop) = (bootstrap.clone(), stop_slow.clone());
        tokio::task::spawn_blocking(move || {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("linger.ms", "1")
                .set("log_level", "3")
                .create()
                .expect("producer");
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "slow")
                .set("enable.auto.commit", "false")
                .set("log_level", "3")
                .create()
                .expect("consumer");
            let mut committed = 0;
            // Until the test has seen what it waits for (not a fixed number
            // of steps, which a slow machine could use up first); the
            // deadline only bounds a test that never gets there.
            let deadline = Instant::now() + 3 * WAIT;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                for _ in 0..10 {
                    let _ =
                        producer.send(BaseRecord::<(), _>::to("st-slow").partition(0).payload("x"));
                }
                producer.poll(Duration::ZERO);
                committed += 2;
                let mut offsets = TopicPartitionList::new();
                offsets
                    .add_partition_offset("st-slow", 0, Offset::Offset(committed))
                    .unwrap();
                let _ = consumer.commit(&offsets, CommitMode::Async);
                // The traffic's pace (several steps per 250 ms sample), not
                // a wait for an outcome.
                std::thread::sleep(Duration::from_millis(40));
            }
            let _ = producer.flush(Duration::from_secs(5));
        })
    };

    let rewound = wait_for_json(&base, "/api/v1/groups/rewound", WAIT, |b| {
        status(b) == "REWIND"
    })
    .await;
    assert!(
        rewound["reason"]
            .as_str()
            .unwrap()
            .contains("went back by 80"),
        "{rewound}"
    );
    // /metrics carries the same status, one-hot (REWIND lasts as long as the
    // step back is inside the window: read it right away).
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        common::metric(
            &metrics,
            "kafka_pulse_group_status{group=\"rewound\",status=\"REWIND\"}"
        ),
        Some(1.0)
    );
    let stopped = wait_for_json(&base, "/api/v1/groups/stopped", WAIT, |b| {
        // tansu cannot describe groups (no member count), so a stopped
        // consumer is STALL there; with member counts it is STOP.
        status(b) == "STALL" || status(b) == "STOP"
    })
    .await;
    let reason = stopped["reason"].as_str().unwrap();
    assert!(
        reason.contains("st-stop/0") && reason.contains("lag is 90"),
        "{stopped}"
    );
    let slow_status =
        wait_for_json(&base, "/api/v1/groups/slow", WAIT, |b| status(b) == "WARN").await;
    assert!(
        slow_status["reason"].as_str().unwrap().contains("lag grew"),
        "{slow_status}"
    );
    let healthy = wait_for_json(&base, "/api/v1/groups/healthy", WAIT, |b| b["lag"] == 0).await;
    assert_eq!(status(&healthy), "OK", "{healthy}");
    assert!(healthy["reason"].as_str().unwrap().contains("caught up"));
    stop_slow.store(true, Ordering::Relaxed);
    slow.await.expect("slow consumer thread");

    // Every change was an event, and /metrics carries the one-hot status.
    let events = wait_for_json(&base, "/api/v1/events?limit=200", WAIT, |b| {
        b["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["subject"] == "rewound" && e["message"].as_str().unwrap_or("").contains("REWIND")
            })
        })
    })
    .await;
    assert!(events["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["subject"] == "slow" && e["message"].as_str().unwrap_or("").contains("WARN")));
    running.stop().await.expect("clean stop");
}

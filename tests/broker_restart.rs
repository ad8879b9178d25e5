//! tansu 0.6's DeleteRecords kills its storage task, after which every request
//! fails. kafka-pulse must notice, restart the embedded broker with its data,
//! record an event and show the numbers again.

mod common;

use std::time::Duration;

use common::*;
use kafka_pulse::app;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_that_stops_answering_is_restarted_with_its_data() {
    let data = tempfile::tempdir().unwrap();
    let running = app::start(test_config(None, Some(data.path().to_path_buf())))
        .await
        .expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "fragile", 1)
        .await
        .unwrap();
    produce_split(&bootstrap, "fragile", &[(0, 40)]).await;
    wait_for_json(
        &base,
        "/api/v1/topics/fragile",
        Duration::from_secs(30),
        |body| body["depth"] == 40,
    )
    .await;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("fragile", 0, Offset::Offset(10))
        .unwrap();
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(3)));
    // The answer does not matter (the broker may never send one); what
    // happens to the broker afterwards does.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        admin.delete_records(&offsets, &options),
    )
    .await;

    let events = wait_for_json(
        &base,
        "/api/v1/events?limit=50",
        Duration::from_secs(40),
        |body| {
            body["events"]
                .as_array()
                .is_some_and(|list| list.iter().any(|e| e["kind"] == "broker_restarted"))
        },
    )
    .await;
    let restarted = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "broker_restarted")
        .unwrap();
    assert!(
        restarted["message"]
            .as_str()
            .unwrap()
            .contains("stopped answering"),
        "{restarted}"
    );
    // After the restart the data is still there and sampled again.
    let health = wait_for_json(&base, "/api/v1/health", Duration::from_secs(30), |body| {
        body["kafka_up"] == true && body["status"] == "ok"
    })
    .await;
    assert_eq!(health["kafka_up"], true);
    let topic = wait_for_json(
        &base,
        "/api/v1/topics/fragile",
        Duration::from_secs(30),
        |body| body["partitions"][0]["high_watermark"] == 40,
    )
    .await;
    assert_eq!(topic["partitions"][0]["high_watermark"], 40);
    running.stop().await.expect("clean stop");
}

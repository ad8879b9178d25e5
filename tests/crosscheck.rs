//! Cross-check with an independent client on the embedded broker: python
//! confluent-kafka's own view equals kafka-pulse's (tests/common/crosscheck.rs).

mod common;

use common::crosscheck::{confluent_kafka_agrees, confluent_kafka_available};
use common::servers::require;
use common::*;
use kafka_pulse::app;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confluent_kafka_and_kafka_pulse_agree() {
    if require(confluent_kafka_available()).is_none() {
        return;
    }
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    confluent_kafka_agrees(&base, &bootstrap, "cross", "cross-group").await;
    running.stop().await.expect("clean stop");
}

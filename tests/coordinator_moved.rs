//! A group's coordinator moves (a broker restarts, leadership of
//! __consumer_offsets changes): the cached coordinator answers
//! NOT_COORDINATOR. kafka-pulse must find the new one and read the group's
//! offsets in the same tick, not report the group as failed until the next.
//! The embedded broker never moves coordinators: this runs against the
//! two-node fake cluster of tests/common/fake_kafka.rs.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::fake_kafka::{self, Shape, COMMITTED_BEHIND, HIGH};
use kafka_pulse::collector::kafka::KafkaClient;
use kafka_pulse::collector::KafkaSource;
use kafka_pulse::filter::Filters;

#[tokio::test]
async fn offsets_are_read_from_the_new_coordinator_in_the_same_tick() {
    let cluster = fake_kafka::start(Shape {
        topics: 1,
        partitions: 1,
        groups: 1,
        nodes: 2,
    })
    .await;
    let client = Arc::new(KafkaClient::new(
        vec![cluster.bootstrap()],
        "kafka-pulse-test",
        Duration::from_secs(5),
    ));
    let mut source = KafkaSource::new(client, "unreachable", Filters::default());
    let sample = tokio::time::timeout(Duration::from_secs(20), source.sample())
        .await
        .expect("one tick within 20 s");
    assert!(sample.kafka_up, "{:?}", sample.errors);
    let group = sample
        .groups
        .iter()
        .find(|g| g.group.as_str() == fake_kafka::group_name(0))
        .expect("the group is listed");
    assert_eq!(group.error, None, "errors: {:?}", sample.errors);
    assert_eq!(group.offsets.len(), 1, "{group:?}");
    assert_eq!(group.offsets[0].topic.as_str(), fake_kafka::topic_name(0));
    assert_eq!(group.offsets[0].offset.get(), Some(HIGH - COMMITTED_BEHIND));
    // Asked at the old coordinator first, then at the new one.
    assert_eq!(cluster.offset_fetches[0].load(Ordering::SeqCst), 1);
    assert_eq!(cluster.offset_fetches[1].load(Ordering::SeqCst), 1);
    assert_eq!(cluster.coordinator_lookups.load(Ordering::SeqCst), 2);
}

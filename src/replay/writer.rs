//! Writes records to a topic: acks=all and idempotence (so retries neither
//! lose nor duplicate nor reorder within a partition), a bounded window of
//! records in flight (back-pressure instead of unbounded queues), and the
//! last source offset confirmed per source partition, so a failed run can be
//! continued exactly where it stopped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};

use crate::security::{acl, KafkaAccess, KafkaContext};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use super::record::Record;
use super::source::topic_partitions;
use super::spec::TargetOptions;
use super::ReplayError;

const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// Records handed to the producer and not yet acknowledged.
const IN_FLIGHT: usize = 10_000;

type Pending = std::pin::Pin<
    Box<dyn std::future::Future<Output = (i32, i64, u64, Result<(), String>)> + Send>,
>;

pub struct KafkaWriter {
    producer: FutureProducer<KafkaContext>,
    topic: Arc<str>,
    keep_partition: bool,
    keep_timestamps: bool,
    in_flight: FuturesUnordered<Pending>,
    /// Source partition → highest source offset acknowledged by the target.
    pub last_written: BTreeMap<i32, i64>,
    pub written: u64,
    pub written_bytes: u64,
    failure: Option<String>,
}

fn producer_config(kafka: &KafkaAccess, timeout: Duration) -> ClientConfig {
    let mut config = kafka.rdkafka_config();
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set(
            "message.timeout.ms",
            (timeout.as_millis().max(1000) * 6).to_string(),
        )
        .set(
            "socket.timeout.ms",
            timeout.as_millis().max(1000).to_string(),
        )
        // Large source records must not fail on the client's 1 MB default;
        // the broker's own limit still applies and its refusal is reported.
        .set("message.max.bytes", "104857600")
        .set("log_level", "3");
    config
}

/// Partition count of the target topic, creating it first when asked.
pub async fn prepare_target(
    kafka: &KafkaAccess,
    target: &TargetOptions,
    create_with_partitions: Option<i32>,
    needed_partitions: Option<i32>,
    timeout: Duration,
) -> Result<usize, ReplayError> {
    if let (Some(partitions), true) = (create_with_partitions, kafka.security.uses_oauth()) {
        // rdkafka's admin client cannot log in with OAUTHBEARER (see
        // KafkaClient::create_topic): the own client creates the topic.
        let client = crate::collector::kafka::KafkaClient::for_access(
            kafka,
            "kafka-pulse-replay",
            CREATE_TIMEOUT.max(timeout),
        );
        client
            .create_topic(&target.topic, partitions.max(1), 1, &[])
            .await
            .map_err(|e| {
                ReplayError::Kafka(format!("cannot create topic {:?}: {e}", target.topic))
            })?;
    } else if let Some(partitions) = create_with_partitions {
        let admin: AdminClient<KafkaContext> = producer_config(kafka, timeout)
            .create_with_context(kafka.rdkafka_context())
            .map_err(|e| ReplayError::Kafka(format!("cannot create an admin client: {e}")))?;
        let topic = NewTopic::new(&target.topic, partitions.max(1), TopicReplication::Fixed(1));
        let results = admin
            .create_topics(
                [&topic],
                // A busy broker can take a while to create a topic.
                &AdminOptions::new()
                    .request_timeout(Some(CREATE_TIMEOUT.max(timeout)))
                    .operation_timeout(Some(CREATE_TIMEOUT.max(timeout))),
            )
            .await
            .map_err(|e| {
                ReplayError::Kafka(format!("cannot create topic {:?}: {e}", target.topic))
            })?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(ReplayError::Kafka(format!(
                        "cannot create topic {:?}: {code}",
                        target.topic
                    )))
                }
            }
        }
    }
    let consumer: BaseConsumer<KafkaContext> = super::source::consumer_config(kafka, timeout)
        .create_with_context(kafka.rdkafka_context())
        .map_err(|e| ReplayError::Kafka(format!("cannot create a Kafka client: {e}")))?;
    let topic = target.topic.clone();
    let partitions = tokio::task::spawn_blocking(move || {
        // Nothing is assigned: polling serves events only.
        consumer
            .context()
            .serve_first_token(|| drop(consumer.poll(Duration::ZERO)), timeout);
        // A topic created a moment ago may take a few metadata rounds to show.
        let mut last = None;
        for attempt in 0..20 {
            match topic_partitions(&consumer, &topic, "--to", timeout) {
                Ok(partitions) => return Ok(partitions),
                Err(error) => {
                    // Dropped connections are worth a few tries; "missing"
                    // only while a topic we just created shows up.
                    let retry = match &error {
                        ReplayError::Kafka(_) => attempt < 3,
                        _ => create_with_partitions.is_some(),
                    };
                    last = Some(error);
                    if !retry {
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(last.expect("at least one attempt"))
    })
    .await
    .map_err(|e| ReplayError::Kafka(format!("metadata lookup failed: {e}")))?
    .map_err(|error| match error {
        ReplayError::Invalid(message) => {
            ReplayError::Invalid(format!("{message}; create it first or add --create-target"))
        }
        other => other,
    })?;
    if target.keep_partition {
        if let Some(needed) = needed_partitions {
            if (partitions.len() as i32) < needed {
                return Err(ReplayError::Invalid(format!(
                    "--keep-partition: target topic {:?} has {} partitions but the records come from partitions up to {}; \
                     create {:?} with at least {needed} partitions, or leave out --keep-partition",
                    target.topic,
                    partitions.len(),
                    needed - 1,
                    target.topic
                )));
            }
        }
    }
    Ok(partitions.len())
}

impl KafkaWriter {
    pub fn new(
        kafka: &KafkaAccess,
        target: &TargetOptions,
        timeout: Duration,
    ) -> Result<Self, ReplayError> {
        let producer: FutureProducer<KafkaContext> = producer_config(kafka, timeout)
            .create_with_context(kafka.rdkafka_context())
            .map_err(|e| ReplayError::Kafka(format!("cannot create a Kafka producer: {e}")))?;
        Ok(KafkaWriter {
            producer,
            topic: target.topic.as_str().into(),
            keep_partition: target.keep_partition,
            keep_timestamps: target.keep_timestamps,
            in_flight: FuturesUnordered::new(),
            last_written: BTreeMap::new(),
            written: 0,
            written_bytes: 0,
            failure: None,
        })
    }

    /// Hands one record to the producer; waits when the window is full.
    pub async fn write(&mut self, record: &Record) -> Result<(), ReplayError> {
        while self.in_flight.len() >= IN_FLIGHT {
            self.settle_one().await;
        }
        self.settle_ready();
        if let Some(failure) = &self.failure {
            return Err(ReplayError::Kafka(failure.clone()));
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for header in &record.headers {
            headers = headers.insert(Header {
                key: &header.key,
                value: header.value.as_deref(),
            });
        }
        loop {
            let mut message: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).headers(headers.clone());
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                message = message.payload(value.as_slice());
            }
            if self.keep_partition {
                message = message.partition(record.partition);
            }
            if self.keep_timestamps {
                if let Some(timestamp) = record.timestamp_ms {
                    message = message.timestamp(timestamp);
                }
            }
            match self.producer.send_result(message) {
                Ok(delivery) => {
                    self.in_flight.push(pending(
                        delivery,
                        self.topic.clone(),
                        record.partition,
                        record.offset,
                        record.payload_bytes(),
                    ));
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // librdkafka's own queue is full: wait for an ack.
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    } else {
                        self.settle_one().await;
                    }
                }
                Err((error, _)) => {
                    return Err(ReplayError::Kafka(format!(
                        "cannot write to {:?}: {}",
                        self.topic,
                        write_error(&error, &self.topic)
                    )))
                }
            }
        }
    }

    fn settle_ready(&mut self) {
        while let Some(Some(done)) = futures::FutureExt::now_or_never(self.in_flight.next()) {
            self.record(done);
        }
    }

    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Waits for the next acknowledgement and counts it.
    pub async fn settle_one(&mut self) {
        if let Some(done) = self.in_flight.next().await {
            self.record(done);
        }
    }

    fn record(&mut self, (partition, offset, bytes, result): (i32, i64, u64, Result<(), String>)) {
        match result {
            Ok(()) => {
                self.written += 1;
                self.written_bytes += bytes;
                let last = self.last_written.entry(partition).or_insert(offset);
                *last = (*last).max(offset);
            }
            Err(error) => {
                if self.failure.is_none() {
                    self.failure = Some(format!(
                        "writing to {:?} failed at source partition {partition} offset {offset}: {error}",
                        self.topic
                    ));
                }
            }
        }
    }

    /// Waits (at most `limit`) for everything in flight; the first delivery
    /// failure, if any, is the error.
    pub async fn finish(&mut self, limit: Duration) -> Result<(), ReplayError> {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.in_flight.is_empty() {
            match tokio::time::timeout_at(deadline, self.in_flight.next()).await {
                Ok(Some(done)) => self.record(done),
                Ok(None) => break,
                Err(_) => {
                    let unconfirmed = self.in_flight.len();
                    self.in_flight.clear();
                    return Err(ReplayError::Kafka(format!(
                        "{unconfirmed} records were not confirmed by the target within {}s",
                        limit.as_secs()
                    )));
                }
            }
        }
        match &self.failure {
            Some(failure) => Err(ReplayError::Kafka(failure.clone())),
            None => Ok(()),
        }
    }
}

/// A produce error's text; a refused write names the ACL it lacks.
fn write_error(error: &KafkaError, topic: &str) -> String {
    if acl::topic_refused(error) {
        format!(
            "{error}: {}",
            acl::lacks(acl::Resource::Topic, acl::Operation::Write, Some(topic))
        )
    } else {
        error.to_string()
    }
}

fn pending(
    delivery: DeliveryFuture,
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    bytes: u64,
) -> Pending {
    Box::pin(async move {
        let result = match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(write_error(&error, &topic)),
            Err(_) => Err("the producer was dropped before the record was confirmed".to_string()),
        };
        (partition, offset, bytes, result)
    })
}

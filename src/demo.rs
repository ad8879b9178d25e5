//! Demo traffic (for the embedded broker, or with `--demo` for the
//! `--brokers` cluster), shaped to tell a story within the
//! first minute: bursty producers (quiet stretches, ×10 bursts, a 3-minute
//! wave), a consumer that keeps up, one that falls behind in bursts and
//! recovers, one that stalls now and then, and one that left long ago.

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tokio::task::JoinSet;

use crate::security::{KafkaAccess, KafkaContext};
use tokio_util::sync::CancellationToken;

/// How a topic's produce rate moves over time.
#[derive(Debug, Clone, Copy)]
pub struct TrafficShape {
    /// Messages per second at the wave's midline.
    pub base_rate: f64,
    /// Wave period; the wave swings ±60 % around the base.
    pub wave_period: Duration,
    /// Every `burst_every` the rate is ×10 for `burst_length`.
    pub burst_every: Duration,
    pub burst_length: Duration,
    /// Offset of the first burst, so topics don't burst together.
    pub burst_phase: Duration,
    /// Every `quiet_every` nothing is produced for `quiet_length` (0 = never).
    pub quiet_every: Duration,
    pub quiet_length: Duration,
}

impl TrafficShape {
    /// Target messages per second `elapsed` after the demo started.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        let t = elapsed.as_secs_f64();
        if !self.quiet_every.is_zero() {
            let in_cycle = t % self.quiet_every.as_secs_f64();
            if in_cycle >= self.quiet_every.as_secs_f64() - self.quiet_length.as_secs_f64() {
                return 0.0;
            }
        }
        let wave = 1.0 + 0.6 * (TAU * t / self.wave_period.as_secs_f64()).sin();
        let burst_cycle = (t + self.burst_every.as_secs_f64() - self.burst_phase.as_secs_f64())
            % self.burst_every.as_secs_f64();
        let burst = if burst_cycle < self.burst_length.as_secs_f64() {
            10.0
        } else {
            1.0
        };
        self.base_rate * wave * burst
    }
}

struct DemoTopic {
    name: &'static str,
    partitions: i32,
    shape: TrafficShape,
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const TOPICS: [DemoTopic; 3] = [
    DemoTopic {
        name: "orders",
        partitions: 6,
        shape: TrafficShape {
            base_rate: 25.0,
            wave_period: secs(180),
            burst_every: secs(45),
            burst_length: secs(6),
            burst_phase: secs(15),
            quiet_every: secs(0),
            quiet_length: secs(0),
        },
    },
    DemoTopic {
        name: "payments",
        partitions: 3,
        shape: TrafficShape {
            base_rate: 12.0,
            wave_period: secs(240),
            burst_every: secs(70),
            burst_length: secs(5),
            burst_phase: secs(35),
            quiet_every: secs(0),
            quiet_length: secs(0),
        },
    },
    DemoTopic {
        name: "page-views",
        partitions: 4,
        shape: TrafficShape {
            base_rate: 60.0,
            wave_period: secs(120),
            burst_every: secs(50),
            burst_length: secs(8),
            burst_phase: secs(8),
            quiet_every: secs(55),
            quiet_length: secs(10),
        },
    },
];

/// The topics the demo creates and produces to.
pub const TOPIC_NAMES: [&str; 3] = [TOPICS[0].name, TOPICS[1].name, TOPICS[2].name];

/// A demo consumer group.
struct DemoGroup {
    name: &'static str,
    topics: &'static [&'static str],
    /// Messages per second it can handle; `None` = as fast as it gets them.
    max_rate: Option<f64>,
    /// Stops consuming for `.1` every `.0` (the first stall after `.0`).
    stalls: Option<(Duration, Duration)>,
    /// Consumes this many messages once, commits and leaves.
    leaves_after: Option<usize>,
}

const GROUPS: [DemoGroup; 4] = [
    DemoGroup {
        name: "order-service",
        topics: &["orders"],
        max_rate: None,
        stalls: None,
        leaves_after: None,
    },
    DemoGroup {
        name: "analytics-etl",
        topics: &["page-views", "orders"],
        max_rate: Some(140.0),
        stalls: None,
        leaves_after: None,
    },
    DemoGroup {
        name: "fraud-detector",
        topics: &["payments"],
        max_rate: Some(80.0),
        stalls: Some((secs(40), secs(20))),
        leaves_after: None,
    },
    DemoGroup {
        name: "nightly-report",
        topics: &["orders"],
        max_rate: None,
        stalls: None,
        leaves_after: Some(150),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo: cannot create Kafka client: {0}")]
    Client(String),
    #[error("demo: cannot create topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },
}

fn client_config(kafka: &KafkaAccess) -> ClientConfig {
    let mut config = kafka.rdkafka_config();
    config
        .set("log_level", "3")
        .set("socket.timeout.ms", "10000");
    config
}

/// Creates `name` with `partitions` partitions; an existing topic is fine.
pub async fn ensure_topic(
    kafka: impl Into<KafkaAccess>,
    name: &str,
    partitions: i32,
) -> Result<(), DemoError> {
    create_topic(&kafka.into(), name, partitions, &[]).await
}

/// Demo data is kept for this long: the embedded broker's sqlite cost grows
/// with what it stores, and a demo left running for a day must stay light.
const DEMO_RETENTION_MS: &str = "900000";

async fn create_topic(
    kafka: &KafkaAccess,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), DemoError> {
    if kafka.security.uses_oauth() {
        // rdkafka's admin client cannot log in with OAUTHBEARER (see
        // KafkaClient::create_topic): the own client creates the topic.
        let client = crate::collector::kafka::KafkaClient::for_access(
            kafka,
            "kafka-pulse-demo",
            std::time::Duration::from_secs(10),
        );
        return client
            .create_topic(name, partitions, 1, configs)
            .await
            .map_err(|e| DemoError::CreateTopic {
                topic: name.to_string(),
                reason: e.to_string(),
            });
    }
    let admin: AdminClient<KafkaContext> = client_config(kafka)
        .create_with_context(kafka.rdkafka_context())
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .map_err(|e| DemoError::CreateTopic {
            topic: name.to_string(),
            reason: e.to_string(),
        })?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(DemoError::CreateTopic {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// Starts the demo: creates topics, then producers and consumers run until
/// `shutdown`. Returns once everything has stopped.
pub async fn run(kafka: KafkaAccess, shutdown: CancellationToken) -> Result<(), DemoError> {
    for topic in &TOPICS {
        let created = create_topic_retrying(&kafka, topic, &shutdown).await;
        if !created {
            return Ok(());
        }
    }
    let producer: FutureProducer<KafkaContext> = client_config(&kafka)
        // Bigger batches: each produce is a sqlite transaction in the embedded broker.
        .set("linger.ms", "100")
        .set("message.timeout.ms", "30000")
        .create_with_context(kafka.rdkafka_context())
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (index, topic) in TOPICS.iter().enumerate() {
        let producer = producer.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(produce(producer, topic, index as u64, started, shutdown));
    }
    for group in &GROUPS {
        let kafka = kafka.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = consume(&kafka, group, started, shutdown).await {
                tracing::warn!(group = group.name, "demo consumer stopped: {error}");
            }
        });
    }
    tracing::info!(
        topics = TOPICS.len(),
        groups = GROUPS.len(),
        "demo traffic started"
    );
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Time between attempts to create a demo topic.
const CREATE_RETRY: Duration = Duration::from_secs(3);

/// Creates a demo topic, trying again until it works: an external cluster
/// (`--brokers` with `--demo`) may still be starting, and the demo should
/// begin as soon as it answers. False when shut down first.
async fn create_topic_retrying(
    kafka: &KafkaAccess,
    topic: &DemoTopic,
    shutdown: &CancellationToken,
) -> bool {
    let configs = [
        ("cleanup.policy", "delete"),
        ("retention.ms", DEMO_RETENTION_MS),
    ];
    for attempt in 1u32.. {
        let result = tokio::select! {
            _ = shutdown.cancelled() => return false,
            result = create_topic(kafka, topic.name, topic.partitions, &configs) => result,
        };
        match result {
            Ok(()) => return true,
            // The first failure and then one a minute or so: enough to see
            // why the demo has not started without flooding the log.
            Err(error) if attempt == 1 || attempt % 20 == 0 => tracing::warn!(
                attempt,
                "{error}; demo traffic waits for Kafka at {} and tries again every {}s",
                kafka.bootstrap,
                CREATE_RETRY.as_secs()
            ),
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(CREATE_RETRY) => {}
        }
    }
    false
}

async fn produce(
    producer: FutureProducer<KafkaContext>,
    topic: &'static DemoTopic,
    seed: u64,
    started: Instant,
    shutdown: CancellationToken,
) {
    const TICK: Duration = Duration::from_millis(100);
    let mut rng = StdRng::seed_from_u64(0xC0FFEE + seed);
    let mut ticker = tokio::time::interval(TICK);
    let mut owed = 0.0;
    let mut sequence: u64 = 0;
    let mut failures_logged = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        owed += topic.shape.rate_at(started.elapsed()) * TICK.as_secs_f64();
        let count = owed.floor() as usize;
        owed -= count as f64;
        let mut deliveries = Vec::with_capacity(count);
        for _ in 0..count {
            sequence += 1;
            let (key, value, source) = demo_message(topic.name, sequence, &mut rng);
            let trace_id = format!("{:016x}{:016x}", rng.gen::<u64>(), rng.gen::<u64>());
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "trace-id",
                    value: Some(&trace_id),
                })
                .insert(Header {
                    key: "source",
                    value: Some(source),
                })
                .insert(Header {
                    key: "content-type",
                    value: Some("application/json"),
                });
            let record = FutureRecord::to(topic.name)
                .key(&key)
                .payload(&value)
                .headers(headers);
            match producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => {
                    if failures_logged < 5 {
                        tracing::warn!(topic = topic.name, "demo produce failed: {error}");
                        failures_logged += 1;
                    }
                }
            }
        }
        for result in join_all(deliveries).await {
            if let Ok(Err((error, _))) = result {
                if failures_logged < 5 {
                    tracing::warn!(topic = topic.name, "demo delivery failed: {error}");
                    failures_logged += 1;
                }
            }
        }
    }
}

/// A realistic key, JSON value and `source` header for `topic`.
fn demo_message(topic: &str, sequence: u64, rng: &mut StdRng) -> (String, String, &'static str) {
    let customer = rng.gen_range(1000..9999);
    match topic {
        "orders" => (
            format!("customer-{customer}"),
            format!(
                r#"{{"order_id":"o-{sequence}","customer":"customer-{customer}","items":{},"total":{:.2},"currency":"EUR"}}"#,
                rng.gen_range(1..6),
                rng.gen_range(5.0..400.0)
            ),
            "checkout-api",
        ),
        "payments" => (
            format!("o-{}", sequence.saturating_sub(3)),
            format!(
                r#"{{"payment_id":"p-{sequence}","method":"{}","amount":{:.2},"status":"authorized"}}"#,
                ["card", "sepa", "paypal"][rng.gen_range(0..3)],
                rng.gen_range(5.0..400.0)
            ),
            "payment-gateway",
        ),
        _ => (
            format!("session-{:08x}", rng.gen::<u32>()),
            format!(
                r#"{{"path":"{}","user_agent":"Mozilla/5.0","duration_ms":{}}}"#,
                ["/", "/search", "/product/42", "/cart", "/checkout"][rng.gen_range(0..5)],
                rng.gen_range(20..3000)
            ),
            "web-frontend",
        ),
    }
}

async fn consume(
    kafka: &KafkaAccess,
    group: &'static DemoGroup,
    started: Instant,
    shutdown: CancellationToken,
) -> Result<(), DemoError> {
    let consumer: StreamConsumer<KafkaContext> = client_config(kafka)
        .set("group.id", group.name)
        .set("client.id", group.name)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "30000")
        // The embedded broker polls its store while a fetch waits; fewer,
        // longer fetches keep the demo light.
        .set("fetch.wait.max.ms", "1000")
        .create_with_context(kafka.rdkafka_context())
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let consumer = ClosedAside(Some(consumer));
    consumer
        .subscribe(group.topics)
        .map_err(|e| DemoError::Client(e.to_string()))?;
    let pause_per_message = group
        .max_rate
        .map(|rate| Duration::from_secs_f64(1.0 / rate));
    let mut consumed = 0usize;
    let mut last_commit = Instant::now();
    loop {
        if let Some((every, length)) = group.stalls {
            let t = started.elapsed().as_secs_f64();
            let cycle = every + length;
            let in_cycle = t % cycle.as_secs_f64();
            if in_cycle >= every.as_secs_f64() {
                // Stalled: neither consume nor commit (heartbeats continue in
                // librdkafka's thread, so the group stays Stable).
                let resume = Duration::from_secs_f64(cycle.as_secs_f64() - in_cycle);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(resume) => {}
                }
            }
        }
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            message = tokio::time::timeout(Duration::from_millis(500), consumer.recv()) => message,
        };
        if let Ok(Ok(_)) = message {
            consumed += 1;
            if let Some(pause) = pause_per_message {
                tokio::time::sleep(pause).await;
            }
        }
        if last_commit.elapsed() >= Duration::from_secs(1) {
            // Nothing new consumed since the last commit is not an error worth logging.
            let _ = consumer.commit_consumer_state(CommitMode::Async);
            last_commit = Instant::now();
        }
        if group.leaves_after.is_some_and(|limit| consumed >= limit) {
            let _ = consumer.commit_consumer_state(CommitMode::Sync);
            break;
        }
    }
    drop(consumer);
    Ok(())
}

/// A demo consumer that is closed on a thread of its own when dropped.
/// Closing blocks while the consumer leaves its group, and forever once the
/// broker is gone (rdkafka polls until librdkafka says closed): neither a
/// runtime thread nor the runtime's shutdown may wait for that, whether the
/// loop ended or its task was cancelled after a stop gave up waiting.
struct ClosedAside(Option<StreamConsumer<KafkaContext>>);

impl std::ops::Deref for ClosedAside {
    type Target = StreamConsumer<KafkaContext>;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for ClosedAside {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let closing = std::thread::Builder::new()
                .name("demo-consumer-close".into())
                .spawn(move || drop(consumer));
            if let Err(error) = closing {
                tracing::warn!("cannot close a demo consumer aside: {error}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_ten_times_the_wave() {
        let shape = TOPICS[0].shape;
        let in_burst = shape.rate_at(secs(16));
        let just_after = shape.rate_at(Duration::from_millis(21_500));
        assert!(in_burst > 5.0 * just_after, "{in_burst} vs {just_after}");
    }

    #[test]
    fn quiet_stretches_produce_nothing() {
        let shape = TOPICS[2].shape;
        assert_eq!(shape.rate_at(secs(50)), 0.0);
        assert!(shape.rate_at(secs(30)) > 0.0);
    }

    #[test]
    fn demo_values_are_json() {
        let mut rng = StdRng::seed_from_u64(1);
        for topic in TOPICS.iter().map(|t| t.name) {
            let (key, value, _) = demo_message(topic, 7, &mut rng);
            assert!(!key.is_empty());
            serde_json::from_str::<serde_json::Value>(&value).expect(&value);
        }
    }
}

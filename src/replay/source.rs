//! Reads a range of one topic, partitions merged by timestamp. Each
//! partition has its own librdkafka queue (split from the consumer), and the
//! merge takes a partition's next record only when it needs it, so
//! librdkafka's per-partition prefetch limits are the back-pressure: memory
//! stays bounded without pausing partitions. (Pausing was the first design;
//! librdkafka drops a paused partition's prefetched data and fetches it
//! again on resume, which cut throughput from ~30k to ~1k msg/s.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::record::{Record, RecordHeader};
use super::spec::{EndAt, SourceRange, StartAt};
use super::ReplayError;
use crate::security::{acl, KafkaAccess, KafkaContext};

/// What librdkafka prefetches for a partition before it waits for us.
const PREFETCH_KBYTES: usize = 16 * 1024;
const PREFETCH_MESSAGES: usize = 20_000;

struct PartitionRange {
    /// Inclusive; a partition with `last < first` has nothing to read.
    first: i64,
    last: i64,
    /// The next record of this partition, taken from its queue, waiting
    /// for the merge.
    head: Option<Record>,
    finished: bool,
    queue: Option<StreamPartitionQueue<KafkaContext>>,
    /// Set when the partition was sought back to this offset after an early
    /// fetch: until that record comes round again, whatever the queue holds
    /// (records or an end-of-partition event of the first fetch) is stale.
    resume_at: Option<i64>,
}

pub struct KafkaRangeReader {
    consumer: Arc<StreamConsumer<KafkaContext>>,
    topic: String,
    partitions: BTreeMap<i32, PartitionRange>,
    remaining: Option<u64>,
    start_time_ms: Option<i64>,
    end_time_ms: Option<i64>,
    idle_timeout: Duration,
    /// Serves the consumer's own queue (errors, events) while partition
    /// queues carry the records.
    main_queue_task: tokio::task::JoinHandle<()>,
    /// Upper bound of what will be read (exact unless time bounds or gaps
    /// make it less).
    pub planned: u64,
    /// Things the user should know (e.g. offsets already deleted by retention).
    pub warnings: Vec<String>,
    pub partition_count: usize,
}

impl Drop for KafkaRangeReader {
    fn drop(&mut self) {
        self.main_queue_task.abort();
    }
}

pub fn consumer_config(kafka: &KafkaAccess, timeout: Duration) -> ClientConfig {
    let mut config = kafka.rdkafka_config();
    config
        // Only assign(), never subscribe(): no group is joined and nothing is
        // committed, so reading never disturbs real consumers.
        .set(
            "group.id",
            format!("kafka-pulse-reader-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("queued.max.messages.kbytes", PREFETCH_KBYTES.to_string())
        .set("queued.min.messages", PREFETCH_MESSAGES.to_string())
        .set(
            "socket.timeout.ms",
            timeout.as_millis().max(1000).to_string(),
        )
        .set("log_level", "3");
    config
}

fn kafka_error(context: &str, error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Kafka(format!("{context}: {error}"))
}

/// The partitions of `topic`, or an error that says the topic is missing.
pub fn topic_partitions<C: Consumer<KafkaContext>>(
    consumer: &C,
    topic: &str,
    option: &str,
    timeout: Duration,
) -> Result<Vec<i32>, ReplayError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| kafka_error("cannot read topic metadata (is --brokers right?)", e))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    let refused = found
        .and_then(|t| t.error())
        .is_some_and(|e| RDKafkaErrorCode::from(e) == RDKafkaErrorCode::TopicAuthorizationFailed);
    if refused {
        return Err(ReplayError::Denied(format!(
            "{option}: topic {topic:?}: {}",
            acl::lacks(acl::Resource::Topic, acl::Operation::Describe, Some(topic))
        )));
    }
    match found {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            let mut partitions: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
            partitions.sort_unstable();
            Ok(partitions)
        }
        _ => Err(ReplayError::Invalid(format!(
            "{option}: topic {topic:?} does not exist on the cluster; check the name (GET /api/v1/topics lists them)"
        ))),
    }
}

impl KafkaRangeReader {
    pub async fn open(
        kafka: impl Into<KafkaAccess>,
        range: &SourceRange,
        timeout: Duration,
    ) -> Result<Self, ReplayError> {
        let kafka = kafka.into();
        let consumer: StreamConsumer<KafkaContext> = consumer_config(&kafka, timeout)
            .create_with_context(kafka.rdkafka_context())
            .map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
        let range_owned = range.clone();
        // Metadata, watermarks and offset lookups are blocking librdkafka calls.
        let (consumer, planned_ranges, warnings, partition_count) =
            tokio::task::spawn_blocking(move || {
                consumer.context().serve_first_token(
                    || {
                        // Nothing is assigned yet: no message is lost.
                        let _ = consumer.recv().now_or_never();
                    },
                    timeout,
                );
                plan(&consumer, &range_owned, timeout)
                    .map(|(ranges, warnings, count)| (consumer, ranges, warnings, count))
            })
            .await
            .map_err(|e| ReplayError::Kafka(format!("planning the read failed: {e}")))??;
        let consumer = Arc::new(consumer);

        let mut assignment = TopicPartitionList::new();
        let mut partitions = BTreeMap::new();
        let mut planned = 0u64;
        for (partition, (first, last)) in planned_ranges {
            let empty = last < first;
            if !empty {
                planned += (last - first + 1) as u64;
                assignment
                    .add_partition_offset(&range.topic, partition, Offset::Offset(first))
                    .map_err(|e| kafka_error("cannot build the assignment", e))?;
            }
            partitions.insert(
                partition,
                PartitionRange {
                    first,
                    last,
                    head: None,
                    finished: empty,
                    queue: None,
                    resume_at: None,
                },
            );
        }
        if assignment.count() > 0 {
            consumer
                .assign(&assignment)
                .map_err(|e| kafka_error("cannot assign partitions", e))?;
            // Queues can only be split after assign; whatever a fetch
            // delivered in between sits in the main queue. A real broker
            // delivers many records per partition that fast: each such
            // partition is sought back to its first early record, so the
            // fetch starts again into its own queue and the early copies
            // are dropped.
            for (partition, state) in partitions.iter_mut().filter(|(_, s)| !s.finished) {
                state.queue = Some(
                    consumer
                        .split_partition_queue(&range.topic, *partition)
                        .ok_or_else(|| {
                            ReplayError::Kafka(format!(
                                "cannot read partition {partition} on its own"
                            ))
                        })?,
                );
            }
            // An end-of-partition event sits among the early records when a
            // partition was fetched to its end: keep draining past it, or the
            // partitions behind it would never be sought back.
            let mut early: BTreeMap<i32, i64> = BTreeMap::new();
            while let Some(received) = consumer.recv().now_or_never() {
                if let Ok(message) = received {
                    early.entry(message.partition()).or_insert(message.offset());
                }
            }
            for (partition, offset) in early {
                consumer
                    .seek(&range.topic, partition, Offset::Offset(offset), timeout)
                    .map_err(|e| kafka_error("cannot restart reading a partition", e))?;
                if let Some(state) = partitions.get_mut(&partition) {
                    state.resume_at = Some(offset);
                }
            }
        }
        let main = consumer.clone();
        let main_queue_task = tokio::spawn(async move {
            loop {
                match main.recv().await {
                    Ok(message) => tracing::warn!(
                        partition = message.partition(),
                        offset = message.offset(),
                        "replay reader: a record arrived outside its partition queue"
                    ),
                    Err(error) => tracing::debug!("replay reader: {error}"),
                }
            }
        });
        let remaining = match range.end {
            EndAt::Count(count) => {
                planned = planned.min(count);
                Some(count)
            }
            _ => None,
        };
        let reader = KafkaRangeReader {
            consumer,
            topic: range.topic.clone(),
            partitions,
            remaining,
            start_time_ms: match range.start {
                StartAt::Time(time) => Some(time.timestamp_millis()),
                _ => None,
            },
            end_time_ms: match range.end {
                EndAt::Time(time) => Some(time.timestamp_millis()),
                _ => None,
            },
            idle_timeout: timeout.max(Duration::from_secs(10)) * 3,
            main_queue_task,
            planned,
            warnings,
            partition_count,
        };
        Ok(reader)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Partitions a target needs for --keep-partition: highest read + 1.
    pub fn needed_partitions(&self) -> Option<i32> {
        self.partitions.keys().max().map(|p| p + 1)
    }

    /// The next record in timestamp order across partitions (ties by
    /// partition number), None when the range is done.
    pub async fn next(&mut self) -> Result<Option<Record>, ReplayError> {
        if self.remaining == Some(0) {
            return Ok(None);
        }
        // Every partition that may still have data needs its next record
        // before the earliest can be chosen.
        let waiting: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(_, p)| !p.finished && p.head.is_none())
            .map(|(id, _)| *id)
            .collect();
        for partition in waiting {
            self.fill(partition).await?;
        }
        let earliest = self
            .partitions
            .iter()
            .filter_map(|(id, p)| p.head.as_ref().map(|r| (r.timestamp_ms, *id)))
            .min_by_key(|(timestamp, id)| (timestamp.unwrap_or(i64::MIN), *id));
        let Some((_, partition)) = earliest else {
            return Ok(None);
        };
        let record = self
            .partitions
            .get_mut(&partition)
            .and_then(|p| p.head.take())
            .expect("partition chosen for its head");
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= 1;
        }
        Ok(Some(record))
    }

    /// Reads `partition`'s queue until it has a head or is finished.
    async fn fill(&mut self, partition: i32) -> Result<(), ReplayError> {
        loop {
            let Some(state) = self.partitions.get(&partition) else {
                return Ok(());
            };
            if state.finished || state.head.is_some() {
                return Ok(());
            }
            let first = state.first;
            let queue = state
                .queue
                .as_ref()
                .expect("an unfinished partition has a queue");
            let received = tokio::time::timeout(self.idle_timeout, queue.recv()).await;
            match received {
                Err(_) => {
                    return Err(ReplayError::Kafka(format!(
                        "no data from {}/{partition} for {}s while expecting offset ≥ {first}; is the broker reachable?",
                        self.topic,
                        self.idle_timeout.as_secs()
                    )))
                }
                Ok(Ok(message)) => {
                    let record = to_record(&message);
                    drop(message);
                    if self.is_stale(partition, Some(record.offset)) {
                        continue;
                    }
                    self.accept(record);
                }
                Ok(Err(KafkaError::PartitionEOF(_))) => {
                    if !self.is_stale(partition, None) {
                        self.finish(partition);
                    }
                }
                Ok(Err(error)) if acl::topic_refused(&error) => {
                    return Err(ReplayError::Denied(format!(
                        "reading {}/{partition} was refused: {}",
                        self.topic,
                        acl::lacks(acl::Resource::Topic, acl::Operation::Read, Some(&self.topic))
                    )))
                }
                Ok(Err(error)) => return Err(kafka_error("reading failed", error)),
            }
        }
    }

    /// Whether what `partition`'s queue delivered (a record at `offset`, or
    /// the end of the partition) predates the seek back to `resume_at`.
    fn is_stale(&mut self, partition: i32, offset: Option<i64>) -> bool {
        let Some(state) = self.partitions.get_mut(&partition) else {
            return false;
        };
        match (state.resume_at, offset) {
            (None, _) => false,
            (Some(resume), Some(offset)) if offset == resume => {
                state.resume_at = None;
                false
            }
            _ => true,
        }
    }

    fn finish(&mut self, partition: i32) {
        if let Some(state) = self.partitions.get_mut(&partition) {
            if !state.finished {
                state.finished = true;
                // Stop fetching what we will not use.
                let _ = self.consumer.pause(&single(&self.topic, partition));
            }
        }
    }

    fn accept(&mut self, record: Record) {
        let partition = record.partition;
        let offset = record.offset;
        let timestamp_ms = record.timestamp_ms;
        let Some(state) = self.partitions.get_mut(&partition) else {
            return;
        };
        if state.finished || offset < state.first {
            return;
        }
        let past_end_time =
            matches!((self.end_time_ms, timestamp_ms), (Some(end), Some(ts)) if ts > end);
        if past_end_time {
            self.finish(partition);
            return;
        }
        let before_start =
            matches!((self.start_time_ms, timestamp_ms), (Some(start), Some(ts)) if ts < start);
        let last = state.last;
        if !before_start {
            state.head = Some(record);
        }
        if offset >= last {
            self.finish(partition);
        }
    }
}

fn to_record<M: Message>(message: &M) -> Record {
    Record {
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|header| RecordHeader {
                        key: header.key.to_string(),
                        value: header.value.map(<[u8]>::to_vec),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn single(topic: &str, partition: i32) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    list
}

type Plan = (BTreeMap<i32, (i64, i64)>, Vec<String>, usize);

/// First and last (inclusive) offset to read in each partition.
fn plan(
    consumer: &StreamConsumer<KafkaContext>,
    range: &SourceRange,
    timeout: Duration,
) -> Result<Plan, ReplayError> {
    // A busy broker may drop a connection now and then: a few tries before
    // giving up (a missing topic is an answer, not a failure).
    let mut attempt = 0;
    let existing = loop {
        attempt += 1;
        match topic_partitions(consumer, &range.topic, "--from", timeout) {
            Err(ReplayError::Kafka(_)) if attempt < 4 => {
                std::thread::sleep(Duration::from_secs(1));
            }
            result => break result?,
        }
    };
    let named_by_start = match &range.start {
        StartAt::Offsets(super::spec::OffsetSpec::PerPartition(map)) => {
            Some(map.keys().copied().collect::<Vec<_>>())
        }
        _ => None,
    };
    let wanted = range
        .partitions
        .clone()
        .or(named_by_start)
        .unwrap_or_else(|| existing.clone());
    if let Some(missing) = wanted.iter().find(|p| !existing.contains(p)) {
        return Err(ReplayError::Invalid(format!(
            "--partitions: topic {:?} has partitions 0..{} ; partition {missing} does not exist",
            range.topic,
            existing.len().saturating_sub(1)
        )));
    }
    let mut warnings = Vec::new();
    let mut watermarks = BTreeMap::new();
    for partition in &wanted {
        let (low, high) = consumer
            .fetch_watermarks(&range.topic, *partition, timeout)
            .map_err(|e| {
                kafka_error(
                    &format!("cannot read watermarks of partition {partition}"),
                    e,
                )
            })?;
        watermarks.insert(*partition, (low, high));
    }
    let by_time = match &range.start {
        StartAt::Time(time) => {
            let mut request = TopicPartitionList::new();
            for partition in &wanted {
                request
                    .add_partition_offset(
                        &range.topic,
                        *partition,
                        Offset::Offset(time.timestamp_millis()),
                    )
                    .map_err(|e| kafka_error("cannot build the time lookup", e))?;
            }
            let answer = consumer
                .offsets_for_times(request, timeout)
                .map_err(|e| kafka_error("cannot look up offsets by time", e))?;
            answer
                .elements()
                .iter()
                .map(|e| (e.partition(), e.offset()))
                .collect::<BTreeMap<_, _>>()
        }
        _ => BTreeMap::new(),
    };
    let mut ranges = BTreeMap::new();
    for partition in wanted {
        let (low, high) = watermarks[&partition];
        let first = match &range.start {
            StartAt::Earliest => low,
            StartAt::Tail(count) => (high - *count as i64).max(low),
            StartAt::Offsets(spec) => {
                let asked = spec.for_partition(partition).unwrap_or(low);
                if asked < low {
                    warnings.push(format!(
                        "partition {partition}: offsets below {low} are gone (retention); starting at {low} instead of {asked}"
                    ));
                }
                asked.max(low)
            }
            StartAt::Time(_) => match by_time.get(&partition) {
                Some(Offset::Offset(offset)) => (*offset).clamp(low, high),
                // No message at or after that time.
                _ => high,
            },
        };
        let mut last = high - 1;
        if let EndAt::Offsets(spec) = &range.end {
            if let Some(end) = spec.for_partition(partition) {
                last = last.min(end);
            }
        }
        ranges.insert(partition, (first, last));
    }
    Ok((ranges, warnings, existing.len()))
}

//! Reads a range of one topic, partitions merged by timestamp, with bounded
//! memory: a partition that runs ahead of the others (its buffer or all
//! buffers together past a limit) is paused at the broker until the merge
//! has taken its records. The limits are generous on purpose: librdkafka
//! drops a paused partition's prefetched data and fetches it again on
//! resume, so pausing every few hundred records cut throughput tenfold
//! (1.5k vs 19k msg/s measured on the embedded broker).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::record::{Record, RecordHeader};
use super::spec::{EndAt, SourceRange, StartAt};
use super::ReplayError;

/// How much the merge may hold before pausing a partition.
#[derive(Debug, Clone, Copy)]
pub struct BufferLimits {
    pub records_per_partition: usize,
    pub bytes_per_partition: usize,
    /// All partitions' buffers together.
    pub total_bytes: usize,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            records_per_partition: 20_000,
            bytes_per_partition: 16 * 1024 * 1024,
            total_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Partitions of a topic and their watermarks at one moment.
pub struct TopicShape {
    pub partitions: Vec<i32>,
}

struct PartitionRange {
    /// Inclusive; a partition with `last < first` has nothing to read.
    first: i64,
    last: i64,
    buffer: VecDeque<Record>,
    buffered_bytes: usize,
    finished: bool,
    paused: bool,
}

pub struct KafkaRangeReader {
    consumer: StreamConsumer,
    topic: String,
    partitions: BTreeMap<i32, PartitionRange>,
    remaining: Option<u64>,
    start_time_ms: Option<i64>,
    end_time_ms: Option<i64>,
    idle_timeout: Duration,
    buffered_bytes: usize,
    limits: BufferLimits,
    /// Upper bound of what will be read (exact unless time bounds or gaps
    /// make it less).
    pub planned: u64,
    /// How often a partition was paused (it ran ahead of the merge).
    pub pauses: u64,
    /// Things the user should know (e.g. offsets already deleted by retention).
    pub warnings: Vec<String>,
    pub partition_count: usize,
}

pub fn consumer_config(bootstrap: &str, timeout: Duration) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        // Only assign(), never subscribe(): no group is joined and nothing is
        // committed, so reading never disturbs real consumers.
        .set(
            "group.id",
            format!("kafka-pulse-reader-{}", uuid::Uuid::new_v4()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("queued.max.messages.kbytes", "16384")
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
pub fn topic_partitions<C: Consumer>(
    consumer: &C,
    topic: &str,
    option: &str,
    timeout: Duration,
) -> Result<Vec<i32>, ReplayError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| kafka_error("cannot read topic metadata (is --brokers right?)", e))?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
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
        bootstrap: &str,
        range: &SourceRange,
        timeout: Duration,
    ) -> Result<Self, ReplayError> {
        let consumer: StreamConsumer = consumer_config(bootstrap, timeout)
            .create()
            .map_err(|e| kafka_error("cannot create a Kafka consumer", e))?;
        let range_owned = range.clone();
        // Metadata, watermarks and offset lookups are blocking librdkafka calls.
        let (consumer, planned_ranges, warnings, partition_count) =
            tokio::task::spawn_blocking(move || {
                plan(&consumer, &range_owned, timeout)
                    .map(|(ranges, warnings, count)| (consumer, ranges, warnings, count))
            })
            .await
            .map_err(|e| ReplayError::Kafka(format!("planning the read failed: {e}")))??;

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
                    buffer: VecDeque::new(),
                    buffered_bytes: 0,
                    finished: empty,
                    paused: false,
                },
            );
        }
        if assignment.count() > 0 {
            consumer
                .assign(&assignment)
                .map_err(|e| kafka_error("cannot assign partitions", e))?;
        }
        let remaining = match range.end {
            EndAt::Count(count) => {
                planned = planned.min(count);
                Some(count)
            }
            _ => None,
        };
        Ok(KafkaRangeReader {
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
            buffered_bytes: 0,
            limits: BufferLimits::default(),
            pauses: 0,
            planned,
            warnings,
            partition_count,
        })
    }

    /// Smaller limits make the pause/resume paths testable with few records.
    pub fn with_limits(mut self, limits: BufferLimits) -> Self {
        self.limits = limits;
        self
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
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            // A partition that may still have data but has none buffered
            // could hold the earliest record: wait for it first.
            let waiting = self
                .partitions
                .iter()
                .find(|(_, p)| !p.finished && p.buffer.is_empty())
                .map(|(id, p)| (*id, p.first));
            if let Some((partition, first)) = waiting {
                let received = tokio::time::timeout(self.idle_timeout, self.consumer.recv()).await;
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
                        self.accept(record)
                    }
                    Ok(Err(KafkaError::PartitionEOF(partition))) => self.finish(partition),
                    Ok(Err(error)) => return Err(kafka_error("reading failed", error)),
                }
                continue;
            }
            let earliest = self
                .partitions
                .iter()
                .filter_map(|(id, p)| p.buffer.front().map(|r| (r.timestamp_ms, *id)))
                .min_by_key(|(timestamp, id)| (timestamp.unwrap_or(i64::MIN), *id));
            let Some((_, partition)) = earliest else {
                return Ok(None);
            };
            let state = self
                .partitions
                .get_mut(&partition)
                .expect("partition chosen from the map");
            let record = state.buffer.pop_front().expect("non-empty buffer");
            state.buffered_bytes -= record.payload_bytes() as usize;
            self.buffered_bytes -= record.payload_bytes() as usize;
            // An empty partition is resumed whatever the others hold: the
            // merge cannot go on without its next record.
            if state.paused
                && !state.finished
                && (state.buffer.is_empty()
                    || (state.buffer.len() < self.limits.records_per_partition / 2
                        && state.buffered_bytes < self.limits.bytes_per_partition / 2
                        && self.buffered_bytes < self.limits.total_bytes / 2))
            {
                state.paused = false;
                let _ = self.consumer.resume(&single(&self.topic, partition));
            }
            if let Some(remaining) = self.remaining.as_mut() {
                *remaining -= 1;
            }
            return Ok(Some(record));
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
        if !before_start {
            state.buffered_bytes += record.payload_bytes() as usize;
            self.buffered_bytes += record.payload_bytes() as usize;
            state.buffer.push_back(record);
        }
        if offset >= state.last {
            self.finish(partition);
            return;
        }
        let state = self.partitions.get_mut(&partition).expect("checked above");
        if !state.paused
            && (state.buffer.len() >= self.limits.records_per_partition
                || state.buffered_bytes >= self.limits.bytes_per_partition
                || self.buffered_bytes >= self.limits.total_bytes)
        {
            state.paused = true;
            self.pauses += 1;
            let _ = self.consumer.pause(&single(&self.topic, partition));
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
    consumer: &StreamConsumer,
    range: &SourceRange,
    timeout: Duration,
) -> Result<Plan, ReplayError> {
    let existing = topic_partitions(consumer, &range.topic, "--from", timeout)?;
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

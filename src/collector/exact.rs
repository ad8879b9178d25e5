//! Exact time lag, as an option (`--exact-lag-fetches N`): for up to N
//! lagging partitions a tick, read the timestamp of the message at the
//! group's committed offset, instead of estimating it from the watermark
//! history. A message's timestamp never changes, so answers are cached by
//! (topic, partition, offset) and a partition whose consumer does not move
//! costs one fetch in all. Fetches run on their own thread, batched (one
//! assignment for the whole batch), so a slow broker delays the exact
//! numbers, never the collector's tick.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::security::KafkaContext;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::model::{ExactTimestamp, Name, Sample};
use crate::security::acl;

/// Answers kept; beyond that the oldest go (they are cheap to fetch again).
const CACHE_ENTRIES: usize = 100_000;

/// A topic the principal may not read (no Topic READ ACL) is not asked
/// again for this long: each try would wait out the fetch timeout. After
/// it, one try finds out whether the ACL was granted meanwhile.
const DENIED_RETRY_AFTER: Duration = Duration::from_secs(300);

type Key = (Name, i32, i64);

#[derive(Default)]
struct Cache {
    times: HashMap<Key, i64>,
    order: VecDeque<Key>,
    /// Asked for and not answered yet: not asked again meanwhile.
    pending: HashMap<Key, Instant>,
    /// Topics whose fetch was refused for lack of Topic READ, and when.
    denied: HashMap<Name, Instant>,
}

impl Cache {
    fn insert(&mut self, key: Key, timestamp_ms: i64) {
        self.pending.remove(&key);
        if self.times.insert(key.clone(), timestamp_ms).is_none() {
            self.order.push_back(key);
            while self.order.len() > CACHE_ENTRIES {
                if let Some(old) = self.order.pop_front() {
                    self.times.remove(&old);
                }
            }
        }
    }
}

pub struct ExactTimes {
    per_tick: usize,
    timeout: Duration,
    cache: Arc<Mutex<Cache>>,
    requests: mpsc::Sender<Vec<Key>>,
    /// Told after each batch is answered, so a tick can wait for its own.
    answered: Arc<tokio::sync::Notify>,
    /// Fetches done and failed, for the closing numbers and tests.
    pub stats: Arc<Mutex<ExactStats>>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ExactStats {
    pub fetched: u64,
    pub failed: u64,
}

impl ExactTimes {
    /// Starts the fetch thread; it ends when this is dropped.
    pub fn start(
        kafka: &crate::security::KafkaAccess,
        per_tick: usize,
        timeout: Duration,
    ) -> Result<Self, String> {
        let consumer: BaseConsumer<KafkaContext> = kafka
            .rdkafka_config()
            .set("group.id", "kafka-pulse-exact-lag")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // One message per partition is all we need.
            .set("max.partition.fetch.bytes", "65536")
            .set("queued.max.messages.kbytes", "4096")
            .set("log_level", "3")
            .create_with_context(kafka.rdkafka_context())
            .map_err(|e| format!("cannot create the exact-lag consumer: {e}"))?;
        let cache = Arc::new(Mutex::new(Cache::default()));
        let stats = Arc::new(Mutex::new(ExactStats::default()));
        // One batch waiting is enough: a newer batch replaces nothing, it queues.
        let (requests, mut receiver) = mpsc::channel::<Vec<Key>>(2);
        let thread_cache = cache.clone();
        let thread_stats = stats.clone();
        let answered = Arc::new(tokio::sync::Notify::new());
        let thread_answered = answered.clone();
        std::thread::Builder::new()
            .name("exact-lag".into())
            .spawn(move || {
                while let Some(batch) = receiver.blocking_recv() {
                    let fetched = fetch_batch(&consumer, &batch, timeout);
                    let mut cache = thread_cache.lock().expect("exact cache poisoned");
                    let mut stats = thread_stats.lock().expect("exact stats poisoned");
                    let now = Instant::now();
                    for key in batch {
                        match fetched.answers.get(&key) {
                            Some(timestamp) => {
                                stats.fetched += 1;
                                cache.denied.remove(&key.0);
                                cache.insert(key, *timestamp);
                            }
                            None => {
                                stats.failed += 1;
                                cache.pending.remove(&key);
                                // rdkafka's error does not say which topic
                                // was refused: those left unanswered were.
                                if fetched.denied {
                                    cache.denied.insert(key.0.clone(), now);
                                }
                            }
                        }
                    }
                    drop((cache, stats));
                    thread_answered.notify_waiters();
                }
            })
            .map_err(|e| format!("cannot start the exact-lag thread: {e}"))?;
        Ok(ExactTimes {
            per_tick,
            timeout,
            cache,
            requests,
            answered,
            stats,
        })
    }

    /// Fills `sample.exact_timestamps` with what is known for its lagging
    /// commits and asks for up to `per_tick` of the unknown ones, most
    /// lagging (in messages) first, waiting up to `wait` for them: right
    /// after a commit moves, this tick gets the new offset's real time
    /// instead of falling back to the estimate for one tick.
    pub async fn annotate(&self, sample: &mut Sample, wait: Duration) {
        let mut highs: HashMap<(&str, i32), i64> = HashMap::new();
        for topic in &sample.topics {
            for partition in &topic.partitions {
                if let Some(high) = partition.high_watermark {
                    highs.insert((topic.name.as_str(), partition.partition), high);
                }
            }
        }
        let mut known = Vec::new();
        let mut wanted: Vec<(i64, Key)> = Vec::new();
        {
            let mut cache = self.cache.lock().expect("exact cache poisoned");
            let now = Instant::now();
            // A request that never came back (thread busy, broker slow) may
            // be asked again after a while.
            let stale = self.timeout * 4;
            cache
                .pending
                .retain(|_, asked| now.duration_since(*asked) < stale);
            cache
                .denied
                .retain(|_, when| now.duration_since(*when) < DENIED_RETRY_AFTER);
            let mut denied: Vec<&Name> = cache.denied.keys().collect();
            denied.sort();
            for topic in denied {
                sample.errors.push(format!(
                    "exact time lag on topic {topic}: {}; its time lag is estimated from the \
                     watermark history instead",
                    acl::lacks(acl::Resource::Topic, acl::Operation::Read, Some(topic))
                ));
            }
            for group in &sample.groups {
                for commit in &group.offsets {
                    let (Some(offset), Some(&high)) = (
                        commit.offset.get(),
                        highs.get(&(commit.topic.as_str(), commit.partition)),
                    ) else {
                        continue;
                    };
                    if offset >= high {
                        continue;
                    }
                    if cache.denied.contains_key(&commit.topic) {
                        continue;
                    }
                    let key = (commit.topic.clone(), commit.partition, offset);
                    match cache.times.get(&key) {
                        Some(&timestamp_ms) => known.push(ExactTimestamp {
                            topic: commit.topic.clone(),
                            partition: commit.partition,
                            offset,
                            timestamp_ms,
                        }),
                        None if !cache.pending.contains_key(&key) => {
                            wanted.push((high - offset, key))
                        }
                        None => {}
                    }
                }
            }
            // Most lagging first; equal keys (groups at the same offset) adjacent.
            wanted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            wanted.dedup_by(|a, b| a.1 == b.1);
            wanted.truncate(self.per_tick);
            for (_, key) in &wanted {
                cache.pending.insert(key.clone(), now);
            }
        }
        if !wanted.is_empty() {
            let batch: Vec<Key> = wanted.into_iter().map(|(_, key)| key).collect();
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            match self.requests.try_send(batch.clone()) {
                Ok(()) => {
                    // The thread answers batches in order: ours is done
                    // when a notification finds its keys answered.
                    let deadline = tokio::time::Instant::now() + wait;
                    loop {
                        if tokio::time::timeout_at(deadline, answered.as_mut())
                            .await
                            .is_err()
                        {
                            break;
                        }
                        let cache = self.cache.lock().expect("exact cache poisoned");
                        if batch.iter().all(|key| !cache.pending.contains_key(key)) {
                            break;
                        }
                        drop(cache);
                        answered.set(self.answered.notified());
                        answered.as_mut().enable();
                    }
                    let cache = self.cache.lock().expect("exact cache poisoned");
                    for key in &batch {
                        if let Some(&timestamp_ms) = cache.times.get(key) {
                            known.push(ExactTimestamp {
                                topic: key.0.clone(),
                                partition: key.1,
                                offset: key.2,
                                timestamp_ms,
                            });
                        }
                    }
                }
                Err(mpsc::error::TrySendError::Full(batch)) => {
                    // The thread is behind: forget the marks so a later tick asks again.
                    let mut cache = self.cache.lock().expect("exact cache poisoned");
                    for key in batch {
                        cache.pending.remove(&key);
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        known.sort_by(|a, b| {
            (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset))
        });
        known.dedup();
        sample.exact_timestamps = known;
    }
}

/// What one batch found.
struct Fetched {
    /// Timestamp by key.
    answers: HashMap<Key, i64>,
    /// The broker refused a fetch for lack of Topic READ.
    denied: bool,
}

/// Timestamps of the first message at or after each (topic, partition,
/// offset) — the message at the offset, or the next one that exists when
/// compaction removed it.
fn fetch_batch(consumer: &BaseConsumer<KafkaContext>, batch: &[Key], timeout: Duration) -> Fetched {
    let mut answers = HashMap::new();
    let mut denied = false;
    let mut assignment = TopicPartitionList::new();
    let mut waiting: HashMap<(Name, i32), i64> = HashMap::new();
    for (topic, partition, offset) in batch {
        // One offset per partition per batch (the most lagging group's).
        if waiting.contains_key(&(topic.clone(), *partition)) {
            continue;
        }
        if assignment
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .is_ok()
        {
            waiting.insert((topic.clone(), *partition), *offset);
        }
    }
    if consumer.assign(&assignment).is_err() {
        return Fetched { answers, denied };
    }
    let deadline = Instant::now() + timeout;
    // No end-of-partition events: rdkafka's carries the partition number
    // without its topic, and dropping partition N of every topic on one
    // topic's end lost other topics' answers. Offsets asked for are below
    // the high watermark, so their message exists; one deleted meanwhile
    // waits for the deadline.
    while !waiting.is_empty() && Instant::now() < deadline {
        let message = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                denied |= acl::topic_refused(&error);
                continue;
            }
            None => continue,
        };
        let key = (Name::from(message.topic()), message.partition());
        if let Some(&offset) = waiting.get(&key) {
            if message.offset() >= offset {
                if let Some(timestamp) = message.timestamp().to_millis() {
                    answers.insert((key.0.clone(), key.1, offset), timestamp);
                }
                waiting.remove(&key);
            }
        }
    }
    let _ = consumer.unassign();
    Fetched { answers, denied }
}

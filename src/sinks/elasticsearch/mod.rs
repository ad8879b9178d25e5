//! Elasticsearch sink: every event, and a metric document per topic and
//! group each `metrics_interval`, shipped with bulk `create` requests. The
//! bulk answer is read item by item: only items that failed with 429/5xx are
//! sent again (with backoff); items Elasticsearch refused for good are counted
//! and logged with its reason; a conflict on our fixed document id means an
//! earlier attempt already stored it, so nothing is ever stored twice.

pub mod config;
pub mod encoder;
pub mod service;
pub mod templates;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{EsConfig, FLUSH_INTERVAL, MAX_BATCH_BYTES, MAX_BATCH_DOCS, SHUTDOWN_FLUSH};
use encoder::{event_doc, metric_docs, PendingDoc};
use service::{BulkResult, EsClient, EsError, ItemResult};

use super::queue::{BoundedQueue, Queued};
use super::retry::DEFAULT_BACKOFF;
use super::SinkHealth;

pub const SINK_NAME: &str = "elasticsearch";
const LABEL: &str = "Elasticsearch";

impl Queued for PendingDoc {
    fn records(&self) -> usize {
        1
    }

    fn size(&self) -> usize {
        self.source.len() + self.id.len() + 64
    }
}

type DocQueue = Mutex<BoundedQueue<PendingDoc>>;

/// Runs until `shutdown`, then flushes what is queued for a bounded time.
pub async fn run(
    config: EsConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    shutdown: CancellationToken,
) -> Result<(), EsError> {
    let counters = store.register_sink(SINK_NAME);
    let client = EsClient::new(&config)?;
    let health = SinkHealth::new(SINK_NAME, LABEL, &store, &counters);
    match client.healthcheck().await {
        Ok(version) => {
            tracing::info!(version, "Elasticsearch sink connected");
            if let Err(error) = client.install_templates().await {
                health.startup_failed(&error);
            }
        }
        Err(error) => health.startup_failed(&error),
    }
    let queue: Arc<DocQueue> = Arc::new(Mutex::new(BoundedQueue::new(config.queue_docs)));
    let ready = Arc::new(Notify::new());
    let producer = tokio::spawn(produce_loop(
        config.clone(),
        cluster_name,
        store.clone(),
        counters.clone(),
        queue.clone(),
        ready.clone(),
        shutdown.clone(),
    ));
    send_loop(&client, &store, &counters, &queue, &ready, &shutdown).await;
    let _ = producer.await;
    flush_at_shutdown(&client, &counters, &queue).await;
    Ok(())
}

fn enqueue(counters: &SinkCounters, queue: &DocQueue, docs: Vec<PendingDoc>) {
    super::enqueue_counted(
        counters,
        queue,
        docs,
        "Elasticsearch sink queue full: dropped the oldest documents",
    );
}

/// Turns new events and, every metrics interval, the latest snapshot into
/// queued documents.
async fn produce_loop(
    config: EsConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    counters: Arc<SinkCounters>,
    queue: Arc<DocQueue>,
    ready: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut snapshots = store.subscribe();
    let mut cursor = 0u64;
    let mut next_metrics = tokio::time::Instant::now();
    loop {
        let latest = store.latest();
        let cluster = cluster_name
            .clone()
            .or_else(|| latest.cluster_id.clone())
            .unwrap_or_else(|| "default".into());
        let (events, missed) = store.events_after(cursor, 10_000);
        if missed > 0 {
            SinkCounters::add(&counters.dropped, missed as usize);
            tracing::warn!(
                missed,
                "events left the log before the Elasticsearch sink read them"
            );
        }
        if let Some((last, _)) = events.last() {
            cursor = *last;
        }
        let mut docs: Vec<PendingDoc> =
            events.iter().map(|(_, e)| event_doc(e, &cluster)).collect();
        if latest.sequence > 0 && latest.kafka_up && tokio::time::Instant::now() >= next_metrics {
            docs.extend(metric_docs(&latest, &cluster));
            next_metrics = tokio::time::Instant::now() + config.metrics_interval;
        }
        if !docs.is_empty() {
            enqueue(&counters, &queue, docs);
            ready.notify_one();
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Events recorded while stopping still go out with the flush.
                let (events, _) = store.events_after(cursor, 10_000);
                let docs = events.iter().map(|(_, e)| event_doc(e, &cluster)).collect::<Vec<_>>();
                if !docs.is_empty() {
                    enqueue(&counters, &queue, docs);
                }
                return;
            }
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
        }
    }
}

/// Sends one batch; returns what must be retried, counting the rest.
/// `Err(delay)` asks the caller to wait before the next attempt.
async fn send_batch(
    client: &EsClient,
    batch: Vec<PendingDoc>,
    counters: &SinkCounters,
    rejections: &mut BTreeMap<String, u64>,
) -> (
    Vec<PendingDoc>,
    Option<(String, Option<std::time::Duration>)>,
) {
    match client.bulk(&batch).await {
        BulkResult::Items(items) => {
            let mut retry = Vec::new();
            let mut retry_reason = None;
            for (doc, item) in batch.into_iter().zip(items) {
                match item {
                    ItemResult::Stored | ItemResult::AlreadyStored => {
                        SinkCounters::add(&counters.sent, 1)
                    }
                    ItemResult::Retry(reason) => {
                        retry.push(doc);
                        retry_reason = Some(reason);
                    }
                    ItemResult::Rejected(reason) => {
                        SinkCounters::add(&counters.dropped, 1);
                        SinkCounters::add(&counters.errors, 1);
                        let seen = rejections.entry(reason.clone()).or_insert(0);
                        if *seen == 0 {
                            tracing::error!(
                                index = doc.index,
                                "Elasticsearch rejected a document: {reason}"
                            );
                        }
                        *seen += 1;
                        counters.set_last_error(Some(reason));
                    }
                }
            }
            if !retry.is_empty() {
                SinkCounters::add(&counters.errors, 1);
            }
            (retry, retry_reason.map(|r| (r, None)))
        }
        BulkResult::RetryAll {
            reason,
            retry_after,
        } => {
            SinkCounters::add(&counters.errors, 1);
            (batch, Some((reason, retry_after)))
        }
        BulkResult::RejectAll { reason } => {
            SinkCounters::add(&counters.errors, 1);
            SinkCounters::add(&counters.dropped, batch.len());
            tracing::error!(
                "Elasticsearch refused a bulk request of {} documents: {reason}",
                batch.len()
            );
            counters.set_last_error(Some(reason));
            (Vec::new(), None)
        }
    }
}

async fn send_loop(
    client: &EsClient,
    store: &Store,
    counters: &SinkCounters,
    queue: &DocQueue,
    ready: &Notify,
    shutdown: &CancellationToken,
) {
    let mut attempt: u32 = 0;
    let mut health = SinkHealth::new(SINK_NAME, LABEL, store, counters);
    let mut rejections = BTreeMap::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ready.notified() => {}
            _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
        }
        while let Some(batch) = next_batch(queue) {
            let (retry, trouble) = send_batch(client, batch, counters, &mut rejections).await;
            let retrying = !retry.is_empty();
            if retrying {
                let dropped = queue.lock().expect("queue poisoned").requeue(retry);
                SinkCounters::add(&counters.dropped, dropped);
            }
            counters.queued.store(
                queue.lock().expect("queue poisoned").records() as u64,
                Ordering::Relaxed,
            );
            match trouble {
                Some((reason, retry_after)) if retrying => {
                    health.failed(&reason);
                    let delay = DEFAULT_BACKOFF.delay(attempt, retry_after);
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    break;
                }
                _ => {
                    attempt = 0;
                    health.delivered();
                }
            }
        }
    }
}

/// The next batch of documents; `None` when the queue is empty.
fn next_batch(queue: &DocQueue) -> Option<Vec<PendingDoc>> {
    let batch = queue
        .lock()
        .expect("queue poisoned")
        .take_batch(MAX_BATCH_DOCS, MAX_BATCH_BYTES);
    (!batch.is_empty()).then_some(batch)
}

async fn flush_at_shutdown(client: &EsClient, counters: &SinkCounters, queue: &DocQueue) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
    let mut rejections = BTreeMap::new();
    loop {
        let Some(batch) = next_batch(queue) else {
            counters.queued.store(0, Ordering::Relaxed);
            return;
        };
        let size = batch.len();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let outcome =
            tokio::time::timeout(left, send_batch(client, batch, counters, &mut rejections)).await;
        let unsent = match outcome {
            Ok((retry, _)) => retry.len(),
            Err(_) => size,
        };
        if unsent > 0 {
            let rest = queue.lock().expect("queue poisoned").records();
            SinkCounters::add(&counters.dropped, unsent + rest);
            counters.queued.store(0, Ordering::Relaxed);
            tracing::warn!(
                dropped = unsent + rest,
                "Elasticsearch sink could not flush everything before shutdown"
            );
            return;
        }
    }
}

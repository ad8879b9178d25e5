//! Elasticsearch sink: every event, and a metric document per topic and
//! group each `metrics_interval`, shipped by the shared sink driver with bulk
//! `create` requests. The bulk answer is read item by item: only items that failed with 429/5xx are
//! sent again (with backoff); items Elasticsearch refused for good are counted
//! and logged with its reason; a conflict on our fixed document id means an
//! earlier attempt already stored it, so nothing is ever stored twice.

pub mod config;
pub mod encoder;
pub mod service;
pub mod templates;
pub mod transport;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{EsConfig, FLUSH_INTERVAL, MAX_BATCH_BYTES, MAX_BATCH_DOCS, SHUTDOWN_FLUSH};
use encoder::{event_doc, metric_docs, PendingDoc};
use service::{EsClient, EsError, EsService};

use super::driver::{Driver, OnRefusal, Settings};
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

/// How the shared driver sends to Elasticsearch: bulk requests of up to
/// 1,000 documents; a refused document is noted in `last_error` only (it
/// says nothing about the cluster, which answered).
fn settings() -> Settings {
    Settings {
        sink: SINK_NAME,
        label: LABEL,
        max_records: MAX_BATCH_DOCS,
        max_bytes: MAX_BATCH_BYTES,
        flush_interval: FLUSH_INTERVAL,
        shutdown_flush: SHUTDOWN_FLUSH,
        backoff: DEFAULT_BACKOFF,
        max_per_second: None,
        on_refusal: OnRefusal::LastErrorThenDelivered,
    }
}

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
        Ok(engine) => {
            tracing::info!(engine, "Elasticsearch sink connected");
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
    Driver::new(
        settings(),
        EsService::new(client),
        &queue,
        &ready,
        &store,
        &counters,
    )
    .run(&shutdown, producer)
    .await;
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
        // The same label as /metrics and InfluxDB.
        let cluster = latest.cluster_label(cluster_name.as_deref()).to_string();
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

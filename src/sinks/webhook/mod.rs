//! Webhook notifier: posts one JSON document per event of the chosen kinds
//! (status changes, lag threshold crossings, Kafka and broker up/down) to
//! `--notify-webhook`. Events are read from the store by id cursor into a
//! bounded queue (oldest dropped and counted), so a slow or dead receiver
//! never slows the collector; the shared sink driver paces POSTs to at most
//! `max_per_second`, transport errors, 429 and 5xx are retried with capped
//! jittered backoff honouring Retry-After, and any other refusal is counted
//! as dropped and never retried.

pub mod config;
pub mod payload;
pub mod sender;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{redacted_webhook_url, WebhookConfig, SHUTDOWN_FLUSH};
use payload::Notification;
use sender::{WebhookError, WebhookSender, WebhookService};

use super::driver::{Driver, OnRefusal, Settings};
use super::queue::BoundedQueue;
use super::retry::DEFAULT_BACKOFF;

pub const SINK_NAME: &str = "webhook";
const LABEL: &str = "Webhook";
/// How often the event log is read when no snapshot wakes us: events are
/// pushed just after the snapshot that caused them, so the wake-up on a new
/// snapshot can come a moment too early.
const POLL: Duration = Duration::from_millis(250);
/// Events read from the store per pass.
const READ_LIMIT: usize = 10_000;

type NotificationQueue = Mutex<BoundedQueue<Notification>>;

/// How the shared driver posts notifications: one per request, paced to
/// `max_per_second`; a refused notification is noted in `last_error` only
/// (it neither breaks nor mends the receiver).
fn settings(max_per_second: u32) -> Settings {
    Settings {
        sink: SINK_NAME,
        label: LABEL,
        max_records: 1,
        max_bytes: usize::MAX,
        flush_interval: Duration::from_secs(1),
        shutdown_flush: SHUTDOWN_FLUSH,
        backoff: DEFAULT_BACKOFF,
        max_per_second: Some(max_per_second),
        on_refusal: OnRefusal::LastError,
    }
}

/// Runs until `shutdown`, then flushes what is queued for a bounded time.
pub async fn run(
    config: WebhookConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    shutdown: CancellationToken,
) -> Result<(), WebhookError> {
    let counters = store.register_sink(SINK_NAME);
    let sender = WebhookSender::new(&config)?;
    tracing::info!(
        url = %redacted_webhook_url(&config.url),
        kinds = ?config.kinds,
        "webhook notifications on"
    );
    let queue: Arc<NotificationQueue> =
        Arc::new(Mutex::new(BoundedQueue::new(config.queue_events)));
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
        settings(config.max_per_second),
        WebhookService::new(sender),
        &queue,
        &ready,
        &store,
        &counters,
    )
    .run(&shutdown, producer)
    .await;
    Ok(())
}

fn enqueue(counters: &SinkCounters, queue: &NotificationQueue, items: Vec<Notification>) {
    super::enqueue_counted(
        counters,
        queue,
        items,
        "webhook queue full: dropped the oldest notifications",
    );
}

/// Reads new events from the store, keeps the wanted kinds and queues their
/// payloads.
async fn produce_loop(
    config: WebhookConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    counters: Arc<SinkCounters>,
    queue: Arc<NotificationQueue>,
    ready: Arc<Notify>,
    shutdown: CancellationToken,
) {
    // Ids are unique within a run; the run id makes them unique across
    // restarts, so receivers can deduplicate on `id` alone.
    let run = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let mut snapshots = store.subscribe();
    let mut cursor = 0u64;
    let read = |cursor: &mut u64| {
        let (events, missed) = store.events_after(*cursor, READ_LIMIT);
        if missed > 0 {
            SinkCounters::add(&counters.dropped, missed as usize);
            tracing::warn!(
                missed,
                "events left the log before the webhook notifier read them"
            );
        }
        if let Some((last, _)) = events.last() {
            *cursor = *last;
        }
        let wanted: Vec<_> = events
            .iter()
            .filter(|(_, event)| config.wants(&event.kind))
            .collect();
        if wanted.is_empty() {
            return false;
        }
        let latest = store.latest();
        // The same label as /metrics and InfluxDB.
        let cluster = latest.cluster_label(cluster_name.as_deref()).to_string();
        let items = wanted
            .into_iter()
            .map(|(id, event)| payload::build(&run, *id, event, &cluster, &latest))
            .collect();
        enqueue(&counters, &queue, items);
        true
    };
    loop {
        if read(&mut cursor) {
            ready.notify_one();
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Events recorded while stopping still go out with the flush.
                read(&mut cursor);
                return;
            }
            changed = snapshots.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

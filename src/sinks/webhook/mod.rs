//! Webhook notifier: posts one JSON document per event of the chosen kinds
//! (status changes, lag threshold crossings, Kafka and broker up/down) to
//! `--notify-webhook`. Events are read from the store by id cursor into a
//! bounded queue (oldest dropped and counted), so a slow or dead receiver
//! never slows the collector; POSTs are paced to at most
//! `max_per_second`, transport errors, 429 and 5xx are retried with capped
//! jittered backoff honouring Retry-After, and any other refusal is counted
//! as dropped and never retried.

pub mod config;
pub mod payload;
pub mod sender;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{redacted_webhook_url, WebhookConfig, SHUTDOWN_FLUSH};
use payload::Notification;
use sender::{PostOutcome, WebhookError, WebhookSender};

use super::queue::BoundedQueue;
use super::retry::DEFAULT_BACKOFF;
use super::SinkHealth;

pub const SINK_NAME: &str = "webhook";
const LABEL: &str = "Webhook";
/// How often the event log is read when no snapshot wakes us: events are
/// pushed just after the snapshot that caused them, so the wake-up on a new
/// snapshot can come a moment too early.
const POLL: Duration = Duration::from_millis(250);
/// Events read from the store per pass.
const READ_LIMIT: usize = 10_000;

type NotificationQueue = Mutex<BoundedQueue<Notification>>;

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
    let pacing = Pacing::new(config.max_per_second);
    let deadline = send_loop(
        &sender, &store, &counters, &queue, &ready, &pacing, &shutdown,
    )
    .await;
    let _ = producer.await;
    flush_at_shutdown(&sender, &counters, &queue, &pacing, deadline).await;
    Ok(())
}

/// Spacing between POSTs so there are at most `max_per_second` of them.
struct Pacing {
    gap: Duration,
    next: Mutex<Instant>,
}

impl Pacing {
    fn new(max_per_second: u32) -> Self {
        Pacing {
            gap: Duration::from_secs(1) / max_per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot and takes it.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().expect("pacing poisoned");
            let slot = (*next).max(Instant::now());
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

fn set_queued(counters: &SinkCounters, queue: &NotificationQueue) {
    let queued = queue.lock().expect("queue poisoned").records();
    counters.queued.store(queued as u64, Ordering::Relaxed);
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
        let cluster = cluster_name
            .clone()
            .or_else(|| latest.cluster_id.clone())
            .unwrap_or_else(|| "default".into());
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

fn pop(queue: &NotificationQueue) -> Option<Notification> {
    queue
        .lock()
        .expect("queue poisoned")
        .take_batch(1, usize::MAX)
        .pop()
}

/// Puts an unsent notification back at the front; counts what that pushes
/// out if the queue filled up meanwhile.
fn put_back(counters: &SinkCounters, queue: &NotificationQueue, item: Notification) {
    let dropped = queue.lock().expect("queue poisoned").requeue(vec![item]);
    SinkCounters::add(&counters.dropped, dropped);
    set_queued(counters, queue);
}

/// A receiver that refuses a notification for good: counted as dropped,
/// logged once per distinct reason in a row.
fn rejected(counters: &SinkCounters, reason: String, last_logged: &mut Option<String>) {
    SinkCounters::add(&counters.errors, 1);
    SinkCounters::add(&counters.dropped, 1);
    if last_logged.as_deref() != Some(reason.as_str()) {
        tracing::error!("webhook refused a notification (not retried): {reason}");
        *last_logged = Some(reason.clone());
    }
    counters.set_last_error(Some(reason));
}

/// Sends until shutdown; returns the deadline of the shutdown flush, which
/// starts when shutdown is noticed (a POST in flight then may finish within
/// it rather than being cut off and sent twice).
async fn send_loop(
    sender: &WebhookSender,
    store: &Store,
    counters: &SinkCounters,
    queue: &NotificationQueue,
    ready: &Notify,
    pacing: &Pacing,
    shutdown: &CancellationToken,
) -> Instant {
    let mut attempt: u32 = 0;
    let mut health = SinkHealth::new(SINK_NAME, LABEL, store, counters);
    let mut last_logged = None;
    let flush_deadline = || Instant::now() + SHUTDOWN_FLUSH;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return flush_deadline(),
            _ = ready.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        while let Some(item) = pop(queue) {
            set_queued(counters, queue);
            tokio::select! {
                _ = shutdown.cancelled() => {
                    put_back(counters, queue, item);
                    return flush_deadline();
                }
                _ = pacing.wait() => {}
            }
            let (outcome, stopping) = {
                let post = sender.post(&item.body);
                tokio::pin!(post);
                tokio::select! {
                    outcome = &mut post => (Some(outcome), None),
                    _ = shutdown.cancelled() => {
                        let deadline = flush_deadline();
                        (tokio::time::timeout_at(deadline, &mut post).await.ok(), Some(deadline))
                    }
                }
            };
            match outcome {
                // Cut off at shutdown: the receiver may have it; the flush
                // has no time left to send it again, so it is counted there.
                None => put_back(counters, queue, item),
                Some(PostOutcome::Delivered) => {
                    SinkCounters::add(&counters.sent, 1);
                    attempt = 0;
                    health.delivered();
                }
                Some(PostOutcome::Rejected { reason }) => {
                    attempt = 0;
                    rejected(counters, reason, &mut last_logged);
                }
                Some(PostOutcome::Retry {
                    reason,
                    retry_after,
                }) => {
                    SinkCounters::add(&counters.errors, 1);
                    put_back(counters, queue, item);
                    health.failed(&reason);
                    if stopping.is_none() {
                        let delay = DEFAULT_BACKOFF.delay(attempt, retry_after);
                        attempt = attempt.saturating_add(1);
                        tokio::select! {
                            _ = shutdown.cancelled() => return flush_deadline(),
                            _ = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
            if let Some(deadline) = stopping {
                return deadline;
            }
        }
    }
}

/// Sends what is queued, paced, until the queue is empty, the receiver
/// fails, or `deadline` passes; whatever is left is counted as dropped.
async fn flush_at_shutdown(
    sender: &WebhookSender,
    counters: &SinkCounters,
    queue: &NotificationQueue,
    pacing: &Pacing,
    deadline: Instant,
) {
    let mut last_logged = None;
    while let Some(item) = pop(queue) {
        let attempt = tokio::time::timeout_at(deadline, async {
            pacing.wait().await;
            sender.post(&item.body).await
        })
        .await;
        match attempt {
            Ok(PostOutcome::Delivered) => SinkCounters::add(&counters.sent, 1),
            Ok(PostOutcome::Rejected { reason }) => rejected(counters, reason, &mut last_logged),
            Ok(PostOutcome::Retry { reason, .. }) => {
                SinkCounters::add(&counters.errors, 1);
                counters.set_last_error(Some(reason));
                put_back(counters, queue, item);
                break;
            }
            Err(_) => {
                put_back(counters, queue, item);
                break;
            }
        }
    }
    let left = queue.lock().expect("queue poisoned").records();
    if left > 0 {
        SinkCounters::add(&counters.dropped, left);
        tracing::warn!(
            dropped = left,
            "webhook notifier could not send everything before shutdown"
        );
    }
    counters.queued.store(0, Ordering::Relaxed);
}

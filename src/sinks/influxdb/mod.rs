//! InfluxDB sink: every snapshot becomes line-protocol points in a bounded
//! queue; a sender drains it in batches (gzip), retrying transport errors,
//! 429 and 5xx with backoff, dropping (and counting) what InfluxDB rejects.
//! Encoding and sending are separate tasks, so a slow or down InfluxDB never
//! makes us miss a snapshot.

pub mod config;
pub mod encoder;
pub mod service;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{InfluxConfig, FLUSH_INTERVAL, MAX_BATCH_BYTES, MAX_BATCH_LINES, SHUTDOWN_FLUSH};
use encoder::{encode_snapshot, Line};
use service::{InfluxWriter, WriteOutcome};

use super::queue::{BoundedQueue, Chunk};
use super::retry::DEFAULT_BACKOFF;
use super::SinkHealth;

pub const SINK_NAME: &str = "influxdb";
const LABEL: &str = "InfluxDB";

/// The `cluster` tag: the configured name, else the id Kafka reports.
fn cluster_tag(configured: Option<&str>, reported: Option<&str>) -> String {
    configured
        .or(reported)
        .filter(|c| !c.is_empty())
        .unwrap_or("default")
        .to_string()
}

/// Runs until `shutdown`, then flushes what is queued for a bounded time.
pub async fn run(
    config: InfluxConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    shutdown: CancellationToken,
) -> Result<(), service::InfluxError> {
    let counters = store.register_sink(SINK_NAME);
    let writer = InfluxWriter::new(config.clone())?;
    match writer.healthcheck().await {
        Ok(()) => tracing::info!(url = %config::redacted_url(&config.url), "InfluxDB sink ready"),
        Err(error) => SinkHealth::new(SINK_NAME, LABEL, &store, &counters).startup_failed(&error),
    }
    let queue = Arc::new(Mutex::new(BoundedQueue::new(config.queue_lines)));
    let ready = Arc::new(Notify::new());
    let encoder = tokio::spawn(encode_loop(
        config.clone(),
        cluster_name,
        store.clone(),
        counters.clone(),
        queue.clone(),
        ready.clone(),
        shutdown.clone(),
    ));
    send_loop(&writer, &store, &counters, &queue, &ready, &shutdown).await;
    let _ = encoder.await;
    flush_at_shutdown(&writer, &counters, &queue).await;
    Ok(())
}

async fn encode_loop(
    config: InfluxConfig,
    cluster_name: Option<String>,
    store: Arc<Store>,
    counters: Arc<SinkCounters>,
    queue: Arc<Mutex<BoundedQueue>>,
    ready: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut snapshots = store.subscribe();
    // A snapshot published before we subscribed is still ours to ship.
    snapshots.mark_changed();
    let mut last_sequence = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = snapshots.changed() => if changed.is_err() { return },
        }
        let snapshot = snapshots.borrow_and_update().clone();
        if snapshot.sequence == 0 || snapshot.sequence == last_sequence {
            continue;
        }
        let missed = snapshot.sequence.saturating_sub(last_sequence + 1);
        if last_sequence > 0 && missed > 0 {
            // The watch channel keeps only the newest snapshot: if we ever
            // fall that far behind, say so and count it.
            tracing::warn!(missed, "InfluxDB sink skipped snapshots (encoder too slow)");
            SinkCounters::add(&counters.errors, missed as usize);
        }
        last_sequence = snapshot.sequence;
        let cluster = cluster_tag(cluster_name.as_deref(), snapshot.cluster_id.as_deref());
        let mut bytes = String::with_capacity(4096);
        let mut lines = encode_snapshot(
            &snapshot,
            &cluster,
            config.precision,
            config.per_partition,
            &mut bytes,
        );
        // The sink's own health rides along, so Grafana can graph it.
        let written = Line::new(&mut bytes, "kafka_pulse_sink")
            .tag("cluster", &cluster)
            .tag("sink", SINK_NAME)
            .int("points_sent", SinkCounters::get(&counters.sent) as i64)
            .int(
                "points_dropped",
                SinkCounters::get(&counters.dropped) as i64,
            )
            .int("errors", SinkCounters::get(&counters.errors) as i64)
            .int("queue_length", SinkCounters::get(&counters.queued) as i64)
            .finish(config.precision.timestamp(snapshot.taken_at));
        lines += usize::from(written);
        super::enqueue_counted(
            &counters,
            &queue,
            [Chunk {
                records: lines,
                bytes,
            }],
            "InfluxDB sink queue full: dropped the oldest points",
        );
        ready.notify_one();
    }
}

async fn send_loop(
    writer: &InfluxWriter,
    store: &Store,
    counters: &SinkCounters,
    queue: &Mutex<BoundedQueue>,
    ready: &Notify,
    shutdown: &CancellationToken,
) {
    let mut attempt: u32 = 0;
    let mut health = SinkHealth::new(SINK_NAME, LABEL, store, counters);
    let mut logged_rejection: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ready.notified() => {}
            _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
        }
        while let Some((batch, records, body)) = next_batch(queue) {
            match writer.write(&body).await {
                WriteOutcome::Sent => {
                    SinkCounters::add(&counters.sent, records);
                    attempt = 0;
                    health.delivered();
                }
                WriteOutcome::Rejected { reason } => {
                    // Sending the same lines again cannot succeed: count them.
                    SinkCounters::add(&counters.errors, 1);
                    SinkCounters::add(&counters.dropped, records);
                    health.failed(&reason);
                    if logged_rejection.as_deref() != Some(reason.as_str()) {
                        tracing::error!("InfluxDB rejected {records} points: {reason}");
                        logged_rejection = Some(reason);
                    }
                }
                WriteOutcome::Partial { reason, refused } => {
                    // The rest of the batch was stored: only the refused
                    // lines are lost, and the sink shows as failing.
                    let refused = refused.min(records);
                    SinkCounters::add(&counters.errors, 1);
                    SinkCounters::add(&counters.sent, records - refused);
                    SinkCounters::add(&counters.dropped, refused);
                    health.failed(&reason);
                    if logged_rejection.as_deref() != Some(reason.as_str()) {
                        tracing::error!("InfluxDB refused {refused} of {records} points: {reason}");
                        logged_rejection = Some(reason);
                    }
                }
                WriteOutcome::Retry {
                    reason,
                    retry_after,
                } => {
                    SinkCounters::add(&counters.errors, 1);
                    health.failed(&reason);
                    let dropped = queue.lock().expect("queue poisoned").requeue(batch);
                    SinkCounters::add(&counters.dropped, dropped);
                    let delay = DEFAULT_BACKOFF.delay(attempt, retry_after);
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    // After the wait, start a fresh round (the queue may have grown).
                    break;
                }
            }
            let remaining = queue.lock().expect("queue poisoned").records();
            counters
                .queued
                .store(remaining as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The next batch from the queue with its line count and request body;
/// `None` when the queue is empty.
fn next_batch(queue: &Mutex<BoundedQueue>) -> Option<(Vec<Chunk>, usize, String)> {
    let batch = queue
        .lock()
        .expect("queue poisoned")
        .take_batch(MAX_BATCH_LINES, MAX_BATCH_BYTES);
    if batch.is_empty() {
        return None;
    }
    let records = batch.iter().map(|c| c.records).sum();
    let body = batch.iter().map(|c| c.bytes.as_str()).collect();
    Some((batch, records, body))
}

async fn flush_at_shutdown(
    writer: &InfluxWriter,
    counters: &SinkCounters,
    queue: &Mutex<BoundedQueue>,
) {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
    loop {
        let Some((_, records, body)) = next_batch(queue) else {
            return;
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, writer.write(&body)).await {
            Ok(WriteOutcome::Sent) => {
                SinkCounters::add(&counters.sent, records);
                continue;
            }
            Ok(WriteOutcome::Partial { refused, .. }) => {
                let refused = refused.min(records);
                SinkCounters::add(&counters.sent, records - refused);
                SinkCounters::add(&counters.dropped, refused);
                continue;
            }
            _ => {}
        }
        let rest = queue.lock().expect("queue poisoned").records();
        SinkCounters::add(&counters.dropped, records + rest);
        tracing::warn!(
            dropped = records + rest,
            "InfluxDB sink could not flush everything before shutdown"
        );
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_tag_prefers_configuration_then_kafka() {
        assert_eq!(cluster_tag(Some("prod"), Some("abc")), "prod");
        assert_eq!(cluster_tag(None, Some("abc")), "abc");
        assert_eq!(cluster_tag(None, None), "default");
    }
}

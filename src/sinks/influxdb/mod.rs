//! InfluxDB sink: every snapshot becomes line-protocol points in a bounded
//! queue; the shared sink driver drains it in batches (gzip), retrying
//! transport errors, 429 and 5xx with backoff, dropping (and counting) what
//! InfluxDB rejects. Encoding and sending are separate tasks, so a slow or
//! down InfluxDB never makes us miss a snapshot.

pub mod config;
pub mod encoder;
pub mod service;

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{SinkCounters, Store};
use config::{InfluxConfig, FLUSH_INTERVAL, MAX_BATCH_BYTES, MAX_BATCH_LINES, SHUTDOWN_FLUSH};
use encoder::{encode_snapshot, Line};
use service::{InfluxService, InfluxWriter};

use super::driver::{Driver, OnRefusal, Settings};
use super::queue::{BoundedQueue, Chunk};
use super::retry::DEFAULT_BACKOFF;
use super::SinkHealth;

pub const SINK_NAME: &str = "influxdb";
const LABEL: &str = "InfluxDB";

/// How the shared driver sends to InfluxDB: batches of up to 5,000 lines,
/// and refused points make the sink failing (they mean a schema or
/// permission problem someone must fix).
fn settings() -> Settings {
    Settings {
        sink: SINK_NAME,
        label: LABEL,
        max_records: MAX_BATCH_LINES,
        max_bytes: MAX_BATCH_BYTES,
        flush_interval: FLUSH_INTERVAL,
        shutdown_flush: SHUTDOWN_FLUSH,
        backoff: DEFAULT_BACKOFF,
        max_per_second: None,
        on_refusal: OnRefusal::Failing,
    }
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
    let service = InfluxService::new(writer);
    Driver::new(settings(), service, &queue, &ready, &store, &counters)
        .run(&shutdown, encoder)
        .await;
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
        // The same label as /metrics, Elasticsearch and the webhook.
        let cluster = snapshot.cluster_label(cluster_name.as_deref()).to_string();
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

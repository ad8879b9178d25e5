//! Sinks ship what the collector saw to other systems. They read snapshots
//! from the store and never slow the collector: each has a bounded queue and
//! counts what it sent, dropped and failed (exported on /metrics).

pub mod driver;
pub mod elasticsearch;
pub mod influxdb;
pub mod queue;
pub mod retry;
pub mod webhook;

use std::sync::Mutex;

use crate::store::{SinkCounters, Store};
use queue::{BoundedQueue, Queued};

/// A sink's health as people see it: the last error on the counters, one
/// log line and one event when it starts failing and when it recovers (not
/// one per failed attempt).
pub struct SinkHealth<'a> {
    /// Name in events (`influxdb`, `elasticsearch`, `webhook`).
    sink: &'static str,
    /// Name in log lines and messages (`InfluxDB`, `Elasticsearch`).
    label: &'static str,
    store: &'a Store,
    counters: &'a SinkCounters,
    failing: bool,
}

impl<'a> SinkHealth<'a> {
    pub fn new(
        sink: &'static str,
        label: &'static str,
        store: &'a Store,
        counters: &'a SinkCounters,
    ) -> Self {
        SinkHealth {
            sink,
            label,
            store,
            counters,
            // A startup failure already raised the event: the first failed
            // delivery after it is the same trouble, not a new one.
            failing: counters.is_failing(),
        }
    }

    /// A problem found at start (healthcheck, setup): reported at once;
    /// collection and the dashboard go on while data queues.
    pub fn startup_failed(&self, error: &dyn std::fmt::Display) {
        tracing::error!("{} sink: {error}", self.label);
        self.counters.set_last_error(Some(error.to_string()));
        self.counters
            .failing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.store
            .record_event("sink_failing", self.sink, error.to_string());
    }

    /// A delivery attempt failed (it will be retried), or the receiver
    /// refused data: health says degraded until a delivery succeeds.
    pub fn failed(&mut self, reason: &str) {
        self.counters.set_last_error(Some(reason.to_string()));
        self.counters
            .failing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if !self.failing {
            self.failing = true;
            tracing::warn!("{} sink failing, will retry: {reason}", self.label);
            self.store.record_event(
                "sink_failing",
                self.sink,
                format!("{} delivery failed: {reason}", self.label),
            );
        }
    }

    /// A delivery succeeded.
    pub fn delivered(&mut self) {
        if self.failing {
            self.failing = false;
            self.counters
                .failing
                .store(false, std::sync::atomic::Ordering::Relaxed);
            self.counters.set_last_error(None);
            tracing::info!("{} sink recovered", self.label);
            self.store.record_event(
                "sink_recovered",
                self.sink,
                format!("{} accepts data again", self.label),
            );
        }
    }
}

/// Queues `items` for a sink: counts their records as produced, updates the
/// queued gauge, and counts (and logs once per call, with `full_message`)
/// what the full queue dropped, oldest first.
pub fn enqueue_counted<T: Queued>(
    counters: &SinkCounters,
    queue: &Mutex<BoundedQueue<T>>,
    items: impl IntoIterator<Item = T>,
    full_message: &str,
) {
    let mut produced = 0;
    let mut dropped = 0;
    {
        let mut queue = queue.lock().expect("queue poisoned");
        for item in items {
            produced += item.records();
            dropped += queue.push(item);
        }
        counters.set_queue(queue.records(), queue.bytes());
    }
    SinkCounters::add(&counters.produced, produced);
    if dropped > 0 {
        SinkCounters::add(&counters.dropped, dropped);
        tracing::warn!(dropped, "{full_message}");
    }
}

//! The one delivery loop of every sink, as vector's sinks share theirs: wait
//! for queued items or the flush interval, take a batch, pace it, send it
//! through the sink's `Service`, count what the outcome says, retry with
//! capped jittered backoff (honouring Retry-After) while not shut down, and
//! flush for a bounded time at shutdown. A sink brings only its producer
//! (what goes into the queue) and its service (how one batch is sent and
//! what the answer means), so queueing, timing and counting cannot drift
//! apart between sinks.

mod outcome;
mod pacing;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use outcome::{OnRefusal, Outcome, Refusal, Retry, RetryItems, Service};
pub use pacing::Pacing;

use super::queue::{BoundedQueue, Queued};
use super::retry::Backoff;
use super::SinkHealth;
use crate::store::{SinkCounters, Store};

/// The fixed parts of a sink's delivery.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Name in events and metrics (`influxdb`, ...).
    pub sink: &'static str,
    /// Name in log lines and messages (`InfluxDB`, ...).
    pub label: &'static str,
    /// Batch limits: whole items are taken until the next would pass either
    /// (always at least one).
    pub max_records: usize,
    pub max_bytes: usize,
    /// Longest wait for the producer's wake-up before looking anyway.
    pub flush_interval: Duration,
    /// Time given to sending what is queued once shutdown is noticed; a send
    /// in flight then may finish within it.
    pub shutdown_flush: Duration,
    pub backoff: Backoff,
    /// At most this many sends a second (webhook), or unpaced.
    pub max_per_second: Option<u32>,
    pub on_refusal: OnRefusal,
}

/// What became of a batch once its outcome was counted.
enum Settled {
    Done,
    /// Something goes again, after a backoff (or the server's Retry-After).
    Retry(Option<Duration>),
}

pub struct Driver<'a, S: Service> {
    settings: Settings,
    service: S,
    queue: &'a Mutex<BoundedQueue<S::Item>>,
    /// Woken by the producer after it queued something.
    ready: &'a Notify,
    store: &'a Store,
    counters: &'a SinkCounters,
    pacing: Option<Pacing>,
}

impl<'a, S: Service> Driver<'a, S> {
    pub fn new(
        settings: Settings,
        service: S,
        queue: &'a Mutex<BoundedQueue<S::Item>>,
        ready: &'a Notify,
        store: &'a Store,
        counters: &'a SinkCounters,
    ) -> Self {
        let pacing = settings.max_per_second.map(Pacing::new);
        Driver {
            settings,
            service,
            queue,
            ready,
            store,
            counters,
            pacing,
        }
    }

    /// Sends until `shutdown`, waits for `producer` to finish (what it
    /// queues while stopping, such as events recorded during shutdown, still
    /// goes out), then flushes; whatever could not be sent is counted as
    /// dropped.
    pub async fn run<P: Future>(mut self, shutdown: &CancellationToken, producer: P) {
        let deadline = self.send_until(shutdown).await;
        let _ = producer.await;
        self.flush(deadline).await;
    }

    /// Sends until shutdown; returns the deadline of the shutdown flush,
    /// which starts when shutdown is noticed (a send in flight then may
    /// finish within it rather than being cut off and sent twice).
    async fn send_until(&mut self, shutdown: &CancellationToken) -> Instant {
        let settings = self.settings.clone();
        let flush_deadline = || Instant::now() + settings.shutdown_flush;
        let mut health = SinkHealth::new(settings.sink, settings.label, self.store, self.counters);
        let mut attempt: u32 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return flush_deadline(),
                _ = self.ready.notified() => {}
                _ = tokio::time::sleep(settings.flush_interval) => {}
            }
            while let Some(batch) = self.take() {
                if let Some(pacing) = &self.pacing {
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            self.put_back(batch);
                            return flush_deadline();
                        }
                        _ = pacing.wait() => {}
                    }
                }
                let (outcome, stopping) = {
                    let send = self.service.send(&batch);
                    tokio::pin!(send);
                    tokio::select! {
                        outcome = &mut send => (Some(outcome), None),
                        _ = shutdown.cancelled() => {
                            let deadline = flush_deadline();
                            (tokio::time::timeout_at(deadline, &mut send).await.ok(), Some(deadline))
                        }
                    }
                };
                match outcome {
                    // Cut off at shutdown: the receiver may have it; the
                    // flush has no time left to send it again, so it is
                    // counted there.
                    None => self.put_back(batch),
                    Some(outcome) => match self.settle(batch, outcome, Some(&mut health)) {
                        Settled::Done => attempt = 0,
                        Settled::Retry(retry_after) if stopping.is_none() => {
                            let delay = settings.backoff.delay(attempt, retry_after);
                            attempt = attempt.saturating_add(1);
                            tokio::select! {
                                _ = shutdown.cancelled() => return flush_deadline(),
                                _ = tokio::time::sleep(delay) => {}
                            }
                        }
                        Settled::Retry(_) => {}
                    },
                }
                if let Some(deadline) = stopping {
                    return deadline;
                }
            }
        }
    }

    /// Sends what is queued, paced, until the queue is empty, the receiver
    /// asks for a retry, or `deadline` passes; whatever is left is counted
    /// as dropped. Refusals count as usual, but raise no events: the sink
    /// is stopping.
    async fn flush(&mut self, deadline: Instant) {
        while let Some(batch) = self.take() {
            let pacing = self.pacing.as_ref();
            let service = &mut self.service;
            let attempt = tokio::time::timeout_at(deadline, async {
                if let Some(pacing) = pacing {
                    pacing.wait().await;
                }
                service.send(&batch).await
            })
            .await;
            match attempt {
                Ok(outcome) => {
                    if let Settled::Retry(_) = self.settle(batch, outcome, None) {
                        break;
                    }
                }
                Err(_) => {
                    self.put_back(batch);
                    break;
                }
            }
        }
        // Counted once here and gone, so the counters and the queue agree.
        let left = self.queue.lock().expect("queue poisoned").clear();
        if left > 0 {
            SinkCounters::add(&self.counters.dropped, left);
            tracing::warn!(
                dropped = left,
                "{} sink could not send everything before shutdown",
                self.settings.label
            );
        }
        self.counters.set_queue(0, 0);
    }

    /// The next batch, `None` when the queue is empty. The queued gauge
    /// leaves out the batch in flight.
    fn take(&self) -> Option<Vec<S::Item>> {
        let mut queue = self.queue.lock().expect("queue poisoned");
        let batch = queue.take_batch(self.settings.max_records, self.settings.max_bytes);
        self.counters.set_queue(queue.records(), queue.bytes());
        (!batch.is_empty()).then_some(batch)
    }

    /// Puts unsent items back at the front; counts what that pushes out if
    /// the queue filled up meanwhile.
    fn put_back(&self, items: Vec<S::Item>) {
        let mut queue = self.queue.lock().expect("queue poisoned");
        let dropped = queue.requeue(items);
        SinkCounters::add(&self.counters.dropped, dropped);
        self.counters.set_queue(queue.records(), queue.bytes());
    }

    /// Counts what `outcome` says of `batch` and puts back what is to be
    /// retried. `health` is `None` during the shutdown flush, when trouble
    /// is only noted in `last_error`.
    fn settle(
        &self,
        batch: Vec<S::Item>,
        outcome: Outcome,
        mut health: Option<&mut SinkHealth<'_>>,
    ) -> Settled {
        let counters = self.counters;
        let total: usize = batch.iter().map(Queued::records).sum();
        let Outcome { refused, retry } = outcome;
        let (again, retry) = match retry {
            None => (Vec::new(), None),
            Some(Retry {
                items: RetryItems::All,
                reason,
                retry_after,
            }) => (batch, Some((reason, retry_after))),
            Some(Retry {
                items: RetryItems::Some(indices),
                reason,
                retry_after,
            }) => {
                let mut wanted = vec![false; batch.len()];
                for index in indices {
                    if let Some(w) = wanted.get_mut(index) {
                        *w = true;
                    }
                }
                let again: Vec<_> = batch
                    .into_iter()
                    .zip(wanted)
                    .filter_map(|(item, w)| w.then_some(item))
                    .collect();
                // Nothing to send again is nothing to wait for.
                let retry = (!again.is_empty()).then_some((reason, retry_after));
                (again, retry)
            }
        };
        let again_records: usize = again.iter().map(Queued::records).sum();
        let refused_records = refused
            .iter()
            .map(|r| r.records)
            .sum::<usize>()
            .min(total - again_records);
        SinkCounters::add(&counters.sent, total - again_records - refused_records);
        SinkCounters::add(&counters.dropped, refused_records);
        SinkCounters::add(
            &counters.errors,
            refused.len() + usize::from(retry.is_some()),
        );
        for refusal in &refused {
            match (&mut health, self.settings.on_refusal) {
                (Some(health), OnRefusal::Failing) => health.failed(&refusal.reason),
                _ => counters.set_last_error(Some(refusal.reason.clone())),
            }
        }
        let settled = match retry {
            Some((reason, retry_after)) => {
                self.put_back(again);
                match health {
                    Some(health) => health.failed(&reason),
                    None => counters.set_last_error(Some(reason)),
                }
                Settled::Retry(retry_after)
            }
            None => {
                if let Some(health) = health {
                    if refused.is_empty()
                        || self.settings.on_refusal == OnRefusal::LastErrorThenDelivered
                    {
                        health.delivered();
                    }
                }
                Settled::Done
            }
        };
        let queue = self.queue.lock().expect("queue poisoned");
        counters.set_queue(queue.records(), queue.bytes());
        drop(queue);
        settled
    }
}

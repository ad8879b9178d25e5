//! What a sink's service says about one batch, and the trait each sink
//! implements. The driver turns outcomes into counters, health and retries,
//! so every sink reports the same things the same way.

use std::future::Future;
use std::time::Duration;

use crate::sinks::queue::Queued;

/// A sink's side of delivery: send one batch and say what became of it.
/// Everything else (queueing, batching, retry timing, shutdown) is the
/// driver's, so the timing logic exists once and is tested once.
pub trait Service {
    type Item: Queued;

    /// Sends `batch` once. The driver keeps the items, so a send cut off at
    /// shutdown loses nothing uncounted. A service logs its own refusals (it
    /// knows the receiver's wording and which details are worth a line).
    fn send(&mut self, batch: &[Self::Item]) -> impl Future<Output = Outcome> + Send;
}

/// The answer to one send. Everything neither refused nor to be retried
/// was stored; `Outcome::default()` means all of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Records the receiver refused for good: counted as dropped, one error
    /// per refusal, never sent again.
    pub refused: Vec<Refusal>,
    /// Items worth sending again after a backoff.
    pub retry: Option<Retry>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub records: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub items: RetryItems,
    pub reason: String,
    /// The server's Retry-After, honoured within the backoff's cap.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RetryItems {
    /// Nothing was stored (transport error, 429, 5xx for the request).
    All,
    /// Indices into the batch, in order (Elasticsearch's per-item answers).
    Some(Vec<usize>),
}

impl Outcome {
    pub fn delivered() -> Self {
        Outcome::default()
    }

    /// The whole batch may succeed later.
    pub fn retry_all(reason: String, retry_after: Option<Duration>) -> Self {
        Outcome {
            refused: Vec::new(),
            retry: Some(Retry {
                items: RetryItems::All,
                reason,
                retry_after,
            }),
        }
    }

    /// `records` of the batch refused for good, the rest stored.
    pub fn refused(records: usize, reason: String) -> Self {
        Outcome {
            refused: vec![Refusal { records, reason }],
            retry: None,
        }
    }
}

/// How a refusal for good shows in the sink's health. The sinks differ on
/// purpose and the driver keeps each one's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRefusal {
    /// The sink shows as failing and raises `sink_failing` (InfluxDB: refused
    /// points mean a schema or permission problem someone must fix).
    Failing,
    /// Only `last_error` says so, and since the receiver answered, a batch
    /// with nothing left to retry counts as a delivery (Elasticsearch: one
    /// bad document says nothing about the cluster).
    LastErrorThenDelivered,
    /// Only `last_error` says so; health stays as it was (webhook: a refused
    /// notification neither breaks nor mends the receiver).
    LastError,
}

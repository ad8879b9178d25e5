//! The driver's timing on tokio's paused clock: sleeps take no real time and
//! every measured duration is exact, so these tests are fast and decided by
//! the clock the driver uses, not by how busy the machine is. The receiver
//! is a scripted in-process `Service`; real servers are tested in
//! tests/influx.rs, tests/elasticsearch.rs and tests/webhook.rs.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::sinks::enqueue_counted;

/// One queued record, named so the test can follow it.
#[derive(Debug, Clone, PartialEq)]
struct Item(u32);

impl Queued for Item {
    fn records(&self) -> usize {
        1
    }

    fn size(&self) -> usize {
        10
    }
}

/// One scripted answer: after `takes`, say `outcome`.
#[derive(Clone)]
struct Step {
    takes: Duration,
    outcome: Outcome,
}

fn answer(outcome: Outcome) -> Step {
    Step {
        takes: Duration::ZERO,
        outcome,
    }
}

fn slow(takes: Duration) -> Step {
    Step {
        takes,
        outcome: Outcome::delivered(),
    }
}

fn retry(retry_after: Option<Duration>) -> Step {
    answer(Outcome::retry_all("HTTP 503".into(), retry_after))
}

/// A send as the receiver saw it.
#[derive(Debug, Clone)]
struct Call {
    at: Instant,
    items: Vec<u32>,
}

/// Answers sends from a script (then with `otherwise`), recording each.
struct Scripted {
    script: VecDeque<Step>,
    otherwise: Step,
    calls: Arc<Mutex<Vec<Call>>>,
    /// Items of whole-batch deliveries whose answer reached the driver.
    stored: Arc<Mutex<Vec<u32>>>,
}

impl Service for Scripted {
    type Item = Item;

    fn send(&mut self, batch: &[Item]) -> impl Future<Output = Outcome> + Send {
        self.calls.lock().unwrap().push(Call {
            at: Instant::now(),
            items: batch.iter().map(|i| i.0).collect(),
        });
        let step = self
            .script
            .pop_front()
            .unwrap_or_else(|| self.otherwise.clone());
        let items: Vec<u32> = batch.iter().map(|i| i.0).collect();
        let stored = self.stored.clone();
        async move {
            tokio::time::sleep(step.takes).await;
            if step.outcome == Outcome::delivered() {
                stored.lock().unwrap().extend(items);
            }
            step.outcome
        }
    }
}

fn settings() -> Settings {
    Settings {
        sink: "test",
        label: "Test",
        max_records: 1,
        max_bytes: usize::MAX,
        flush_interval: Duration::from_secs(1),
        shutdown_flush: Duration::from_secs(3),
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        },
        max_per_second: None,
        on_refusal: OnRefusal::Failing,
    }
}

/// A driver running in a task, with everything the test looks at.
struct Running {
    store: Arc<Store>,
    counters: Arc<SinkCounters>,
    queue: Arc<Mutex<BoundedQueue<Item>>>,
    ready: Arc<Notify>,
    shutdown: CancellationToken,
    calls: Arc<Mutex<Vec<Call>>>,
    stored: Arc<Mutex<Vec<u32>>>,
    task: JoinHandle<()>,
}

impl Running {
    fn start(settings: Settings, script: Vec<Step>, otherwise: Step) -> Self {
        Self::start_with_queue(settings, script, otherwise, 1_000)
    }

    fn start_with_queue(
        settings: Settings,
        script: Vec<Step>,
        otherwise: Step,
        capacity: usize,
    ) -> Self {
        let store = Arc::new(Store::new(10, 1_000));
        let counters = store.register_sink(settings.sink);
        let queue = Arc::new(Mutex::new(BoundedQueue::new(capacity)));
        let ready = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stored = Arc::new(Mutex::new(Vec::new()));
        let service = Scripted {
            script: script.into(),
            otherwise,
            calls: calls.clone(),
            stored: stored.clone(),
        };
        let task = tokio::spawn({
            let (store, counters, queue, ready, shutdown) = (
                store.clone(),
                counters.clone(),
                queue.clone(),
                ready.clone(),
                shutdown.clone(),
            );
            async move {
                Driver::new(settings, service, &queue, &ready, &store, &counters)
                    .run(&shutdown, async {})
                    .await
            }
        });
        Running {
            store,
            counters,
            queue,
            ready,
            shutdown,
            calls,
            stored,
            task,
        }
    }

    fn push(&self, ids: impl IntoIterator<Item = u32>) {
        enqueue_counted(
            &self.counters,
            &self.queue,
            ids.into_iter().map(Item),
            "test queue full",
        );
        self.ready.notify_one();
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Time between consecutive sends.
    fn gaps(&self) -> Vec<Duration> {
        self.calls()
            .windows(2)
            .map(|pair| pair[1].at - pair[0].at)
            .collect()
    }

    fn get(&self, counter: fn(&SinkCounters) -> &std::sync::atomic::AtomicU64) -> u64 {
        SinkCounters::get(counter(&self.counters))
    }

    fn event_kinds(&self) -> Vec<String> {
        let (events, _) = self.store.events_after(0, 100);
        events.into_iter().map(|(_, e)| e.kind).collect()
    }

    /// Lets the driver run until `sends` sends happened (on the paused
    /// clock, waiting costs no real time).
    async fn until_sends(&self, sends: usize) {
        let started = Instant::now();
        while self.calls.lock().unwrap().len() < sends {
            assert!(
                started.elapsed() < Duration::from_secs(3_600),
                "only {} of {sends} sends",
                self.calls.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops the driver; returns how long it took to finish (its flush).
    async fn stop(&mut self) -> Duration {
        let started = Instant::now();
        self.shutdown.cancel();
        (&mut self.task).await.expect("driver panicked");
        started.elapsed()
    }

    /// Every record produced is sent, dropped (counted) or still queued.
    fn assert_accounted(&self) {
        assert_eq!(self.unaccounted(), 0);
    }

    /// Records produced but neither sent, dropped nor queued: the batch in
    /// flight, if any.
    fn unaccounted(&self) -> u64 {
        let produced = self.get(|c| &c.produced);
        let (sent, dropped) = (self.get(|c| &c.sent), self.get(|c| &c.dropped));
        let queued = self.queue.lock().unwrap().records() as u64;
        produced
            .checked_sub(sent + dropped + queued)
            .unwrap_or_else(|| {
                panic!("sent {sent} + dropped {dropped} + queued {queued} > produced {produced}")
            })
    }
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Timers tick in whole milliseconds: a measured wait may end up to 1 ms
/// after the delay asked for.
const TICK: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn backoff_doubles_from_its_start_and_is_capped() {
    let r = Running::start(
        settings(),
        vec![retry(None); 7],
        answer(Outcome::delivered()),
    );
    r.push([1]);
    r.until_sends(8).await;
    tokio::time::sleep(TICK).await;
    let gaps = r.gaps();
    assert_eq!(gaps.len(), 7);
    for (attempt, gap) in gaps.iter().enumerate() {
        // 100 ms doubling, capped at 2 s, jittered between half and all.
        let full = (ms(100) * 2u32.pow(attempt as u32)).min(Duration::from_secs(2));
        assert!(
            *gap >= full / 2 && *gap <= full + TICK,
            "retry {attempt} waited {gap:?}, full delay {full:?}"
        );
    }
    // Two doublings outgrow any jitter: the waits really grow.
    for k in 0..3 {
        assert!(gaps[k + 2] >= gaps[k], "{gaps:?}");
    }
    assert!(r.calls().iter().all(|c| c.items == [1]), "the same item");
    assert_eq!(r.get(|c| &c.sent), 1);
    assert_eq!(r.get(|c| &c.errors), 7, "one error per failed attempt");
    assert_eq!(r.get(|c| &c.dropped), 0);
    assert!(!r.counters.is_failing());
    assert_eq!(r.counters.last_error(), None, "cleared on recovery");
    assert_eq!(r.event_kinds(), ["sink_failing", "sink_recovered"]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_within_the_cap() {
    let mut s = settings();
    s.backoff = crate::sinks::retry::DEFAULT_BACKOFF; // 200 ms .. 30 s
    let script = vec![
        retry(Some(Duration::from_secs(5))),
        retry(Some(Duration::from_secs(3_600))),
        retry(None),
    ];
    let r = Running::start(s, script, answer(Outcome::delivered()));
    r.push([1]);
    r.until_sends(4).await;
    let gaps = r.gaps();
    let exactly = |gap: Duration, want: Duration| gap >= want && gap <= want + TICK;
    assert!(exactly(gaps[0], Duration::from_secs(5)), "{gaps:?}");
    assert!(
        exactly(gaps[1], Duration::from_secs(30)),
        "capped: {gaps:?}"
    );
    // Without Retry-After the backoff goes on where it was (third retry).
    assert!(gaps[2] >= ms(400) && gaps[2] <= ms(800) + TICK, "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_is_not_retried_and_is_counted_dropped() {
    let refused = answer(Outcome::refused(1, "HTTP 400: bad".into()));
    let r = Running::start(settings(), vec![refused], answer(Outcome::delivered()));
    r.push([1, 2]);
    r.until_sends(2).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let calls = r.calls();
    assert_eq!(calls.len(), 2, "never sent again: {calls:?}");
    assert_eq!(
        (calls[0].items.clone(), calls[1].items.clone()),
        (vec![1], vec![2])
    );
    assert_eq!(calls[1].at, calls[0].at, "no backoff after a refusal");
    assert_eq!(r.get(|c| &c.dropped), 1);
    assert_eq!(r.get(|c| &c.sent), 1);
    assert_eq!(r.get(|c| &c.errors), 1);
    r.assert_accounted();
}

#[tokio::test(start_paused = true)]
async fn each_sinks_meaning_of_a_refusal_is_kept() {
    // A failed attempt, then the receiver refuses the item for good.
    for (policy, failing, kinds, last_error) in [
        (
            OnRefusal::Failing,
            true,
            &["sink_failing"][..],
            Some("HTTP 400"),
        ),
        (
            OnRefusal::LastErrorThenDelivered,
            false,
            &["sink_failing", "sink_recovered"][..],
            None,
        ),
        (
            OnRefusal::LastError,
            true,
            &["sink_failing"][..],
            Some("HTTP 400"),
        ),
    ] {
        let mut s = settings();
        s.on_refusal = policy;
        let script = vec![retry(None), answer(Outcome::refused(1, "HTTP 400".into()))];
        let r = Running::start(s, script, answer(Outcome::delivered()));
        r.push([1]);
        r.until_sends(2).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(r.calls().len(), 2, "{policy:?}");
        assert_eq!(r.counters.is_failing(), failing, "{policy:?}");
        assert_eq!(r.event_kinds(), kinds, "{policy:?}");
        assert_eq!(r.counters.last_error().as_deref(), last_error, "{policy:?}");
        assert_eq!(r.get(|c| &c.dropped), 1, "{policy:?}");
        assert_eq!(r.get(|c| &c.errors), 2, "{policy:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn partial_answers_retry_only_what_failed() {
    let mut s = settings();
    s.max_records = 3;
    // Item 1 stored, item 2 refused for good (a partial write, or a
    // mapping conflict), item 3 to be sent again (a per-item 429).
    let partial = Outcome {
        refused: vec![Refusal {
            records: 1,
            reason: "mapping conflict".into(),
        }],
        retry: Some(Retry {
            items: RetryItems::Some(vec![2]),
            reason: "429 queue full".into(),
            retry_after: None,
        }),
    };
    let r = Running::start(s, vec![answer(partial)], answer(Outcome::delivered()));
    r.push([1, 2, 3]);
    r.until_sends(2).await;
    tokio::time::sleep(TICK).await;
    let calls = r.calls();
    assert_eq!(calls[0].items, [1, 2, 3]);
    assert_eq!(calls[1].items, [3], "only the failed item again");
    let gap = calls[1].at - calls[0].at;
    assert!(
        gap >= ms(50) && gap <= ms(100) + TICK,
        "after a backoff: {gap:?}"
    );
    assert_eq!(r.get(|c| &c.sent), 2);
    assert_eq!(r.get(|c| &c.dropped), 1);
    assert_eq!(r.get(|c| &c.errors), 2, "one refusal, one failed attempt");
    r.assert_accounted();
}

#[tokio::test(start_paused = true)]
async fn the_shutdown_flush_is_bounded_and_counts_what_it_could_not_send() {
    // A receiver that never answers: the send in flight gets the flush's
    // time, no more, and everything queued is counted as dropped.
    let mut r = Running::start(settings(), vec![], slow(Duration::from_secs(3_600)));
    r.push(1..=5);
    r.until_sends(1).await;
    let took = r.stop().await;
    assert!(
        took >= Duration::from_secs(3) && took <= Duration::from_secs(3) + TICK,
        "{took:?}"
    );
    assert_eq!(r.get(|c| &c.sent), 0);
    assert_eq!(
        r.get(|c| &c.dropped),
        5,
        "the cut-off send and the 4 queued"
    );
    assert_eq!(r.get(|c| &c.queued), 0);
    r.assert_accounted();

    // A slow receiver (1 s a send): the send in flight finishes, the flush
    // sends what fits in 3 s, nothing twice, and counts the rest.
    let mut r = Running::start(settings(), vec![], slow(Duration::from_secs(1)));
    r.push(1..=10);
    r.until_sends(1).await;
    let took = r.stop().await;
    assert!(took <= Duration::from_secs(3) + TICK, "{took:?}");
    let sent = r.get(|c| &c.sent);
    assert_eq!(sent, 3, "in flight + two more within 3 s");
    assert_eq!(r.get(|c| &c.dropped), 7);
    let mut seen: Vec<u32> = r.calls().iter().flat_map(|c| c.items.clone()).collect();
    let sends = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), sends, "no item sent twice: {seen:?}");
    r.assert_accounted();

    // A receiver that asks for a retry: the flush stops at once instead of
    // waiting out a backoff it has no time for.
    let mut r = Running::start(settings(), vec![], retry(None));
    r.push(1..=5);
    r.until_sends(1).await;
    let took = r.stop().await;
    assert_eq!(took, Duration::ZERO);
    assert_eq!(r.calls().len(), 2, "one try in the flush");
    assert_eq!(r.get(|c| &c.dropped), 5);
    assert_eq!(r.counters.last_error().as_deref(), Some("HTTP 503"));
    r.assert_accounted();
}

#[tokio::test(start_paused = true)]
async fn nothing_queued_is_lost_silently() {
    // A receiver that does everything in turn, a queue small enough to
    // overflow, and a stop in the middle: every record is sent, dropped and
    // counted, or still queued; what the receiver stored equals `sent`.
    let mut s = settings();
    s.max_records = 4;
    let mut seed: u64 = 42;
    let mut script = Vec::new();
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        script.push(match (seed >> 33) % 5 {
            0 => retry(None),
            1 => retry(Some(ms(700))),
            2 => answer(Outcome::refused(4, "HTTP 400".into())),
            3 => slow(ms(300)),
            _ => answer(Outcome::delivered()),
        });
    }
    let mut r = Running::start_with_queue(s, script, answer(Outcome::delivered()), 20);
    for burst in 0..30u32 {
        r.push(burst * 10..burst * 10 + 10);
        tokio::time::sleep(ms(100)).await;
        assert!(r.unaccounted() <= 4, "at most the batch in flight");
    }
    r.stop().await;
    r.assert_accounted();
    assert_eq!(r.get(|c| &c.queued), 0);
    let mut stored = r.stored.lock().unwrap().clone();
    let stored_count = stored.len();
    stored.sort_unstable();
    stored.dedup();
    assert_eq!(stored.len(), stored_count, "nothing stored twice");
    assert_eq!(
        stored_count as u64,
        r.get(|c| &c.sent),
        "sent is what was stored"
    );
    assert!(r.get(|c| &c.dropped) > 0, "the small queue overflowed");
}

#[tokio::test(start_paused = true)]
async fn webhook_pacing_sends_at_most_n_a_second() {
    let mut s = settings();
    s.max_per_second = Some(20);
    s.shutdown_flush = ms(2_500);
    let mut r = Running::start(s, vec![], answer(Outcome::delivered()));
    r.push(1..=100);
    r.until_sends(50).await;
    let calls = r.calls();
    let span = calls[49].at - calls[0].at;
    assert_eq!(span, ms(49 * 50), "one every 50 ms");
    assert!(r.gaps().iter().all(|gap| *gap >= ms(50)), "{:?}", r.gaps());
    for (i, call) in calls.iter().enumerate() {
        let in_a_second = calls[i..]
            .iter()
            .take_while(|c| c.at < call.at + Duration::from_secs(1))
            .count();
        assert!(
            in_a_second <= 20,
            "{in_a_second} sends in the second from send {i}"
        );
    }
    // The shutdown flush is paced too and bounded: 2.5 s at 20/s.
    let before = r.calls().len();
    let took = r.stop().await;
    assert!(took <= ms(2_500) + TICK, "{took:?}");
    let flushed = r.calls().len() - before;
    assert!((49..=51).contains(&flushed), "{flushed} sent in the flush");
    assert!(r.gaps().iter().all(|gap| *gap >= ms(50)));
    r.assert_accounted();
    assert_eq!(r.get(|c| &c.queued), 0);
}

#[tokio::test(start_paused = true)]
async fn items_queued_without_a_wake_up_go_within_the_flush_interval() {
    let r = Running::start(settings(), vec![], answer(Outcome::delivered()));
    tokio::time::sleep(ms(10)).await;
    let queued_at = Instant::now();
    r.queue.lock().unwrap().push(Item(1));
    r.until_sends(1).await;
    let waited = r.calls()[0].at - queued_at;
    assert!(waited <= Duration::from_secs(1), "{waited:?}");
}

//! The latest snapshot (swapped atomically, watched by the live page), bounded
//! per-topic and per-group history for charts, and a bounded event log.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

pub use crate::model::Event;
use crate::model::{Name, Snapshot};

mod heat;
pub use heat::{HeatMap, HeatRow, HEAT_MINUTES};

/// 1 h at the default 1 s interval.
pub const DEFAULT_HISTORY_POINTS: usize = 3600;
/// All per-sample rings together hold at most this many points (24 bytes
/// each, ~23 MiB): a full hour for up to 277 series; on a cluster with
/// 50,000 groups each series keeps fewer points instead of memory growing
/// with groups × 3600 (the whole process must stay within 200 MiB there).
pub const TOTAL_HISTORY_POINTS: usize = 1_000_000;
/// A series keeps at least this many points however many series exist
/// (the overview's sparklines).
const MIN_SERIES_POINTS: usize = 10;
/// A per-sample ring shorter than this covers too little time to chart;
/// when the budget cannot give every series this much, rings keep only
/// the floor and charts use the per-minute points (at 50,000 groups the
/// budget would give 16 points: 16 s of history for 9 MiB).
const USEFUL_SERIES_POINTS: usize = 60;
/// Likewise for the per-minute rings.
const MIN_MINUTE_POINTS: usize = 4;
/// The lag heatmap's cells (2 bytes each, 4 MiB) at most, shared by every
/// group-partition: a full hour for 33,000 of them, 10 minutes each at
/// 200,000 (see `store/heat.rs`). What the heatmap holds, keys included,
/// is taken from the per-sample budget above ([`Store::ring_points`]), so
/// the history's memory stays within the same cap.
pub const HEAT_CELLS: usize = 2_000_000;
/// Bytes of one per-sample point (a [`Packed`]).
const POINT_BYTES: usize = std::mem::size_of::<Packed>();
pub const DEFAULT_EVENT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct TopicPoint {
    pub time: DateTime<Utc>,
    pub depth: i64,
    pub messages_in_per_sec: f64,
    pub messages_out_per_sec: f64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct GroupPoint {
    pub time: DateTime<Utc>,
    pub lag: i64,
    pub lag_seconds: f64,
    pub messages_out_per_sec: f64,
}

/// A cluster's totals at one sample: the overview's flow and lag charts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ClusterPoint {
    pub time: DateTime<Utc>,
    pub lag: i64,
    pub messages_in_per_sec: f64,
    pub messages_out_per_sec: f64,
}

/// 24 h at one point per minute, for the 24 h charts.
pub const MINUTE_HISTORY_POINTS: usize = 1440;
/// All per-minute rings together hold at most this many points (32 bytes
/// each, ~8 MiB).
pub const TOTAL_MINUTE_POINTS: usize = 250_000;

/// A point that can be folded into a per-minute summary.
pub trait SeriesPoint: Copy {
    fn time(&self) -> DateTime<Utc>;
    fn set_time(&mut self, time: DateTime<Utc>);
    /// Folds `next` into this summary of `samples` earlier points.
    fn merge(&mut self, next: &Self, samples: u32);
    fn pack(&self) -> Packed;
    fn unpack(packed: &Packed) -> Self;
}

/// A point as the rings keep it: 24 bytes instead of 40 (a `DateTime` is
/// 12 bytes plus padding; rates and lag seconds keep 7 significant digits,
/// plenty for a chart), and every ring exactly as long as its share of the
/// budget. Times keep their nanoseconds; levels (depth, lag) stay exact.
#[derive(Debug, Clone, Copy)]
pub struct Packed {
    nanos: i64,
    level: i64,
    first_rate: f32,
    second_rate: f32,
}

fn to_nanos(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// An f32 back to the f64 a reader expects: the shortest decimal that
/// round-trips, so an API shows 12.3, not 12.300000190734863.
fn widen(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn running_mean(mean: f64, next: f64, samples: u32) -> f64 {
    mean + (next - mean) / f64::from(samples + 1)
}

impl SeriesPoint for TopicPoint {
    fn time(&self) -> DateTime<Utc> {
        self.time
    }
    fn set_time(&mut self, time: DateTime<Utc>) {
        self.time = time;
    }
    fn pack(&self) -> Packed {
        Packed {
            nanos: to_nanos(self.time),
            level: self.depth,
            first_rate: self.messages_in_per_sec as f32,
            second_rate: self.messages_out_per_sec as f32,
        }
    }
    fn unpack(packed: &Packed) -> Self {
        TopicPoint {
            time: DateTime::from_timestamp_nanos(packed.nanos),
            depth: packed.level,
            messages_in_per_sec: widen(packed.first_rate),
            messages_out_per_sec: widen(packed.second_rate),
        }
    }
    /// Depth is a level (keep the latest); rates are averaged over the minute.
    fn merge(&mut self, next: &Self, samples: u32) {
        self.depth = next.depth;
        self.messages_in_per_sec =
            running_mean(self.messages_in_per_sec, next.messages_in_per_sec, samples);
        self.messages_out_per_sec = running_mean(
            self.messages_out_per_sec,
            next.messages_out_per_sec,
            samples,
        );
    }
}

impl SeriesPoint for GroupPoint {
    fn time(&self) -> DateTime<Utc> {
        self.time
    }
    fn set_time(&mut self, time: DateTime<Utc>) {
        self.time = time;
    }
    fn pack(&self) -> Packed {
        Packed {
            nanos: to_nanos(self.time),
            level: self.lag,
            first_rate: self.lag_seconds as f32,
            second_rate: self.messages_out_per_sec as f32,
        }
    }
    fn unpack(packed: &Packed) -> Self {
        GroupPoint {
            time: DateTime::from_timestamp_nanos(packed.nanos),
            lag: packed.level,
            lag_seconds: widen(packed.first_rate),
            messages_out_per_sec: widen(packed.second_rate),
        }
    }
    /// Lag keeps the minute's worst value, so a short spike is not averaged away.
    fn merge(&mut self, next: &Self, samples: u32) {
        self.lag = self.lag.max(next.lag);
        self.lag_seconds = self.lag_seconds.max(next.lag_seconds);
        self.messages_out_per_sec = running_mean(
            self.messages_out_per_sec,
            next.messages_out_per_sec,
            samples,
        );
    }
}

impl SeriesPoint for ClusterPoint {
    fn time(&self) -> DateTime<Utc> {
        self.time
    }
    fn set_time(&mut self, time: DateTime<Utc>) {
        self.time = time;
    }
    fn pack(&self) -> Packed {
        Packed {
            nanos: to_nanos(self.time),
            level: self.lag,
            first_rate: self.messages_in_per_sec as f32,
            second_rate: self.messages_out_per_sec as f32,
        }
    }
    fn unpack(packed: &Packed) -> Self {
        // + 0.0: a sum of no rates is -0.0, shown as 0.
        ClusterPoint {
            time: DateTime::from_timestamp_nanos(packed.nanos),
            lag: packed.level,
            messages_in_per_sec: widen(packed.first_rate) + 0.0,
            messages_out_per_sec: widen(packed.second_rate) + 0.0,
        }
    }
    /// Lag keeps the minute's worst value; rates are averaged.
    fn merge(&mut self, next: &Self, samples: u32) {
        self.lag = self.lag.max(next.lag);
        self.messages_in_per_sec =
            running_mean(self.messages_in_per_sec, next.messages_in_per_sec, samples);
        self.messages_out_per_sec = running_mean(
            self.messages_out_per_sec,
            next.messages_out_per_sec,
            samples,
        );
    }
}

/// One minute's summary and how many samples went into it.
#[derive(Debug, Clone, Copy)]
struct Minute {
    point: Packed,
    samples: u32,
}

/// The per-sample and per-minute rings of one topic or group.
struct Series<P> {
    recent: VecDeque<Packed>,
    minutes: VecDeque<Minute>,
    kind: std::marker::PhantomData<P>,
}

impl<P> Default for Series<P> {
    fn default() -> Self {
        Series {
            recent: VecDeque::new(),
            minutes: VecDeque::new(),
            kind: std::marker::PhantomData,
        }
    }
}

impl<P: SeriesPoint> Series<P> {
    fn push(&mut self, point: P, per_sample: usize, per_minute: usize) {
        push_bounded(&mut self.recent, point.pack(), per_sample);
        let minute = point.time().timestamp().div_euclid(60);
        if let Some(last) = self.minutes.back_mut() {
            let mut summary = P::unpack(&last.point);
            if summary.time().timestamp().div_euclid(60) == minute {
                summary.merge(&point, last.samples);
                last.point = summary.pack();
                last.samples += 1;
                return;
            }
        }
        let mut start = point;
        if let Some(time) = DateTime::from_timestamp(minute * 60, 0) {
            start.set_time(time);
        }
        push_bounded(
            &mut self.minutes,
            Minute {
                point: start.pack(),
                samples: 1,
            },
            per_minute,
        );
    }

    fn recent(&self) -> Vec<P> {
        self.recent.iter().map(P::unpack).collect()
    }

    /// The points from `since` on (oldest first), walking from the newest.
    fn since(&self, since: DateTime<Utc>) -> Vec<P> {
        let since = to_nanos(since);
        let newer = self
            .recent
            .iter()
            .rev()
            .take_while(|p| p.nanos >= since)
            .count();
        self.recent
            .iter()
            .skip(self.recent.len() - newer)
            .map(P::unpack)
            .collect()
    }

    fn minutes(&self) -> Vec<P> {
        self.minutes.iter().map(|m| P::unpack(&m.point)).collect()
    }
}

#[derive(Default)]
struct History {
    /// Keyed by the snapshot's names (shared, not copied).
    topics: HashMap<Name, Series<TopicPoint>>,
    groups: HashMap<Name, Series<GroupPoint>>,
    /// The cluster's totals: one series, always a full ring (the overview).
    totals: Series<ClusterPoint>,
    /// Lag per group-partition per minute (the group heatmap).
    heat: heat::LagHeat,
}

/// Bucketed tick durations for the Prometheus histogram.
#[derive(Debug, Clone, Default)]
pub struct DurationHistogram {
    counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Upper bounds (seconds): 1 s interval ticks should land well below 1.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl DurationHistogram {
    pub fn observe(&mut self, seconds: f64) {
        self.count += 1;
        self.sum += seconds;
        if let Some(i) = DURATION_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.counts[i] += 1;
        }
    }

    /// (upper bound, count in that bucket alone).
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        DURATION_BUCKETS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// Duration histogram and error count of one Kafka request type.
#[derive(Debug, Clone, Default)]
pub struct RequestStat {
    pub durations: DurationHistogram,
    pub errors: u64,
}

/// What a sink did since start; the sink updates it, /metrics and the
/// pages read it.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Points encoded and queued.
    pub produced: AtomicU64,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    /// Records waiting in the queue (the batch in flight left out).
    pub queued: AtomicU64,
    /// Their encoded bytes.
    pub queued_bytes: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Set while deliveries fail or data is refused; health says degraded.
    pub failing: std::sync::atomic::AtomicBool,
}

impl SinkCounters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Publishes what a sink's queue holds now.
    pub fn set_queue(&self, records: usize, bytes: usize) {
        self.queued.store(records as u64, Ordering::Relaxed);
        self.queued_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("poisoned").clone()
    }

    pub fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock().expect("poisoned") = error;
    }

    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

pub struct Store {
    sinks: Mutex<Vec<(String, Arc<SinkCounters>)>>,
    durations: Mutex<DurationHistogram>,
    request_stats: Mutex<Vec<(String, RequestStat)>>,
    latest: watch::Sender<Arc<Snapshot>>,
    history: Mutex<History>,
    history_points: usize,
    /// (id, event); ids increase by one, so a reader can resume after one.
    events: Mutex<VecDeque<(u64, Event)>>,
    next_event_id: std::sync::atomic::AtomicU64,
    event_capacity: usize,
}

/// Appends to a ring of at most `capacity` items. The ring grows in steps
/// up to exactly `capacity` (VecDeque's doubling would leave up to half of
/// each of 60,000 rings unused) and gives back room when its share shrinks.
fn push_bounded<T>(ring: &mut VecDeque<T>, item: T, capacity: usize) {
    let capacity = capacity.max(1);
    while ring.len() >= capacity {
        ring.pop_front();
    }
    if ring.capacity() > capacity + capacity / 4 {
        ring.shrink_to(capacity);
    }
    if ring.len() == ring.capacity() {
        let target = (ring.len() * 2).max(8).min(capacity);
        ring.reserve_exact(target.saturating_sub(ring.len()).max(1));
    }
    ring.push_back(item);
}

/// How many distinct names a sorted list holds; `None` when it is not
/// sorted.
fn distinct_sorted<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<usize> {
    let Some(mut previous) = names.next() else {
        return Some(0);
    };
    let mut distinct = 1;
    for name in names {
        match previous.cmp(name) {
            std::cmp::Ordering::Less => distinct += 1,
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Greater => return None,
        }
        previous = name;
    }
    Some(distinct)
}

/// The series of `name`, created when new.
fn series_of<'a, P>(map: &'a mut HashMap<Name, Series<P>>, name: &Name) -> &'a mut Series<P> {
    // Looked up by text first: `entry` would clone the name (an atomic
    // increment and decrement) for every series that already exists.
    if !map.contains_key(name.as_str()) {
        map.insert(name.clone(), Series::default());
    }
    map.get_mut(name.as_str()).expect("inserted above")
}

impl Store {
    pub fn new(history_points: usize, event_capacity: usize) -> Self {
        let (latest, _) = watch::channel(Arc::new(Snapshot::default()));
        Store {
            sinks: Mutex::default(),
            durations: Mutex::default(),
            request_stats: Mutex::default(),
            latest,
            history: Mutex::default(),
            history_points: history_points.max(1),
            events: Mutex::default(),
            next_event_id: AtomicU64::new(1),
            event_capacity: event_capacity.max(1),
        }
    }

    pub fn latest(&self) -> Arc<Snapshot> {
        self.latest.borrow().clone()
    }

    /// Notified on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.latest.subscribe()
    }

    pub fn publish(&self, snapshot: Snapshot) {
        if snapshot.sequence > 0 {
            self.durations
                .lock()
                .expect("histogram poisoned")
                .observe(snapshot.sample_duration_seconds);
        }
        {
            let mut history = self.history.lock().expect("history poisoned");
            let history = &mut *history;
            history.heat.record(&snapshot, HEAT_CELLS);
            history.totals.push(
                ClusterPoint {
                    time: snapshot.taken_at,
                    lag: snapshot.total_lag(),
                    messages_in_per_sec: snapshot.total_in_per_sec(),
                    messages_out_per_sec: snapshot.total_out_per_sec(),
                },
                self.history_points,
                MINUTE_HISTORY_POINTS,
            );
            let (per_series, per_series_minutes) = self.ring_points_with(
                snapshot.topics.len() + snapshot.groups.len(),
                history.heat.bytes(),
            );
            for topic in &snapshot.topics {
                let point = TopicPoint {
                    time: snapshot.taken_at,
                    depth: topic.depth,
                    messages_in_per_sec: topic.messages_in_per_sec,
                    messages_out_per_sec: topic.messages_out_per_sec,
                };
                series_of(&mut history.topics, &topic.name).push(
                    point,
                    per_series,
                    per_series_minutes,
                );
            }
            for group in &snapshot.groups {
                let point = GroupPoint {
                    time: snapshot.taken_at,
                    lag: group.lag,
                    lag_seconds: group.lag_seconds,
                    messages_out_per_sec: group.messages_out_per_sec,
                };
                series_of(&mut history.groups, &group.group).push(
                    point,
                    per_series,
                    per_series_minutes,
                );
            }
            if snapshot.kafka_up {
                // Deleted topics and groups leave the history with the
                // snapshot. Every name of the snapshot has a series now, so
                // when there are as many series as distinct names none is
                // stale and the sets (hashing 50,000 names twice) are not
                // built; snapshots list names sorted, which makes counting
                // them one pass.
                // (Sets, not scans: 50,000 groups must not cost 50,000².)
                let topic_names = snapshot.topics.iter().map(|t| t.name.as_str());
                if distinct_sorted(topic_names) != Some(history.topics.len()) {
                    let topics: HashSet<&str> =
                        snapshot.topics.iter().map(|t| t.name.as_str()).collect();
                    history
                        .topics
                        .retain(|name, _| topics.contains(name.as_str()));
                }
                let group_names = snapshot.groups.iter().map(|g| g.group.as_str());
                if distinct_sorted(group_names) != Some(history.groups.len()) {
                    let groups: HashSet<&str> =
                        snapshot.groups.iter().map(|g| g.group.as_str()).collect();
                    history
                        .groups
                        .retain(|name, _| groups.contains(name.as_str()));
                }
            }
        }
        self.latest.send_replace(Arc::new(snapshot));
    }

    /// Points each series keeps (per sample, per minute) when `series`
    /// topics and groups share the history budget.
    pub fn ring_points(&self, series: usize) -> (usize, usize) {
        let heat = self.history.lock().expect("history poisoned").heat.bytes();
        self.ring_points_with(series, heat)
    }

    /// [`Self::ring_points`] while the heatmap holds `heat_bytes`: they
    /// come out of the per-sample budget.
    fn ring_points_with(&self, series: usize, heat_bytes: usize) -> (usize, usize) {
        let series = series.max(1);
        let budget = TOTAL_HISTORY_POINTS.saturating_sub(heat_bytes.div_ceil(POINT_BYTES));
        let share = budget / series;
        let share = if share < USEFUL_SERIES_POINTS {
            MIN_SERIES_POINTS
        } else {
            share
        };
        let per_sample = share.clamp(
            MIN_SERIES_POINTS.min(self.history_points),
            self.history_points,
        );
        let per_minute =
            (TOTAL_MINUTE_POINTS / series).clamp(MIN_MINUTE_POINTS, MINUTE_HISTORY_POINTS);
        (per_sample, per_minute)
    }

    /// The cluster's totals from `since` on (per sample, up to 1 h).
    pub fn totals_since(&self, since: DateTime<Utc>) -> Vec<ClusterPoint> {
        self.history
            .lock()
            .expect("history poisoned")
            .totals
            .since(since)
    }

    /// The cluster's totals, one point per minute for up to 24 h.
    pub fn totals_minutes(&self) -> Vec<ClusterPoint> {
        self.history
            .lock()
            .expect("history poisoned")
            .totals
            .minutes()
    }

    /// `group`'s lag heatmap: its `rows` partitions with the most lag over
    /// the last hour (or what the budget keeps), minute by minute.
    pub fn lag_heatmap(&self, group: &str, rows: usize) -> Option<HeatMap> {
        self.history
            .lock()
            .expect("history poisoned")
            .heat
            .map(group, rows)
    }

    /// Bytes the lag heatmap holds (counted against the history budget).
    pub fn heatmap_bytes(&self) -> usize {
        self.history.lock().expect("history poisoned").heat.bytes()
    }

    pub fn sample_durations(&self) -> DurationHistogram {
        self.durations.lock().expect("histogram poisoned").clone()
    }

    /// A sink announces itself; its counters show on /metrics and the pages.
    pub fn register_sink(&self, name: &str) -> Arc<SinkCounters> {
        let counters = Arc::new(SinkCounters::default());
        self.sinks
            .lock()
            .expect("sinks poisoned")
            .push((name.to_string(), counters.clone()));
        counters
    }

    pub fn sinks(&self) -> Vec<(String, Arc<SinkCounters>)> {
        self.sinks.lock().expect("sinks poisoned").clone()
    }

    /// Replaces the per-request-type statistics (the collector owns them).
    pub fn set_request_stats(&self, stats: Vec<(String, RequestStat)>) {
        *self.request_stats.lock().expect("stats poisoned") = stats;
    }

    pub fn request_stats(&self) -> Vec<(String, RequestStat)> {
        self.request_stats.lock().expect("stats poisoned").clone()
    }

    pub fn topic_series(&self, topic: &str) -> Option<Vec<TopicPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.topics.get(topic).map(Series::recent)
    }

    pub fn group_series(&self, group: &str) -> Option<Vec<GroupPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.groups.get(group).map(Series::recent)
    }

    /// The topic's points from `since` on (per sample, up to 1 h).
    pub fn topic_series_since(&self, topic: &str, since: DateTime<Utc>) -> Option<Vec<TopicPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.topics.get(topic).map(|series| series.since(since))
    }

    /// The group's points from `since` on (per sample, up to 1 h).
    pub fn group_series_since(&self, group: &str, since: DateTime<Utc>) -> Option<Vec<GroupPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.groups.get(group).map(|series| series.since(since))
    }

    /// The topic's last `count` in-rates, oldest first: the overview's
    /// sparklines, without copying the whole hour.
    pub fn topic_in_rates_tail(&self, topic: &str, count: usize) -> Vec<f64> {
        let history = self.history.lock().expect("history poisoned");
        history
            .topics
            .get(topic)
            .map(|series| {
                let skip = series.recent.len().saturating_sub(count);
                series
                    .recent
                    .iter()
                    .skip(skip)
                    .map(|p| widen(p.first_rate))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One point per minute for up to 24 h: depth at the minute's end, mean rates.
    pub fn topic_series_minutes(&self, topic: &str) -> Option<Vec<TopicPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.topics.get(topic).map(Series::minutes)
    }

    /// One point per minute for up to 24 h: the minute's worst lag, mean out-rate.
    pub fn group_series_minutes(&self, group: &str) -> Option<Vec<GroupPoint>> {
        let history = self.history.lock().expect("history poisoned");
        history.groups.get(group).map(Series::minutes)
    }

    pub fn record_event(&self, kind: &str, subject: &str, message: impl Into<String>) {
        self.push_events([Event::new(Utc::now(), kind, subject, message)]);
    }

    pub fn push_events(&self, new: impl IntoIterator<Item = Event>) {
        let mut events = self.events.lock().expect("events poisoned");
        for event in new {
            let id = self.next_event_id.fetch_add(1, Ordering::Relaxed);
            push_bounded(&mut events, (id, event), self.event_capacity);
        }
    }

    /// Newest first.
    pub fn events(&self, limit: usize) -> Vec<Event> {
        let events = self.events.lock().expect("events poisoned");
        events
            .iter()
            .rev()
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Events with an id above `after`, oldest first, at most `limit`; and how
    /// many newer-than-`after` events already left the bounded log unread.
    pub fn events_after(&self, after: u64, limit: usize) -> (Vec<(u64, Event)>, u64) {
        let events = self.events.lock().expect("events poisoned");
        let oldest = events.front().map(|(id, _)| *id).unwrap_or(u64::MAX);
        let missed = oldest.saturating_sub(after + 1).min(
            self.next_event_id
                .load(Ordering::Relaxed)
                .saturating_sub(after + 1),
        );
        let list = events
            .iter()
            .filter(|(id, _)| *id > after)
            .take(limit)
            .cloned()
            .collect();
        (list, if events.is_empty() { 0 } else { missed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TopicView;

    fn snapshot_with(topics: &[&str]) -> Snapshot {
        Snapshot {
            kafka_up: true,
            topics: topics
                .iter()
                .map(|name| TopicView {
                    name: Name::from(*name),
                    depth: 7,
                    ..TopicView::default()
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn history_is_bounded_and_follows_deletions() {
        let store = Store::new(3, 10);
        for _ in 0..5 {
            store.publish(snapshot_with(&["a", "b"]));
        }
        assert_eq!(store.topic_series("a").unwrap().len(), 3);
        store.publish(snapshot_with(&["a"]));
        assert!(store.topic_series("b").is_none());
        assert_eq!(store.latest().topics.len(), 1);
    }

    #[test]
    fn many_series_share_the_history_budget() {
        let store = Store::new(DEFAULT_HISTORY_POINTS, 10);
        let names: Vec<String> = (0..150_000).map(|i| format!("t{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let snapshot = snapshot_with(&refs);
        for _ in 0..(MIN_SERIES_POINTS + 5) {
            store.publish(snapshot.clone());
        }
        // 1,000,000 / 150,000 = 6 points, raised to the 10-point floor.
        assert_eq!(store.topic_series("t7").unwrap().len(), MIN_SERIES_POINTS);
    }

    #[test]
    fn rates_come_back_as_written_to_seven_digits() {
        let point = GroupPoint {
            time: Utc::now(),
            lag: 12_345_678_901,
            lag_seconds: 42.5,
            messages_out_per_sec: 12.3,
        };
        let back = GroupPoint::unpack(&point.pack());
        assert_eq!(back.lag, 12_345_678_901);
        assert_eq!(back.lag_seconds, 42.5);
        assert_eq!(back.messages_out_per_sec, 12.3);
        assert_eq!(widen(1234.5678_f32), 1234.5677);
    }

    #[test]
    fn a_share_too_short_to_chart_falls_back_to_the_floor() {
        let store = Store::new(DEFAULT_HISTORY_POINTS, 10);
        // 16 points each (16 s at 1 s) would cost memory and chart nothing.
        assert_eq!(store.ring_points(60_000).0, MIN_SERIES_POINTS);
        // A minute or more each is kept.
        assert_eq!(store.ring_points(10_000).0, 100);
        assert_eq!(store.ring_points(100).0, DEFAULT_HISTORY_POINTS);
    }

    #[test]
    fn events_are_bounded_and_newest_first() {
        let store = Store::new(3, 2);
        store.record_event("broker", "b", "one");
        store.record_event("broker", "b", "two");
        store.record_event("broker", "b", "three");
        let events = store.events(10);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].message, "three");
        assert_eq!(events[1].message, "two");
    }

    #[test]
    fn readers_resume_after_an_id_and_learn_what_they_missed() {
        let store = Store::new(3, 2);
        store.record_event("k", "s", "one");
        let (first, missed) = store.events_after(0, 10);
        assert_eq!((first.len(), missed), (1, 0));
        let cursor = first[0].0;
        store.record_event("k", "s", "two");
        store.record_event("k", "s", "three");
        store.record_event("k", "s", "four");
        let (next, missed) = store.events_after(cursor, 10);
        let messages: Vec<&str> = next.iter().map(|(_, e)| e.message.as_str()).collect();
        assert_eq!(messages, ["three", "four"]);
        assert_eq!(missed, 1, "'two' left the log before it was read");
    }

    #[test]
    fn minute_history_summarises_each_minute() {
        let store = Store::new(100, 10);
        let start = DateTime::from_timestamp(600, 0).unwrap();
        for (second, depth, lag) in [(0, 10, 5), (30, 20, 50), (59, 30, 7), (60, 40, 1)] {
            let mut snapshot = snapshot_with(&["a"]);
            snapshot.taken_at = start + chrono::Duration::seconds(second);
            snapshot.topics[0].depth = depth;
            snapshot.topics[0].messages_in_per_sec = depth as f64;
            snapshot.groups.push(crate::model::GroupView {
                group: "g".into(),
                group_type: None,
                state: Default::default(),
                state_note: None,
                status: crate::model::GroupStatus::Ok,
                reason: String::new(),
                members: None,
                lag,
                lag_seconds: lag as f64,
                lost_messages: 0,
                time_to_clear_seconds: None,
                messages_out_per_sec: 0.0,
                topics: vec![],
                partitions: vec![],
                error: None,
            });
            store.publish(snapshot);
        }
        let topic = store.topic_series_minutes("a").unwrap();
        assert_eq!(topic.len(), 2);
        assert_eq!((topic[0].time, topic[0].depth), (start, 30));
        assert!((topic[0].messages_in_per_sec - 20.0).abs() < 1e-9);
        let group = store.group_series_minutes("g").unwrap();
        assert_eq!(
            (group[0].lag, group[1].lag),
            (50, 1),
            "worst lag of the minute"
        );
        let recent = store
            .topic_series_since("a", start + chrono::Duration::seconds(59))
            .unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(store.topic_in_rates_tail("a", 2), vec![30.0, 40.0]);
    }

    #[tokio::test]
    async fn subscribers_see_each_publish() {
        let store = Store::new(3, 2);
        let mut rx = store.subscribe();
        store.publish(snapshot_with(&["x"]));
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().topics[0].name, "x");
    }
}

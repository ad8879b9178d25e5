//! Original pace: the first record goes out at once, every later one when
//! its timestamp's distance from the first has passed on the wall clock
//! (divided by the speed). Pure apart from the clock readings passed in, so
//! the schedule is unit-tested without sleeping.

use std::time::{Duration, Instant};

use super::spec::Speed;

pub struct Pacer {
    speed: Speed,
    /// (first record's timestamp in ms, wall time it was due)
    origin: Option<(i64, Instant)>,
    /// Timestamps that go backwards (CreateTime set by many producers) never
    /// move the schedule back: they go out right after the previous record.
    latest_timestamp_ms: i64,
}

impl Pacer {
    pub fn new(speed: Speed) -> Self {
        Pacer {
            speed,
            origin: None,
            latest_timestamp_ms: i64::MIN,
        }
    }

    /// When the record with this timestamp is due; None = now (speed max,
    /// or no timestamp to pace by).
    pub fn due(&mut self, timestamp_ms: Option<i64>, now: Instant) -> Option<Instant> {
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let timestamp_ms = timestamp_ms?;
        self.latest_timestamp_ms = self.latest_timestamp_ms.max(timestamp_ms);
        let (origin_ms, origin_at) = *self.origin.get_or_insert((timestamp_ms, now));
        let offset_ms = (self.latest_timestamp_ms - origin_ms) as f64 / factor;
        Some(origin_at + Duration::from_secs_f64(offset_ms.max(0.0) / 1000.0))
    }
}

/// How far actual sends were from their schedule.
#[derive(Debug, Default, Clone)]
pub struct TimingError {
    count: u64,
    sum_abs_micros: u128,
    max_abs_micros: u64,
    /// A bounded sample for percentiles (every n-th value once full).
    sample: Vec<u64>,
    stride: u64,
}

const TIMING_SAMPLE: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TimingSummary {
    pub paced_messages: u64,
    pub mean_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl TimingError {
    pub fn record(&mut self, due: Instant, sent: Instant) {
        let error = if sent >= due { sent - due } else { due - sent };
        let micros = error.as_micros().min(u64::MAX as u128) as u64;
        self.count += 1;
        self.sum_abs_micros += micros as u128;
        self.max_abs_micros = self.max_abs_micros.max(micros);
        if self.stride == 0 {
            self.stride = 1;
        }
        if self.count % self.stride == 0 {
            if self.sample.len() == TIMING_SAMPLE {
                // Keep every other value and halve how often we sample.
                let kept: Vec<u64> = self.sample.iter().copied().step_by(2).collect();
                self.sample = kept;
                self.stride *= 2;
            }
            self.sample.push(micros);
        }
    }

    pub fn summary(&self) -> Option<TimingSummary> {
        if self.count == 0 {
            return None;
        }
        let mut sorted = self.sample.clone();
        sorted.sort_unstable();
        let p99 = sorted
            .get(((sorted.len() as f64) * 0.99).ceil() as usize - 1)
            .copied()
            .unwrap_or(self.max_abs_micros);
        Some(TimingSummary {
            paced_messages: self.count,
            mean_ms: self.sum_abs_micros as f64 / self.count as f64 / 1000.0,
            p99_ms: p99 as f64 / 1000.0,
            max_ms: self.max_abs_micros as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_gaps_are_reproduced_and_scaled() {
        let start = Instant::now();
        let mut pacer = Pacer::new(Speed::Factor(1.0));
        assert_eq!(pacer.due(Some(10_000), start), Some(start));
        let later = start + Duration::from_millis(5);
        assert_eq!(
            pacer.due(Some(10_250), later),
            Some(start + Duration::from_millis(250))
        );
        let mut fast = Pacer::new(Speed::Factor(10.0));
        fast.due(Some(0), start);
        assert_eq!(
            fast.due(Some(1_000), start),
            Some(start + Duration::from_millis(100))
        );
    }

    #[test]
    fn backwards_timestamps_never_move_the_schedule_back() {
        let start = Instant::now();
        let mut pacer = Pacer::new(Speed::Factor(1.0));
        pacer.due(Some(1_000), start);
        pacer.due(Some(2_000), start);
        assert_eq!(
            pacer.due(Some(1_500), start),
            Some(start + Duration::from_millis(1_000))
        );
    }

    #[test]
    fn max_speed_and_missing_timestamps_go_at_once() {
        let now = Instant::now();
        assert_eq!(Pacer::new(Speed::Max).due(Some(5), now), None);
        assert_eq!(Pacer::new(Speed::Factor(1.0)).due(None, now), None);
    }

    #[test]
    fn timing_error_summarises_absolute_errors() {
        let due = Instant::now();
        let mut timing = TimingError::default();
        assert!(timing.summary().is_none());
        for ms in [1u64, 2, 3, 10] {
            timing.record(due, due + Duration::from_millis(ms));
        }
        timing.record(due + Duration::from_millis(4), due);
        let summary = timing.summary().unwrap();
        assert_eq!(summary.paced_messages, 5);
        assert!((summary.mean_ms - 4.0).abs() < 1e-9, "{summary:?}");
        assert_eq!(summary.max_ms, 10.0);
        assert_eq!(summary.p99_ms, 10.0);
    }

    #[test]
    fn the_percentile_sample_stays_bounded() {
        let due = Instant::now();
        let mut timing = TimingError::default();
        for i in 0..100_000u64 {
            timing.record(due, due + Duration::from_micros(i % 1000));
        }
        assert!(timing.sample.len() <= TIMING_SAMPLE);
        let summary = timing.summary().unwrap();
        assert!(
            summary.p99_ms > 0.95 && summary.p99_ms <= 1.0,
            "{summary:?}"
        );
    }
}

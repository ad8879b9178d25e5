//! Lag in messages and in seconds.
//!
//! Time lag follows kafka-lag-exporter's lookup table: at each sample we
//! record (high watermark, time) per partition; the message at offset `o` was
//! produced between the last point whose offset is ≤ `o` and the next point,
//! so its produce time is interpolated between them.

use super::packed::PackedRing;

/// Lag in messages: how many messages are between the group's position and
/// the end of the partition. No commit yet means the whole retained depth.
/// A committed offset below the log start counts from the log start: the
/// messages before it no longer exist and are counted by [`lost_messages`]
/// instead (peers that subtract the committed offset report phantom lag).
pub fn lag_messages(committed: Option<i64>, low: Option<i64>, high: Option<i64>) -> i64 {
    match (read_position(committed, low), high) {
        (Some(position), Some(high)) => (high - position).max(0),
        (None, Some(high)) => high.max(0),
        _ => 0,
    }
}

/// Where the group's next read starts: its committed offset, or the log
/// start when retention or DeleteRecords removed what it had not read.
pub fn read_position(committed: Option<i64>, low: Option<i64>) -> Option<i64> {
    match (committed, low) {
        (Some(committed), Some(low)) => Some(committed.max(low)),
        (committed, low) => committed.or(low),
    }
}

/// Messages deleted before the group read them: log start − committed
/// offset when the committed offset is below the log start, else 0.
pub fn lost_messages(committed: Option<i64>, low: Option<i64>) -> i64 {
    match (committed, low) {
        (Some(committed), Some(low)) => (low - committed).max(0),
        _ => 0,
    }
}

/// How far (in messages) a dropped middle point may be from the line
/// through its neighbours.
const COLLINEAR_TOLERANCE: f64 = 1.0;

/// Times are kept in whole milliseconds (samples are timestamped to the
/// millisecond), which lets the table store them as small integer steps.
fn to_millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn to_seconds(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

/// Bounded (offset, time) table of one partition's high watermark.
#[derive(Debug, Clone)]
pub struct OffsetTimeTable {
    /// [high watermark, unix time in ms], offsets non-decreasing; packed
    /// because 40,000 partitions × 120 points of 16 bytes would be 75 MiB.
    points: PackedRing<2>,
    /// The two newest points, which every `record` compares with, so it
    /// need not decode the ring.
    newest: [(i64, i64); 2],
    capacity: u16,
}

impl OffsetTimeTable {
    pub fn new(capacity: usize) -> Self {
        OffsetTimeTable {
            points: PackedRing::default(),
            newest: [(0, 0); 2],
            capacity: capacity.clamp(2, usize::from(u16::MAX - 1)) as u16,
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The newest (high watermark, time in seconds) recorded.
    pub fn last(&self) -> Option<(i64, f64)> {
        (!self.is_empty()).then(|| (self.newest[1].0, to_seconds(self.newest[1].1)))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.points.heap_bytes()
    }

    /// Moves the newest point (there are at least two).
    fn set_last(&mut self, point: (i64, i64)) {
        let before = self.newest[0];
        self.points
            .set_last_after([before.0, before.1], [point.0, point.1]);
        self.newest[1] = point;
    }

    /// Records that the high watermark was `offset` at `time`.
    pub fn record(&mut self, offset: i64, time: f64) {
        let time = to_millis(time);
        let len = self.points.len();
        if len > 0 {
            let last_offset = self.newest[1].0;
            if offset < last_offset {
                // Watermark went backwards: the topic was recreated; old
                // points describe other messages.
                self.points.clear();
            } else if offset == last_offset {
                // A plateau needs only its first and its latest point: the
                // first says when the offset was reached, the latest that no
                // newer message existed until then.
                if len >= 2 && self.newest[0].0 == offset {
                    self.set_last((offset, time));
                    return;
                }
            }
        }
        // A steady rate needs no middle points: when the last point lies on
        // the line from the one before it to the new point (within
        // COLLINEAR_TOLERANCE of a message), move it instead of adding one.
        // Interpolation stays exact to that tolerance, and a partition with
        // a constant rate keeps three points however long it runs.
        let len = self.points.len();
        if len >= 2 {
            let [(o1, t1), (o2, t2)] = self.newest;
            if o1 < o2 && o2 < offset && t1 < t2 && t2 < time {
                let predicted =
                    o1 as f64 + (offset - o1) as f64 * (t2 - t1) as f64 / (time - t1) as f64;
                if (predicted - o2 as f64).abs() <= COLLINEAR_TOLERANCE {
                    self.set_last((offset, time));
                    return;
                }
            }
        }
        let last = self.newest[1];
        self.points.push_after([last.0, last.1], [offset, time]);
        self.newest = [last, (offset, time)];
        while self.points.len() > usize::from(self.capacity) {
            self.drop_least_informative();
        }
    }

    /// Makes room by dropping the point whose loss moves answers least
    /// relative to its age: the produce time interpolated without it, from
    /// its neighbours, is compared with its own time, and the error is
    /// divided by how old it is. Old stretches thin out while recent ones
    /// stay dense, so the table covers hours with a few percent of error
    /// instead of the last `capacity` samples exactly and nothing before
    /// (dropping the oldest point). The first point is kept: everything
    /// since it is covered; the two newest are kept for `record`.
    fn drop_least_informative(&mut self) {
        let len = self.points.len();
        if len < 4 {
            self.points.pop_front();
            return;
        }
        let now = self.newest[1].1;
        let mut points = self.points.iter();
        let (Some(mut a), Some(mut b)) = (points.next(), points.next()) else {
            return;
        };
        let mut best: Option<(f64, usize)> = None;
        // `b` is the candidate at `index`, between `a` and `c`.
        for (index, c) in (1..len - 2).zip(points) {
            let ([o0, t0], [o1, t1], [o2, t2]) = (a, b, c);
            let error = if o2 > o0 {
                let predicted = t0 as f64 + (o1 - o0) as f64 / (o2 - o0) as f64 * (t2 - t0) as f64;
                (predicted - t1 as f64).abs() / ((now - t1) as f64).max(1000.0)
            } else {
                // The middle of a plateau says nothing its ends don't.
                0.0
            };
            if best.is_none_or(|(lowest, _)| error < lowest) {
                best = Some((error, index));
            }
            (a, b) = (b, c);
        }
        match best {
            Some((_, index)) => self.points.remove(index),
            None => self.points.pop_front(),
        }
    }

    /// Estimated produce time of the message at `offset`, or `None` with too
    /// little data to tell.
    ///
    /// The message at `offset` exists once the watermark passed it: it was
    /// produced before the first point with watermark > offset and after
    /// the point before that one. Offsets never decrease along the table,
    /// so that pair is found walking back from the newest point: commits
    /// are usually a few points from the end, and every group on the
    /// partition asks.
    pub fn produce_time(&self, offset: i64) -> Option<f64> {
        let newest = self.newest[1];
        if self.is_empty() || newest.0 <= offset {
            return None;
        }
        // The oldest point seen so far with watermark > offset.
        let mut after = newest;
        for [o1, t1] in self.points.iter_back([newest.0, newest.1]).skip(1) {
            if o1 <= offset {
                // Between the last time the watermark was o1 and when it
                // reached the next point's.
                let (t1, (o2, t2)) = (to_seconds(t1), (after.0, to_seconds(after.1)));
                let fraction = (offset - o1 + 1) as f64 / (o2 - o1) as f64;
                return Some(t1 + fraction.clamp(0.0, 1.0) * (t2 - t1));
            }
            after = (o1, t1);
        }
        // Older than our table: extrapolate at the table's average rate,
        // never later than the first point.
        let first = (after.0, to_seconds(after.1));
        let (last_offset, last_time) = (newest.0, to_seconds(newest.1));
        let span_offsets = (last_offset - first.0) as f64;
        let span_time = last_time - first.1;
        if span_offsets <= 0.0 || span_time <= 0.0 {
            return Some(first.1);
        }
        let rate = span_offsets / span_time;
        Some(first.1 - (first.0 - offset) as f64 / rate)
    }

    /// How many seconds behind `now` a consumer at `committed` is: 0 when it
    /// is at the end, never negative, `None` when the table can't tell yet.
    pub fn lag_seconds(&self, committed: i64, high: i64, now: f64) -> Option<f64> {
        if committed >= high {
            return Some(0.0);
        }
        self.produce_time(committed).map(|t| (now - t).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `produce_time` as a walk from the oldest point: what the walk back
    /// from the newest must answer.
    fn produce_time_forward(table: &OffsetTimeTable, offset: i64) -> Option<f64> {
        let mut points = table
            .points
            .iter()
            .map(|[o, t]| (o, to_seconds(t)))
            .peekable();
        let first = *points.peek()?;
        let mut previous = None;
        for (o2, t2) in points {
            if o2 > offset {
                let Some((o1, t1)) = previous else {
                    let (last_offset, last_time) = table.last()?;
                    let span_offsets = (last_offset - first.0) as f64;
                    let span_time = last_time - first.1;
                    if span_offsets <= 0.0 || span_time <= 0.0 {
                        return Some(first.1);
                    }
                    let rate = span_offsets / span_time;
                    return Some(first.1 - (first.0 - offset) as f64 / rate);
                };
                let fraction = (offset - o1 + 1) as f64 / (o2 - o1) as f64;
                return Some(t1 + fraction.clamp(0.0, 1.0) * (t2 - t1));
            }
            previous = Some((o2, t2));
        }
        None
    }

    #[test]
    fn walking_back_from_the_newest_point_answers_like_walking_forward() {
        let mut next = crate::analysis::xorshift(0x2545_F491_4F6C_DD1D);
        for round in 0..200 {
            let mut table = OffsetTimeTable::new(2 + round % 20);
            let (mut high, mut time) = (0i64, 1_700_000_000.0);
            for _ in 0..(next() % 300) {
                time += 0.5 + (next() % 4) as f64 * 0.25;
                high = match next() % 10 {
                    0 => high,
                    1 if high > 10 => high / 2,
                    _ => high + (next() % 500) as i64,
                };
                table.record(high, time);
                for _ in 0..4 {
                    let offset = high - (next() % 5_000) as i64 + 10;
                    assert_eq!(
                        table.produce_time(offset),
                        produce_time_forward(&table, offset),
                        "offset {offset} of {:?}",
                        table.points.iter().collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    #[test]
    fn lag_is_high_minus_committed_and_never_negative() {
        assert_eq!(lag_messages(Some(70), Some(0), Some(100)), 30);
        assert_eq!(lag_messages(Some(120), Some(0), Some(100)), 0);
    }

    #[test]
    fn no_commit_means_the_whole_depth() {
        assert_eq!(lag_messages(None, Some(40), Some(100)), 60);
    }

    #[test]
    fn commits_below_the_log_start_count_as_lost_not_as_lag() {
        // Log start 600 (DeleteRecords), end 1,000, committed 100.
        assert_eq!(lag_messages(Some(100), Some(600), Some(1000)), 400);
        assert_eq!(lost_messages(Some(100), Some(600)), 500);
        // At or above the log start nothing is lost.
        assert_eq!(lag_messages(Some(600), Some(600), Some(1000)), 400);
        assert_eq!(lost_messages(Some(600), Some(600)), 0);
        assert_eq!(lost_messages(Some(700), Some(600)), 0);
        // Unknown log start or no commit: nothing can be said to be lost.
        assert_eq!(lost_messages(Some(100), None), 0);
        assert_eq!(lost_messages(None, Some(600)), 0);
        assert_eq!(read_position(Some(100), Some(600)), Some(600));
        assert_eq!(read_position(None, Some(600)), Some(600));
        assert_eq!(read_position(Some(7), None), Some(7));
    }

    #[test]
    fn unknown_watermark_gives_zero_lag() {
        assert_eq!(lag_messages(Some(5), None, None), 0);
    }

    #[test]
    fn interpolates_between_points() {
        let mut table = OffsetTimeTable::new(100);
        table.record(0, 100.0);
        table.record(100, 110.0);
        // Offset 49 is the 50th message of 100 produced over 10 s.
        assert_eq!(table.produce_time(49), Some(105.0));
        assert_eq!(table.lag_seconds(49, 100, 120.0), Some(15.0));
    }

    #[test]
    fn caught_up_consumer_has_zero_seconds() {
        let mut table = OffsetTimeTable::new(10);
        table.record(10, 1.0);
        assert_eq!(table.lag_seconds(10, 10, 999.0), Some(0.0));
    }

    #[test]
    fn plateau_keeps_first_and_latest_point() {
        let mut table = OffsetTimeTable::new(100);
        table.record(0, 0.0);
        table.record(10, 10.0);
        for t in 11..50 {
            table.record(10, t as f64);
        }
        assert_eq!(table.len(), 3);
        table.record(20, 50.0);
        // Offset 10 was produced after t=49 (watermark still 10 then).
        let t = table.produce_time(10).unwrap();
        assert!((49.0..=50.0).contains(&t), "{t}");
        // Offset 5 was produced between 0 and 10.
        let t = table.produce_time(5).unwrap();
        assert!((0.0..=10.0).contains(&t), "{t}");
    }

    #[test]
    fn offsets_before_the_table_are_extrapolated_not_in_the_future() {
        let mut table = OffsetTimeTable::new(100);
        table.record(100, 10.0);
        table.record(200, 20.0);
        let t = table.produce_time(50).unwrap();
        assert!((t - 5.0).abs() < 1e-9, "{t}");
    }

    #[test]
    fn recreated_topic_resets_the_table() {
        let mut table = OffsetTimeTable::new(100);
        table.record(1000, 1.0);
        table.record(5, 2.0);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_steady_rate_keeps_few_points_and_exact_answers() {
        let mut table = OffsetTimeTable::new(100);
        for i in 0..1000 {
            table.record(i * 50, i as f64);
        }
        assert!(table.len() <= 3, "{}", table.len());
        // Offset 25_049 is message 50 after offset 25_000 (t = 500 s).
        let t = table.produce_time(25_049).unwrap();
        assert!((t - 501.0).abs() < 0.05, "{t}");
    }

    #[test]
    fn a_rate_change_keeps_its_corner() {
        let mut table = OffsetTimeTable::new(100);
        for i in 0..10 {
            table.record(i * 10, i as f64);
        }
        for i in 10..20 {
            table.record(90 + (i - 9) * 100, i as f64);
        }
        // Message 45 was produced at 4.6 s, in the slow stretch.
        let t = table.produce_time(45).unwrap();
        assert!((t - 4.6).abs() < 0.05, "{t}");
    }

    #[test]
    fn a_full_table_stays_accurate_for_old_and_recent_offsets() {
        // An hour of bursty traffic at 1 s samples (rates from 0 to 2,000
        // msg/s, changing about every 10 s) into the default 64 points.
        let mut next = crate::analysis::xorshift(0x2545_F491_4F6C_DD1D);
        let mut table = OffsetTimeTable::new(64);
        let mut exact = OffsetTimeTable::new(10_000);
        let (mut high, mut rate) = (0i64, 50i64);
        let mut highs = Vec::new();
        for t in 0..3600 {
            if next() % 10 == 0 {
                rate = [0, 5, 50, 500, 2000][(next() % 5) as usize];
            }
            high += rate * (50 + (next() % 100) as i64) / 100;
            highs.push(high);
            table.record(high, t as f64);
            exact.record(high, t as f64);
        }
        assert_eq!(table.len(), 64);
        let now = 3599.0;
        for age in [10usize, 30, 60, 120, 300, 600, 1800, 3000] {
            let offset = highs[3599 - age] - 1;
            let truth = exact.lag_seconds(offset, high, now).unwrap();
            let estimate = table.lag_seconds(offset, high, now).unwrap();
            let error = (estimate - truth).abs() / truth.max(1.0);
            assert!(error < 0.15, "age {age}: {estimate:.1} s vs {truth:.1} s");
        }
    }

    #[test]
    fn capacity_bounds_the_table() {
        let mut table = OffsetTimeTable::new(5);
        for i in 0..100 {
            // Alternating rates, so points cannot merge.
            table.record(i * i, i as f64);
        }
        assert_eq!(table.len(), 5);
    }
}

//! Group status over a sliding window of samples, after Burrow's consumer lag
//! evaluation rules (simplified to whole-group totals; see DESIGN.md):
//! - lag 0 at the newest sample: OK, however old the last commit (no false
//!   STOP on idle topics);
//! - the committed position went back: REWIND;
//! - no commit movement over the whole window while lag > 0: STALL when the
//!   group still has members (or we cannot tell), STOP when it has none;
//! - lag grew at every step of a full window while commits moved: WARN;
//! - otherwise OK.

use crate::model::GroupStatus;

use super::packed::PackedRing;

/// One group's totals at one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupPoint {
    pub time: f64,
    /// Sum of committed offsets over the group's partitions.
    pub committed_total: i64,
    pub lag: i64,
}

/// Window of a group's recent points.
#[derive(Debug, Clone)]
pub struct GroupWindow {
    /// [time in ms, committed total, lag]; packed because there is one
    /// window per group-partition (200,000 on a big cluster).
    points: PackedRing<3>,
    size: u16,
}

fn unpack([time, committed_total, lag]: [i64; 3]) -> GroupPoint {
    GroupPoint {
        time: time as f64 / 1000.0,
        committed_total,
        lag,
    }
}

impl GroupWindow {
    pub fn new(size: usize) -> Self {
        GroupWindow {
            points: PackedRing::default(),
            size: size.clamp(2, usize::from(u16::MAX - 1)) as u16,
        }
    }

    /// Times are kept to the millisecond (samples are timestamped in ms).
    pub fn push(&mut self, point: GroupPoint) {
        self.points.push([
            (point.time * 1000.0).round() as i64,
            point.committed_total,
            point.lag,
        ]);
        while self.points.len() > usize::from(self.size) {
            self.points.pop_front();
        }
    }

    /// Oldest first.
    pub fn points(&self) -> impl ExactSizeIterator<Item = GroupPoint> + '_ {
        self.points.iter().map(unpack)
    }

    /// The newest point.
    pub fn newest(&self) -> Option<GroupPoint> {
        self.points.last().map(unpack)
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.points.heap_bytes()
    }

    /// Messages per second the lag shrinks by over the window (negative when
    /// it grows); `None` with fewer than two points or no elapsed time.
    pub fn clearing_rate(&self) -> Option<f64> {
        let oldest = self.points.first().map(unpack)?;
        let newest = self.newest()?;
        let seconds = newest.time - oldest.time;
        (self.points.len() >= 2 && seconds > 0.0)
            .then(|| (oldest.lag - newest.lag) as f64 / seconds)
    }

    /// Seconds until the lag is gone at the window's pace: `Some(0)` when
    /// caught up, `None` when not catching up (or not known yet).
    pub fn time_to_clear(&self) -> Option<f64> {
        let newest = self.newest()?;
        if newest.lag == 0 {
            return Some(0.0);
        }
        match self.clearing_rate() {
            Some(rate) if rate > 0.0 => Some(newest.lag as f64 / rate),
            _ => None,
        }
    }

    /// Status and a one-line reason. `members`: `Some(n)` when known.
    pub fn evaluate(&self, members: Option<usize>, state: Option<&str>) -> (GroupStatus, String) {
        if state.is_some_and(|s| s.eq_ignore_ascii_case("dead")) {
            return (
                GroupStatus::Dead,
                "the broker reports the group as Dead".into(),
            );
        }
        // One decoding pass gathers what the rules below need.
        let mut oldest: Option<GroupPoint> = None;
        let mut newest: Option<GroupPoint> = None;
        let mut rewind: Option<i64> = None;
        let mut growing = true;
        for point in self.points() {
            if let Some(previous) = newest {
                if point.committed_total < previous.committed_total {
                    // The newest step back is the one reported.
                    rewind = Some(previous.committed_total - point.committed_total);
                }
                growing &= point.lag > previous.lag;
            }
            oldest.get_or_insert(point);
            newest = Some(point);
        }
        let (Some(oldest), Some(newest)) = (oldest, newest) else {
            return (GroupStatus::Unknown, "no sample yet".into());
        };
        if newest.lag == 0 {
            return (GroupStatus::Ok, "caught up: lag 0".into());
        }
        if let Some(back) = rewind {
            return (
                GroupStatus::Rewind,
                format!(
                    "committed offsets went back by {} messages",
                    group_digits(back)
                ),
            );
        }
        let full = self.points.len() >= usize::from(self.size);
        let seconds = (newest.time - oldest.time).max(0.0);
        if full && newest.committed_total == oldest.committed_total {
            let no_members =
                members == Some(0) || state.is_some_and(|s| s.eq_ignore_ascii_case("empty"));
            return if no_members {
                (
                    GroupStatus::Stop,
                    format!(
                        "no consumer and no commit for {seconds:.0}s; lag {}",
                        group_digits(newest.lag)
                    ),
                )
            } else {
                (
                    GroupStatus::Stall,
                    format!(
                        "commits stopped for {seconds:.0}s while lag is {}",
                        group_digits(newest.lag)
                    ),
                )
            };
        }
        if full && growing {
            return (
                GroupStatus::Warn,
                format!(
                    "lag grew {} samples in a row: {} → {}",
                    self.points.len() - 1,
                    group_digits(oldest.lag),
                    group_digits(newest.lag)
                ),
            );
        }
        (
            GroupStatus::Ok,
            format!("consuming; lag {}", group_digits(newest.lag)),
        )
    }
}

/// 5400 → "5,400": reasons are read by people.
pub fn group_digits(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if value < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(points: &[(i64, i64)]) -> GroupWindow {
        let mut w = GroupWindow::new(points.len());
        for (i, &(committed_total, lag)) in points.iter().enumerate() {
            w.push(GroupPoint {
                time: i as f64,
                committed_total,
                lag,
            });
        }
        w
    }

    #[test]
    fn idle_group_at_lag_zero_is_ok_however_old_its_commit() {
        let (status, _) = window(&[(5, 0), (5, 0), (5, 0)]).evaluate(Some(0), Some("Empty"));
        assert_eq!(status, GroupStatus::Ok);
    }

    #[test]
    fn commits_going_back_is_rewind() {
        let (status, reason) = window(&[(100, 5), (100, 5), (10, 95)]).evaluate(Some(1), None);
        assert_eq!(status, GroupStatus::Rewind);
        assert!(reason.contains("90"), "{reason}");
    }

    #[test]
    fn no_commit_movement_with_lag_and_members_is_stall() {
        let (status, reason) = window(&[(10, 5), (10, 8), (10, 12)]).evaluate(Some(2), None);
        assert_eq!(status, GroupStatus::Stall, "{reason}");
    }

    #[test]
    fn no_commit_movement_without_members_is_stop() {
        let (status, _) = window(&[(10, 5), (10, 8), (10, 12)]).evaluate(Some(0), Some("Empty"));
        assert_eq!(status, GroupStatus::Stop);
    }

    #[test]
    fn lag_growing_every_step_while_committing_is_warn() {
        let (status, reason) = window(&[(10, 120), (20, 800), (30, 5400)]).evaluate(Some(1), None);
        assert_eq!(status, GroupStatus::Warn);
        assert_eq!(reason, "lag grew 2 samples in a row: 120 → 5,400");
    }

    #[test]
    fn partial_window_is_not_judged_stalled() {
        let mut w = GroupWindow::new(10);
        w.push(GroupPoint {
            time: 0.0,
            committed_total: 1,
            lag: 5,
        });
        w.push(GroupPoint {
            time: 1.0,
            committed_total: 1,
            lag: 5,
        });
        assert_eq!(w.evaluate(Some(1), None).0, GroupStatus::Ok);
    }

    #[test]
    fn time_to_clear_follows_the_window_pace() {
        // Lag shrinks by 100 messages per second: 300 left → 3 s.
        let w = window(&[(0, 600), (100, 500), (200, 400), (300, 300)]);
        assert_eq!(w.time_to_clear(), Some(3.0));
        let growing = window(&[(0, 10), (1, 20)]);
        assert_eq!(growing.time_to_clear(), None);
        let done = window(&[(0, 10), (10, 0)]);
        assert_eq!(done.time_to_clear(), Some(0.0));
    }

    #[test]
    fn dead_state_wins() {
        assert_eq!(
            window(&[(1, 0)]).evaluate(None, Some("Dead")).0,
            GroupStatus::Dead
        );
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(5400), "5,400");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(12), "12");
        assert_eq!(group_digits(-1000), "-1,000");
    }
}

//! Group status over a sliding window of samples, after Burrow's consumer lag
//! evaluation rules (simplified to whole-group totals; see the README's
//! "What the numbers mean"):
//! - lag 0 at the newest sample: OK, however old the last commit (no false
//!   STOP on idle topics);
//! - the committed position went back: REWIND;
//! - no commit movement over the whole window while lag > 0: STALL when the
//!   group still has members (or we cannot tell), STOP when it has none;
//! - lag grew at every step of a full window while commits moved: WARN;
//! - otherwise OK.

use crate::model::GroupStatus;

use super::packed::PackedRing;

/// One group's (or group-partition's) totals at one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupPoint {
    pub time: f64,
    /// Sum of committed offsets over the group's partitions.
    pub committed_total: i64,
    pub lag: i64,
}

/// The sliding window the status rules look at, kept as the runs the rules
/// ask about instead of the points themselves: where the current run of
/// unchanged commits began, where the current run of growing lag began,
/// and the newest step back. Each rule is then a comparison with the
/// window's first index. Fixed size and no heap: there is one per
/// group-partition (200,000 on a big cluster), and a ring of points per
/// window was the largest part of the process's memory.
#[derive(Debug, Clone)]
pub struct GroupWindow {
    /// Points pushed so far; the newest has index `pushes - 1`.
    pushes: u32,
    /// Index of the first point with the current committed total.
    steady_index: u32,
    /// Index of the first point of the current run of growing lag.
    growing_index: u32,
    /// Index of the newest point whose committed total went back (0: none,
    /// the first point cannot go back).
    rewind_index: u32,
    newest: GroupPoint,
    /// Time (s) of the point at `steady_index`.
    steady_since: f64,
    /// Lag at `growing_index`.
    growing_from: i64,
    /// How far the committed total went back at `rewind_index`.
    rewind_by: i64,
}

impl Default for GroupWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl GroupWindow {
    /// The window's length is given to `evaluate`: it is the same for every
    /// window, so 200,000 windows do not each store it.
    pub fn new() -> Self {
        GroupWindow {
            pushes: 0,
            steady_index: 0,
            growing_index: 0,
            rewind_index: 0,
            newest: GroupPoint {
                time: 0.0,
                committed_total: 0,
                lag: 0,
            },
            steady_since: 0.0,
            growing_from: 0,
            rewind_by: 0,
        }
    }

    pub fn push(&mut self, point: GroupPoint) {
        let index = self.pushes;
        if index == 0 {
            (self.steady_index, self.steady_since) = (0, point.time);
            (self.growing_index, self.growing_from) = (0, point.lag);
        } else {
            let previous = self.newest;
            if point.committed_total < previous.committed_total {
                self.rewind_index = index;
                self.rewind_by = previous.committed_total - point.committed_total;
            }
            if point.committed_total != previous.committed_total {
                (self.steady_index, self.steady_since) = (index, point.time);
            }
            if point.lag <= previous.lag {
                (self.growing_index, self.growing_from) = (index, point.lag);
            }
        }
        self.newest = point;
        // 136 years of one-second samples before this saturates.
        self.pushes = self.pushes.saturating_add(1);
    }

    /// The newest point.
    pub fn newest(&self) -> Option<GroupPoint> {
        (self.pushes > 0).then_some(self.newest)
    }

    /// Status and a one-line reason over the last `size` points (at least
    /// 2). `members`: `Some(n)` when known.
    pub fn evaluate(
        &self,
        size: usize,
        members: Option<usize>,
        state: Option<&str>,
    ) -> (GroupStatus, String) {
        let verdict = self.judge(size, members, state);
        (verdict.status(), verdict.reason())
    }

    /// What `evaluate` finds, before it is put in words.
    pub fn judge(&self, size: usize, members: Option<usize>, state: Option<&str>) -> Verdict {
        let size = size.clamp(2, u32::MAX as usize) as u32;
        if state.is_some_and(|s| s.eq_ignore_ascii_case("dead")) {
            return Verdict::Dead;
        }
        let Some(newest) = self.newest() else {
            return Verdict::NoSample;
        };
        if newest.lag == 0 {
            return Verdict::CaughtUp;
        }
        // Index of the oldest point still in the window.
        let start = self.pushes.saturating_sub(size);
        // The step into `rewind_index` is in the window when the point
        // before it is.
        if self.rewind_index > start {
            return Verdict::Rewind { by: self.rewind_by };
        }
        let full = self.pushes >= size;
        if full && self.steady_index <= start {
            let seconds = (newest.time - self.steady_since).max(0.0);
            let no_members =
                members == Some(0) || state.is_some_and(|s| s.eq_ignore_ascii_case("empty"));
            return if no_members {
                Verdict::Stop {
                    seconds,
                    lag: newest.lag,
                }
            } else {
                Verdict::Stall {
                    seconds,
                    lag: newest.lag,
                }
            };
        }
        if full && self.growing_index <= start {
            return Verdict::Warn {
                samples: self.pushes - 1 - self.growing_index,
                from: self.growing_from,
                to: newest.lag,
            };
        }
        Verdict::Consuming { lag: newest.lag }
    }
}

/// A window's judgement with what its reason needs. The status alone
/// costs nothing; the reason is formatted only when asked for, because the
/// analyzer shows one partition's reason per group and judges every one of
/// up to a million group-partitions each tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Dead,
    NoSample,
    CaughtUp,
    Rewind { by: i64 },
    Stop { seconds: f64, lag: i64 },
    Stall { seconds: f64, lag: i64 },
    Warn { samples: u32, from: i64, to: i64 },
    Consuming { lag: i64 },
}

impl Verdict {
    pub fn status(&self) -> GroupStatus {
        match self {
            Verdict::Dead => GroupStatus::Dead,
            Verdict::NoSample => GroupStatus::Unknown,
            Verdict::CaughtUp | Verdict::Consuming { .. } => GroupStatus::Ok,
            Verdict::Rewind { .. } => GroupStatus::Rewind,
            Verdict::Stop { .. } => GroupStatus::Stop,
            Verdict::Stall { .. } => GroupStatus::Stall,
            Verdict::Warn { .. } => GroupStatus::Warn,
        }
    }

    /// The one-line reason shown with the status.
    pub fn reason(&self) -> String {
        match *self {
            Verdict::Dead => "the broker reports the group as Dead".into(),
            Verdict::NoSample => "no sample yet".into(),
            Verdict::CaughtUp => "caught up: lag 0".into(),
            Verdict::Rewind { by } => format!(
                "committed offsets went back by {} messages",
                group_digits(by)
            ),
            Verdict::Stop { seconds, lag } => format!(
                "no members and no commit for {seconds:.0}s; lag {}",
                group_digits(lag)
            ),
            Verdict::Stall { seconds, lag } => format!(
                "commits stopped for {seconds:.0}s while lag is {}",
                group_digits(lag)
            ),
            Verdict::Warn { samples, from, to } => format!(
                "lag grew {samples} samples in a row: {} → {}",
                group_digits(from),
                group_digits(to)
            ),
            Verdict::Consuming { lag } => format!("consuming; lag {}", group_digits(lag)),
        }
    }
}

/// Share groups (KIP-932) commit no offsets, so the window rules have
/// nothing to judge: their status says what the broker reports, never a
/// stopped or dead consumer group.
pub fn share_group_status(state: Option<&str>, members: Option<usize>) -> (GroupStatus, String) {
    let state_text = state.unwrap_or("unknown state");
    let members_text = match members {
        Some(1) => "1 member".to_string(),
        Some(n) => format!("{n} members"),
        None => "members unknown".to_string(),
    };
    let status = if state.is_some_and(|s| s.eq_ignore_ascii_case("empty")) || members == Some(0) {
        GroupStatus::Empty
    } else {
        GroupStatus::Ok
    };
    (
        status,
        format!(
            "share group, {state_text}, {members_text}; share groups commit no offsets, \
             so their lag is not measured"
        ),
    )
}

/// The part of a status reason that says messages were deleted before the
/// group read them, naming the partition that lost the most.
pub fn lost_note(worst: (&str, i32, i64), total: i64) -> String {
    let (topic, partition, lost) = worst;
    let noun = if total == 1 { "message" } else { "messages" };
    if lost == total {
        format!(
            "; {} {noun} lost on {topic}/{partition}: the committed offset is below the log start",
            group_digits(total)
        )
    } else {
        format!(
            "; {} {noun} lost ({} on {topic}/{partition}): committed offsets below the log start",
            group_digits(total),
            group_digits(lost)
        )
    }
}

/// A group's lag over the window, for the time to clear it: one per group,
/// packed [time in ms, lag] points.
#[derive(Debug, Clone)]
pub struct PaceWindow {
    points: PackedRing<2>,
    size: u16,
}

impl PaceWindow {
    pub fn new(size: usize) -> Self {
        PaceWindow {
            points: PackedRing::default(),
            size: size.clamp(2, usize::from(u16::MAX - 1)) as u16,
        }
    }

    /// Times are kept to the millisecond (samples are timestamped in ms).
    pub fn push(&mut self, time: f64, lag: i64) {
        self.points.push([(time * 1000.0).round() as i64, lag]);
        while self.points.len() > usize::from(self.size) {
            self.points.pop_front();
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.points.heap_bytes()
    }

    /// Messages per second the lag shrinks by over the window (negative when
    /// it grows); `None` with fewer than two points or no elapsed time.
    pub fn clearing_rate(&self) -> Option<f64> {
        let [oldest_ms, oldest_lag] = self.points.first()?;
        let [newest_ms, newest_lag] = self.points.last()?;
        let seconds = (newest_ms - oldest_ms) as f64 / 1000.0;
        (self.points.len() >= 2 && seconds > 0.0)
            .then(|| (oldest_lag - newest_lag) as f64 / seconds)
    }

    /// Seconds until the lag is gone at the window's pace: `Some(0)` when
    /// caught up, `None` when not catching up (or not known yet).
    pub fn time_to_clear(&self) -> Option<f64> {
        let [_, lag] = self.points.last()?;
        if lag == 0 {
            return Some(0.0);
        }
        match self.clearing_rate() {
            Some(rate) if rate > 0.0 => Some(lag as f64 / rate),
            _ => None,
        }
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

    /// A window and the length it is judged over.
    struct Full(GroupWindow, usize);

    impl Full {
        fn evaluate(&self, members: Option<usize>, state: Option<&str>) -> (GroupStatus, String) {
            self.0.evaluate(self.1, members, state)
        }
    }

    /// `points` pushed one second apart, judged over exactly those points.
    fn window(points: &[(i64, i64)]) -> Full {
        pushed(points.len(), points)
    }

    /// `points` pushed one second apart, judged over the last `size`.
    fn pushed(size: usize, points: &[(i64, i64)]) -> Full {
        let mut w = GroupWindow::new();
        for (i, &(committed_total, lag)) in points.iter().enumerate() {
            w.push(GroupPoint {
                time: i as f64,
                committed_total,
                lag,
            });
        }
        Full(w, size)
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
        let mut w = GroupWindow::new();
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
        assert_eq!(w.evaluate(10, Some(1), None).0, GroupStatus::Ok);
    }

    #[test]
    fn time_to_clear_follows_the_window_pace() {
        // Lag shrinks by 100 messages per second: 300 left → 3 s.
        let pace = |lags: &[i64]| {
            let mut w = PaceWindow::new(lags.len());
            for (i, &lag) in lags.iter().enumerate() {
                w.push(i as f64, lag);
            }
            w
        };
        assert_eq!(pace(&[600, 500, 400, 300]).time_to_clear(), Some(3.0));
        assert_eq!(pace(&[10, 20]).time_to_clear(), None);
        assert_eq!(pace(&[10, 0]).time_to_clear(), Some(0.0));
        // Only the window counts: an old faster pace has slid out.
        let mut w = PaceWindow::new(3);
        for (i, lag) in [10_000, 1_000, 900, 800].into_iter().enumerate() {
            w.push(i as f64, lag);
        }
        assert_eq!(w.time_to_clear(), Some(8.0));
    }

    #[test]
    fn a_rewind_that_slid_out_of_the_window_no_longer_counts() {
        let points = [(100, 5), (10, 95), (20, 85)];
        assert_eq!(
            pushed(3, &points).evaluate(Some(1), None).0,
            GroupStatus::Rewind
        );
        // (100 → 10) is no longer a step inside the last three points.
        let points = [(100, 5), (10, 95), (20, 85), (30, 75)];
        assert_eq!(
            pushed(3, &points).evaluate(Some(1), None).0,
            GroupStatus::Ok
        );
    }

    #[test]
    fn stall_reason_counts_from_the_last_commit_not_the_window() {
        let points = [(10, 5), (20, 6), (20, 7), (20, 8), (20, 9)];
        let (status, reason) = pushed(3, &points).evaluate(Some(1), None);
        assert_eq!(status, GroupStatus::Stall);
        assert_eq!(reason, "commits stopped for 3s while lag is 9");
    }

    #[test]
    fn warn_needs_growth_at_every_step_of_the_window() {
        let rising = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)];
        let (status, reason) = pushed(3, &rising).evaluate(Some(1), None);
        assert_eq!(status, GroupStatus::Warn);
        assert_eq!(reason, "lag grew 4 samples in a row: 1 → 5");
        let dipped = [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3)];
        assert_eq!(
            pushed(3, &dipped).evaluate(Some(1), None).0,
            GroupStatus::Ok
        );
    }

    /// The rules as written, on the last `size` points themselves.
    fn reference(points: &[(i64, i64)], size: usize, members: Option<usize>) -> GroupStatus {
        let window = &points[points.len().saturating_sub(size)..];
        let Some(&(newest_commit, newest_lag)) = window.last() else {
            return GroupStatus::Unknown;
        };
        if newest_lag == 0 {
            return GroupStatus::Ok;
        }
        if window.windows(2).any(|w| w[1].0 < w[0].0) {
            return GroupStatus::Rewind;
        }
        let full = points.len() >= size;
        if full && window[0].0 == newest_commit {
            return if members == Some(0) {
                GroupStatus::Stop
            } else {
                GroupStatus::Stall
            };
        }
        if full && window.windows(2).all(|w| w[1].1 > w[0].1) {
            return GroupStatus::Warn;
        }
        GroupStatus::Ok
    }

    #[test]
    fn runs_judge_exactly_like_the_window_of_points() {
        // Random walks with many repeats, small steps back and lag 0.
        let mut random = crate::analysis::xorshift(0x2545_F491_4F6C_DD1D);
        let mut next = |n: u64| random() % n;
        for case in 0..2_000 {
            let size = 2 + (case % 6);
            let length = 1 + next(25) as usize;
            let members = [None, Some(0), Some(2)][case % 3];
            let (mut commit, mut lag) = (100i64, 10i64);
            let mut points = Vec::new();
            let mut window = GroupWindow::new();
            for i in 0..length {
                commit += [0, 0, 1, 5, -3][next(5) as usize];
                lag = [0, lag, lag + 1, lag + 7, (lag - 2).max(0)][next(5) as usize];
                points.push((commit, lag));
                window.push(GroupPoint {
                    time: i as f64,
                    committed_total: commit,
                    lag,
                });
                assert_eq!(
                    window.evaluate(size, members, None).0,
                    reference(&points, size, members),
                    "window {size}, points {points:?}"
                );
            }
        }
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

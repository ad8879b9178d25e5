//! Lag per group-partition per minute, for the group page's heatmap: which
//! partition is stuck, over the last hour.
//!
//! Why this shape: the heatmap must exist for any group (a stuck
//! partition is found after the fact, not only on pages someone had open),
//! and at 50,000 groups there are ~200,000 group-partitions. One row per
//! group-partition is a ring of one-minute cells (the minute's worst lag)
//! plus its lag now, all rows of a group in one flat allocation, with one
//! "newest minute" for the whole group: a row costs its key (24 bytes) and
//! 2 bytes per minute (+2), not a `VecDeque` and a time per cell; a group
//! adds its map entry (64 bytes and the table's slack). A cell is a 16-bit float-like code
//! (11 bits of mantissa, 5 of exponent: exact below 2,048, within 0.1 %
//! above, up to 4·10¹²) since a heatmap's colour and tooltip need no more.
//! Rows keep 60 minutes while the whole map fits its share of the store's
//! history budget ([`super::HEAT_CELLS`]); with more rows each keeps fewer
//! minutes (never fewer than [`MIN_MINUTES`]), like the store's other rings.

use std::collections::{HashMap, HashSet};

use crate::model::{Name, Snapshot};

/// Minutes a row keeps at most: the heatmap's hour.
pub const HEAT_MINUTES: usize = 60;
/// Minutes a row keeps however many rows there are.
pub const MIN_MINUTES: usize = 5;
/// No sample fell into this minute (before the row existed, Kafka down).
const NONE: u16 = u16::MAX;
const MANTISSA_BITS: u32 = 11;
const MANTISSA: u64 = (1 << MANTISSA_BITS) - 1;

/// `lag` as a cell: exact below 2,048, rounded down to 11 significant bits
/// above; the largest values saturate below [`NONE`].
pub fn encode(lag: i64) -> u16 {
    let lag = lag.max(0) as u64;
    let shift = (64 - lag.leading_zeros()).saturating_sub(MANTISSA_BITS);
    let code = (u64::from(shift) << MANTISSA_BITS) | (lag >> shift);
    code.min(u64::from(NONE - 1)) as u16
}

/// A cell back to a lag; `None` for a minute without a sample.
pub fn decode(code: u16) -> Option<i64> {
    (code != NONE).then(|| {
        let shift = u32::from(code) >> MANTISSA_BITS;
        ((u64::from(code) & MANTISSA) << shift) as i64
    })
}

/// One group's rows, in two allocations: the keys, and the cells, where
/// row `r` is `cells[r * stride ..][..stride]`: its ring of minutes
/// (`minute % minutes`), then its lag at the newest sample. Boxed slices
/// and a 32-bit minute count keep the struct at 48 bytes: at 50,000 groups
/// the per-group overhead is as large as the cells.
#[derive(Default)]
struct GroupHeat {
    /// (topic, partition) of each row, sorted.
    keys: Box<[(Name, i32)]>,
    cells: Box<[u16]>,
    /// Minutes per row (the map's share when this group was laid out).
    minutes: u32,
    /// The newest minute (Unix minutes) the rows hold.
    newest: i64,
}

impl GroupHeat {
    fn stride(&self) -> usize {
        self.minutes as usize + 1
    }

    fn slot(&self, minute: i64) -> usize {
        minute.rem_euclid(i64::from(self.minutes)) as usize
    }

    fn cell(&self, row: usize, minute: i64) -> u16 {
        self.cells[row * self.stride() + self.slot(minute)]
    }

    /// The row's lag at the newest sample (a cell is the minute's worst,
    /// so a partition that just caught up still shows its peak there).
    fn now(&self, row: usize) -> u16 {
        self.cells[row * self.stride() + self.minutes as usize]
    }

    /// Lays the rows out for `keys` with `minutes` per row, keeping the
    /// minutes of rows that stay.
    fn relayout(&mut self, keys: Vec<(Name, i32)>, minutes: u32) {
        let stride = minutes as usize + 1;
        let mut cells = vec![NONE; keys.len() * stride];
        let kept = i64::from(self.minutes.min(minutes));
        if self.minutes > 0 {
            for (row, key) in keys.iter().enumerate() {
                let Ok(old) = self.keys.binary_search(key) else {
                    continue;
                };
                for minute in (self.newest - kept + 1)..=self.newest {
                    let slot = minute.rem_euclid(i64::from(minutes)) as usize;
                    cells[row * stride + slot] = self.cell(old, minute);
                }
                cells[row * stride + minutes as usize] = self.now(old);
            }
        }
        self.keys = keys.into_boxed_slice();
        self.cells = cells.into_boxed_slice();
        self.minutes = minutes;
    }

    /// Moves the ring on to `minute`, clearing the minutes it skips.
    fn advance(&mut self, minute: i64) {
        if minute <= self.newest {
            return;
        }
        let cleared = (minute - self.newest).min(i64::from(self.minutes));
        let stride = self.stride();
        for m in (minute - cleared + 1)..=minute {
            let slot = self.slot(m);
            for row in 0..self.keys.len() {
                self.cells[row * stride + slot] = NONE;
            }
        }
        self.newest = minute;
    }

    fn record(&mut self, row: usize, minute: i64, lag: i64) {
        if minute + i64::from(self.minutes) <= self.newest {
            return; // older than the ring
        }
        let code = encode(lag);
        let stride = self.stride();
        let index = row * stride + self.slot(minute);
        let cell = &mut self.cells[index];
        if *cell == NONE || code > *cell {
            *cell = code; // the minute's worst lag
        }
        self.cells[row * stride + self.minutes as usize] = code;
    }

    /// Its bytes, with its entry in the map.
    fn bytes(&self) -> usize {
        self.keys.len() * std::mem::size_of::<(Name, i32)>()
            + self.cells.len() * std::mem::size_of::<u16>()
            + std::mem::size_of::<(Name, Self)>()
    }
}

/// The row of (topic, partition) in sorted `keys`, without cloning a name.
fn find(keys: &[(Name, i32)], topic: &str, partition: i32) -> Option<usize> {
    keys.binary_search_by(|(t, p)| t.as_str().cmp(topic).then(p.cmp(&partition)))
        .ok()
}

/// Every group's heat.
#[derive(Default)]
pub struct LagHeat {
    groups: HashMap<Name, GroupHeat>,
    /// Bytes held, recounted at each record (the store's budget reads it).
    bytes: usize,
}

/// One row of a group's heatmap as the page reads it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct HeatRow {
    pub topic: String,
    pub partition: i32,
    /// Lag of each minute, oldest first; `None`: no sample that minute.
    pub lags: Vec<Option<i64>>,
    /// The row's worst lag over the window.
    pub max_lag: i64,
    /// The sum of its minutes' lag: rows are ranked by it (a partition
    /// stuck for long outranks a short burst), then by `lag_now`.
    pub lag_minutes: i64,
    /// Lag at the newest sample.
    pub lag_now: Option<i64>,
}

/// A group's heatmap: rows ranked by lag, minutes oldest first.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct HeatMap {
    /// Unix time (seconds) of the first minute's start.
    pub start: i64,
    pub minutes: usize,
    /// Rows the group has; `rows` holds at most the requested number.
    pub total_rows: usize,
    pub rows: Vec<HeatRow>,
}

impl LagHeat {
    /// Records `snapshot`'s per-partition lag; groups that left are dropped
    /// (only when Kafka answered, as the other history). `cells` is the
    /// budget shared by all rows.
    pub fn record(&mut self, snapshot: &Snapshot, cells: usize) {
        if snapshot.kafka_up {
            let present: HashSet<&str> = snapshot.groups.iter().map(|g| g.group.as_str()).collect();
            self.groups
                .retain(|name, _| present.contains(name.as_str()));
        }
        let rows: usize = snapshot.groups.iter().map(|g| g.partitions.len()).sum();
        let minutes = (cells / rows.max(1)).clamp(MIN_MINUTES, HEAT_MINUTES) as u32;
        let minute = snapshot.taken_at.timestamp().div_euclid(60);
        let mut bytes = 0;
        for group in &snapshot.groups {
            let heat = self.groups.entry(group.group.clone()).or_default();
            let same_rows = heat.minutes == minutes
                && heat.keys.len() == group.partitions.len()
                && group
                    .partitions
                    .iter()
                    .all(|p| find(&heat.keys, &p.topic, p.partition).is_some());
            if !same_rows {
                let mut keys: Vec<(Name, i32)> = group
                    .partitions
                    .iter()
                    .map(|p| (p.topic.clone(), p.partition))
                    .collect();
                keys.sort();
                keys.dedup();
                heat.relayout(keys, minutes);
            }
            heat.advance(minute);
            for p in &group.partitions {
                if let Some(row) = find(&heat.keys, &p.topic, p.partition) {
                    heat.record(row, minute, p.lag);
                }
            }
            bytes += heat.bytes();
        }
        self.bytes = bytes;
    }

    /// Bytes the rows hold (keys and cells).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// `group`'s heatmap: the `limit` rows with the most lag over the
    /// window (summed over its minutes; then the lag now, then by name),
    /// each with the ring's minutes oldest first.
    pub fn map(&self, group: &str, limit: usize) -> Option<HeatMap> {
        let heat = self.groups.get(group)?;
        let first = heat.newest - i64::from(heat.minutes) + 1;
        let mut rows: Vec<HeatRow> = heat
            .keys
            .iter()
            .enumerate()
            .map(|(row, (topic, partition))| {
                let lags: Vec<Option<i64>> = (first..=heat.newest)
                    .map(|m| decode(heat.cell(row, m)))
                    .collect();
                HeatRow {
                    topic: topic.to_string(),
                    partition: *partition,
                    max_lag: lags.iter().flatten().copied().max().unwrap_or(0),
                    lag_minutes: lags
                        .iter()
                        .flatten()
                        .fold(0i64, |sum, l| sum.saturating_add(*l)),
                    lag_now: decode(heat.now(row)),
                    lags,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.lag_minutes
                .cmp(&a.lag_minutes)
                .then(b.lag_now.cmp(&a.lag_now))
                .then(a.topic.cmp(&b.topic))
                .then(a.partition.cmp(&b.partition))
        });
        let total_rows = rows.len();
        rows.truncate(limit);
        Some(HeatMap {
            start: first * 60,
            minutes: heat.minutes as usize,
            total_rows,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupPartitionView, GroupStatus, GroupView};

    #[test]
    fn cells_are_exact_when_small_and_close_when_large() {
        for lag in [0, 1, 2047, 2048] {
            assert_eq!(decode(encode(lag)), Some(lag));
        }
        for lag in [4_097, 1_146_000, 987_654_321_012] {
            let back = decode(encode(lag)).unwrap();
            assert!(back <= lag && (lag - back) as f64 / lag as f64 <= 1.0 / 1024.0);
        }
        assert_eq!(decode(encode(-5)), Some(0));
        assert!(decode(encode(i64::MAX)).is_some(), "saturates, never NONE");
        assert_eq!(decode(NONE), None);
    }

    fn group(name: &str, lags: &[(&str, i32, i64)]) -> GroupView {
        GroupView {
            group: name.into(),
            group_type: None,
            state: Default::default(),
            state_note: None,
            status: GroupStatus::Ok,
            reason: String::new(),
            members: None,
            lag: 0,
            lag_seconds: 0.0,
            lost_messages: 0,
            time_to_clear_seconds: None,
            messages_out_per_sec: 0.0,
            topics: vec![],
            partitions: lags
                .iter()
                .map(|&(topic, partition, lag)| GroupPartitionView {
                    topic: topic.into(),
                    partition,
                    lag,
                    ..GroupPartitionView::default()
                })
                .collect(),
            error: None,
        }
    }

    fn at(minute: i64, second: i64, groups: Vec<GroupView>) -> Snapshot {
        Snapshot {
            kafka_up: true,
            taken_at: chrono::DateTime::from_timestamp(minute * 60 + second, 0).unwrap(),
            groups,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_stuck_partition_is_the_hot_row() {
        let mut heat = LagHeat::default();
        for minute in 0..70 {
            for second in [0, 30] {
                let stuck = minute * 20 + second;
                heat.record(
                    &at(
                        minute,
                        second,
                        vec![group(
                            "g",
                            &[("orders", 0, 3), ("orders", 1, stuck), ("orders", 2, 0)],
                        )],
                    ),
                    1_000_000,
                );
            }
        }
        let map = heat.map("g", 64).unwrap();
        assert_eq!(map.minutes, HEAT_MINUTES);
        assert_eq!(map.start, 10 * 60, "the last hour: minutes 10..=69");
        assert_eq!(
            (map.rows[0].topic.as_str(), map.rows[0].partition),
            ("orders", 1)
        );
        assert_eq!(
            map.rows[0].lags[59],
            Some(69 * 20 + 30),
            "worst of the minute"
        );
        assert_eq!(map.rows[0].lag_now, Some(69 * 20 + 30));
        assert_eq!(map.rows[0].lags[0], Some(10 * 20 + 30));
        assert_eq!(map.rows[1].partition, 0);
        assert_eq!(heat.map("g", 1).unwrap().rows.len(), 1);
        assert_eq!(heat.map("g", 1).unwrap().total_rows, 3);
    }

    #[test]
    fn among_equal_minutes_the_partition_behind_now_ranks_first() {
        let mut heat = LagHeat::default();
        let all_behind = group("g", &[("t", 0, 30), ("t", 1, 30), ("t", 2, 30)]);
        heat.record(&at(0, 10, vec![all_behind]), 1_000);
        let one_behind = group("g", &[("t", 0, 0), ("t", 1, 30), ("t", 2, 0)]);
        heat.record(&at(0, 20, vec![one_behind]), 1_000);
        let map = heat.map("g", 64).unwrap();
        assert_eq!(map.rows[0].partition, 1);
        assert_eq!(
            (map.rows[0].lag_now, map.rows[1].lag_now),
            (Some(30), Some(0))
        );
    }

    #[test]
    fn skipped_minutes_are_empty_and_new_partitions_keep_the_others() {
        let mut heat = LagHeat::default();
        heat.record(&at(0, 0, vec![group("g", &[("t", 0, 5)])]), 1_000);
        heat.record(
            &at(3, 0, vec![group("g", &[("t", 0, 7), ("t", 1, 9)])]),
            1_000,
        );
        let map = heat.map("g", 64).unwrap();
        let row0 = map.rows.iter().find(|r| r.partition == 0).unwrap();
        let n = row0.lags.len();
        assert_eq!(&row0.lags[n - 4..], &[Some(5), None, None, Some(7)]);
        let row1 = map.rows.iter().find(|r| r.partition == 1).unwrap();
        assert_eq!(&row1.lags[n - 4..], &[None, None, None, Some(9)]);
        // The group leaves: its rows go.
        heat.record(&at(4, 0, vec![]), 1_000);
        assert!(heat.map("g", 64).is_none());
        assert_eq!(heat.bytes(), 0);
    }

    #[test]
    fn many_rows_keep_fewer_minutes_within_the_budget() {
        let mut heat = LagHeat::default();
        let partitions: Vec<(String, i32)> = (0..1_000).map(|p| ("t".to_string(), p)).collect();
        let lags: Vec<(&str, i32, i64)> = partitions
            .iter()
            .map(|(t, p)| (t.as_str(), *p, i64::from(*p)))
            .collect();
        // 1,000 rows in a 10,000-cell budget: 10 minutes each.
        heat.record(&at(0, 0, vec![group("g", &lags)]), 10_000);
        assert_eq!(heat.map("g", 64).unwrap().minutes, 10);
        // The floor holds when the budget is smaller still.
        heat.record(&at(1, 0, vec![group("g", &lags)]), 100);
        let map = heat.map("g", 64).unwrap();
        assert_eq!(map.minutes, MIN_MINUTES);
        assert_eq!(
            map.rows[0].lags[MIN_MINUTES - 2],
            Some(999),
            "kept on relayout"
        );
        assert!(heat.bytes() >= 1_000 * (24 + 2 * MIN_MINUTES));
    }
}

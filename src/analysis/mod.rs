//! Pure arithmetic from samples to snapshots: rates, lag, time lag, depth,
//! group status. No I/O: fed samples, it is tested and benchmarked alone.

pub mod events;
pub mod lag;
pub mod rates;
pub mod status;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::{
    CommittedOffset, GroupPartitionView, GroupStatus, GroupTopicView, GroupView, PartitionView,
    Sample, Snapshot, TopicSample, TopicView,
};
use lag::{lag_messages, OffsetTimeTable};
use status::{GroupPoint, GroupWindow};

/// Tunables of the analysis.
#[derive(Debug, Clone)]
pub struct AnalyzerSettings {
    /// Points kept per partition for time lag.
    pub time_table_points: usize,
    /// Samples in the status window.
    pub status_window: usize,
}

impl Default for AnalyzerSettings {
    fn default() -> Self {
        AnalyzerSettings {
            time_table_points: 120,
            status_window: 10,
        }
    }
}

type PartitionKey = (String, i32);

/// What the previous sample said, for rates.
#[derive(Debug, Default)]
struct Previous {
    time: f64,
    high_watermarks: HashMap<PartitionKey, i64>,
    committed: HashMap<(String, String, i32), i64>,
}

/// Turns each sample into a snapshot, keeping the little state rates, time
/// lag and status need between samples.
pub struct Analyzer {
    settings: AnalyzerSettings,
    sequence: u64,
    previous: Option<Previous>,
    time_tables: HashMap<PartitionKey, OffsetTimeTable>,
    windows: HashMap<String, GroupWindow>,
    /// Per (group, topic, partition): Burrow evaluates partitions, so one
    /// stuck or rewound partition shows even while the others move.
    partition_windows: HashMap<(String, String, i32), GroupWindow>,
}

impl Analyzer {
    pub fn new(settings: AnalyzerSettings) -> Self {
        Analyzer {
            settings,
            sequence: 0,
            previous: None,
            time_tables: HashMap::new(),
            windows: HashMap::new(),
            partition_windows: HashMap::new(),
        }
    }

    pub fn analyze(&mut self, sample: &Sample) -> Snapshot {
        self.sequence += 1;
        let now = sample.taken_at.timestamp_millis() as f64 / 1000.0;
        let exact: HashMap<(&str, i32, i64), i64> = sample
            .exact_timestamps
            .iter()
            .map(|e| ((e.topic.as_str(), e.partition, e.offset), e.timestamp_ms))
            .collect();
        let previous = self.previous.take();
        let elapsed = previous.as_ref().map(|p| now - p.time).unwrap_or(0.0);

        let mut next = Previous {
            time: now,
            ..Previous::default()
        };
        let mut watermarks: HashMap<PartitionKey, (Option<i64>, Option<i64>)> = HashMap::new();
        let mut topics: Vec<TopicView> = sample
            .topics
            .iter()
            .map(|topic| {
                let partitions: Vec<PartitionView> = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let key = (topic.name.clone(), p.partition);
                        watermarks.insert(key.clone(), (p.low_watermark, p.high_watermark));
                        let previous_high = previous
                            .as_ref()
                            .and_then(|prev| prev.high_watermarks.get(&key).copied());
                        if let Some(high) = p.high_watermark {
                            next.high_watermarks.insert(key.clone(), high);
                            self.time_tables
                                .entry(key)
                                .or_insert_with(|| {
                                    OffsetTimeTable::new(self.settings.time_table_points)
                                })
                                .record(high, now);
                        }
                        PartitionView {
                            partition: p.partition,
                            leader: p.leader,
                            replicas: p.replicas.clone(),
                            isr: p.isr.clone(),
                            low_watermark: p.low_watermark,
                            high_watermark: p.high_watermark,
                            depth: depth(p.low_watermark, p.high_watermark),
                            messages_in_per_sec: rates::per_second(
                                previous_high,
                                p.high_watermark,
                                elapsed,
                            ),
                        }
                    })
                    .collect();
                TopicView {
                    name: topic.name.clone(),
                    internal: topic.internal,
                    depth: partitions.iter().map(|p| p.depth).sum(),
                    messages_in_per_sec: partitions.iter().map(|p| p.messages_in_per_sec).sum(),
                    messages_out_per_sec: 0.0,
                    partitions,
                    groups: Vec::new(),
                }
            })
            .collect();
        // Partitions of deleted topics must not keep tables alive forever.
        if sample.kafka_up {
            self.time_tables
                .retain(|key, _| watermarks.contains_key(key));
        }

        let topics_by_name: HashMap<&str, &TopicSample> =
            sample.topics.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut groups = Vec::with_capacity(sample.groups.len());
        let mut topic_out: HashMap<String, f64> = HashMap::new();
        let mut topic_groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for group in &sample.groups {
            let offsets = with_uncommitted_partitions(&group.offsets, &topics_by_name);
            let mut partitions = Vec::with_capacity(offsets.len());
            let mut committed_total = 0;
            let member_count = group.members.as_ref().map(Vec::len);
            // (severity, lag, status, reason) of the worst partition so far.
            let mut worst: Option<(u8, i64, GroupStatus, String)> = None;
            let mut troubled_partitions = 0usize;
            for commit in &offsets {
                let key = (commit.topic.clone(), commit.partition);
                let Some(&(low, high)) = watermarks.get(&key) else {
                    // Commits on a topic that no longer exists: nothing to lag behind.
                    continue;
                };
                let lag = lag_messages(commit.offset, low, high);
                let exact_time = match (commit.offset, high) {
                    (Some(position), Some(high)) if position < high => exact
                        .get(&(commit.topic.as_str(), commit.partition, position))
                        .map(|ms| *ms as f64 / 1000.0),
                    _ => None,
                };
                let lag_seconds = match (exact_time, commit.offset.or(low), high) {
                    (Some(produced), _, _) => (now - produced).max(0.0),
                    (None, Some(position), Some(high)) => self
                        .time_tables
                        .get(&key)
                        .and_then(|table| table.lag_seconds(position, high, now))
                        .unwrap_or(0.0),
                    _ => 0.0,
                };
                let commit_key = (group.group.clone(), commit.topic.clone(), commit.partition);
                let previous_commit = previous
                    .as_ref()
                    .and_then(|prev| prev.committed.get(&commit_key).copied());
                if let Some(offset) = commit.offset {
                    next.committed.insert(commit_key.clone(), offset);
                    committed_total += offset;
                }
                let partition_window = self
                    .partition_windows
                    .entry(commit_key)
                    .or_insert_with(|| GroupWindow::new(self.settings.status_window));
                partition_window.push(GroupPoint {
                    time: now,
                    // Never committed stays constant: judged like stopped commits.
                    committed_total: commit.offset.unwrap_or(-1),
                    lag,
                });
                let (status, mut reason) =
                    partition_window.evaluate(member_count, group.state.as_deref());
                if status.severity() > 0 {
                    troubled_partitions += 1;
                    if commit.offset.is_none() {
                        reason =
                            format!("never committed while lag is {}", status::group_digits(lag));
                    }
                    let candidate = (status.severity(), lag, status, reason);
                    if worst
                        .as_ref()
                        .is_none_or(|w| (candidate.0, candidate.1) > (w.0, w.1))
                    {
                        worst = Some((
                            candidate.0,
                            candidate.1,
                            candidate.2,
                            format!("{}/{}: {}", commit.topic, commit.partition, candidate.3),
                        ));
                    }
                }
                partitions.push(GroupPartitionView {
                    topic: commit.topic.clone(),
                    partition: commit.partition,
                    committed_offset: commit.offset,
                    high_watermark: high,
                    lag,
                    lag_seconds,
                    lag_seconds_exact: exact_time.is_some(),
                    messages_out_per_sec: rates::per_second(
                        previous_commit,
                        commit.offset,
                        elapsed,
                    ),
                });
            }
            let mut per_topic: BTreeMap<String, GroupTopicView> = BTreeMap::new();
            for p in &partitions {
                let entry = per_topic
                    .entry(p.topic.clone())
                    .or_insert_with(|| GroupTopicView {
                        topic: p.topic.clone(),
                        ..GroupTopicView::default()
                    });
                entry.lag += p.lag;
                entry.lag_seconds = entry.lag_seconds.max(p.lag_seconds);
                entry.messages_out_per_sec += p.messages_out_per_sec;
            }
            for topic in per_topic.values() {
                *topic_out.entry(topic.topic.clone()).or_default() += topic.messages_out_per_sec;
                topic_groups
                    .entry(topic.topic.clone())
                    .or_default()
                    .push(group.group.clone());
            }
            let lag = partitions.iter().map(|p| p.lag).sum();
            let lag_seconds = partitions.iter().map(|p| p.lag_seconds).fold(0.0, f64::max);
            let window = self
                .windows
                .entry(group.group.clone())
                .or_insert_with(|| GroupWindow::new(self.settings.status_window));
            window.push(GroupPoint {
                time: now,
                committed_total,
                lag,
            });
            let time_to_clear_seconds = window.time_to_clear();
            let (mut status, mut reason) = window.evaluate(member_count, group.state.as_deref());
            if status != GroupStatus::Dead {
                if let Some((_, _, partition_status, partition_reason)) = worst {
                    status = partition_status;
                    reason = partition_reason;
                    if troubled_partitions > 1 {
                        reason
                            .push_str(&format!(" (+{} more partitions)", troubled_partitions - 1));
                    }
                } else if status.severity() > 0 {
                    // Totals can mislead (a deleted topic lowers the committed
                    // sum); partitions decide.
                    (status, reason) = (
                        GroupStatus::Ok,
                        format!("consuming; lag {}", status::group_digits(lag)),
                    );
                }
            }
            if partitions.is_empty() && status == GroupStatus::Ok {
                status = GroupStatus::Empty;
                reason = "no committed offsets on existing topics".to_string();
            }
            groups.push(GroupView {
                group: group.group.clone(),
                state: group.state.clone().unwrap_or_else(|| "Unknown".to_string()),
                state_note: group.state_note.clone(),
                status,
                reason,
                members: group.members.clone(),
                lag,
                lag_seconds,
                time_to_clear_seconds,
                messages_out_per_sec: partitions.iter().map(|p| p.messages_out_per_sec).sum(),
                topics: per_topic.into_values().collect(),
                partitions,
                error: group.error.clone(),
            });
        }
        if sample.kafka_up {
            let present: std::collections::HashSet<&str> =
                sample.groups.iter().map(|g| g.group.as_str()).collect();
            self.windows
                .retain(|group, _| present.contains(group.as_str()));
            self.partition_windows
                .retain(|(group, topic, partition), _| {
                    present.contains(group.as_str())
                        && watermarks.contains_key(&(topic.clone(), *partition))
                });
        }
        for topic in &mut topics {
            topic.messages_out_per_sec = topic_out.get(&topic.name).copied().unwrap_or(0.0);
            topic.groups = topic_groups.remove(&topic.name).unwrap_or_default();
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        groups.sort_by(|a, b| a.group.cmp(&b.group));

        // A tick that could not reach Kafka keeps the previous readings, so the
        // first good tick after an outage does not count the outage as zero.
        self.previous = if sample.kafka_up {
            Some(next)
        } else {
            previous
        };

        Snapshot {
            sequence: self.sequence,
            taken_at: sample.taken_at,
            sample_duration_seconds: sample.duration_seconds,
            kafka_up: sample.kafka_up,
            cluster_id: sample.cluster_id.clone(),
            controller_id: sample.controller_id,
            brokers: sample.brokers.clone(),
            topics,
            groups,
            errors: sample.errors.clone(),
        }
    }
}

/// A group that committed on some partitions of a topic is taken to consume
/// the whole topic (the usual `subscribe`): its other partitions are listed
/// with no commit, so their whole depth counts as lag instead of vanishing.
/// (Group assignments would be exact, but brokers that cannot describe
/// groups, like the embedded one, don't tell.)
fn with_uncommitted_partitions(
    offsets: &[CommittedOffset],
    topics: &HashMap<&str, &TopicSample>,
) -> Vec<CommittedOffset> {
    let mut all = offsets.to_vec();
    let committed: HashSet<(&str, i32)> = offsets
        .iter()
        .map(|c| (c.topic.as_str(), c.partition))
        .collect();
    let consumed_topics: BTreeSet<&str> = offsets.iter().map(|c| c.topic.as_str()).collect();
    for topic in consumed_topics.iter().filter_map(|name| topics.get(name)) {
        for partition in &topic.partitions {
            if !committed.contains(&(topic.name.as_str(), partition.partition)) {
                all.push(CommittedOffset {
                    topic: topic.name.clone(),
                    partition: partition.partition,
                    offset: None,
                });
            }
        }
    }
    all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    all
}

/// Retained messages: high − low watermark (0 when unknown).
pub fn depth(low: Option<i64>, high: Option<i64>) -> i64 {
    match (low, high) {
        (Some(low), Some(high)) => (high - low).max(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupSample, PartitionSample};
    use chrono::{TimeZone, Utc};

    fn sample_at(seconds: i64, highs: &[i64], commits: &[Option<i64>]) -> Sample {
        Sample {
            taken_at: Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap(),
            kafka_up: true,
            topics: vec![TopicSample {
                name: "orders".into(),
                internal: false,
                partitions: highs
                    .iter()
                    .enumerate()
                    .map(|(i, &high)| PartitionSample {
                        partition: i as i32,
                        leader: 1,
                        low_watermark: Some(0),
                        high_watermark: Some(high),
                        ..PartitionSample::default()
                    })
                    .collect(),
            }],
            groups: vec![GroupSample {
                group: "billing".into(),
                offsets: commits
                    .iter()
                    .enumerate()
                    .map(|(i, &offset)| CommittedOffset {
                        topic: "orders".into(),
                        partition: i as i32,
                        offset,
                    })
                    .collect(),
                ..GroupSample::default()
            }],
            ..Sample::default()
        }
    }

    #[test]
    fn depth_rates_and_lag_follow_the_design() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        let first = analyzer.analyze(&sample_at(0, &[100, 50, 0], &[Some(90), Some(50), None]));
        let topic = first.topic("orders").unwrap();
        assert_eq!(topic.depth, 150);
        assert_eq!(
            topic.messages_in_per_sec, 0.0,
            "no rate from a single sample"
        );
        let group = first.group("billing").unwrap();
        assert_eq!(
            group.lag, 10,
            "10 + 0 + (no commit on an empty partition) 0"
        );

        let second = analyzer.analyze(&sample_at(2, &[300, 50, 10], &[Some(190), Some(50), None]));
        let topic = second.topic("orders").unwrap();
        assert_eq!(topic.depth, 360);
        assert_eq!(topic.messages_in_per_sec, 105.0, "(200 + 0 + 10) / 2 s");
        assert_eq!(topic.messages_out_per_sec, 50.0, "100 committed / 2 s");
        let group = second.group("billing").unwrap();
        assert_eq!(group.lag, 110 + 10, "no commit yet: lag = depth");
        assert_eq!(group.partitions[2].committed_offset, None);
        assert_eq!(topic.groups, vec!["billing".to_string()]);
        assert!(
            group.lag_seconds > 0.0 && group.lag_seconds <= 2.0,
            "{}",
            group.lag_seconds
        );
    }

    #[test]
    fn partitions_of_a_consumed_topic_without_commits_count_their_depth() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        let mut sample = sample_at(0, &[100, 40], &[Some(90)]);
        sample.groups[0].offsets.truncate(1);
        let snapshot = analyzer.analyze(&sample);
        let group = snapshot.group("billing").unwrap();
        assert_eq!(group.partitions.len(), 2);
        assert_eq!(group.partitions[1].committed_offset, None);
        assert_eq!(group.lag, 10 + 40);
    }

    #[test]
    fn one_stuck_partition_makes_the_group_stall_and_says_which() {
        let mut analyzer = Analyzer::new(AnalyzerSettings {
            status_window: 3,
            ..AnalyzerSettings::default()
        });
        let mut last = None;
        for t in 0..4 {
            // Partition 0 keeps up; partition 1 is stuck at 5 while data arrives.
            let high = 100 + 10 * t;
            last = Some(analyzer.analyze(&sample_at(t, &[high, high], &[Some(high), Some(5)])));
        }
        let snapshot = last.unwrap();
        let group = snapshot.group("billing").unwrap();
        assert_eq!(group.status, GroupStatus::Stall, "{}", group.reason);
        assert!(
            group.reason.starts_with("orders/1: commits stopped"),
            "{}",
            group.reason
        );
    }

    #[test]
    fn one_rewound_partition_is_reported_even_if_the_total_grows() {
        let mut analyzer = Analyzer::new(AnalyzerSettings {
            status_window: 3,
            ..AnalyzerSettings::default()
        });
        analyzer.analyze(&sample_at(0, &[1000, 1000], &[Some(100), Some(900)]));
        let snapshot = analyzer.analyze(&sample_at(1, &[1000, 1000], &[Some(900), Some(800)]));
        let group = snapshot.group("billing").unwrap();
        assert_eq!(group.status, GroupStatus::Rewind, "{}", group.reason);
        assert!(group.reason.starts_with("orders/1:"), "{}", group.reason);
    }

    #[test]
    fn an_outage_tick_does_not_reset_rates() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(&sample_at(0, &[100], &[Some(100)]));
        let mut down = sample_at(1, &[], &[]);
        down.kafka_up = false;
        down.topics.clear();
        down.groups.clear();
        analyzer.analyze(&down);
        let back = analyzer.analyze(&sample_at(2, &[300], &[Some(300)]));
        assert_eq!(back.topic("orders").unwrap().messages_in_per_sec, 100.0);
    }

    #[test]
    fn recreated_topic_gives_no_negative_rate() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(&sample_at(0, &[1000], &[Some(1000)]));
        let after = analyzer.analyze(&sample_at(1, &[3], &[Some(1000)]));
        let topic = after.topic("orders").unwrap();
        assert_eq!(topic.messages_in_per_sec, 0.0);
        assert_eq!(after.group("billing").unwrap().lag, 0);
    }

    #[test]
    fn exact_timestamps_win_over_interpolation_only_where_they_match() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(&sample_at(0, &[100, 100], &[Some(50), Some(60)]));
        let mut sample = sample_at(1, &[100, 100], &[Some(50), Some(60)]);
        // Partition 0's committed message was produced 2 hours before the
        // sample; partition 1's known timestamp is for another offset.
        let taken_ms = sample.taken_at.timestamp_millis();
        sample.exact_timestamps = vec![
            crate::model::ExactTimestamp {
                topic: "orders".into(),
                partition: 0,
                offset: 50,
                timestamp_ms: taken_ms - 7_200_000,
            },
            crate::model::ExactTimestamp {
                topic: "orders".into(),
                partition: 1,
                offset: 59,
                timestamp_ms: taken_ms - 9_000_000,
            },
        ];
        let snapshot = analyzer.analyze(&sample);
        let group = &snapshot.groups[0];
        assert_eq!(group.partitions[0].lag_seconds, 7_200.0);
        assert!(group.partitions[0].lag_seconds_exact);
        assert!(!group.partitions[1].lag_seconds_exact);
        assert!(group.partitions[1].lag_seconds < 7_200.0);
        assert_eq!(group.lag_seconds, 7_200.0);
    }

    #[test]
    fn depth_is_zero_when_unknown() {
        assert_eq!(depth(None, Some(5)), 0);
        assert_eq!(depth(Some(2), Some(5)), 3);
    }
}

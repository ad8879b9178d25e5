//! Pure arithmetic from samples to snapshots: rates, lag, time lag, depth,
//! group status. No I/O: fed samples, it is tested and benchmarked alone.

pub mod events;
pub mod lag;
pub mod packed;
pub mod rates;
pub mod status;

use std::collections::HashMap;
use std::ops::Range;

use crate::model::{
    CommittedOffset, GroupPartitionView, GroupStatus, GroupTopicView, GroupType, GroupView, Name,
    PartitionView, Sample, Snapshot, TopicSample, TopicView,
};
use lag::{lag_messages, lost_messages, read_position, OffsetTimeTable};
use status::{lost_note, share_group_status, GroupPoint, GroupWindow, PaceWindow};

/// Tunables of the analysis.
#[derive(Debug, Clone)]
pub struct AnalyzerSettings {
    /// Points kept per partition for time lag.
    pub time_table_points: usize,
    /// Samples in the status window.
    pub status_window: usize,
    /// Groups without members whose commits have not moved for this many
    /// seconds are left out (Burrow's expire-group): dead groups stop
    /// costing series and attention. None keeps every group.
    pub forget_groups_after: Option<f64>,
}

impl Default for AnalyzerSettings {
    fn default() -> Self {
        AnalyzerSettings {
            time_table_points: 64,
            status_window: 10,
            forget_groups_after: None,
        }
    }
}

/// (low, high, time table) of a partition in the current sample.
type Watermarks<'a> = (Option<i64>, Option<i64>, Option<&'a OffsetTimeTable>);

/// What the analyzer remembers of one partition.
#[derive(Debug)]
struct PartitionState {
    partition: i32,
    table: OffsetTimeTable,
    /// Sequence of the last sample that listed the partition.
    listed: u64,
    /// Sequence of the last good sample that recorded a high watermark (0:
    /// none yet): the table's newest point is then the watermark the next
    /// in-rate starts from (rates need no map of their own).
    recorded: u64,
}

/// Partitions of one topic, sorted by partition.
#[derive(Debug, Default)]
struct TopicState {
    partitions: Vec<PartitionState>,
}

/// What the analyzer remembers of one group on one partition.
#[derive(Debug)]
struct GroupPartitionState {
    /// The topic state's own name (shared): one allocation per topic.
    topic: Name,
    partition: i32,
    /// Sequence of the last sample that pushed to the window: when it is
    /// the previous good sample, the window's newest point holds the
    /// previous commit.
    /// (Truncated to 32 bits: wraps after 136 years of 1 s samples.)
    pushed: u32,
    /// Burrow evaluates partitions, so one stuck or rewound partition
    /// shows even while the others move.
    window: GroupWindow,
}

#[derive(Debug)]
struct GroupState {
    window: GroupWindow,
    /// The group's lag over the window, for the time to clear it.
    pace: PaceWindow,
    /// Sum of committed offsets at the last change, and when that was (s).
    commits_changed: (i64, f64),
    /// Sequence of the last sample that listed the group.
    /// (32 bits, like `pushed`.)
    listed: u32,
    /// Sorted by (topic, partition).
    partitions: Vec<GroupPartitionState>,
}

/// Turns each sample into a snapshot, keeping the little state rates, time
/// lag and status need between samples. State is per topic and per group
/// (not per string key): at 50,000 groups × 4 partitions it is what the
/// process mostly holds.
pub struct Analyzer {
    settings: AnalyzerSettings,
    sequence: u64,
    /// Sequence and time (s) of the last sample that reached Kafka; rates
    /// compare with it, so an outage tick does not count as zero.
    previous: Option<(u64, f64)>,
    topics: HashMap<Name, TopicState>,
    groups: HashMap<Name, GroupState>,
    /// The state shown for groups the broker cannot describe.
    unknown_state: Name,
}

/// Heap held by the analyzer's state, by part (estimated from capacities).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalyzerMemory {
    pub time_tables: usize,
    pub group_windows: usize,
    pub partition_windows: usize,
}

impl Analyzer {
    pub fn new(settings: AnalyzerSettings) -> Self {
        Analyzer {
            settings,
            sequence: 0,
            previous: None,
            topics: HashMap::new(),
            groups: HashMap::new(),
            unknown_state: Name::from("Unknown"),
        }
    }

    pub fn settings(&self) -> &AnalyzerSettings {
        &self.settings
    }

    /// Where the state's memory is, for the benchmark's breakdown.
    pub fn memory(&self) -> AnalyzerMemory {
        use std::mem::size_of;
        let mut memory = AnalyzerMemory {
            time_tables: self.topics.capacity() * (size_of::<(Name, TopicState)>() + 1),
            group_windows: self.groups.capacity() * (size_of::<(Name, GroupState)>() + 1),
            partition_windows: 0,
        };
        for (name, topic) in &self.topics {
            memory.time_tables += name.len()
                + topic.partitions.capacity() * size_of::<PartitionState>()
                + topic
                    .partitions
                    .iter()
                    .map(|p| p.table.heap_bytes())
                    .sum::<usize>();
        }
        for (name, group) in &self.groups {
            memory.group_windows += name.len() + group.pace.heap_bytes();
            memory.partition_windows +=
                group.partitions.capacity() * size_of::<GroupPartitionState>();
        }
        memory
    }

    /// Takes the sample by value: names, replica lists and members move
    /// into the snapshot instead of being copied, and each group's commits
    /// are freed as soon as the group is analysed (at 50,000 groups the
    /// sample is ~15 MiB that would otherwise sit next to two snapshots).
    pub fn analyze(&mut self, sample: Sample) -> Snapshot {
        self.sequence += 1;
        let sequence = self.sequence;
        let Sample {
            taken_at,
            duration_seconds,
            kafka_up,
            cluster_id,
            controller_id,
            brokers,
            topics: sample_topics,
            groups: sample_groups,
            errors,
            exact_timestamps,
        } = sample;
        let now = taken_at.timestamp_millis() as f64 / 1000.0;
        let exact: HashMap<(&str, i32, i64), i64> = exact_timestamps
            .iter()
            .map(|e| ((e.topic.as_str(), e.partition, e.offset), e.timestamp_ms))
            .collect();
        let (previous_sequence, elapsed) = match self.previous {
            Some((previous_sequence, time)) => (previous_sequence, now - time),
            None => (0, 0.0),
        };
        // Only a good sample becomes the reference for the next rates.
        let current = if kafka_up { sequence } else { 0 };

        let mut topics: Vec<TopicView> = sample_topics
            .iter()
            .map(|topic| {
                // Views take the analyzer's own copy of a name, which lives
                // as long as the topic: the sample's copies are freed with it.
                let entry = self.topics.entry(topic.name.clone());
                let name = entry.key().clone();
                let state = entry.or_default();
                let partitions: Vec<PartitionView> = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let state = partition_state(
                            &mut state.partitions,
                            p.partition,
                            self.settings.time_table_points,
                        );
                        state.listed = sequence;
                        // The last recorded high watermark. When the
                        // partition's watermark could not be read for a few
                        // ticks (its leader failing over), what was appended
                        // meanwhile counts in this interval: the points of
                        // the gap already said 0 for it, so spreading it over
                        // the gap would lose it from every sum of rate × time
                        // (and a producer's backlog does arrive in a burst
                        // once a new leader is elected).
                        let previous = (previous_sequence > 0 && state.recorded > 0)
                            .then(|| state.table.last())
                            .flatten()
                            .map(|(high, _)| high);
                        if let Some(high) = p.high_watermark {
                            state.table.record(high, now);
                            state.recorded = current;
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
                                previous,
                                p.high_watermark,
                                elapsed,
                            ),
                        }
                    })
                    .collect();
                TopicView {
                    name,
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
        if kafka_up {
            self.topics.retain(|_, topic| {
                topic.partitions.retain(|p| p.listed == sequence);
                !topic.partitions.is_empty()
            });
        }

        let lookup = TopicLookup::new(&sample_topics, &self.topics);
        let mut groups = Vec::with_capacity(sample_groups.len());
        // Per topic slot: messages out and the groups reading it.
        let mut topic_out = vec![0.0; lookup.slots()];
        let mut topic_groups: Vec<Vec<Name>> = vec![Vec::new(); lookup.slots()];
        for group in sample_groups {
            let entry = self.groups.entry(group.group.clone());
            let name = entry.key().clone();
            let state = entry.or_insert_with(|| GroupState {
                window: GroupWindow::new(),
                pace: PaceWindow::new(self.settings.status_window),
                commits_changed: (i64::MIN, now),
                listed: 0,
                partitions: Vec::new(),
            });
            state.listed = sequence as u32;
            // The coordinator could not be read this tick (it is failing
            // over, or down): judge the group on its last known commits and
            // push nothing, so the gap raises no false STALL and the next
            // tick no rate spike.
            let offsets_unknown =
                group.error.is_some() && group.offsets.is_empty() && !state.partitions.is_empty();
            let carried: Vec<CommittedOffset> = if offsets_unknown {
                state
                    .partitions
                    .iter()
                    .map(|p| CommittedOffset {
                        topic: p.topic.clone(),
                        partition: p.partition,
                        offset: p
                            .window
                            .newest()
                            .map(|point| point.committed_total)
                            .filter(|&offset| offset >= 0)
                            .into(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let known_offsets = if offsets_unknown {
                &carried
            } else {
                &group.offsets
            };
            let commit_sum: i64 = known_offsets.iter().filter_map(|c| c.offset.get()).sum();
            if commit_sum != state.commits_changed.0 {
                // First sight counts as a change: forgetting starts from
                // when kafka-pulse began watching.
                let since = if state.commits_changed.0 == i64::MIN {
                    state.commits_changed.1
                } else {
                    now
                };
                state.commits_changed = (commit_sum, since);
            }
            let has_members = group.members.as_ref().is_some_and(|m| !m.is_empty());
            if let Some(after) = self.settings.forget_groups_after {
                if !has_members && now - state.commits_changed.1 >= after {
                    continue;
                }
            }
            let offsets = with_uncommitted_partitions(known_offsets, &lookup);
            let mut partitions = Vec::with_capacity(offsets.len());
            // Offsets are sorted by topic: each topic's view is built in one
            // run, (slot, view) in name order.
            // Sized to the topics of the offsets: a pushed-to empty Vec
            // would keep room for 4 views, 5 MiB more per snapshot at
            // 50,000 groups.
            let consumed_topics = 1 + offsets
                .windows(2)
                .filter(|w| w[0].topic.as_str() != w[1].topic.as_str())
                .count();
            let mut per_topic: Vec<(usize, GroupTopicView)> =
                Vec::with_capacity(consumed_topics.min(offsets.len()));
            // The slot of the previous commit's topic, so a topic's name is
            // hashed once per group, not once per partition.
            let mut last_slot: Option<(&str, Option<usize>)> = None;
            let mut committed_total = 0;
            let member_count = group.members.as_ref().map(Vec::len);
            // (severity, lag, status, reason) of the worst partition so far.
            let mut worst: Option<(u8, i64, GroupStatus, String)> = None;
            let mut troubled_partitions = 0usize;
            for commit in &offsets {
                let slot = match last_slot {
                    Some((topic, slot)) if topic == commit.topic.as_str() => slot,
                    _ => {
                        let slot = lookup.slot(commit.topic.as_str());
                        last_slot = Some((commit.topic.as_str(), slot));
                        slot
                    }
                };
                let Some((slot, &(low, high, table))) =
                    slot.and_then(|slot| Some((slot, lookup.watermarks(slot, commit.partition)?)))
                else {
                    // Commits on a topic that no longer exists: nothing to lag behind.
                    continue;
                };
                let lag = lag_messages(commit.offset, low, high);
                let lost = lost_messages(commit.offset, low);
                let exact_time = match (commit.offset, high) {
                    (Some(position), Some(high)) if position < high => exact
                        .get(&(commit.topic.as_str(), commit.partition, position))
                        .map(|ms| *ms as f64 / 1000.0),
                    _ => None,
                };
                let lag_seconds = match (exact_time, read_position(commit.offset, low), high) {
                    (Some(produced), _, _) => (now - produced).max(0.0),
                    (None, Some(position), Some(high)) => table
                        .and_then(|table| table.lag_seconds(position, high, now))
                        .unwrap_or(0.0),
                    _ => 0.0,
                };
                let partition_state = group_partition_state(
                    &mut state.partitions,
                    &self.topics,
                    commit.topic,
                    commit.partition,
                );
                let partition_window = &mut partition_state.window;
                // Never committed is pushed as -1: the previous commit is the
                // window's newest point when it came from the previous sample.
                let previous_commit = (previous_sequence > 0
                    && partition_state.pushed == previous_sequence as u32)
                    .then(|| partition_window.newest())
                    .flatten()
                    .map(|point| point.committed_total)
                    .filter(|&offset| offset >= 0);
                if let Some(offset) = commit.offset {
                    committed_total += offset;
                }
                if !offsets_unknown {
                    partition_state.pushed = current as u32;
                    partition_window.push(GroupPoint {
                        time: now,
                        // Never committed stays constant: judged like stopped commits.
                        committed_total: commit.offset.unwrap_or(-1),
                        lag,
                    });
                }
                // Only the worst partition's reason is shown: words are
                // made for it alone.
                let verdict = partition_window.judge(
                    self.settings.status_window,
                    member_count,
                    group.state.as_deref(),
                );
                let status = verdict.status();
                if status.severity() > 0 {
                    troubled_partitions += 1;
                    let candidate = (status.severity(), lag);
                    if worst.as_ref().is_none_or(|w| candidate > (w.0, w.1)) {
                        let reason = if commit.offset.is_none() {
                            format!("never committed while lag is {}", status::group_digits(lag))
                        } else {
                            verdict.reason()
                        };
                        worst = Some((
                            candidate.0,
                            candidate.1,
                            status,
                            format!("{}/{}: {}", commit.topic, commit.partition, reason),
                        ));
                    }
                }
                let messages_out_per_sec =
                    rates::per_second(previous_commit, commit.offset, elapsed);
                if per_topic.last().is_none_or(|(last, _)| *last != slot) {
                    per_topic.push((
                        slot,
                        GroupTopicView {
                            topic: partition_state.topic.clone(),
                            ..GroupTopicView::default()
                        },
                    ));
                }
                let (_, topic_view) = per_topic.last_mut().expect("pushed above");
                topic_view.lag += lag;
                topic_view.lag_seconds = topic_view.lag_seconds.max(lag_seconds);
                topic_view.messages_out_per_sec += messages_out_per_sec;
                partitions.push(GroupPartitionView {
                    topic: partition_state.topic.clone(),
                    partition: commit.partition,
                    committed_offset: commit.offset.into(),
                    high_watermark: high.into(),
                    lag,
                    lag_seconds,
                    lost_messages: lost,
                    lag_seconds_exact: exact_time.is_some(),
                    messages_out_per_sec,
                });
            }
            if kafka_up {
                // Partitions that left the topic (or the topic itself) drop
                // their windows; one not read this tick keeps its window.
                let topics = &self.topics;
                state.partitions.retain(|p| {
                    p.pushed == sequence as u32
                        || topics
                            .get(&p.topic)
                            .and_then(|t| find_partition(&t.partitions, p.partition))
                            .is_some_and(|p| p.listed == sequence)
                });
            }
            for (slot, view) in &per_topic {
                topic_out[*slot] += view.messages_out_per_sec;
                topic_groups[*slot].push(name.clone());
            }
            let lag = partitions.iter().map(|p| p.lag).sum();
            let lag_seconds = partitions.iter().map(|p| p.lag_seconds).fold(0.0, f64::max);
            let window = &mut state.window;
            if !offsets_unknown {
                window.push(GroupPoint {
                    time: now,
                    committed_total,
                    lag,
                });
                state.pace.push(now, lag);
            }
            let time_to_clear_seconds = state.pace.time_to_clear();
            let (mut status, mut reason) = window.evaluate(
                self.settings.status_window,
                member_count,
                group.state.as_deref(),
            );
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
            if group.group_type == Some(GroupType::Share) && status != GroupStatus::Dead {
                (status, reason) = share_group_status(group.state.as_deref(), member_count);
            } else if partitions.is_empty() && status == GroupStatus::Ok {
                status = GroupStatus::Empty;
                reason = "no committed offsets on existing topics".to_string();
            }
            if offsets_unknown {
                reason.push_str("; committed offsets not readable this tick, last known shown");
            }
            let lost_messages: i64 = partitions.iter().map(|p| p.lost_messages).sum();
            if let Some(worst) = partitions
                .iter()
                .filter(|p| p.lost_messages > 0)
                .max_by_key(|p| p.lost_messages)
            {
                reason.push_str(&lost_note(
                    (worst.topic.as_str(), worst.partition, worst.lost_messages),
                    lost_messages,
                ));
            }
            drop(offsets);
            // Format-grown text keeps spare capacity: 50,000 of them add up.
            reason.shrink_to_fit();
            groups.push(GroupView {
                group: name,
                group_type: group.group_type,
                state: group.state.unwrap_or_else(|| self.unknown_state.clone()),
                state_note: group.state_note,
                status,
                reason,
                members: group.members,
                lag,
                lag_seconds,
                lost_messages,
                time_to_clear_seconds,
                messages_out_per_sec: partitions.iter().map(|p| p.messages_out_per_sec).sum(),
                // Not collected in place: that would keep the slots' room.
                topics: per_topic.iter().map(|(_, view)| view.clone()).collect(),
                partitions,
                error: group.error,
            });
        }
        if kafka_up {
            self.groups
                .retain(|_, group| group.listed == sequence as u32);
        }
        // Views are in the sample's order; a name listed twice gets its
        // groups once, as a map keyed by name gave them.
        for topic in &mut topics {
            if let Some(slot) = lookup.slot(topic.name.as_str()) {
                topic.messages_out_per_sec = topic_out[slot];
                topic.groups = std::mem::take(&mut topic_groups[slot]);
            }
            topic.groups.shrink_to_fit();
        }
        drop(lookup);
        drop(sample_topics);
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        groups.sort_by(|a, b| a.group.cmp(&b.group));

        // A tick that could not reach Kafka keeps the previous readings, so the
        // first good tick after an outage does not count the outage as zero.
        if kafka_up {
            self.previous = Some((sequence, now));
        }

        Snapshot {
            sequence: self.sequence,
            taken_at,
            sample_duration_seconds: duration_seconds,
            kafka_up,
            cluster_id,
            controller_id,
            brokers,
            topics,
            groups,
            errors,
        }
    }
}

fn find_partition(partitions: &[PartitionState], partition: i32) -> Option<&PartitionState> {
    partitions
        .binary_search_by_key(&partition, |p| p.partition)
        .ok()
        .map(|i| &partitions[i])
}

/// The partition's state, created (in order) when new.
fn partition_state(
    partitions: &mut Vec<PartitionState>,
    partition: i32,
    table_points: usize,
) -> &mut PartitionState {
    let i = match partitions.binary_search_by_key(&partition, |p| p.partition) {
        Ok(i) => i,
        Err(i) => {
            partitions.insert(
                i,
                PartitionState {
                    partition,
                    table: OffsetTimeTable::new(table_points),
                    listed: 0,
                    recorded: 0,
                },
            );
            i
        }
    };
    &mut partitions[i]
}

/// The group's state on a partition, created (in order) when new; the
/// topic name is the analyzer's own (shared with the topic's state), so
/// snapshots do not keep each tick's sample names alive.
fn group_partition_state<'a>(
    partitions: &'a mut Vec<GroupPartitionState>,
    topics: &HashMap<Name, TopicState>,
    topic: &Name,
    partition: i32,
) -> &'a mut GroupPartitionState {
    let i = match partitions
        .binary_search_by(|p| (p.topic.as_str(), p.partition).cmp(&(topic.as_str(), partition)))
    {
        Ok(i) => i,
        Err(i) => {
            let topic = topics
                .get_key_value(topic.as_str())
                .map_or_else(|| topic.clone(), |(name, _)| name.clone());
            partitions.insert(
                i,
                GroupPartitionState {
                    topic,
                    partition,
                    pushed: 0,
                    window: GroupWindow::new(),
                },
            );
            i
        }
    };
    &mut partitions[i]
}

/// One commit of a group, borrowed from the sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Commit<'a> {
    topic: &'a Name,
    partition: i32,
    offset: Option<i64>,
}

/// A group that committed on some partitions of a topic is taken to consume
/// the whole topic (the usual `subscribe`): its other partitions are listed
/// with no commit, so their whole depth counts as lag instead of vanishing.
/// (Group assignments would be exact, but brokers that cannot describe
/// groups, like the embedded one, don't tell.)
fn with_uncommitted_partitions<'a>(
    offsets: &'a [CommittedOffset],
    topics: &TopicLookup<'a>,
) -> Vec<Commit<'a>> {
    fn key<'c>(commit: &Commit<'c>) -> (&'c str, i32) {
        (commit.topic.as_str(), commit.partition)
    }
    let mut all: Vec<Commit<'a>> = offsets
        .iter()
        .map(|c| Commit {
            topic: &c.topic,
            partition: c.partition,
            offset: c.offset.get(),
        })
        .collect();
    // Sorted (stably) first: each topic's commits are then one run, where a
    // partition's commit is found by binary search; collectors list them
    // sorted already, so this costs a pass.
    all.sort_by(|a, b| key(a).cmp(&key(b)));
    let committed = all.len();
    let mut start = 0;
    while start < committed {
        let name = all[start].topic.as_str();
        let end = start + all[start..committed].partition_point(|c| c.topic.as_str() == name);
        if let Some(topic) = topics.slot(name).map(|slot| topics.topic(slot)) {
            for partition in &topic.partitions {
                let missing = all[start..end]
                    .binary_search_by_key(&partition.partition, |c| c.partition)
                    .is_err();
                if missing {
                    all.push(Commit {
                        topic: &topic.name,
                        partition: partition.partition,
                        offset: None,
                    });
                }
            }
        }
        start = end;
    }
    if all.len() > committed {
        all.sort_by(|a, b| key(a).cmp(&key(b)));
    }
    all
}

/// The sample's topics as the group loop looks them up: each distinct name
/// has a slot, and each slot the (low, high, time table) of its partitions
/// sorted by partition. A commit costs a binary search among its topic's
/// partitions (its topic's slot is found once per group) instead of hashing
/// (topic, partition) for each of up to a million group-partitions a tick.
/// A name listed twice (Kafka never does) has one slot with the partitions
/// of every listing, a later one winning, and the later listing's partition
/// list: what maps keyed by name gave.
struct TopicLookup<'a> {
    slots: HashMap<&'a str, usize>,
    /// Per slot, the last listing of its name.
    topics: Vec<&'a TopicSample>,
    /// Per slot, its partitions in `watermarks`.
    ranges: Vec<Range<usize>>,
    watermarks: Vec<(i32, Watermarks<'a>)>,
}

impl<'a> TopicLookup<'a> {
    fn new(sample_topics: &'a [TopicSample], states: &'a HashMap<Name, TopicState>) -> Self {
        let mut slots = HashMap::with_capacity(sample_topics.len());
        let mut topics: Vec<&'a TopicSample> = Vec::with_capacity(sample_topics.len());
        let mut entries: Vec<(usize, i32, Watermarks<'a>)> =
            Vec::with_capacity(sample_topics.iter().map(|t| t.partitions.len()).sum());
        for topic in sample_topics {
            let slot = *slots.entry(topic.name.as_str()).or_insert(topics.len());
            if slot == topics.len() {
                topics.push(topic);
            } else {
                topics[slot] = topic;
            }
            let state = states.get(topic.name.as_str());
            for p in &topic.partitions {
                let table = state.and_then(|s| find_partition(&s.partitions, p.partition));
                entries.push((
                    slot,
                    p.partition,
                    (p.low_watermark, p.high_watermark, table.map(|s| &s.table)),
                ));
            }
        }
        // Stable, so of equal (slot, partition) the later listing is last.
        entries.sort_by_key(|&(slot, partition, _)| (slot, partition));
        let mut watermarks = Vec::with_capacity(entries.len());
        let mut ranges = vec![0..0; topics.len()];
        for (i, &(slot, partition, marks)) in entries.iter().enumerate() {
            let replaced = entries
                .get(i + 1)
                .is_some_and(|&(s, p, _)| (s, p) == (slot, partition));
            if replaced {
                continue;
            }
            if ranges[slot].is_empty() {
                ranges[slot] = watermarks.len()..watermarks.len();
            }
            watermarks.push((partition, marks));
            ranges[slot].end = watermarks.len();
        }
        TopicLookup {
            slots,
            topics,
            ranges,
            watermarks,
        }
    }

    fn slots(&self) -> usize {
        self.topics.len()
    }

    fn slot(&self, name: &str) -> Option<usize> {
        self.slots.get(name).copied()
    }

    fn topic(&self, slot: usize) -> &'a TopicSample {
        self.topics[slot]
    }

    fn watermarks(&self, slot: usize, partition: i32) -> Option<&Watermarks<'a>> {
        let partitions = &self.watermarks[self.ranges[slot].clone()];
        partitions
            .binary_search_by_key(&partition, |&(p, _)| p)
            .ok()
            .map(|i| &partitions[i].1)
    }
}

/// Deterministic pseudo-random numbers for the analysis's property tests.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
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
                        offset: offset.into(),
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
        let first = analyzer.analyze(sample_at(0, &[100, 50, 0], &[Some(90), Some(50), None]));
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

        let second = analyzer.analyze(sample_at(2, &[300, 50, 10], &[Some(190), Some(50), None]));
        let topic = second.topic("orders").unwrap();
        assert_eq!(topic.depth, 360);
        assert_eq!(topic.messages_in_per_sec, 105.0, "(200 + 0 + 10) / 2 s");
        assert_eq!(topic.messages_out_per_sec, 50.0, "100 committed / 2 s");
        let group = second.group("billing").unwrap();
        assert_eq!(group.lag, 110 + 10, "no commit yet: lag = depth");
        assert_eq!(group.partitions[2].committed_offset.get(), None);
        assert_eq!(topic.groups, vec!["billing".to_string()]);
        assert!(
            group.lag_seconds > 0.0 && group.lag_seconds <= 2.0,
            "{}",
            group.lag_seconds
        );
    }

    #[test]
    fn ticks_without_readable_offsets_keep_the_last_commits_and_raise_nothing() {
        let mut analyzer = Analyzer::new(AnalyzerSettings {
            status_window: 3,
            ..AnalyzerSettings::default()
        });
        // Consuming 10/s behind a 10/s producer: OK.
        for t in 0..3 {
            let high = 100 + 10 * t;
            analyzer.analyze(sample_at(t, &[high], &[Some(high - 5)]));
        }
        // The coordinator fails over for three ticks: no offsets, an error.
        for t in 3..6 {
            let mut sample = sample_at(t, &[100 + 10 * t], &[]);
            sample.groups[0].error = Some("committed offsets unknown: refused".into());
            let snapshot = analyzer.analyze(sample);
            let group = snapshot.group("billing").unwrap();
            assert_eq!(group.status, GroupStatus::Ok, "{}", group.reason);
            assert!(
                group.reason.contains("not readable this tick"),
                "{}",
                group.reason
            );
            // Last known commit 115 against the moving end.
            assert_eq!(group.partitions[0].committed_offset.get(), Some(115));
            assert_eq!(group.lag, 100 + 10 * t - 115);
            assert_eq!(group.messages_out_per_sec, 0.0);
        }
        // Back, with 40 commits made meanwhile: no spike from the gap.
        let snapshot = analyzer.analyze(sample_at(6, &[160], &[Some(155)]));
        let group = snapshot.group("billing").unwrap();
        assert!(
            group.messages_out_per_sec <= 10.0,
            "{}",
            group.messages_out_per_sec
        );
        assert_eq!(group.status, GroupStatus::Ok, "{}", group.reason);
    }

    #[test]
    fn a_watermark_unknown_for_some_ticks_counts_what_came_once() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(sample_at(0, &[100], &[]));
        analyzer.analyze(sample_at(1, &[110], &[]));
        // The leader fails over: two ticks without a watermark.
        for t in 2..4 {
            let mut sample = sample_at(t, &[0], &[]);
            sample.topics[0].partitions[0].high_watermark = None;
            let snapshot = analyzer.analyze(sample);
            assert_eq!(snapshot.topic("orders").unwrap().messages_in_per_sec, 0.0);
        }
        // 30 messages arrived since the last known watermark: the gap's
        // ticks said 0, so all of them count in this one, never lost from
        // the sum of rate × time.
        let snapshot = analyzer.analyze(sample_at(4, &[140], &[]));
        assert_eq!(snapshot.topic("orders").unwrap().messages_in_per_sec, 30.0);
        let snapshot = analyzer.analyze(sample_at(5, &[150], &[]));
        assert_eq!(snapshot.topic("orders").unwrap().messages_in_per_sec, 10.0);
    }

    #[test]
    fn partitions_of_a_consumed_topic_without_commits_count_their_depth() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        let mut sample = sample_at(0, &[100, 40], &[Some(90)]);
        sample.groups[0].offsets.truncate(1);
        let snapshot = analyzer.analyze(sample);
        let group = snapshot.group("billing").unwrap();
        assert_eq!(group.partitions.len(), 2);
        assert_eq!(group.partitions[1].committed_offset.get(), None);
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
            last = Some(analyzer.analyze(sample_at(t, &[high, high], &[Some(high), Some(5)])));
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
        analyzer.analyze(sample_at(0, &[1000, 1000], &[Some(100), Some(900)]));
        let snapshot = analyzer.analyze(sample_at(1, &[1000, 1000], &[Some(900), Some(800)]));
        let group = snapshot.group("billing").unwrap();
        assert_eq!(group.status, GroupStatus::Rewind, "{}", group.reason);
        assert!(group.reason.starts_with("orders/1:"), "{}", group.reason);
    }

    #[test]
    fn an_outage_tick_does_not_reset_rates() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(sample_at(0, &[100], &[Some(100)]));
        let mut down = sample_at(1, &[], &[]);
        down.kafka_up = false;
        down.topics.clear();
        down.groups.clear();
        analyzer.analyze(down);
        let back = analyzer.analyze(sample_at(2, &[300], &[Some(300)]));
        assert_eq!(back.topic("orders").unwrap().messages_in_per_sec, 100.0);
    }

    #[test]
    fn recreated_topic_gives_no_negative_rate() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(sample_at(0, &[1000], &[Some(1000)]));
        let after = analyzer.analyze(sample_at(1, &[3], &[Some(1000)]));
        let topic = after.topic("orders").unwrap();
        assert_eq!(topic.messages_in_per_sec, 0.0);
        assert_eq!(after.group("billing").unwrap().lag, 0);
    }

    #[test]
    fn groups_without_members_and_moving_commits_are_forgotten_after_the_limit() {
        let mut analyzer = Analyzer::new(AnalyzerSettings {
            forget_groups_after: Some(10.0),
            ..AnalyzerSettings::default()
        });
        let groups = |analyzer: &mut Analyzer, at: i64, commit: i64| {
            analyzer
                .analyze(sample_at(at, &[100], &[Some(commit)]))
                .groups
                .len()
        };
        assert_eq!(groups(&mut analyzer, 0, 50), 1);
        assert_eq!(groups(&mut analyzer, 9, 50), 1, "not yet");
        assert_eq!(
            groups(&mut analyzer, 10, 50),
            0,
            "10 s without a commit moving"
        );
        assert_eq!(groups(&mut analyzer, 11, 60), 1, "a commit brings it back");
        assert_eq!(groups(&mut analyzer, 20, 60), 1);
        assert_eq!(groups(&mut analyzer, 21, 60), 0);
        // With members it stays, however long its commits stand still.
        let mut sample = sample_at(40, &[100], &[Some(60)]);
        sample.groups[0].members = Some(vec![crate::model::MemberSample {
            member_id: "m".into(),
            client_id: "c".into(),
            client_host: "h".into(),
            assignment: vec![],
        }]);
        assert_eq!(analyzer.analyze(sample).groups.len(), 1);
        // Off by default.
        let mut keep = Analyzer::new(AnalyzerSettings::default());
        assert_eq!(groups(&mut keep, 0, 5), 1);
        assert_eq!(groups(&mut keep, 100_000, 5), 1);
    }

    #[test]
    fn exact_timestamps_win_over_interpolation_only_where_they_match() {
        let mut analyzer = Analyzer::new(AnalyzerSettings::default());
        analyzer.analyze(sample_at(0, &[100, 100], &[Some(50), Some(60)]));
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
        let snapshot = analyzer.analyze(sample);
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

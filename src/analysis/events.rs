//! Events: the difference between two consecutive snapshots, in words.
//! Pure; the collector records what this returns.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::model::{Event, GroupView, Snapshot};

use super::status::group_digits;

/// Lag levels that raise an event when crossed, globally and per group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LagThresholds {
    pub messages: Option<i64>,
    pub seconds: Option<f64>,
    /// Per-group overrides of (messages, seconds).
    pub per_group: HashMap<String, (Option<i64>, Option<f64>)>,
}

impl LagThresholds {
    fn for_group(&self, group: &str) -> (Option<i64>, Option<f64>) {
        match self.per_group.get(group) {
            Some(&(messages, seconds)) => (messages.or(self.messages), seconds.or(self.seconds)),
            None => (self.messages, self.seconds),
        }
    }
}

/// Every kind the analysis and the app record: offered in the events page's
/// filter before one happened, and what `--notify-kinds` accepts (so a typo
/// is refused instead of silently matching nothing).
pub const KNOWN_KINDS: &[&str] = &[
    "broker_down",
    "broker_restart_failed",
    "broker_restarted",
    "broker_started",
    "broker_up",
    "controller_changed",
    "group_created",
    "group_deleted",
    "group_state_changed",
    "group_status_changed",
    "isr_changed",
    "kafka_down",
    "kafka_up",
    "lag_recovered",
    "lag_seconds_recovered",
    "lag_seconds_threshold_crossed",
    "lag_threshold_crossed",
    "leader_changed",
    "partitions_added",
    "replay_finished",
    "replay_started",
    "sink_failing",
    "sink_recovered",
    "topic_created",
    "topic_deleted",
];

/// At most this many partitions are named in one leader/ISR event; the rest
/// are counted, so a broker restart on a big cluster is one line per topic.
const NAMED_PARTITIONS: usize = 5;

pub fn diff(previous: &Snapshot, next: &Snapshot, thresholds: &LagThresholds) -> Vec<Event> {
    let at = next.taken_at;
    let mut events = Vec::new();
    if previous.sequence == 0 {
        // The first sample describes what already existed: nothing changed.
        return events;
    }
    if previous.kafka_up != next.kafka_up {
        events.push(if next.kafka_up {
            Event::new(at, "kafka_up", "cluster", "Kafka answers again")
        } else {
            Event::new(
                at,
                "kafka_down",
                "cluster",
                format!(
                    "Kafka is unreachable: {}",
                    next.errors
                        .first()
                        .map(String::as_str)
                        .unwrap_or("no answer")
                ),
            )
        });
    }
    if !next.kafka_up || !previous.kafka_up {
        // Without two good samples there is nothing fair to compare.
        return events;
    }

    let before: HashSet<i32> = previous.brokers.iter().map(|b| b.node_id).collect();
    let after: HashSet<i32> = next.brokers.iter().map(|b| b.node_id).collect();
    for broker in &next.brokers {
        if !before.contains(&broker.node_id) {
            events.push(Event::new(
                at,
                "broker_up",
                &format!("broker {}", broker.node_id),
                format!(
                    "broker {} joined at {}:{}",
                    broker.node_id, broker.host, broker.port
                ),
            ));
        }
    }
    for broker in &previous.brokers {
        if !after.contains(&broker.node_id) {
            events.push(Event::new(
                at,
                "broker_down",
                &format!("broker {}", broker.node_id),
                format!(
                    "broker {} ({}:{}) left the cluster metadata",
                    broker.node_id, broker.host, broker.port
                ),
            ));
        }
    }
    if previous.controller_id != next.controller_id {
        events.push(Event::new(
            at,
            "controller_changed",
            "cluster",
            format!(
                "controller moved from {} to {}",
                broker_name(previous.controller_id),
                broker_name(next.controller_id)
            ),
        ));
    }

    topic_events(previous, next, &mut events);
    group_events(previous, next, thresholds, &mut events);
    events
}

fn broker_name(id: Option<i32>) -> String {
    id.map(|id| format!("broker {id}"))
        .unwrap_or_else(|| "none".into())
}

fn topic_events(previous: &Snapshot, next: &Snapshot, events: &mut Vec<Event>) {
    let at = next.taken_at;
    let before: HashMap<&str, _> = previous
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let after: HashSet<&str> = next.topics.iter().map(|t| t.name.as_str()).collect();
    for topic in &next.topics {
        let Some(old) = before.get(topic.name.as_str()) else {
            events.push(
                Event::new(
                    at,
                    "topic_created",
                    &topic.name,
                    format!(
                        "topic {} created with {} partitions",
                        topic.name,
                        topic.partitions.len()
                    ),
                )
                .for_topic(&topic.name),
            );
            continue;
        };
        if topic.partitions.len() > old.partitions.len() {
            events.push(
                Event::new(
                    at,
                    "partitions_added",
                    &topic.name,
                    format!(
                        "topic {} grew from {} to {} partitions",
                        topic.name,
                        old.partitions.len(),
                        topic.partitions.len()
                    ),
                )
                .for_topic(&topic.name),
            );
        }
        let old_partitions: HashMap<i32, _> =
            old.partitions.iter().map(|p| (p.partition, p)).collect();
        let mut leader_moves = Vec::new();
        let mut isr_changes = Vec::new();
        for partition in &topic.partitions {
            let Some(old) = old_partitions.get(&partition.partition) else {
                continue;
            };
            if old.leader != partition.leader {
                leader_moves.push(format!(
                    "p{} {}→{}",
                    partition.partition,
                    leader_name(old.leader),
                    leader_name(partition.leader)
                ));
            }
            if old.isr != partition.isr {
                isr_changes.push(format!(
                    "p{} {:?}→{:?}",
                    partition.partition, old.isr, partition.isr
                ));
            }
        }
        for (kind, what, changes) in [
            ("leader_changed", "leader changed", leader_moves),
            ("isr_changed", "in-sync replicas changed", isr_changes),
        ] {
            if changes.is_empty() {
                continue;
            }
            let mut message = format!(
                "{what} on {} partition(s) of {}: {}",
                changes.len(),
                topic.name,
                changes[..changes.len().min(NAMED_PARTITIONS)].join(", ")
            );
            if changes.len() > NAMED_PARTITIONS {
                message.push_str(&format!(" and {} more", changes.len() - NAMED_PARTITIONS));
            }
            events.push(Event::new(at, kind, &topic.name, message).for_topic(&topic.name));
        }
    }
    for topic in &previous.topics {
        if !after.contains(topic.name.as_str()) {
            events.push(
                Event::new(
                    at,
                    "topic_deleted",
                    &topic.name,
                    format!("topic {} was deleted", topic.name),
                )
                .for_topic(&topic.name),
            );
        }
    }
}

fn leader_name(id: i32) -> String {
    if id < 0 {
        "none".into()
    } else {
        id.to_string()
    }
}

fn group_events(
    previous: &Snapshot,
    next: &Snapshot,
    thresholds: &LagThresholds,
    events: &mut Vec<Event>,
) {
    let at = next.taken_at;
    let (before, gone) = match_groups(&previous.groups, &next.groups);
    for (group, old) in next.groups.iter().zip(before) {
        let name = group.group.as_str();
        let Some(old) = old else {
            events.push(
                Event::new(
                    at,
                    "group_created",
                    name,
                    format!("consumer group {name} appeared"),
                )
                .for_group(name),
            );
            continue;
        };
        if old.state != group.state {
            events.push(
                Event::new(
                    at,
                    "group_state_changed",
                    name,
                    format!("group {name} went from {} to {}", old.state, group.state),
                )
                .for_group(name),
            );
        }
        if old.status != group.status {
            events.push(
                Event::new(
                    at,
                    "group_status_changed",
                    name,
                    format!(
                        "group {name} is {} (was {}): {}",
                        group.status.as_str(),
                        old.status.as_str(),
                        group.reason
                    ),
                )
                .for_group(name),
            );
        }
        if group.lost_messages > old.lost_messages {
            events.push(
                Event::new(
                    at,
                    "messages_lost",
                    name,
                    format!(
                        "group {name} lost {} messages it had not read (committed offsets \
                         below the log start; {} lost in all)",
                        group_digits(group.lost_messages - old.lost_messages),
                        group_digits(group.lost_messages)
                    ),
                )
                .for_group(name),
            );
        }
        let (messages, seconds) = thresholds.for_group(name);
        if let Some(limit) = messages {
            if old.lag <= limit && group.lag > limit {
                events.push(
                    Event::new(
                        at,
                        "lag_threshold_crossed",
                        name,
                        format!(
                            "group {name} lag {} messages is above the threshold of {}",
                            group_digits(group.lag),
                            group_digits(limit)
                        ),
                    )
                    .for_group(name),
                );
            } else if old.lag > limit && group.lag <= limit {
                events.push(
                    Event::new(
                        at,
                        "lag_recovered",
                        name,
                        format!(
                            "group {name} lag {} messages is back under the threshold of {}",
                            group_digits(group.lag),
                            group_digits(limit)
                        ),
                    )
                    .for_group(name),
                );
            }
        }
        if let Some(limit) = seconds {
            if old.lag_seconds <= limit && group.lag_seconds > limit {
                events.push(
                    Event::new(
                        at,
                        "lag_seconds_threshold_crossed",
                        name,
                        format!(
                            "group {name} is {:.0}s behind, above the threshold of {limit:.0}s",
                            group.lag_seconds
                        ),
                    )
                    .for_group(name),
                );
            } else if old.lag_seconds > limit && group.lag_seconds <= limit {
                events.push(
                    Event::new(
                        at,
                        "lag_seconds_recovered",
                        name,
                        format!(
                            "group {name} is {:.0}s behind, back under the threshold of {limit:.0}s",
                            group.lag_seconds
                        ),
                    )
                    .for_group(name),
                );
            }
        }
    }
    for group in gone {
        events.push(
            Event::new(
                at,
                "group_deleted",
                &group.group,
                format!("consumer group {} is gone", group.group),
            )
            .for_group(&group.group),
        );
    }
}

/// Each of `next`'s groups with its previous view (if any), and the
/// previous groups that are gone. Snapshots list groups sorted by name (the
/// analyzer sorts them), so one merge walk pairs them without a map of
/// 50,000 names; unsorted lists (hand-made snapshots) are paired by map,
/// the last of a name listed twice winning.
fn match_groups<'a>(
    previous: &'a [GroupView],
    next: &[GroupView],
) -> (Vec<Option<&'a GroupView>>, Vec<&'a GroupView>) {
    let strictly_sorted = previous
        .windows(2)
        .all(|w| w[0].group.as_str() < w[1].group.as_str());
    let sorted = next
        .windows(2)
        .all(|w| w[0].group.as_str() <= w[1].group.as_str());
    if !(strictly_sorted && sorted) {
        let before: BTreeMap<&str, &GroupView> =
            previous.iter().map(|g| (g.group.as_str(), g)).collect();
        let after: HashSet<&str> = next.iter().map(|g| g.group.as_str()).collect();
        return (
            next.iter()
                .map(|g| before.get(g.group.as_str()).copied())
                .collect(),
            previous
                .iter()
                .filter(|g| !after.contains(g.group.as_str()))
                .collect(),
        );
    }
    let mut matched = vec![false; previous.len()];
    let mut at = 0;
    let pairs = next
        .iter()
        .map(|group| {
            while at < previous.len() && previous[at].group.as_str() < group.group.as_str() {
                at += 1;
            }
            let old = previous
                .get(at)
                .filter(|old| old.group.as_str() == group.group.as_str());
            if old.is_some() {
                matched[at] = true;
            }
            old
        })
        .collect();
    let gone = previous
        .iter()
        .zip(matched)
        .filter(|(_, matched)| !matched)
        .map(|(group, _)| group)
        .collect();
    (pairs, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BrokerSample, GroupStatus, PartitionView, TopicView};

    fn group(name: &str, lag: i64, status: GroupStatus) -> GroupView {
        GroupView {
            group: name.into(),
            group_type: None,
            state: "Stable".into(),
            state_note: None,
            status,
            reason: "because".into(),
            members: None,
            lag,
            lag_seconds: lag as f64 / 10.0,
            lost_messages: 0,
            time_to_clear_seconds: None,
            messages_out_per_sec: 0.0,
            topics: vec![],
            partitions: vec![],
            error: None,
        }
    }

    #[test]
    fn sorted_and_unsorted_group_lists_pair_alike() {
        let names = |groups: &[&GroupView]| -> Vec<String> {
            groups.iter().map(|g| g.group.to_string()).collect()
        };
        let views = |names: &[&str]| -> Vec<GroupView> {
            names.iter().map(|n| group(n, 0, GroupStatus::Ok)).collect()
        };
        let previous = views(&["a", "b", "d", "f"]);
        let next = views(&["b", "c", "d", "e", "g"]);
        let (pairs, gone) = match_groups(&previous, &next);
        let paired: Vec<Option<String>> = pairs
            .iter()
            .map(|p| p.map(|g| g.group.to_string()))
            .collect();
        let expected = [Some("b"), None, Some("d"), None, None];
        assert_eq!(paired, expected.map(|e| e.map(String::from)));
        assert_eq!(names(&gone), ["a", "f"]);
        // The same lists out of order go the map's way, with the same answer.
        let previous = views(&["f", "d", "b", "a"]);
        let next = views(&["b", "c", "d", "e", "g"]);
        let (pairs, gone) = match_groups(&previous, &next);
        let paired: Vec<Option<String>> = pairs
            .iter()
            .map(|p| p.map(|g| g.group.to_string()))
            .collect();
        assert_eq!(paired, expected.map(|e| e.map(String::from)));
        assert_eq!(names(&gone), ["f", "a"]);
    }

    fn topic(name: &str, leaders: &[i32]) -> TopicView {
        TopicView {
            name: name.into(),
            partitions: leaders
                .iter()
                .enumerate()
                .map(|(i, &leader)| PartitionView {
                    partition: i as i32,
                    leader,
                    isr: vec![leader].into(),
                    ..PartitionView::default()
                })
                .collect(),
            ..TopicView::default()
        }
    }

    fn snapshot(sequence: u64, topics: Vec<TopicView>, groups: Vec<GroupView>) -> Snapshot {
        Snapshot {
            sequence,
            kafka_up: true,
            brokers: vec![BrokerSample {
                node_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
            controller_id: Some(1),
            topics,
            groups,
            ..Snapshot::default()
        }
    }

    fn kinds(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn first_sample_raises_nothing() {
        let next = snapshot(1, vec![topic("a", &[1])], vec![]);
        assert!(diff(&Snapshot::default(), &next, &LagThresholds::default()).is_empty());
    }

    #[test]
    fn topics_created_deleted_and_grown() {
        let before = snapshot(1, vec![topic("a", &[1]), topic("b", &[1])], vec![]);
        let after = snapshot(2, vec![topic("a", &[1, 1, 1]), topic("c", &[1])], vec![]);
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(
            kinds(&events),
            ["partitions_added", "topic_created", "topic_deleted"]
        );
        assert_eq!(events[0].topic.as_deref(), Some("a"));
        assert!(events[0].message.contains("from 1 to 3"));
    }

    #[test]
    fn leader_moves_are_summarised_per_topic() {
        let before = snapshot(1, vec![topic("a", &[1; 8])], vec![]);
        let after = snapshot(2, vec![topic("a", &[2; 8])], vec![]);
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(kinds(&events), ["leader_changed", "isr_changed"]);
        assert!(events[0].message.contains("8 partition(s)"));
        assert!(
            events[0].message.ends_with("and 3 more"),
            "{}",
            events[0].message
        );
    }

    #[test]
    fn growing_loss_is_an_event_and_a_steady_one_is_not() {
        let lost = |n| GroupView {
            lost_messages: n,
            ..group("g", 10, GroupStatus::Ok)
        };
        let events = diff(
            &snapshot(1, vec![], vec![lost(0)]),
            &snapshot(2, vec![], vec![lost(500)]),
            &LagThresholds::default(),
        );
        assert_eq!(kinds(&events), ["messages_lost"]);
        assert!(
            events[0].message.contains("lost 500 messages"),
            "{}",
            events[0].message
        );
        let steady = diff(
            &snapshot(2, vec![], vec![lost(500)]),
            &snapshot(3, vec![], vec![lost(500)]),
            &LagThresholds::default(),
        );
        assert!(steady.is_empty(), "{steady:?}");
    }

    #[test]
    fn status_change_carries_the_reason() {
        let before = snapshot(1, vec![], vec![group("g", 0, GroupStatus::Ok)]);
        let after = snapshot(2, vec![], vec![group("g", 50, GroupStatus::Stall)]);
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(kinds(&events), ["group_status_changed"]);
        assert_eq!(events[0].message, "group g is STALL (was OK): because");
        assert_eq!(events[0].group.as_deref(), Some("g"));
    }

    #[test]
    fn thresholds_fire_once_on_crossing_and_once_on_recovery() {
        let mut thresholds = LagThresholds {
            messages: Some(100),
            ..LagThresholds::default()
        };
        thresholds
            .per_group
            .insert("strict".into(), (Some(10), Some(1.0)));
        let s = |seq, lag| {
            snapshot(
                seq,
                vec![],
                vec![
                    group("g", lag, GroupStatus::Ok),
                    group("strict", lag, GroupStatus::Ok),
                ],
            )
        };
        let up = diff(&s(1, 5), &s(2, 50), &thresholds);
        assert_eq!(
            kinds(&up),
            ["lag_threshold_crossed", "lag_seconds_threshold_crossed"]
        );
        assert!(up.iter().all(|e| e.subject == "strict"));
        let still = diff(&s(2, 50), &s(3, 60), &thresholds);
        assert!(still.is_empty(), "{still:?}");
        let down = diff(&s(3, 500), &s(4, 5), &thresholds);
        assert_eq!(
            kinds(&down),
            ["lag_recovered", "lag_recovered", "lag_seconds_recovered"]
        );
    }

    #[test]
    fn kafka_down_is_one_event_not_everything_deleted() {
        let before = snapshot(
            1,
            vec![topic("a", &[1])],
            vec![group("g", 0, GroupStatus::Ok)],
        );
        let mut after = Snapshot {
            sequence: 2,
            errors: vec!["Metadata: refused".into()],
            ..Snapshot::default()
        };
        after.kafka_up = false;
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(kinds(&events), ["kafka_down"]);
        assert!(events[0].message.contains("refused"));
    }

    #[test]
    fn brokers_joining_and_leaving() {
        let before = snapshot(1, vec![], vec![]);
        let mut after = snapshot(2, vec![], vec![]);
        after.brokers[0].node_id = 2;
        after.controller_id = Some(2);
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(
            kinds(&events),
            ["broker_up", "broker_down", "controller_changed"]
        );
    }

    #[test]
    fn groups_appearing_and_leaving() {
        let before = snapshot(1, vec![], vec![group("old", 0, GroupStatus::Ok)]);
        let after = snapshot(2, vec![], vec![group("new", 0, GroupStatus::Ok)]);
        let events = diff(&before, &after, &LagThresholds::default());
        assert_eq!(kinds(&events), ["group_created", "group_deleted"]);
    }
}

//! The data that flows through kafka-pulse: raw `Sample`s from the collector
//! and the analysed `Snapshot` every reader (web, metrics, sinks) sees.
//! The README's "What the numbers mean" defines every number here.

mod compact;

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use compact::{BrokerIdLists, BrokerIds, Name, Names, OptionalOffset};

/// The name of one unnamed cluster in URLs and labels while Kafka has not
/// reported its cluster id.
pub const DEFAULT_CLUSTER_NAME: &str = "default";

/// What one collector tick read from Kafka, before any arithmetic.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub taken_at: DateTime<Utc>,
    /// Wall time the tick took, for self-metrics.
    pub duration_seconds: f64,
    /// False when not even metadata could be read: everything else is empty.
    pub kafka_up: bool,
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<BrokerSample>,
    pub topics: Vec<TopicSample>,
    pub groups: Vec<GroupSample>,
    /// Parts of the tick that failed; the rest of the sample is still valid.
    pub errors: Vec<String>,
    /// Real timestamps of messages at committed offsets, when
    /// --exact-lag-fetches is on (collector/exact.rs); analysis prefers them
    /// to the interpolated estimate.
    pub exact_timestamps: Vec<ExactTimestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactTimestamp {
    pub topic: Name,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerSample {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TopicSample {
    pub name: Name,
    pub internal: bool,
    pub partitions: Vec<PartitionSample>,
}

#[derive(Debug, Clone, Default)]
pub struct PartitionSample {
    pub partition: i32,
    pub leader: i32,
    pub replicas: BrokerIds,
    pub isr: BrokerIds,
    pub low_watermark: Option<i64>,
    pub high_watermark: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct GroupSample {
    pub group: Name,
    /// Classic, consumer (KIP-848), share (KIP-932), ...; `None` when the
    /// broker does not say (before ListGroups v5): a classic group.
    pub group_type: Option<GroupType>,
    /// Broker-reported state (Stable, Empty, ...); `None` when unknown.
    pub state: Option<Name>,
    /// Why state/members are unknown, when they are (the same text for
    /// every group of a broker: shared).
    pub state_note: Option<Name>,
    /// `None` when the broker could not describe the group.
    pub members: Option<Vec<MemberSample>>,
    pub offsets: Vec<CommittedOffset>,
    pub error: Option<Name>,
}

/// The kinds of group a broker lists (KIP-848, KIP-932, KIP-1071). Each is
/// described by its own request; DescribeGroups knows only classic groups
/// and answers the others with an error or as "Dead", which is how peers
/// came to show healthy KIP-848 and share groups as dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    /// The rebalance protocol of JoinGroup/SyncGroup; DescribeGroups.
    Classic,
    /// KIP-848 consumer groups (`group.protocol=consumer`); ConsumerGroupDescribe.
    Consumer,
    /// KIP-932 share groups (queues); ShareGroupDescribe. No committed offsets.
    Share,
    /// KIP-1071 Kafka Streams groups; state from ListGroups only.
    Streams,
    /// A kind newer than this build: state from ListGroups only.
    Other,
}

impl GroupType {
    /// From ListGroups' `GroupType` field; unknown kinds are kept out of the
    /// describe paths rather than described wrongly.
    pub fn parse(text: &str) -> GroupType {
        match text.to_ascii_lowercase().as_str() {
            "classic" => GroupType::Classic,
            "consumer" => GroupType::Consumer,
            "share" => GroupType::Share,
            "streams" => GroupType::Streams,
            _ => GroupType::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
            GroupType::Streams => "streams",
            GroupType::Other => "other",
        }
    }

    /// Whether the group commits offsets that OffsetFetch returns: share
    /// groups keep their progress in share-partition state instead.
    pub fn commits_offsets(self) -> bool {
        !matches!(self, GroupType::Share)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberSample {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// Partitions the group leader assigned to this member (consumer
    /// protocol groups only; empty when unknown).
    pub assignment: Vec<TopicAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicAssignment {
    pub topic: String,
    pub partitions: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: Name,
    pub partition: i32,
    /// Unknown: the group has no commit on this partition yet.
    pub offset: OptionalOffset,
}

/// Status of a group; see the README's "What the numbers mean".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum GroupStatus {
    Ok,
    Empty,
    Warn,
    Rewind,
    Stall,
    Stop,
    Err,
    Dead,
    Unknown,
}

impl GroupStatus {
    pub const ALL: [GroupStatus; 9] = [
        GroupStatus::Ok,
        GroupStatus::Empty,
        GroupStatus::Warn,
        GroupStatus::Rewind,
        GroupStatus::Stall,
        GroupStatus::Stop,
        GroupStatus::Err,
        GroupStatus::Dead,
        GroupStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Ok => "OK",
            GroupStatus::Empty => "EMPTY",
            GroupStatus::Warn => "WARN",
            GroupStatus::Rewind => "REWIND",
            GroupStatus::Stall => "STALL",
            GroupStatus::Stop => "STOP",
            GroupStatus::Err => "ERR",
            GroupStatus::Dead => "DEAD",
            GroupStatus::Unknown => "UNKNOWN",
        }
    }

    /// Numeric code for graphs and alert thresholds, 0 healthy and higher
    /// worse: 0 OK, 1 EMPTY, 2 UNKNOWN, 3 WARN, 4 REWIND, 5 STALL, 6 STOP,
    /// 7 DEAD, 8 ERR. Public contract: InfluxDB's and Elasticsearch's
    /// `status_code` and Prometheus' `kafka_pulse_group_status_code` are this
    /// number, and the dashboards decode it; append new statuses, never
    /// renumber.
    pub fn code(self) -> u8 {
        match self {
            GroupStatus::Ok => 0,
            GroupStatus::Empty => 1,
            GroupStatus::Unknown => 2,
            GroupStatus::Warn => 3,
            GroupStatus::Rewind => 4,
            GroupStatus::Stall => 5,
            GroupStatus::Stop => 6,
            GroupStatus::Dead => 7,
            GroupStatus::Err => 8,
        }
    }

    /// Higher is worse; the group status is the worst of its partitions.
    pub fn severity(self) -> u8 {
        match self {
            GroupStatus::Ok | GroupStatus::Empty | GroupStatus::Unknown => 0,
            GroupStatus::Warn | GroupStatus::Rewind => 1,
            GroupStatus::Stall | GroupStatus::Stop | GroupStatus::Dead => 2,
            GroupStatus::Err => 3,
        }
    }
}

/// Everything a reader needs about the cluster at one instant, analysed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Increases by one per tick; lets clients spot missed updates.
    pub sequence: u64,
    pub taken_at: DateTime<Utc>,
    pub sample_duration_seconds: f64,
    pub kafka_up: bool,
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<BrokerSample>,
    pub topics: Vec<TopicView>,
    pub groups: Vec<GroupView>,
    pub errors: Vec<String>,
}

impl Snapshot {
    /// The cluster's name in every output (the `cluster` label, tag and
    /// field): the configured name, else the id Kafka reports, else
    /// `default`.
    pub fn cluster_label<'a>(&'a self, configured: Option<&'a str>) -> &'a str {
        configured
            .or(self.cluster_id.as_deref())
            .filter(|c| !c.is_empty())
            .unwrap_or(DEFAULT_CLUSTER_NAME)
    }

    pub fn topic(&self, name: &str) -> Option<&TopicView> {
        self.topics.iter().find(|t| t.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&GroupView> {
        self.groups.iter().find(|g| g.group == name)
    }

    pub fn total_depth(&self) -> i64 {
        self.topics.iter().map(|t| t.depth).sum()
    }

    pub fn total_in_per_sec(&self) -> f64 {
        self.topics.iter().map(|t| t.messages_in_per_sec).sum()
    }

    pub fn total_out_per_sec(&self) -> f64 {
        self.topics.iter().map(|t| t.messages_out_per_sec).sum()
    }

    /// Partitions whose in-sync replica set is smaller than the replica set.
    pub fn under_replicated_partitions(&self) -> usize {
        self.partitions()
            .filter(|p| p.isr.len() < p.replicas.len())
            .count()
    }

    /// Partitions without a leader: unreadable and unwritable.
    pub fn offline_partitions(&self) -> usize {
        self.partitions().filter(|p| p.leader < 0).count()
    }

    pub fn partitions(&self) -> impl Iterator<Item = &PartitionView> {
        self.topics.iter().flat_map(|t| t.partitions.iter())
    }

    pub fn total_lag(&self) -> i64 {
        self.groups.iter().map(|g| g.lag).sum()
    }

    /// The group a cluster summary shows: the most severe status, and of
    /// those the largest lag.
    pub fn worst_group(&self) -> Option<&GroupView> {
        self.groups
            .iter()
            .max_by_key(|g| (g.status.severity(), g.lag))
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TopicView {
    pub name: Name,
    pub internal: bool,
    pub depth: i64,
    pub messages_in_per_sec: f64,
    pub messages_out_per_sec: f64,
    pub partitions: Vec<PartitionView>,
    /// Groups with commits on this topic.
    pub groups: Vec<Name>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PartitionView {
    pub partition: i32,
    pub leader: i32,
    pub replicas: BrokerIds,
    pub isr: BrokerIds,
    pub low_watermark: Option<i64>,
    pub high_watermark: Option<i64>,
    pub depth: i64,
    pub messages_in_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub group: Name,
    /// Classic, consumer (KIP-848), share (KIP-932), ...; `None` when the
    /// broker does not say.
    pub group_type: Option<GroupType>,
    /// Broker state, "Unknown" when the broker cannot say.
    pub state: Name,
    pub state_note: Option<Name>,
    pub status: GroupStatus,
    pub reason: String,
    pub members: Option<Vec<MemberSample>>,
    pub lag: i64,
    pub lag_seconds: f64,
    /// Messages deleted before the group read them (retention or
    /// DeleteRecords moved the log start past its committed offset); they
    /// are not counted in `lag`.
    pub lost_messages: i64,
    /// Estimated seconds until lag is 0 at the recent pace; `None` when the
    /// group is not catching up.
    pub time_to_clear_seconds: Option<f64>,
    pub messages_out_per_sec: f64,
    pub topics: Vec<GroupTopicView>,
    pub partitions: Vec<GroupPartitionView>,
    pub error: Option<Name>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupTopicView {
    pub topic: Name,
    pub lag: i64,
    pub lag_seconds: f64,
    pub messages_out_per_sec: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupPartitionView {
    pub topic: Name,
    pub partition: i32,
    pub committed_offset: OptionalOffset,
    pub high_watermark: OptionalOffset,
    pub lag: i64,
    pub lag_seconds: f64,
    /// Log start − committed offset when the committed offset is below the
    /// log start: messages the group will never read.
    pub lost_messages: i64,
    /// lag_seconds comes from the real timestamp of the message at the
    /// committed offset, not from the interpolated estimate.
    pub lag_seconds_exact: bool,
    pub messages_out_per_sec: f64,
}

/// `text` with control characters written as escapes (`\n`, `\u{1b}`), for
/// log lines: topic and group names are arbitrary bytes, and a raw newline
/// in a name would split one log line in two (or forge a second one).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// Something that happened, for people: shown on the page, served by the
/// API, shipped to Elasticsearch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Event {
    pub timestamp: DateTime<Utc>,
    /// What happened, e.g. `group_status_changed`, `topic_created`.
    pub kind: String,
    /// The topic, group or broker it happened to.
    pub subject: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Event {
    pub fn new(
        timestamp: DateTime<Utc>,
        kind: &str,
        subject: &str,
        message: impl Into<String>,
    ) -> Self {
        Event {
            timestamp,
            kind: kind.to_string(),
            subject: subject.to_string(),
            message: message.into(),
            topic: None,
            group: None,
        }
    }

    pub fn for_topic(mut self, topic: &str) -> Self {
        self.topic = Some(topic.to_string());
        self
    }

    /// The event as one log line's parts, control characters escaped.
    pub fn printable_parts(&self) -> (std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>) {
        (printable(&self.subject), printable(&self.message))
    }

    pub fn for_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters_and_keeps_the_rest() {
        assert_eq!(printable("orders-eu é"), "orders-eu é");
        assert_eq!(printable("a\nb\r\t\u{1b}[31m"), "a\\nb\\r\\t\\u{1b}[31m");
        let event = Event::new(
            Utc::now(),
            "group_created",
            "x\nkafka_group",
            "group x\nforged",
        );
        let (subject, message) = event.printable_parts();
        assert!(!subject.contains('\n') && !message.contains('\n'));
    }

    /// Every output (the /metrics label, InfluxDB's tag, Elasticsearch's
    /// and the webhook's field) names the cluster this way.
    #[test]
    fn the_cluster_label_prefers_configuration_then_kafka() {
        let mut snapshot = Snapshot::default();
        assert_eq!(snapshot.cluster_label(None), "default");
        assert_eq!(snapshot.cluster_label(Some("prod")), "prod");
        snapshot.cluster_id = Some("abc".into());
        assert_eq!(snapshot.cluster_label(Some("prod")), "prod");
        assert_eq!(snapshot.cluster_label(None), "abc");
        snapshot.cluster_id = Some(String::new());
        assert_eq!(snapshot.cluster_label(None), "default");
    }
}

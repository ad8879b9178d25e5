//! The data that flows through kafka-pulse: raw `Sample`s from the collector
//! and the analysed `Snapshot` every reader (web, metrics, sinks) sees.
//! DESIGN.md "Semantics" defines every number here.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

/// A topic or group name. Cloning shares one allocation: at 50,000 groups
/// × 4 partitions a name is held hundreds of thousands of times per tick
/// (sample, analyzer, snapshot, history), and a `String` each time was a
/// large part of the process's memory. Serializes as a plain string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Name {
    fn default() -> Self {
        Name(Arc::from(""))
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Name(Arc::from(name))
    }
}

impl From<String> for Name {
    fn from(name: String) -> Self {
        Name(Arc::from(name))
    }
}

impl From<&String> for Name {
    fn from(name: &String) -> Self {
        Name(Arc::from(name.as_str()))
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0.to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, other: &Name) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, other: &Name) -> bool {
        *self == &*other.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Hands out one shared `Name` per distinct string, so a topic named in
/// 200,000 committed offsets is allocated once.
#[derive(Debug, Default)]
pub struct Names(std::collections::HashSet<Name>);

impl Names {
    /// Makes `name` the one handed out for its text.
    pub fn insert(&mut self, name: Name) {
        self.0.insert(name);
    }

    pub fn get(&mut self, name: &str) -> Name {
        if let Some(known) = self.0.get(name) {
            return known.clone();
        }
        let name = Name::from(name);
        self.0.insert(name.clone());
        name
    }
}

/// Broker ids of a partition's replicas or in-sync replicas. Shared: a
/// cluster has a few distinct lists and 40,000 partitions that hold them.
pub type BrokerIds = Arc<[i32]>;

/// Hands out one shared `BrokerIds` per distinct list.
#[derive(Debug, Default)]
pub struct BrokerIdLists(std::collections::HashSet<BrokerIds>);

impl BrokerIdLists {
    pub fn get(&mut self, ids: &[i32]) -> BrokerIds {
        if let Some(known) = self.0.get(ids) {
            return known.clone();
        }
        let ids: BrokerIds = Arc::from(ids);
        self.0.insert(ids.clone());
        ids
    }
}

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

/// An offset that may be unknown, in 8 bytes instead of an `Option<i64>`'s
/// 16 (offsets are never negative): there are 2 per group-partition, and
/// 200,000 group-partitions in each of two snapshots on a big cluster.
/// Serializes as a number or null, like the `Option`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalOffset(i64);

impl OptionalOffset {
    pub const NONE: OptionalOffset = OptionalOffset(-1);

    pub fn get(self) -> Option<i64> {
        (self.0 >= 0).then_some(self.0)
    }
}

impl Default for OptionalOffset {
    fn default() -> Self {
        Self::NONE
    }
}

impl From<Option<i64>> for OptionalOffset {
    /// A negative offset (never valid in Kafka) counts as unknown.
    fn from(offset: Option<i64>) -> Self {
        offset
            .filter(|&o| o >= 0)
            .map_or(Self::NONE, OptionalOffset)
    }
}

impl Serialize for OptionalOffset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

/// Status of a group; see DESIGN.md "status".
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
    /// Broker state, "Unknown" when the broker cannot say.
    pub state: Name,
    pub state_note: Option<Name>,
    pub status: GroupStatus,
    pub reason: String,
    pub members: Option<Vec<MemberSample>>,
    pub lag: i64,
    pub lag_seconds: f64,
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
    /// lag_seconds comes from the real timestamp of the message at the
    /// committed offset, not from the interpolated estimate.
    pub lag_seconds_exact: bool,
    pub messages_out_per_sec: f64,
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

    pub fn for_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_string());
        self
    }
}

//! Small value types that keep the model compact at scale: at 50,000
//! groups × 4 partitions every byte per group-partition is ~200 KB per
//! snapshot, and a snapshot, the one before it, the sample and the
//! analyzer all hold one copy.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

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

//! What the memory-measuring benches share (benches/analysis.rs,
//! benches/memory_hour.rs): a counting allocator over the binary's own, the
//! process's memory from /proc, and the synthetic cluster they feed to the
//! app's analysis and store. Each bench uses a part.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{TimeZone, Utc};
use kafka_pulse::alloc::{ProcessAllocator, PROCESS_ALLOCATOR};
use kafka_pulse::model::{
    BrokerIds, CommittedOffset, GroupSample, Name, PartitionSample, Sample, TopicSample,
};

pub const MIB: f64 = 1024.0 * 1024.0;
pub const PARTITIONS_PER_TOPIC: usize = 4;

/// Counts live heap bytes so a report can say which part holds what; the
/// allocations themselves go to the binary's allocator (src/alloc.rs), so
/// RSS is the app's.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static INNER: ProcessAllocator = PROCESS_ALLOCATOR;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { INNER.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { INNER.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { INNER.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// The tests' /proc reader, so the benches read memory the same way.
#[path = "../../tests/common/proc_status.rs"]
mod proc_status;
use proc_status::proc_field;

/// Live heap (bytes allocated and not yet freed), in MiB.
pub fn live_mib() -> f64 {
    LIVE.load(Ordering::Relaxed) as f64 / MIB
}

pub fn rss_mib() -> f64 {
    proc_field("/proc/self/status", "VmRSS:") / 1024.0
}

/// Peak resident set (VmHWM).
pub fn peak_rss_mib() -> f64 {
    proc_field("/proc/self/status", "VmHWM:") / 1024.0
}

pub fn available_mib() -> f64 {
    proc_field("/proc/meminfo", "MemAvailable:") / 1024.0
}

/// Cheap deterministic noise, so watermarks move irregularly (bursts) and
/// the time tables keep their full number of points, as on a real cluster.
pub fn noise(a: u64, b: u64) -> u64 {
    let mut x = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// A synthetic cluster: `partitions` partitions in topics of 4, each group
/// reads one topic and commits a bit behind the high watermark.
pub struct Cluster {
    pub topics: Vec<String>,
    pub groups: Vec<String>,
    /// High watermark per partition, advanced in bursts each tick.
    pub highs: Vec<i64>,
}

impl Cluster {
    pub fn new(partitions: usize, groups: usize) -> Self {
        Cluster {
            topics: (0..partitions / PARTITIONS_PER_TOPIC)
                .map(|t| format!("topic-{t:05}"))
                .collect(),
            groups: (0..groups).map(|g| format!("group-{g:05}")).collect(),
            highs: vec![1_000; partitions],
        }
    }

    pub fn advance(&mut self, tick: i64) {
        for (i, high) in self.highs.iter_mut().enumerate() {
            *high += (noise(tick as u64, i as u64) % 200) as i64;
        }
    }

    /// The sample of `tick`, taken `time` simulated seconds after the
    /// synthetic clock's start; without groups when `with_groups` is false
    /// (a warm-up that only fills the time tables).
    pub fn sample(&self, tick: i64, time: i64, with_groups: bool) -> Sample {
        let topics = self.topics.len();
        // Like the collector: names are new each tick, and commits share
        // their topic's name.
        let topic_names: Vec<Name> = self.topics.iter().map(|t| Name::from(t.as_str())).collect();
        let replicas: BrokerIds = vec![0, 1, 2].into();
        Sample {
            taken_at: Utc.timestamp_opt(1_700_000_000 + time, 0).unwrap(),
            kafka_up: true,
            topics: topic_names
                .iter()
                .enumerate()
                .map(|(t, name)| TopicSample {
                    name: name.clone(),
                    internal: false,
                    partitions: (0..PARTITIONS_PER_TOPIC)
                        .map(|p| PartitionSample {
                            partition: p as i32,
                            leader: p as i32 % 3,
                            replicas: replicas.clone(),
                            isr: replicas.clone(),
                            low_watermark: Some(0),
                            high_watermark: Some(self.highs[t * PARTITIONS_PER_TOPIC + p]),
                        })
                        .collect(),
                })
                .collect(),
            groups: if with_groups {
                self.groups
                    .iter()
                    .enumerate()
                    .map(|(g, name)| {
                        let topic = g % topics;
                        GroupSample {
                            group: name.as_str().into(),
                            offsets: (0..PARTITIONS_PER_TOPIC)
                                .map(|p| {
                                    let high = self.highs[topic * PARTITIONS_PER_TOPIC + p];
                                    let behind = noise(tick as u64, (g * 8 + p) as u64) % 500;
                                    CommittedOffset {
                                        topic: topic_names[topic].clone(),
                                        partition: p as i32,
                                        offset: Some((high - behind as i64).max(0)).into(),
                                    }
                                })
                                .collect(),
                            ..GroupSample::default()
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            },
            ..Sample::default()
        }
    }
}

//! The part of /metrics that moves between snapshots: the collector's tick
//! histogram, Kafka request statistics, sink counters and web auth
//! failures. Rendered for every scrape, never cached.
//!
//! Why per scrape and not with the snapshot: these are counters, and a
//! cached copy would be as old as the snapshot it was rendered with (more
//! than one interval when a tick is slow, e.g. while Kafka times out), and
//! two bodies rendered concurrently for consecutive snapshots could read
//! them in the opposite order, so a counter could go backwards between two
//! scrapes. Read at scrape time they are exact and monotonic, and they are
//! small: ~250 lines (13 per Kafka request type, 4 per sink), a few
//! microseconds (see bench/README.md, "/metrics").

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::text::{number, Series, Writer};
use crate::store::{DurationHistogram, RequestStat, SinkCounters, Store};
use crate::web::auth::AccessPolicy;

/// The values, read once per scrape: each cluster's (its store's), then
/// the process's own.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub clusters: Vec<ClusterCounters>,
    pub auth_failures: u64,
}

/// What one cluster's store counts; its series carry its `cluster` label.
#[derive(Debug, Clone, Default)]
pub struct ClusterCounters {
    pub cluster: String,
    pub sample_durations: DurationHistogram,
    pub requests: Vec<(String, RequestStat)>,
    pub sinks: Vec<(String, Arc<SinkCounters>)>,
}

impl ClusterCounters {
    /// `cluster`: its label (as its latest snapshot is labelled).
    pub fn read(cluster: &str, store: &Store) -> Self {
        ClusterCounters {
            cluster: cluster.to_string(),
            sample_durations: store.sample_durations(),
            requests: store.request_stats(),
            sinks: store.sinks(),
        }
    }
}

impl Counters {
    /// One unnamed cluster's counters and the process's.
    pub fn read(store: &Store, access: &AccessPolicy) -> Self {
        let label = store.latest().cluster_label(None).to_string();
        Counters::read_all(&[(label.as_str(), store)], access)
    }

    /// Every cluster's counters (label, store) and the process's.
    pub fn read_all(clusters: &[(&str, &Store)], access: &AccessPolicy) -> Self {
        Counters {
            clusters: clusters
                .iter()
                .map(|(label, store)| ClusterCounters::read(label, store))
                .collect(),
            auth_failures: access.failures.load(Ordering::Relaxed),
        }
    }

    /// Each family once, every cluster's series under it.
    pub fn render(&self) -> String {
        let requests: usize = self.clusters.iter().map(|c| c.requests.len()).sum();
        let mut w = Writer::with_capacity(4096 + 1500 * requests);
        const TICK: &str = "kafka_pulse_collector_sample_duration_seconds";
        w.family(TICK, "histogram", "Time one collector tick took.");
        for c in &self.clusters {
            histogram(
                &mut w,
                TICK,
                &[("cluster", &c.cluster)],
                &c.sample_durations,
            );
        }
        render_request_stats(&mut w, &self.clusters);
        render_sinks(&mut w, &self.clusters);
        render_web_auth(&mut w, self.auth_failures);
        w.finish()
    }
}

/// Duration histogram and error counter of each Kafka request type.
fn render_request_stats(w: &mut Writer, clusters: &[ClusterCounters]) {
    const NAME: &str = "kafka_pulse_kafka_request_duration_seconds";
    w.family(
        NAME,
        "histogram",
        "Time of each Kafka request the collector sent, by request type.",
    );
    for c in clusters {
        for (api, stat) in &c.requests {
            let labels = [("cluster", c.cluster.as_str()), ("api", api.as_str())];
            histogram(w, NAME, &labels, &stat.durations);
        }
    }
    w.family(
        "kafka_pulse_kafka_request_errors_total",
        "counter",
        "Kafka requests that failed (timeout, connection, protocol), by request type.",
    );
    for c in clusters {
        for (api, stat) in &c.requests {
            w.series("kafka_pulse_kafka_request_errors_total")
                .label("cluster", &c.cluster)
                .label("api", api)
                .int(stat.errors as i64);
        }
    }
}

/// Sent, dropped and failed points of each sink, and its queue length.
fn render_sinks(w: &mut Writer, clusters: &[ClusterCounters]) {
    type SinkValue = fn(&SinkCounters) -> u64;
    let families: [(&str, &str, &str, SinkValue); 5] = [
        (
            "kafka_pulse_sink_points_sent_total",
            "counter",
            "Points (lines, documents) the sink delivered.",
            |c| SinkCounters::get(&c.sent),
        ),
        (
            "kafka_pulse_sink_points_dropped_total",
            "counter",
            "Points the sink gave up on (queue full, rejected, shutdown).",
            |c| SinkCounters::get(&c.dropped),
        ),
        (
            "kafka_pulse_sink_errors_total",
            "counter",
            "Failed delivery attempts.",
            |c| SinkCounters::get(&c.errors),
        ),
        (
            "kafka_pulse_sink_queue_points",
            "gauge",
            "Points waiting in the sink's queue.",
            |c| SinkCounters::get(&c.queued),
        ),
        (
            "kafka_pulse_sink_queue_bytes",
            "gauge",
            "Encoded bytes waiting in the sink's queue (what an outage costs in memory).",
            |c| SinkCounters::get(&c.queued_bytes),
        ),
    ];
    for (name, kind, help, value) in families {
        w.family(name, kind, help);
        for c in clusters {
            for (sink, counters) in &c.sinks {
                w.series(name)
                    .label("cluster", &c.cluster)
                    .label("sink", sink)
                    .int(value(counters) as i64);
            }
        }
    }
}

/// Requests refused for missing or wrong credentials: an alert on its rate
/// shows someone guessing or a client with a stale secret.
/// Process-wide (the web server is shared): no cluster label.
fn render_web_auth(w: &mut Writer, failures: u64) {
    w.family(
        "kafka_pulse_web_auth_failures_total",
        "counter",
        "Web requests refused for missing or wrong credentials (--auth-token-file).",
    );
    w.series("kafka_pulse_web_auth_failures_total")
        .int(failures as i64);
}

/// Writes `_bucket`, `_sum` and `_count` lines of one histogram.
fn histogram(w: &mut Writer, name: &str, labels: &[(&str, &str)], values: &DurationHistogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (bound, count) in values.buckets() {
        cumulative += count;
        labelled(w, &bucket, labels)
            .label("le", &number(bound))
            .int(cumulative as i64);
    }
    labelled(w, &bucket, labels)
        .label("le", "+Inf")
        .int(values.count() as i64);
    labelled(w, &format!("{name}_sum"), labels).value(values.sum());
    labelled(w, &format!("{name}_count"), labels).int(values.count() as i64);
}

fn labelled<'w>(w: &'w mut Writer, name: &str, labels: &[(&str, &str)]) -> Series<'w> {
    labels
        .iter()
        .fold(w.series(name), |line, (key, value)| line.label(key, value))
}

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

/// The values, read once per scrape.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub sample_durations: DurationHistogram,
    pub requests: Vec<(String, RequestStat)>,
    pub sinks: Vec<(String, Arc<SinkCounters>)>,
    pub auth_failures: u64,
}

impl Counters {
    pub fn read(store: &Store, access: &AccessPolicy) -> Self {
        Counters {
            sample_durations: store.sample_durations(),
            requests: store.request_stats(),
            sinks: store.sinks(),
            auth_failures: access.failures.load(Ordering::Relaxed),
        }
    }

    pub fn render(&self) -> String {
        let mut w = Writer::with_capacity(4096 + 1500 * self.requests.len());
        w.family(
            "kafka_pulse_collector_sample_duration_seconds",
            "histogram",
            "Time one collector tick took.",
        );
        histogram(
            &mut w,
            "kafka_pulse_collector_sample_duration_seconds",
            None,
            &self.sample_durations,
        );
        let mut out = w.out;
        render_request_stats(&mut out, &self.requests);
        render_sinks(&mut out, &self.sinks);
        render_web_auth(&mut out, self.auth_failures);
        out
    }
}

/// Duration histogram and error counter of each Kafka request type.
pub fn render_request_stats(out: &mut String, stats: &[(String, RequestStat)]) {
    let mut w = Writer::resume(std::mem::take(out));
    const NAME: &str = "kafka_pulse_kafka_request_duration_seconds";
    w.family(
        NAME,
        "histogram",
        "Time of each Kafka request the collector sent, by request type.",
    );
    for (api, stat) in stats {
        histogram(&mut w, NAME, Some(("api", api)), &stat.durations);
    }
    w.family(
        "kafka_pulse_kafka_request_errors_total",
        "counter",
        "Kafka requests that failed (timeout, connection, protocol), by request type.",
    );
    for (api, stat) in stats {
        w.series("kafka_pulse_kafka_request_errors_total")
            .label("api", api)
            .int(stat.errors as i64);
    }
    *out = w.out;
}

/// Sent, dropped and failed points of each sink, and its queue length.
pub fn render_sinks(out: &mut String, sinks: &[(String, Arc<SinkCounters>)]) {
    let mut w = Writer::resume(std::mem::take(out));
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
        for (sink, counters) in sinks {
            w.series(name)
                .label("sink", sink)
                .int(value(counters) as i64);
        }
    }
    *out = w.out;
}

/// Requests refused for missing or wrong credentials: an alert on its rate
/// shows someone guessing or a client with a stale secret.
fn render_web_auth(out: &mut String, failures: u64) {
    let mut w = Writer::resume(std::mem::take(out));
    w.family(
        "kafka_pulse_web_auth_failures_total",
        "counter",
        "Web requests refused for missing or wrong credentials (--auth-token-file).",
    );
    w.series("kafka_pulse_web_auth_failures_total")
        .int(failures as i64);
    *out = w.out;
}

/// Writes `_bucket`, `_sum` and `_count` lines of one histogram.
fn histogram(w: &mut Writer, name: &str, label: Option<(&str, &str)>, values: &DurationHistogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (bound, count) in values.buckets() {
        cumulative += count;
        labelled(w, &bucket, label)
            .label("le", &number(bound))
            .int(cumulative as i64);
    }
    labelled(w, &bucket, label)
        .label("le", "+Inf")
        .int(values.count() as i64);
    labelled(w, &format!("{name}_sum"), label).value(values.sum());
    labelled(w, &format!("{name}_count"), label).int(values.count() as i64);
}

fn labelled<'w>(w: &'w mut Writer, name: &str, label: Option<(&str, &str)>) -> Series<'w> {
    let line = w.series(name);
    match label {
        Some((key, value)) => line.label(key, value),
        None => line,
    }
}

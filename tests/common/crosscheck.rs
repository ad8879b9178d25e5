//! Cross-check with an independent client: python confluent-kafka
//! (tests/python/crosscheck.py) produces, consumes and commits, then reports
//! its own view of watermarks and committed offsets; kafka-pulse's API must
//! agree partition by partition. Run on the embedded broker
//! (tests/crosscheck.rs) and on real Kafka (tests/real_kafka.rs).

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{get_json, wait_for_json};

/// `Err(reason)` when python3 or its confluent_kafka module is missing.
pub fn confluent_kafka_available() -> Result<(), String> {
    let output = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err("python module confluent_kafka missing (pip install confluent-kafka)".into())
    }
}

/// What the script does: partitions of the topic it creates, messages it
/// produces, messages its group consumes and commits.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    pub partitions: i32,
    pub produce: i64,
    pub consume: i64,
}

/// The script's defaults (tests/crosscheck.rs, tests/real_kafka.rs).
pub const DEFAULT_TRAFFIC: Traffic = Traffic {
    partitions: 4,
    produce: 500,
    consume: 170,
};

/// Runs the script against `bootstrap` (it creates `topic`) and compares
/// its view with kafka-pulse's API at `base`.
pub async fn confluent_kafka_agrees(base: &str, bootstrap: &str, topic: &str, group: &str) {
    confluent_kafka_agrees_at(base, "/api/v1", bootstrap, topic, group, DEFAULT_TRAFFIC).await
}

/// [`confluent_kafka_agrees`] for one cluster's API under `api` (`/api/v1`
/// or `/api/v1/clusters/NAME`) with `traffic` of its own.
pub async fn confluent_kafka_agrees_at(
    base: &str,
    api: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    traffic: Traffic,
) {
    let (bootstrap, topic_arg, group_arg) =
        (bootstrap.to_string(), topic.to_string(), group.to_string());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/crosscheck.py");
    let counts =
        [traffic.partitions as i64, traffic.produce, traffic.consume].map(|n| n.to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args([script, &bootstrap, &topic_arg, &group_arg])
            .args(&counts)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "crosscheck.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Value = serde_json::from_slice(&output.stdout).expect("JSON from python");
    let partitions = theirs["partitions"].as_array().unwrap();
    let produced: i64 = partitions
        .iter()
        .map(|p| p["high"].as_i64().unwrap() - p["low"].as_i64().unwrap())
        .sum();
    assert_eq!(produced, traffic.produce, "{theirs}");
    assert_eq!(partitions.len(), traffic.partitions as usize, "{theirs}");
    let expected_lag: i64 = partitions
        .iter()
        .map(|p| {
            let high = p["high"].as_i64().unwrap();
            match p["committed"].as_i64().unwrap() {
                c if c >= 0 => high - c,
                _ => high - p["low"].as_i64().unwrap(), // no commit: whole depth
            }
        })
        .sum();
    assert_eq!(expected_lag, traffic.produce - traffic.consume, "{theirs}");

    let ours = wait_for_json(
        base,
        &format!("{api}/groups/{group}"),
        Duration::from_secs(30),
        |b| b["lag"] == expected_lag,
    )
    .await;
    let (_, topic) = get_json(base, &format!("{api}/topics/{topic}")).await;
    for p in partitions {
        let partition = p["partition"].as_i64().unwrap();
        let mine = topic["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["partition"] == partition)
            .unwrap();
        assert_eq!(mine["low_watermark"], p["low"], "partition {partition}");
        assert_eq!(mine["high_watermark"], p["high"], "partition {partition}");
        let committed = p["committed"].as_i64().unwrap();
        let row = ours["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["partition"] == partition);
        match row {
            Some(row) if committed >= 0 => assert_eq!(row["committed_offset"], committed),
            Some(row) => assert!(row["committed_offset"].is_null(), "{row}"),
            None => assert!(
                committed < 0,
                "partition {partition} committed {committed} but missing"
            ),
        }
    }
}

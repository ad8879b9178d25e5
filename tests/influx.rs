//! The InfluxDB sink against real servers: InfluxDB 1.6 (v1 /write and
//! InfluxQL) and VictoriaMetrics (/api/v2/write). Known traffic goes in; the
//! stored points carry the same numbers the JSON API served at the same
//! timestamps; every Grafana query returns rows; an outage loses nothing
//! within the queue bound.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::servers::{self, require};
use common::*;
use kafka_pulse::app;
use kafka_pulse::sinks::influxdb::config::{InfluxApi, InfluxConfig};
use kafka_pulse::sinks::influxdb::encoder::{encode_snapshot, Precision};
use serde_json::Value;
use url::Url;

const CLUSTER: &str = "test-cluster";
/// A second cluster's name in the database the dashboards read.
const OTHER: &str = "other";
const WAIT: Duration = Duration::from_secs(30);

fn v1_config(base: &str, database: &str) -> InfluxConfig {
    InfluxConfig {
        url: Url::parse(base).unwrap(),
        api: InfluxApi::V1 {
            database: database.into(),
            retention_policy: None,
            username: None,
            password: None,
        },
        precision: Precision::Milliseconds,
        gzip: true,
        queue_lines: 500_000,
        per_partition: true,
    }
}

async fn influxql(base: &str, database: &str, query: &str) -> Value {
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}/query"))
        .query(&[("db", database), ("q", query), ("epoch", "ms")])
        .send()
        .await
        .expect("query");
    response.json().await.expect("JSON answer")
}

async fn create_database(base: &str, name: &str) {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/query"))
        .form(&[("q", format!("CREATE DATABASE \"{name}\""))])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

/// Rows of the first series of the first result, as column-name maps.
fn rows(answer: &Value) -> Vec<HashMap<String, Value>> {
    let series = &answer["results"][0]["series"][0];
    let columns: Vec<String> = series["columns"]
        .as_array()
        .map(|c| c.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    series["values"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|row| {
                    columns
                        .iter()
                        .cloned()
                        .zip(row.as_array().unwrap().iter().cloned())
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_for_influx(
    base: &str,
    db: &str,
    query: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = influxql(base, db, query).await;
        if check(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{query} never satisfied: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two groups on one topic: `lagging` read 40 of 100, `caught-up` all.
async fn known_traffic(bootstrap: &str, topic: &str) {
    kafka_pulse::demo::ensure_topic(bootstrap, topic, 2)
        .await
        .unwrap();
    produce_split(bootstrap, topic, &[(0, 60), (1, 40)]).await;
    consume_and_commit(bootstrap, "lagging", topic, &[(0, 20), (1, 20)]).await;
    consume_and_commit(bootstrap, "caught-up", topic, &[(0, 60), (1, 40)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn influxdb_v1_stores_what_the_api_served_and_every_grafana_query_has_rows() {
    let Some(influx) = require(servers::influxd()) else {
        return;
    };
    create_database(&influx.base, "kafka").await;
    let mut config = test_config(None, None);
    config.cluster_name = Some(CLUSTER.into());
    config.influx = Some(v1_config(&influx.base, "kafka"));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    known_traffic(&running.kafka_bootstrap, "sunk").await;
    wait_for_json(&base, "/api/v1/groups/lagging", WAIT, |b| b["lag"] == 60).await;

    // The same timestamps hold the same numbers in the API's history and in InfluxDB.
    let answer = wait_for_influx(
        &influx.base,
        "kafka",
        "SELECT \"depth\", \"messages_in_per_sec\" FROM \"kafka_topic\" WHERE \"topic\" = 'sunk'",
        |a| rows(a).iter().any(|r| r["depth"] == 100),
    )
    .await;
    let stored: HashMap<i64, (Value, Value)> = rows(&answer)
        .into_iter()
        .map(|r| {
            (
                r["time"].as_i64().unwrap(),
                (r["depth"].clone(), r["messages_in_per_sec"].clone()),
            )
        })
        .collect();
    let (_, series) = get_json(&base, "/api/v1/series?topic=sunk").await;
    let mut compared = 0;
    for point in series["points"].as_array().unwrap() {
        let time = chrono::DateTime::parse_from_rfc3339(point["time"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        if let Some((depth, rate)) = stored.get(&time) {
            assert_eq!(depth, &point["depth"], "depth at {time}");
            let (a, b) = (
                rate.as_f64().unwrap(),
                point["messages_in_per_sec"].as_f64().unwrap(),
            );
            // The API's history keeps rates as f32 (store.rs), InfluxDB the
            // f64 the sink sent: equal to f32 precision.
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "rate at {time}: {a} vs {b}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 3, "only {compared} timestamps in common");

    let answer = wait_for_influx(
        &influx.base,
        "kafka",
        "SELECT last(\"lag\"), last(\"status_code\") FROM \"kafka_group\" WHERE \"group\" = 'lagging' AND \"cluster\" = 'test-cluster'",
        |a| rows(a).first().is_some_and(|r| r["last"] == 60),
    )
    .await;
    assert_eq!(rows(&answer)[0]["last"], 60);
    let answer = influxql(
        &influx.base,
        "kafka",
        "SELECT last(\"committed_offset\") FROM \"kafka_group_partition\" WHERE \"group\" = 'lagging' GROUP BY \"partition\"",
    )
    .await;
    let per_partition: Vec<i64> = answer["results"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"][0][1].as_i64().unwrap())
        .collect();
    assert_eq!(per_partition, [20, 20]);

    // Let a few seconds of history accumulate for rate and derivative panels.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A second cluster's points next to them (the latest snapshot again,
    // tagged `other`, as the sink encodes it): $cluster tells them apart.
    let mut lines = String::new();
    encode_snapshot(
        &running.store.latest(),
        OTHER,
        Precision::Milliseconds,
        true,
        &mut lines,
    );
    let written = reqwest::Client::new()
        .post(format!("{}/write?db=kafka&precision=ms", influx.base))
        .body(lines)
        .send()
        .await
        .unwrap();
    assert!(written.status().is_success(), "{written:?}");
    run_every_grafana_query(&influx.base, "kafka", "sunk", "lagging").await;

    let (_, health) = get_json(&base, "/api/v1/health").await;
    let sink = &health["sinks"][0];
    assert_eq!(sink["sink"], "influxdb");
    assert!(sink["points_sent"].as_u64().unwrap() > 0);
    assert_eq!(sink["points_dropped"], 0);
    let (_, metrics) = get_text(&base, "/metrics").await;
    assert!(
        metric(
            &metrics,
            "kafka_pulse_sink_points_sent_total{sink=\"influxdb\"}"
        )
        .unwrap()
            > 0.0
    );
    running.stop().await.expect("clean stop");
}

/// Every target and template query of every dashboard in grafana/, with the
/// variables substituted, returns rows from data kafka-pulse wrote: with
/// `$cluster` one name (only that cluster's series come back; Grafana sends
/// a single choice as the bare name) and All (its `allValue`, `.*`: the
/// other cluster's series too).
async fn run_every_grafana_query(influx: &str, db: &str, topic: &str, group: &str) {
    let mut seen_other = 0;
    for (cluster, all) in [(CLUSTER, false), (".*", true)] {
        let (checked, other) = run_grafana_queries(influx, db, topic, group, cluster).await;
        assert!(checked >= 10, "only {checked} Grafana queries found");
        if all {
            seen_other = other;
        } else {
            assert_eq!(other, 0, "$cluster = {CLUSTER} answered {OTHER}'s series");
        }
    }
    assert!(
        seen_other >= 10,
        "All showed {OTHER} in only {seen_other} queries"
    );
}

/// Runs every query with `$cluster` -> `cluster`; how many ran, and in how
/// many a series of cluster [`OTHER`] came back (any other cluster than
/// `cluster` fails).
async fn run_grafana_queries(
    influx: &str,
    db: &str,
    topic: &str,
    group: &str,
    cluster: &str,
) -> (usize, usize) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards");
    let mut checked = 0;
    let mut other = 0;
    for entry in std::fs::read_dir(dir).expect("grafana/dashboards") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The Prometheus dashboards are proven by tests/prometheus.rs.
        if !text.contains("\"kafka-pulse-influxdb\"") {
            continue;
        }
        let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
        let variable = dashboard["templating"]["list"]
            .as_array()
            .and_then(|list| list.iter().find(|v| v["name"] == "cluster"))
            .expect("a cluster variable");
        assert!(
            variable["multi"] == true
                && variable["includeAll"] == true
                && variable["allValue"] == ".*"
                && variable["current"]["value"][0] == "$__all",
            "{}: $cluster is multi-value with All, chosen by default",
            path.display()
        );
        let mut queries = Vec::new();
        collect_queries(&dashboard, &mut queries);
        assert!(!queries.is_empty(), "{} has no queries", path.display());
        for query in queries {
            let concrete = query
                .replace("$timeFilter", "time > now() - 1h")
                .replace("$__interval", "1s")
                .replace("$cluster", cluster)
                .replace("$topic", topic)
                .replace("$group", &format!("({group}|caught-up)"));
            let answer = influxql(influx, db, &concrete).await;
            let result = &answer["results"][0];
            assert!(
                result.get("error").is_none(),
                "{}: {concrete}: {answer}",
                path.display()
            );
            let has_rows = result["series"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|series| series["values"].as_array().is_some_and(|v| !v.is_empty()))
            });
            assert!(has_rows, "{}: no rows for {concrete}", path.display());
            let tagged: Vec<&Value> = result["series"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|series| series["tags"].get("cluster"))
                .collect();
            if !concrete.starts_with("SHOW") {
                assert!(
                    !tagged.is_empty(),
                    "{}: series not split by cluster: {concrete}",
                    path.display()
                );
            }
            for tag in &tagged {
                assert!(
                    cluster == ".*" || *tag == cluster,
                    "{}: {concrete} answered cluster {tag}",
                    path.display()
                );
            }
            other += usize::from(tagged.iter().any(|t| *t == OTHER));
            checked += 1;
        }
    }
    (checked, other)
}

fn collect_queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("query", Value::String(q)) if q.contains("SELECT") || q.contains("SHOW") => {
                        out.push(q.clone())
                    }
                    ("query", Value::Object(o)) => {
                        if let Some(Value::String(q)) = o.get("query") {
                            out.push(q.clone());
                        }
                    }
                    _ => collect_queries(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_queries(i, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn victoria_metrics_takes_v2_writes_with_the_same_numbers() {
    let Some(vm) = require(servers::victoria_metrics()) else {
        return;
    };
    let mut config = test_config(None, None);
    config.cluster_name = Some(CLUSTER.into());
    config.influx = Some(InfluxConfig {
        api: InfluxApi::V2 {
            org: "kafka-org".into(),
            bucket: "kafka".into(),
            token: "not-checked-by-victoria".into(),
        },
        ..v1_config(&vm.base, "unused")
    });
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    known_traffic(&running.kafka_bootstrap, "vm-topic").await;
    wait_for_json(&base, "/api/v1/groups/lagging", WAIT, |b| b["lag"] == 60).await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let answer: Value = client
            .get(format!("{}/api/v1/query", vm.base))
            .query(&[(
                "query",
                "kafka_group_lag{group=\"lagging\",cluster=\"test-cluster\"}",
            )])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let value = answer["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string);
        if value.as_deref() == Some("60") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "VictoriaMetrics never had lag 60: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let answer: Value = client
        .get(format!("{}/api/v1/query", vm.base))
        .query(&[("query", "kafka_topic_depth{topic=\"vm-topic\"}")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["result"][0]["value"][1], "100", "{answer}");
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_influxdb_outage_loses_nothing_within_the_queue_bound() {
    let Some(mut influx) = require(servers::influxd()) else {
        return;
    };
    create_database(&influx.base, "kafka").await;
    let mut config = test_config(None, None);
    config.cluster_name = Some(CLUSTER.into());
    config.influx = Some(v1_config(&influx.base, "kafka"));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    wait_for_json(&base, "/api/v1/health", WAIT, |b| {
        b["sinks"][0]["points_sent"].as_u64().unwrap_or(0) > 0
    })
    .await;

    influx.kill();
    let outage_start = chrono::Utc::now().timestamp_millis();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let outage_end = chrono::Utc::now().timestamp_millis();
    let (_, during) = get_json(&base, "/api/v1/health").await;
    assert!(
        during["sinks"][0]["errors"].as_u64().unwrap() > 0,
        "{during}"
    );
    assert!(
        during["sinks"][0]["queued"].as_u64().unwrap() > 0,
        "{during}"
    );
    // What the outage costs in memory: the queued lines' bytes, more than
    // a few dozen per line.
    assert!(
        during["sinks"][0]["queued_bytes"].as_u64().unwrap()
            > 30 * during["sinks"][0]["queued"].as_u64().unwrap(),
        "{during}"
    );
    influx.start().expect("influxd restarts with its data");

    let health = wait_for_json(&base, "/api/v1/health", WAIT, |b| {
        b["sinks"][0]["queued"] == 0 && b["sinks"][0]["last_error"].is_null()
    })
    .await;
    assert_eq!(health["sinks"][0]["queued_bytes"], 0, "{health}");
    let sequence = health["sequence"].as_i64().unwrap();
    let answer = influxql(
        &influx.base,
        "kafka",
        &format!(
            "SELECT count(\"kafka_up\") FROM \"kafka_pulse\" WHERE time >= {outage_start}ms AND time <= {outage_end}ms"
        ),
    )
    .await;
    let during_outage = rows(&answer)
        .first()
        .map(|r| r["count"].as_i64().unwrap())
        .unwrap_or(0);
    // 4 s of 250 ms samples: ~16 points written while InfluxDB was down
    // (fewer when a loaded machine delays ticks).
    assert!(
        during_outage >= 6,
        "only {during_outage} outage points arrived: {answer}"
    );
    running.stop().await.expect("clean stop");

    let answer = influxql(
        &influx.base,
        "kafka",
        "SELECT count(\"kafka_up\") FROM \"kafka_pulse\"",
    )
    .await;
    let stored = rows(&answer)[0]["count"].as_i64().unwrap();
    assert!(
        stored >= sequence,
        "{stored} points stored for {sequence} samples"
    );
    // Every point produced was either delivered or counted as dropped, and
    // with a queue this size nothing had to be dropped.
    let sink = &health["sinks"][0];
    let produced = sink["points_produced"].as_u64().unwrap();
    let sent = sink["points_sent"].as_u64().unwrap();
    let dropped = sink["points_dropped"].as_u64().unwrap();
    assert_eq!(dropped, 0, "{health}");
    assert_eq!(sent + dropped, produced, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_is_reported_clearly_and_collection_goes_on() {
    let Some(influx) = require(servers::influxd()) else {
        return;
    };
    let mut config = test_config(None, None);
    config.influx = Some(v1_config(&influx.base, "no_such_db"));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let health = wait_for_json(&base, "/api/v1/health", WAIT, |b| {
        b["sinks"][0]["last_error"].is_string() && b["kafka_up"] == true
    })
    .await;
    let error = health["sinks"][0]["last_error"].as_str().unwrap();
    // First the healthcheck's advice, then InfluxDB's own 404 for each write.
    assert!(error.contains("no_such_db"), "{error}");
    let (_, events) = get_json(&base, "/api/v1/events?limit=50").await;
    let failing = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "sink_failing")
        .expect("sink_failing event");
    let message = failing["message"].as_str().unwrap();
    assert!(
        message.contains("no database 'no_such_db'") && message.contains("--influx-db"),
        "{message}"
    );
    let (_, html) = get_text(&base, "/").await;
    assert!(
        html.contains("no_such_db"),
        "the overview shows the sink's trouble"
    );
    running.stop().await.expect("clean stop");
}

/// Group names are arbitrary bytes. Written to real influxd, names with a
/// newline, a trailing backslash, a space and the encoded literal stay
/// distinct series of kafka_group; no measurement or tagless point is
/// injected and nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn odd_group_names_cannot_break_or_inject_lines() {
    let Some(influx) = require(servers::influxd()) else {
        return;
    };
    create_database(&influx.base, "odd").await;
    let mut config = test_config(None, None);
    config.cluster_name = Some(CLUSTER.into());
    config.influx = Some(v1_config(&influx.base, "odd"));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "odd-names", 1)
        .await
        .unwrap();
    produce_split(&bootstrap, "odd-names", &[(0, 10)]).await;
    let names = ["a\nb", "x\nkafka_group", "trail\\", "a b", "a%0Ab"];
    for name in names {
        consume_and_commit(&bootstrap, name, "odd-names", &[(0, 4)]).await;
    }
    wait_for_json(&base, "/api/v1/groups", WAIT, |body| {
        body["groups"]
            .as_array()
            .is_some_and(|list| names.iter().all(|n| list.iter().any(|g| g["group"] == *n)))
    })
    .await;
    let answer = wait_for_influx(
        &influx.base,
        "odd",
        "SHOW TAG VALUES FROM \"kafka_group\" WITH KEY = \"group\"",
        |a| rows(a).len() >= names.len(),
    )
    .await;
    let stored: Vec<String> = rows(&answer)
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_string())
        .collect();
    for name in names {
        let encoded = kafka_pulse::sinks::influxdb::encoder::encode_name(name);
        assert!(
            stored.contains(&encoded),
            "{encoded:?} missing from {stored:?}"
        );
        assert_eq!(
            kafka_pulse::sinks::influxdb::encoder::decode_name(&encoded),
            name
        );
    }
    let measurements = influxql(&influx.base, "odd", "SHOW MEASUREMENTS").await;
    for row in rows(&measurements) {
        let name = row["name"].as_str().unwrap();
        assert!(
            name.starts_with("kafka_"),
            "injected measurement {name:?}: {measurements}"
        );
    }
    let series = influxql(&influx.base, "odd", "SHOW SERIES FROM \"kafka_group\"").await;
    for row in rows(&series) {
        let key = row["key"].as_str().unwrap();
        assert!(key.contains(",group="), "tagless kafka_group point: {key}");
    }
    let (_, health) = get_json(&base, "/api/v1/health").await;
    let sink = &health["sinks"][0];
    assert_eq!(sink["points_dropped"], 0, "{health}");
    assert_eq!(sink["failing"], false, "{health}");
    running.stop().await.expect("clean stop");
}

/// A partial write (influxd refuses some lines and stores the rest) counts
/// only the refused lines as dropped, and the sink shows as failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partial_writes_count_only_refused_lines_and_degrade_health() {
    let Some(influx) = require(servers::influxd()) else {
        return;
    };
    create_database(&influx.base, "conflict").await;
    // `lag` stored as a string first: every kafka_group line now conflicts.
    let response = reqwest::Client::new()
        .post(format!("{}/write?db=conflict", influx.base))
        .body("kafka_group,group=first lag=\"text\"")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let mut config = test_config(None, None);
    config.influx = Some(v1_config(&influx.base, "conflict"));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    known_traffic(&bootstrap, "conflicted").await;
    let health = wait_for_json(&base, "/api/v1/health", WAIT, |body| {
        body["sinks"][0]["points_dropped"].as_u64().unwrap_or(0) > 0
            && body["sinks"][0]["points_sent"].as_u64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["sinks"][0]["failing"], true, "{health}");
    assert!(
        health["sinks"][0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("partial write"),
        "{health}"
    );
    // The refused lines are the kafka_group ones; the topic lines are stored.
    wait_for_influx(
        &influx.base,
        "conflict",
        "SELECT count(\"depth\") FROM \"kafka_topic\" WHERE \"topic\" = 'conflicted'",
        |a| {
            rows(a)
                .first()
                .is_some_and(|r| r["count"].as_u64().unwrap_or(0) > 0)
        },
    )
    .await;
    let (_, events) = get_json(&base, "/api/v1/events?limit=1000").await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "sink_failing"),
        "{events}"
    );
    running.stop().await.expect("clean stop");
    // Every point produced was either sent (stored) or dropped (refused).
}

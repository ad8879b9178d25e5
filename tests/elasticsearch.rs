//! The Elasticsearch sink against a protocol-faithful stand-in server
//! (tests/common/es_server.rs): templates installed, events and metric
//! documents stored with the mapped types, only failed items retried,
//! nothing duplicated, nothing lost across an outage, refusals counted.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::es_server::{EsServer, Fault};
use common::*;
use kafka_pulse::app::{self, RunningApp};
use kafka_pulse::sinks::elasticsearch::config::{EsAuth, EsConfig};
use kafka_pulse::sinks::elasticsearch::templates::{field_types, index_template, EVENTS_STREAM};
use serde_json::Value;
use url::Url;

const WAIT: Duration = Duration::from_secs(30);

async fn start_with(es: &EsServer) -> (RunningApp, String) {
    let mut config = test_config(None, None);
    config.cluster_name = Some("es-test".into());
    config.elasticsearch = Some(EsConfig {
        url: Url::parse(&es.url()).unwrap(),
        auth: EsAuth::Basic {
            username: "elastic".into(),
            password: "changeme".into(),
        },
        ca_certificate: None,
        metrics_interval: Duration::from_secs(1),
        queue_docs: 100_000,
    });
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    // The first sample describes what exists and raises no event: topics
    // the tests create must come after it to give topic_created events
    // (on a loaded machine the first sample can come late).
    wait_for_json(&base, "/api/v1/health", WAIT, |h| {
        h["sequence"].as_u64() >= Some(1)
    })
    .await;
    (running, base)
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn event_ids(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["event"]["id"].as_str().unwrap().to_string())
        .collect()
}

async fn sink_health(base: &str) -> Value {
    let (_, health) = get_json(base, "/api/v1/health").await;
    health["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sink"] == "elasticsearch")
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_and_metrics_arrive_as_typed_documents() {
    let es = EsServer::start().await;
    let (running, base) = start_with(&es).await;
    wait_until("templates", || {
        es.state.lock().unwrap().templates.len() == 2
    })
    .await;
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "shipped", 2)
        .await
        .unwrap();
    produce_split(&bootstrap, "shipped", &[(0, 30), (1, 20)]).await;
    consume_and_commit(&bootstrap, "shipper", "shipped", &[(0, 10), (1, 20)]).await;

    wait_until("topic_created event", || {
        es.documents("kafka-pulse-events")
            .iter()
            .any(|d| d["event"]["action"] == "topic_created" && d["kafka"]["topic"] == "shipped")
    })
    .await;
    wait_until("group metric document with lag 20", || {
        es.documents("kafka-pulse-metrics")
            .iter()
            .any(|d| d["kafka"]["group"] == "shipper" && d["kafka"]["lag"] == 20)
    })
    .await;
    let metrics = es.documents("kafka-pulse-metrics");
    let topic = metrics
        .iter()
        .rev()
        .find(|d| d["kafka"]["topic"] == "shipped" && d["event"]["dataset"] == "kafka_pulse.topic")
        .unwrap();
    assert_eq!(topic["kafka"]["depth"], 50);
    assert_eq!(topic["kafka"]["cluster"], "es-test");
    let event = es
        .documents("kafka-pulse-events")
        .into_iter()
        .find(|d| d["event"]["action"] == "group_created")
        .expect("group_created event");
    assert_eq!(event["kafka"]["group"], "shipper");
    assert_eq!(event["event"]["kind"], "event");
    assert!(event["message"].as_str().unwrap().contains("shipper"));

    let sink = sink_health(&base).await;
    assert!(sink["points_sent"].as_u64().unwrap() > 0, "{sink}");
    assert_eq!(sink["points_dropped"], 0, "{sink}");
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_failed_items_are_retried_and_nothing_is_stored_twice() {
    let es = EsServer::start().await;
    // The first bulk loses items 0 and 2 to 429s, the next two whole
    // requests are refused (429, then 503): the sink must resend exactly
    // what failed and nothing else.
    es.inject(Fault::Items(vec![0, 2]));
    es.inject(Fault::Request(429));
    es.inject(Fault::Request(503));
    let (running, base) = start_with(&es).await;
    let bootstrap = running.kafka_bootstrap.clone();
    for i in 0..6 {
        kafka_pulse::demo::ensure_topic(&bootstrap, &format!("retry-{i}"), 1)
            .await
            .unwrap();
    }
    wait_until("six topic_created events", || {
        es.documents(EVENTS_STREAM)
            .iter()
            .filter(|d| d["event"]["action"] == "topic_created")
            .count()
            == 6
    })
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let sink = sink_health(&base).await;
        if sink["queued"] == 0 && sink["points_produced"] == sink["points_sent"] {
            break;
        }
        assert!(Instant::now() < deadline, "sink never drained: {sink}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let state = es.state.lock().unwrap();
        let mut stored_ids = event_ids(state.documents.get(EVENTS_STREAM).unwrap());
        for docs in state.documents.values() {
            for doc in docs {
                assert!(doc["@timestamp"].is_string());
            }
        }
        let all_stored: usize = state.documents.values().map(Vec::len).sum();
        assert_eq!(
            all_stored,
            state.attempts.len(),
            "every document stored exactly once"
        );
        stored_ids.sort();
        stored_ids.dedup();
        assert_eq!(
            stored_ids.len(),
            state.documents[EVENTS_STREAM].len(),
            "no duplicate events"
        );
        // Whole-request refusals never reach the items; only the item-level
        // 429s (positions 0 and 2 of the first bulk, which may hold fewer
        // than three documents) cause a second attempt, for those items only.
        let retried = state.attempts.values().filter(|&&n| n > 1).count();
        assert!(
            (1..=2).contains(&retried),
            "exactly the failed items are sent again: {:?}",
            state.attempts
        );
        assert!(
            state.attempts.values().all(|&n| n <= 2),
            "{:?}",
            state.attempts
        );
        assert!(state.bulk_requests >= 4);
    }
    let sink = sink_health(&base).await;
    assert_eq!(sink["points_dropped"], 0, "{sink}");
    assert!(sink["errors"].as_u64().unwrap() >= 3, "{sink}");
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_delays_documents_but_loses_none() {
    let es = EsServer::start().await;
    let (running, base) = start_with(&es).await;
    wait_until("templates", || {
        es.state.lock().unwrap().templates.len() == 2
    })
    .await;
    es.state.lock().unwrap().down = true;
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "during-outage", 1)
        .await
        .unwrap();
    wait_for_json(&base, "/api/v1/events?limit=100", WAIT, |b| {
        b["events"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["topic"] == "during-outage"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sink = sink_health(&base).await;
    assert!(
        sink["queued"].as_u64().unwrap() > 0,
        "documents wait in the queue: {sink}"
    );
    assert!(sink["last_error"].is_string(), "{sink}");
    es.state.lock().unwrap().down = false;
    wait_until("the outage's event", || {
        es.documents(EVENTS_STREAM)
            .iter()
            .any(|d| d["kafka"]["topic"] == "during-outage")
    })
    .await;
    let (_, events) = get_json(&base, "/api/v1/events?limit=100").await;
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == "elasticsearch")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"sink_failing"), "{kinds:?}");
    wait_for_json(&base, "/api/v1/events?limit=100", WAIT, |b| {
        b["events"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["kind"] == "sink_recovered"))
    })
    .await;
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_elasticsearch_refuses_are_counted_and_not_retried() {
    let es = EsServer::start().await;
    let (running, base) = start_with(&es).await;
    wait_until("templates", || {
        es.state.lock().unwrap().templates.len() == 2
    })
    .await;
    // Someone changed the events template: kafka.subject is now a number,
    // so every event document fails its mapping.
    {
        let mut state = es.state.lock().unwrap();
        let template = state.templates.get_mut(EVENTS_STREAM).unwrap();
        template["template"]["mappings"]["properties"]["kafka"]["properties"]["subject"] =
            serde_json::json!({"type": "long"});
    }
    kafka_pulse::demo::ensure_topic(&running.kafka_bootstrap, "refused", 1)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let sink = loop {
        let sink = sink_health(&base).await;
        if sink["points_dropped"].as_u64().unwrap_or(0) >= 1 {
            break sink;
        }
        assert!(Instant::now() < deadline, "refusal never counted: {sink}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        sink["last_error"]
            .as_str()
            .unwrap()
            .contains("document_parsing_exception"),
        "{sink}"
    );
    let attempts: HashMap<String, usize> = es.state.lock().unwrap().attempts.clone();
    assert!(
        attempts.values().all(|&n| n == 1),
        "refused documents are not resent: {attempts:?}"
    );
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_old_servers_get_clear_messages() {
    for (setup, expected) in [
        (
            Box::new(|es: &EsServer| {
                es.state.lock().unwrap().required_authorization =
                    Some("Basic something-else".into())
            }) as Box<dyn Fn(&EsServer)>,
            ["refused the credentials", "--es-username"],
        ),
        (
            Box::new(|es: &EsServer| es.state.lock().unwrap().version = Some("7.5.2".into())),
            ["7.5.2", "need 7.9 or newer"],
        ),
    ] {
        let es = EsServer::start().await;
        setup(&es);
        let (running, base) = start_with(&es).await;
        let events = wait_for_json(&base, "/api/v1/events?limit=50", WAIT, |b| {
            b["events"].as_array().is_some_and(|l| {
                l.iter()
                    .any(|e| e["kind"] == "sink_failing" && e["subject"] == "elasticsearch")
            })
        })
        .await;
        let failing = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "sink_failing")
            .unwrap();
        let message = failing["message"].as_str().unwrap();
        for needle in expected {
            assert!(message.contains(needle), "{message}");
        }
        assert!(
            !message.contains("changeme"),
            "the password never shows: {message}"
        );
        // Collection goes on regardless.
        let (_, health) = get_json(&base, "/api/v1/health").await;
        assert_eq!(health["kafka_up"], true);
        running.stop().await.expect("clean stop");
    }
}

/// The Kibana saved objects reference only fields the documents have.
#[test]
fn kibana_saved_objects_reference_only_existing_fields() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/elk/kibana/kafka-pulse.ndjson");
    let text = std::fs::read_to_string(path).expect("elk/kibana/kafka-pulse.ndjson");
    let known: Vec<String> = field_types(&index_template(EVENTS_STREAM))
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    let mut referenced = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let object: Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(
            object["type"].is_string() && object["id"].is_string(),
            "{line}"
        );
        collect_fields(&object, &mut referenced);
    }
    assert!(
        referenced.len() >= 5,
        "too few field references found: {referenced:?}"
    );
    for field in &referenced {
        assert!(
            known.contains(field),
            "saved objects reference unknown field {field}"
        );
    }
    // The dashboard has a cluster control: an options list on kafka.cluster
    // (the label /metrics and InfluxDB use), several clusters at once.
    let objects: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dashboard = objects.iter().find(|o| o["type"] == "dashboard").unwrap();
    let control = dashboard["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| objects.iter().find(|o| o["id"] == r["id"]))
        .find_map(|o| {
            let state: Value = serde_json::from_str(o["attributes"]["visState"].as_str()?).ok()?;
            (state["type"] == "input_control_vis").then_some(state)
        })
        .expect("a control on the dashboard");
    let list = &control["params"]["controls"][0];
    assert_eq!(list["fieldName"], "kafka.cluster", "{control}");
    assert_eq!(list["options"]["multiselect"], true, "{control}");
    // Every saved search shows the cluster.
    for search in objects.iter().filter(|o| o["type"] == "search") {
        let columns = search["attributes"]["columns"].as_array().unwrap();
        assert!(columns.iter().any(|c| c == "kafka.cluster"), "{search}");
    }
}

/// Two clusters shipping to one Elasticsearch: every document names its
/// cluster with the label /metrics uses, and the cluster control's filter
/// (`kafka.cluster : mirror`) selects only that cluster's documents: the
/// mirror watches one topic, the local cluster the demo topics too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clusters_ship_documents_labelled_with_their_cluster() {
    const TOPIC: &str = "mirrored";
    let es = EsServer::start().await;
    let mut config = two_clusters(TOPIC);
    config.elasticsearch = Some(EsConfig {
        url: Url::parse(&es.url()).unwrap(),
        auth: EsAuth::Basic {
            username: "elastic".into(),
            password: "changeme".into(),
        },
        ca_certificate: None,
        metrics_interval: Duration::from_secs(1),
        queue_docs: 100_000,
    });
    let running = app::start(config).await.expect("start");
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, TOPIC, 1)
        .await
        .unwrap();
    produce_split(&bootstrap, TOPIC, &[(0, 10)]).await;
    let of = |cluster: &str| {
        es.documents("kafka-pulse-metrics")
            .into_iter()
            .filter(|d| d["kafka"]["cluster"] == cluster)
            .collect::<Vec<_>>()
    };
    let topics = |docs: &[Value]| {
        docs.iter()
            .filter_map(|d| d["kafka"]["topic"].as_str().map(str::to_string))
            .collect::<std::collections::BTreeSet<_>>()
    };
    wait_until("both clusters' topic documents", || {
        topics(&of(MIRROR)).contains(TOPIC)
            && topics(&of(LOCAL)).contains(TOPIC)
            && topics(&of(LOCAL)).len() > 1
    })
    .await;
    assert_eq!(
        topics(&of(MIRROR)),
        [TOPIC.to_string()].into(),
        "the mirror's documents are its topic's only"
    );
    for doc in es
        .documents("kafka-pulse-metrics")
        .iter()
        .chain(&es.documents("kafka-pulse-events"))
    {
        let cluster = &doc["kafka"]["cluster"];
        assert!(cluster == LOCAL || cluster == MIRROR, "{doc}");
    }
    running.stop().await.expect("clean stop");
}

/// Field names in visState/searchSource JSON strings, search columns and
/// sort, and KQL `field : value` clauses.
fn collect_fields(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Ok(inner) = serde_json::from_str::<Value>(text) {
                if inner.is_object() || inner.is_array() {
                    collect_fields(&inner, out);
                }
            }
        }
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("field", Value::String(field))
                    | ("fieldName", Value::String(field))
                    | ("timeFieldName", Value::String(field)) => out.push(field.clone()),
                    ("columns", Value::Array(columns)) => {
                        out.extend(columns.iter().filter_map(Value::as_str).map(str::to_string))
                    }
                    ("query", Value::String(kql)) => {
                        for clause in kql.split(" or ").chain(kql.split(" and ")) {
                            if let Some((field, _)) = clause.split_once(" : ") {
                                let field = field
                                    .trim()
                                    .trim_start_matches(['(', ' '])
                                    .trim_start_matches("not ");
                                if !field.is_empty() && !field.contains(' ') {
                                    out.push(field.to_string());
                                }
                            }
                        }
                    }
                    ("sort", Value::Array(sorts)) => {
                        for sort in sorts {
                            match sort {
                                Value::Array(pair) => {
                                    if let Some(field) = pair.first().and_then(Value::as_str) {
                                        out.push(field.to_string());
                                    }
                                }
                                Value::Object(o) => out.extend(o.keys().cloned()),
                                _ => {}
                            }
                        }
                    }
                    _ => collect_fields(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_fields(i, out)),
        _ => {}
    }
}

/// The closing-note measurement: demo traffic, Elasticsearch down for
/// KAFKA_PULSE_OUTAGE_SECS (default 300), then back. Prints what was
/// produced, queued, dropped and how long the backlog took to drain.
/// Run: cargo test --test elasticsearch -- --ignored --nocapture
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "takes minutes; a measurement, not a check"]
async fn long_outage_measurement() {
    let seconds: u64 = std::env::var("KAFKA_PULSE_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let es = EsServer::start().await;
    let mut config = test_config(None, None);
    config.interval = Duration::from_secs(1);
    config.demo = true;
    config.elasticsearch = Some(EsConfig {
        url: Url::parse(&es.url()).unwrap(),
        auth: EsAuth::None,
        ca_certificate: None,
        metrics_interval: Duration::from_secs(10),
        queue_docs: 100_000,
    });
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = sink_health(&base).await;
    es.state.lock().unwrap().down = true;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let during = sink_health(&base).await;
    es.state.lock().unwrap().down = false;
    let recovered = Instant::now();
    loop {
        let sink = sink_health(&base).await;
        if sink["queued"] == 0 && sink["last_error"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = recovered.elapsed();
    let after = sink_health(&base).await;
    let (stored, duplicates) = {
        let state = es.state.lock().unwrap();
        let stored: usize = state.documents.values().map(Vec::len).sum();
        (stored, stored - state.attempts.len().min(stored))
    };
    println!("outage {seconds}s: before {before}");
    println!("at the end of the outage: {during}");
    println!(
        "after recovery: {after}; drained in {drained:?}; stored {stored}; duplicates {duplicates}"
    );
    running.stop().await.expect("clean stop");
}

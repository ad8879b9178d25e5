//! The Elasticsearch sink against two backends: a protocol-faithful
//! stand-in server (tests/common/es_server.rs) and a real OpenSearch node
//! (tests/common/opensearch.rs). Templates installed, events and metric
//! documents stored with the mapped types, a resent document never stored
//! twice, nothing lost across an outage, refusals counted.
//!
//! The same test functions run on both: [`on_both!`] makes a `stand_in`
//! and an `opensearch` test of each. Tests that need faults only the
//! stand-in can script (per-item 429s, whole-request 429/503, refused
//! credentials, an old version number) run on the stand-in only. On the
//! real node the tests take turns ([`OpenSearchNode::exclusive`]) and start
//! from no kafka-pulse templates or data streams; without the node they
//! skip with the reason printed (fail under KAFKA_PULSE_REQUIRE_EXTERNAL=1).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::es_server::{EsServer, Fault};
use common::opensearch::{self, OpenSearchNode};
use common::*;
use kafka_pulse::app::{self, RunningApp};
use kafka_pulse::model::Event;
use kafka_pulse::sinks::elasticsearch::config::{EsAuth, EsConfig};
use kafka_pulse::sinks::elasticsearch::encoder::event_doc;
use kafka_pulse::sinks::elasticsearch::service::{BulkResult, EsClient, ItemResult};
use kafka_pulse::sinks::elasticsearch::templates::{
    field_types, index_template, EVENTS_STREAM, METRICS_STREAM,
};
use serde_json::{json, Value};
use url::Url;

const WAIT: Duration = Duration::from_secs(30);

/// Which server a test talks to.
#[derive(Clone, Copy, Debug)]
enum Kind {
    StandIn,
    OpenSearch,
}

/// One backend for one test: the stand-in, or the shared real node held
/// for the whole test.
enum Backend {
    StandIn(EsServer),
    OpenSearch {
        node: &'static OpenSearchNode,
        _turn: tokio::sync::MutexGuard<'static, ()>,
    },
}

/// Runs the test function on the stand-in and on the real node, as two
/// tests named `stand_in` and `opensearch` in a module named after it.
macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn stand_in() {
                super::$name(super::Kind::StandIn).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn opensearch() {
                super::$name(super::Kind::OpenSearch).await
            }
        }
    };
}

impl Backend {
    /// `None` when the real node is unavailable (the reason is printed).
    async fn start(kind: Kind) -> Option<Backend> {
        match kind {
            Kind::StandIn => Some(Backend::StandIn(EsServer::start().await)),
            Kind::OpenSearch => {
                // The first call starts the JVM (seconds): off the runtime.
                let node = tokio::task::spawn_blocking(opensearch::node)
                    .await
                    .unwrap()?;
                let turn = node.exclusive().await;
                let backend = Backend::OpenSearch { node, _turn: turn };
                backend.reset().await;
                Some(backend)
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Backend::StandIn(es) => es.url(),
            Backend::OpenSearch { node, .. } => node.url.clone(),
        }
    }

    /// The stand-in, for tests that look at what only it records.
    fn stand_in(&self) -> Option<&EsServer> {
        match self {
            Backend::StandIn(es) => Some(es),
            Backend::OpenSearch { .. } => None,
        }
    }

    /// The error type of a document that does not fit its mapping
    /// (Elasticsearch 8 renamed OpenSearch's).
    fn parsing_exception(&self) -> &'static str {
        match self {
            Backend::StandIn(_) => "document_parsing_exception",
            Backend::OpenSearch { .. } => "mapper_parsing_exception",
        }
    }

    /// The real node as an earlier test left it: without kafka-pulse's
    /// data streams and templates (a stream goes before its template).
    async fn reset(&self) {
        let Backend::OpenSearch { node, .. } = self else {
            return;
        };
        let http = reqwest::Client::new();
        for path in [
            "/_data_stream/kafka-pulse-*".to_string(),
            format!("/_index_template/{EVENTS_STREAM}"),
            format!("/_index_template/{METRICS_STREAM}"),
        ] {
            let response = http
                .delete(format!("{}{path}", node.url))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(
                status < 300 || status == 404,
                "DELETE {path}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
    }

    /// Whether both index templates are installed.
    async fn templates_installed(&self) -> bool {
        match self {
            Backend::StandIn(es) => es.state.lock().unwrap().templates.len() == 2,
            Backend::OpenSearch { node, .. } => {
                let (_, body) = get_json(&node.url, "/_index_template/kafka-pulse-*").await;
                let mut names: Vec<&str> = body["index_templates"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t["name"].as_str()).collect())
                    .unwrap_or_default();
                names.sort();
                names == [EVENTS_STREAM, METRICS_STREAM]
            }
        }
    }

    /// The documents of a data stream, oldest first.
    async fn documents(&self, stream: &str) -> Vec<Value> {
        match self {
            Backend::StandIn(es) => es.documents(stream),
            Backend::OpenSearch { node, .. } => {
                let http = reqwest::Client::new();
                // Searches see what the last refresh made visible.
                http.post(format!("{}/{stream}/_refresh", node.url))
                    .send()
                    .await
                    .unwrap();
                let response = http
                    .post(format!("{}/{stream}/_search", node.url))
                    .json(&json!({
                        "size": 10_000,
                        "sort": [{"@timestamp": "asc"}],
                        "query": {"match_all": {}}
                    }))
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    // No document has created the stream yet.
                    404 => return Vec::new(),
                    // Shards still recovering after a restart: nothing
                    // visible yet, the caller waits.
                    503 => return Vec::new(),
                    _ => {}
                }
                let body: Value = response.json().await.unwrap();
                body["hits"]["hits"]
                    .as_array()
                    .unwrap_or_else(|| panic!("search of {stream} failed: {body}"))
                    .iter()
                    .map(|hit| hit["_source"].clone())
                    .collect()
            }
        }
    }

    /// Waits until `check` holds for the documents of `stream`; returns them.
    async fn wait_documents(
        &self,
        stream: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let docs = self.documents(stream).await;
            if check(&docs) {
                return docs;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_templates(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.templates_installed().await {
            assert!(Instant::now() < deadline, "timed out waiting for templates");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn es_config(url: &str, auth: EsAuth) -> EsConfig {
    EsConfig {
        url: Url::parse(url).unwrap(),
        auth,
        ca_certificate: None,
        metrics_interval: Duration::from_secs(1),
        queue_docs: 100_000,
    }
}

async fn start_with(url: &str) -> (RunningApp, String) {
    let mut config = test_config(None, None);
    config.cluster_name = Some("es-test".into());
    // The real node runs without its security plugin and ignores the
    // credentials; the stand-in checks them when a test asks it to.
    config.elasticsearch = Some(es_config(
        url,
        EsAuth::Basic {
            username: "elastic".into(),
            password: "changeme".into(),
        },
    ));
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

/// `field → type` of a live index mapping (a data stream's backing index).
fn mapped_types(mapping: &Value) -> Vec<(String, String)> {
    let index = mapping
        .as_object()
        .and_then(|m| m.values().next())
        .unwrap_or_else(|| panic!("no index in {mapping}"));
    // field_types reads a template's layout: template.mappings.properties.
    field_types(&json!({"template": {"mappings": index["mappings"]}}))
}

on_both!(events_and_metrics_arrive_as_typed_documents);
async fn events_and_metrics_arrive_as_typed_documents(kind: Kind) {
    let Some(es) = Backend::start(kind).await else {
        return;
    };
    let (running, base) = start_with(&es.url()).await;
    es.wait_templates().await;
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "shipped", 2)
        .await
        .unwrap();
    produce_split(&bootstrap, "shipped", &[(0, 30), (1, 20)]).await;
    consume_and_commit(&bootstrap, "shipper", "shipped", &[(0, 10), (1, 20)]).await;

    es.wait_documents(EVENTS_STREAM, "topic_created event", |docs| {
        docs.iter()
            .any(|d| d["event"]["action"] == "topic_created" && d["kafka"]["topic"] == "shipped")
    })
    .await;
    let metrics = es
        .wait_documents(
            METRICS_STREAM,
            "group metric document with lag 20",
            |docs| {
                docs.iter()
                    .any(|d| d["kafka"]["group"] == "shipper" && d["kafka"]["lag"] == 20)
            },
        )
        .await;
    let topic = metrics
        .iter()
        .rev()
        .find(|d| d["kafka"]["topic"] == "shipped" && d["event"]["dataset"] == "kafka_pulse.topic")
        .unwrap();
    assert_eq!(topic["kafka"]["depth"], 50);
    assert_eq!(topic["kafka"]["cluster"], "es-test");
    let event = es
        .documents(EVENTS_STREAM)
        .await
        .into_iter()
        .find(|d| d["event"]["action"] == "group_created")
        .expect("group_created event");
    assert_eq!(event["kafka"]["group"], "shipper");
    assert_eq!(event["event"]["kind"], "event");
    assert!(event["message"].as_str().unwrap().contains("shipper"));

    if let Backend::OpenSearch { node, .. } = &es {
        // The engine made data streams from the templates and indexed the
        // fields with the templates' types, not dynamically guessed ones.
        for stream in [EVENTS_STREAM, METRICS_STREAM] {
            let (status, streams) = get_json(&node.url, &format!("/_data_stream/{stream}")).await;
            assert_eq!(status, 200, "{streams}");
            assert_eq!(streams["data_streams"][0]["template"], stream, "{streams}");
            let (_, mapping) = get_json(&node.url, &format!("/{stream}/_mapping")).await;
            assert_eq!(
                mapped_types(&mapping),
                field_types(&index_template(stream)),
                "{stream}"
            );
        }
        // Typed fields answer typed queries: a numeric range on kafka.lag
        // and an exact match on the keyword kafka.group.
        let response = reqwest::Client::new()
            .post(format!("{}/{METRICS_STREAM}/_search", node.url))
            .json(&json!({"query": {"bool": {"filter": [
                {"term": {"kafka.group": "shipper"}},
                {"range": {"kafka.lag": {"gte": 20, "lte": 20}}}
            ]}}}))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(
            body["hits"]["total"]["value"].as_u64().unwrap() >= 1,
            "{body}"
        );
    }

    let sink = sink_health(&base).await;
    assert!(sink["points_sent"].as_u64().unwrap() > 0, "{sink}");
    assert_eq!(sink["points_dropped"], 0, "{sink}");
    running.stop().await.expect("clean stop");
}

on_both!(a_resent_document_is_already_stored_not_stored_twice);
/// `create` with the document's fixed id: when a bulk whose answer was lost
/// is sent again, the engine answers 409 per item, which the sink takes for
/// "stored", and the count stays the same.
async fn a_resent_document_is_already_stored_not_stored_twice(kind: Kind) {
    let Some(es) = Backend::start(kind).await else {
        return;
    };
    let client = EsClient::new(&es_config(&es.url(), EsAuth::None)).unwrap();
    let engine = client.healthcheck().await.expect("healthcheck");
    match &es {
        Backend::StandIn(_) => assert!(engine.starts_with("Elasticsearch "), "{engine}"),
        Backend::OpenSearch { node, .. } => {
            assert_eq!(engine, format!("OpenSearch {}", node.version))
        }
    }
    client.install_templates().await.expect("templates");
    let docs: Vec<_> = (0..3)
        .map(|i| {
            let event = Event::new(
                chrono::Utc::now(),
                "topic_created",
                &format!("resent-{i}"),
                "topic created",
            )
            .for_topic(&format!("resent-{i}"));
            event_doc(&event, "es-test")
        })
        .collect();
    assert_eq!(
        client.bulk(&docs).await,
        BulkResult::Items(vec![ItemResult::Stored; 3])
    );
    assert_eq!(
        client.bulk(&docs).await,
        BulkResult::Items(vec![ItemResult::AlreadyStored; 3])
    );
    let stored = es.documents(EVENTS_STREAM).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_failed_items_are_retried_and_nothing_is_stored_twice() {
    // Stand-in only: per-item 429s and whole-request 429/503 cannot be
    // provoked on demand from a real node.
    let es = EsServer::start().await;
    // The first bulk loses items 0 and 2 to 429s, the next two whole
    // requests are refused (429, then 503): the sink must resend exactly
    // what failed and nothing else.
    es.inject(Fault::Items(vec![0, 2]));
    es.inject(Fault::Request(429));
    es.inject(Fault::Request(503));
    let (running, base) = start_with(&es.url()).await;
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

on_both!(an_outage_delays_documents_but_loses_none);
/// The stand-in answers 503 while down; the real node is SIGKILLed
/// (connections refused) and started again on the same data.
async fn an_outage_delays_documents_but_loses_none(kind: Kind) {
    let Some(es) = Backend::start(kind).await else {
        return;
    };
    let (running, base) = start_with(&es.url()).await;
    es.wait_templates().await;
    let outage = |down: bool| match &es {
        Backend::StandIn(server) => server.state.lock().unwrap().down = down,
        Backend::OpenSearch { node, .. } if down => node.stop(),
        Backend::OpenSearch { node, .. } => node.start_again().expect("node restarts"),
    };
    outage(true);
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
    // The restart blocks for seconds: off the runtime the app runs on.
    tokio::task::block_in_place(|| outage(false));
    es.wait_documents(EVENTS_STREAM, "the outage's event", |docs| {
        docs.iter().any(|d| d["kafka"]["topic"] == "during-outage")
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
    // Nothing stored twice across the outage (ids are unique per event).
    let stored = es.documents(EVENTS_STREAM).await;
    let mut ids = event_ids(&stored);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), stored.len(), "no duplicate events");
    running.stop().await.expect("clean stop");
}

on_both!(documents_elasticsearch_refuses_are_counted_and_not_retried);
async fn documents_elasticsearch_refuses_are_counted_and_not_retried(kind: Kind) {
    let Some(es) = Backend::start(kind).await else {
        return;
    };
    let (running, base) = start_with(&es.url()).await;
    es.wait_templates().await;
    // Someone changed the events template: kafka.subject is now a number,
    // so every event document fails its mapping.
    match &es {
        Backend::StandIn(server) => {
            let mut state = server.state.lock().unwrap();
            let template = state.templates.get_mut(EVENTS_STREAM).unwrap();
            template["template"]["mappings"]["properties"]["kafka"]["properties"]["subject"] =
                json!({"type": "long"});
        }
        Backend::OpenSearch { node, .. } => {
            let mut template = index_template(EVENTS_STREAM);
            template["template"]["mappings"]["properties"]["kafka"]["properties"]["subject"] =
                json!({"type": "long"});
            let http = reqwest::Client::new();
            let response = http
                .put(format!("{}/_index_template/{EVENTS_STREAM}", node.url))
                .json(&template)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            // A stream's write index keeps the mapping it was created with:
            // roll over to a new one made from the changed template (404:
            // no stream yet, the first event creates it from that
            // template). Deleting the stream instead races with an
            // in-flight bulk, whose item then fails with a 404
            // index_not_found_exception (seen on the real node).
            let response = http
                .post(format!("{}/{EVENTS_STREAM}/_rollover", node.url))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(status == 200 || status == 404, "rollover: {status}");
        }
    }
    kafka_pulse::demo::ensure_topic(&running.kafka_bootstrap, "refused", 1)
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let sink = loop {
        let sink = sink_health(&base).await;
        // Events from before the change (on the real node, the app's
        // first samples) are stored; the refusal is what comes after.
        if sink["points_dropped"].as_u64().unwrap_or(0) >= 1
            && sink["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(es.parsing_exception()))
        {
            break sink;
        }
        assert!(Instant::now() < deadline, "refusal never counted: {sink}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        sink["last_error"]
            .as_str()
            .unwrap()
            .contains(es.parsing_exception()),
        "{sink}"
    );
    assert!(
        !es.documents(EVENTS_STREAM)
            .await
            .iter()
            .any(|d| d["kafka"]["topic"] == "refused"),
        "the refused event is not stored"
    );
    if let Some(server) = es.stand_in() {
        let attempts: HashMap<String, usize> = server.state.lock().unwrap().attempts.clone();
        assert!(
            attempts.values().all(|&n| n == 1),
            "refused documents are not resent: {attempts:?}"
        );
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_old_servers_get_clear_messages() {
    // Stand-in only: the test node runs without its security plugin, and
    // a real server cannot be made to report another version.
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
        let (running, base) = start_with(&es.url()).await;
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

/// Amazon OpenSearch Service: with --es-aws-region every request carries a
/// SigV4 signature over what the server actually received (host with port,
/// path, body hash, session token), scoped to the region and the `es`
/// service. The signer's arithmetic is checked against AWS's test suite in
/// src/security/sigv4.rs; this checks the transport signs the request it
/// sends. Without credentials the message names the variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_sigv4_signs_each_request_as_sent() {
    use kafka_pulse::security::secret::Secret;
    use kafka_pulse::security::sigv4::{self, Credentials, HeaderRequest};

    let es = EsServer::start().await;
    let config = es_config(
        &es.url(),
        EsAuth::AwsSigV4 {
            region: "eu-west-1".into(),
        },
    );
    // Only this test in this binary reads the AWS_* variables.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    std::env::remove_var("AWS_SESSION_TOKEN");
    let unsigned = EsClient::new(&config).unwrap().healthcheck().await;
    let message = unsigned.unwrap_err().to_string();
    assert!(
        message.contains("AWS_ACCESS_KEY_ID") && message.contains("--es-aws-region"),
        "{message}"
    );
    assert!(
        es.state.lock().unwrap().received.is_empty(),
        "nothing unsigned was sent"
    );

    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", secret);
    std::env::set_var("AWS_SESSION_TOKEN", "session/token+1");
    let client = EsClient::new(&config).unwrap();
    assert_eq!(client.healthcheck().await.unwrap(), "Elasticsearch 8.15.0");
    client.install_templates().await.unwrap();
    let docs: Vec<_> = (0..3)
        .map(|i| {
            event_doc(
                &Event::new(chrono::Utc::now(), "topic_created", &format!("t{i}"), "m"),
                "signed",
            )
        })
        .collect();
    assert!(matches!(client.bulk(&docs).await, BulkResult::Items(items) if items.len() == 3));

    let received = es.state.lock().unwrap().received.clone();
    assert_eq!(received.len(), 4, "GET /, two templates, one bulk");
    let credentials = Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new(secret),
        session_token: Some(Secret::new("session/token+1")),
    };
    for request in &received {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{} {} lacks {name}", request.method, request.path))
                .to_string()
        };
        let body_hash = sigv4::payload_sha256(&request.body);
        assert_eq!(
            header("x-amz-content-sha256"),
            body_hash,
            "{}",
            request.path
        );
        assert_eq!(header("x-amz-security-token"), "session/token+1");
        let amz_date = header("x-amz-date");
        let time = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        // Recomputed from what arrived: the Host header the server saw
        // (with the port), the path, the body.
        let expected = sigv4::sign_headers(
            &HeaderRequest {
                method: request.method,
                host: &header("host"),
                path: &request.path,
                params: &[],
                headers: &[("x-amz-content-sha256", &body_hash)],
                region: "eu-west-1",
                service: "es",
                payload_hash: &body_hash,
            },
            &credentials,
            time,
        );
        let authorization = header("authorization");
        assert_eq!(
            authorization,
            expected.last().unwrap().1,
            "{} {}",
            request.method,
            request.path
        );
        assert!(authorization.contains(&format!(
            "Credential=AKIDEXAMPLE/{}/eu-west-1/es/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,",
            &amz_date[..8]
        )));
        for (name, value) in request.headers.iter() {
            let value = value.to_str().unwrap_or_default();
            assert!(!value.contains(secret), "{name} carries the secret key");
        }
    }
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    std::env::remove_var("AWS_SESSION_TOKEN");
}

/// OpenSearch 1.x and 3.x (the real node is 2.19): recognised by
/// `version.distribution` and accepted, although 1.x and 2.x would fail
/// Elasticsearch's "7.9 or newer"; documents are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opensearch_of_every_major_is_accepted() {
    for version in ["1.3.20", "3.2.0"] {
        let es = EsServer::start().await;
        {
            let mut state = es.state.lock().unwrap();
            state.distribution = Some("opensearch".into());
            state.version = Some(version.into());
        }
        let client = EsClient::new(&es_config(&es.url(), EsAuth::None)).unwrap();
        assert_eq!(
            client.healthcheck().await.expect("healthcheck"),
            format!("OpenSearch {version}")
        );
        let (running, base) = start_with(&es.url()).await;
        wait_until("templates", || {
            es.state.lock().unwrap().templates.len() == 2
        })
        .await;
        kafka_pulse::demo::ensure_topic(&running.kafka_bootstrap, "on-opensearch", 1)
            .await
            .unwrap();
        wait_until("the topic_created event", || {
            es.documents(EVENTS_STREAM)
                .iter()
                .any(|d| d["kafka"]["topic"] == "on-opensearch")
        })
        .await;
        let (_, events) = get_json(&base, "/api/v1/events?limit=100").await;
        assert!(
            !events["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "sink_failing"),
            "OpenSearch {version}: {events}"
        );
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
/// sort, KQL `field : value` clauses and Lucene `field:value` terms.
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
                        // Lucene: `field:value` terms and `_exists_:field`.
                        for term in kql.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
                            match term.split_once(':') {
                                Some(("_exists_", field)) => out.push(field.to_string()),
                                Some((field, _))
                                    if !field.is_empty() && !field.starts_with('_') =>
                                {
                                    out.push(field.to_string())
                                }
                                _ => {}
                            }
                        }
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

// The saved objects in elk/ against the real node.

/// Kibana's objects, and the same less what only Kibana has.
const SAVED_OBJECT_FILES: [&str; 2] = [
    "elk/kibana/kafka-pulse.ndjson",
    "elk/opensearch-dashboards/kafka-pulse.ndjson",
];

/// Every saved search, visualization and control of both files, run on the
/// real node against documents the sink shipped, answers: hits for the
/// searches, non-empty buckets with values for the aggregations and the
/// controls' options, none skipped (the counts are the files' own). The
/// searches keep their meaning: each finds the event provoked for it, and
/// nothing its query does not name. The Cluster control's choice, as the
/// filter it adds, keeps every panel's answer; a cluster that does not
/// exist empties them all (the field is there on every panel's index).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_saved_search_and_visualization_answers_on_opensearch() {
    const TOPIC: &str = "saved-objects";
    const GROUP: &str = "saved-readers";
    // Real node only: the stand-in stores documents but does not search.
    let Some(es) = Backend::start(Kind::OpenSearch).await else {
        return;
    };
    let started = Instant::now();
    let url = es.url();
    let mut config = test_config(None, None);
    config.cluster_name = Some("es-test".into());
    config.lag_thresholds.messages = Some(5);
    config.elasticsearch = Some(es_config(&url, EsAuth::None));
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    // Events need a sample to compare with (the first raises none).
    wait_for_json(&base, "/api/v1/health", WAIT, |h| {
        h["sequence"].as_u64() >= Some(1)
    })
    .await;
    es.wait_templates().await;
    let bootstrap = running.kafka_bootstrap.clone();
    // topic_created, for "Broker and topic changes".
    kafka_pulse::demo::ensure_topic(&bootstrap, TOPIC, 1)
        .await
        .unwrap();
    produce_split(&bootstrap, TOPIC, &[(0, 2)]).await;
    consume_and_commit(&bootstrap, GROUP, TOPIC, &[(0, 2)]).await;
    // Seen under the threshold first, so that it can cross it.
    wait_for_json(&base, &format!("/api/v1/groups/{GROUP}"), WAIT, |g| {
        g["lag"] == 0
    })
    .await;
    // 20 unread, no member, no commit: lag_threshold_crossed at once ("Lag
    // threshold crossings"); once the status window has seen the commits
    // stand still, OK -> STOP: group_status_changed ("Status changes").
    produce_split(&bootstrap, TOPIC, &[(0, 20)]).await;
    let provoked = [
        "topic_created",
        "lag_threshold_crossed",
        "group_status_changed",
    ];
    let events = es
        .wait_documents(EVENTS_STREAM, "the provoked events", |docs| {
            provoked
                .iter()
                .all(|a| docs.iter().any(|d| d["event"]["action"] == *a))
        })
        .await;
    es.wait_documents(METRICS_STREAM, "a group document with lag 20", |docs| {
        docs.iter()
            .any(|d| d["kafka"]["group"] == GROUP && d["kafka"]["lag"] == 20)
    })
    .await;
    // Events no saved search names, so "selects nothing else" means something.
    assert!(
        events
            .iter()
            .any(|d| d["event"]["action"] == "group_created"),
        "no group_created event"
    );
    let shipped = started.elapsed();

    let all_events = events.len() as u64;
    for path in SAVED_OBJECT_FILES {
        let objects = kibana_queries::SavedObjects::load(path);
        let report = objects.run(&url, &[]).await;
        check_saved_objects_answers(&objects, &report, all_events);
        println!(
            "{path}: {} searches (hits {:?}), {} visualizations (buckets {:?}), {} controls \
             (options {:?})",
            report.searches.len(),
            report.searches.iter().map(|a| a.hits).collect::<Vec<_>>(),
            report.visualizations.len(),
            report
                .visualizations
                .iter()
                .map(|a| a.buckets)
                .collect::<Vec<_>>(),
            report.controls.len(),
            report.controls.iter().map(|a| &a.keys).collect::<Vec<_>>(),
        );
        for control in &report.controls {
            let field = control.field.as_deref().unwrap();
            let chosen = json!({"match_phrase": {field: control.keys[0]}});
            let narrowed = objects.run(&url, &[chosen]).await;
            check_saved_objects_answers(&objects, &narrowed, all_events);
            let nowhere = json!({"match_phrase": {field: "no-such-cluster"}});
            let emptied = objects.run(&url, &[nowhere]).await;
            for answer in emptied
                .searches
                .iter()
                .chain(&emptied.visualizations)
                .filter(|a| a.kind != kibana_queries::Kind::ControlPanel)
            {
                assert!(
                    answer.hits == 0 && answer.buckets == 0,
                    "{path}: {} ignores the {} control's filter: {answer:?}",
                    answer.title,
                    control.title
                );
            }
        }
    }
    println!(
        "documents shipped in {:.1} s; whole test {:.1} s",
        shipped.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    running.stop().await.expect("clean stop");
}

/// The counts are the file's, every answer has hits or buckets with values,
/// and the three saved searches find what their names promise.
fn check_saved_objects_answers(
    objects: &kibana_queries::SavedObjects,
    report: &kibana_queries::Report,
    all_events: u64,
) {
    let path = &objects.path;
    let searches = objects.of_type("search").count();
    let visualizations = objects.of_type("visualization").count();
    assert!(
        searches >= 3 && visualizations >= 4,
        "{path}: only {searches} searches, {visualizations} visualizations"
    );
    assert_eq!(report.searches.len(), searches, "{path}: searches run");
    assert_eq!(
        report.visualizations.len(),
        visualizations,
        "{path}: visualizations run"
    );
    assert_eq!(
        report.controls.len(),
        objects.control_count(),
        "{path}: controls run"
    );
    assert!(!report.controls.is_empty(), "{path}: no control");
    for search in &report.searches {
        assert!(
            search.hits > 0,
            "{path}: saved search {:?} found nothing: {}",
            search.title,
            search.request
        );
        assert!(
            search.hits < all_events,
            "{path}: saved search {:?} selects every event: {}",
            search.title,
            search.request
        );
    }
    for answer in report.visualizations.iter().chain(&report.controls) {
        assert!(
            answer.buckets > 0,
            "{path}: {:?} has no buckets: {}",
            answer.title,
            answer.request
        );
        assert!(
            answer.null_metrics.is_empty(),
            "{path}: {:?}: {:?}; request {}",
            answer.title,
            answer.null_metrics,
            answer.request
        );
    }
    for (kind, id) in &report.panels {
        assert!(
            report
                .searches
                .iter()
                .chain(&report.visualizations)
                .any(|a| &a.id == id),
            "{path}: dashboard panel {kind} {id} was not run"
        );
    }
    // What the KQL queries meant, checked against what the Lucene ones find.
    // (saved search, the event provoked for it, the actions its query names)
    type Meaning = (&'static str, &'static str, fn(&str) -> bool);
    let meanings: [Meaning; 3] = [
        (
            "kafka-pulse-search-lag-thresholds",
            "lag_threshold_crossed",
            |a| {
                [
                    "lag_threshold_crossed",
                    "lag_seconds_threshold_crossed",
                    "lag_recovered",
                    "lag_seconds_recovered",
                ]
                .contains(&a)
            },
        ),
        (
            "kafka-pulse-search-status-changes",
            "group_status_changed",
            |a| a == "group_status_changed" || a == "group_state_changed",
        ),
        (
            "kafka-pulse-search-broker-topic-changes",
            "topic_created",
            |a| {
                a.starts_with("broker_")
                    || a.starts_with("topic_")
                    || [
                        "controller_changed",
                        "partitions_added",
                        "leader_changed",
                        "isr_changed",
                    ]
                    .contains(&a)
            },
        ),
    ];
    for (id, provoked, named) in meanings {
        let search = report
            .searches
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{path}: no saved search {id}"));
        assert!(
            search.actions.contains(provoked),
            "{path}: {id} misses {provoked}: {:?}",
            search.actions
        );
        assert!(
            search.actions.iter().all(|a| named(a)),
            "{path}: {id} finds events its query does not name: {:?}",
            search.actions
        );
    }
}

/// elk/opensearch-dashboards holds Kibana's objects less what only Kibana
/// has ([`kibana_queries::for_opensearch_dashboards`]), and nothing that
/// OpenSearch Dashboards' strict saved-objects mapping would refuse. In
/// both files a non-empty query is Lucene (no engine runs KQL).
#[test]
fn opensearch_dashboards_objects_are_the_kibana_objects_less_kibana_only_attributes() {
    use kibana_queries::{for_opensearch_dashboards, SavedObjects, OSD_ATTRIBUTES};
    // JSON held in strings (visState, panelsJSON ...) compared parsed.
    fn parsed(value: &Value) -> Value {
        match value {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(inner) if inner.is_object() || inner.is_array() => parsed(&inner),
                _ => value.clone(),
            },
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), parsed(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(parsed).collect()),
            _ => value.clone(),
        }
    }
    let kibana = SavedObjects::load(SAVED_OBJECT_FILES[0]);
    let osd = SavedObjects::load(SAVED_OBJECT_FILES[1]);
    assert_eq!(
        osd.objects.len(),
        kibana.objects.len(),
        "one OpenSearch Dashboards object per Kibana object"
    );
    for (ours, theirs) in osd.objects.iter().zip(&kibana.objects) {
        let expected = for_opensearch_dashboards(theirs);
        assert_eq!(
            parsed(ours),
            parsed(&expected),
            "{}: {} differs from Kibana's less its Kibana-only attributes; expected:\n{}",
            osd.path,
            ours["id"],
            serde_json::to_string(&expected).unwrap()
        );
    }
    for object in &osd.objects {
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["type", "id", "attributes", "references"].contains(&k.as_str())),
            "{}: {} has {keys:?}",
            osd.path,
            object["id"]
        );
        let kind = object["type"].as_str().unwrap();
        let (_, allowed) = OSD_ATTRIBUTES
            .iter()
            .find(|(t, _)| *t == kind)
            .unwrap_or_else(|| panic!("OpenSearch Dashboards has no {kind} objects"));
        for attribute in object["attributes"].as_object().unwrap().keys() {
            assert!(
                allowed.contains(&attribute.as_str()),
                "{}: {kind} {}: OpenSearch Dashboards has no attribute {attribute}",
                osd.path,
                object["id"]
            );
        }
    }
    for objects in [&kibana, &osd] {
        for object in &objects.objects {
            // Panics on a non-empty query that is not Lucene.
            kibana_queries::query_clause(
                &format!("{}: {}", objects.path, object["id"]),
                &kibana_queries::search_source(object),
            );
        }
    }
}

/// What a stand-in for Kibana or OpenSearch Dashboards received on its
/// import endpoint: the headers and the multipart body.
type Imports = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// Serves `/api/status` with `status` and records imports; returns its URL.
/// Neither product can run here; these two endpoints are all import.sh uses.
async fn import_stand_in(status: Value) -> (String, Imports) {
    use axum::routing::{get, post};
    let imports: Imports = Default::default();
    let recorded = imports.clone();
    let app = axum::Router::new()
        .route(
            "/api/status",
            get(move || async move { axum::Json(status) }),
        )
        .route(
            "/api/saved_objects/_import",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                    let body = String::from_utf8_lossy(&body).to_string();
                    let count = body.matches("\"type\":").count();
                    recorded.lock().unwrap().push((headers, body));
                    axum::Json(json!({"success": true, "successCount": count}))
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, imports)
}

/// elk/import.sh recognises OpenSearch Dashboards (version 1.x-3.x, its
/// `core:opensearch` status) and Kibana from `/api/status`, and sends each
/// its own file with its own XSRF header (either product refuses the
/// other's); `--kibana` / `--opensearch-dashboards` override.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_script_sends_each_product_its_own_objects() {
    let osd = json!({"name": "osd", "version": {"number": "2.19.0"},
        "status": {"overall": {"state": "green"}, "statuses": [{"id": "core:opensearch@2.19.0"}]}});
    let kibana = json!({"name": "kibana", "version": {"number": "8.17.2"},
        "status": {"overall": {"level": "available"}, "core": {"elasticsearch": {}}}});
    for (status, flag, to_osd) in [
        (&osd, None, true),
        (&kibana, None, false),
        (&kibana, Some("--opensearch-dashboards"), true),
        (&osd, Some("--kibana"), false),
    ] {
        let (url, imports) = import_stand_in(status.clone()).await;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/elk/import.sh");
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(script)
                .args(flag)
                .env("KIBANA_URL", url)
                .env("KIBANA_WAIT_TRIES", "3")
                .output()
                .expect("bash runs elk/import.sh")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{flag:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let imports = imports.lock().unwrap();
        assert_eq!(imports.len(), 1, "{flag:?}: one import");
        let (headers, body) = &imports[0];
        let (file, header, other) = if to_osd {
            (SAVED_OBJECT_FILES[1], "osd-xsrf", "kbn-xsrf")
        } else {
            (SAVED_OBJECT_FILES[0], "kbn-xsrf", "osd-xsrf")
        };
        assert!(
            headers.contains_key(header) && !headers.contains_key(other),
            "{flag:?}: {headers:?}"
        );
        let objects =
            std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(body.contains(objects.trim()), "{flag:?}: {file} not sent");
        let product = if to_osd {
            "OpenSearch Dashboards"
        } else {
            "Kibana"
        };
        assert!(stdout.contains(product), "{flag:?}: {stdout}");
    }
}

//! HTTP handlers driven with `oneshot` over a synthetic snapshot: status
//! codes, JSON shape, escaping of hostile names, security headers.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::{CommittedOffset, GroupSample, PartitionSample, Sample, TopicSample};
use kafka_pulse::store::Store;
use kafka_pulse::web::pages::{render_live, OverviewView};
use kafka_pulse::web::sse::LiveFragment;
use kafka_pulse::web::{router, AppState};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn sample(offset_seconds: i64, high: i64, committed: i64) -> Sample {
    Sample {
        taken_at: Utc::now() + chrono::Duration::seconds(offset_seconds),
        kafka_up: true,
        cluster_id: Some("test-cluster".into()),
        topics: vec![TopicSample {
            name: "orders".into(),
            internal: false,
            partitions: vec![PartitionSample {
                partition: 0,
                leader: 1,
                replicas: vec![1],
                isr: vec![1],
                low_watermark: Some(0),
                high_watermark: Some(high),
            }],
        }],
        groups: vec![
            GroupSample {
                group: HOSTILE.into(),
                state: Some("Stable".into()),
                offsets: vec![CommittedOffset {
                    topic: "orders".into(),
                    partition: 0,
                    offset: Some(committed),
                }],
                ..GroupSample::default()
            },
            GroupSample {
                group: "billing/eu west".into(),
                offsets: vec![CommittedOffset {
                    topic: "orders".into(),
                    partition: 0,
                    offset: Some(high),
                }],
                ..GroupSample::default()
            },
        ],
        ..Sample::default()
    }
}

fn state() -> AppState {
    let store = Arc::new(Store::new(100, 100));
    let mut analyzer = Analyzer::new(AnalyzerSettings::default());
    store.publish(analyzer.analyze(&sample(-1, 100, 40)));
    store.publish(analyzer.analyze(&sample(0, 150, 60)));
    store.record_event("test", HOSTILE, format!("hostile {HOSTILE}"));
    let view = OverviewView::build(&store.latest(), &store.events(10));
    let (_tx, live) = watch::channel(Arc::new(LiveFragment {
        sequence: 2,
        html: render_live(&view).unwrap(),
    }));
    AppState {
        store,
        live,
        interval: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        metrics: Default::default(),
        shutdown: CancellationToken::new(),
        replays: None,
    }
}

async fn get(path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router(state())
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

async fn get_json(path: &str) -> (StatusCode, Value) {
    let (status, _, body) = get(path).await;
    (status, serde_json::from_str(&body).expect(&body))
}

#[tokio::test]
async fn overview_escapes_hostile_group_ids_and_event_text() {
    let (status, headers, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(HOSTILE), "raw hostile markup in page");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") || html.contains("&#60;img"));
    assert!(html.contains("data-topic=\"orders\""));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn live_fragment_is_escaped_too() {
    let (status, headers, html) = get("/fragments/overview").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("id=\"groups\""));
}

#[tokio::test]
async fn topics_api_lists_depth_and_rates() {
    let (status, body) = get_json("/api/v1/topics").await;
    assert_eq!(status, StatusCode::OK);
    let topic = &body["topics"][0];
    assert_eq!(topic["name"], "orders");
    assert_eq!(topic["partitions"], 1);
    assert_eq!(topic["depth"], 150);
    let rate = topic["messages_in_per_sec"].as_f64().unwrap();
    assert!((rate - 50.0).abs() < 1.0, "{rate}");
}

#[tokio::test]
async fn topic_detail_and_unknown_topic() {
    let (status, body) = get_json("/api/v1/topics/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["partitions"][0]["high_watermark"], 150);
    assert_eq!(body["partitions"][0]["depth"], 150);
    let (status, body) = get_json("/api/v1/topics/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("nope"));
}

#[tokio::test]
async fn groups_api_has_lag_status_and_reason() {
    let (status, body) = get_json("/api/v1/groups").await;
    assert_eq!(status, StatusCode::OK);
    let groups = body["groups"].as_array().unwrap();
    let hostile = groups.iter().find(|g| g["group"] == HOSTILE).unwrap();
    assert_eq!(hostile["lag"], 90);
    assert!(hostile["status"].is_string());
    assert!(hostile["reason"].is_string());
    let (status, detail) = get_json("/api/v1/groups/billing%2Feu%20west").await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["group"], "billing/eu west");
    assert_eq!(detail["lag"], 0);
    assert_eq!(detail["status"], "OK");
}

#[tokio::test]
async fn events_limit_is_validated() {
    let (status, body) = get_json("/api/v1/events?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    let (status, body) = get_json("/api/v1/events?limit=abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn series_needs_exactly_one_subject() {
    let (status, body) = get_json("/api/v1/series?topic=orders").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["points"].as_array().unwrap().len(), 2);
    let (status, _) = get_json("/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_reports_ok_for_a_fresh_sample() {
    let (status, body) = get_json("/api/v1/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["kafka_up"], true);
    assert!(body["last_sample_at"].is_string());
}

#[tokio::test]
async fn metrics_escape_label_values() {
    let (status, headers, text) = get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(
        text.contains("kafka_pulse_group_lag_messages{group=\"<img src=x onerror=alert(1)>\"} 90")
    );
    assert!(text.contains("kafka_pulse_topic_depth_messages{topic=\"orders\"} 150"));
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let (status, body) = get_json("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn static_assets_are_served_without_a_cdn() {
    let (status, headers, js) = get("/static/pulse.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.contains("EventSource"));
    let (_, _, html) = get("/").await;
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external asset referenced"
    );
}

#[tokio::test]
async fn overview_shows_the_top_of_big_clusters_only() {
    let store = Arc::new(Store::new(10, 10));
    let mut analyzer = Analyzer::new(AnalyzerSettings::default());
    let mut big = sample(0, 10, 5);
    big.groups = (0..250)
        .map(|i| GroupSample {
            group: format!("g{i:03}"),
            offsets: vec![CommittedOffset {
                topic: "orders".into(),
                partition: 0,
                offset: Some(i),
            }],
            ..GroupSample::default()
        })
        .collect();
    store.publish(analyzer.analyze(&big));
    let view = OverviewView::build(&store.latest(), &[]);
    assert_eq!(view.groups.len(), kafka_pulse::web::pages::OVERVIEW_ROWS);
    assert_eq!(view.group_count, 250);
    // The most behind come first: g000 committed least, so lags most.
    assert_eq!(view.groups[0].name, "g000");
    let html = render_live(&view).unwrap();
    assert!(html.contains("100 most urgent of 250"), "{html}");
}

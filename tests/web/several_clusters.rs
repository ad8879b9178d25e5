//! Several clusters in one router: each cluster's pages show its data and
//! link only into it, the switcher links the same page in the others, the
//! home page updates live; one cluster keeps today's links.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::{CommittedOffset, GroupSample, PartitionSample, Sample, TopicSample};
use kafka_pulse::store::Store;
use kafka_pulse::web::clusters::ClusterPlace;
use kafka_pulse::web::sse::LiveFragment;
use kafka_pulse::web::{router, router_for, AppState};

use super::{assert_escaped, fetch, sample, state, state_with, HOSTILE, HOSTILE_TOPIC};

/// A cluster name no configuration accepts, but the pages must not trust.
const HOSTILE_CLUSTER: &str = "b\"><svg onload=alert(9)>";

/// Cluster b's sample: `orders` too (so the switcher can link the same
/// topic), plus `payments` and group `ledger`, none of a's hostile names.
fn sample_b(offset_seconds: i64, high: i64) -> Sample {
    let mut sample = sample(offset_seconds, high, high);
    sample.cluster_id = Some("cluster-b".into());
    sample.topics[1] = TopicSample {
        name: "payments".into(),
        internal: false,
        partitions: vec![PartitionSample {
            partition: 0,
            leader: 1,
            replicas: vec![1].into(),
            isr: vec![1].into(),
            low_watermark: Some(0),
            high_watermark: Some(high),
        }],
    };
    sample.groups = vec![GroupSample {
        group: "ledger".into(),
        state: Some("Stable".into()),
        offsets: vec![CommittedOffset {
            topic: "payments".into(),
            partition: 0,
            offset: Some(1).into(),
        }],
        ..GroupSample::default()
    }];
    sample
}

/// One of several clusters, its overview rendered by the real render loop
/// (which runs until the test's runtime ends).
async fn cluster(name: &str, store: Arc<Store>) -> AppState {
    let place = Arc::new(ClusterPlace::among_several(name));
    let (tx, mut live) = watch::channel(Arc::new(LiveFragment::default()));
    tokio::spawn(kafka_pulse::web::pages::overview::render_loop(
        store.clone(),
        place.clone(),
        tx,
        CancellationToken::new(),
    ));
    let sequence = store.latest().sequence;
    live.wait_for(|f| f.sequence == sequence)
        .await
        .expect("the render loop runs");
    state_with(store, live, place)
}

fn store_a() -> Arc<Store> {
    // Exactly the single-cluster tests' store.
    state().store
}

fn store_b() -> Arc<Store> {
    let store = Arc::new(Store::new(100, 100));
    let mut analyzer = Analyzer::new(AnalyzerSettings::default());
    store.publish(analyzer.analyze(sample_b(-1, 10)));
    store.publish(analyzer.analyze(sample_b(0, 20)));
    store.record_event("topic_created", "payments", "created");
    store
}

async fn two_clusters(b_name: &str) -> (axum::Router, Arc<Store>) {
    let b = store_b();
    let states = vec![
        cluster("a", store_a()).await,
        cluster(b_name, b.clone()).await,
    ];
    (router_for(states), b)
}

/// Every URL in an attribute a browser follows or fetches, unescaped.
fn urls_in(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["href", "src", "action", "data-live", "data-series"] {
        let needle = format!(" {attr}=\"");
        let mut rest = html;
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            let end = rest.find('"').expect("a closed attribute");
            urls.push(
                rest[..end]
                    .replace("&#38;", "&")
                    .replace("&amp;", "&")
                    .replace("&#34;", "\"")
                    .replace("&quot;", "\""),
            );
            rest = &rest[end..];
        }
    }
    urls
}

/// The page without its cluster switcher, and the switcher.
fn split_switcher(html: &str) -> (String, Option<String>) {
    let Some(start) = html.find("<nav class=\"clusters\"") else {
        return (html.to_string(), None);
    };
    let end = start + html[start..].find("</nav>").expect("switcher closed") + "</nav>".len();
    (
        format!("{}{}", &html[..start], &html[end..]),
        Some(html[start..end].to_string()),
    )
}

/// Whether `url` stays in cluster `name` (or is shared: all clusters,
/// static files, /metrics).
fn stays_in(url: &str, name: &str) -> bool {
    let under = |prefix: String| {
        url == prefix
            || url.starts_with(&format!("{prefix}/"))
            || url.starts_with(&format!("{prefix}?"))
    };
    !url.starts_with('/')
        || url == "/clusters"
        || url.starts_with("/static/")
        || url == "/metrics"
        || under(format!("/clusters/{name}"))
        || under(format!("/api/v1/clusters/{name}"))
}

fn hostile_group_path() -> String {
    kafka_pulse::web::format::path_segment(HOSTILE)
}

/// The first event of an SSE stream.
async fn first_event(app: &axum::Router, path: &str) -> String {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    next_event(&mut response.into_body(), path).await
}

async fn next_event(body: &mut Body, path: &str) -> String {
    let mut text = String::new();
    loop {
        if let Some(end) = text.find("\n\n") {
            let event = text[..end].to_string();
            if event.contains("data:") {
                // One event's data lines, as the browser joins them.
                return event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            text.drain(..end + 2);
            continue;
        }
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap_or_else(|_| panic!("{path}: an event within 5 s"))
            .expect("stream open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

#[tokio::test]
async fn each_clusters_pages_show_its_data_and_link_only_into_it() {
    let (app, _) = two_clusters("b").await;
    let hostile = hostile_group_path();
    let pages = [
        "/clusters/a".to_string(),
        "/clusters/a/topics".to_string(),
        "/clusters/a/topics/orders".to_string(),
        "/clusters/a/groups".to_string(),
        format!("/clusters/a/groups/{hostile}"),
        "/clusters/a/groups/billing%2Feu%20west".to_string(),
        "/clusters/a/brokers".to_string(),
        "/clusters/a/events".to_string(),
        "/clusters/a/events?kind=topic_created".to_string(),
        "/clusters/a/messages".to_string(),
        "/clusters/a/replays".to_string(),
        "/clusters/a/topics/nope".to_string(),
        "/clusters/a/groups/nope".to_string(),
        "/clusters/a/fragments/overview".to_string(),
        "/clusters/a/fragments/topics".to_string(),
        "/clusters/a/fragments/topics/orders".to_string(),
        "/clusters/a/fragments/groups".to_string(),
        format!("/clusters/a/fragments/groups/{hostile}"),
        "/clusters/a/fragments/events".to_string(),
    ];
    for path in &pages {
        let (status, html) = fetch(&app, path).await;
        let expected = if path.ends_with("/nope") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "{path}: {html}");
        let (rest, switcher) = split_switcher(&html);
        for url in urls_in(&rest) {
            assert!(stays_in(&url, "a"), "{path} links out of cluster a: {url}");
        }
        for name in ["payments", "ledger", "cluster-b"] {
            assert!(!html.contains(name), "{path} shows b's {name}");
        }
        assert!(
            !html.contains(HOSTILE) && !html.contains(HOSTILE_TOPIC),
            "{path}"
        );
        let is_page = html.contains("<html");
        assert_eq!(
            switcher.is_some(),
            is_page,
            "{path}: a switcher on pages only"
        );
    }

    // a's data, with a's links, on its pages and in what they stream.
    let (_, html) = fetch(&app, "/clusters/a/topics").await;
    assert!(
        html.contains("href=\"/clusters/a/topics/orders\""),
        "{html}"
    );
    assert!(html.contains("data-live=\"/clusters/a/live/topics\""));
    assert_escaped(&html, HOSTILE_TOPIC);
    let (_, html) = fetch(&app, "/clusters/a/topics/orders").await;
    assert!(html.contains(&format!("href=\"/clusters/a/groups/{hostile}\"")));
    assert!(html.contains("data-series=\"/api/v1/clusters/a/series?topic=orders\""));
    assert!(html.contains("class=\"crumbs\"><a href=\"/clusters/a/topics\""));
    let (_, html) = fetch(&app, "/clusters/a/events?kind=topic_created").await;
    assert!(html.contains("action=\"/clusters/a/events\""));
    assert!(html.contains("data-live=\"/clusters/a/live/events?kind=topic_created\""));
    for (path, link) in [
        (
            "/clusters/a/live",
            "href=\"/clusters/a/groups/billing%2Feu%20west\"",
        ),
        (
            "/clusters/a/live/topics",
            "href=\"/clusters/a/topics/orders\"",
        ),
        (
            "/clusters/a/live/groups/billing%2Feu%20west",
            "href=\"/clusters/a/topics/orders\"",
        ),
        (
            "/clusters/b/live/groups",
            "href=\"/clusters/b/groups/ledger\"",
        ),
        ("/clusters/b/live/events", ">payments<"),
    ] {
        let data = first_event(&app, path).await;
        assert!(data.contains(link), "{path}: {data}");
        let own = &path["/clusters/".len()..][..1];
        for url in urls_in(&data) {
            assert!(
                stays_in(&url, own),
                "{path} streams a link out of {own}: {url}"
            );
        }
    }

    // And b's pages show b's data, linked into b.
    let (_, html) = fetch(&app, "/clusters/b/groups").await;
    assert!(html.contains("href=\"/clusters/b/groups/ledger\""));
    assert!(
        !html.contains("billing") && !html.contains("onerror"),
        "a's groups on b"
    );
    let (status, html) = fetch(&app, "/clusters/b/topics/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        html.contains("href=\"/clusters/b/topics/payments\""),
        "{html}"
    );
    assert!(html.contains("href=\"/clusters/b/topics\""));
}

#[tokio::test]
async fn the_switcher_links_the_same_page_in_the_other_cluster() {
    let (app, _) = two_clusters("b").await;
    let hostile = hostile_group_path();
    for (path, in_b) in [
        ("/clusters/a".to_string(), "/clusters/b"),
        ("/clusters/a/topics".to_string(), "/clusters/b/topics"),
        // b has orders too: its page; a's hostile group it has not: its list.
        (
            "/clusters/a/topics/orders".to_string(),
            "/clusters/b/topics/orders",
        ),
        (
            format!("/clusters/a/groups/{hostile}"),
            "/clusters/b/groups",
        ),
        ("/clusters/a/brokers".to_string(), "/clusters/b/brokers"),
        (
            "/clusters/a/events?kind=topic_created".to_string(),
            "/clusters/b/events?kind=topic_created",
        ),
        // Offsets mean nothing in another cluster: its empty form.
        (
            "/clusters/a/messages?topic=orders&offset=3".to_string(),
            "/clusters/b/messages",
        ),
        ("/clusters/a/replays".to_string(), "/clusters/b/replays"),
    ] {
        let (_, html) = fetch(&app, &path).await;
        let (_, switcher) = split_switcher(&html);
        let switcher = switcher.unwrap_or_else(|| panic!("{path}: no switcher"));
        assert!(switcher.contains(">a</span>"), "{path}: {switcher}");
        assert_eq!(urls_in(&switcher), [in_b, "/clusters"], "{path}");
    }
    // And back from b.
    let (_, html) = fetch(&app, "/clusters/b/groups/ledger").await;
    let switcher = split_switcher(&html).1.unwrap();
    assert_eq!(urls_in(&switcher), ["/clusters/a/groups", "/clusters"]);
}

#[tokio::test]
async fn hostile_cluster_names_are_escaped() {
    let (app, _) = two_clusters(HOSTILE_CLUSTER).await;
    for path in ["/clusters/a/topics", "/clusters", "/"] {
        let (status, html) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_escaped(&html, HOSTILE_CLUSTER);
    }
    let (_, html) = fetch(&app, "/fragments/home").await;
    assert_escaped(&html, HOSTILE_CLUSTER);
}

#[tokio::test]
async fn one_cluster_keeps_todays_links_and_no_switcher() {
    let app = router(state());
    let today = [
        "/",
        "/topics",
        "/groups",
        "/brokers",
        "/events",
        "/messages",
        "/replays",
        "/api/v1/health",
        "/metrics",
        "/wall",
    ];
    for path in [
        "/",
        "/topics",
        "/topics/orders",
        "/groups",
        "/events",
        "/messages",
        "/replays",
    ] {
        let (status, html) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(split_switcher(&html).1.is_none(), "{path}: a switcher");
        let header = &html[html.find("<header").unwrap()..html.find("</header>").unwrap()];
        let header_urls = urls_in(header);
        assert_eq!(header_urls[0], "/", "{path}: the brand");
        assert_eq!(header_urls[1..], today, "{path}");
        for url in urls_in(&html) {
            assert!(
                !url.starts_with("/clusters") && !url.starts_with("/api/v1/clusters"),
                "{path}: {url}"
            );
        }
    }
    let (_, html) = fetch(&app, "/topics/orders").await;
    assert!(html.contains("data-live=\"/live/topics/orders\""));
    assert!(html.contains("data-series=\"/api/v1/series?topic=orders\""));
    let (_, html) = fetch(&app, "/events").await;
    assert!(html.contains("action=\"/events\""));
    // The home page exists with one cluster too, and goes live.
    let (status, html) = fetch(&app, "/clusters").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-live=\"/live/home\""));
    let data = first_event(&app, "/live/home").await;
    assert!(data.contains("data-cluster=\"default\""), "{data}");
    assert!(data.contains("href=\"/\""), "{data}");
}

#[tokio::test]
async fn the_home_page_updates_live_and_links_each_cluster() {
    let (app, b) = two_clusters("b").await;
    for path in ["/", "/clusters"] {
        let (status, html) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(html.contains("data-live=\"/live/home\""), "{path}");
        // No single-cluster nav links: they would only redirect here.
        for url in urls_in(&html) {
            assert!(
                ![
                    "/topics",
                    "/groups",
                    "/events",
                    "/messages",
                    "/replays",
                    "/api/v1/health"
                ]
                .contains(&url.as_str()),
                "{path}: {url}"
            );
        }
        assert!(html.contains("href=\"/clusters/a\"") && html.contains("href=\"/clusters/b\""));
        assert!(html.contains(&format!(
            "href=\"/clusters/a/groups/{}\"",
            hostile_group_path()
        )));
        assert_escaped(&html, HOSTILE);
    }

    let response = app
        .clone()
        .oneshot(Request::get("/live/home").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let first = next_event(&mut body, "/live/home").await;
    assert!(
        first.contains("data-cluster=\"a\" data-sequence=\"2\""),
        "{first}"
    );
    assert!(
        first.contains("data-cluster=\"b\" data-sequence=\"2\""),
        "{first}"
    );
    assert!(!first.contains(HOSTILE), "{first}");

    // A new sample in b is pushed without asking.
    let mut next = (*b.latest()).clone();
    next.sequence += 1;
    next.taken_at = chrono::Utc::now();
    b.publish(next);
    let next = next_event(&mut body, "/live/home").await;
    assert!(
        next.contains("data-cluster=\"b\" data-sequence=\"3\""),
        "{next}"
    );
    assert!(
        next.contains("data-cluster=\"a\" data-sequence=\"2\""),
        "{next}"
    );
    let (_, fragment) = fetch(&app, "/fragments/home").await;
    assert!(fragment.contains("data-sequence=\"3\"") && !fragment.contains("<html"));
}

#[tokio::test]
async fn with_several_clusters_the_old_page_urls_go_home() {
    let (app, _) = two_clusters("b").await;
    for path in ["/topics", "/groups/ledger", "/brokers"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{path}");
        assert_eq!(response.headers()["location"], "/", "{path}");
    }
}

#[tokio::test]
async fn with_several_clusters_the_old_live_urls_name_the_clusters() {
    let (app, _) = two_clusters("b").await;
    for (path, example) in [
        ("/live", "/clusters/a/live"),
        ("/live/topics", "/clusters/a/live/topics"),
        (
            "/fragments/groups/ledger",
            "/clusters/a/fragments/groups/ledger",
        ),
        ("/api/v1/topics", "/api/v1/clusters/a/topics"),
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT, "{path}");
        assert_eq!(
            response.headers()["x-kafka-pulse-clusters"],
            "a,b",
            "{path}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains(example), "{path}: {text}");
    }
    // The home page's own live parts stay.
    let response = app
        .clone()
        .oneshot(Request::get("/fragments/home").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

//! The wallboard (`/wall`, `?wall`, `?rotate`), the overview's charts and
//! tiles, the group heatmap's data and the topic's skew bars: routes,
//! query checks with named 400s, escaping, and a stalled partition as the
//! heatmap's hot row.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::watch;

use kafka_pulse::analysis::{Analyzer, AnalyzerSettings};
use kafka_pulse::model::{CommittedOffset, GroupSample, PartitionSample, Sample, TopicSample};
use kafka_pulse::store::Store;
use kafka_pulse::web::clusters::ClusterPlace;
use kafka_pulse::web::pages::overview::OVERVIEW_TILES;
use kafka_pulse::web::pages::{render_live, OverviewView};
use kafka_pulse::web::sse::LiveFragment;
use kafka_pulse::web::{router, router_for};

use super::{
    assert_escaped, fetch, get, get_html, get_json, hostile_group_path, state, state_with,
    store_with_groups, HOSTILE,
};

#[tokio::test]
async fn the_wall_is_the_overview_without_navigation() {
    for path in ["/wall", "/?wall", "/?wall=1", "/wall?window=15m"] {
        let html = get_html(path).await;
        assert!(html.contains("<html lang=\"en\" class=\"wall\">"), "{path}");
        assert!(
            !html.contains("aria-label=\"Pages\""),
            "{path}: navigation shown"
        );
        assert!(html.contains("data-chart-kind=\"overview\""), "{path}");
        assert!(html.contains("class=\"tiles\""), "{path}: no group tiles");
        assert!(html.contains("/static/wall.js"), "{path}");
        assert!(
            html.contains("class=\"age\""),
            "{path}: no 'updated Xs ago'"
        );
        assert_escaped(&html, HOSTILE);
        assert!(!html.contains("<script>") && !html.contains("style=\""));
    }
    let html = get_html("/wall?window=15m").await;
    assert!(html.contains("data-window=\"15m\""));
    // Any page takes ?wall; without it, pages keep their navigation.
    let group = get_html(&format!("/groups/{}?wall", hostile_group_path())).await;
    assert!(group.contains("class=\"wall\"") && !group.contains("aria-label=\"Pages\""));
    assert_escaped(&group, HOSTILE);
    let plain = get_html("/").await;
    assert!(!plain.contains("class=\"wall\"") && plain.contains("aria-label=\"Pages\""));
    assert!(plain.contains("href=\"/wall\""), "the nav links the wall");
}

#[tokio::test]
async fn bad_display_parameters_are_400s_naming_the_problem() {
    for (path, expected) in [
        ("/wall?rotate=2s&group=g", "rotate must be at least 5s"),
        (
            "/wall?rotate=soon&group=g",
            "rotate must be a duration like 30s",
        ),
        ("/wall?rotate=3h&group=g", "rotate must be at most 1h"),
        ("/wall?rotate=30s", "add topic=NAME and/or group=NAME"),
        ("/wall?window=7m", "window must be 5m, 15m or 60m"),
        ("/?window=7m", "window must be 5m, 15m or 60m"),
        ("/groups/x?wall=maybe", "wall takes no value"),
        (
            "/topics/orders?rotate=1s&topic=orders",
            "rotate must be at least 5s",
        ),
    ] {
        let (status, body) = get_json(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(expected), "{path}: {message}");
    }
    // The API and assets are not pages: their parameters are their own.
    let (status, _) = get_json("/api/v1/topics?rotate=1s").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rotation_links_the_next_page_escaped() {
    let encoded: String = url::form_urlencoded::byte_serialize(HOSTILE.as_bytes()).collect();
    let html = get_html(&format!("/wall?rotate=30s&topic=orders&group={encoded}")).await;
    assert!(html.contains("data-rotate-ms=\"30000\""), "{html}");
    assert!(
        html.contains("data-rotate-next=\"/topics/orders?wall&#38;rotate=30s"),
        "the overview moves on to the first topic: {html}"
    );
    assert!(html.contains("next: topic orders"));
    // The topic page moves on to the hostile group, its name encoded in
    // the URL and escaped in the label.
    let topic = get_html(&format!(
        "/topics/orders?wall&rotate=30s&topic=orders&group={encoded}"
    ))
    .await;
    let next = format!("data-rotate-next=\"/groups/{}?wall", hostile_group_path());
    assert!(topic.contains(&next), "{topic}");
    assert_escaped(&topic, HOSTILE);
    // The group page goes back to the wall.
    let group = get_html(&format!(
        "/groups/{}?wall&rotate=30s&topic=orders&group={encoded}",
        hostile_group_path()
    ))
    .await;
    assert!(
        group.contains("data-rotate-next=\"/wall?rotate=30s"),
        "{group}"
    );
}

/// Three partitions of `orders`; group `stuck-one` keeps up on 0 and 2,
/// and stopped committing on 1 at offset 5; one sample every 30 s for
/// four minutes.
fn stalled_partition_store() -> Arc<Store> {
    let store = Arc::new(Store::new(100, 100));
    let mut analyzer = Analyzer::new(AnalyzerSettings::default());
    let start = chrono::Utc::now() - chrono::Duration::minutes(4);
    for step in 0..8i64 {
        let high = 10 + step * 40;
        let partition = |partition| PartitionSample {
            partition,
            leader: 1,
            replicas: vec![1].into(),
            isr: vec![1].into(),
            low_watermark: Some(0),
            high_watermark: Some(high),
        };
        let commit = |partition, offset: i64| CommittedOffset {
            topic: "orders".into(),
            partition,
            offset: Some(offset).into(),
        };
        store.publish(analyzer.analyze(Sample {
            taken_at: start + chrono::Duration::seconds(step * 30),
            kafka_up: true,
            cluster_id: Some("test-cluster".into()),
            topics: vec![TopicSample {
                name: "orders".into(),
                internal: false,
                partitions: vec![partition(0), partition(1), partition(2)],
            }],
            groups: vec![GroupSample {
                group: "stuck-one".into(),
                state: Some("Stable".into()),
                offsets: vec![commit(0, high - 1), commit(1, 5), commit(2, high)],
                ..GroupSample::default()
            }],
            ..Sample::default()
        }));
    }
    store
}

fn app_of(store: Arc<Store>, place: ClusterPlace) -> axum::Router {
    let place = Arc::new(place);
    let view = OverviewView::build(&store.latest(), &[], &place);
    let (_tx, live) = watch::channel(Arc::new(LiveFragment::new(
        "overview",
        store.latest().sequence,
        render_live(&view, &place).unwrap(),
    )));
    router(state_with(store, live, place))
}

#[tokio::test]
async fn the_heatmap_shows_a_stalled_partition_as_the_hot_row() {
    let app = app_of(stalled_partition_store(), ClusterPlace::default());
    let (status, body) = fetch(&app, "/api/v1/groups/stuck-one/heatmap").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let map = &body["heatmap"];
    assert_eq!(map["minutes"], 60);
    assert_eq!(map["total_rows"], 3);
    let rows = map["rows"].as_array().unwrap();
    assert_eq!(
        (rows[0]["topic"].as_str(), rows[0]["partition"].as_i64()),
        (Some("orders"), Some(1))
    );
    assert_eq!(rows[0]["max_lag"], 290 - 5, "its lag at the last sample");
    assert_eq!(rows[0]["lag_now"], 290 - 5);
    assert!(rows[1]["max_lag"].as_i64().unwrap() <= 1, "{}", rows[1]);
    let lags = rows[0]["lags"].as_array().unwrap();
    assert_eq!(lags.len(), 60);
    let filled = lags.iter().filter(|l| !l.is_null()).count();
    assert!(
        (4..=5).contains(&filled),
        "four minutes of samples: {filled}"
    );
    // The hot row grows minute by minute.
    let values: Vec<i64> = lags.iter().filter_map(Value::as_i64).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");

    let (status, body) = fetch(&app, "/api/v1/groups/stuck-one/heatmap?rows=1").await;
    assert_eq!(status, StatusCode::OK);
    let one: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(one["heatmap"]["rows"].as_array().unwrap().len(), 1);
    for bad in ["0", "abc", "100000"] {
        let (status, body) = fetch(
            &app,
            &format!("/api/v1/groups/stuck-one/heatmap?rows={bad}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("rows must be a whole number from 1 to"),
            "{body}"
        );
    }
    let (status, body) = fetch(&app, "/api/v1/groups/nobody/heatmap").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("nobody"));
    // The group page has the heatmap's place and script.
    let (status, html) = fetch(&app, "/groups/stuck-one").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("data-heatmap=\"/api/v1/groups/stuck-one/heatmap\""),
        "{html}"
    );
    assert!(html.contains("/static/heatmap.js"));
}

#[tokio::test]
async fn the_overview_charts_the_totals_with_the_lag_threshold_and_tiles_worst_first() {
    let store = store_with_groups(20, |i| format!("g{i:02}"));
    let place = ClusterPlace {
        lag_threshold: Some(500),
        ..ClusterPlace::default()
    };
    let app = app_of(store, place);
    let (status, html) = fetch(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("data-series=\"/api/v1/series?totals\""),
        "{html}"
    );
    assert!(html.contains("data-threshold=\"500\""));
    assert!(html.contains("class=\"chart-point\""));
    assert_eq!(html.matches("class=\"tile ").count(), OVERVIEW_TILES + 1);
    assert!(html.contains(&format!("and {} more", 20 - OVERVIEW_TILES)));
    // Worst first: g00 committed least, so lags most.
    let first = html.find("class=\"tile ").unwrap();
    assert!(html[first..].starts_with("class=\"tile ") && html[first..first + 300].contains("g00"));
    // The charts sit between the live parts, so an update never redraws them.
    let live = fetch(&app, "/fragments/overview").await.1;
    assert!(live.starts_with("<div id=\"ov-status\">") && !live.contains("data-chart-kind"));

    let (status, body) = fetch(&app, "/api/v1/series?totals&range=15m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["points"].as_array().unwrap().len(), 1);
    assert!(body["points"][0]["lag"].as_i64().unwrap() > 0);
    for (path, expected) in [
        (
            "/api/v1/series?totals&topic=orders",
            "exactly one of ?totals",
        ),
        (
            "/api/v1/series?totals&range=7m",
            "range must be 5m, 15m, 60m",
        ),
    ] {
        let (status, body) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(body.contains(expected), "{path}: {body}");
    }
}

#[tokio::test]
async fn topic_pages_show_the_in_rate_of_each_partition() {
    let (status, _, html) = get("/topics/orders").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<ul class=\"skew\""), "{html}");
    assert!(
        html.contains("<rect width=\"100.0\" height=\"1\"/>"),
        "{html}"
    );
    assert!(html.contains("/s</span>"));
}

#[tokio::test]
async fn several_clusters_have_a_wall_each_and_one_for_all() {
    let a = state();
    let mut b = state();
    a_place(&mut b, "b");
    let mut a = a;
    a_place(&mut a, "a");
    let app = router_for(vec![a, b]);
    let (status, home) = fetch(&app, "/wall").await;
    assert_eq!(status, StatusCode::OK, "{home}");
    assert!(home.contains("class=\"wall\"") && home.contains("data-chart-kind=\"clusters\""));
    assert!(home.contains("data-cluster-series=\"/api/v1/clusters/a/series?totals\""));
    assert!(
        home.contains("data-cluster=\"b\" data-t="),
        "per-cluster chart points"
    );
    let (status, wall) = fetch(&app, "/clusters/b/wall").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        wall.contains("data-series=\"/api/v1/clusters/b/series?totals\""),
        "{wall}"
    );
    let (status, rotating) = fetch(&app, "/wall?rotate=10s").await;
    assert_eq!(status, StatusCode::OK, "{rotating}");
    assert!(
        rotating.contains("data-rotate-next=\"/clusters/a/wall?rotate=10s\""),
        "{rotating}"
    );
    let (status, last) = fetch(&app, "/clusters/b/wall?rotate=10s").await;
    assert_eq!(status, StatusCode::OK, "{last}");
    assert!(
        last.contains("data-rotate-next=\"/wall?rotate=10s\""),
        "{last}"
    );
    let (status, body) = fetch(&app, "/wall?rotate=10s&group=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("belong to one cluster's wall"), "{body}");
}

fn a_place(state: &mut kafka_pulse::web::AppState, name: &str) {
    state.place = Arc::new(ClusterPlace::among_several(name));
}

/// The page-weight budget: all the dashboard's JavaScript together stays
/// within 150 KB uncompressed (uPlot included), served from /static.
#[test]
fn the_dashboards_javascript_stays_within_150_kb() {
    let js: usize = kafka_pulse::web::assets::ASSETS
        .iter()
        .filter(|a| a.name.ends_with(".js"))
        .map(|a| a.body.len())
        .sum();
    assert!(js <= 150_000, "{js} bytes of JavaScript");
    let on_disk: u64 = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "js"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk as usize, js, "every script in static/ is served");
}

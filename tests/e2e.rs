//! End to end against the real embedded broker: known traffic in, the same
//! numbers out of the JSON API, /metrics and the overview page.

mod common;

use std::time::Duration;

use common::*;
use kafka_pulse::app;
use kafka_pulse::broker::EmbeddedBroker;

/// 50 + 100 + 150 messages produced.
const PRODUCED: [(i32, usize); 3] = [(0, 50), (1, 100), (2, 150)];
/// Group read and committed 20 + 100 + 30.
const CONSUMED: [(i32, usize); 3] = [(0, 20), (1, 100), (2, 30)];
const WAIT: Duration = Duration::from_secs(30);

/// Produces and consumes the known split, then checks every surface.
async fn known_traffic_shows_everywhere(base: &str, bootstrap: &str, topic: &str, group: &str) {
    kafka_pulse::demo::ensure_topic(bootstrap, topic, 3)
        .await
        .expect("create topic");
    produce_split(bootstrap, topic, &PRODUCED).await;
    consume_and_commit(bootstrap, group, topic, &CONSUMED).await;
    check_numbers(base, topic, group).await;
}

async fn check_numbers(base: &str, topic: &str, group: &str) {
    let produced: i64 = PRODUCED.iter().map(|&(_, n)| n as i64).sum();
    let consumed: i64 = CONSUMED.iter().map(|&(_, n)| n as i64).sum();

    let topics = wait_for_json(base, "/api/v1/topics", WAIT, |body| {
        body["topics"]
            .as_array()
            .and_then(|list| list.iter().find(|t| t["name"] == topic))
            .is_some_and(|t| t["depth"] == produced)
    })
    .await;
    let entry = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == topic)
        .unwrap();
    assert_eq!(entry["partitions"], 3);

    let group_path = format!("/api/v1/groups/{group}");
    let detail = wait_for_json(base, &group_path, WAIT, |body| {
        body["lag"] == produced - consumed
    })
    .await;
    for (&(partition, made), &(_, read)) in PRODUCED.iter().zip(CONSUMED.iter()) {
        let row = detail["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["topic"] == topic && p["partition"] == partition)
            .unwrap_or_else(|| panic!("partition {partition} missing: {detail}"));
        assert_eq!(row["committed_offset"], read as i64, "{row}");
        assert_eq!(row["high_watermark"], made as i64, "{row}");
        assert_eq!(row["lag"], (made - read) as i64, "{row}");
    }

    let (status, topic_detail) = get_json(base, &format!("/api/v1/topics/{topic}")).await;
    assert_eq!(status, 200);
    let partitions = topic_detail["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    for &(partition, made) in &PRODUCED {
        let row = partitions
            .iter()
            .find(|p| p["partition"] == partition)
            .unwrap();
        assert_eq!(row["high_watermark"], made as i64);
        assert_eq!(row["low_watermark"], 0);
        assert_eq!(row["depth"], made as i64);
    }
    assert!(topic_detail["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["group"] == group && g["lag"] == produced - consumed));

    let (status, metrics) = get_text(base, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&metrics, "kafka_pulse_up"), Some(1.0));
    assert_eq!(
        metric(
            &metrics,
            &format!("kafka_pulse_topic_depth_messages{{topic=\"{topic}\"}}")
        ),
        Some(produced as f64)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("kafka_pulse_group_lag_messages{{group=\"{group}\"}}")
        ),
        Some((produced - consumed) as f64)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("kafka_pulse_group_topic_lag_messages{{group=\"{group}\",topic=\"{topic}\"}}")
        ),
        Some((produced - consumed) as f64)
    );
    for (&(partition, made), &(_, read)) in PRODUCED.iter().zip(CONSUMED.iter()) {
        let labels = format!("{{group=\"{group}\",topic=\"{topic}\",partition=\"{partition}\"}}");
        assert_eq!(
            metric(
                &metrics,
                &format!("kafka_pulse_group_partition_lag_messages{labels}")
            ),
            Some((made - read) as f64)
        );
        assert_eq!(
            metric(
                &metrics,
                &format!("kafka_pulse_group_partition_committed_offset{labels}")
            ),
            Some(read as f64)
        );
        assert_eq!(
            metric(
                &metrics,
                &format!("kafka_pulse_partition_high_watermark{{topic=\"{topic}\",partition=\"{partition}\"}}")
            ),
            Some(made as f64)
        );
    }

    for api in ["Metadata", "ListOffsets", "ListGroups", "OffsetFetch"] {
        let count = metric(
            &metrics,
            &format!("kafka_pulse_kafka_request_duration_seconds_count{{api=\"{api}\"}}"),
        );
        assert!(count.is_some_and(|n| n >= 1.0), "{api} not measured");
    }

    let (status, html) = get_text(base, "/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("data-topic=\"{topic}\"")),
        "topic row missing"
    );
    assert!(
        html.contains(&format!("data-group=\"{group}\"")),
        "group row missing"
    );
    let (_, fragment) = get_text(base, "/fragments/overview").await;
    assert!(fragment.contains(&format!("data-group=\"{group}\"")));
    // tansu cannot describe groups: the state is inferred from commits and
    // says so, never "Unknown (?)" in every row.
    assert!(html.contains("(inferred)"), "inferred state missing");
    assert!(!html.contains("Unknown (?)"), "unknown state shown");
    assert!(html.contains("State is inferred from commit movement"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_broker_numbers_match_known_traffic() {
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    known_traffic_shows_everywhere(&base, &bootstrap, "e2e-orders", "e2e-billing").await;

    let (_, health) = get_json(&base, "/api/v1/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["kafka_up"], true);

    // What changed was recorded as events, newest first.
    let events = wait_for_json(&base, "/api/v1/events?limit=100", WAIT, |body| {
        let list = body["events"].as_array().cloned().unwrap_or_default();
        list.iter()
            .any(|e| e["kind"] == "topic_created" && e["topic"] == "e2e-orders")
            && list
                .iter()
                .any(|e| e["kind"] == "group_created" && e["group"] == "e2e-billing")
    })
    .await;
    assert!(events["events"][0]["timestamp"].is_string());

    let (status, brokers) = get_json(&base, "/api/v1/brokers").await;
    assert_eq!(status, 200);
    assert_eq!(brokers["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(brokers["offline_partitions"], 0);
    assert_eq!(brokers["under_replicated_partitions"], 0);
    assert_eq!(brokers["brokers"][0]["leader_partitions"], 3);
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn external_mode_watches_a_separately_started_broker() {
    let mut broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), None)
        .await
        .expect("broker");
    let bootstrap = broker.bootstrap();
    let running = app::start(test_config(Some(bootstrap.clone()), None))
        .await
        .expect("start");
    assert_eq!(running.kafka_bootstrap, bootstrap);
    let base = format!("http://{}", running.web_addr);
    known_traffic_shows_everywhere(&base, &bootstrap, "ext-orders", "ext-billing").await;
    running.stop().await.expect("clean stop");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_dir_keeps_topics_messages_and_commits_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let first = app::start(test_config(None, Some(data.path().to_path_buf())))
        .await
        .expect("first start");
    let base = format!("http://{}", first.web_addr);
    let bootstrap = first.kafka_bootstrap.clone();
    known_traffic_shows_everywhere(&base, &bootstrap, "kept-orders", "kept-billing").await;
    first.stop().await.expect("first stop");

    let second = app::start(test_config(None, Some(data.path().to_path_buf())))
        .await
        .expect("second start");
    let base = format!("http://{}", second.web_addr);
    check_numbers(&base, "kept-orders", "kept-billing").await;
    second.stop().await.expect("second stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_keep_the_app_up_and_say_why() {
    // Nothing listens on port 1 of loopback: every connect is refused.
    let running = app::start(test_config(Some("127.0.0.1:1".into()), None))
        .await
        .expect("the app starts even when Kafka is down");
    let base = format!("http://{}", running.web_addr);
    let health = wait_for_json(&base, "/api/v1/health", WAIT, |body| {
        body["sequence"].as_u64().is_some_and(|n| n >= 1)
    })
    .await;
    assert_eq!(health["kafka_up"], false);
    assert_eq!(health["status"], "degraded");
    let errors = health["errors"].to_string();
    assert!(errors.contains("127.0.0.1:1"), "{errors}");
    assert!(errors.contains("--brokers"), "{errors}");
    let (_, metrics) = get_text(&base, "/metrics").await;
    assert_eq!(metric(&metrics, "kafka_pulse_up"), Some(0.0));
    let (_, html) = get_text(&base, "/").await;
    assert!(html.contains("Kafka unreachable"));
    running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn excluded_topics_and_groups_are_not_sampled() {
    let mut config = test_config(None, None);
    config.filters = kafka_pulse::filter::Filters {
        topics: kafka_pulse::filter::NameFilter::new(None, Some(("--exclude-topics", "hidden-.*")))
            .unwrap(),
        groups: kafka_pulse::filter::NameFilter::new(None, Some(("--exclude-groups", "secret-.*")))
            .unwrap(),
    };
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    for topic in ["shown-t", "hidden-t"] {
        kafka_pulse::demo::ensure_topic(&bootstrap, topic, 1)
            .await
            .unwrap();
        produce_split(&bootstrap, topic, &[(0, 10)]).await;
    }
    consume_and_commit(&bootstrap, "open-g", "shown-t", &[(0, 4)]).await;
    consume_and_commit(&bootstrap, "secret-g", "shown-t", &[(0, 4)]).await;
    consume_and_commit(&bootstrap, "open-g", "hidden-t", &[(0, 4)]).await;
    let groups = wait_for_json(&base, "/api/v1/groups", WAIT, |body| {
        body["groups"]
            .as_array()
            .is_some_and(|list| list.iter().any(|g| g["group"] == "open-g" && g["lag"] == 6))
    })
    .await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["open-g"], "secret-g must be filtered out");
    let open = &groups["groups"][0];
    assert_eq!(open["topics"].as_array().unwrap().len(), 1, "{open}");
    let (_, topics) = get_json(&base, "/api/v1/topics").await;
    let topic_names: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(topic_names, ["shown-t"]);
    running.stop().await.expect("clean stop");
}

/// Time between the two bursts of the lag_seconds test, as sampled.
const BURST_GAP: Duration = Duration::from_secs(3);

/// `last_sample_at` of a health answer.
fn sample_time(health: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    health["last_sample_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("no last_sample_at in {health}"))
        .with_timezone(&chrono::Utc)
}

/// lag_seconds against the exact answer: the produce time of the message at
/// the committed offset. Two bursts 3 s apart; the group committed into the
/// first burst, so it is as far behind as the first burst is old.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lag_seconds_matches_the_age_of_the_first_unconsumed_message() {
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    let bootstrap = running.kafka_bootstrap.clone();
    kafka_pulse::demo::ensure_topic(&bootstrap, "timed", 1)
        .await
        .unwrap();
    // Let the collector record the empty partition first, more than once,
    // so the table's last point at offset 0 is just before the burst.
    wait_for_json(&base, "/api/v1/topics/timed", WAIT, |body| {
        body["depth"] == 0
    })
    .await;
    wait_for_samples(&base, 2, WAIT).await;
    let first_burst = std::time::Instant::now();
    produce_split(&bootstrap, "timed", &[(0, 100)]).await;
    // The collector must have sampled the first burst before the second
    // comes, and then sampled on for BURST_GAP by its own clock (the one
    // lag_seconds is computed with): the first burst is then that much
    // older than the second, which a wrong lookup would show.
    wait_for_json(&base, "/api/v1/topics/timed", WAIT, |body| {
        body["depth"] == 100
    })
    .await;
    let (_, health) = get_json(&base, "/api/v1/health").await;
    let seen = sample_time(&health);
    wait_for_json(&base, "/api/v1/health", WAIT, |h| {
        (sample_time(h) - seen)
            .to_std()
            .is_ok_and(|gap| gap >= BURST_GAP)
    })
    .await;
    produce_split(&bootstrap, "timed", &[(0, 100)]).await;
    consume_and_commit(&bootstrap, "timed-reader", "timed", &[(0, 50)]).await;
    let detail = wait_for_json(&base, "/api/v1/groups/timed-reader", WAIT, |body| {
        body["lag"] == 150
    })
    .await;
    // Compare with a sample taken after that one, read as soon as it is
    // there.
    wait_for_samples(&base, 1, WAIT).await;
    let (_, detail_now) = get_json(&base, "/api/v1/groups/timed-reader").await;
    let exact = first_burst.elapsed().as_secs_f64();
    assert_eq!(detail_now["lag"], 150, "{detail_now}");
    let measured = detail_now["lag_seconds"].as_f64().unwrap();
    // The table has one point per 250 ms sample: allow two intervals plus
    // the produce time of the burst itself.
    assert!(
        (measured - exact).abs() <= 1.5,
        "lag_seconds {measured:.2} vs exact {exact:.2} ({detail})"
    );
    running.stop().await.expect("clean stop");
}

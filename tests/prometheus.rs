//! The Prometheus side against a real Prometheus (Debian's prometheus
//! package) scraping a kafka-pulse that watches two clusters (`local`, the
//! embedded broker with demo traffic, and `mirror`, the same broker
//! filtered to the test topic) on known traffic: every PromQL
//! expression of every Prometheus dashboard panel in grafana/dashboards and
//! of every rule in prometheus/kafka-pulse-rules.yml is evaluated through the
//! HTTP API; panels showing a number the JSON API has (depth, lag, status)
//! show the API's number. promtool checks the exposition and the rules and
//! runs the rules' unit tests.
//!
//! Variable substitution rule (what Grafana would send):
//! - `$cluster` -> its `allValue` (`.*`, "All", the default) in one pass
//!   and `mirror` in another (one cluster chosen: only its series may come
//!   back); `$job` (kafka_exporter-names dashboard) -> the scrape job;
//! - a multi-value or include-all variable -> its `allValue` (`.*`), which is
//!   what "All" sends;
//! - a single-value variable -> the known name of the traffic (`$topic` ->
//!   the test topic, `$group` -> the lagging group);
//! - `$__rate_interval` -> 1m, `$__interval` -> 15s, `$__range` -> 1h.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::servers::{self, require};
use common::*;
use kafka_pulse::app;
use serde_json::Value;

const TOPIC: &str = "scraped";
const LAGGING: &str = "lagging";
const JOB: &str = "kafka-pulse";
const WAIT: Duration = Duration::from_secs(60);
/// Status codes of the consumer-lag dashboards (grafana/README.md).
const STATUS_CODES: [&str; 9] = [
    "OK", "EMPTY", "UNKNOWN", "WARN", "REWIND", "STALL", "STOP", "DEAD", "ERR",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One instant query; panics on a transport error, returns the whole answer.
async fn query(base: &str, expr: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", expr)])
        .send()
        .await
        .expect("query Prometheus")
        .json()
        .await
        .expect("JSON answer")
}

/// The result vector of a successful query; panics with Prometheus' error.
fn vector<'a>(what: &str, expr: &str, answer: &'a Value) -> &'a Vec<Value> {
    assert_eq!(
        answer["status"], "success",
        "{what}: `{expr}` failed: {answer}"
    );
    answer["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: `{expr}` answered no vector: {answer}"))
}

/// The value of the series whose labels include all of `labels`.
fn value_of(result: &[Value], labels: &[(&str, &str)]) -> Option<f64> {
    result
        .iter()
        .find(|s| labels.iter().all(|(k, v)| s["metric"][*k] == *v))
        .map(|s| s["value"][1].as_str().unwrap().parse().unwrap())
}

/// A Prometheus dashboard panel's query, variables substituted.
struct PanelQuery {
    dashboard: String,
    panel: String,
    expr: String,
}

/// Every target `expr` of every dashboard whose panels use the Prometheus
/// datasource, with the substitution rule of the module comment and
/// `$cluster` -> `cluster` (`None`: All).
fn dashboard_queries(cluster: Option<&str>) -> Vec<PanelQuery> {
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut values: Vec<(String, String)> = vec![
            ("$__rate_interval".into(), "1m".into()),
            ("$__interval".into(), "15s".into()),
            ("$__range".into(), "1h".into()),
        ];
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let var_name = var["name"].as_str().unwrap();
            let multi = var["multi"] == true || var["includeAll"] == true;
            assert!(
                var_name != "cluster"
                    || (var["multi"] == true
                        && var["includeAll"] == true
                        && var["current"]["value"][0] == "$__all"),
                "{name}: $cluster is multi-value with All, chosen by default"
            );
            let value = match (var_name, multi) {
                ("cluster", true) if cluster.is_some() => cluster.unwrap().to_string(),
                ("job", false) => JOB.to_string(),
                (_, true) => var["allValue"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: ${var_name} has no allValue"))
                    .to_string(),
                ("topic", false) => TOPIC.to_string(),
                ("group", false) => LAGGING.to_string(),
                (other, _) => panic!("{name}: no substitution rule for ${other}"),
            };
            values.push((format!("${var_name}"), value));
        }
        // Longest names first: $__rate_interval before $__interval.
        values.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
        let mut panels: Vec<&Value> = Vec::new();
        collect_panels(&dashboard["panels"], &mut panels);
        for panel in panels {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let prometheus = target["datasource"]["type"] == "prometheus"
                    || panel["datasource"]["type"] == "prometheus";
                let Some(expr) = target["expr"].as_str().filter(|_| prometheus) else {
                    continue;
                };
                let mut expr = expr.to_string();
                for (k, v) in &values {
                    expr = expr.replace(k.as_str(), v);
                }
                assert!(
                    !expr.contains('$'),
                    "{name}: a variable without substitution rule in `{expr}`"
                );
                found.push(PanelQuery {
                    dashboard: name.clone(),
                    panel: panel["title"].as_str().unwrap_or_default().to_string(),
                    expr,
                });
            }
        }
    }
    found
}

fn collect_panels<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
    for panel in list.as_array().into_iter().flatten() {
        out.push(panel);
        collect_panels(&panel["panels"], out);
    }
}

/// (group name, rule name, expr) of every rule of the shipped rules file.
fn rules() -> Vec<(String, String, String)> {
    let file: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(rules_file()).unwrap()).unwrap();
    let mut found = Vec::new();
    for group in file["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .or_else(|| rule["record"].as_str())
                .expect("alert or record");
            found.push((
                group["name"].as_str().unwrap().to_string(),
                name.to_string(),
                rule["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    found
}

fn rules_file() -> PathBuf {
    repo().join("prometheus/kafka-pulse-rules.yml")
}

/// Runs promtool; panics with its output unless it succeeds.
fn promtool(promtool: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let (code, text) = promtool_run(promtool, args, stdin);
    assert!(
        code == Some(0),
        "promtool {args:?} failed ({code:?}):\n{text}"
    );
    text
}

/// Runs promtool: its exit code and output.
fn promtool_run(promtool: &Path, args: &[&str], stdin: Option<&str>) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new(promtool)
        .args(args)
        .current_dir(repo().join("prometheus"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Two groups on one topic: `lagging` read 40 of 100, `caught-up` all.
async fn known_traffic(bootstrap: &str) {
    kafka_pulse::demo::ensure_topic(bootstrap, TOPIC, 2)
        .await
        .unwrap();
    produce_split(bootstrap, TOPIC, &[(0, 60), (1, 40)]).await;
    consume_and_commit(bootstrap, LAGGING, TOPIC, &[(0, 20), (1, 20)]).await;
    consume_and_commit(bootstrap, "caught-up", TOPIC, &[(0, 60), (1, 40)]).await;
}

/// Panels that may answer an empty vector here, with why: everything else
/// must return series.
fn may_be_empty(panel: &str) -> bool {
    // No sink is configured in this test: kafka-pulse exports no sink series.
    panel.starts_with("Sink")
        // `lagging` and `caught-up` commit nothing after the traffic, so no
        // group consumes: the time to clear divides by a rate filtered to > 0.
        || panel == "Time to clear lag"
        // Both groups' consumers have left: no member list, no members series.
        || panel == "Members per group"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_scrapes_kafka_pulse_and_every_dashboard_and_rule_query_works() {
    let started = Instant::now();
    let Some(promtool_path) = require(servers::promtool()) else {
        return;
    };
    // The rules and their unit tests, before anything runs.
    let rules_path = rules_file();
    let checked = promtool(
        &promtool_path,
        &["check", "rules", rules_path.to_str().unwrap()],
        None,
    );
    let rule_count = rules().len();
    assert!(
        checked.contains(&format!("SUCCESS: {rule_count} rules found")),
        "{checked}"
    );
    promtool(
        &promtool_path,
        &["test", "rules", "kafka-pulse-rules.test.yml"],
        None,
    );
    // Every alert has a unit test (the test file names it).
    let tests =
        std::fs::read_to_string(repo().join("prometheus/kafka-pulse-rules.test.yml")).unwrap();
    for (_, name, _) in rules() {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "kafka-pulse-rules.test.yml has no test of {name}"
        );
    }

    let mut config = two_clusters(TOPIC);
    // The kafka_exporter-names dashboard reads the compatibility series.
    config.metrics.kafka_exporter_compat = true;
    let running = app::start(config).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    known_traffic(&running.kafka_bootstrap).await;
    // Both clusters see the test topic and its groups (the same broker).
    let api = |cluster: &str| format!("/api/v1/clusters/{cluster}");
    wait_for_json(
        &base,
        &format!("{}/groups/{LAGGING}", api(MIRROR)),
        WAIT,
        |b| b["lag"] == 60,
    )
    .await;
    let group = wait_for_json(
        &base,
        &format!("{}/groups/{LAGGING}", api(LOCAL)),
        WAIT,
        |b| b["lag"] == 60,
    )
    .await;
    let (_, topic) = get_json(&base, &format!("{}/topics/{TOPIC}", api(LOCAL))).await;
    assert_eq!(topic["depth"], 100, "{topic}");

    // The exposition passes Prometheus' own linter, except for two names
    // kafka_exporter chose (gauges ending in _sum), which the compatibility
    // series must keep; exit code 3 is "lint problems", 1 a parse error.
    // Both clusters in one exposition: promtool refuses a family twice.
    let (status, exposition) = get_text(&base, "/metrics").await;
    assert_eq!(status, 200);
    for cluster in [LOCAL, MIRROR] {
        assert!(
            exposition.contains(&format!(
                "kafka_pulse_topic_depth_messages{{cluster=\"{cluster}\",topic=\"{TOPIC}\"}} 100"
            )),
            "{exposition}"
        );
    }
    let (code, lint) = promtool_run(&promtool_path, &["check", "metrics"], Some(&exposition));
    const KAFKA_EXPORTER_SUM_GAUGES: [&str; 2] = [
        "kafka_consumergroup_current_offset_sum ",
        "kafka_consumergroup_lag_sum ",
    ];
    let problems: Vec<&str> = lint.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        code == Some(0)
            || (code == Some(3)
                && problems
                    .iter()
                    .all(|l| KAFKA_EXPORTER_SUM_GAUGES.iter().any(|n| l.starts_with(n)))),
        "promtool check metrics ({code:?}):\n{lint}"
    );

    let prometheus_config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    kafka_pulse_url: {base}
rule_files:
  - {rules}
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ["{addr}"]
"#,
        rules = rules_path.display(),
        addr = running.web_addr,
    );
    let Some(prometheus) = require(servers::prometheus(&prometheus_config)) else {
        return;
    };
    let prom = prometheus.base.clone();

    // Scraped with the numbers the API serves, and long enough for rate()
    // over $__rate_interval (at least two samples per window).
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = query(
            &prom,
            "count_over_time(kafka_pulse_group_lag_messages{group=\"lagging\"}[1m])",
        )
        .await;
        let samples = value_of(vector("scrapes", "count_over_time", &answer), &[]);
        if samples.is_some_and(|n| n >= 5.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no scrapes: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Both clusters' series, each with its own label (none renamed to
    // exported_cluster): the test topic in both, the demo topics in
    // `local` only (the mirror watches the test topic alone).
    let deadline = Instant::now() + WAIT;
    loop {
        let expr = "count by (cluster) (kafka_pulse_topic_depth_messages)";
        let answer = query(&prom, expr).await;
        let counts = vector("topics per cluster", expr, &answer);
        let local = value_of(counts, &[("cluster", LOCAL)]);
        let mirror = value_of(counts, &[("cluster", MIRROR)]);
        if local.is_some_and(|n| n > 1.0) && mirror == Some(1.0) {
            assert_eq!(counts.len(), 2, "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "{answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let expr = format!("kafka_pulse_topic_depth_messages{{topic=\"{TOPIC}\"}}");
    let answer = query(&prom, &expr).await;
    let both = vector("test topic in both", &expr, &answer);
    for cluster in [LOCAL, MIRROR] {
        assert_eq!(
            value_of(both, &[("cluster", cluster)]),
            Some(100.0),
            "{answer}"
        );
    }
    let renamed = query(&prom, "count({exported_cluster!=\"\"})").await;
    assert!(
        vector("renamed", "exported_cluster", &renamed).is_empty(),
        "{renamed}"
    );

    // Every panel query runs with one cluster chosen; the ones with data
    // here return series, and only that cluster's.
    for q in dashboard_queries(Some(MIRROR)) {
        let what = format!("{} / {} ($cluster = {MIRROR})", q.dashboard, q.panel);
        let answer = query(&prom, &q.expr).await;
        let result = vector(&what, &q.expr, &answer);
        assert!(
            !result.is_empty() || may_be_empty(&q.panel),
            "{what}: `{}` returned no series",
            q.expr
        );
        for series in result {
            let cluster = &series["metric"]["cluster"];
            assert!(
                cluster.is_null() || cluster == MIRROR,
                "{what}: `{}` answered {series}",
                q.expr
            );
            if let Some(topic) = series["metric"]["topic"].as_str() {
                assert_eq!(topic, TOPIC, "{what}: the mirror's topics only: {series}");
            }
        }
    }

    // Every panel query runs with All; the ones with data here return series.
    let queries = dashboard_queries(None);
    let dashboards: std::collections::BTreeSet<&str> =
        queries.iter().map(|q| q.dashboard.as_str()).collect();
    assert!(
        dashboards.len() >= 5,
        "expected the four Prometheus dashboards and the kafka_exporter one, saw {dashboards:?}"
    );
    // That one must work on kafka_exporter itself: none of kafka-pulse's names.
    let compat = "kafka-pulse-prometheus-kafka-exporter.json";
    for q in queries.iter().filter(|q| q.dashboard == compat) {
        assert!(
            !q.expr.contains("kafka_pulse_"),
            "{compat} / {}: `{}` needs kafka-pulse's own series",
            q.panel,
            q.expr
        );
    }
    let mut answers: BTreeMap<(String, String), Vec<Vec<Value>>> = BTreeMap::new();
    for q in &queries {
        let what = format!("{} / {}", q.dashboard, q.panel);
        let answer = query(&prom, &q.expr).await;
        let result = vector(&what, &q.expr, &answer).clone();
        assert!(
            !result.is_empty() || may_be_empty(&q.panel),
            "{what}: `{}` returned no series",
            q.expr
        );
        answers
            .entry((q.dashboard.clone(), q.panel.clone()))
            .or_default()
            .push(result);
    }
    let first = |dashboard: &str, panel: &str| -> &Vec<Value> {
        &answers
            .get(&(dashboard.to_string(), panel.to_string()))
            .unwrap_or_else(|| panic!("no panel {panel} in {dashboard}"))[0]
    };

    // Panels showing a number the JSON API has show the API's number.
    let overview = "kafka-pulse-prometheus-overview.json";
    let lag = "kafka-pulse-prometheus-consumer-lag.json";
    let partitions = "kafka-pulse-prometheus-partitions.json";
    let mut proven_values = 0;
    let mut check = |what: &str, got: Option<f64>, want: f64| {
        assert_eq!(got, Some(want), "{what}");
        proven_values += 1;
    };
    check(
        "overview depth per topic",
        value_of(first(overview, "Depth per topic"), &[("topic", TOPIC)]),
        topic["depth"].as_f64().unwrap(),
    );
    for cluster in [LOCAL, MIRROR] {
        check(
            "overview Kafka up",
            value_of(first(overview, "Kafka"), &[("cluster", cluster)]),
            1.0,
        );
    }
    check(
        "lag per group",
        value_of(first(lag, "Lag per group"), &[("group", LAGGING)]),
        group["lag"].as_f64().unwrap(),
    );
    check(
        "lag per topic",
        value_of(
            first(lag, "Lag per topic"),
            &[("group", LAGGING), ("topic", TOPIC)],
        ),
        group["lag"].as_f64().unwrap(),
    );
    // The status moves on its own (a group that stops committing turns
    // STALL/STOP after a while), so API and panel are compared at one moment:
    // asked one after the other until a scrape has caught up.
    let status_expr = &queries
        .iter()
        .find(|q| q.dashboard == lag && q.panel == "Current status")
        .expect("a Current status panel")
        .expr;
    let deadline = Instant::now() + WAIT;
    let (want, got) = loop {
        let (_, now) = get_json(&base, &format!("{}/groups/{LAGGING}", api(LOCAL))).await;
        let status = now["status"]
            .as_str()
            .expect("status in the API")
            .to_string();
        let code = STATUS_CODES
            .iter()
            .position(|s| s.eq_ignore_ascii_case(&status))
            .unwrap_or_else(|| panic!("unknown status {status}"));
        let answer = query(&prom, status_expr).await;
        let got = value_of(
            vector("status", status_expr, &answer),
            &[("cluster", LOCAL), ("group", LAGGING)],
        );
        if got == Some(code as f64) || Instant::now() > deadline {
            break (code as f64, got);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    check("current status code", got, want);
    for row in topic["partitions"].as_array().unwrap() {
        let partition = row["partition"].to_string();
        check(
            "depth per partition",
            value_of(
                first(partitions, "Depth per partition — $topic"),
                &[("partition", &partition)],
            ),
            row["depth"].as_f64().unwrap(),
        );
        check(
            "high watermark per partition",
            value_of(
                first(partitions, "High watermark per partition — $topic"),
                &[("partition", &partition)],
            ),
            row["high_watermark"].as_f64().unwrap(),
        );
    }
    check(
        "kafka_exporter names: retained messages per topic",
        value_of(
            first(compat, "Retained messages per topic"),
            &[("topic", TOPIC)],
        ),
        topic["depth"].as_f64().unwrap(),
    );
    check(
        "kafka_exporter names: lag per group and topic",
        value_of(
            first(compat, "Lag per group and topic"),
            &[("consumergroup", LAGGING), ("topic", TOPIC)],
        ),
        group["lag"].as_f64().unwrap(),
    );
    for row in group["partitions"].as_array().unwrap() {
        let partition = row["partition"].to_string();
        check(
            "kafka_exporter names: lag per partition",
            value_of(
                first(compat, "Lag per partition"),
                &[
                    ("consumergroup", LAGGING),
                    ("topic", TOPIC),
                    ("partition", &partition),
                ],
            ),
            row["lag"].as_f64().unwrap(),
        );
        check(
            "lag per partition",
            value_of(
                first(partitions, "Lag per partition — group $group"),
                &[("topic", TOPIC), ("partition", &partition)],
            ),
            row["lag"].as_f64().unwrap(),
        );
    }

    // Every rule expression runs; Prometheus loaded every rule healthy.
    for (group_name, name, expr) in rules() {
        let answer = query(&prom, &expr).await;
        vector(&format!("rule {group_name}/{name}"), &expr, &answer);
    }
    let loaded: Value = reqwest::get(format!("{prom}/api/v1/rules"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut healthy = 0;
    for group in loaded["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            healthy += 1;
        }
    }
    assert_eq!(healthy, rule_count, "{loaded}");
    // Known traffic breaks no threshold, and every `for:` is longer than
    // this test: nothing fires. `lagging` stops committing while behind, so
    // kafka-pulse turns it STALL or STOP and the status alert goes pending:
    // its description, rendered by the real server, names the cluster and
    // links to the group's page of that cluster under the external label
    // (promtool 2.42's unit tests cannot set external labels): one alert
    // per cluster, each link answered.
    for cluster in [LOCAL, MIRROR] {
        let deadline = Instant::now() + WAIT;
        let pending = loop {
            let alerts: Value = reqwest::get(format!("{prom}/api/v1/alerts"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let list = alerts["data"]["alerts"].as_array().unwrap().clone();
            assert!(list.iter().all(|a| a["state"] != "firing"), "{alerts}");
            if let Some(alert) = list.iter().find(|a| {
                a["labels"]["alertname"] == "KafkaPulseGroupStatus"
                    && a["labels"]["group"] == LAGGING
                    && a["labels"]["cluster"] == cluster
            }) {
                break alert.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no pending status alert for {LAGGING} in {cluster}: {alerts}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let description = pending["annotations"]["description"].as_str().unwrap();
        let link = format!("{base}/clusters/{cluster}/groups/{LAGGING}");
        assert!(
            description.ends_with(&link) && description.contains(&format!("(cluster {cluster})")),
            "{description}"
        );
        let page = reqwest::get(&link).await.unwrap();
        assert_eq!(page.status(), 200, "{link}");
    }

    println!(
        "proven: {} panel queries of {} dashboards ({proven_values} values equal to the API), {rule_count} rule expressions, promtool check metrics/check rules/test rules; {:.1}s",
        queries.len(),
        dashboards.len(),
        started.elapsed().as_secs_f64()
    );
    drop(prometheus);
}

//! The saved objects in elk/ (Kibana's and OpenSearch Dashboards') run
//! against a real engine: every saved search's query, every
//! visualization's aggregations and every control's options list, turned
//! into the request Kibana would send, as tests/influx.rs runs every
//! Grafana query against a real InfluxDB.
//!
//! No engine evaluates KQL: Kibana (and OpenSearch Dashboards, which calls
//! it DQL) turns it into Query DSL in the browser. Saved queries are
//! therefore Lucene, which both send as `query_string` and both engines
//! run. A KQL query, or an object type, aggregation or control this
//! translation does not know, fails the run with a message instead of
//! being skipped, so nothing in the files goes unchecked.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// Start of the time range every request covers (the time picker's range,
/// which Kibana adds as a filter on the data view's time field).
pub const TIME_FROM: &str = "now-1h";
const TIME_RANGE_SECONDS: u64 = 3600;

/// One ndjson file of saved objects.
pub struct SavedObjects {
    /// Relative to the repository, for messages.
    pub path: String,
    pub objects: Vec<Value>,
}

/// What an [`Answer`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Search,
    /// A visualization's aggregations.
    Aggregations,
    /// An `input_control_vis` panel: it counts as run once its controls
    /// have answered; its buckets are theirs.
    ControlPanel,
    /// One control's options.
    Control,
}

/// What one saved search, visualization or control asked and got.
#[derive(Debug)]
pub struct Answer {
    pub kind: Kind,
    pub id: String,
    pub title: String,
    /// The index pattern the request went to.
    pub index: String,
    pub request: Value,
    /// Documents the request matched.
    pub hits: u64,
    /// Leaf buckets of a visualization or control; 0 for a search.
    pub buckets: usize,
    /// `event.action` of a search's hits.
    pub actions: BTreeSet<String>,
    /// A control's field and the keys of its options (its terms buckets).
    pub field: Option<String>,
    pub keys: Vec<Value>,
    /// Non-empty buckets whose metric came back null: the field is missing
    /// from the documents, or is not a number.
    pub null_metrics: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub searches: Vec<Answer>,
    pub visualizations: Vec<Answer>,
    pub controls: Vec<Answer>,
    /// `(type, id)` of every dashboard panel.
    pub panels: Vec<(String, String)>,
}

/// The query, filters and index a request is built from.
struct Context {
    index: String,
    time_field: Option<String>,
    must: Vec<Value>,
    filter: Vec<Value>,
    must_not: Vec<Value>,
}

/// Aggregation types a visualization may use, and how each becomes DSL.
const METRIC_AGGS: &[&str] = &["count", "max", "min", "avg", "sum", "cardinality"];
const BUCKET_AGGS: &[&str] = &["date_histogram", "terms"];

impl SavedObjects {
    pub fn load(relative: &str) -> Self {
        let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
        let objects = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{relative}: {e}: {l}")))
            .collect();
        SavedObjects {
            path: relative.to_string(),
            objects,
        }
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["type"] == kind)
    }

    /// How many controls the `input_control_vis` visualizations hold.
    pub fn control_count(&self) -> usize {
        self.of_type("visualization")
            .map(vis_state)
            .filter(|s| s["type"] == "input_control_vis")
            .map(|s| s["params"]["controls"].as_array().map_or(0, Vec::len))
            .sum()
    }

    fn what(&self, object: &Value) -> String {
        format!(
            "{}: {} {} ({})",
            self.path, object["type"], object["id"], object["attributes"]["title"]
        )
    }

    fn get(&self, kind: &str, id: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["type"] == kind && o["id"] == id)
            .unwrap_or_else(|| panic!("{}: no {kind} {id}", self.path))
    }

    /// The object `object`'s reference named `name` points at.
    fn referenced(&self, object: &Value, name: &str) -> &Value {
        let reference = object["references"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["name"] == name))
            .unwrap_or_else(|| panic!("{}: no reference {name}", self.what(object)));
        self.get(
            reference["type"].as_str().unwrap_or_default(),
            reference["id"].as_str().unwrap_or_default(),
        )
    }

    /// `(title, time field)` of the index pattern behind reference `name`.
    fn index_pattern(&self, object: &Value, name: &str) -> (String, Option<String>) {
        let pattern = self.referenced(object, name);
        assert_eq!(
            pattern["type"],
            "index-pattern",
            "{}: {name} is not an index pattern",
            self.what(object)
        );
        let title = pattern["attributes"]["title"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: untitled", self.what(pattern)))
            .to_string();
        let time_field = pattern["attributes"]["timeFieldName"]
            .as_str()
            .map(str::to_string);
        (title, time_field)
    }

    /// The search source of `object` (its query, filters, index), on top of
    /// the saved search it is built on, if any.
    fn context(&self, object: &Value) -> Context {
        let what = self.what(object);
        let source = search_source(object);
        let mut context = if let Some(name) = object["attributes"]["savedSearchRefName"].as_str() {
            self.context(self.referenced(object, name))
        } else {
            let name = source["indexRefName"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no index pattern (indexRefName)"));
            let (index, time_field) = self.index_pattern(object, name);
            Context {
                index,
                time_field,
                must: Vec::new(),
                filter: Vec::new(),
                must_not: Vec::new(),
            }
        };
        context.must.extend(query_clause(&what, &source));
        filter_clauses(&what, &source, &mut context.filter, &mut context.must_not);
        context
    }

    /// Runs every saved search, visualization and control, each with the
    /// extra filter clauses `extra` (what a dashboard filter, such as the
    /// Cluster control's choice, adds to every panel). Panics on anything
    /// it cannot translate; the caller asserts on the answers.
    pub async fn run(&self, url: &str, extra: &[Value]) -> Report {
        let http = reqwest::Client::new();
        let mut report = Report::default();
        for object in &self.objects {
            match object["type"].as_str().unwrap_or_default() {
                // Checked through the objects that use them: each request
                // goes to its index pattern and filters on its time field.
                "index-pattern" => {}
                "search" => report
                    .searches
                    .push(self.run_search(&http, url, object, extra).await),
                "visualization" => {
                    let state = vis_state(object);
                    if state["type"] == "input_control_vis" {
                        let controls = self.run_controls(&http, url, object, &state).await;
                        report.visualizations.push(Answer {
                            buckets: controls.iter().map(|c| c.buckets).sum(),
                            ..answer(Kind::ControlPanel, object, "", json!(null))
                        });
                        report.controls.extend(controls);
                    } else {
                        report.visualizations.push(
                            self.run_aggregations(&http, url, object, &state, extra)
                                .await,
                        );
                    }
                }
                "dashboard" => report.panels.extend(self.dashboard_panels(object)),
                other => panic!(
                    "{}: saved object type {other:?} is not translated by this check (Lens and \
                     other Kibana-only types cannot be run here, and OpenSearch Dashboards \
                     cannot import them)",
                    self.what(object)
                ),
            }
        }
        report
    }

    async fn run_search(
        &self,
        http: &reqwest::Client,
        url: &str,
        object: &Value,
        extra: &[Value],
    ) -> Answer {
        let context = self.context(object);
        let sort: Vec<Value> = object["attributes"]["sort"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|pair| json!({ pair[0].as_str().unwrap_or_default(): {"order": pair[1]} }))
            .collect();
        let request = json!({
            "size": 100,
            "track_total_hits": true,
            "sort": sort,
            "query": bool_query(&context, extra),
        });
        let body = search(http, url, &context.index, &request, &self.what(object)).await;
        let mut answer = answer(Kind::Search, object, &context.index, request);
        answer.hits = total(&body);
        answer.actions = body["hits"]["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|hit| hit["_source"]["event"]["action"].as_str())
            .map(str::to_string)
            .collect();
        answer
    }

    async fn run_aggregations(
        &self,
        http: &reqwest::Client,
        url: &str,
        object: &Value,
        state: &Value,
        extra: &[Value],
    ) -> Answer {
        let what = self.what(object);
        let context = self.context(object);
        let aggs: Vec<&Value> = state["aggs"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: visState has no aggs"))
            .iter()
            .filter(|a| a["enabled"] != false)
            .collect();
        let kind = |a: &Value| a["type"].as_str().unwrap_or_default().to_string();
        for agg in &aggs {
            let t = kind(agg);
            assert!(
                METRIC_AGGS.contains(&t.as_str()) || BUCKET_AGGS.contains(&t.as_str()),
                "{what}: aggregation {t:?} is not translated by this check: {agg}"
            );
        }
        let metrics: Vec<&Value> = aggs
            .iter()
            .copied()
            .filter(|a| METRIC_AGGS.contains(&kind(a).as_str()))
            .collect();
        let buckets: Vec<&Value> = aggs
            .iter()
            .copied()
            .filter(|a| BUCKET_AGGS.contains(&kind(a).as_str()))
            .collect();
        assert!(!metrics.is_empty(), "{what}: no metric");
        // Kibana nests the bucket aggregations in their order and puts the
        // metrics under the innermost one (metricsAtAllLevels is off for
        // these charts); a terms ordered by a metric gets that metric as
        // its own sub-aggregation.
        let metric_dsl = |metric: &Value| -> Option<(String, Value)> {
            let t = kind(metric);
            (t != "count").then(|| {
                let field = metric["params"]["field"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: {t} without a field"));
                (id_of(metric), json!({ t: { "field": field } }))
            })
        };
        let mut inner = Map::new();
        for metric in &metrics {
            if let Some((id, dsl)) = metric_dsl(metric) {
                inner.insert(id, dsl);
            }
        }
        for bucket in buckets.iter().rev() {
            let mut dsl = bucket_dsl(&what, bucket, &metrics);
            if !inner.is_empty() {
                let children = dsl["aggs"].as_object().cloned().unwrap_or_default();
                let mut merged = inner.clone();
                merged.extend(children);
                dsl["aggs"] = Value::Object(merged);
            }
            inner = Map::new();
            inner.insert(id_of(bucket), dsl);
        }
        let request = json!({
            "size": 0,
            "track_total_hits": true,
            "query": bool_query(&context, extra),
            "aggs": inner,
        });
        let body = search(http, url, &context.index, &request, &what).await;
        let mut answer = answer(Kind::Aggregations, object, &context.index, request);
        answer.hits = total(&body);
        let bucket_ids: Vec<String> = buckets.iter().map(|b| id_of(b)).collect();
        let metric_ids: Vec<String> = metrics
            .iter()
            .filter(|m| kind(m) != "count")
            .map(|m| id_of(m))
            .collect();
        walk(
            &body["aggregations"],
            &bucket_ids,
            &metric_ids,
            answer.hits,
            "",
            &mut answer,
        );
        answer
    }

    /// Each control of an `input_control_vis` as the request Kibana makes
    /// for its options: a terms aggregation on the field (list) or its min
    /// and max (range), on the control's own index pattern.
    async fn run_controls(
        &self,
        http: &reqwest::Client,
        url: &str,
        object: &Value,
        state: &Value,
    ) -> Vec<Answer> {
        let what = self.what(object);
        let mut answers = Vec::new();
        for control in state["params"]["controls"].as_array().into_iter().flatten() {
            let field = control["fieldName"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: control without fieldName: {control}"));
            assert!(
                control["parent"].as_str().unwrap_or_default().is_empty(),
                "{what}: chained controls (parent) are not translated by this check"
            );
            let name = control["indexPatternRefName"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: control without indexPatternRefName"));
            let (index, time_field) = self.index_pattern(object, name);
            let context = Context {
                index,
                time_field: time_field.filter(|_| state["params"]["useTimeFilter"] == true),
                must: Vec::new(),
                filter: Vec::new(),
                must_not: Vec::new(),
            };
            let aggs = match control["type"].as_str() {
                Some("list") => json!({"termsAgg": {"terms": {
                    "field": field,
                    "size": control["options"]["size"].as_u64().unwrap_or(5),
                    "order": {"_count": control["options"]["order"].as_str().unwrap_or("desc")},
                }}}),
                Some("range") => json!({
                    "minAgg": {"min": {"field": field}},
                    "maxAgg": {"max": {"field": field}},
                }),
                other => panic!("{what}: control type {other:?} is not translated by this check"),
            };
            let request = json!({
                "size": 0,
                "track_total_hits": true,
                "query": bool_query(&context, &[]),
                "aggs": aggs,
            });
            let body = search(http, url, &context.index, &request, &what).await;
            let mut answer = answer(Kind::Control, object, &context.index, request);
            answer.title = format!("{} / {}", answer.title, control["label"]);
            answer.hits = total(&body);
            answer.field = Some(field.to_string());
            let aggregations = &body["aggregations"];
            if control["type"] == "list" {
                answer.keys = aggregations["termsAgg"]["buckets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|b| b["key"].clone())
                    .collect();
                answer.buckets = answer.keys.len();
            } else {
                for agg in ["minAgg", "maxAgg"] {
                    if aggregations[agg]["value"].is_null() && answer.hits > 0 {
                        answer.null_metrics.push(format!("{field} {agg}"));
                    }
                }
                answer.buckets = usize::from(answer.null_metrics.is_empty() && answer.hits > 0);
            }
            answers.push(answer);
        }
        answers
    }

    /// `(type, id)` of each panel. A dashboard's own query and filters would
    /// narrow every panel; this check runs the panels without them, so it
    /// insists there are none.
    fn dashboard_panels(&self, dashboard: &Value) -> Vec<(String, String)> {
        let what = self.what(dashboard);
        let source = search_source(dashboard);
        assert!(
            query_clause(&what, &source).is_none()
                && source["filter"].as_array().is_none_or(Vec::is_empty),
            "{what}: a dashboard-level query or filter is not translated by this check"
        );
        let panels: Vec<Value> = serde_json::from_str(
            dashboard["attributes"]["panelsJSON"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no panelsJSON")),
        )
        .unwrap_or_else(|e| panic!("{what}: panelsJSON: {e}"));
        panels
            .iter()
            .map(|panel| {
                let name = panel["panelRefName"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: panel without panelRefName: {panel}"));
                let target = self.referenced(dashboard, name);
                let kind = target["type"].as_str().unwrap_or_default().to_string();
                assert!(
                    kind == "search" || kind == "visualization",
                    "{what}: panel {name} is a {kind}, not translated by this check"
                );
                if let Some(declared) = panel["type"].as_str() {
                    assert_eq!(declared, kind, "{what}: panel {name}");
                }
                (kind, target["id"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    }
}

fn answer(kind: Kind, object: &Value, index: &str, request: Value) -> Answer {
    Answer {
        kind,
        id: object["id"].as_str().unwrap_or_default().to_string(),
        title: object["attributes"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        index: index.to_string(),
        request,
        hits: 0,
        buckets: 0,
        actions: BTreeSet::new(),
        field: None,
        keys: Vec::new(),
        null_metrics: Vec::new(),
    }
}

fn id_of(agg: &Value) -> String {
    match &agg["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}

pub fn search_source(object: &Value) -> Value {
    object["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
        .as_str()
        .map(|text| serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}")))
        .unwrap_or_else(|| json!({}))
}

fn vis_state(object: &Value) -> Value {
    let text = object["attributes"]["visState"]
        .as_str()
        .unwrap_or_else(|| panic!("visualization {} has no visState", object["id"]));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: visState: {e}", object["id"]))
}

/// The Query DSL Kibana makes of a saved query: Lucene becomes
/// `query_string` with Kibana's default `query:queryString:options`
/// (`analyze_wildcard`); an empty query, in either language, matches all.
pub fn query_clause(what: &str, source: &Value) -> Option<Value> {
    let query = &source["query"];
    if query.is_null() {
        return None;
    }
    let text = query["query"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: the query is not a string: {query}"));
    if text.trim().is_empty() {
        return None;
    }
    match query["language"].as_str() {
        Some("lucene") => Some(json!({"query_string": {"query": text, "analyze_wildcard": true}})),
        other => panic!(
            "{what}: query {text:?} is in {other:?}; no engine runs KQL (Kibana and OpenSearch \
             Dashboards translate it in the browser): write it in Lucene, \"language\":\"lucene\""
        ),
    }
}

/// Filter pills: the DSL each holds (under `query` in objects from Kibana
/// 7 on, the bare clause in older ones), negated ones as `must_not`;
/// disabled ones do nothing.
fn filter_clauses(what: &str, source: &Value, filter: &mut Vec<Value>, must_not: &mut Vec<Value>) {
    for pill in source["filter"].as_array().into_iter().flatten() {
        let meta = &pill["meta"];
        if meta["disabled"] == true {
            continue;
        }
        let clause = match pill.get("query") {
            Some(query) => query.clone(),
            None => {
                let mut rest = pill.as_object().cloned().unwrap_or_default();
                rest.remove("meta");
                rest.remove("$state");
                assert_eq!(rest.len(), 1, "{what}: filter is not one clause: {pill}");
                Value::Object(rest)
            }
        };
        if meta["negate"] == true {
            must_not.push(clause);
        } else {
            filter.push(clause);
        }
    }
}

fn bool_query(context: &Context, extra: &[Value]) -> Value {
    let mut filter = context.filter.clone();
    filter.extend(extra.iter().cloned());
    if let Some(field) = &context.time_field {
        filter.push(json!({"range": {field: {
            "gte": TIME_FROM, "lte": "now", "format": "strict_date_optional_time"
        }}}));
    }
    json!({"bool": {"must": context.must, "filter": filter, "must_not": context.must_not}})
}

/// A bucket aggregation as Kibana sends it.
fn bucket_dsl(what: &str, bucket: &Value, metrics: &[&Value]) -> Value {
    let params = &bucket["params"];
    let field = params["field"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {} without a field", bucket["type"]));
    match bucket["type"].as_str() {
        Some("date_histogram") => {
            let mut dsl = json!({
                "field": field,
                "min_doc_count": params["min_doc_count"].as_u64().unwrap_or(1),
            });
            let (key, interval) = interval(what, params["interval"].as_str().unwrap_or("auto"));
            dsl[key] = json!(interval);
            json!({ "date_histogram": dsl })
        }
        Some("terms") => {
            let order = params["order"].as_str().unwrap_or("desc");
            let order_by = params["orderBy"].as_str().unwrap_or("_key");
            let mut dsl = json!({"field": field, "size": params["size"].as_u64().unwrap_or(5)});
            let mut aggs = Map::new();
            if order_by == "_key" {
                dsl["order"] = json!({"_key": order});
            } else {
                let metric = metrics
                    .iter()
                    .find(|m| id_of(m) == order_by)
                    .unwrap_or_else(|| {
                        panic!("{what}: terms ordered by {order_by:?}, not one of its metrics")
                    });
                if metric["type"] == "count" {
                    dsl["order"] = json!({"_count": order});
                } else {
                    let metric_field = metric["params"]["field"].as_str().unwrap_or_default();
                    dsl["order"] = json!({ order_by: order });
                    aggs.insert(
                        order_by.to_string(),
                        json!({ metric["type"].as_str().unwrap_or_default(): {"field": metric_field} }),
                    );
                }
            }
            if params["missingBucket"] == true {
                dsl["missing"] = json!("__missing__");
            }
            // otherBucket: Kibana asks for the "Other" bucket in a second
            // request; it adds a bucket, never removes one, so it is left out.
            let mut out = json!({ "terms": dsl });
            if !aggs.is_empty() {
                out["aggs"] = Value::Object(aggs);
            }
            out
        }
        other => panic!("{what}: bucket aggregation {other:?} is not translated by this check"),
    }
}

/// `(date_histogram key, interval)` for Kibana's interval setting. `auto`
/// is Kibana's: the round interval nearest the time range over 50 bars
/// (`histogram:barTarget`).
fn interval(what: &str, setting: &str) -> (&'static str, String) {
    const ROUND: &[(u64, &str)] = &[
        (1, "1s"),
        (5, "5s"),
        (10, "10s"),
        (30, "30s"),
        (60, "1m"),
        (300, "5m"),
        (600, "10m"),
        (1800, "30m"),
        (3600, "1h"),
        (10800, "3h"),
        (43200, "12h"),
        (86400, "1d"),
    ];
    match setting {
        "auto" => {
            let target = TIME_RANGE_SECONDS / 50;
            let (_, interval) = ROUND
                .iter()
                .min_by_key(|(seconds, _)| seconds.abs_diff(target))
                .unwrap();
            ("fixed_interval", interval.to_string())
        }
        // Kibana's unit names: calendar units for days and longer.
        "d" | "w" | "M" | "y" => ("calendar_interval", format!("1{setting}")),
        "ms" | "s" | "m" | "h" => ("fixed_interval", format!("1{setting}")),
        custom if custom.ends_with(['s', 'm', 'h']) => ("fixed_interval", custom.to_string()),
        other => {
            panic!("{what}: date_histogram interval {other:?} is not translated by this check")
        }
    }
}

/// Counts the leaf buckets under `node` and notes non-empty buckets whose
/// metrics are null. Every non-empty bucket must split further (the
/// visualization would otherwise show an empty segment).
fn walk(
    node: &Value,
    buckets: &[String],
    metrics: &[String],
    doc_count: u64,
    path: &str,
    answer: &mut Answer,
) {
    let Some((id, rest)) = buckets.split_first() else {
        if doc_count > 0 {
            answer.buckets += 1;
            for metric in metrics {
                if node[metric]["value"].is_null() {
                    answer
                        .null_metrics
                        .push(format!("metric {metric} at [{path}]: {}", node[metric]));
                }
            }
        }
        return;
    };
    let children = node[id]["buckets"].as_array().cloned().unwrap_or_default();
    if doc_count > 0 && children.is_empty() {
        answer.null_metrics.push(format!(
            "no {id} buckets at [{path}] over {doc_count} documents"
        ));
    }
    for child in &children {
        let key = child
            .get("key_as_string")
            .unwrap_or(&child["key"])
            .to_string();
        walk(
            child,
            rest,
            metrics,
            child["doc_count"].as_u64().unwrap_or(0),
            &format!("{path}/{key}"),
            answer,
        );
    }
}

fn total(body: &Value) -> u64 {
    body["hits"]["total"]["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("no hits.total in {body}"))
}

async fn search(
    http: &reqwest::Client,
    url: &str,
    index: &str,
    request: &Value,
    what: &str,
) -> Value {
    let response = http
        .post(format!("{url}/{index}/_search"))
        .json(request)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        status.is_success(),
        "{what}: {status} for {index}/_search {request}: {body}"
    );
    body
}

/// The attributes OpenSearch Dashboards' saved-object types declare
/// (src/plugins/{discover,visualizations,dashboard}/server/saved_objects/
/// *.ts, 2.x): its saved-objects index is mapped `dynamic: strict`, so an
/// import with any other attribute fails ("mapping set to strict, dynamic
/// introduction of [x] within [dashboard] is not allowed"). The index
/// pattern's mapping is `dynamic: false` (src/plugins/data/server/
/// saved_objects/index_patterns.ts): listed are the attributes its index
/// patterns service reads.
pub const OSD_ATTRIBUTES: &[(&str, &[&str])] = &[
    (
        "index-pattern",
        &[
            "title",
            "type",
            "timeFieldName",
            "fields",
            "fieldFormatMap",
            "sourceFilters",
            "intervalName",
            "typeMeta",
        ],
    ),
    (
        "search",
        &[
            "title",
            "description",
            "columns",
            "sort",
            "hits",
            "version",
            "columnWidths",
            "kibanaSavedObjectMeta",
        ],
    ),
    (
        "visualization",
        &[
            "title",
            "description",
            "visState",
            "uiStateJSON",
            "version",
            "savedSearchRefName",
            "kibanaSavedObjectMeta",
        ],
    ),
    (
        "dashboard",
        &[
            "title",
            "description",
            "hits",
            "panelsJSON",
            "optionsJSON",
            "refreshInterval",
            "timeRestore",
            "timeFrom",
            "timeTo",
            "version",
            "kibanaSavedObjectMeta",
        ],
    ),
];

/// A Kibana object as elk/opensearch-dashboards ships it: the same object
/// less what only Kibana 8 has. The data view `name` (OpenSearch Dashboards
/// names an index pattern by its title), drilldown `enhancements` in panels
/// (Kibana's x-pack) and the dashboard's colour and tooltip syncing options
/// (Kibana 7.15+). Migration versions are dropped too: OpenSearch
/// Dashboards refuses an object stamped with a version newer than its own,
/// and Kibana 8 exports stamp 8.x.
pub fn for_opensearch_dashboards(kibana: &Value) -> Value {
    let mut object = json!({
        "type": kibana["type"],
        "id": kibana["id"],
        "attributes": kibana["attributes"],
        "references": kibana["references"],
    });
    let attributes = object["attributes"].as_object_mut().expect("attributes");
    match kibana["type"].as_str() {
        Some("index-pattern") => {
            attributes.remove("name");
        }
        Some("dashboard") => {
            let mut panels: Vec<Value> =
                serde_json::from_str(attributes["panelsJSON"].as_str().unwrap_or("[]"))
                    .expect("panelsJSON");
            for panel in &mut panels {
                if let Some(config) = panel["embeddableConfig"].as_object_mut() {
                    config.remove("enhancements");
                }
            }
            attributes.insert("panelsJSON".into(), json!(compact(&json!(panels))));
            if let Some(text) = attributes.get("optionsJSON").and_then(Value::as_str) {
                let options: Map<String, Value> = serde_json::from_str(text).expect("optionsJSON");
                let kept: Map<String, Value> = options
                    .into_iter()
                    .filter(|(k, _)| k == "useMargins" || k == "hidePanelTitles")
                    .collect();
                attributes.insert("optionsJSON".into(), json!(compact(&Value::Object(kept))));
            }
        }
        _ => {}
    }
    object
}

/// JSON text, as the objects hold JSON in strings.
fn compact(value: &Value) -> String {
    serde_json::to_string(value).expect("serialisable")
}

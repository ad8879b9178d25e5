//! A protocol-faithful stand-in for Elasticsearch (none can be installed
//! here). It checks requests the way Elasticsearch does and answers in its
//! format:
//! - `GET /` with a version, `PUT /_index_template/{name}` stored;
//! - `POST /_bulk`: NDJSON with the final newline, action and source line
//!   pairs, only `create` into a data stream whose template matches, `_id`
//!   conflicts answered 409, every document field checked against the
//!   template's mapping (a wrong type is rejected per item with
//!   `document_parsing_exception`, like `dynamic: false` mappings do);
//! - scripted faults: whole-request 429/503 and per-item 429s.
//!
//! Checked against a real OpenSearch 2.19 node (tests/common/opensearch.rs);
//! what it showed is imitated here: field values are coerced the way the
//! engines coerce them (numbers and booleans into `keyword`, numeric strings
//! and fractions into `long`, epoch milliseconds into `date`), bulk items
//! name the data stream's backing index, an index no template matches is
//! created on the fly, and with `distribution` set to "opensearch" it
//! answers like OpenSearch (`mapper_parsing_exception`, no
//! `X-Elastic-Product` header).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

/// A fault the next bulk request(s) meet.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The whole request answers this status (429, 503, ...).
    Request(u16),
    /// Items at these positions of the next request answer 429.
    Items(Vec<usize>),
}

#[derive(Default)]
pub struct EsState {
    pub templates: HashMap<String, Value>,
    /// Stored documents per data stream, in arrival order.
    pub documents: HashMap<String, Vec<Value>>,
    ids: HashSet<String>,
    pub bulk_requests: usize,
    /// Every `_id` sent, with how often (retries show up here).
    pub attempts: HashMap<String, usize>,
    faults: VecDeque<Fault>,
    /// While true every request answers 503 (an outage).
    pub down: bool,
    /// Version `GET /` reports (default 8.15.0).
    pub version: Option<String>,
    /// `version.distribution` of `GET /` ("opensearch"); Elasticsearch
    /// reports none.
    pub distribution: Option<String>,
    /// When set, requests without this exact Authorization header get 401.
    pub required_authorization: Option<String>,
    /// Every request as it arrived, so a test can check what was signed.
    pub received: Vec<Received>,
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: &'static str,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl EsState {
    fn receive(&mut self, method: &'static str, path: String, headers: &HeaderMap, body: &Bytes) {
        self.received.push(Received {
            method,
            path,
            headers: headers.clone(),
            body: body.clone(),
        });
    }
}

#[derive(Clone)]
pub struct EsServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<EsState>>,
}

impl EsServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(EsState::default()));
        let app = Router::new()
            .route("/", get(info))
            .route("/_index_template/{name}", put(put_template))
            .route("/_bulk", post(bulk))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        EsServer { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    pub fn documents(&self, stream: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .documents
            .get(stream)
            .cloned()
            .unwrap_or_default()
    }
}

fn es_headers() -> [(&'static str, &'static str); 1] {
    [("x-elastic-product", "Elasticsearch")]
}

fn is_opensearch(state: &EsState) -> bool {
    state.distribution.as_deref() == Some("opensearch")
}

/// The error type of a document that does not fit its mapping:
/// Elasticsearch 8 renamed OpenSearch's (and its own 7.x)
/// `mapper_parsing_exception`.
fn parsing_exception(state: &EsState) -> &'static str {
    if is_opensearch(state) {
        "mapper_parsing_exception"
    } else {
        "document_parsing_exception"
    }
}

fn error(status: StatusCode, kind: &str, reason: &str) -> Response {
    (
        status,
        es_headers(),
        Json(json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status.as_u16()})),
    )
        .into_response()
}

fn unauthorized(state: &EsState, headers: &HeaderMap) -> Option<Response> {
    let required = state.required_authorization.as_deref()?;
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    (given != Some(required)).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "security_exception",
            "unable to authenticate user [elastic] for REST request [/]",
        )
    })
}

async fn info(State(state): State<Arc<Mutex<EsState>>>, headers: HeaderMap) -> Response {
    let mut state = state.lock().unwrap();
    state.receive("GET", "/".into(), &headers, &Bytes::new());
    if state.down {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "down");
    }
    if let Some(refusal) = unauthorized(&state, &headers) {
        return refusal;
    }
    let version = state.version.clone().unwrap_or_else(|| "8.15.0".into());
    if let Some(distribution) = &state.distribution {
        // OpenSearch sends no X-Elastic-Product header.
        return Json(json!({
            "name": "test-node",
            "cluster_name": "test",
            "version": {"distribution": distribution, "number": version, "build_type": "tar"},
            "tagline": "The OpenSearch Project: https://opensearch.org/"
        }))
        .into_response();
    }
    (
        es_headers(),
        Json(json!({
            "name": "test-node",
            "cluster_name": "test",
            "version": {"number": version, "build_flavor": "default"},
            "tagline": "You Know, for Search"
        })),
    )
        .into_response()
}

async fn put_template(
    State(state): State<Arc<Mutex<EsState>>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut state = state.lock().unwrap();
        state.receive("PUT", format!("/_index_template/{name}"), &headers, &body);
        if let Some(refusal) = unauthorized(&state, &headers) {
            return refusal;
        }
    }
    let Ok(template) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "json_parse_exception",
            "Unrecognized token: was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
        );
    };
    // A template without mappings is valid (the real engine accepts one);
    // without index patterns it is not.
    if !template["index_patterns"].is_array() {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "Required [index_patterns]",
        );
    }
    state.lock().unwrap().templates.insert(name, template);
    (es_headers(), Json(json!({"acknowledged": true}))).into_response()
}

/// The template whose pattern matches `index`, if any.
fn template_for<'a>(templates: &'a HashMap<String, Value>, index: &str) -> Option<&'a Value> {
    templates.values().find(|t| {
        t["index_patterns"].as_array().is_some_and(|patterns| {
            patterns
                .iter()
                .filter_map(Value::as_str)
                .any(|p| match p.strip_suffix('*') {
                    Some(prefix) => index.starts_with(prefix),
                    None => index == p,
                })
        })
    })
}

/// Checks `doc` against `properties` like Elasticsearch's mapping does.
fn check_mapping(prefix: &str, doc: &Value, properties: &Value) -> Result<(), String> {
    let Some(fields) = doc.as_object() else {
        return Ok(());
    };
    for (name, value) in fields {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let Some(spec) = properties.get(name) else {
            continue; // dynamic: false keeps unknown fields unindexed
        };
        if let Some(nested) = spec.get("properties") {
            if !value.is_object() {
                return Err(format!("object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"));
            }
            check_mapping(&path, value, nested)?;
            continue;
        }
        let kind = spec["type"].as_str().unwrap_or("object");
        // What the real engine coerces (measured on OpenSearch 2.19, the
        // same defaults as Elasticsearch): any scalar into keyword/text, a
        // number or numeric string into long (a fraction is truncated) or
        // double, RFC 3339 or epoch milliseconds into date.
        let numeric = |v: &Value| {
            v.is_number() || v.as_str().is_some_and(|s| s.trim().parse::<f64>().is_ok())
        };
        let ok = match kind {
            "keyword" | "text" => !value.is_object() && !value.is_array(),
            "long" | "double" => numeric(value),
            "date" => {
                value.is_i64()
                    || value.is_u64()
                    || value
                        .as_str()
                        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
            }
            _ => true,
        };
        if !ok && !value.is_null() {
            return Err(format!(
                "failed to parse field [{path}] of type [{kind}] in document: {value}"
            ));
        }
    }
    Ok(())
}

async fn bulk(
    State(state): State<Arc<Mutex<EsState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    state.receive("POST", "/_bulk".into(), &headers, &body);
    state.bulk_requests += 1;
    if state.down {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_block_exception",
            "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered]",
        );
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Elasticsearch's versioned media type (what its newer clients send
    // for compatibility) is unknown to OpenSearch, which answers 406 with
    // the error as a bare string.
    let vendor = content_type.starts_with("application/vnd.elasticsearch");
    if is_opensearch(&state) && vendor {
        return (
            StatusCode::NOT_ACCEPTABLE,
            Json(json!({"error": format!("Content-Type header [{content_type}] is not supported"), "status": 406})),
        )
            .into_response();
    }
    if !(content_type.starts_with("application/json")
        || content_type.starts_with("application/x-ndjson")
        || vendor)
    {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "media_type_header_exception",
            "Content-Type header is not supported",
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "parse_exception",
            "body is not UTF-8",
        );
    };
    if !text.ends_with('\n') {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]",
        );
    }
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() % 2 != 0 {
        return error(
            StatusCode::BAD_REQUEST,
            "illegal_argument_exception",
            "Malformed action/metadata line: an action without a source",
        );
    }
    let fault = state.faults.pop_front();
    if let Some(Fault::Request(status)) = fault {
        let status = StatusCode::from_u16(status).unwrap();
        return error(
            status,
            "es_rejected_execution_exception",
            "rejected execution of bulk request",
        );
    }
    let failing_items: HashSet<usize> = match fault {
        Some(Fault::Items(positions)) => positions.into_iter().collect(),
        _ => HashSet::new(),
    };
    let parsing = parsing_exception(&state);
    let mut items = Vec::new();
    let mut errors = false;
    for (position, pair) in lines.chunks(2).enumerate() {
        let Ok(action) = serde_json::from_str::<Value>(pair[0]) else {
            return error(
                StatusCode::BAD_REQUEST,
                "x_content_parse_exception",
                "Malformed action/metadata line",
            );
        };
        let Some((op, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                "Malformed action/metadata line",
            );
        };
        let index = meta["_index"].as_str().unwrap_or("").to_string();
        let id = meta["_id"].as_str().map(str::to_string);
        if let Some(id) = &id {
            *state.attempts.entry(id.clone()).or_default() += 1;
        }
        // A data stream's documents live in its backing index, which is
        // what the answer names.
        let backing = match template_for(&state.templates, &index) {
            Some(t) if t.get("data_stream").is_some() => format!(".ds-{index}-000001"),
            _ => index.clone(),
        };
        let mut result = json!({"_index": backing, "_id": id});
        let outcome: Result<(), (u16, &str, String)> = (|| {
            if failing_items.contains(&position) {
                return Err((
                    429,
                    "es_rejected_execution_exception",
                    "rejected execution of coordinating operation".into(),
                ));
            }
            // No template: the real engine creates a plain index with
            // dynamic mappings (action.auto_create_index defaults to true).
            let template = template_for(&state.templates, &index)
                .cloned()
                .unwrap_or_else(|| json!({"template": {"mappings": {"properties": {}}}}));
            if template.get("data_stream").is_some() && op != "create" {
                return Err((
                    400,
                    "illegal_argument_exception",
                    "only write ops with an op_type of create are allowed in data streams".into(),
                ));
            }
            let doc: Value = serde_json::from_str(pair[1])
                .map_err(|e| (400, parsing, format!("failed to parse: {e}")))?;
            if template.get("data_stream").is_some() && doc.get("@timestamp").is_none() {
                return Err((
                    400,
                    parsing,
                    "failed to parse: documents must contain a single-valued timestamp field '@timestamp' of date type".into(),
                ));
            }
            check_mapping("", &doc, &template["template"]["mappings"]["properties"])
                .map_err(|reason| (400, parsing, reason))?;
            if let Some(id) = &id {
                if state.ids.contains(id) {
                    return Err((
                        409,
                        "version_conflict_engine_exception",
                        format!("[{id}]: version conflict, document already exists"),
                    ));
                }
                state.ids.insert(id.clone());
            }
            state.documents.entry(index.clone()).or_default().push(doc);
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                result["status"] = json!(201);
                result["result"] = json!("created");
            }
            Err((status, kind, reason)) => {
                errors = true;
                result["status"] = json!(status);
                result["error"] = json!({"type": kind, "reason": reason});
            }
        }
        items.push(json!({ op.clone(): result }));
    }
    (
        es_headers(),
        Json(json!({"took": 3, "errors": errors, "items": items})),
    )
        .into_response()
}

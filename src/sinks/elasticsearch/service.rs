//! Talking to Elasticsearch or OpenSearch: the startup healthcheck and
//! template installation, and bulk requests whose answer is read item by
//! item (a 200 can hold failed items). HTTP and credentials are
//! `transport.rs`'s.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::config::EsConfig;
use super::encoder::{bulk_body, PendingDoc};
use super::templates::{index_template, EVENTS_STREAM, METRICS_STREAM};
use super::transport::{Answer, Body, Transport, TransportError};
use crate::sinks::driver::{Outcome, Refusal, Retry, RetryItems, Service};
use crate::sinks::retry::retry_after_seconds;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("Elasticsearch at {url} is not reachable: {reason} (check --es-url)")]
    Unreachable { url: String, reason: String },
    #[error("Elasticsearch at {url} refused the credentials (HTTP {status}): {reason} (check --es-api-key, or --es-username/--es-password)")]
    Unauthorized {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("Elasticsearch {version} at {url} is not supported: data streams need 7.9 or newer")]
    Unsupported { url: String, version: String },
    #[error("installing the index template {name} failed (HTTP {status}): {reason}")]
    Template {
        name: String,
        status: u16,
        reason: String,
    },
    #[error("Elasticsearch at {url}: {reason} (check --es-aws-region and the AWS_* variables or profile)")]
    Credentials { url: String, reason: String },
    #[error("{0}")]
    Setup(TransportError),
}

/// What happened to one document of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    Stored,
    /// 409: a document with this id exists, so an earlier attempt stored it.
    AlreadyStored,
    /// 429 or 5xx for this item: send it again later.
    Retry(String),
    /// Any other failure (mapping conflict, ...): sending again cannot help.
    Rejected(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum BulkResult {
    Items(Vec<ItemResult>),
    /// The whole request failed in a way worth retrying.
    RetryAll {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The whole request was refused (auth, bad request).
    RejectAll {
        reason: String,
    },
}

pub struct EsClient {
    transport: Transport,
}

/// Elasticsearch's own explanation from an error body.
fn error_reason(body: &Value) -> String {
    let error = &body["error"];
    let reason = error["reason"]
        .as_str()
        .or_else(|| error["root_cause"][0]["reason"].as_str())
        .or_else(|| error.as_str())
        .unwrap_or("no reason given");
    match error["type"].as_str() {
        Some(kind) => format!("{kind}: {reason}"),
        None => reason.to_string(),
    }
}

/// The engine and version of a `GET /` answer, or the version when it is
/// too old for data streams and composable templates.
///
/// OpenSearch forked from Elasticsearch 7.10.2 and numbers its own releases
/// from 1.0, so its version is not comparable with Elasticsearch's: it is
/// recognised by `version.distribution` and every release is accepted
/// (all have data streams and composable index templates, since 1.0).
/// That also covers OpenSearch in compatibility mode, which reports
/// number 7.10.2 but keeps the distribution. Everything else is taken for
/// Elasticsearch, which has them since 7.9.
pub fn engine_of(info: &Value) -> Result<String, String> {
    let version = info["version"]["number"].as_str().unwrap_or("unknown");
    if info["version"]["distribution"].as_str() == Some("opensearch") {
        return Ok(format!("OpenSearch {version}"));
    }
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major < 7 || (major == 7 && minor < 9) {
        return Err(version.to_string());
    }
    Ok(format!("Elasticsearch {version}"))
}

/// Reads the items of a bulk answer, in request order.
pub fn parse_bulk_items(body: &Value, expected: usize) -> Result<Vec<ItemResult>, String> {
    let items = body["items"]
        .as_array()
        .ok_or_else(|| "bulk answer without items".to_string())?;
    if items.len() != expected {
        return Err(format!(
            "bulk answer has {} items for {expected} documents",
            items.len()
        ));
    }
    Ok(items
        .iter()
        .map(|item| {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or(Value::Null);
            let status = result["status"].as_u64().unwrap_or(0);
            match status {
                200..=299 => ItemResult::Stored,
                409 => ItemResult::AlreadyStored,
                429 | 500..=599 => ItemResult::Retry(format!("{status} {}", error_reason(&result))),
                _ => ItemResult::Rejected(format!("{status} {}", error_reason(&result))),
            }
        })
        .collect())
}

impl EsClient {
    pub fn new(config: &EsConfig) -> Result<Self, EsError> {
        Ok(EsClient {
            transport: Transport::new(config).map_err(EsError::Setup)?,
        })
    }

    fn url(&self) -> String {
        self.transport.shown_url.clone()
    }

    /// A request whose failure to happen at all is an error of the setup
    /// phase (unreachable, or no AWS credentials).
    async fn call(&self, method: Method, path: &str, body: Body) -> Result<Answer, EsError> {
        self.transport
            .send(method, path, body)
            .await
            .map_err(|error| match error {
                TransportError::Credentials(reason) => EsError::Credentials {
                    url: self.url(),
                    reason: format!("no AWS credentials to sign with: {reason}"),
                },
                other => EsError::Unreachable {
                    url: self.url(),
                    reason: other.to_string(),
                },
            })
    }

    /// Checks the server answers, accepts our credentials and is recent
    /// enough for data streams; returns its engine and version
    /// ("Elasticsearch 8.15.0", "OpenSearch 2.19.1").
    pub async fn healthcheck(&self) -> Result<String, EsError> {
        let Answer { status, body, .. } = self.call(Method::GET, "/", Body::None).await?;
        if status == 401 || status == 403 {
            return Err(EsError::Unauthorized {
                url: self.url(),
                status,
                reason: error_reason(&body),
            });
        }
        if status >= 300 {
            return Err(EsError::Unreachable {
                url: self.url(),
                reason: format!("GET / answered {status}: {}", error_reason(&body)),
            });
        }
        engine_of(&body).map_err(|version| EsError::Unsupported {
            url: self.url(),
            version,
        })
    }

    /// Installs (or updates) the index templates of both data streams.
    pub async fn install_templates(&self) -> Result<(), EsError> {
        for name in [EVENTS_STREAM, METRICS_STREAM] {
            let template = index_template(name).to_string().into_bytes();
            let Answer { status, body, .. } = self
                .call(
                    Method::PUT,
                    &format!("_index_template/{name}"),
                    Body::Json(template),
                )
                .await?;
            if status >= 300 {
                return Err(EsError::Template {
                    name: name.to_string(),
                    status,
                    reason: error_reason(&body),
                });
            }
        }
        Ok(())
    }

    pub async fn bulk(&self, docs: &[PendingDoc]) -> BulkResult {
        let answer = self
            .transport
            .send(Method::POST, "_bulk", Body::NdJson(bulk_body(docs)))
            .await;
        let Answer {
            status,
            retry_after,
            body,
        } = match answer {
            Ok(answer) => answer,
            Err(error) => {
                return BulkResult::RetryAll {
                    reason: format!("{}: {error}", self.url()),
                    retry_after: None,
                }
            }
        };
        let retry_after = retry_after_seconds(retry_after.as_deref());
        match status {
            200..=299 => match parse_bulk_items(&body, docs.len()) {
                Ok(items) => BulkResult::Items(items),
                Err(reason) => BulkResult::RetryAll {
                    reason,
                    retry_after: None,
                },
            },
            429 | 500..=599 => BulkResult::RetryAll {
                reason: format!("HTTP {status}: {}", error_reason(&body)),
                retry_after,
            },
            _ => BulkResult::RejectAll {
                reason: format!("HTTP {status}: {}", error_reason(&body)),
            },
        }
    }
}

/// The driver's view of Elasticsearch: one bulk request per batch, its
/// items read one by one, so only failed items are retried.
pub struct EsService {
    client: EsClient,
    /// Refusal reasons seen, each logged once: a mapping conflict refuses
    /// every document of its kind.
    rejections: BTreeMap<String, u64>,
}

impl EsService {
    pub fn new(client: EsClient) -> Self {
        EsService {
            client,
            rejections: BTreeMap::new(),
        }
    }
}

impl Service for EsService {
    type Item = PendingDoc;

    async fn send(&mut self, batch: &[PendingDoc]) -> Outcome {
        match self.client.bulk(batch).await {
            BulkResult::Items(items) => {
                let mut outcome = Outcome::delivered();
                let (mut retry, mut retry_reason) = (Vec::new(), None);
                for (index, (doc, item)) in batch.iter().zip(items).enumerate() {
                    match item {
                        ItemResult::Stored | ItemResult::AlreadyStored => {}
                        ItemResult::Retry(reason) => {
                            retry.push(index);
                            retry_reason = Some(reason);
                        }
                        ItemResult::Rejected(reason) => {
                            let seen = self.rejections.entry(reason.clone()).or_insert(0);
                            if *seen == 0 {
                                tracing::error!(
                                    index = doc.index,
                                    "Elasticsearch rejected a document: {reason}"
                                );
                            }
                            *seen += 1;
                            outcome.refused.push(Refusal { records: 1, reason });
                        }
                    }
                }
                // Per-item failures carry no Retry-After: the backoff decides.
                outcome.retry = retry_reason.map(|reason| Retry {
                    items: RetryItems::Some(retry),
                    reason,
                    retry_after: None,
                });
                outcome
            }
            BulkResult::RetryAll {
                reason,
                retry_after,
            } => Outcome::retry_all(reason, retry_after),
            BulkResult::RejectAll { reason } => {
                tracing::error!(
                    "Elasticsearch refused a bulk request of {} documents: {reason}",
                    batch.len()
                );
                Outcome::refused(batch.len(), reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opensearch_is_recognised_by_its_distribution_not_its_number() {
        let info = |distribution: Option<&str>, number: &str| {
            let mut version = json!({ "number": number });
            if let Some(d) = distribution {
                version["distribution"] = json!(d);
            }
            json!({ "version": version })
        };
        // Every OpenSearch major: 1.x and 2.x would fail Elasticsearch's
        // "7.9 or newer" test.
        for number in ["1.0.0", "1.3.20", "2.19.1", "3.2.0"] {
            assert_eq!(
                engine_of(&info(Some("opensearch"), number)),
                Ok(format!("OpenSearch {number}"))
            );
        }
        // Compatibility mode reports Elasticsearch's last shared version.
        assert_eq!(
            engine_of(&info(Some("opensearch"), "7.10.2")),
            Ok("OpenSearch 7.10.2".into())
        );
        assert_eq!(
            engine_of(&info(None, "8.15.0")),
            Ok("Elasticsearch 8.15.0".into())
        );
        assert_eq!(
            engine_of(&info(None, "7.9.0")),
            Ok("Elasticsearch 7.9.0".into())
        );
        assert_eq!(engine_of(&info(None, "7.5.2")), Err("7.5.2".into()));
        assert_eq!(engine_of(&info(None, "2.19.1")), Err("2.19.1".into()));
    }

    #[test]
    fn bulk_items_are_classified_in_order() {
        let body = json!({"errors": true, "items": [
            {"create": {"status": 201}},
            {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"create": {"status": 400, "error": {"type": "document_parsing_exception", "reason": "failed to parse field [kafka.lag] of type [long]"}}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
            {"create": {"status": 503, "error": {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}}}
        ]});
        let items = parse_bulk_items(&body, 5).unwrap();
        assert_eq!(items[0], ItemResult::Stored);
        assert!(matches!(&items[1], ItemResult::Retry(r) if r.contains("queue full")));
        assert!(
            matches!(&items[2], ItemResult::Rejected(r) if r.contains("document_parsing_exception"))
        );
        assert_eq!(items[3], ItemResult::AlreadyStored);
        assert!(matches!(&items[4], ItemResult::Retry(_)));
        assert!(parse_bulk_items(&body, 4).is_err());
    }
}

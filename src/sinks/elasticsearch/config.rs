//! Elasticsearch sink settings. Secrets never reach Debug output or logs.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// Documents per bulk request.
pub const MAX_BATCH_DOCS: usize = 1_000;
/// Bytes of NDJSON per bulk request (Elasticsearch's default limit is 100 MB;
/// a few MB keeps requests quick).
pub const MAX_BATCH_BYTES: usize = 5 * 1024 * 1024;
/// Documents kept while Elasticsearch is unreachable (oldest dropped beyond).
pub const DEFAULT_QUEUE_DOCS: usize = 100_000;
/// How often queued documents are flushed when no batch is full.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Time allowed for one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed at shutdown to send what is queued.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);
/// Default period of the metric documents.
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone, PartialEq)]
pub enum EsAuth {
    None,
    /// Base64 `id:api_key` as Kibana shows it, or `id:api_key`.
    ApiKey(String),
    Basic {
        username: String,
        password: String,
    },
    /// AWS SigV4 signatures (Amazon OpenSearch Service), with AWS's
    /// standard credentials.
    AwsSigV4 {
        region: String,
    },
}

#[derive(Clone, PartialEq)]
pub struct EsConfig {
    pub url: Url,
    pub auth: EsAuth,
    /// PEM file of the CA that signed the server's certificate.
    pub ca_certificate: Option<PathBuf>,
    pub metrics_interval: Duration,
    pub queue_docs: usize,
}

impl fmt::Debug for EsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            EsAuth::None => "none".to_string(),
            EsAuth::ApiKey(_) => "api key <redacted>".to_string(),
            EsAuth::Basic { username, .. } => format!("basic {username}:<redacted>"),
            EsAuth::AwsSigV4 { region } => format!("aws sigv4 {region}"),
        };
        f.debug_struct("EsConfig")
            .field(
                "url",
                &crate::sinks::influxdb::config::redacted_url(&self.url),
            )
            .field("auth", &auth)
            .field("ca_certificate", &self.ca_certificate)
            .field("metrics_interval", &self.metrics_interval)
            .field("queue_docs", &self.queue_docs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_has_no_secrets() {
        for auth in [
            EsAuth::ApiKey("c2VjcmV0LWtleQ==".into()),
            EsAuth::Basic {
                username: "elastic".into(),
                password: "hunter2".into(),
            },
        ] {
            let shown = format!(
                "{:?}",
                EsConfig {
                    url: Url::parse("https://u:p@es:9200").unwrap(),
                    auth,
                    ca_certificate: None,
                    metrics_interval: DEFAULT_METRICS_INTERVAL,
                    queue_docs: 1,
                }
            );
            assert!(
                !shown.contains("c2VjcmV0LWtleQ") && !shown.contains("hunter2"),
                "{shown}"
            );
            assert!(!shown.contains("u:p@"), "{shown}");
        }
    }
}

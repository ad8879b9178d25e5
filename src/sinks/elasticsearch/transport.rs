//! HTTP to Elasticsearch or OpenSearch: one reqwest client, the base URL
//! (a path prefix behind a proxy is kept), and the credentials put on each
//! request: basic, API key, or an AWS SigV4 signature for Amazon OpenSearch
//! Service. Plain reqwest rather than the official `elasticsearch` crate:
//! kafka-pulse calls three endpoints, the crate had no per-request signing
//! hook, and it was a minute of every clean build.

use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, Method};
use serde_json::Value;
use url::Url;

use super::config::{EsAuth, EsConfig, REQUEST_TIMEOUT};
use crate::security::aws_credentials::AwsCredentials;
use crate::security::msk_iam::AwsLogin;
use crate::security::sigv4;
use crate::sinks::influxdb::config::redacted_url;

/// What a request body is.
pub enum Body {
    None,
    Json(Vec<u8>),
    /// The bulk API's newline-delimited JSON.
    NdJson(Vec<u8>),
}

/// An answer: status, `Retry-After` if given, and the body as JSON (Null
/// when it was not JSON).
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot use --es-ca-cert {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("no AWS credentials to sign with: {0}")]
    Credentials(String),
    #[error("{0}")]
    Request(String),
}

enum Credentials {
    None,
    /// The whole Authorization header value, marked sensitive so it is never
    /// shown by a debug print of the request.
    Header(HeaderValue),
    Aws {
        region: String,
        service: &'static str,
        credentials: AwsCredentials,
    },
}

pub struct Transport {
    client: Client,
    base: Url,
    /// The URL without credentials, for messages.
    pub shown_url: String,
    credentials: Credentials,
}

/// The SigV4 service name of an Amazon OpenSearch endpoint: `aoss` for
/// OpenSearch Serverless collections, else `es` (managed domains, also
/// behind a custom domain name).
pub fn aws_service_of(url: &Url) -> &'static str {
    match url.host_str() {
        Some(host) if host.ends_with(".aoss.amazonaws.com") => "aoss",
        _ => "es",
    }
}

/// A credential header, marked sensitive so a debug print never shows it.
fn header_value(text: &str, what: &str) -> Result<HeaderValue, TransportError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        TransportError::Client(format!(
            "{what} holds characters an HTTP header cannot carry (printable ASCII only)"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl Transport {
    pub fn new(config: &EsConfig) -> Result<Self, TransportError> {
        use base64::Engine;
        let mut builder = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy();
        if let Some(path) = &config.ca_certificate {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|e| TransportError::Certificate {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            let certificate =
                reqwest::Certificate::from_pem(&pem).map_err(|e| TransportError::Certificate {
                    path: shown,
                    reason: e.to_string(),
                })?;
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder
            .build()
            .map_err(|e| TransportError::Client(e.to_string()))?;
        let base64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let credentials = match &config.auth {
            EsAuth::None => Credentials::None,
            EsAuth::Basic { username, password } => Credentials::Header(header_value(
                &format!("Basic {}", base64(&format!("{username}:{password}"))),
                "--es-username/--es-password",
            )?),
            // Kibana shows the key already encoded; `id:key` is encoded here.
            EsAuth::ApiKey(key) => {
                let value = match key.contains(':') {
                    true => format!("ApiKey {}", base64(key.trim())),
                    false => format!("ApiKey {}", key.trim()),
                };
                Credentials::Header(header_value(&value, "--es-api-key")?)
            }
            EsAuth::AwsSigV4 { region } => Credentials::Aws {
                region: region.clone(),
                service: aws_service_of(&config.url),
                credentials: AwsCredentials::for_login(&AwsLogin::default(), region),
            },
        };
        Ok(Transport {
            client,
            base: config.url.clone(),
            shown_url: redacted_url(&config.url),
            credentials,
        })
    }

    /// `path` under the base URL's own path.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            self.base.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Answer, TransportError> {
        let url = self.endpoint(path);
        let (content_type, payload) = match body {
            Body::None => (None, Vec::new()),
            Body::Json(bytes) => (Some("application/json"), bytes),
            Body::NdJson(bytes) => (Some("application/x-ndjson"), bytes),
        };
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        match &self.credentials {
            Credentials::None => {}
            Credentials::Header(value) => request = request.header(AUTHORIZATION, value.clone()),
            Credentials::Aws {
                region,
                service,
                credentials,
            } => {
                let resolved = credentials
                    .get()
                    .await
                    .map_err(TransportError::Credentials)?;
                let payload_hash = sigv4::payload_sha256(&payload);
                let host = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                    None => url.host_str().unwrap_or_default().to_string(),
                };
                let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
                let params: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let signed = sigv4::sign_headers(
                    &sigv4::HeaderRequest {
                        method: method.as_str(),
                        host: &host,
                        // As sent (percent-encoded): encoded once more when
                        // signed, as SigV4 wants for every service but S3.
                        path: url.path(),
                        params: &params,
                        headers: &[("x-amz-content-sha256", &payload_hash)],
                        region,
                        service,
                        payload_hash: &payload_hash,
                    },
                    &resolved.credentials,
                    chrono::Utc::now(),
                );
                request = request.header("x-amz-content-sha256", payload_hash.as_str());
                for (name, value) in signed {
                    request = request.header(name, header_value(&value, "the AWS session token")?);
                }
            }
        }
        if !payload.is_empty() {
            request = request.body(payload);
        }
        let response = request
            .send()
            .await
            .map_err(|e| TransportError::Request(without_url(e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| TransportError::Request(without_url(e)))?;
        Ok(Answer {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }
}

/// reqwest's message and its causes ("connection refused" is a cause),
/// without the URL: the callers name the redacted URL themselves.
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut shown = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        shown.push_str(": ");
        shown.push_str(&cause.to_string());
        source = cause.source();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::elasticsearch::config::{DEFAULT_METRICS_INTERVAL, DEFAULT_QUEUE_DOCS};

    fn config(url: &str) -> EsConfig {
        EsConfig {
            url: Url::parse(url).unwrap(),
            auth: EsAuth::None,
            ca_certificate: None,
            metrics_interval: DEFAULT_METRICS_INTERVAL,
            queue_docs: DEFAULT_QUEUE_DOCS,
        }
    }

    #[test]
    fn endpoints_keep_a_proxy_prefix() {
        let plain = Transport::new(&config("http://127.0.0.1:9200")).unwrap();
        assert_eq!(
            plain.endpoint("_bulk").as_str(),
            "http://127.0.0.1:9200/_bulk"
        );
        let prefixed = Transport::new(&config("https://u:p@proxy.example/es/")).unwrap();
        assert_eq!(
            prefixed.endpoint("/_index_template/x").as_str(),
            "https://u:p@proxy.example/es/_index_template/x"
        );
        assert_eq!(prefixed.shown_url, "https://proxy.example/es/");
    }

    #[test]
    fn serverless_collections_sign_as_aoss() {
        let url = |u: &str| Url::parse(u).unwrap();
        assert_eq!(
            aws_service_of(&url("https://abc123.eu-west-1.aoss.amazonaws.com")),
            "aoss"
        );
        assert_eq!(
            aws_service_of(&url("https://search-logs-x.eu-west-1.es.amazonaws.com")),
            "es"
        );
        assert_eq!(aws_service_of(&url("https://search.example.com")), "es");
    }
}

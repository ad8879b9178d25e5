//! HTTP to InfluxDB: the startup healthcheck and one write request, with the
//! answer classified as sent, retry later, or rejected.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::{header, Client, RequestBuilder, StatusCode};

use super::config::{redacted_url, InfluxApi, InfluxConfig, REQUEST_TIMEOUT};
use crate::sinks::driver::{Outcome, Service};
use crate::sinks::queue::Chunk;
use crate::sinks::retry::retry_after_seconds;

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Sent,
    /// Transport error, 429 or 5xx: the same batch may succeed later.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx: sending it again cannot help.
    Rejected {
        reason: String,
    },
    /// InfluxDB stored the batch except `refused` lines ("partial write").
    Partial {
        reason: String,
        refused: usize,
    },
}

/// Lines a "partial write" answer says were refused; `None` when the answer
/// is not a partial write (the whole batch was refused). InfluxDB 1.x names
/// each unparsable line ("unable to parse '…'") and counts the others as
/// `dropped=N` (type conflicts, retention); 2.x lists "line N:" entries.
pub fn refused_lines(message: &str) -> Option<usize> {
    if !message.contains("partial write") {
        return None;
    }
    if let Some(at) = message.find("errors encountered on line(s):") {
        let list = &message[at..];
        let refused = list
            .match_indices("line ")
            .filter(|(i, _)| {
                list[i + 5..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count()
                    > 0
            })
            .count();
        return Some(refused);
    }
    let unparsable = message.matches("unable to parse").count();
    let dropped: usize = message
        .match_indices("dropped=")
        .filter_map(|(i, _)| {
            let digits: String = message[i + 8..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        })
        .sum();
    Some(unparsable + dropped)
}

#[derive(Debug, thiserror::Error)]
pub enum InfluxError {
    #[error("InfluxDB at {url} is not reachable: {reason} (check --influx-url)")]
    Unreachable { url: String, reason: String },
    #[error("InfluxDB at {url} refused the credentials: {reason} (check --influx-token, or --influx-username/--influx-password)")]
    Unauthorized { url: String, reason: String },
    #[error("{0}")]
    Missing(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

pub struct InfluxWriter {
    client: Client,
    config: InfluxConfig,
}

/// InfluxDB's own error text from a JSON body (`error` in v1, `message` in
/// v2), else the body itself, shortened.
pub fn error_text(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.get("error").or_else(|| v.get("message")))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().to_string());
    text.chars().take(300).collect()
}

impl InfluxWriter {
    pub fn new(config: InfluxConfig) -> Result<Self, InfluxError> {
        let client = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| InfluxError::Client(e.to_string()))?;
        Ok(InfluxWriter { client, config })
    }

    pub fn config(&self) -> &InfluxConfig {
        &self.config
    }

    fn authorized(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.config.api {
            InfluxApi::V2 { token, .. } => {
                request.header(header::AUTHORIZATION, format!("Token {token}"))
            }
            InfluxApi::V1 {
                username: Some(user),
                password,
                ..
            } => request.basic_auth(user, password.as_deref()),
            InfluxApi::V1 { .. } => request,
        }
    }

    fn shown_url(&self) -> String {
        redacted_url(&self.config.url)
    }

    /// Checks the server answers and the target (bucket or database) exists,
    /// with a message that says what to fix.
    pub async fn healthcheck(&self) -> Result<(), InfluxError> {
        let url = self.shown_url();
        let ping = self
            .client
            .get(self.config.ping_url())
            .send()
            .await
            .map_err(|e| InfluxError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        if !ping.status().is_success() {
            return Err(InfluxError::Unreachable {
                url,
                reason: format!("GET /ping answered {}", ping.status()),
            });
        }
        // Only a real InfluxDB announces itself; compatible servers such as
        // VictoriaMetrics accept writes to any database/bucket name.
        if !ping.headers().contains_key("x-influxdb-version") {
            return Ok(());
        }
        match &self.config.api {
            InfluxApi::V2 { org, bucket, .. } => {
                let mut buckets = self.config.url.clone();
                buckets.set_path(&format!(
                    "{}/api/v2/buckets",
                    self.config.url.path().trim_end_matches('/')
                ));
                buckets
                    .query_pairs_mut()
                    .clear()
                    .append_pair("org", org)
                    .append_pair("name", bucket);
                let response = self
                    .authorized(self.client.get(buckets))
                    .send()
                    .await
                    .map_err(|e| InfluxError::Unreachable {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                match status {
                    s if s.is_success() => {
                        let found = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["buckets"].as_array().map(|b| !b.is_empty()))
                            .unwrap_or(true);
                        if found {
                            Ok(())
                        } else {
                            Err(InfluxError::Missing(format!(
                                "InfluxDB org '{org}' has no bucket '{bucket}' (check --influx-bucket, or create it)"
                            )))
                        }
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        Err(InfluxError::Unauthorized {
                            url,
                            reason: error_text(&body),
                        })
                    }
                    StatusCode::NOT_FOUND => Err(InfluxError::Missing(format!(
                        "InfluxDB does not know org '{org}': {} (check --influx-org)",
                        error_text(&body)
                    ))),
                    // Servers that take v2 writes but lack the buckets API
                    // (VictoriaMetrics) are fine: writes will tell.
                    _ => Ok(()),
                }
            }
            InfluxApi::V1 { database, .. } => {
                let mut query = self.config.url.clone();
                query.set_path(&format!(
                    "{}/query",
                    self.config.url.path().trim_end_matches('/')
                ));
                query
                    .query_pairs_mut()
                    .clear()
                    .append_pair("q", "SHOW DATABASES");
                let response = self
                    .authorized(self.client.get(query))
                    .send()
                    .await
                    .map_err(|e| InfluxError::Unreachable {
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    return Err(InfluxError::Unauthorized {
                        url,
                        reason: error_text(&body),
                    });
                }
                if !status.is_success() {
                    // No InfluxQL endpoint (e.g. VictoriaMetrics): writes will tell.
                    return Ok(());
                }
                let databases: Vec<String> = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v["results"][0]["series"][0]["values"]
                            .as_array()
                            .map(|rows| {
                                rows.iter()
                                    .filter_map(|row| row[0].as_str().map(str::to_string))
                                    .collect()
                            })
                    })
                    .unwrap_or_default();
                if databases.iter().any(|d| d == database) {
                    Ok(())
                } else {
                    Err(InfluxError::Missing(format!(
                        "InfluxDB has no database '{database}' (check --influx-db, or run: CREATE DATABASE \"{database}\"); it has: {}",
                        if databases.is_empty() { "none".to_string() } else { databases.join(", ") }
                    )))
                }
            }
        }
    }

    /// Sends one batch of lines.
    pub async fn write(&self, lines: &str) -> WriteOutcome {
        let mut request = self
            .authorized(self.client.post(self.config.write_url()))
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
        if self.config.gzip {
            let mut encoder =
                GzEncoder::new(Vec::with_capacity(lines.len() / 4), Compression::fast());
            if encoder.write_all(lines.as_bytes()).is_ok() {
                if let Ok(compressed) = encoder.finish() {
                    request = request
                        .header(header::CONTENT_ENCODING, "gzip")
                        .body(compressed);
                } else {
                    request = request.body(lines.to_string());
                }
            } else {
                request = request.body(lines.to_string());
            }
        } else {
            request = request.body(lines.to_string());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return WriteOutcome::Retry {
                    reason: format!("{}: {}", self.shown_url(), without_url(&error)),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return WriteOutcome::Sent;
        }
        let retry_after = retry_after_seconds(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let body = response.text().await.unwrap_or_default();
        let reason = format!("HTTP {status}: {}", error_text(&body));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            WriteOutcome::Retry {
                reason,
                retry_after,
            }
        } else {
            match refused_lines(&reason) {
                Some(refused) => WriteOutcome::Partial { reason, refused },
                None => WriteOutcome::Rejected { reason },
            }
        }
    }
}

/// The driver's view of InfluxDB: one write per batch of chunks, the answer
/// as an `Outcome`.
pub struct InfluxService {
    writer: InfluxWriter,
    /// The last refusal logged: a misconfigured target refuses every batch,
    /// and one line per reason in a row says it.
    logged_rejection: Option<String>,
}

impl InfluxService {
    pub fn new(writer: InfluxWriter) -> Self {
        InfluxService {
            writer,
            logged_rejection: None,
        }
    }

    fn log_once(&mut self, reason: &str, message: impl FnOnce() -> String) {
        if self.logged_rejection.as_deref() != Some(reason) {
            tracing::error!("{}", message());
            self.logged_rejection = Some(reason.to_string());
        }
    }
}

impl Service for InfluxService {
    type Item = Chunk;

    fn send(&mut self, batch: &[Chunk]) -> impl std::future::Future<Output = Outcome> + Send {
        let records: usize = batch.iter().map(|c| c.records).sum();
        let body: String = batch.iter().map(|c| c.bytes.as_str()).collect();
        async move {
            match self.writer.write(&body).await {
                WriteOutcome::Sent => Outcome::delivered(),
                WriteOutcome::Retry {
                    reason,
                    retry_after,
                } => Outcome::retry_all(reason, retry_after),
                // Sending the same lines again cannot succeed.
                WriteOutcome::Rejected { reason } => {
                    self.log_once(&reason, || {
                        format!("InfluxDB rejected {records} points: {reason}")
                    });
                    Outcome::refused(records, reason)
                }
                // The rest of the batch was stored: only the refused lines
                // are lost.
                WriteOutcome::Partial { reason, refused } => {
                    let refused = refused.min(records);
                    self.log_once(&reason, || {
                        format!("InfluxDB refused {refused} of {records} points: {reason}")
                    });
                    Outcome::refused(refused, reason)
                }
            }
        }
    }
}

/// reqwest errors print the URL, which may carry credentials.
pub fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_count_only_the_refused_lines() {
        // influxd 1.6's own answers (tests/influx.rs sees them for real).
        assert_eq!(
            refused_lines(
                "partial write: unable to parse 'm,g=b\\ v=1i 2': invalid tag format dropped=0"
            ),
            Some(1)
        );
        assert_eq!(
            refused_lines(
                "partial write: field type conflict: input field \"v\" on measurement \"m\" \
                 is type string, already exists as type integer dropped=3"
            ),
            Some(3)
        );
        assert_eq!(
            refused_lines(
                "partial write: unable to parse 'a': x\nunable to parse 'b': y dropped=2"
            ),
            Some(4)
        );
        // InfluxDB 2.x lists the lines.
        assert_eq!(
            refused_lines(
                "partial write has occurred, errors encountered on line(s): line 2: bad; \
                 line 7: worse"
            ),
            Some(2)
        );
        assert_eq!(refused_lines("database not found: \"x\""), None);
    }

    #[test]
    fn error_text_reads_v1_and_v2_bodies() {
        assert_eq!(
            error_text(r#"{"error":"database not found: \"x\""}"#),
            "database not found: \"x\""
        );
        assert_eq!(
            error_text(r#"{"code":"unauthorized","message":"unauthorized access"}"#),
            "unauthorized access"
        );
        assert_eq!(error_text("plain text\n"), "plain text");
    }
}

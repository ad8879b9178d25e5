//! One POST per notification, and what its answer means: delivered, worth
//! retrying (transport error, 429, 5xx) or refused for good (other statuses).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{redirect, Client};

use super::config::{redacted_webhook_url, WebhookConfig};
use super::payload::Notification;
use crate::sinks::driver::{Outcome, Refusal, Retry, RetryItems, Service};
use crate::sinks::influxdb::service::without_url;
use crate::sinks::retry::retry_after_seconds;

/// Characters of a refusing receiver's body kept in `last_error`.
const BODY_SNIPPET: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub enum PostOutcome {
    Delivered,
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Rejected {
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the webhook client: {0}")]
    Client(String),
    #[error("--notify-header {0}")]
    Header(String),
}

pub struct WebhookSender {
    client: Client,
    url: reqwest::Url,
    headers: HeaderMap,
    /// The URL as it may appear in messages.
    shown: String,
}

/// A `Name: value` header checked for HTTP validity; the value is marked
/// sensitive so reqwest/hyper never print it.
pub fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    // Neither part is echoed on error: a malformed header is often a pasted
    // token.
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| "the part before ':' is not a valid HTTP header name".to_string())?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("{name} has a value that is not a valid header value"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// The start of a response body on one line, for `last_error`.
fn snippet(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(BODY_SNIPPET) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

impl WebhookSender {
    pub fn new(config: &WebhookConfig) -> Result<Self, WebhookError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &config.headers {
            let (name, value) = header_pair(name, value).map_err(WebhookError::Header)?;
            headers.insert(name, value);
        }
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            // A redirected POST would become a GET or go to another host
            // with our headers: a 3xx is reported instead.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("kafka-pulse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(WebhookSender {
            client,
            url: config.url.clone(),
            headers,
            shown: redacted_webhook_url(&config.url),
        })
    }

    pub async fn post(&self, body: &str) -> PostOutcome {
        let response = match self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body.to_string())
            .send()
            .await
        {
            Ok(response) => response,
            Err(error) => {
                return PostOutcome::Retry {
                    reason: format!("{}: {}", self.shown, without_url(&error)),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        if status.is_success() {
            return PostOutcome::Delivered;
        }
        let retry_after = retry_after_seconds(
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let text = response.text().await.unwrap_or_default();
        let reason = format!(
            "{} answered HTTP {}: {}",
            self.shown,
            status.as_u16(),
            snippet(&text)
        );
        if status.as_u16() == 429 || status.is_server_error() {
            PostOutcome::Retry {
                reason,
                retry_after,
            }
        } else {
            PostOutcome::Rejected { reason }
        }
    }
}

/// The driver's view of the receiver: one POST per notification (the driver
/// takes batches of one).
pub struct WebhookService {
    sender: WebhookSender,
    /// The last refusal logged: one line per distinct reason in a row.
    last_logged: Option<String>,
}

impl WebhookService {
    pub fn new(sender: WebhookSender) -> Self {
        WebhookService {
            sender,
            last_logged: None,
        }
    }
}

impl Service for WebhookService {
    type Item = Notification;

    async fn send(&mut self, batch: &[Notification]) -> Outcome {
        let mut outcome = Outcome::delivered();
        for (index, item) in batch.iter().enumerate() {
            match self.sender.post(&item.body).await {
                PostOutcome::Delivered => {}
                // This one and the rest go again; those before it were
                // delivered and must not be posted twice.
                PostOutcome::Retry {
                    reason,
                    retry_after,
                } => {
                    outcome.retry = Some(Retry {
                        items: RetryItems::Some((index..batch.len()).collect()),
                        reason,
                        retry_after,
                    });
                    return outcome;
                }
                PostOutcome::Rejected { reason } => {
                    if self.last_logged.as_deref() != Some(reason.as_str()) {
                        tracing::error!("webhook refused a notification (not retried): {reason}");
                        self.last_logged = Some(reason.clone());
                    }
                    outcome.refused.push(Refusal { records: 1, reason });
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("  invalid\n payload \t"), "invalid payload");
        let long = "é".repeat(500);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), BODY_SNIPPET + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn header_values_are_sensitive_and_errors_do_not_show_them() {
        let (name, value) = header_pair(" Authorization ", " Bearer s3cret ").unwrap();
        assert_eq!(name.as_str(), "authorization");
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer s3cret");
        let error = header_pair("X-Token", "bad\nvalue-s3cret").unwrap_err();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(header_pair("bad name", "v").is_err());
    }
}

//! Webhook notifier settings. The URL and the extra headers are secrets
//! (Slack-style webhook URLs carry their token in the path; headers carry
//! auth tokens): they never reach Debug output or logs.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use url::Url;

/// Kinds posted when `--notify-kinds` is not given: what someone on call
/// wants to hear about, not every topic or leader change.
pub const DEFAULT_KINDS: &[&str] = &[
    "group_status_changed",
    "lag_threshold_crossed",
    "lag_recovered",
    "lag_seconds_threshold_crossed",
    "lag_seconds_recovered",
    "kafka_down",
    "kafka_up",
    "broker_down",
    "broker_up",
];

/// Notifications kept while the receiver is unreachable (oldest dropped and
/// counted beyond this).
pub const DEFAULT_QUEUE_EVENTS: usize = 1_000;
/// At most this many POSTs per second, so a flood (a broker restart on a big
/// cluster) does not hammer the receiver or get us rate-limited.
pub const DEFAULT_MAX_PER_SECOND: u32 = 20;
/// Time allowed at shutdown to send what is queued; under the app's 3 s
/// wait for each part, so a flush is never cut off mid-way.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_millis(2_500);

#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: Url,
    /// Event kinds that are posted.
    pub kinds: BTreeSet<String>,
    /// Extra request headers (name, value), e.g. an Authorization token.
    pub headers: Vec<(String, String)>,
    /// Time allowed for one POST (the --request-timeout).
    pub timeout: Duration,
    pub queue_events: usize,
    pub max_per_second: u32,
}

impl WebhookConfig {
    pub fn new(url: Url, timeout: Duration) -> Self {
        WebhookConfig {
            url,
            kinds: DEFAULT_KINDS.iter().map(|k| k.to_string()).collect(),
            headers: Vec::new(),
            timeout,
            queue_events: DEFAULT_QUEUE_EVENTS,
            max_per_second: DEFAULT_MAX_PER_SECOND,
        }
    }

    pub fn wants(&self, kind: &str) -> bool {
        self.kinds.contains(kind)
    }
}

/// The webhook URL as it may be shown: scheme, host and port only, since
/// the path and query of incoming-webhook URLs are the credential.
pub fn redacted_webhook_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path() == "/" && url.query().is_none() {
        "/"
    } else {
        "/…"
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: <redacted>"))
            .collect();
        f.debug_struct("WebhookConfig")
            .field("url", &redacted_webhook_url(&self.url))
            .field("kinds", &self.kinds)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("queue_events", &self.queue_events)
            .field("max_per_second", &self.max_per_second)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_has_no_secrets() {
        let mut config = WebhookConfig::new(
            Url::parse("https://user:pw@hooks.example.com:8443/services/T0/B0/s3cr3tpath?token=q1")
                .unwrap(),
            Duration::from_secs(5),
        );
        config
            .headers
            .push(("Authorization".into(), "Bearer hunter2".into()));
        let shown = format!("{config:?}");
        for secret in ["s3cr3tpath", "q1", "hunter2", "user", "pw@"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("https://hooks.example.com:8443/…"),
            "{shown}"
        );
        assert!(shown.contains("Authorization: <redacted>"), "{shown}");
    }

    #[test]
    fn default_kinds_are_known_kinds() {
        for kind in DEFAULT_KINDS {
            assert!(
                crate::analysis::events::KNOWN_KINDS.contains(kind),
                "{kind}"
            );
        }
    }
}

//! InfluxDB sink settings: v2 API (org, bucket, token) or v1 API (database,
//! retention policy, optional user/password). Secrets never reach Debug output.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::encoder::Precision;

/// Lines per write request; InfluxDB recommends batches of about 5,000.
pub const MAX_BATCH_LINES: usize = 5_000;
/// Uncompressed bytes per write request.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Lines kept while InfluxDB is unreachable (oldest dropped beyond this).
pub const DEFAULT_QUEUE_LINES: usize = 500_000;
/// How often queued lines are flushed when no batch is full.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Time allowed for one write request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed at shutdown to send what is queued.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);

#[derive(Clone, PartialEq)]
pub enum InfluxApi {
    V2 {
        org: String,
        bucket: String,
        token: String,
    },
    V1 {
        database: String,
        retention_policy: Option<String>,
        username: Option<String>,
        password: Option<String>,
    },
}

#[derive(Clone, PartialEq)]
pub struct InfluxConfig {
    pub url: Url,
    pub api: InfluxApi,
    pub precision: Precision,
    pub gzip: bool,
    pub queue_lines: usize,
    /// Also write kafka_partition and kafka_group_partition points.
    pub per_partition: bool,
}

impl fmt::Debug for InfluxApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InfluxApi::V2 { org, bucket, .. } => f
                .debug_struct("V2")
                .field("org", org)
                .field("bucket", bucket)
                .field("token", &"<redacted>")
                .finish(),
            InfluxApi::V1 {
                database,
                retention_policy,
                username,
                password,
            } => f
                .debug_struct("V1")
                .field("database", database)
                .field("retention_policy", retention_policy)
                .field("username", username)
                .field("password", &password.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

impl fmt::Debug for InfluxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfluxConfig")
            .field("url", &redacted_url(&self.url))
            .field("api", &self.api)
            .field("precision", &self.precision)
            .field("gzip", &self.gzip)
            .field("queue_lines", &self.queue_lines)
            .field("per_partition", &self.per_partition)
            .finish()
    }
}

/// The URL without any user:password part, for logs and messages.
pub fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

impl InfluxConfig {
    /// The write endpoint with its query string.
    pub fn write_url(&self) -> Url {
        let mut url = self.url.clone();
        match &self.api {
            InfluxApi::V2 { org, bucket, .. } => {
                url.set_path(&join_path(&self.url, "api/v2/write"));
                url.query_pairs_mut()
                    .clear()
                    .append_pair("org", org)
                    .append_pair("bucket", bucket)
                    .append_pair("precision", self.precision.v2_name());
            }
            InfluxApi::V1 {
                database,
                retention_policy,
                ..
            } => {
                url.set_path(&join_path(&self.url, "write"));
                let mut query = url.query_pairs_mut();
                query
                    .clear()
                    .append_pair("db", database)
                    .append_pair("precision", self.precision.v1_name());
                if let Some(rp) = retention_policy {
                    query.append_pair("rp", rp);
                }
            }
        }
        url
    }

    pub fn ping_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path(&join_path(&self.url, "ping"));
        url.set_query(None);
        url
    }
}

/// `base` may carry a path prefix (behind a proxy): keep it.
fn join_path(base: &Url, tail: &str) -> String {
    let prefix = base.path().trim_end_matches('/');
    format!("{prefix}/{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api: InfluxApi) -> InfluxConfig {
        InfluxConfig {
            url: Url::parse("http://user:pw@127.0.0.1:8086/proxy/").unwrap(),
            api,
            precision: Precision::Milliseconds,
            gzip: true,
            queue_lines: 10,
            per_partition: true,
        }
    }

    #[test]
    fn v2_and_v1_write_urls() {
        let v2 = config(InfluxApi::V2 {
            org: "my org".into(),
            bucket: "b".into(),
            token: "secret".into(),
        });
        assert_eq!(
            v2.write_url().as_str(),
            "http://user:pw@127.0.0.1:8086/proxy/api/v2/write?org=my+org&bucket=b&precision=ms"
        );
        let v1 = config(InfluxApi::V1 {
            database: "kafka".into(),
            retention_policy: Some("week".into()),
            username: None,
            password: None,
        });
        assert_eq!(
            v1.write_url().as_str(),
            "http://user:pw@127.0.0.1:8086/proxy/write?db=kafka&precision=ms&rp=week"
        );
        assert_eq!(v1.ping_url().path(), "/proxy/ping");
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let shown = format!(
            "{:?} {:?}",
            config(InfluxApi::V2 {
                org: "o".into(),
                bucket: "b".into(),
                token: "tok-3141".into(),
            }),
            config(InfluxApi::V1 {
                database: "d".into(),
                retention_policy: None,
                username: Some("u".into()),
                password: Some("pw-2718".into()),
            })
        );
        assert!(
            !shown.contains("tok-3141") && !shown.contains("pw-2718"),
            "{shown}"
        );
        assert!(!shown.contains(":pw@"), "{shown}");
    }
}

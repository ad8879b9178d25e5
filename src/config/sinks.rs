//! The sinks' options (InfluxDB, Elasticsearch, webhook) → their
//! validated configurations, with messages that name the option and the fix.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::{parse_duration, split_brokers, BrokerList, ConfigError};
use crate::sinks::elasticsearch::config::{
    EsAuth, EsConfig, DEFAULT_METRICS_INTERVAL, DEFAULT_QUEUE_DOCS,
};
use crate::sinks::influxdb::config::{InfluxApi, InfluxConfig, DEFAULT_QUEUE_LINES};
use crate::sinks::influxdb::encoder::Precision;
use crate::sinks::webhook::config::WebhookConfig;

/// The Elasticsearch options as given, before validation.
pub(super) struct EsOptions {
    pub(super) url: Option<String>,
    pub(super) api_key: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) aws_region: Option<String>,
    pub(super) ca_cert: Option<PathBuf>,
    pub(super) metrics_interval: Option<String>,
    pub(super) queue_docs: Option<usize>,
}

pub(super) fn es_config(options: EsOptions) -> Result<Option<EsConfig>, ConfigError> {
    let EsOptions {
        url,
        api_key,
        username,
        password,
        aws_region,
        ca_cert,
        metrics_interval,
        queue_docs,
    } = options;
    let err = |text: String| Err(ConfigError::Elasticsearch(text));
    let Some(url_text) = url else {
        for (name, given) in [
            ("--es-api-key", api_key.is_some()),
            ("--es-username", username.is_some()),
            ("--es-password", password.is_some()),
            ("--es-aws-region", aws_region.is_some()),
            ("--es-ca-cert", ca_cert.is_some()),
        ] {
            if given {
                return err(format!(
                    "{name} needs --es-url (e.g. https://127.0.0.1:9200)"
                ));
            }
        }
        return Ok(None);
    };
    let url = match Url::parse(url_text.trim()) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => url,
        _ => {
            return err(format!(
                "--es-url must be an http:// or https:// URL such as https://127.0.0.1:9200, got '{url_text}'"
            ))
        }
    };
    let aws_region = aws_region.map(|r| r.trim().to_string());
    if let Some(region) = &aws_region {
        let valid = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return err(format!(
                "--es-aws-region must be an AWS region such as eu-west-1, got '{region}'"
            ));
        }
        if api_key.is_some() || username.is_some() || password.is_some() {
            return err("--es-aws-region signs every request with AWS credentials: it cannot be combined with --es-api-key or --es-username/--es-password".into());
        }
    }
    let auth = match (api_key, username, password) {
        _ if aws_region.is_some() => EsAuth::AwsSigV4 {
            region: aws_region.unwrap_or_default(),
        },
        (Some(key), None, None) => EsAuth::ApiKey(key),
        (None, Some(username), Some(password)) => EsAuth::Basic { username, password },
        (None, None, None) => EsAuth::None,
        (Some(_), _, _) => {
            return err(
                "--es-api-key cannot be combined with --es-username/--es-password: pick one".into(),
            )
        }
        (None, Some(_), None) => return err("--es-username needs --es-password".into()),
        (None, None, Some(_)) => return err("--es-password needs --es-username".into()),
    };
    if let Some(path) = &ca_cert {
        if !path.is_file() {
            return err(format!(
                "--es-ca-cert {} is not a readable file",
                path.display()
            ));
        }
    }
    let metrics_interval = match metrics_interval {
        Some(text) => parse_duration("--es-metrics-interval", &text)?,
        None => DEFAULT_METRICS_INTERVAL,
    };
    if metrics_interval < Duration::from_secs(1) {
        return err("--es-metrics-interval must be at least 1s".into());
    }
    let queue_docs = queue_docs.unwrap_or(DEFAULT_QUEUE_DOCS);
    if queue_docs == 0 {
        return err("--es-queue-docs must be at least 1".into());
    }
    Ok(Some(EsConfig {
        url,
        auth,
        ca_certificate: ca_cert,
        metrics_interval,
        queue_docs,
    }))
}

pub(super) fn notify_config(
    url: Option<String>,
    kinds: Option<BrokerList>,
    headers: Option<BrokerList>,
    request_timeout: Duration,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let err = |text: String| Err(ConfigError::Notify(text));
    let Some(url_text) = url else {
        if kinds.is_some() {
            return err("--notify-kinds needs --notify-webhook (the URL to POST to)".into());
        }
        if headers.is_some() {
            return err("--notify-header needs --notify-webhook (the URL to POST to)".into());
        }
        return Ok(None);
    };
    // The URL is a secret (incoming-webhook URLs carry their token), so
    // messages say what is wrong with it without repeating it.
    let url = match Url::parse(url_text.trim()) {
        Ok(url) if (url.scheme() == "http" || url.scheme() == "https") && url.has_host() => url,
        Ok(url) => {
            return err(format!(
                "--notify-webhook must be an http:// or https:// URL such as https://hooks.example.com/kafka, got a {}: URL",
                url.scheme()
            ))
        }
        Err(error) => {
            return err(format!(
                "--notify-webhook must be an http:// or https:// URL such as https://hooks.example.com/kafka; the value given is not a URL ({error})"
            ))
        }
    };
    let mut config = WebhookConfig::new(url, request_timeout);
    if let Some(kinds) = kinds {
        let list = match kinds {
            BrokerList::Text(text) => split_brokers(&text),
            BrokerList::List(list) => list.iter().map(|k| k.trim().to_string()).collect(),
        };
        if list.is_empty() || list.iter().any(String::is_empty) {
            return err("--notify-kinds is empty: list event kinds such as lag_threshold_crossed,kafka_down, or leave it out for the defaults".into());
        }
        for kind in &list {
            if !crate::analysis::events::KNOWN_KINDS.contains(&kind.as_str()) {
                return err(format!(
                    "--notify-kinds: unknown event kind '{kind}'; known kinds: {}",
                    crate::analysis::events::KNOWN_KINDS.join(", ")
                ));
            }
        }
        config.kinds = list.into_iter().collect();
    }
    let headers = match headers {
        None => Vec::new(),
        Some(BrokerList::Text(one)) => vec![one],
        Some(BrokerList::List(list)) => list,
    };
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            return err("--notify-header must look like 'Name: value', e.g. 'Authorization: Bearer TOKEN' (the value given has no ':')".into());
        };
        if let Err(reason) = crate::sinks::webhook::sender::header_pair(name, value) {
            return err(format!("--notify-header: {reason}"));
        }
        config
            .headers
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some(config))
}

/// The InfluxDB options as given, before validation.
pub(super) struct InfluxOptions {
    pub(super) url: Option<String>,
    pub(super) org: Option<String>,
    pub(super) bucket: Option<String>,
    pub(super) token: Option<String>,
    pub(super) db: Option<String>,
    pub(super) rp: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) precision: Option<String>,
    pub(super) gzip: Option<bool>,
    pub(super) queue_points: Option<usize>,
}

pub(super) fn influx_config(
    o: InfluxOptions,
    per_partition: bool,
) -> Result<Option<InfluxConfig>, ConfigError> {
    let err = |text: &str| Err(ConfigError::Influx(text.to_string()));
    let Some(url_text) = o.url else {
        let given = [
            ("--influx-org", o.org.is_some()),
            ("--influx-bucket", o.bucket.is_some()),
            ("--influx-token", o.token.is_some()),
            ("--influx-db", o.db.is_some()),
            ("--influx-rp", o.rp.is_some()),
        ];
        if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
            return err(&format!(
                "{name} needs --influx-url (the InfluxDB address, e.g. http://127.0.0.1:8086)"
            ));
        }
        return Ok(None);
    };
    let url = match Url::parse(url_text.trim()) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => url,
        _ => {
            return err(&format!(
                "--influx-url must be an http:// or https:// URL such as http://127.0.0.1:8086, got '{url_text}'"
            ))
        }
    };
    let api = match (o.org, o.bucket, o.token, o.db) {
        (Some(org), Some(bucket), Some(token), None) => InfluxApi::V2 { org, bucket, token },
        (None, None, None, Some(database)) => InfluxApi::V1 {
            database,
            retention_policy: o.rp,
            username: o.username,
            password: o.password,
        },
        (_, _, _, Some(_)) => {
            return err("--influx-db (InfluxDB 1.x) cannot be combined with --influx-org/--influx-bucket/--influx-token (InfluxDB 2): pick one API")
        }
        _ => {
            return err("--influx-url needs either --influx-org, --influx-bucket and --influx-token (InfluxDB 2) or --influx-db (InfluxDB 1.x, VictoriaMetrics)")
        }
    };
    let precision = match o.precision.as_deref() {
        None => Precision::default(),
        Some(text) => match Precision::parse(text) {
            Some(p) => p,
            None => {
                return err(&format!(
                    "--influx-precision must be ns, us, ms or s, got '{text}'"
                ))
            }
        },
    };
    let queue_lines = o.queue_points.unwrap_or(DEFAULT_QUEUE_LINES);
    if queue_lines == 0 {
        return err("--influx-queue-points must be at least 1");
    }
    Ok(Some(InfluxConfig {
        url,
        api,
        precision,
        gzip: o.gzip.unwrap_or(true),
        queue_lines,
        per_partition,
    }))
}

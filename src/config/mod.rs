//! Configuration from flags, KAFKA_PULSE_* environment variables and an
//! optional TOML file, in that order of precedence, validated into `Config`
//! with messages that name the option and the fix.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::analysis::events::LagThresholds;
use crate::filter::{FilterError, Filters, NameFilter};
use crate::sinks::elasticsearch::config::EsConfig;
use crate::sinks::influxdb::config::InfluxConfig;
use crate::sinks::webhook::config::WebhookConfig;
use sinks::{es_config, influx_config, notify_config, EsOptions, InfluxOptions};
use url::Url;

pub mod cluster;
pub mod options;
mod sinks;
pub use cluster::{ClusterConfig, DEFAULT_CLUSTER_NAME};
pub use options::{layer, Options};

/// What the TOML file holds: the same options (src/config/options.rs).
pub type FileConfig = Options;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded broker's address; the replay commands default to it.
pub const DEFAULT_KAFKA_LISTEN: &str = "127.0.0.1:9092";
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// More exact-lag fetches per sample than this would turn the option into a
/// second consumer of the whole cluster.
pub const MAX_EXACT_LAG_FETCHES: usize = 10_000;

/// `[group_thresholds."billing"]` in the TOML file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupThreshold {
    pub messages: Option<i64>,
    pub seconds: Option<String>,
}

/// `brokers = "a:9092,b:9092"` or `brokers = ["a:9092", "b:9092"]`; also
/// the shape of other list keys (`notify_kinds`, `notify_header`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BrokerList {
    Text(String),
    List(Vec<String>),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error(
        "--enable-writes on {0}, which is not a loopback address, needs --auth-token-file: \
         otherwise anyone who reaches {0} could write into topics; give a file of NAME:SECRET \
         lines, listen on 127.0.0.1, or leave writes off"
    )]
    WritesNeedLoopback(std::net::SocketAddr),
    #[error("{0}")]
    AuthFile(String),
    #[error(
        "--auth-read needs --auth-token-file (KAFKA_PULSE_AUTH_TOKEN_FILE): the file of \
         NAME:SECRET lines readers authenticate with"
    )]
    AuthReadWithoutFile,
    #[error(
        "--public-url must be an http:// or https:// URL with a host, such as \
         https://pulse.example.com, got '{0}'"
    )]
    BadPublicUrl(String),
    #[error("{option} must be HOST:PORT such as {example}, got '{value}'")]
    BadAddress {
        option: &'static str,
        example: &'static str,
        value: String,
    },
    #[error("{option} must be a duration such as 1s or 500ms, got '{value}'")]
    BadDuration { option: &'static str, value: String },
    #[error("--interval must be at least 100ms, got {0}")]
    IntervalTooShort(String),
    #[error("--request-timeout must be between 100ms and 10m, got {0}")]
    BadRequestTimeout(String),
    #[error("--status-window must be between 2 and 1000 samples, got {0}")]
    BadStatusWindow(usize),
    #[error("--exact-lag-fetches must be between 0 (off) and {MAX_EXACT_LAG_FETCHES} partitions per sample, got {0}")]
    BadExactLagFetches(usize),
    #[error("--forget-groups-after must be at least --interval ({interval}), got {value}; leave it out to keep every group")]
    ForgetTooSoon { value: String, interval: String },
    #[error("--brokers is empty: give at least one HOST:PORT, or leave it out to run the embedded broker")]
    NoBrokers,
    #[error("cannot read config file {path}: {reason} (check --config / KAFKA_PULSE_CONFIG)")]
    FileUnreadable { path: String, reason: String },
    #[error("config file {path} is not valid: {reason}")]
    FileInvalid { path: String, reason: String },
    #[error("{option} must be a positive number of messages, got {value}")]
    BadThreshold { option: String, value: i64 },
    #[error(transparent)]
    BadFilter(#[from] FilterError),
    #[error("--metrics-compat supports only kafka_exporter, got '{0}'")]
    BadMetricsCompat(String),
    #[error("{0}")]
    Influx(String),
    #[error("{0}")]
    Elasticsearch(String),
    #[error("{0}")]
    Notify(String),
    #[error("{0}: they contradict each other, keep only one")]
    DemoConflict(&'static str),
    #[error("--data-dir {path} is not usable: {reason}")]
    BadDataDir { path: String, reason: String },
    #[error("{0}")]
    KafkaSecurity(String),
    #[error("{0}")]
    Cluster(String),
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None`: run the embedded broker.
    pub brokers: Option<Vec<String>>,
    pub listen: SocketAddr,
    pub kafka_listen: SocketAddr,
    pub data_dir: Option<PathBuf>,
    pub interval: Duration,
    /// Demo traffic: on by default with the embedded broker, with --brokers
    /// only when asked for (--demo).
    pub demo: bool,
    /// Replays may be started from the web (API and page).
    pub enable_writes: bool,
    /// Host names answered besides IP literals and localhost.
    pub allowed_hosts: Vec<String>,
    /// `--public-url`: how users reach kafka-pulse (its host is answered,
    /// writes from its origin accepted).
    pub public_url: Option<Url>,
    /// Credentials of `--auth-token-file`, loaded and checked at start.
    pub auth: Option<std::sync::Arc<crate::web::auth::Credentials>>,
    /// `--auth-read`: reads need credentials too.
    pub auth_read: bool,
    /// `--public-metrics`: /metrics stays open with `--auth-read`.
    pub public_metrics: bool,
    /// Bounds of the HTTP server; `None`: from the open-file limit at start
    /// (not an option: tests set it).
    pub web_limits: Option<crate::web::server::ServerLimits>,
    pub request_timeout: Duration,
    pub status_window: usize,
    /// Lagging partitions per sample whose committed message's timestamp is
    /// fetched (0: time lag is interpolated only).
    pub exact_lag_fetches: usize,
    /// Groups without members and without commit progress for this long are
    /// left out of everything (None: never).
    pub forget_groups_after: Option<Duration>,
    pub lag_thresholds: LagThresholds,
    pub filters: Filters,
    pub metrics: MetricsOptions,
    pub cluster_name: Option<String>,
    pub influx: Option<InfluxConfig>,
    pub elasticsearch: Option<EsConfig>,
    /// `--notify-webhook`: POST events of chosen kinds.
    pub notify: Option<WebhookConfig>,
    /// TLS and SASL of every Kafka connection (plaintext by default).
    pub kafka_security: std::sync::Arc<crate::security::Security>,
    /// Several clusters (`[[cluster]]`, `--cluster`); empty: the one cluster
    /// the fields above describe (see [`Config::clusters`]).
    pub clusters: Vec<ClusterConfig>,
}

/// What /metrics exports besides the kafka_pulse_* families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    pub per_partition: bool,
    /// `kafka_pulse_group_status{status}`: 9 series per group, 1 for the
    /// current status. On by default (public contract); off at scale, where
    /// `kafka_pulse_group_status_code` (always exported) carries the same.
    pub group_status_one_hot: bool,
    pub kafka_exporter_compat: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            per_partition: true,
            group_status_one_hot: true,
            kafka_exporter_compat: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            brokers: None,
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            kafka_listen: DEFAULT_KAFKA_LISTEN.parse().expect("valid default"),
            data_dir: None,
            interval: Duration::from_secs(1),
            demo: true,
            enable_writes: false,
            web_limits: None,
            allowed_hosts: Vec::new(),
            public_url: None,
            auth: None,
            auth_read: false,
            public_metrics: false,
            request_timeout: Duration::from_secs(5),
            status_window: 10,
            exact_lag_fetches: 0,
            forget_groups_after: None,
            lag_thresholds: LagThresholds::default(),
            filters: Filters::default(),
            metrics: MetricsOptions::default(),
            cluster_name: None,
            influx: None,
            elasticsearch: None,
            notify: None,
            kafka_security: Default::default(),
            clusters: Vec::new(),
        }
    }
}

impl Config {
    /// Every watched cluster: the `[[cluster]]` entries, or the one cluster
    /// of `--brokers` (or the embedded broker) and the top-level options.
    pub fn clusters(&self) -> Vec<ClusterConfig> {
        if !self.clusters.is_empty() {
            return self.clusters.clone();
        }
        vec![ClusterConfig {
            name: self.cluster_name.clone(),
            brokers: self.brokers.clone(),
            interval: self.interval,
            demo: self.demo,
            filters: self.filters.clone(),
            lag_thresholds: self.lag_thresholds.clone(),
            exact_lag_fetches: self.exact_lag_fetches,
            kafka_security: self.kafka_security.clone(),
        }]
    }

    /// Reads the TOML file named by `--config`, if any, and merges it under
    /// the flags and environment.
    pub fn load(options: Options) -> Result<Config, ConfigError> {
        let file = match &options.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Config::merge(options, file)
    }

    /// Validates `options` (flags and environment) layered over `file`.
    pub fn merge(options: Options, file: FileConfig) -> Result<Config, ConfigError> {
        let o = layer(options, file)?;
        let defaults = Config::default();
        let brokers = o.brokers.as_deref().map(split_brokers);
        if let Some(list) = &brokers {
            if list.is_empty() {
                return Err(ConfigError::NoBrokers);
            }
            for broker in list {
                check_host_port("--brokers", "kafka-1:9092", broker)?;
            }
        }
        let listen = match o.listen {
            Some(value) => parse_address("--listen", DEFAULT_LISTEN, &value)?,
            None => defaults.listen,
        };
        let kafka_listen = match o.kafka_listen {
            Some(value) => parse_address("--kafka-listen", DEFAULT_KAFKA_LISTEN, &value)?,
            None => defaults.kafka_listen,
        };
        let interval = match o.interval {
            Some(value) => parse_duration("--interval", &value)?,
            None => defaults.interval,
        };
        if interval < MIN_INTERVAL {
            return Err(ConfigError::IntervalTooShort(
                humantime::format_duration(interval).to_string(),
            ));
        }
        let request_timeout = match o.request_timeout {
            Some(value) => parse_duration("--request-timeout", &value)?,
            None => defaults.request_timeout,
        };
        if request_timeout < Duration::from_millis(100)
            || request_timeout > Duration::from_secs(600)
        {
            return Err(ConfigError::BadRequestTimeout(
                humantime::format_duration(request_timeout).to_string(),
            ));
        }
        let status_window = o.status_window.unwrap_or(defaults.status_window);
        if !(2..=1000).contains(&status_window) {
            return Err(ConfigError::BadStatusWindow(status_window));
        }
        let exact_lag_fetches = o.exact_lag_fetches.unwrap_or(defaults.exact_lag_fetches);
        if exact_lag_fetches > MAX_EXACT_LAG_FETCHES {
            return Err(ConfigError::BadExactLagFetches(exact_lag_fetches));
        }
        let forget_groups_after = o
            .forget_groups_after
            .map(|text| parse_duration("--forget-groups-after", &text))
            .transpose()?;
        if let Some(after) = forget_groups_after {
            if after < interval {
                return Err(ConfigError::ForgetTooSoon {
                    value: humantime::format_duration(after).to_string(),
                    interval: humantime::format_duration(interval).to_string(),
                });
            }
        }
        let data_dir = o.data_dir;
        if let Some(dir) = &data_dir {
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError::BadDataDir {
                    path: dir.display().to_string(),
                    reason: "it exists and is not a directory".to_string(),
                });
            }
        }
        let lag_threshold_messages = o.lag_threshold_messages;
        let lag_threshold_seconds = o.lag_threshold_seconds;
        let lag_thresholds = thresholds(
            lag_threshold_messages,
            lag_threshold_seconds.clone(),
            o.group_thresholds.clone(),
        )?;
        let include_topics = o.include_topics;
        let exclude_topics = o.exclude_topics;
        let include_groups = o.include_groups;
        let exclude_groups = o.exclude_groups;
        let filters = Filters {
            topics: NameFilter::new(
                include_topics.as_deref().map(|p| ("--include-topics", p)),
                exclude_topics.as_deref().map(|p| ("--exclude-topics", p)),
            )?,
            groups: NameFilter::new(
                include_groups.as_deref().map(|p| ("--include-groups", p)),
                exclude_groups.as_deref().map(|p| ("--exclude-groups", p)),
            )?,
        };
        let kafka_exporter_compat = match o.metrics_compat {
            None => false,
            Some(name) if name == "kafka_exporter" => true,
            Some(other) => return Err(ConfigError::BadMetricsCompat(other)),
        };
        let metrics = MetricsOptions {
            per_partition: o.partition_metrics.unwrap_or(true),
            group_status_one_hot: o.group_status_one_hot.unwrap_or(true),
            kafka_exporter_compat,
        };
        let influx = influx_config(
            InfluxOptions {
                url: o.influx_url,
                org: o.influx_org,
                bucket: o.influx_bucket,
                token: o.influx_token,
                db: o.influx_db,
                rp: o.influx_rp,
                username: o.influx_username,
                password: o.influx_password,
                precision: o.influx_precision,
                gzip: o.influx_gzip,
                queue_points: o.influx_queue_points,
            },
            metrics.per_partition,
        )?;
        let es = es_config(EsOptions {
            url: o.es_url,
            api_key: o.es_api_key,
            username: o.es_username,
            password: o.es_password,
            aws_region: o.es_aws_region,
            ca_cert: o.es_ca_cert,
            metrics_interval: o.es_metrics_interval,
            queue_docs: o.es_queue_docs,
        })?;
        let notify = notify_config(
            o.notify_webhook,
            o.notify_kinds.map(BrokerList::Text),
            // Headers from flags/environment replace the file's, like any option.
            (!o.notify_header.is_empty()).then_some(BrokerList::List(o.notify_header)),
            request_timeout,
        )?;
        let cluster_name = o
            .cluster_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if let Some(name) = &cluster_name {
            cluster::check_name(name).map_err(ConfigError::Cluster)?;
        }
        // `--cluster` flags (or KAFKA_PULSE_CLUSTERS) replace the file's
        // [[cluster]] entries, as flags replace any option of the file.
        let cluster_entries = if o.cluster_flags.is_empty() {
            o.clusters
        } else {
            o.cluster_flags
                .iter()
                .filter(|text| !text.trim().is_empty())
                .map(|text| cluster::entry_from_flag(text))
                .collect::<Result<Vec<_>, _>>()?
        };
        if !cluster_entries.is_empty() {
            if brokers.is_some() {
                return Err(ConfigError::Cluster(
                    "--brokers (or brokers = in the file) names one cluster, but clusters are configured with --cluster or [[cluster]]: move the brokers into a cluster entry".into(),
                ));
            }
            if cluster_name.is_some() {
                return Err(ConfigError::Cluster(
                    "--cluster-name names the one cluster of --brokers; with --cluster or [[cluster]] each entry has its own name".into(),
                ));
            }
        }
        // Flags and environment win over the file as a whole (`layer`):
        // `--demo` beats `no_demo = true` in the file, but both on the same
        // level is a mistake.
        let demo = demo_choice(
            o.demo,
            o.no_demo,
            "--demo and --no-demo are both on (flags, KAFKA_PULSE_DEMO / KAFKA_PULSE_NO_DEMO, or demo = true and no_demo = true in the file)",
        )?
        // By default only the embedded broker gets demo traffic.
        .unwrap_or(brokers.is_none());
        let auth = o
            .auth_token_file
            .map(|path| crate::web::auth::Credentials::load(&path).map(std::sync::Arc::new))
            .transpose()
            .map_err(ConfigError::AuthFile)?;
        let auth_read = o.auth_read.unwrap_or(false);
        if auth_read && auth.is_none() {
            return Err(ConfigError::AuthReadWithoutFile);
        }
        let public_metrics = o.public_metrics.unwrap_or(false);
        let enable_writes = o.enable_writes.unwrap_or(false);
        if enable_writes && !listen.ip().is_loopback() && auth.is_none() {
            return Err(ConfigError::WritesNeedLoopback(listen));
        }
        let public_url = o
            .public_url
            .filter(|u| !u.trim().is_empty())
            .map(|text| match Url::parse(text.trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Ok(url)
                }
                _ => Err(ConfigError::BadPublicUrl(text)),
            })
            .transpose()?;
        let mut allowed_hosts = o
            .allowed_hosts
            .as_deref()
            .map(split_brokers)
            .unwrap_or_default();
        if let Some(host) = public_url.as_ref().and_then(|url| url.host_str()) {
            allowed_hosts.push(host.to_string());
        }
        if !cluster_entries.is_empty() && o.demo == Some(true) {
            return Err(ConfigError::Cluster(
                "--demo with several clusters: set demo = true in the [[cluster]] entry that should get demo traffic".into(),
            ));
        }
        let no_demo = o.no_demo.unwrap_or(false);
        let env = |name: &str| std::env::var(name).ok();
        let clusters = cluster::resolve(
            cluster_entries,
            &cluster::Inherited {
                interval,
                include_topics: include_topics.as_deref(),
                exclude_topics: exclude_topics.as_deref(),
                include_groups: include_groups.as_deref(),
                exclude_groups: exclude_groups.as_deref(),
                lag_threshold_messages,
                lag_threshold_seconds: lag_threshold_seconds.as_deref(),
                group_thresholds: &o.group_thresholds,
                exact_lag_fetches,
                no_demo,
                kafka_args: &o.kafka_args,
                kafka_table: o.kafka.as_ref(),
                kafka_properties: o.kafka_properties.as_deref(),
                env: &env,
            },
        )?;
        let kafka_security = match clusters.first() {
            // The top-level security is what the clusters inherited.
            Some(first) if first.brokers.is_some() => first.kafka_security.clone(),
            Some(_) => Default::default(),
            None => std::sync::Arc::new(
                crate::security::Security::for_dashboard(
                    &o.kafka_args,
                    crate::security::FileSettings {
                        table: o.kafka.as_ref(),
                        properties_file: o.kafka_properties.as_deref(),
                    },
                    &env,
                    brokers.as_ref().map(|list| list.join(",")).as_deref(),
                )
                .map_err(ConfigError::KafkaSecurity)?,
            ),
        };
        Ok(Config {
            demo,
            enable_writes,
            web_limits: None,
            allowed_hosts,
            public_url,
            auth,
            auth_read,
            public_metrics,
            brokers,
            listen,
            kafka_listen,
            data_dir,
            interval,
            request_timeout,
            status_window,
            exact_lag_fetches,
            forget_groups_after,
            lag_thresholds,
            filters,
            metrics,
            cluster_name,
            influx,
            elasticsearch: es,
            notify,
            kafka_security,
            clusters,
        })
    }
}

/// What one level (flags and environment, or the file) says about the demo:
/// `Some(true)` on, `Some(false)` off, `None` nothing.
fn demo_choice(
    demo: Option<bool>,
    no_demo: Option<bool>,
    both: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match (demo, no_demo) {
        (Some(true), Some(true)) => Err(ConfigError::DemoConflict(both)),
        (Some(on), _) => Ok(Some(on)),
        (None, Some(true)) => Ok(Some(false)),
        (None, _) => Ok(None),
    }
}

fn thresholds(
    messages: Option<i64>,
    seconds: Option<String>,
    groups: BTreeMap<String, GroupThreshold>,
) -> Result<LagThresholds, ConfigError> {
    let check_messages = |option: String, value: Option<i64>| match value {
        Some(n) if n <= 0 => Err(ConfigError::BadThreshold { option, value: n }),
        other => Ok(other),
    };
    let seconds_of = |option: &'static str, value: Option<String>| {
        value
            .map(|text| parse_duration(option, &text).map(|d| d.as_secs_f64()))
            .transpose()
    };
    let mut result = LagThresholds {
        messages: check_messages("--lag-threshold-messages".into(), messages)?,
        seconds: seconds_of("--lag-threshold-seconds", seconds)?,
        per_group: Default::default(),
    };
    for (group, limits) in groups {
        let messages = check_messages(
            format!("group_thresholds.\"{group}\".messages"),
            limits.messages,
        )?;
        let seconds = seconds_of("group_thresholds.*.seconds", limits.seconds)?;
        result.per_group.insert(group, (messages, seconds));
    }
    Ok(result)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::FileInvalid {
        path: path.display().to_string(),
        reason: e.to_string().trim().to_string(),
    })
}

fn split_brokers(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn check_host_port(
    option: &'static str,
    example: &'static str,
    value: &str,
) -> Result<(), ConfigError> {
    let bad = || ConfigError::BadAddress {
        option,
        example,
        value: value.to_string(),
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains(char::is_whitespace) || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

fn parse_address(
    option: &'static str,
    example: &'static str,
    value: &str,
) -> Result<SocketAddr, ConfigError> {
    check_host_port(option, example, value)?;
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::BadAddress {
            option,
            example,
            value: value.to_string(),
        })
}

fn parse_duration(option: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|_| ConfigError::BadDuration {
        option,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::elasticsearch::config::EsAuth;
    use crate::sinks::influxdb::config::InfluxApi;
    use crate::sinks::influxdb::encoder::Precision;

    /// The dashboard's flags alone (src/cli.rs adds the subcommands).
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        options: Options,
    }

    fn cli(args: &[&str]) -> Options {
        use clap::Parser;
        let mut all = vec!["kafka-pulse"];
        all.extend_from_slice(args);
        Flags::try_parse_from(all).expect("flags parse").options
    }

    #[test]
    fn forget_groups_after_parses_and_must_not_be_shorter_than_the_interval() {
        let config = Config::merge(cli(&[]), FileConfig::default()).unwrap();
        assert_eq!(config.forget_groups_after, None);
        let config =
            Config::merge(cli(&["--forget-groups-after", "7d"]), FileConfig::default()).unwrap();
        assert_eq!(
            config.forget_groups_after,
            Some(Duration::from_secs(7 * 86_400))
        );
        let error = Config::merge(
            cli(&["--forget-groups-after", "500ms", "--interval", "1s"]),
            FileConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("--forget-groups-after") && error.contains("--interval"),
            "{error}"
        );
        assert!(Config::merge(
            cli(&["--forget-groups-after", "soon"]),
            FileConfig::default()
        )
        .is_err());
    }

    #[test]
    fn exact_lag_fetches_default_off_and_are_bounded() {
        let config = Config::merge(cli(&[]), FileConfig::default()).unwrap();
        assert_eq!(config.exact_lag_fetches, 0);
        let config =
            Config::merge(cli(&["--exact-lag-fetches", "50"]), FileConfig::default()).unwrap();
        assert_eq!(config.exact_lag_fetches, 50);
        let file: FileConfig = toml::from_str("exact_lag_fetches = 7").unwrap();
        assert_eq!(Config::merge(cli(&[]), file).unwrap().exact_lag_fetches, 7);
        let error = Config::merge(
            cli(&["--exact-lag-fetches", "20000"]),
            FileConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("--exact-lag-fetches") && error.contains("20000"),
            "{error}"
        );
    }

    #[test]
    fn defaults_listen_on_loopback_with_demo() {
        let config = Config::merge(cli(&[]), FileConfig::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.kafka_listen.to_string(), "127.0.0.1:9092");
        assert!(config.demo);
        assert_eq!(config.brokers, None);
    }

    #[test]
    fn brokers_turn_the_demo_off() {
        let config =
            Config::merge(cli(&["--brokers", "a:9092, b:9093"]), FileConfig::default()).unwrap();
        assert_eq!(config.brokers.unwrap(), vec!["a:9092", "b:9093"]);
        assert!(!config.demo);
    }

    #[test]
    fn demo_flag_turns_the_demo_on_for_external_brokers() {
        let config = Config::merge(
            cli(&["--brokers", "kafka:9092", "--demo"]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(config.demo);
        assert_eq!(config.brokers.unwrap(), vec!["kafka:9092"]);
        let config = Config::merge(
            cli(&["--brokers", "kafka:9092", "--demo", "false"]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(!config.demo);
        // `--demo false` also turns the embedded broker's demo off.
        assert!(
            !Config::merge(cli(&["--demo", "no"]), FileConfig::default())
                .unwrap()
                .demo
        );
        let file: FileConfig = toml::from_str("brokers = \"kafka:9092\"\ndemo = true").unwrap();
        assert!(Config::merge(cli(&[]), file).unwrap().demo);
    }

    #[test]
    fn arbitrary_config_files_are_an_error_or_a_config_never_a_panic() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config as Runner, RngSeed, TestRunner};
        let keys = prop_oneof![
            Just("brokers"),
            Just("listen"),
            Just("interval"),
            Just("request_timeout"),
            Just("status_window"),
            Just("exact_lag_fetches"),
            Just("forget_groups_after"),
            Just("lag_threshold_messages"),
            Just("lag_threshold_seconds"),
            Just("include_topics"),
            Just("exclude_groups"),
            Just("influx_url"),
            Just("influx_precision"),
            Just("es_url"),
            Just("notify_webhook"),
            Just("notify_kinds"),
            Just("allowed_hosts"),
            Just("enable_writes"),
            Just("auth_token_file"),
            Just("auth_read"),
            Just("public_url"),
            Just("demo"),
            Just("unknown_key"),
        ];
        let values = prop_oneof![
            any::<String>().prop_map(|s| format!("{s:?}")),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("[\"a\", 1]".to_string()),
            Just("\"0s\"".to_string()),
            Just("\"(\"".to_string()),
            Just("\"http://user:pw@[::1\"".to_string()),
        ];
        let mut runner = TestRunner::new(Runner {
            cases: 500,
            rng_seed: RngSeed::Fixed(0x636f_6e66_6967),
            failure_persistence: None,
            ..Runner::default()
        });
        runner
            .run(&proptest::collection::vec((keys, values), 0..6), |pairs| {
                let text: String = pairs
                    .iter()
                    .map(|(key, value)| format!("{key} = {value}\n"))
                    .collect();
                if let Ok(file) = toml::from_str::<FileConfig>(&text) {
                    let _ = Config::merge(cli(&[]), file);
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn writes_are_off_by_default_and_need_a_loopback_listener() {
        let config = Config::merge(cli(&[]), FileConfig::default()).unwrap();
        assert!(!config.enable_writes);
        let config = Config::merge(cli(&["--enable-writes"]), FileConfig::default()).unwrap();
        assert!(config.enable_writes);
        let file: FileConfig = toml::from_str("enable_writes = true").unwrap();
        assert!(Config::merge(cli(&[]), file).unwrap().enable_writes);
        let error = Config::merge(
            cli(&["--enable-writes", "--listen", "0.0.0.0:8080"]),
            FileConfig::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("--auth-token-file") && error.contains("0.0.0.0:8080"),
            "{error}"
        );
    }

    #[test]
    fn authentication_options_are_checked_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("credentials");
        std::fs::write(&file, "ops:ops-secret-0123456789abcdef\n").unwrap();
        let path = file.to_str().unwrap();
        // Writes on a public address with credentials; reads guarded too.
        let config = Config::merge(
            cli(&[
                "--enable-writes",
                "--listen",
                "0.0.0.0:8080",
                "--auth-token-file",
                path,
                "--auth-read",
                "--public-url",
                "https://Pulse.Example.com/",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(config.auth.is_some() && config.auth_read && !config.public_metrics);
        assert!(config
            .allowed_hosts
            .contains(&"pulse.example.com".to_string()));
        // Secrets never show in the configuration's debug form.
        assert!(!format!("{config:?}").contains("ops-secret"));
        let file_config: FileConfig = toml::from_str(&format!(
            "auth_token_file = {path:?}\nauth_read = true\npublic_metrics = true"
        ))
        .unwrap();
        let config = Config::merge(cli(&[]), file_config).unwrap();
        assert!(config.auth_read && config.public_metrics);

        for (args, expected) in [
            (vec!["--auth-read"], "--auth-read needs --auth-token-file"),
            (
                vec!["--auth-token-file", "/nonexistent/credentials"],
                "cannot read --auth-token-file /nonexistent/credentials",
            ),
            (
                vec!["--public-url", "pulse.example.com"],
                "--public-url must be",
            ),
            (
                vec!["--public-url", "ftp://pulse.example.com"],
                "--public-url must be",
            ),
        ] {
            let error = Config::merge(cli(&args), FileConfig::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        std::fs::write(&file, "ops:short\n").unwrap();
        let error = Config::merge(cli(&["--auth-token-file", path]), FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 1") && error.contains(path), "{error}");
        assert!(!error.contains("short\n"), "{error}");
    }

    #[test]
    fn demo_and_no_demo_together_are_refused() {
        let error = Config::merge(cli(&["--demo", "--no-demo"]), FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--demo and --no-demo") && error.contains("keep only one"),
            "{error}"
        );
        let file: FileConfig = toml::from_str("demo = true\nno_demo = true").unwrap();
        let error = Config::merge(cli(&[]), file).unwrap_err().to_string();
        assert!(error.contains("demo = true and no_demo = true"), "{error}");
        // Flags win over the file as a whole, in either direction.
        let file: FileConfig = toml::from_str("no_demo = true").unwrap();
        let config = Config::merge(cli(&["--brokers", "k:9092", "--demo"]), file).unwrap();
        assert!(config.demo);
        let file: FileConfig = toml::from_str("demo = true").unwrap();
        assert!(!Config::merge(cli(&["--no-demo"]), file).unwrap().demo);
    }

    #[test]
    fn zero_interval_is_rejected_with_the_option_name() {
        let error = Config::merge(cli(&["--interval", "0s"]), FileConfig::default()).unwrap_err();
        assert!(error.to_string().contains("--interval"), "{error}");
    }

    #[test]
    fn malformed_addresses_name_the_option() {
        let error =
            Config::merge(cli(&["--listen", "nonsense"]), FileConfig::default()).unwrap_err();
        assert!(
            error.to_string().starts_with("--listen must be HOST:PORT"),
            "{error}"
        );
        let error = Config::merge(
            cli(&["--brokers", "host-without-port"]),
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("--brokers"), "{error}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig =
            toml::from_str("interval = \"5s\"\nlisten = \"127.0.0.1:9000\"\nno_demo = true")
                .unwrap();
        let config = Config::merge(cli(&["--interval", "2s"]), file).unwrap();
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.listen.port(), 9000);
        assert!(!config.demo);
    }

    #[test]
    fn unknown_toml_key_is_named() {
        let error = toml::from_str::<FileConfig>("intervall = \"1s\"").unwrap_err();
        assert!(error.to_string().contains("intervall"), "{error}");
    }

    #[test]
    fn thresholds_global_and_per_group() {
        let file: FileConfig = toml::from_str(
            "lag_threshold_messages = 1000\n[group_thresholds.\"billing/eu\"]\nseconds = \"30s\"\n",
        )
        .unwrap();
        let config = Config::merge(cli(&["--lag-threshold-seconds", "5m"]), file).unwrap();
        assert_eq!(config.lag_thresholds.messages, Some(1000));
        assert_eq!(config.lag_thresholds.seconds, Some(300.0));
        assert_eq!(
            config.lag_thresholds.per_group["billing/eu"],
            (None, Some(30.0))
        );
        let error = Config::merge(
            cli(&["--lag-threshold-messages", "0"]),
            FileConfig::default(),
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with("--lag-threshold-messages"),
            "{error}"
        );
    }

    #[test]
    fn filters_and_metrics_options() {
        let config = Config::merge(
            cli(&[
                "--include-topics",
                "orders.*",
                "--partition-metrics",
                "false",
                "--metrics-compat",
                "kafka_exporter",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(config.filters.topics.allows("orders-eu"));
        assert!(!config.filters.topics.allows("payments"));
        assert!(config.filters.groups.is_everything());
        assert!(!config.metrics.per_partition);
        assert!(config.metrics.kafka_exporter_compat);
        assert!(
            config.metrics.group_status_one_hot,
            "the one-hot status family is on unless turned off"
        );
        let error =
            Config::merge(cli(&["--exclude-groups", "[a-"]), FileConfig::default()).unwrap_err();
        assert!(error.to_string().starts_with("--exclude-groups"), "{error}");
        let error =
            Config::merge(cli(&["--metrics-compat", "burrow"]), FileConfig::default()).unwrap_err();
        assert!(error.to_string().contains("kafka_exporter"), "{error}");
    }

    #[test]
    fn group_status_one_hot_from_flag_file_and_flag_over_file() {
        let off = Config::merge(
            cli(&["--group-status-one-hot", "false"]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(!off.metrics.group_status_one_hot);
        assert!(
            off.metrics.per_partition,
            "independent of --partition-metrics"
        );
        let file: FileConfig =
            toml::from_str("group_status_one_hot = false\npartition_metrics = false").unwrap();
        let from_file = Config::merge(cli(&[]), file).unwrap();
        assert!(!from_file.metrics.group_status_one_hot);
        assert!(!from_file.metrics.per_partition);
        let file: FileConfig = toml::from_str("group_status_one_hot = false").unwrap();
        let flag_wins = Config::merge(cli(&["--group-status-one-hot", "yes"]), file).unwrap();
        assert!(flag_wins.metrics.group_status_one_hot);
        use clap::Parser;
        assert!(Flags::try_parse_from(["kafka-pulse", "--group-status-one-hot", "maybe"]).is_err());
    }

    #[test]
    fn influx_v1_v2_and_mistakes() {
        let v2 = Config::merge(
            cli(&[
                "--influx-url",
                "http://127.0.0.1:8086",
                "--influx-org",
                "o",
                "--influx-bucket",
                "b",
                "--influx-token",
                "t",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(matches!(v2.influx.unwrap().api, InfluxApi::V2 { .. }));
        let v1 = Config::merge(
            cli(&[
                "--influx-url",
                "http://127.0.0.1:8086",
                "--influx-db",
                "kafka",
                "--influx-precision",
                "s",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        let v1 = v1.influx.unwrap();
        assert!(matches!(v1.api, InfluxApi::V1 { .. }));
        assert_eq!(v1.precision, Precision::Seconds);
        for (args, needle) in [
            (vec!["--influx-db", "x"], "--influx-db needs --influx-url"),
            (vec!["--influx-url", "http://h:1"], "needs either"),
            (
                vec!["--influx-url", "ftp://h:1", "--influx-db", "x"],
                "http:// or https://",
            ),
            (
                vec![
                    "--influx-url",
                    "http://h:1",
                    "--influx-db",
                    "x",
                    "--influx-org",
                    "o",
                ],
                "pick one API",
            ),
            (
                vec![
                    "--influx-url",
                    "http://h:1",
                    "--influx-db",
                    "x",
                    "--influx-precision",
                    "m",
                ],
                "--influx-precision",
            ),
        ] {
            let error = Config::merge(cli(&args), FileConfig::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{args:?}: {error}");
        }
    }

    #[test]
    fn elasticsearch_auth_choices_and_mistakes() {
        let config = Config::merge(
            cli(&["--es-url", "http://127.0.0.1:9200", "--es-api-key", "abc=="]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(matches!(
            config.elasticsearch.unwrap().auth,
            EsAuth::ApiKey(_)
        ));
        let config = Config::merge(
            cli(&[
                "--es-url",
                "https://search-x.eu-west-1.es.amazonaws.com",
                "--es-aws-region",
                " eu-west-1 ",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        assert!(
            config.elasticsearch.unwrap().auth
                == EsAuth::AwsSigV4 {
                    region: "eu-west-1".into()
                }
        );
        for (args, needle) in [
            (vec!["--es-api-key", "k"], "--es-api-key needs --es-url"),
            (
                vec!["--es-aws-region", "eu-west-1"],
                "--es-aws-region needs --es-url",
            ),
            (
                vec!["--es-url", "https://h", "--es-aws-region", "EU West"],
                "must be an AWS region such as eu-west-1",
            ),
            (
                vec![
                    "--es-url",
                    "https://h",
                    "--es-aws-region",
                    "eu-west-1",
                    "--es-api-key",
                    "k",
                ],
                "cannot be combined with --es-api-key",
            ),
            (vec!["--es-url", "h:9200"], "http:// or https://"),
            (
                vec!["--es-url", "http://h:1", "--es-username", "u"],
                "--es-username needs --es-password",
            ),
            (
                vec![
                    "--es-url",
                    "http://h:1",
                    "--es-api-key",
                    "k",
                    "--es-username",
                    "u",
                    "--es-password",
                    "p",
                ],
                "pick one",
            ),
            (
                vec![
                    "--es-url",
                    "http://h:1",
                    "--es-ca-cert",
                    "/nonexistent/ca.pem",
                ],
                "--es-ca-cert",
            ),
        ] {
            let error = Config::merge(cli(&args), FileConfig::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{args:?}: {error}");
        }
    }

    #[test]
    fn notify_webhook_defaults_kinds_headers_and_file_keys() {
        let config = Config::merge(
            cli(&[
                "--notify-webhook",
                "https://hooks.example.com/services/T0/B0/tok",
                "--request-timeout",
                "2s",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        let notify = config.notify.unwrap();
        assert_eq!(notify.url.path(), "/services/T0/B0/tok");
        assert_eq!(notify.timeout, Duration::from_secs(2));
        assert!(notify.wants("lag_threshold_crossed") && notify.wants("kafka_down"));
        assert!(notify.wants("group_status_changed") && notify.wants("broker_up"));
        assert!(!notify.wants("topic_created") && !notify.wants("leader_changed"));
        assert!(notify.headers.is_empty());

        let config = Config::merge(
            cli(&[
                "--notify-webhook",
                "http://127.0.0.1:9000/hook",
                "--notify-kinds",
                "kafka_down, topic_created",
                "--notify-header",
                "Authorization: Bearer s3cret",
                "--notify-header",
                "X-Team:kafka",
            ]),
            FileConfig::default(),
        )
        .unwrap();
        let notify = config.notify.unwrap();
        assert_eq!(
            notify.kinds.iter().collect::<Vec<_>>(),
            ["kafka_down", "topic_created"]
        );
        assert_eq!(
            notify.headers,
            [
                ("Authorization".to_string(), "Bearer s3cret".to_string()),
                ("X-Team".to_string(), "kafka".to_string())
            ]
        );
        assert!(!format!("{notify:?}").contains("s3cret"));

        let file: FileConfig = toml::from_str(
            "notify_webhook = \"https://h.example/x\"\nnotify_kinds = [\"lag_recovered\"]\nnotify_header = \"X-Key: k1\"\n",
        )
        .unwrap();
        let notify = Config::merge(cli(&[]), file).unwrap().notify.unwrap();
        assert_eq!(notify.kinds.iter().collect::<Vec<_>>(), ["lag_recovered"]);
        assert_eq!(notify.headers[0].1, "k1");
        // A flag replaces the file's headers rather than adding to them.
        let file: FileConfig = toml::from_str(
            "notify_webhook = \"https://h.example/x\"\nnotify_header = [\"X-Key: k1\"]\n",
        )
        .unwrap();
        let notify = Config::merge(cli(&["--notify-header", "X-Other: 2"]), file)
            .unwrap()
            .notify
            .unwrap();
        assert_eq!(notify.headers.len(), 1);
        assert_eq!(notify.headers[0].0, "X-Other");
    }

    #[test]
    fn help_lists_the_notify_options_with_their_environment_variables() {
        use clap::CommandFactory;
        Flags::command().debug_assert();
        let help = Flags::command().render_long_help().to_string();
        for needle in [
            "Notifications:",
            "--notify-webhook <URL>",
            "KAFKA_PULSE_NOTIFY_WEBHOOK",
            "--notify-kinds <KIND,...>",
            "--notify-header <NAME: VALUE>",
            "KAFKA_PULSE_NOTIFY_HEADER",
        ] {
            assert!(help.contains(needle), "{needle} missing from --help");
        }
    }

    #[test]
    fn notify_mistakes_name_the_option_and_hide_secrets() {
        for (args, needle) in [
            (
                vec!["--notify-kinds", "kafka_down"],
                "--notify-kinds needs --notify-webhook",
            ),
            (
                vec!["--notify-header", "X: y"],
                "--notify-header needs --notify-webhook",
            ),
            (
                vec!["--notify-webhook", "ftp://h.example/secret-path"],
                "--notify-webhook must be an http:// or https:// URL",
            ),
            (
                vec!["--notify-webhook", "hooks.example.com/secret-path"],
                "is not a URL",
            ),
            (
                vec![
                    "--notify-webhook",
                    "http://h/x",
                    "--notify-kinds",
                    "lag_crosed",
                ],
                "unknown event kind 'lag_crosed'",
            ),
            (
                vec!["--notify-webhook", "http://h/x", "--notify-kinds", ","],
                "--notify-kinds is empty",
            ),
            (
                vec![
                    "--notify-webhook",
                    "http://h/x",
                    "--notify-header",
                    "Bearer secret-token",
                ],
                "'Name: value'",
            ),
            (
                vec![
                    "--notify-webhook",
                    "http://h/x",
                    "--notify-header",
                    "Bad Name: secret-token",
                ],
                "--notify-header: the part before ':'",
            ),
        ] {
            let error = Config::merge(cli(&args), FileConfig::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(needle), "{args:?}: {error}");
            assert!(!error.contains("secret"), "{args:?}: {error}");
        }
        let error = toml::from_str::<FileConfig>("notify_webhok = \"http://h/x\"").unwrap_err();
        assert!(error.to_string().contains("notify_webhok"), "{error}");
    }

    #[test]
    fn broker_list_may_be_an_array() {
        let file: FileConfig = toml::from_str("brokers = [\"k1:9092\", \"k2:9092\"]").unwrap();
        let config = Config::merge(cli(&[]), file).unwrap();
        assert_eq!(config.brokers.unwrap().len(), 2);
    }
}

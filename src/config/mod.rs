//! Configuration from flags, KAFKA_PULSE_* environment variables and an
//! optional TOML file, in that order of precedence, validated into `Config`
//! with messages that name the option and the fix.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use crate::analysis::events::LagThresholds;
use crate::filter::{FilterError, Filters, NameFilter};
use crate::sinks::elasticsearch::config::{
    EsAuth, EsConfig, DEFAULT_METRICS_INTERVAL, DEFAULT_QUEUE_DOCS,
};
use crate::sinks::influxdb::config::{InfluxApi, InfluxConfig, DEFAULT_QUEUE_LINES};
use crate::sinks::influxdb::encoder::Precision;
use crate::sinks::webhook::config::WebhookConfig;
use url::Url;

pub mod cluster;
pub use cluster::{replay_clusters, ClusterConfig, DEFAULT_CLUSTER_NAME};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The embedded broker's address; the replay commands default to it.
pub const DEFAULT_KAFKA_LISTEN: &str = crate::replay::cli::DEFAULT_BROKERS;
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// More exact-lag fetches per sample than this would turn the option into a
/// second consumer of the whole cluster.
pub const MAX_EXACT_LAG_FETCHES: usize = 10_000;

#[derive(Debug, Parser)]
#[command(
    name = "kafka-pulse",
    version,
    about = "See your Kafka queues: live dashboard, lag in messages and seconds, Prometheus metrics.",
    long_about = "See your Kafka queues: live dashboard, lag in messages and seconds, Prometheus metrics.\n\n\
        Without --brokers it starts an embedded Kafka-compatible broker (tansu) with demo traffic, \
        so the dashboard at http://127.0.0.1:8080 shows something at once.\n\n\
        Every option can also be set by its KAFKA_PULSE_* environment variable or as a key \
        (the option name with underscores) in the TOML file given by --config. \
        Flags win over environment variables, which win over the file.\n\n\
        `kafka-pulse replay|export|import --help` describes the replay and capture commands.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Replay or capture topic data instead of running the dashboard.
    #[command(subcommand)]
    pub command: Option<crate::replay::cli::Command>,

    /// Kafka bootstrap servers to watch (HOST:PORT,...). Without it kafka-pulse
    /// runs its own embedded broker.
    #[arg(long, env = "KAFKA_PULSE_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,

    /// Address of the web dashboard, JSON API and /metrics [default: 127.0.0.1:8080]
    #[arg(long, env = "KAFKA_PULSE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// Address the embedded broker listens on [default: 127.0.0.1:9092]
    #[arg(long, env = "KAFKA_PULSE_KAFKA_LISTEN", value_name = "ADDR")]
    pub kafka_listen: Option<String>,

    /// Keep the embedded broker's data here across restarts [default: a temporary
    /// directory removed at exit]
    #[arg(long, env = "KAFKA_PULSE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Time between samples, e.g. 1s, 500ms (at least 100ms) [default: 1s]
    #[arg(long, env = "KAFKA_PULSE_INTERVAL", value_name = "DURATION")]
    pub interval: Option<String>,

    /// Start no demo traffic on the embedded broker
    #[arg(
        long,
        env = "KAFKA_PULSE_NO_DEMO",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub no_demo: Option<bool>,

    /// Produce the demo traffic (topics orders, payments, page-views and their
    /// consumer groups) into the --brokers cluster too; for test clusters only
    #[arg(
        long,
        env = "KAFKA_PULSE_DEMO",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub demo: Option<bool>,

    /// Allow writes from the web: starting and cancelling replays through the
    /// API and the Replays page (they write into topics). Off by default; on a
    /// --listen address other than loopback it needs --auth-token-file
    #[arg(
        long,
        env = "KAFKA_PULSE_ENABLE_WRITES",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub enable_writes: Option<bool>,

    /// Host names kafka-pulse is reached by besides IP addresses and
    /// localhost, comma-separated (e.g. pulse.example.com); other Host
    /// headers get 421 (DNS rebinding protection; /metrics and
    /// /api/v1/health answer any). `*` allows every name
    #[arg(long, env = "KAFKA_PULSE_ALLOWED_HOSTS", value_name = "HOST,...")]
    pub allowed_hosts: Option<String>,

    /// The URL users reach kafka-pulse by, e.g. https://pulse.example.com
    /// behind a reverse proxy: its host is answered (see --allowed-hosts) and
    /// the pages' writes from that origin are accepted
    #[arg(long, env = "KAFKA_PULSE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// File of credentials, one NAME:SECRET a line (secrets of at least 16
    /// characters): writes from the web need one of them, sent as
    /// `Authorization: Bearer SECRET` or as Basic NAME and SECRET; the name is
    /// recorded with each write
    #[arg(long, env = "KAFKA_PULSE_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// Pages and API need credentials of --auth-token-file too, not only
    /// writes (/api/v1/health and /static stay open)
    #[arg(
        long,
        env = "KAFKA_PULSE_AUTH_READ",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub auth_read: Option<bool>,

    /// With --auth-read, /metrics still answers without credentials, for
    /// scrapers that cannot send any
    #[arg(
        long,
        env = "KAFKA_PULSE_PUBLIC_METRICS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub public_metrics: Option<bool>,

    /// Timeout of each Kafka request [default: 5s]
    #[arg(long, env = "KAFKA_PULSE_REQUEST_TIMEOUT", value_name = "DURATION")]
    pub request_timeout: Option<String>,

    /// Samples in the sliding window that decides a group's status [default: 10]
    #[arg(long, env = "KAFKA_PULSE_STATUS_WINDOW", value_name = "SAMPLES")]
    pub status_window: Option<usize>,

    /// Read the real timestamp of the message at the committed offset for up
    /// to N lagging partitions per sample (cached per offset), so lag_seconds
    /// is exact there instead of interpolated; 0 turns it off [default: 0]
    #[arg(long, env = "KAFKA_PULSE_EXACT_LAG_FETCHES", value_name = "N")]
    pub exact_lag_fetches: Option<usize>,

    /// Leave out groups that have no members and whose commits have not moved
    /// for this long, e.g. 7d (like Burrow's expire-group) [default: keep all]
    #[arg(long, env = "KAFKA_PULSE_FORGET_GROUPS_AFTER", value_name = "DURATION")]
    pub forget_groups_after: Option<String>,

    /// Raise an event when a group's lag goes above this many messages
    #[arg(
        long,
        env = "KAFKA_PULSE_LAG_THRESHOLD_MESSAGES",
        value_name = "MESSAGES"
    )]
    pub lag_threshold_messages: Option<i64>,

    /// Raise an event when a group falls further behind than this, e.g. 5m
    #[arg(
        long,
        env = "KAFKA_PULSE_LAG_THRESHOLD_SECONDS",
        value_name = "DURATION"
    )]
    pub lag_threshold_seconds: Option<String>,

    /// Only watch topics whose whole name matches this regular expression
    #[arg(long, env = "KAFKA_PULSE_INCLUDE_TOPICS", value_name = "REGEX")]
    pub include_topics: Option<String>,

    /// Do not watch topics whose whole name matches this regular expression
    #[arg(long, env = "KAFKA_PULSE_EXCLUDE_TOPICS", value_name = "REGEX")]
    pub exclude_topics: Option<String>,

    /// Only watch consumer groups whose whole name matches this regular expression
    #[arg(long, env = "KAFKA_PULSE_INCLUDE_GROUPS", value_name = "REGEX")]
    pub include_groups: Option<String>,

    /// Do not watch consumer groups whose whole name matches this regular expression
    #[arg(long, env = "KAFKA_PULSE_EXCLUDE_GROUPS", value_name = "REGEX")]
    pub exclude_groups: Option<String>,

    /// Export per-partition series on /metrics (turn off on big clusters) [default: true]
    #[arg(
        long,
        env = "KAFKA_PULSE_PARTITION_METRICS",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub partition_metrics: Option<bool>,

    /// Export kafka_pulse_group_status as one-hot series, 9 per group (turn off
    /// on big clusters; kafka_pulse_group_status_code stays) [default: true]
    #[arg(
        long,
        env = "KAFKA_PULSE_GROUP_STATUS_ONE_HOT",
        value_parser = clap::builder::BoolishValueParser::new(),
        value_name = "BOOL"
    )]
    pub group_status_one_hot: Option<bool>,

    /// Also export series under another exporter's names so existing dashboards
    /// work unchanged; supported: kafka_exporter
    #[arg(long, env = "KAFKA_PULSE_METRICS_COMPAT", value_name = "EXPORTER")]
    pub metrics_compat: Option<String>,

    /// Name of the one watched cluster: the `cluster` label, tag and field of
    /// every output [default: the cluster id Kafka reports]
    #[arg(long, env = "KAFKA_PULSE_CLUSTER_NAME", value_name = "NAME")]
    pub cluster_name: Option<String>,

    /// Watch several clusters: NAME=HOST:PORT,... once per cluster (in
    /// KAFKA_PULSE_CLUSTERS separated by ';'); each inherits the other
    /// options. The config file's [[cluster]] entries can set more per cluster
    #[arg(
        long = "cluster",
        env = "KAFKA_PULSE_CLUSTERS",
        value_delimiter = ';',
        value_name = "NAME=HOST:PORT,..."
    )]
    pub clusters: Vec<String>,

    /// Ship every sample to InfluxDB at this URL (with --influx-org/-bucket/-token
    /// for InfluxDB 2, or --influx-db for InfluxDB 1.x and VictoriaMetrics)
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_URL",
        value_name = "URL",
        help_heading = "InfluxDB sink"
    )]
    pub influx_url: Option<String>,

    /// InfluxDB 2 organization
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_ORG",
        value_name = "ORG",
        help_heading = "InfluxDB sink"
    )]
    pub influx_org: Option<String>,

    /// InfluxDB 2 bucket
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_BUCKET",
        value_name = "BUCKET",
        help_heading = "InfluxDB sink"
    )]
    pub influx_bucket: Option<String>,

    /// InfluxDB 2 API token (never logged)
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        help_heading = "InfluxDB sink"
    )]
    pub influx_token: Option<String>,

    /// InfluxDB 1.x database
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_DB",
        value_name = "DATABASE",
        help_heading = "InfluxDB sink"
    )]
    pub influx_db: Option<String>,

    /// InfluxDB 1.x retention policy [default: the database's default]
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_RP",
        value_name = "POLICY",
        help_heading = "InfluxDB sink"
    )]
    pub influx_rp: Option<String>,

    /// InfluxDB 1.x user
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_USERNAME",
        value_name = "USER",
        help_heading = "InfluxDB sink"
    )]
    pub influx_username: Option<String>,

    /// InfluxDB 1.x password (never logged)
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = "InfluxDB sink"
    )]
    pub influx_password: Option<String>,

    /// Timestamp precision: ns, us, ms or s [default: ms]
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_PRECISION",
        value_name = "PRECISION",
        help_heading = "InfluxDB sink"
    )]
    pub influx_precision: Option<String>,

    /// Compress write requests with gzip [default: true]
    #[arg(long, env = "KAFKA_PULSE_INFLUX_GZIP", value_parser = clap::builder::BoolishValueParser::new(), value_name = "BOOL", help_heading = "InfluxDB sink")]
    pub influx_gzip: Option<bool>,

    /// Points kept while InfluxDB is unreachable; the oldest are dropped (and
    /// counted) beyond this [default: 500000]
    #[arg(
        long,
        env = "KAFKA_PULSE_INFLUX_QUEUE_POINTS",
        value_name = "POINTS",
        help_heading = "InfluxDB sink"
    )]
    pub influx_queue_points: Option<usize>,

    /// Ship events and periodic metric documents to Elasticsearch at this URL
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_URL",
        value_name = "URL",
        help_heading = "Elasticsearch sink"
    )]
    pub es_url: Option<String>,

    /// Elasticsearch API key: base64 as Kibana shows it, or ID:KEY (never logged)
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_API_KEY",
        value_name = "KEY",
        hide_env_values = true,
        help_heading = "Elasticsearch sink"
    )]
    pub es_api_key: Option<String>,

    /// Elasticsearch user for basic authentication
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_USERNAME",
        value_name = "USER",
        help_heading = "Elasticsearch sink"
    )]
    pub es_username: Option<String>,

    /// Elasticsearch password (never logged)
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true,
        help_heading = "Elasticsearch sink"
    )]
    pub es_password: Option<String>,

    /// PEM file of the CA that signed Elasticsearch's certificate
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_CA_CERT",
        value_name = "FILE",
        help_heading = "Elasticsearch sink"
    )]
    pub es_ca_cert: Option<PathBuf>,

    /// Period of the metric documents (one per topic and group) [default: 10s]
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_METRICS_INTERVAL",
        value_name = "DURATION",
        help_heading = "Elasticsearch sink"
    )]
    pub es_metrics_interval: Option<String>,

    /// Documents kept while Elasticsearch is unreachable; the oldest are
    /// dropped (and counted) beyond this [default: 100000]
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_QUEUE_DOCS",
        value_name = "DOCS",
        help_heading = "Elasticsearch sink"
    )]
    pub es_queue_docs: Option<usize>,

    /// POST a JSON document for each status change, lag threshold crossing and
    /// Kafka/broker up or down to this http(s) URL (Slack/Mattermost
    /// incoming webhooks show its `text`); the URL is never logged
    #[arg(
        long,
        env = "KAFKA_PULSE_NOTIFY_WEBHOOK",
        value_name = "URL",
        hide_env_values = true,
        help_heading = "Notifications"
    )]
    pub notify_webhook: Option<String>,

    /// Event kinds to post, comma-separated [default: group_status_changed,
    /// lag_threshold_crossed, lag_recovered, lag_seconds_threshold_crossed,
    /// lag_seconds_recovered, kafka_down, kafka_up, broker_down, broker_up]
    #[arg(
        long,
        env = "KAFKA_PULSE_NOTIFY_KINDS",
        value_name = "KIND,...",
        help_heading = "Notifications"
    )]
    pub notify_kinds: Option<String>,

    /// Extra header on every POST, e.g. "Authorization: Bearer TOKEN";
    /// repeatable (the environment variable holds one); never logged
    #[arg(
        long,
        env = "KAFKA_PULSE_NOTIFY_HEADER",
        value_name = "NAME: VALUE",
        hide_env_values = true,
        help_heading = "Notifications"
    )]
    pub notify_header: Vec<String>,

    /// Kafka client security by Kafka's own property names (src/security/).
    #[command(flatten)]
    pub kafka: crate::security::KafkaPropertyArgs,

    /// TOML file with any of the options above (keys with underscores), plus
    /// per-group thresholds in tables like [group_thresholds.billing] with
    /// keys messages and seconds
    #[arg(long, env = "KAFKA_PULSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The TOML file; unknown keys are an error so typos don't pass silently.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub brokers: Option<BrokerList>,
    pub listen: Option<String>,
    pub kafka_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub interval: Option<String>,
    pub no_demo: Option<bool>,
    pub demo: Option<bool>,
    pub enable_writes: Option<bool>,
    pub allowed_hosts: Option<BrokerList>,
    pub public_url: Option<String>,
    pub auth_token_file: Option<PathBuf>,
    pub auth_read: Option<bool>,
    pub public_metrics: Option<bool>,
    pub request_timeout: Option<String>,
    pub status_window: Option<usize>,
    pub exact_lag_fetches: Option<usize>,
    pub forget_groups_after: Option<String>,
    pub lag_threshold_messages: Option<i64>,
    pub lag_threshold_seconds: Option<String>,
    pub include_topics: Option<String>,
    pub exclude_topics: Option<String>,
    pub include_groups: Option<String>,
    pub exclude_groups: Option<String>,
    pub partition_metrics: Option<bool>,
    pub group_status_one_hot: Option<bool>,
    pub metrics_compat: Option<String>,
    pub cluster_name: Option<String>,
    pub influx_url: Option<String>,
    pub influx_org: Option<String>,
    pub influx_bucket: Option<String>,
    pub influx_token: Option<String>,
    pub influx_db: Option<String>,
    pub influx_rp: Option<String>,
    pub influx_username: Option<String>,
    pub influx_password: Option<String>,
    pub influx_precision: Option<String>,
    pub influx_gzip: Option<bool>,
    pub influx_queue_points: Option<usize>,
    pub es_url: Option<String>,
    pub es_api_key: Option<String>,
    pub es_username: Option<String>,
    pub es_password: Option<String>,
    pub es_ca_cert: Option<PathBuf>,
    pub es_metrics_interval: Option<String>,
    pub es_queue_docs: Option<usize>,
    pub notify_webhook: Option<String>,
    /// A comma-separated string or an array of kinds.
    pub notify_kinds: Option<BrokerList>,
    /// One header or an array of them.
    pub notify_header: Option<BrokerList>,
    #[serde(default)]
    pub group_thresholds: BTreeMap<String, GroupThreshold>,
    /// `[kafka]`: Kafka client properties by their Kafka names.
    pub kafka: Option<BTreeMap<String, toml::Value>>,
    /// A Java client.properties file (`--kafka-properties`).
    pub kafka_properties: Option<PathBuf>,
    /// `[[cluster]]`: several clusters (src/config/cluster.rs).
    #[serde(default, rename = "cluster")]
    pub clusters: Vec<cluster::ClusterEntry>,
}

/// `[group_thresholds."billing"]` in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupThreshold {
    pub messages: Option<i64>,
    pub seconds: Option<String>,
}

/// `brokers = "a:9092,b:9092"` or `brokers = ["a:9092", "b:9092"]`; also
/// the shape of other list keys (`notify_kinds`, `notify_header`).
#[derive(Debug, Deserialize)]
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
    pub fn load(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Config::merge(cli, file)
    }

    pub fn merge(cli: Cli, file: FileConfig) -> Result<Config, ConfigError> {
        let defaults = Config::default();
        let brokers = match cli.brokers {
            Some(text) => Some(split_brokers(&text)),
            None => match file.brokers {
                Some(BrokerList::Text(text)) => Some(split_brokers(&text)),
                Some(BrokerList::List(list)) => Some(
                    list.iter()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                None => None,
            },
        };
        if let Some(list) = &brokers {
            if list.is_empty() {
                return Err(ConfigError::NoBrokers);
            }
            for broker in list {
                check_host_port("--brokers", "kafka-1:9092", broker)?;
            }
        }
        let listen = match cli.listen.or(file.listen) {
            Some(value) => parse_address("--listen", DEFAULT_LISTEN, &value)?,
            None => defaults.listen,
        };
        let kafka_listen = match cli.kafka_listen.or(file.kafka_listen) {
            Some(value) => parse_address("--kafka-listen", DEFAULT_KAFKA_LISTEN, &value)?,
            None => defaults.kafka_listen,
        };
        let interval = match cli.interval.or(file.interval) {
            Some(value) => parse_duration("--interval", &value)?,
            None => defaults.interval,
        };
        if interval < MIN_INTERVAL {
            return Err(ConfigError::IntervalTooShort(
                humantime::format_duration(interval).to_string(),
            ));
        }
        let request_timeout = match cli.request_timeout.or(file.request_timeout) {
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
        let status_window = cli
            .status_window
            .or(file.status_window)
            .unwrap_or(defaults.status_window);
        if !(2..=1000).contains(&status_window) {
            return Err(ConfigError::BadStatusWindow(status_window));
        }
        let exact_lag_fetches = cli
            .exact_lag_fetches
            .or(file.exact_lag_fetches)
            .unwrap_or(defaults.exact_lag_fetches);
        if exact_lag_fetches > MAX_EXACT_LAG_FETCHES {
            return Err(ConfigError::BadExactLagFetches(exact_lag_fetches));
        }
        let forget_groups_after = cli
            .forget_groups_after
            .or(file.forget_groups_after)
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
        let data_dir = cli.data_dir.or(file.data_dir);
        if let Some(dir) = &data_dir {
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError::BadDataDir {
                    path: dir.display().to_string(),
                    reason: "it exists and is not a directory".to_string(),
                });
            }
        }
        let lag_threshold_messages = cli.lag_threshold_messages.or(file.lag_threshold_messages);
        let lag_threshold_seconds = cli.lag_threshold_seconds.or(file.lag_threshold_seconds);
        let lag_thresholds = thresholds(
            lag_threshold_messages,
            lag_threshold_seconds.clone(),
            file.group_thresholds.clone(),
        )?;
        let include_topics = cli.include_topics.or(file.include_topics);
        let exclude_topics = cli.exclude_topics.or(file.exclude_topics);
        let include_groups = cli.include_groups.or(file.include_groups);
        let exclude_groups = cli.exclude_groups.or(file.exclude_groups);
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
        let kafka_exporter_compat = match cli.metrics_compat.or(file.metrics_compat) {
            None => false,
            Some(name) if name == "kafka_exporter" => true,
            Some(other) => return Err(ConfigError::BadMetricsCompat(other)),
        };
        let metrics = MetricsOptions {
            per_partition: cli
                .partition_metrics
                .or(file.partition_metrics)
                .unwrap_or(true),
            group_status_one_hot: cli
                .group_status_one_hot
                .or(file.group_status_one_hot)
                .unwrap_or(true),
            kafka_exporter_compat,
        };
        let influx = influx_config(
            InfluxOptions {
                url: cli.influx_url.or(file.influx_url),
                org: cli.influx_org.or(file.influx_org),
                bucket: cli.influx_bucket.or(file.influx_bucket),
                token: cli.influx_token.or(file.influx_token),
                db: cli.influx_db.or(file.influx_db),
                rp: cli.influx_rp.or(file.influx_rp),
                username: cli.influx_username.or(file.influx_username),
                password: cli.influx_password.or(file.influx_password),
                precision: cli.influx_precision.or(file.influx_precision),
                gzip: cli.influx_gzip.or(file.influx_gzip),
                queue_points: cli.influx_queue_points.or(file.influx_queue_points),
            },
            metrics.per_partition,
        )?;
        let es = es_config(
            cli.es_url.or(file.es_url),
            cli.es_api_key.or(file.es_api_key),
            cli.es_username.or(file.es_username),
            cli.es_password.or(file.es_password),
            cli.es_ca_cert.or(file.es_ca_cert),
            cli.es_metrics_interval.or(file.es_metrics_interval),
            cli.es_queue_docs.or(file.es_queue_docs),
        )?;
        let notify = notify_config(
            cli.notify_webhook.or(file.notify_webhook),
            cli.notify_kinds.map(BrokerList::Text).or(file.notify_kinds),
            // Headers from flags/environment replace the file's, like any option.
            if cli.notify_header.is_empty() {
                file.notify_header
            } else {
                Some(BrokerList::List(cli.notify_header))
            },
            request_timeout,
        )?;
        let cluster_name = cli
            .cluster_name
            .or(file.cluster_name)
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if let Some(name) = &cluster_name {
            cluster::check_name(name).map_err(ConfigError::Cluster)?;
        }
        // `--cluster` flags (or KAFKA_PULSE_CLUSTERS) replace the file's
        // [[cluster]] entries, as flags replace any option of the file.
        let cluster_entries = if cli.clusters.is_empty() {
            file.clusters
        } else {
            cli.clusters
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
        // Flags and environment win over the file as a whole: `--demo` beats
        // `no_demo = true` in the file, but both on the same level is a mistake.
        let demo = demo_choice(
            cli.demo,
            cli.no_demo,
            "--demo and --no-demo are both on (flags or KAFKA_PULSE_DEMO / KAFKA_PULSE_NO_DEMO)",
        )?
        .or(demo_choice(
            file.demo,
            file.no_demo,
            "the config file sets both demo = true and no_demo = true",
        )?)
        // By default only the embedded broker gets demo traffic.
        .unwrap_or(brokers.is_none());
        let auth = cli
            .auth_token_file
            .or(file.auth_token_file)
            .map(|path| crate::web::auth::Credentials::load(&path).map(std::sync::Arc::new))
            .transpose()
            .map_err(ConfigError::AuthFile)?;
        let auth_read = cli.auth_read.or(file.auth_read).unwrap_or(false);
        if auth_read && auth.is_none() {
            return Err(ConfigError::AuthReadWithoutFile);
        }
        let public_metrics = cli.public_metrics.or(file.public_metrics).unwrap_or(false);
        let enable_writes = cli.enable_writes.or(file.enable_writes).unwrap_or(false);
        if enable_writes && !listen.ip().is_loopback() && auth.is_none() {
            return Err(ConfigError::WritesNeedLoopback(listen));
        }
        let public_url = cli
            .public_url
            .or(file.public_url)
            .filter(|u| !u.trim().is_empty())
            .map(|text| match Url::parse(text.trim()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                    Ok(url)
                }
                _ => Err(ConfigError::BadPublicUrl(text)),
            })
            .transpose()?;
        let mut allowed_hosts = match cli
            .allowed_hosts
            .map(BrokerList::Text)
            .or(file.allowed_hosts)
        {
            Some(BrokerList::Text(text)) => split_brokers(&text),
            Some(BrokerList::List(list)) => list.iter().map(|h| h.trim().to_string()).collect(),
            None => Vec::new(),
        };
        if let Some(host) = public_url.as_ref().and_then(|url| url.host_str()) {
            allowed_hosts.push(host.to_string());
        }
        if !cluster_entries.is_empty() && cli.demo.or(file.demo) == Some(true) {
            return Err(ConfigError::Cluster(
                "--demo with several clusters: set demo = true in the [[cluster]] entry that should get demo traffic".into(),
            ));
        }
        let no_demo = cli.no_demo.or(file.no_demo).unwrap_or(false);
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
                group_thresholds: &file.group_thresholds,
                exact_lag_fetches,
                no_demo,
                kafka_args: &cli.kafka,
                kafka_table: file.kafka.as_ref(),
                kafka_properties: file.kafka_properties.as_deref(),
                env: &env,
            },
        )?;
        let kafka_security = match clusters.first() {
            // The top-level security is what the clusters inherited.
            Some(first) if first.brokers.is_some() => first.kafka_security.clone(),
            Some(_) => Default::default(),
            None => std::sync::Arc::new(
                crate::security::Security::for_dashboard(
                    &cli.kafka,
                    crate::security::FileSettings {
                        table: file.kafka.as_ref(),
                        properties_file: file.kafka_properties.as_deref(),
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

fn es_config(
    url: Option<String>,
    api_key: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_cert: Option<PathBuf>,
    metrics_interval: Option<String>,
    queue_docs: Option<usize>,
) -> Result<Option<EsConfig>, ConfigError> {
    let err = |text: String| Err(ConfigError::Elasticsearch(text));
    let Some(url_text) = url else {
        for (name, given) in [
            ("--es-api-key", api_key.is_some()),
            ("--es-username", username.is_some()),
            ("--es-password", password.is_some()),
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
    let auth = match (api_key, username, password) {
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

fn notify_config(
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
struct InfluxOptions {
    url: Option<String>,
    org: Option<String>,
    bucket: Option<String>,
    token: Option<String>,
    db: Option<String>,
    rp: Option<String>,
    username: Option<String>,
    password: Option<String>,
    precision: Option<String>,
    gzip: Option<bool>,
    queue_points: Option<usize>,
}

fn influx_config(
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

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["kafka-pulse"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("flags parse")
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
        assert!(Cli::try_parse_from(["kafka-pulse", "--group-status-one-hot", "maybe"]).is_err());
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
        for (args, needle) in [
            (vec!["--es-api-key", "k"], "--es-api-key needs --es-url"),
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
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
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

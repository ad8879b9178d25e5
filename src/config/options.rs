//! Every option of the dashboard, declared once: its flag, environment
//! variable and help come from the clap attributes, its TOML key is the
//! field's name, and the three sources are layered by [`layer`] without a
//! line per option. Validation is in `mod.rs` and its neighbours.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{cluster, ConfigError, GroupThreshold};

/// The options as given (flags and environment, or the file); unknown keys
/// in the file are an error so typos don't pass silently.
#[derive(Debug, Default, clap::Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// Kafka bootstrap servers to watch (HOST:PORT,...). Without it kafka-pulse
    /// runs its own embedded broker.
    #[arg(long, env = "KAFKA_PULSE_BROKERS", value_name = "HOST:PORT,...")]
    #[serde(default, deserialize_with = "list::joined")]
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
    #[serde(default, deserialize_with = "list::joined")]
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
    #[serde(skip)]
    pub cluster_flags: Vec<String>,

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

    /// Sign requests with AWS SigV4 for Amazon OpenSearch Service in this
    /// region (e.g. eu-west-1), with AWS's standard credentials
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN; the
    /// msk-iam build adds profiles and instance/task/IRSA roles)
    #[arg(
        long,
        env = "KAFKA_PULSE_ES_AWS_REGION",
        value_name = "REGION",
        help_heading = "Elasticsearch sink"
    )]
    pub es_aws_region: Option<String>,

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
    #[serde(default, deserialize_with = "list::joined")]
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
    #[serde(
        default,
        deserialize_with = "list::many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub notify_header: Vec<String>,

    /// Kafka client security by Kafka's own property names (src/security/);
    /// the flags are shared with the replay commands, the file's forms are
    /// the `kafka` table and `kafka_properties` below.
    #[command(flatten)]
    #[serde(skip)]
    pub kafka_args: crate::security::KafkaPropertyArgs,

    /// TOML file with any of the options above (keys with underscores), plus
    /// per-group thresholds in tables like [group_thresholds.billing] with
    /// keys messages and seconds
    #[arg(long, env = "KAFKA_PULSE_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    // The file's own forms: tables and entries a flag cannot carry.
    /// `[group_thresholds."NAME"]`: per-group lag thresholds.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_thresholds: BTreeMap<String, GroupThreshold>,
    /// `[kafka]`: Kafka client properties by their Kafka names.
    #[arg(skip)]
    pub kafka: Option<BTreeMap<String, toml::Value>>,
    /// `kafka_properties = "FILE"`: the file form of `--kafka-properties`.
    #[arg(skip)]
    pub kafka_properties: Option<PathBuf>,
    /// `[[cluster]]`: several clusters (src/config/cluster.rs).
    #[arg(skip)]
    #[serde(default, rename = "cluster", skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<cluster::ClusterEntry>,
}

/// `options` (flags and environment) over `file`: a key set by flags wins
/// as a whole. `demo` and `no_demo` count as one choice, so `--demo` beats
/// `no_demo = true` in the file instead of contradicting it.
pub fn layer(options: Options, file: Options) -> Result<Options, ConfigError> {
    let internal =
        |e: &dyn std::fmt::Display| ConfigError::Cluster(format!("cannot layer the options: {e}"));
    let mut table = toml::Table::try_from(&file).map_err(|e| internal(&e))?;
    let over = toml::Table::try_from(&options).map_err(|e| internal(&e))?;
    if over.contains_key("demo") || over.contains_key("no_demo") {
        table.remove("demo");
        table.remove("no_demo");
    }
    table.extend(over);
    let mut merged: Options = table.try_into().map_err(|e| internal(&e))?;
    // What only flags and environment carry.
    merged.kafka_args = options.kafka_args;
    merged.config = options.config;
    merged.cluster_flags = options.cluster_flags;
    Ok(merged)
}

/// The file writes lists as a comma-separated string or an array.
mod list {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    /// A list as the comma-separated text its flag takes.
    pub fn joined<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(
            Option::<OneOrMany>::deserialize(d)?.map(|value| match value {
                OneOrMany::One(text) => text,
                OneOrMany::Many(items) => items.join(","),
            }),
        )
    }

    /// A list whose flag is repeated (one item per flag).
    pub fn many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(items) => items,
        })
    }
}

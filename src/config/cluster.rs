//! Several Kafka clusters in one kafka-pulse: `[[cluster]]` entries in the
//! TOML file, or `--cluster NAME=HOST:PORT,...` for the simple case. Each
//! cluster gets its own brokers, Kafka properties, filters, lag thresholds,
//! interval and demo choice, and inherits from the top level what its entry
//! leaves out (README "Several clusters").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    check_host_port, parse_duration, split_brokers, thresholds, BrokerList, ConfigError,
    GroupThreshold, MIN_INTERVAL,
};
use crate::analysis::events::LagThresholds;
use crate::filter::{Filters, NameFilter};
use crate::security::{FileSettings, KafkaPropertyArgs, Security};

pub use crate::model::DEFAULT_CLUSTER_NAME;
/// Longer names make unreadable labels and URLs.
pub const MAX_NAME_LENGTH: usize = 64;

/// One `[[cluster]]` entry as written; unknown keys are an error.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEntry {
    pub name: Option<String>,
    pub brokers: Option<BrokerList>,
    /// The embedded broker (at most one cluster).
    pub embedded: Option<bool>,
    pub demo: Option<bool>,
    pub interval: Option<String>,
    pub include_topics: Option<String>,
    pub exclude_topics: Option<String>,
    pub include_groups: Option<String>,
    pub exclude_groups: Option<String>,
    pub lag_threshold_messages: Option<i64>,
    pub lag_threshold_seconds: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_thresholds: BTreeMap<String, GroupThreshold>,
    pub exact_lag_fetches: Option<usize>,
    /// Kafka properties of this cluster, over the top-level `[kafka]`.
    pub kafka: Option<BTreeMap<String, toml::Value>>,
    pub kafka_properties: Option<PathBuf>,
}

/// One watched cluster, validated.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `None`: the one cluster of `--brokers` (or the embedded broker)
    /// without `--cluster-name`; it is labelled with Kafka's cluster id.
    pub name: Option<String>,
    /// `None`: the embedded broker.
    pub brokers: Option<Vec<String>>,
    pub interval: Duration,
    pub demo: bool,
    pub filters: Filters,
    pub lag_thresholds: LagThresholds,
    pub exact_lag_fetches: usize,
    pub kafka_security: Arc<Security>,
}

impl ClusterConfig {
    /// The cluster's name in URLs (`/clusters/NAME`).
    pub fn url_name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_CLUSTER_NAME)
    }
}

/// Checks a cluster name: it appears in URLs, Prometheus labels and
/// InfluxDB tags, so it is kept to letters, digits, `.`, `_` and `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let fix = "use letters, digits, '.', '_' and '-' only, starting with a letter or digit, such as prod-eu";
    if name.is_empty() {
        return Err(format!("a cluster name is empty; {fix}"));
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(format!(
            "cluster name '{}…' is longer than {MAX_NAME_LENGTH} characters",
            name.chars().take(20).collect::<String>()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!("cluster name {name:?} is not URL-safe; {fix}"));
    }
    Ok(())
}

/// `--cluster NAME=HOST:PORT,...` (or `KAFKA_PULSE_CLUSTERS`, entries
/// separated by `;`) as an entry that inherits everything else.
pub fn entry_from_flag(text: &str) -> Result<ClusterEntry, ConfigError> {
    let Some((name, brokers)) = text.split_once('=') else {
        return Err(ConfigError::Cluster(format!(
            "--cluster must be NAME=HOST:PORT,... such as prod=kafka-1:9092,kafka-2:9092, got '{text}'"
        )));
    };
    Ok(ClusterEntry {
        name: Some(name.trim().to_string()),
        brokers: Some(BrokerList::Text(brokers.to_string())),
        ..ClusterEntry::default()
    })
}

/// What a cluster inherits from the top level (flags, environment and the
/// file's top-level keys, already merged in that order).
pub struct Inherited<'a> {
    pub interval: Duration,
    pub include_topics: Option<&'a str>,
    pub exclude_topics: Option<&'a str>,
    pub include_groups: Option<&'a str>,
    pub exclude_groups: Option<&'a str>,
    pub lag_threshold_messages: Option<i64>,
    pub lag_threshold_seconds: Option<&'a str>,
    pub group_thresholds: &'a BTreeMap<String, GroupThreshold>,
    pub exact_lag_fetches: usize,
    /// `--no-demo`: the embedded cluster's demo traffic off.
    pub no_demo: bool,
    pub kafka_args: &'a KafkaPropertyArgs,
    pub kafka_table: Option<&'a BTreeMap<String, toml::Value>>,
    pub kafka_properties: Option<&'a Path>,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Validates every entry: names present, URL-safe and unique, brokers or
/// `embedded = true` (one embedded cluster at most), and each cluster's own
/// settings; an error names the cluster and the key.
pub fn resolve(
    entries: Vec<ClusterEntry>,
    inherited: &Inherited<'_>,
) -> Result<Vec<ClusterConfig>, ConfigError> {
    let mut clusters: Vec<ClusterConfig> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let name = match entry.name.as_deref().map(str::trim) {
            Some(name) => name.to_string(),
            None => {
                return Err(ConfigError::Cluster(format!(
                    "cluster entry {} has no name: with several clusters each needs name = \"...\" (it appears in URLs and labels)",
                    index + 1
                )))
            }
        };
        check_name(&name).map_err(ConfigError::Cluster)?;
        if clusters.iter().any(|c| c.name.as_deref() == Some(&name)) {
            return Err(ConfigError::Cluster(format!(
                "two clusters are named '{name}': names must be unique"
            )));
        }
        let cluster = resolve_one(&name, entry, inherited).map_err(|error| match error {
            ConfigError::Cluster(text) => ConfigError::Cluster(text),
            other => ConfigError::Cluster(format!("cluster '{name}': {other}")),
        })?;
        if cluster.brokers.is_none() && clusters.iter().any(|c| c.brokers.is_none()) {
            return Err(ConfigError::Cluster(format!(
                "cluster '{name}' is the second with embedded = true: there is one embedded broker; give it brokers = \"HOST:PORT\""
            )));
        }
        clusters.push(cluster);
    }
    Ok(clusters)
}

fn resolve_one(
    name: &str,
    entry: ClusterEntry,
    top: &Inherited<'_>,
) -> Result<ClusterConfig, ConfigError> {
    let brokers = match entry.brokers {
        Some(BrokerList::Text(text)) => Some(split_brokers(&text)),
        Some(BrokerList::List(list)) => Some(
            list.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    let embedded = entry.embedded.unwrap_or(false);
    let brokers = match (brokers, embedded) {
        (Some(_), true) => {
            return Err(ConfigError::Cluster(format!(
                "cluster '{name}' has both brokers and embedded = true: keep one"
            )))
        }
        (None, false) => {
            return Err(ConfigError::Cluster(format!(
            "cluster '{name}' has no brokers: give brokers = \"HOST:PORT,...\" or embedded = true"
        )))
        }
        (Some(list), false) => {
            if list.is_empty() {
                return Err(ConfigError::NoBrokers);
            }
            for broker in &list {
                check_host_port("brokers", "kafka-1:9092", broker)?;
            }
            Some(list)
        }
        (None, true) => None,
    };
    let interval = match entry.interval {
        Some(text) => parse_duration("interval", &text)?,
        None => top.interval,
    };
    if interval < MIN_INTERVAL {
        return Err(ConfigError::IntervalTooShort(
            humantime::format_duration(interval).to_string(),
        ));
    }
    let filters = Filters {
        topics: NameFilter::new(
            entry
                .include_topics
                .as_deref()
                .or(top.include_topics)
                .map(|p| ("include_topics", p)),
            entry
                .exclude_topics
                .as_deref()
                .or(top.exclude_topics)
                .map(|p| ("exclude_topics", p)),
        )?,
        groups: NameFilter::new(
            entry
                .include_groups
                .as_deref()
                .or(top.include_groups)
                .map(|p| ("include_groups", p)),
            entry
                .exclude_groups
                .as_deref()
                .or(top.exclude_groups)
                .map(|p| ("exclude_groups", p)),
        )?,
    };
    // Per-group thresholds: the top level's, then the entry's over them.
    let mut groups = top.group_thresholds.clone();
    groups.extend(entry.group_thresholds);
    let lag_thresholds = thresholds(
        entry.lag_threshold_messages.or(top.lag_threshold_messages),
        entry
            .lag_threshold_seconds
            .or(top.lag_threshold_seconds.map(str::to_string)),
        groups,
    )?;
    let exact_lag_fetches = entry.exact_lag_fetches.unwrap_or(top.exact_lag_fetches);
    if exact_lag_fetches > super::MAX_EXACT_LAG_FETCHES {
        return Err(ConfigError::BadExactLagFetches(exact_lag_fetches));
    }
    let kafka_security = match &brokers {
        Some(list) => {
            // The entry's [cluster.kafka] keys over the top-level [kafka] table.
            let mut table = top.kafka_table.cloned().unwrap_or_default();
            if let Some(own) = entry.kafka {
                table.extend(own);
            }
            Security::for_dashboard(
                top.kafka_args,
                FileSettings {
                    table: (!table.is_empty()).then_some(&table),
                    properties_file: entry.kafka_properties.as_deref().or(top.kafka_properties),
                },
                top.env,
                Some(&list.join(",")),
            )
        }
        // The embedded broker speaks plaintext: the top level's security is
        // for the real clusters, so only the entry's own keys are checked.
        None => Security::for_dashboard(
            &KafkaPropertyArgs::default(),
            FileSettings {
                table: entry.kafka.as_ref(),
                properties_file: entry.kafka_properties.as_deref(),
            },
            &|_| None,
            None,
        ),
    }
    .map_err(ConfigError::KafkaSecurity)?;
    let demo = entry.demo.unwrap_or(brokers.is_none() && !top.no_demo);
    Ok(ClusterConfig {
        name: Some(name.to_string()),
        brokers,
        interval,
        demo,
        filters,
        lag_thresholds,
        exact_lag_fetches,
        kafka_security: Arc::new(kafka_security),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, FileConfig, Options};
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        options: Options,
    }

    fn merge(args: &[&str], toml_text: &str) -> Result<Config, ConfigError> {
        let mut all = vec!["kafka-pulse"];
        all.extend_from_slice(args);
        let cli = Flags::try_parse_from(all).expect("flags parse").options;
        let file: FileConfig = toml::from_str(toml_text).expect("valid TOML");
        Config::merge(cli, file)
    }

    fn error(args: &[&str], toml_text: &str) -> String {
        merge(args, toml_text).unwrap_err().to_string()
    }

    const THREE: &str = r#"
        interval = "2s"
        include_topics = "orders.*"
        lag_threshold_messages = 500
        [kafka]
        "client.id" = "pulse"
        [group_thresholds.billing]
        messages = 10

        [[cluster]]
        name = "prod"
        brokers = ["p1:9092", "p2:9092"]
        interval = "5s"
        [cluster.kafka]
        "security.protocol" = "SASL_SSL"
        "sasl.mechanism" = "SCRAM-SHA-512"
        "sasl.username" = "pulse"
        "sasl.password" = "secret"
        [cluster.group_thresholds.billing]
        seconds = "30s"

        [[cluster]]
        name = "staging"
        brokers = "s1:9092"
        include_topics = ".*"
        lag_threshold_messages = 5000

        [[cluster]]
        name = "local"
        embedded = true
    "#;

    #[test]
    fn clusters_inherit_the_top_level_and_override_it() {
        let config = merge(&[], THREE).unwrap();
        let clusters = config.clusters();
        let names: Vec<_> = clusters.iter().map(|c| c.url_name()).collect();
        assert_eq!(names, ["prod", "staging", "local"]);
        let (prod, staging, local) = (&clusters[0], &clusters[1], &clusters[2]);
        assert_eq!(
            prod.brokers.as_deref(),
            Some(&["p1:9092".to_string(), "p2:9092".to_string()][..])
        );
        assert_eq!(prod.interval, Duration::from_secs(5));
        assert_eq!(staging.interval, Duration::from_secs(2), "inherited");
        // Filters: staging's own include, prod's inherited one.
        assert!(!prod.filters.topics.allows("payments"));
        assert!(prod.filters.topics.allows("orders-eu"));
        assert!(staging.filters.topics.allows("payments"));
        // Thresholds: inherited, overridden, and per group merged.
        assert_eq!(prod.lag_thresholds.messages, Some(500));
        assert_eq!(staging.lag_thresholds.messages, Some(5000));
        assert_eq!(
            prod.lag_thresholds.per_group.get("billing"),
            Some(&(None, Some(30.0))),
            "the entry's table replaces the top level's for that group"
        );
        assert_eq!(
            staging.lag_thresholds.per_group.get("billing"),
            Some(&(Some(10), None))
        );
        // Security: prod's own SASL_SSL over the inherited [kafka].
        assert_eq!(prod.kafka_security.protocol().name(), "SASL_SSL");
        assert!(staging.kafka_security.is_plaintext());
        // The embedded cluster: no brokers, demo traffic by default, and the
        // other clusters' security is not forced on it.
        assert!(local.brokers.is_none() && local.demo && local.kafka_security.is_plaintext());
        assert!(!prod.demo && !staging.demo);
        // The secret never shows in the configuration's debug form.
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn one_cluster_keeps_its_single_cluster_form() {
        let config = merge(&["--brokers", "k:9092", "--cluster-name", "prod"], "").unwrap();
        let clusters = config.clusters();
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].name.as_deref(), Some("prod"));
        let unnamed = merge(&["--brokers", "k:9092"], "").unwrap().clusters();
        assert_eq!(unnamed[0].name, None);
        assert_eq!(unnamed[0].url_name(), DEFAULT_CLUSTER_NAME);
    }

    #[test]
    fn the_flag_form_replaces_the_files_entries_and_inherits() {
        let config = merge(
            &["--cluster", "a=a1:9092,a2:9092", "--cluster", "b=b1:9092"],
            THREE,
        )
        .unwrap();
        let clusters = config.clusters();
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[0].brokers.as_ref().unwrap().len(), 2);
        assert_eq!(clusters[1].interval, Duration::from_secs(2));
    }

    #[test]
    fn mistakes_get_errors_naming_the_cluster_and_the_fix() {
        let two = |a: &str, b: &str| format!("[[cluster]]\n{a}\n[[cluster]]\n{b}\n");
        let cases = [
            (
                two("brokers = \"a:1\"", "name = \"b\"\nbrokers = \"b:1\""),
                "has no name",
            ),
            (
                two(
                    "name = \"a\"\nbrokers = \"a:1\"",
                    "name = \"a\"\nbrokers = \"b:1\"",
                ),
                "unique",
            ),
            (
                two(
                    "name = \"a b\"\nbrokers = \"a:1\"",
                    "name = \"b\"\nbrokers = \"b:1\"",
                ),
                "URL-safe",
            ),
            (
                two("name = \"a\"", "name = \"b\"\nbrokers = \"b:1\""),
                "cluster 'a' has no brokers",
            ),
            (
                two(
                    "name = \"a\"\nembedded = true",
                    "name = \"b\"\nembedded = true",
                ),
                "one embedded broker",
            ),
            (
                two(
                    "name = \"a\"\nembedded = true\nbrokers = \"a:1\"",
                    "name = \"b\"\nbrokers = \"b:1\"",
                ),
                "keep one",
            ),
            (
                two(
                    "name = \"a\"\nbrokers = \"nope\"",
                    "name = \"b\"\nbrokers = \"b:1\"",
                ),
                "cluster 'a': brokers must be HOST:PORT",
            ),
            (
                two(
                    "name = \"a\"\nbrokers = \"a:1\"\ninterval = \"10ms\"",
                    "name = \"b\"\nbrokers = \"b:1\"",
                ),
                "cluster 'a': --interval must be at least",
            ),
            (
                two(
                    "name = \"a\"\nbrokers = \"a:1\"\ninclude_topics = \"(\"",
                    "name = \"b\"\nbrokers = \"b:1\"",
                ),
                "cluster 'a'",
            ),
        ];
        for (text, expected) in cases {
            let message = error(&[], &text);
            assert!(message.contains(expected), "{text}\n→ {message}");
        }
        let both = error(&["--brokers", "x:9092"], THREE);
        assert!(
            both.contains("move the brokers into a cluster entry"),
            "{both}"
        );
        let named = error(&["--cluster-name", "x"], THREE);
        assert!(named.contains("each entry has its own name"), "{named}");
        let demo = error(&["--demo"], THREE);
        assert!(
            demo.contains("demo = true in the [[cluster]] entry"),
            "{demo}"
        );
        let typo = toml::from_str::<FileConfig>("[[cluster]]\nname = \"a\"\nbrokrs = \"a:1\"\n")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("brokrs"), "{typo}");
    }

    #[test]
    fn names_must_be_url_safe() {
        for good in ["prod", "prod-eu.1", "a", "Staging_2"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-prod", "prod eu", "prod/eu", "über", ".hidden", "a?b"] {
            let error = check_name(bad).unwrap_err();
            assert!(error.contains("cluster name"), "{bad}: {error}");
        }
        assert!(check_name(&"x".repeat(65)).unwrap_err().contains("longer"));
    }

    #[test]
    fn the_flag_form_needs_a_name_and_brokers() {
        let entry = entry_from_flag("prod=a:9092,b:9092").unwrap();
        assert_eq!(entry.name.as_deref(), Some("prod"));
        assert!(matches!(entry.brokers, Some(BrokerList::Text(ref t)) if t == "a:9092,b:9092"));
        let error = entry_from_flag("a:9092").unwrap_err().to_string();
        assert!(error.contains("NAME=HOST:PORT"), "{error}");
    }
}

//! Several Kafka clusters in one kafka-pulse: `[[cluster]]` entries in the
//! TOML file, or `--cluster NAME=HOST:PORT,...` for the simple case. Each
//! cluster gets its own brokers, Kafka properties, filters, lag thresholds,
//! interval and demo choice, and inherits from the top level what its entry
//! leaves out (README "Several clusters").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

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
#[derive(Debug, Default, Deserialize)]
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
    #[serde(default)]
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

//! The Kafka clusters a replay may read from or write to, by name: every
//! cluster of one kafka-pulse (built in app.rs, shared by every cluster's
//! ReplayService) or of the config file `kafka-pulse replay --config` reads
//! (built by config::replay_clusters). Kept here, not in config, so replay
//! never imports config (config already imports replay::cli).

use std::path::Path;

use super::ReplayError;
use crate::security::KafkaAccess;

/// Clusters by name, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct KafkaClusters {
    clusters: Vec<(String, KafkaAccess)>,
}

impl KafkaClusters {
    pub fn new(clusters: Vec<(String, KafkaAccess)>) -> Self {
        KafkaClusters { clusters }
    }

    pub fn names(&self) -> Vec<&str> {
        self.clusters
            .iter()
            .map(|(name, _)| name.as_str())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.clusters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// The cluster called `name`; the error names `what` asked for it
    /// (`--to-cluster`, `to_cluster`) and every known cluster.
    pub fn get(&self, what: &str, name: &str) -> Result<&KafkaAccess, ReplayError> {
        self.clusters
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, access)| access)
            .ok_or_else(|| {
                ReplayError::Invalid(format!(
                    "{what} {name:?} is not a configured cluster; the clusters are: {}",
                    self.names().join(", ")
                ))
            })
    }

    /// The only cluster, when there is exactly one.
    pub fn only(&self) -> Option<(&str, &KafkaAccess)> {
        match self.clusters.as_slice() {
            [(name, access)] => Some((name, access)),
            _ => None,
        }
    }
}

/// How `kafka-pulse replay --config FILE` learns the file's clusters. The
/// binary passes config::replay_clusters; a function pointer rather than a
/// call so that replay does not import config (which imports replay::cli
/// for its subcommands).
pub type ClusterLookup = fn(&Path) -> Result<KafkaClusters, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_the_known_ones() {
        let clusters = KafkaClusters::new(vec![
            ("prod".into(), KafkaAccess::plaintext("a:9092")),
            ("test".into(), KafkaAccess::plaintext("b:9092")),
        ]);
        assert_eq!(
            clusters.get("--to-cluster", "test").unwrap().bootstrap,
            "b:9092"
        );
        let error = clusters
            .get("--to-cluster", "tset")
            .unwrap_err()
            .to_string();
        assert!(error.contains("--to-cluster \"tset\""), "{error}");
        assert!(error.contains("prod, test"), "{error}");
        assert!(clusters.only().is_none());
    }
}

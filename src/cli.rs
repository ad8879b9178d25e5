//! The binary's command line: the dashboard's options
//! (src/config/options.rs) or one of the replay commands
//! (src/replay/cli.rs). It sits above both so neither imports the other.

use std::path::Path;

use clap::Parser;

use crate::config::{Config, Options};
use crate::replay::cli::Command;
use crate::replay::clusters::KafkaClusters;

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
    pub command: Option<Command>,

    #[command(flatten)]
    pub options: Options,
}

/// The clusters of the TOML file `path`, as the dashboard started with
/// `--config path` would watch them (the `KAFKA_PULSE_*` variables apply
/// too): each with its brokers and its own Kafka security, the embedded one
/// at the file's kafka_listen. For `kafka-pulse replay --config`; handed to
/// replay::cli by the binary so replay does not import config.
pub fn replay_clusters(path: &Path) -> Result<KafkaClusters, String> {
    let cli = Cli::try_parse_from([
        std::ffi::OsStr::new("kafka-pulse"),
        std::ffi::OsStr::new("--config"),
        path.as_os_str(),
    ])
    .map_err(|error| format!("{}: {error}", path.display()))?;
    let config = Config::load(cli.options).map_err(|error| {
        let text = error.to_string();
        // Say which file, unless the message already does.
        if text.contains(&path.display().to_string()) {
            text
        } else {
            format!("config file {}: {text}", path.display())
        }
    })?;
    let clusters = config
        .clusters()
        .into_iter()
        .map(|cluster| {
            let bootstrap = match &cluster.brokers {
                Some(list) => list.join(","),
                // The embedded broker of a kafka-pulse running with this file.
                None => config.kafka_listen.to_string(),
            };
            (
                cluster.url_name().to_string(),
                crate::security::KafkaAccess::new(bootstrap, cluster.kafka_security.clone()),
            )
        })
        .collect();
    Ok(KafkaClusters::new(clusters))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_keeps_the_subcommands_apart() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["kafka-pulse", "--brokers", "k:9092"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.options.brokers.as_deref(), Some("k:9092"));
        let tool = Cli::try_parse_from(["kafka-pulse", "export", "--help"]);
        assert!(tool.is_err(), "help is shown as an error by clap");
        let both = Cli::try_parse_from(["kafka-pulse", "--brokers", "k:9092", "export"]);
        assert!(
            both.is_err(),
            "dashboard options and a subcommand do not mix"
        );
    }
    #[test]
    fn replay_reads_each_clusters_brokers_and_security_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pulse.toml");
        std::fs::write(
            &path,
            r#"
kafka_listen = "127.0.0.1:19092"
[[cluster]]
name = "local"
embedded = true
[[cluster]]
name = "prod"
brokers = "kafka-1:9093,kafka-2:9093"
[cluster.kafka]
"security.protocol" = "SSL"
"#,
        )
        .unwrap();
        let clusters = replay_clusters(&path).unwrap();
        assert_eq!(clusters.names(), vec!["local", "prod"]);
        let local = clusters.get("--from-cluster", "local").unwrap();
        assert_eq!(local.bootstrap, "127.0.0.1:19092");
        let prod = clusters.get("--to-cluster", "prod").unwrap();
        assert_eq!(prod.bootstrap, "kafka-1:9093,kafka-2:9093");
        assert_eq!(prod.security.protocol().name(), "SSL");
        assert!(
            local.security.is_plaintext(),
            "each cluster keeps its own security"
        );
        let missing = replay_clusters(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.contains("nope.toml"), "{missing}");
    }
}

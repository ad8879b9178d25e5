//! The binary's command line: the dashboard's options
//! (src/config/options.rs) or one of the replay commands
//! (src/replay/cli.rs). It sits above both so neither imports the other.

use clap::Parser;

use crate::config::Options;
use crate::replay::cli::Command;

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
}

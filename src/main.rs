//! The kafka-pulse binary: parse configuration, run, map errors to exit codes
//! (2: bad configuration, 1: failed at run time).

use std::process::ExitCode;

use clap::Parser;
use kafka_pulse::cli::Cli;
use kafka_pulse::config::Config;

/// The process's allocator (src/alloc.rs): mimalloc, wrapped so a corrupt
/// array length in a Kafka answer cannot abort the process.
#[global_allocator]
static ALLOCATOR: kafka_pulse::alloc::ProcessAllocator = kafka_pulse::alloc::PROCESS_ALLOCATOR;

fn main() -> ExitCode {
    kafka_pulse::alloc::tune_process_allocator();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAFKA_PULSE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        // tansu logs every failed request at error level; ours says what matters.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tansu=off,libsql=warn"));
    // Logs go to stderr: stdout is the subcommands' output (`replay --json`
    // writes its report there, and librdkafka's warnings interleaved with
    // it made the report unreadable).
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();

    let mut cli = Cli::parse();
    if let Some(command) = cli.command.take() {
        return run_tool(command);
    }
    let config = match Config::load(cli.options) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("kafka-pulse: {error}");
            return ExitCode::from(2);
        }
    };
    kafka_pulse::app::run_to_exit(config)
}

/// `replay`, `export` and `import` run to completion without the dashboard.
fn run_tool(command: kafka_pulse::replay::cli::Command) -> ExitCode {
    kafka_pulse::replay::cli::run_to_exit(command, kafka_pulse::cli::replay_clusters)
}

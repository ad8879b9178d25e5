//! The kafka-pulse binary: parse configuration, run, map errors to exit codes
//! (2: bad configuration, 1: failed at run time).

use std::process::ExitCode;

use clap::Parser;
use kafka_pulse::cli::Cli;
use kafka_pulse::config::Config;

/// jemalloc instead of the system malloc: each tick frees a sample and a
/// snapshot of tens of MiB in many small pieces, and glibc kept 50-60 MiB of
/// that resident at 50,000 groups (`cargo bench --bench analysis`).
/// Wrapped so a corrupt array length in a Kafka answer cannot abort the
/// process (src/alloc.rs).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: kafka_pulse::alloc::LargeAllocsReserved<tikv_jemallocator::Jemalloc> =
    kafka_pulse::alloc::LargeAllocsReserved(tikv_jemallocator::Jemalloc);

/// jemalloc's options (the environment's `_RJEM_MALLOC_CONF` still wins).
/// One arena: a tick's Kafka answers are decoded on the async workers and
/// analysed on a blocking thread; with an arena per thread the memory freed
/// by one phase could not serve the other, and at 50,000 groups the process
/// peaked at 269 MiB instead of 188 (`bench/collector-fake/run`). Freed
/// pages go back to the OS at once instead of after 10 s.
#[cfg(not(target_env = "msvc"))]
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KAFKA_PULSE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        // tansu logs every failed request at error level; ours says what matters.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tansu=off,libsql=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
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

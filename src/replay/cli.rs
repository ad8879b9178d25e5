//! `kafka-pulse replay | export | import`: flags, a progress line on stderr
//! while it runs, a summary on stdout (or JSON with --json) at the end, and
//! on failure the offsets to continue from. Exit codes: 0 done, 1 failed or
//! interrupted, 2 bad options.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::clusters::{ClusterLookup, KafkaClusters};
use super::run::{Progress, Report};
use super::spec::{parse_partitions, target_options, ReplayRequest, ReplaySpec};
use super::{Prepared, ReplayError};
use crate::security::KafkaAccess;

/// Where the commands read and write by default: the embedded broker of a
/// `kafka-pulse` started with its defaults (its --kafka-listen default is
/// this same constant, see config.rs), so `cargo run --release` in one
/// shell and `kafka-pulse replay` in another just work.
pub const DEFAULT_BROKERS: &str = crate::config::DEFAULT_KAFKA_LISTEN;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay retained messages of one topic into another, at their original
    /// pace (--speed 1), faster, or as fast as possible (--speed max)
    Replay(ReplayArgs),
    /// Write a range of a topic to a JSON Lines file (binary as base64,
    /// timestamps and headers kept), e.g. as a test fixture
    Export(ExportArgs),
    /// Write the records of a JSON Lines file (from `export`) to a topic,
    /// paced by their timestamps
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct Connection {
    /// Kafka bootstrap servers (HOST:PORT,...) [default: 127.0.0.1:9092, the
    /// embedded broker of a running `kafka-pulse`]
    // No clap default: `replay --config` must tell an explicit --brokers
    // (a contradiction) from none.
    #[arg(long, env = "KAFKA_PULSE_BROKERS", value_name = "HOST:PORT,...")]
    pub brokers: Option<String>,
    /// Timeout of each Kafka request, e.g. 5s
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub request_timeout: String,
    /// Print the final report as JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub kafka: crate::security::KafkaPropertyArgs,
}

impl Connection {
    fn brokers(&self) -> &str {
        self.brokers.as_deref().unwrap_or(DEFAULT_BROKERS)
    }
}

/// The cluster with the security the flags and KAFKA_PULSE_KAFKA_*
/// variables give (no TOML file here).
fn kafka_access(connection: &Connection) -> Result<KafkaAccess, ReplayError> {
    let brokers = connection.brokers();
    let security = crate::security::Security::from_sources(
        &connection.kafka,
        crate::security::FileSettings::default(),
        &|name| std::env::var(name).ok(),
        Some(brokers),
    )
    .map_err(ReplayError::Invalid)?;
    security.log_notes();
    Ok(KafkaAccess::new(brokers, std::sync::Arc::new(security)))
}

#[derive(Debug, Args)]
pub struct RangeArgs {
    /// Source topic
    #[arg(long, value_name = "TOPIC")]
    pub from: String,
    /// Only these partitions, e.g. 0,1 [default: all]
    #[arg(long, value_name = "LIST")]
    pub partitions: Option<String>,
    /// First offset to read: N for every partition, or 0:N,1:M per partition
    /// [default: earliest retained]
    #[arg(long, value_name = "OFFSET", conflicts_with = "start_time")]
    pub start_offset: Option<String>,
    /// Read messages with timestamps at or after this RFC 3339 time
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// Last offset to read (inclusive): N or 0:N,1:M [default: the end at start]
    #[arg(long, value_name = "OFFSET", conflicts_with_all = ["end_time", "count"])]
    pub end_offset: Option<String>,
    /// Stop before messages with timestamps after this RFC 3339 time
    #[arg(long, value_name = "TIME", conflicts_with = "count")]
    pub end_time: Option<String>,
    /// Read at most this many messages in all
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PaceArgs {
    /// 1 = original gaps between messages, 2.5 = 2.5× faster, max = no waiting
    #[arg(long, default_value = "1", value_name = "FACTOR|max")]
    pub speed: String,
    /// Write each message with its original timestamp (default: the time it is written)
    #[arg(long)]
    pub keep_timestamps: bool,
    /// Write each message to the same partition number it came from
    #[arg(long)]
    pub keep_partition: bool,
    /// Create the target topic if it does not exist (same partition count as the source)
    #[arg(long)]
    pub create_target: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Target topic
    #[arg(long, value_name = "TOPIC")]
    pub to: String,
    #[command(flatten)]
    pub pace: PaceArgs,
    /// Allow --to to be the same topic as --from
    #[arg(long)]
    pub allow_same_topic: bool,
    /// The TOML file kafka-pulse runs with: --from-cluster and
    /// --to-cluster name its clusters (`[[cluster]]` entries), each reached
    /// with its own brokers and Kafka security. Instead of --brokers
    #[arg(long, value_name = "FILE", help_heading = "Between clusters")]
    pub config: Option<PathBuf>,
    /// The cluster of --config to read from [default: the file's only
    /// cluster]
    #[arg(long, value_name = "NAME", help_heading = "Between clusters")]
    pub from_cluster: Option<String>,
    /// The cluster of --config to write to, e.g. a test cluster [default:
    /// --from-cluster]
    #[arg(long, value_name = "NAME", help_heading = "Between clusters")]
    pub to_cluster: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

/// Where a replay reads and writes.
struct Route {
    source: KafkaAccess,
    target: KafkaAccess,
    /// Source and target are one cluster (same-topic replays need a yes).
    same_cluster: bool,
    /// The cluster names when they came from --config, for the start line.
    names: Option<(String, String)>,
}

/// --brokers (one cluster for both sides), or --config with cluster names:
/// each side with its own cluster's brokers and security.
fn replay_route(args: &ReplayArgs, lookup: ClusterLookup) -> Result<Route, ReplayError> {
    let Some(path) = &args.config else {
        if args.from_cluster.is_some() || args.to_cluster.is_some() {
            return Err(ReplayError::Invalid(
                "--from-cluster and --to-cluster name clusters of a config file: add --config FILE \
                 (the TOML file kafka-pulse runs with, its [[cluster]] entries)"
                    .into(),
            ));
        }
        let access = kafka_access(&args.connection)?;
        return Ok(Route {
            source: access.clone(),
            target: access,
            same_cluster: true,
            names: None,
        });
    };
    if args.connection.brokers.is_some() {
        return Err(ReplayError::Invalid(
            "--brokers (or KAFKA_PULSE_BROKERS) and --config both say where to connect: \
             use --brokers HOST:PORT for one cluster, or --config FILE with --from-cluster/--to-cluster \
             (unset KAFKA_PULSE_BROKERS if it is set in this shell)"
                .into(),
        ));
    }
    let kafka = &args.connection.kafka;
    if !kafka.kafka_property.is_empty() || kafka.kafka_properties.is_some() {
        // With --config each cluster has its own security; one flag for both
        // sides would silently override one of them.
        return Err(ReplayError::Invalid(
            "--kafka-property and --kafka-properties (or KAFKA_PULSE_KAFKA_PROPERTIES) go with --brokers: \
             with --config each cluster's security comes from its entry in the file \
             ([cluster.kafka] or kafka_properties = \"FILE\")"
                .into(),
        ));
    }
    let clusters: KafkaClusters = lookup(path).map_err(ReplayError::Invalid)?;
    let from = match (&args.from_cluster, clusters.only()) {
        (Some(name), _) => name.trim().to_string(),
        (None, Some((only, _))) => only.to_string(),
        (None, None) => {
            return Err(ReplayError::Invalid(format!(
                "{} has {} clusters ({}): say which to read from with --from-cluster NAME",
                path.display(),
                clusters.len(),
                clusters.names().join(", ")
            )))
        }
    };
    let to = args
        .to_cluster
        .as_deref()
        .map_or_else(|| from.clone(), |name| name.trim().to_string());
    let source = clusters.get("--from-cluster", &from)?.clone();
    let target = clusters.get("--to-cluster", &to)?.clone();
    source.security.log_notes();
    if to != from {
        target.security.log_notes();
    }
    Ok(Route {
        // Two names for the same brokers are one cluster.
        same_cluster: from == to || source.bootstrap == target.bootstrap,
        source,
        target,
        names: Some((from, to)),
    })
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// The JSON Lines file to write
    #[arg(long, value_name = "FILE.jsonl")]
    pub to: PathBuf,
    /// Overwrite --to if it exists
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A JSON Lines file written by `kafka-pulse export`
    #[arg(value_name = "FILE.jsonl")]
    pub file: PathBuf,
    /// Target topic
    #[arg(long, value_name = "TOPIC")]
    pub to: String,
    #[command(flatten)]
    pub pace: PaceArgs,
    #[command(flatten)]
    pub connection: Connection,
}

fn request_from(range: &RangeArgs, to: &str) -> Result<ReplayRequest, ReplayError> {
    Ok(ReplayRequest {
        from: range.from.clone(),
        to: to.to_string(),
        partitions: range
            .partitions
            .as_deref()
            .map(parse_partitions)
            .transpose()?,
        start_offset: range.start_offset.clone(),
        start_time: range.start_time.clone(),
        end_offset: range.end_offset.clone(),
        end_time: range.end_time.clone(),
        count: range.count,
        ..ReplayRequest::default()
    })
}

fn timeout(connection: &Connection) -> Result<Duration, ReplayError> {
    match humantime::parse_duration(&connection.request_timeout) {
        Ok(timeout) if timeout >= Duration::from_millis(100) => Ok(timeout),
        _ => Err(ReplayError::Invalid(format!(
            "--request-timeout must be a duration of at least 100ms such as 5s, got {:?}",
            connection.request_timeout
        ))),
    }
}

/// `replay`, `export` and `import` run to completion on a runtime of their
/// own, without the dashboard (not async: src/runtime.rs says why).
/// `lookup` reads the clusters of `replay --config FILE`.
pub fn run_to_exit(command: Command, lookup: ClusterLookup) -> ExitCode {
    crate::runtime::block_on_to_exit(run(command, lookup))
}

/// Runs one subcommand to the end.
pub async fn run(command: Command, lookup: ClusterLookup) -> ExitCode {
    let (prepared, json, verb) = match prepare(command, lookup).await {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("kafka-pulse: {error}");
            return ExitCode::from(match error {
                ReplayError::Invalid(_) => 2,
                _ => 1,
            });
        }
    };
    for warning in &prepared.warnings {
        eprintln!("kafka-pulse: warning: {warning}");
    }
    let progress = Arc::new(Progress::default());
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("kafka-pulse: interrupted, confirming what is in flight…");
            interrupt.cancel();
        }
    });
    let reporter = spawn_progress_line(progress.clone(), verb);
    let report = prepared.run(&progress, &cancel).await;
    reporter.abort();
    print_report(&report, verb, json);
    if report.error.is_some() || report.cancelled {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

async fn prepare(
    command: Command,
    lookup: ClusterLookup,
) -> Result<(Prepared, bool, &'static str), ReplayError> {
    match command {
        Command::Replay(args) => {
            let mut request = request_from(&args.range, &args.to)?;
            request.speed = Some(args.pace.speed.clone());
            request.keep_timestamps = args.pace.keep_timestamps;
            request.keep_partition = args.pace.keep_partition;
            request.allow_same_topic = args.allow_same_topic;
            let timeout = timeout(&args.connection)?;
            // The options' own mistakes first, before any file is read.
            ReplaySpec::from_request_between(&request, false)?;
            let route = replay_route(&args, lookup)?;
            let spec = ReplaySpec::from_request_between(&request, route.same_cluster)?;
            if let Some((from, to)) = &route.names {
                eprintln!(
                    "kafka-pulse: replaying {} on cluster {from} ({}) → {} on cluster {to} ({})",
                    request.from, route.source.bootstrap, request.to, route.target.bootstrap
                );
            }
            let prepared = super::prepare_replay_between(
                &route.source,
                &route.target,
                &spec,
                args.pace.create_target,
                timeout,
            )
            .await?;
            Ok((prepared, args.connection.json, "replayed"))
        }
        Command::Export(args) => {
            // The target name is not used by export; any valid name passes.
            let request = request_from(&args.range, "export")?;
            let range = super::spec::source_range(&request)?;
            let timeout = timeout(&args.connection)?;
            let prepared = super::prepare_export(
                &kafka_access(&args.connection)?,
                &range,
                &args.to,
                args.force,
                timeout,
            )
            .await?;
            Ok((prepared, args.connection.json, "exported"))
        }
        Command::Import(args) => {
            let request = ReplayRequest {
                from: "import".into(),
                to: args.to.clone(),
                speed: Some(args.pace.speed.clone()),
                keep_timestamps: args.pace.keep_timestamps,
                keep_partition: args.pace.keep_partition,
                ..ReplayRequest::default()
            };
            let target = target_options(&request)?;
            let timeout = timeout(&args.connection)?;
            let prepared = super::prepare_import(
                &kafka_access(&args.connection)?,
                &args.file,
                &target,
                args.pace.create_target,
                timeout,
            )
            .await?;
            Ok((prepared, args.connection.json, "imported"))
        }
    }
}

fn spawn_progress_line(progress: Arc<Progress>, verb: &'static str) -> tokio::task::JoinHandle<()> {
    let terminal = std::io::stderr().is_terminal();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(if terminal { 1 } else { 10 }));
        tick.tick().await;
        loop {
            tick.tick().await;
            let view = progress.view();
            let eta = view
                .eta_seconds
                .map(|eta| format!(", ETA {eta:.0}s"))
                .unwrap_or_default();
            eprintln!(
                "{verb} {} messages ({}) at {} msg/s{eta}",
                group_digits(view.messages_written),
                megabytes(view.bytes_written as f64),
                group_digits(view.messages_per_second.round() as u64),
            );
        }
    })
}

fn megabytes(bytes: f64) -> String {
    format!("{:.2} MB", bytes / 1_000_000.0)
}

fn group_digits(value: u64) -> String {
    crate::analysis::status::group_digits(value as i64)
}

fn print_report(report: &Report, verb: &str, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(error) => eprintln!("kafka-pulse: cannot print the report: {error}"),
        }
    } else {
        println!(
            "{verb} {} of {} messages read ({}) in {:.1}s: {} msg/s, {:.2} MB/s",
            group_digits(report.messages_written),
            group_digits(report.messages_read),
            megabytes(report.bytes_written as f64),
            report.elapsed_seconds,
            group_digits(report.messages_per_second.round() as u64),
            report.megabytes_per_second,
        );
        if let Some(timing) = &report.timing_error {
            println!(
                "timing error vs the original pace: mean {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} messages",
                timing.mean_ms,
                timing.p99_ms,
                timing.max_ms,
                group_digits(timing.paced_messages)
            );
        }
        if let Some(file) = &report.file {
            println!("file: {}", file.display());
        }
    }
    if let Some(error) = &report.error {
        eprintln!("kafka-pulse: {verb} stopped: {error}");
    } else if report.cancelled {
        eprintln!("kafka-pulse: {verb} stopped: cancelled");
    }
    if report.error.is_some() || report.cancelled {
        match report.resume_hint() {
            Some(hint) => eprintln!(
                "kafka-pulse: last source offset written per partition: {}; continue with {hint}",
                report
                    .last_written
                    .iter()
                    .map(|(p, o)| format!("{p}:{o}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            None => eprintln!("kafka-pulse: nothing was written; run the same command again"),
        }
    }
}

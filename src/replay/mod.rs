//! Replay and capture: read a range of retained topic data and write it to
//! another topic at its original pace (or faster), or to a JSON Lines file,
//! or from such a file back into a topic. Used by the `replay`, `export` and
//! `import` subcommands and by /api/v1/replays.
//!
//! spec (what to do, validated) → source (read, merged by timestamp) →
//! pacing (when) → writer / file (where) → run (the pump and its report).

pub mod cli;
pub mod clusters;
pub mod file;
pub mod pacing;
pub mod record;
pub mod run;
pub mod service;
pub mod source;
pub mod spec;
pub mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use file::{FileSink, FileSource};
use record::Record;
use run::{Input, Output, Progress, Report};
use source::KafkaRangeReader;
use spec::{EndAt, ReplaySpec, SourceRange, Speed, StartAt, TargetOptions};
use writer::KafkaWriter;

use crate::security::KafkaAccess;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    /// The request cannot work as given (bad option, missing topic, too few
    /// partitions); the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Kafka(String),
    #[error("{0}")]
    File(String),
    /// Too many reads at once; the caller may try again shortly.
    #[error("{0}")]
    Busy(String),
    /// The broker refused for lack of an ACL; the message names it
    /// (security/acl.rs).
    #[error("{0}")]
    Denied(String),
}

impl From<spec::SpecError> for ReplayError {
    fn from(error: spec::SpecError) -> Self {
        ReplayError::Invalid(error.0)
    }
}

/// A run whose source and target have been checked; `run` does the work.
pub struct Prepared {
    input: Input,
    output: Output,
    speed: Speed,
    pub planned: u64,
    pub warnings: Vec<String>,
}

impl Prepared {
    pub async fn run(self, progress: &Progress, cancel: &CancellationToken) -> Report {
        progress.planned.store(self.planned, Ordering::Relaxed);
        run::pump(self.input, self.output, self.speed, progress, cancel).await
    }
}

/// Topic → topic on one cluster. `create_target` creates a missing target
/// with the source's partition count.
pub async fn prepare_replay(
    kafka: impl Into<KafkaAccess>,
    spec: &ReplaySpec,
    create_target: bool,
    timeout: Duration,
) -> Result<Prepared, ReplayError> {
    let kafka = kafka.into();
    prepare_replay_between(&kafka, &kafka, spec, create_target, timeout).await
}

/// Topic of `source` → topic of `target` (another cluster, or the same):
/// each side connects with its own cluster's bootstrap and security.
pub async fn prepare_replay_between(
    source: &KafkaAccess,
    target: &KafkaAccess,
    spec: &ReplaySpec,
    create_target: bool,
    timeout: Duration,
) -> Result<Prepared, ReplayError> {
    let reader = KafkaRangeReader::open(source, &spec.source, timeout).await?;
    let needed = reader.needed_partitions();
    writer::prepare_target(
        target,
        &spec.target,
        create_target.then_some(reader.partition_count as i32),
        needed,
        timeout,
    )
    .await?;
    let writer = KafkaWriter::new(target, &spec.target, timeout)?;
    Ok(Prepared {
        planned: reader.planned,
        warnings: reader.warnings.clone(),
        input: Input::Kafka(Box::new(reader)),
        output: Output::Kafka(Box::new(writer)),
        speed: spec.target.speed,
    })
}

/// Topic → JSON Lines file, as fast as it reads.
pub async fn prepare_export(
    kafka: &KafkaAccess,
    range: &SourceRange,
    path: &Path,
    overwrite: bool,
    timeout: Duration,
) -> Result<Prepared, ReplayError> {
    FileSink::check_target(path, overwrite)?;
    let reader = KafkaRangeReader::open(kafka, range, timeout).await?;
    let sink = FileSink::create(path, &range.topic, overwrite)?;
    Ok(Prepared {
        planned: reader.planned,
        warnings: reader.warnings.clone(),
        input: Input::Kafka(Box::new(reader)),
        output: Output::File(sink),
        speed: Speed::Max,
    })
}

/// JSON Lines file → topic, paced by the recorded timestamps.
pub async fn prepare_import(
    kafka: &KafkaAccess,
    path: &Path,
    target: &TargetOptions,
    create_target: bool,
    timeout: Duration,
) -> Result<Prepared, ReplayError> {
    let needs_scan = create_target || target.keep_partition;
    let max_partition = if needs_scan {
        FileSource::max_partition(path)?
    } else {
        None
    };
    let source = FileSource::open(path)?;
    writer::prepare_target(
        kafka,
        target,
        create_target.then_some(max_partition.map_or(1, |p| p + 1)),
        max_partition.map(|p| p + 1),
        timeout,
    )
    .await?;
    let writer = KafkaWriter::new(kafka, target, timeout)?;
    Ok(Prepared {
        planned: 0,
        warnings: Vec::new(),
        input: Input::File(source),
        output: Output::Kafka(Box::new(writer)),
        speed: target.speed,
    })
}

/// Up to `limit` records of one partition from `start` (offset or time),
/// for the message browser. Stops at the end of the partition.
pub async fn read_messages(
    kafka: &KafkaAccess,
    topic: &str,
    partition: i32,
    start: StartAt,
    limit: u64,
    timeout: Duration,
) -> Result<Vec<Record>, ReplayError> {
    let range = SourceRange {
        topic: topic.to_string(),
        partitions: Some(vec![partition]),
        start,
        end: EndAt::Count(limit),
    };
    let mut reader = KafkaRangeReader::open(kafka, &range, timeout).await?;
    let mut records = Vec::new();
    while let Some(record) = reader.next().await? {
        records.push(record);
    }
    Ok(records)
}

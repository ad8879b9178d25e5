//! The pump shared by replay, export and import: read the next record, wait
//! until it is due, write it, count it. Cancel stops it between records;
//! what was handed to the target is then confirmed (bounded) and reported.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::file::{FileSink, FileSource};
use super::pacing::{Pacer, TimingError, TimingSummary};
use super::record::Record;
use super::source::KafkaRangeReader;
use super::spec::Speed;
use super::writer::KafkaWriter;
use super::ReplayError;

/// How long writes in flight may take to be confirmed after the last read.
const FINISH_LIMIT: Duration = Duration::from_secs(30);
/// After a cancel, confirmation of what is in flight gets less time.
const CANCEL_FINISH_LIMIT: Duration = Duration::from_secs(3);

pub enum Input {
    Kafka(Box<KafkaRangeReader>),
    File(FileSource),
}

impl Input {
    async fn next(&mut self) -> Result<Option<Record>, ReplayError> {
        match self {
            Input::Kafka(reader) => reader.next().await,
            Input::File(file) => file.next_record(),
        }
    }
}

pub enum Output {
    Kafka(Box<KafkaWriter>),
    File(FileSink),
}

impl Output {
    async fn write(&mut self, record: &Record) -> Result<(), ReplayError> {
        match self {
            Output::Kafka(writer) => writer.write(record).await,
            Output::File(file) => file.write(record),
        }
    }

    fn has_in_flight(&self) -> bool {
        matches!(self, Output::Kafka(writer) if writer.has_in_flight())
    }

    async fn settle_one(&mut self) {
        if let Output::Kafka(writer) = self {
            writer.settle_one().await;
        }
    }

    fn written(&self) -> (u64, u64) {
        match self {
            Output::Kafka(writer) => (writer.written, writer.written_bytes),
            Output::File(file) => (file.written, file.written_bytes),
        }
    }
}

/// Live counters a caller (CLI progress line, API) reads while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub read: AtomicU64,
    pub written: AtomicU64,
    pub written_bytes: AtomicU64,
    /// Upper bound of the records to go, when known.
    pub planned: AtomicU64,
    pub started: Mutex<Option<Instant>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProgressView {
    pub messages_read: u64,
    pub messages_written: u64,
    pub bytes_written: u64,
    pub planned_messages: u64,
    pub elapsed_seconds: f64,
    pub messages_per_second: f64,
    pub bytes_per_second: f64,
    /// From the rate so far; None before there is a rate.
    pub eta_seconds: Option<f64>,
}

impl Progress {
    pub fn view(&self) -> ProgressView {
        let elapsed = self
            .started
            .lock()
            .expect("progress poisoned")
            .map_or(0.0, |started| started.elapsed().as_secs_f64());
        let written = self.written.load(Ordering::Relaxed);
        let read = self.read.load(Ordering::Relaxed);
        let bytes = self.written_bytes.load(Ordering::Relaxed);
        let planned = self.planned.load(Ordering::Relaxed);
        let rate = if elapsed > 0.0 {
            written as f64 / elapsed
        } else {
            0.0
        };
        let eta = (rate > 0.0 && planned >= read).then(|| (planned - read) as f64 / rate);
        ProgressView {
            messages_read: read,
            messages_written: written,
            bytes_written: bytes,
            planned_messages: planned,
            elapsed_seconds: elapsed,
            messages_per_second: rate,
            bytes_per_second: if elapsed > 0.0 {
                bytes as f64 / elapsed
            } else {
                0.0
            },
            eta_seconds: eta,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub messages_read: u64,
    pub messages_written: u64,
    pub bytes_written: u64,
    pub elapsed_seconds: f64,
    pub messages_per_second: f64,
    pub megabytes_per_second: f64,
    /// Paced runs only: how far sends were from the original schedule.
    pub timing_error: Option<TimingSummary>,
    /// Source partition → last source offset the target confirmed.
    pub last_written: BTreeMap<i32, i64>,
    pub cancelled: bool,
    pub error: Option<String>,
    /// Export only: where the file is.
    pub file: Option<PathBuf>,
}

impl Report {
    /// How to continue after a failure: `--start-offset` per partition.
    pub fn resume_hint(&self) -> Option<String> {
        if self.last_written.is_empty() {
            return None;
        }
        let offsets: Vec<String> = self
            .last_written
            .iter()
            .map(|(partition, offset)| format!("{partition}:{}", offset + 1))
            .collect();
        Some(format!("--start-offset {}", offsets.join(",")))
    }
}

pub async fn pump(
    mut input: Input,
    mut output: Output,
    speed: Speed,
    progress: &Progress,
    cancel: &CancellationToken,
) -> Report {
    let started = Instant::now();
    *progress.started.lock().expect("progress poisoned") = Some(started);
    let mut pacer = Pacer::new(speed);
    let mut timing = TimingError::default();
    let mut cancelled = false;
    let mut failure: Option<ReplayError> = None;
    let mut read = 0u64;
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => { cancelled = true; break; }
            next = input.next() => next,
        };
        let record = match next {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(error) => {
                failure = Some(error);
                break;
            }
        };
        read += 1;
        progress.read.store(read, Ordering::Relaxed);
        if let Some(due) = pacer.due(record.timestamp_ms, Instant::now()) {
            // While waiting, count acknowledgements so progress stays live.
            let sleep = tokio::time::sleep_until(due.into());
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => { cancelled = true; break; }
                    _ = &mut sleep => break,
                    _ = output.settle_one(), if output.has_in_flight() => {
                        let (written, bytes) = output.written();
                        progress.written.store(written, Ordering::Relaxed);
                        progress.written_bytes.store(bytes, Ordering::Relaxed);
                    }
                }
            }
            if cancelled {
                break;
            }
            timing.record(due, Instant::now());
        }
        if let Err(error) = output.write(&record).await {
            failure = Some(error);
            break;
        }
        let (written, bytes) = output.written();
        progress.written.store(written, Ordering::Relaxed);
        progress.written_bytes.store(bytes, Ordering::Relaxed);
    }
    let limit = if cancelled {
        CANCEL_FINISH_LIMIT
    } else {
        FINISH_LIMIT
    };
    let (last_written, file) = match &mut output {
        Output::Kafka(writer) => {
            if let Err(error) = writer.finish(limit).await {
                failure.get_or_insert(error);
            }
            (writer.last_written.clone(), None)
        }
        Output::File(sink) => {
            let complete = failure.is_none() && !cancelled;
            match sink.finish(complete) {
                Ok(path) => (sink.last_written.clone(), Some(path)),
                Err(error) => {
                    failure.get_or_insert(error);
                    (sink.last_written.clone(), None)
                }
            }
        }
    };
    let (written, bytes) = output.written();
    progress.written.store(written, Ordering::Relaxed);
    progress.written_bytes.store(bytes, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    Report {
        messages_read: read,
        messages_written: written,
        bytes_written: bytes,
        elapsed_seconds: elapsed,
        messages_per_second: written as f64 / elapsed,
        megabytes_per_second: bytes as f64 / elapsed / 1_000_000.0,
        timing_error: timing.summary(),
        last_written,
        cancelled,
        error: failure.map(|e| e.to_string()),
        file,
    }
}

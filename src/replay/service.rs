//! Replays started through the API: a bounded set running at once, a
//! bounded list of finished ones kept for the page, cancel by id, events
//! when one starts and ends, and the message browser's reads. The web layer
//! talks to Kafka only through this.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::clusters::KafkaClusters;
use super::record::Record;
use super::run::{Progress, ProgressView, Report};
use super::spec::{ReplayRequest, ReplaySpec, StartAt};
use super::ReplayError;
use crate::store::Store;

/// More at once would compete with the collector for the broker.
pub const MAX_RUNNING: usize = 4;
/// Finished replays kept for GET /api/v1/replays.
const KEEP_FINISHED: usize = 50;

pub struct ReplayService {
    /// The cluster this service reads from (its name in URLs) and how to
    /// reach it.
    cluster: String,
    kafka: crate::security::KafkaAccess,
    /// Every cluster a replay may write to, this one included.
    clusters: Arc<KafkaClusters>,
    timeout: Duration,
    store: Arc<Store>,
    shutdown: CancellationToken,
    replays: Mutex<VecDeque<Arc<Entry>>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Message-browser reads running at once: each is a librdkafka
    /// consumer with its own threads (300 at once once made 1,500 threads).
    browse_slots: tokio::sync::Semaphore,
}

/// Message-browser reads at once; more wait up to [`BROWSE_QUEUE_WAIT`],
/// then get a 503 with Retry-After.
pub const BROWSE_CONCURRENCY: usize = 4;
/// How long a browser read waits for a slot before it is turned away.
pub const BROWSE_QUEUE_WAIT: Duration = Duration::from_secs(2);

struct Entry {
    id: String,
    request: ReplayRequest,
    from_cluster: String,
    to_cluster: String,
    created_at: DateTime<Utc>,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    /// Who asked to cancel it (the audit trail); None: nobody did.
    cancelled_by: Mutex<Option<String>>,
    warnings: Vec<String>,
    finished: Mutex<Option<(DateTime<Utc>, Report)>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayView {
    pub id: String,
    pub from: String,
    pub to: String,
    /// The cluster read from (the one whose API started it).
    pub from_cluster: String,
    /// The cluster written to; the same as `from_cluster` unless the
    /// request named another (`to_cluster`).
    pub to_cluster: String,
    pub speed: String,
    pub partitions: Option<Vec<i32>>,
    pub keep_timestamps: bool,
    pub keep_partition: bool,
    /// running | finished | failed | cancelled
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub progress: ProgressView,
    pub warnings: Vec<String>,
    pub report: Option<Report>,
    pub error: Option<String>,
}

impl Entry {
    fn view(&self) -> ReplayView {
        let finished = self.finished.lock().expect("replay poisoned").clone();
        let state = match &finished {
            None => "running",
            Some((_, report)) if report.error.is_some() => "failed",
            Some((_, report)) if report.cancelled => "cancelled",
            Some(_) => "finished",
        };
        ReplayView {
            id: self.id.clone(),
            from: self.request.from.clone(),
            to: self.request.to.clone(),
            from_cluster: self.from_cluster.clone(),
            to_cluster: self.to_cluster.clone(),
            speed: self.request.speed.clone().unwrap_or_else(|| "1".into()),
            partitions: self.request.partitions.clone(),
            keep_timestamps: self.request.keep_timestamps,
            keep_partition: self.request.keep_partition,
            state,
            created_at: self.created_at,
            finished_at: finished.as_ref().map(|(at, _)| *at),
            progress: self.progress.view(),
            warnings: self.warnings.clone(),
            error: finished.as_ref().and_then(|(_, r)| r.error.clone()),
            report: finished.map(|(_, report)| report),
        }
    }

    fn running(&self) -> bool {
        self.finished.lock().expect("replay poisoned").is_none()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Kafka(String),
    /// The principal lacks an ACL the replay needs; the message names it.
    #[error("{0}")]
    Denied(String),
}

impl ReplayService {
    /// The service of cluster `cluster` (reached through `kafka`);
    /// `clusters` are the ones its replays may write to (empty: only this
    /// one).
    pub fn new(
        cluster: impl Into<String>,
        kafka: crate::security::KafkaAccess,
        clusters: Arc<KafkaClusters>,
        timeout: Duration,
        store: Arc<Store>,
        shutdown: CancellationToken,
    ) -> Self {
        let cluster = cluster.into();
        let clusters = if clusters.is_empty() {
            Arc::new(KafkaClusters::new(vec![(cluster.clone(), kafka.clone())]))
        } else {
            clusters
        };
        ReplayService {
            cluster,
            kafka,
            clusters,
            timeout,
            store,
            shutdown,
            replays: Mutex::new(VecDeque::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            browse_slots: tokio::sync::Semaphore::new(BROWSE_CONCURRENCY),
        }
    }

    /// Checks the request and both topics, then runs it in the background.
    /// Starts a replay for `who` (credential name and client address, for
    /// the audit event).
    pub async fn start(
        self: &Arc<Self>,
        request: ReplayRequest,
        who: &str,
    ) -> Result<ReplayView, StartError> {
        let to_cluster = request
            .to_cluster
            .as_deref()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.cluster)
            .to_string();
        let target = if to_cluster == self.cluster {
            &self.kafka
        } else {
            self.clusters
                .get("to_cluster", &to_cluster)
                .map_err(|e| StartError::Invalid(e.to_string()))?
        };
        // Two names for the same brokers are one cluster: a replay there
        // of a topic into itself would re-read what it writes.
        let same_cluster = to_cluster == self.cluster || target.bootstrap == self.kafka.bootstrap;
        let spec = ReplaySpec::from_request_between(&request, same_cluster)
            .map_err(|e| StartError::Invalid(e.0))?;
        let running = self.list().iter().filter(|r| r.state == "running").count();
        if running >= MAX_RUNNING {
            return Err(StartError::Busy(format!(
                "{running} replays are running (the limit is {MAX_RUNNING}); wait for one to finish or cancel one with DELETE /api/v1/replays/{{id}}"
            )));
        }
        let prepared = super::prepare_replay_between(
            &self.kafka,
            target,
            &spec,
            request.create_target,
            self.timeout,
        )
        .await
        .map_err(|error| match error {
            ReplayError::Invalid(message) => StartError::Invalid(message),
            ReplayError::Denied(message) => StartError::Denied(message),
            other => StartError::Kafka(other.to_string()),
        })?;
        let id = format!(
            "r{}",
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let progress = Arc::new(Progress::default());
        progress
            .planned
            .store(prepared.planned, std::sync::atomic::Ordering::Relaxed);
        let entry = Arc::new(Entry {
            id: id.clone(),
            request: request.clone(),
            from_cluster: self.cluster.clone(),
            to_cluster: to_cluster.clone(),
            created_at: Utc::now(),
            progress,
            cancel: self.shutdown.child_token(),
            cancelled_by: Mutex::new(None),
            warnings: prepared.warnings.clone(),
            finished: Mutex::new(None),
        });
        {
            let mut replays = self.replays.lock().expect("replays poisoned");
            replays.push_back(entry.clone());
            while replays.len() > KEEP_FINISHED + MAX_RUNNING {
                match replays.iter().position(|e| !e.running()) {
                    Some(oldest_finished) => {
                        replays.remove(oldest_finished);
                    }
                    None => break,
                }
            }
        }
        // Within one cluster the event reads as it always did; across
        // clusters it names both, so the audit trail says where data went.
        let route = if to_cluster == self.cluster {
            format!("{} → {}", request.from, request.to)
        } else {
            format!(
                "{} on cluster {} → {} on cluster {to_cluster}",
                request.from, self.cluster, request.to
            )
        };
        self.store.record_event(
            "replay_started",
            &id,
            format!(
                "replay {id} started by {who}: {route} at speed {}, up to {} messages",
                spec.target.speed,
                crate::analysis::status::group_digits(prepared.planned as i64)
            ),
        );
        let store = self.store.clone();
        let task_entry = entry.clone();
        let clusters_note = if to_cluster == self.cluster {
            String::new()
        } else {
            format!(" (cluster {} → {to_cluster})", self.cluster)
        };
        tokio::spawn(async move {
            let report = prepared.run(&task_entry.progress, &task_entry.cancel).await;
            let outcome = match (&report.error, report.cancelled) {
                (Some(error), _) => format!("failed: {error}"),
                (None, true) => match task_entry
                    .cancelled_by
                    .lock()
                    .expect("replay poisoned")
                    .as_deref()
                {
                    Some(who) => format!("cancelled by {who}"),
                    // Shutdown cancels every replay too.
                    None => "cancelled".to_string(),
                },
                (None, false) => "finished".to_string(),
            };
            let resume = if report.error.is_some() || report.cancelled {
                report
                    .resume_hint()
                    .map(|hint| format!("; continue with {hint}"))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            store.record_event(
                "replay_finished",
                &task_entry.id,
                format!(
                    "replay {}{clusters_note} {outcome}: {} messages written in {:.1}s{resume}",
                    task_entry.id,
                    crate::analysis::status::group_digits(report.messages_written as i64),
                    report.elapsed_seconds
                ),
            );
            *task_entry.finished.lock().expect("replay poisoned") = Some((Utc::now(), report));
        });
        Ok(entry.view())
    }

    /// Newest first.
    pub fn list(&self) -> Vec<ReplayView> {
        let replays = self.replays.lock().expect("replays poisoned");
        replays.iter().rev().map(|entry| entry.view()).collect()
    }

    pub fn get(&self, id: &str) -> Option<ReplayView> {
        self.find(id).map(|entry| entry.view())
    }

    /// Asks a running replay to stop; it ends within a few seconds.
    pub fn cancel(&self, id: &str, who: &str) -> Option<ReplayView> {
        let entry = self.find(id)?;
        if entry.running() {
            entry
                .cancelled_by
                .lock()
                .expect("replay poisoned")
                .get_or_insert_with(|| who.to_string());
        }
        entry.cancel.cancel();
        Some(entry.view())
    }

    fn find(&self, id: &str) -> Option<Arc<Entry>> {
        let replays = self.replays.lock().expect("replays poisoned");
        replays.iter().find(|entry| entry.id == id).cloned()
    }

    pub async fn read_messages(
        &self,
        topic: &str,
        partition: i32,
        start: StartAt,
        limit: u64,
    ) -> Result<Vec<Record>, ReplayError> {
        let busy = || {
            ReplayError::Busy(format!(
                "{BROWSE_CONCURRENCY} message reads are already running; try again in a moment"
            ))
        };
        let _slot = tokio::time::timeout(BROWSE_QUEUE_WAIT, self.browse_slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        // Bounded as a whole: opening, planning and reading each have the
        // request timeout, a read never holds its slot for longer than this.
        let limit_time = self.timeout * 3;
        tokio::time::timeout(
            limit_time,
            super::read_messages(&self.kafka, topic, partition, start, limit, self.timeout),
        )
        .await
        .map_err(|_| {
            ReplayError::Kafka(format!(
                "reading {topic}/{partition} took longer than {limit_time:?}; the broker may be overloaded"
            ))
        })?
    }
}

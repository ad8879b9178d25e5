//! The embedded Kafka-compatible broker (tansu, sqlite storage) run in this
//! process on a runtime of its own, and a supervisor that restarts it when it
//! stops answering. Facts about tansu 0.6 this builds on: the README's
//! "Embedded broker limits".

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tansu_broker::broker::Broker;
use tansu_broker::coordinator::group::administrator::Controller;
use tansu_storage::StorageContainer;
use tempfile::TempDir;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::collector::kafka::KafkaClient;
use crate::store::Store;

const NODE_ID: i32 = 111;
const CLUSTER_ID: &str = "kafka-pulse";
const DB_FILE: &str = "kafka-pulse-broker.db";
/// Time the broker gets to accept connections after start.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Probe cadence and how many failed probes in a row mean "stopped answering".
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
const FAILED_PROBES_BEFORE_RESTART: u32 = 3;
/// How often the broker applies topic retention.
const MAINTENANCE_INTERVAL: &str = "60s";
/// How long to wait for a just-stopped broker to release its database.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a stopped broker task may take to finish before we go on.
const ABORT_WAIT: Duration = Duration::from_secs(5);
/// Worker threads of the broker's runtime.
const BROKER_THREADS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "the embedded broker cannot listen on {addr}: {reason}. Pass --kafka-listen with a free \
         address (e.g. --kafka-listen 127.0.0.1:19092), or --brokers HOST:PORT to watch an \
         existing cluster instead of starting one"
    )]
    Listen { addr: SocketAddr, reason: String },
    #[error(
        "cannot create the embedded broker's data directory {path}: {reason} (check --data-dir)"
    )]
    DataDir { path: String, reason: String },
    #[error("the embedded broker failed to start: {0}")]
    Start(String),
    #[error("the embedded broker did not accept connections on {0} within 20s")]
    NotReady(SocketAddr),
}

/// Where the broker keeps its sqlite file: a temporary directory removed at
/// exit, or the user's `--data-dir`.
enum DataDir {
    Temporary(TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temporary(dir) => dir.path(),
            DataDir::Kept(path) => path,
        }
    }
}

pub struct EmbeddedBroker {
    addr: SocketAddr,
    data_dir: DataDir,
    /// tansu's storage calls can hold a worker thread for seconds under
    /// load (seen: minutes, with 200k records carrying headers). On
    /// kafka-pulse's own runtime that starved the collector, the web server
    /// and the SIGTERM handler; on this one it only slows the broker. A
    /// stop drops the whole runtime, tansu's background tasks included.
    runtime: Option<Runtime>,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.drop_runtime();
    }
}

impl EmbeddedBroker {
    /// Starts the broker on `listen` (port 0 picks a free port) and waits until
    /// it accepts connections.
    pub async fn start(listen: SocketAddr, data_dir: Option<&Path>) -> Result<Self, BrokerError> {
        let data_dir = match data_dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|e| BrokerError::DataDir {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let absolute = std::fs::canonicalize(path).map_err(|e| BrokerError::DataDir {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                DataDir::Kept(absolute)
            }
            None => DataDir::Temporary(
                tempfile::Builder::new()
                    .prefix("kafka-pulse-broker-")
                    .tempdir()
                    .map_err(|e| BrokerError::DataDir {
                        path: std::env::temp_dir().display().to_string(),
                        reason: e.to_string(),
                    })?,
            ),
        };
        let addr = reserve_address(listen)?;
        let mut broker = EmbeddedBroker {
            addr,
            data_dir,
            runtime: None,
            task: None,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    fn storage_url(&self) -> Result<Url, BrokerError> {
        // tansu joins the URL path onto its working directory; an absolute
        // path after the first '/' makes that join yield the absolute path.
        let file = self.data_dir.path().join(DB_FILE);
        // Maintenance applies retention (cleanup.policy=delete, retention.ms).
        Url::parse(&format!(
            "sqlite:///{}?maintenance_interval={}",
            file.display(),
            MAINTENANCE_INTERVAL
        ))
        .map_err(|e| BrokerError::Start(format!("storage URL for {}: {e}", file.display())))
    }

    async fn spawn(&mut self) -> Result<(), BrokerError> {
        self.drop_runtime();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(BROKER_THREADS)
            .thread_name("embedded-broker")
            .enable_all()
            .build()
            .map_err(|e| BrokerError::Start(format!("cannot start its runtime: {e}")))?;
        let handle = runtime.handle().clone();
        self.runtime = Some(runtime);
        let listener = Url::parse(&format!("tcp://{}", self.addr))
            .map_err(|e| BrokerError::Start(e.to_string()))?;
        let storage = self.storage_url()?;
        // A broker stopped a moment ago may still hold the sqlite lock while
        // its aborted tasks are dropped; a lock held for longer means another
        // process uses the same --data-dir.
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut broker = loop {
            // Built on the broker's runtime: tansu starts its own tasks there.
            let built = handle
                .spawn(build(listener.clone(), storage.clone()))
                .await
                .unwrap_or_else(|e| Err(format!("building the broker failed: {e}")));
            match built {
                Ok(broker) => break broker,
                Err(reason) if reason.contains("database is locked") => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(BrokerError::DataDir {
                            path: self.data_dir.path().display().to_string(),
                            reason: "its database is locked, probably by another kafka-pulse \
                                     using the same --data-dir; stop it or pick another directory"
                                .to_string(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(reason) => return Err(BrokerError::Start(reason)),
            }
        };
        let file = self.data_dir.path().join(DB_FILE);
        if let Err(error) = handle.spawn(index_record_headers(file)).await {
            tracing::warn!("indexing the embedded broker's record headers failed: {error}");
        }
        let task = handle.spawn(async move {
            broker
                .serve(tokio::time::Instant::now())
                .await
                .map_err(|e| format!("{e:?}"))
        });
        self.task = Some(task);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), BrokerError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if let Some(task) = &self.task {
                if task.is_finished() {
                    let task = self.task.take().expect("checked");
                    let reason = match task.await {
                        Ok(Ok(())) => "it stopped right away".to_string(),
                        Ok(Err(e)) => e,
                        Err(e) => e.to_string(),
                    };
                    if reason.contains("AddrInUse") || reason.contains("in use") {
                        return Err(BrokerError::Listen {
                            addr: self.addr,
                            reason: "address already in use".to_string(),
                        });
                    }
                    return Err(BrokerError::Start(reason));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BrokerError::NotReady(self.addr));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the broker (tansu has no cancel API: its task is aborted, which
    /// closes its listener and connections, then its runtime is dropped with
    /// every task tansu started; data stays on disk).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // An abort lands only when the task next yields; a broker stuck
            // in a long storage call would hold a restart (seen: minutes
            // under heavy load). Give it a bounded time, then go on: the
            // restart retries the port and the database lock on its own.
            if tokio::time::timeout(ABORT_WAIT, task).await.is_err() {
                tracing::warn!(
                    "the embedded broker did not stop within {}s; starting the new one anyway",
                    ABORT_WAIT.as_secs()
                );
            }
        }
        self.drop_runtime();
    }

    /// Drops the broker's runtime and every task on it. Never blocks (a
    /// Runtime dropped in async code would panic); threads stuck in
    /// storage calls end on their own.
    fn drop_runtime(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Stops and starts the broker on the same address and data.
    pub async fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop().await;
        // The port is free once the aborted listener is dropped; retry briefly
        // in case the OS is slow to release it.
        let mut last = None;
        for _ in 0..20 {
            match self.spawn().await {
                Ok(()) => return Ok(()),
                Err(error @ BrokerError::Listen { .. }) => {
                    last = Some(error);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(error) => return Err(error),
            }
        }
        Err(last.expect("loop ran"))
    }

    fn task_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

/// tansu's `header` table refers to `record` with `on delete cascade` but
/// has no index on that key, and libsql enforces foreign keys: each record
/// that retention deletes scans every header row. With the demo's headers
/// and 15-minute retention, one maintenance pass took minutes while holding
/// the database lock, the broker stopped answering and every restart failed
/// with "database is locked" (bench/soak/run, ~16 min in; on a copy of that
/// database a pass of 3,911 records took ~42 ms a record without the index
/// and 0.10 s in all with it). Idempotent; failures only cost speed.
async fn index_record_headers(file: std::path::PathBuf) {
    let indexed = async {
        let db = libsql::Builder::new_local(&file).build().await?;
        let connection = db.connect()?;
        connection
            .execute(
                "create index if not exists header_record on header (topition, offset_id)",
                (),
            )
            .await
    }
    .await;
    if let Err(error) = indexed {
        tracing::warn!(
            "cannot index the record headers of {} (retention will be slow): {error}",
            file.display()
        );
    }
}

async fn build(
    listener: Url,
    storage: Url,
) -> Result<Broker<Controller<StorageContainer>, StorageContainer>, String> {
    Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(NODE_ID)
        .cluster_id(CLUSTER_ID)
        .incarnation_id(uuid::Uuid::new_v4())
        .advertised_listener(listener.clone())
        .listener(listener)
        .storage(storage)
        .silent(true)
        .build()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// Checks the address is free (giving the clear `--kafka-listen` error) and
/// turns port 0 into a concrete free port, which the broker must advertise.
fn reserve_address(listen: SocketAddr) -> Result<SocketAddr, BrokerError> {
    let listener = TcpListener::bind(listen).map_err(|e| BrokerError::Listen {
        addr: listen,
        reason: if e.kind() == std::io::ErrorKind::AddrInUse {
            "address already in use".to_string()
        } else {
            e.to_string()
        },
    })?;
    listener.local_addr().map_err(|e| BrokerError::Listen {
        addr: listen,
        reason: e.to_string(),
    })
}

/// Probes the broker and restarts it when it stops answering (tansu's storage
/// task dies on some requests, e.g. DeleteRecords, after which every request
/// fails). Returns the broker when `shutdown` fires, for the caller to stop.
pub async fn supervise(
    mut broker: EmbeddedBroker,
    store: Arc<Store>,
    shutdown: CancellationToken,
) -> EmbeddedBroker {
    let probe = KafkaClient::new(
        vec![broker.bootstrap()],
        "kafka-pulse-supervisor",
        PROBE_TIMEOUT,
    );
    let mut failures = 0u32;
    let mut last_error = String::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return broker,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
        let healthy = if broker.task_finished() {
            last_error = "the broker task ended".to_string();
            failures = FAILED_PROBES_BEFORE_RESTART;
            false
        } else {
            match probe.metadata().await {
                Ok(_) => true,
                Err(error) => {
                    last_error = error.to_string();
                    false
                }
            }
        };
        if healthy {
            failures = 0;
            continue;
        }
        failures += 1;
        if failures < FAILED_PROBES_BEFORE_RESTART {
            continue;
        }
        let why = format!(
            "embedded broker stopped answering ({failures} failed probes, last: {last_error}); restarting it with its data kept"
        );
        tracing::warn!("{why}");
        store.record_event("broker_restarted", &broker.bootstrap(), why);
        match broker.restart().await {
            Ok(()) => {
                tracing::info!(addr = %broker.bootstrap(), "embedded broker restarted");
                failures = 0;
            }
            Err(error) => {
                tracing::error!("embedded broker restart failed: {error}");
                store.record_event(
                    "broker_restart_failed",
                    &broker.bootstrap(),
                    error.to_string(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_port_error_names_both_options() {
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = holder.local_addr().unwrap();
        let error = reserve_address(addr).unwrap_err().to_string();
        assert!(error.contains("--kafka-listen"), "{error}");
        assert!(error.contains("--brokers"), "{error}");
        assert!(error.contains("in use"), "{error}");
    }

    /// The index retention needs is there once the broker runs, and the
    /// database plans the cascade from record to header with it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn record_headers_are_indexed_for_retention() {
        let dir = tempfile::tempdir().unwrap();
        let mut broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), Some(dir.path()))
            .await
            .expect("broker starts");
        let db = libsql::Builder::new_local(dir.path().join(DB_FILE))
            .build()
            .await
            .unwrap();
        let connection = db.connect().unwrap();
        let mut plan = connection
            .query(
                "explain query plan delete from header where topition = 1 and offset_id = 2",
                (),
            )
            .await
            .unwrap();
        let mut steps = Vec::new();
        while let Some(row) = plan.next().await.unwrap() {
            steps.push(row.get::<String>(3).unwrap());
        }
        assert!(
            steps.iter().any(|s| s.contains("header_record")),
            "{steps:?}"
        );
        broker.stop().await;
    }

    #[test]
    fn port_zero_becomes_a_real_port() {
        let addr = reserve_address("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(addr.port(), 0);
    }
}

//! Wiring: start the parts in order (web listener, then per cluster: broker,
//! collector, live renderer, sinks, demo; then the web server) and stop them
//! in reverse, each with the shared shutdown token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::analysis::{Analyzer, AnalyzerSettings};
use crate::collector::{self, kafka::KafkaClient, KafkaSource};
use crate::config::{ClusterConfig, Config};
use crate::store::{Store, DEFAULT_EVENT_CAPACITY, DEFAULT_HISTORY_POINTS};
use crate::web::{self, sse::LiveFragment, AppState};

/// How long shutdown waits for each part before giving up on it.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr} for the dashboard: {reason}. Pass --listen with a free address, e.g. --listen 127.0.0.1:8081")]
    WebListen { addr: SocketAddr, reason: String },
    #[cfg(feature = "embedded-broker")]
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
    #[error("this build has no embedded broker (built without the `embedded-broker` feature): pass --brokers HOST:PORT")]
    NoEmbeddedBroker,
    #[error("server error: {0}")]
    Serve(String),
    #[error("{0}")]
    Collector(String),
}

/// One watched cluster of a started kafka-pulse.
pub struct RunningCluster {
    /// Its name in URLs (`default` for one unnamed cluster).
    pub name: String,
    /// The bootstrap servers its collector reads (the embedded broker's
    /// address for the embedded cluster).
    pub kafka_bootstrap: String,
    pub store: Arc<Store>,
}

type SinkTask<E> = JoinHandle<Result<(), E>>;

/// The tasks of one cluster, stopped in reverse order of start.
struct ClusterTasks {
    name: String,
    demo: Option<JoinHandle<()>>,
    collector: JoinHandle<()>,
    render: JoinHandle<()>,
    influx: Option<SinkTask<crate::sinks::influxdb::service::InfluxError>>,
    elasticsearch: Option<SinkTask<crate::sinks::elasticsearch::service::EsError>>,
    notify: Option<SinkTask<crate::sinks::webhook::sender::WebhookError>>,
}

/// A started kafka-pulse; `stop` shuts it down.
pub struct RunningApp {
    pub web_addr: SocketAddr,
    /// Bootstrap servers the first cluster's collector watches (the
    /// embedded broker's address when it runs one).
    pub kafka_bootstrap: String,
    /// The first cluster's store.
    pub store: Arc<Store>,
    /// Every watched cluster, in configuration order.
    pub clusters: Vec<RunningCluster>,
    shutdown: CancellationToken,
    web_task: JoinHandle<Result<(), String>>,
    cluster_tasks: Vec<ClusterTasks>,
    #[cfg(feature = "embedded-broker")]
    broker_task: Option<JoinHandle<crate::broker::EmbeddedBroker>>,
}

/// Raises the soft open-file limit to the hard one where the OS allows, so
/// the HTTP server's connection cap leaves room for everything else; the
/// limit in force.
fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!("cannot raise the open-file limit: {error}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// What every cluster's web state shares.
struct Shared {
    metrics: Arc<web::metrics::MetricsCache>,
    hosts: Arc<web::host::HostPolicy>,
    access: Arc<web::auth::AccessPolicy>,
    viewers: Arc<tokio::sync::Semaphore>,
}

pub async fn start(config: Config) -> Result<RunningApp, AppError> {
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| AppError::WebListen {
            addr: config.listen,
            reason: if e.kind() == std::io::ErrorKind::AddrInUse {
                "address already in use".to_string()
            } else {
                e.to_string()
            },
        })?;
    let web_addr = listener.local_addr().map_err(|e| AppError::WebListen {
        addr: config.listen,
        reason: e.to_string(),
    })?;

    let clusters = config.clusters();
    let several = clusters.len() > 1;
    let shared = Shared {
        metrics: Arc::new(web::metrics::MetricsCache::new(config.metrics)),
        hosts: Arc::new(web::host::HostPolicy::new(&config.allowed_hosts)),
        access: Arc::new(web::auth::AccessPolicy::new(
            config.auth.clone(),
            config.auth_read,
            config.public_metrics,
            config.public_url.as_ref(),
        )),
        viewers: Arc::new(tokio::sync::Semaphore::new(web::sse::MAX_VIEWERS)),
    };
    #[cfg(feature = "embedded-broker")]
    let mut broker_task = None;
    // First every cluster's address (starting the embedded broker), so each
    // cluster's replays can be handed every cluster to write to.
    let mut reached = Vec::with_capacity(clusters.len());
    for cluster in &clusters {
        let store = Arc::new(Store::new(DEFAULT_HISTORY_POINTS, DEFAULT_EVENT_CAPACITY));
        let bootstrap: Vec<String> = match &cluster.brokers {
            Some(list) => list.clone(),
            None => {
                #[cfg(feature = "embedded-broker")]
                {
                    let broker = crate::broker::EmbeddedBroker::start(
                        config.kafka_listen,
                        config.data_dir.as_deref(),
                    )
                    .await?;
                    let address = broker.bootstrap();
                    tracing::info!(
                        cluster = cluster.url_name(),
                        kafka = %address,
                        data_dir = %broker.data_dir().display(),
                        "embedded broker listening"
                    );
                    store.record_event("broker_started", &address, "embedded broker started");
                    broker_task = Some(tokio::spawn(crate::broker::supervise(
                        broker,
                        store.clone(),
                        shutdown.clone(),
                    )));
                    vec![address]
                }
                #[cfg(not(feature = "embedded-broker"))]
                {
                    return Err(AppError::NoEmbeddedBroker);
                }
            }
        };
        reached.push((cluster, bootstrap, store));
    }
    // Every rdkafka user, replays included, connects with its cluster's own
    // security (src/security/).
    let kafka_clusters = Arc::new(crate::replay::clusters::KafkaClusters::new(
        reached
            .iter()
            .map(|(cluster, bootstrap, _)| {
                (
                    cluster.url_name().to_string(),
                    crate::security::KafkaAccess::new(
                        bootstrap.join(","),
                        cluster.kafka_security.clone(),
                    ),
                )
            })
            .collect(),
    ));
    let mut states = Vec::with_capacity(clusters.len());
    let mut running = Vec::with_capacity(clusters.len());
    let mut cluster_tasks = Vec::with_capacity(clusters.len());
    for (cluster, bootstrap, store) in reached {
        let mut place = if several {
            web::clusters::ClusterPlace::among_several(cluster.url_name())
        } else {
            web::clusters::ClusterPlace::single(cluster.name.clone())
        };
        place.lag_threshold = cluster.lag_thresholds.messages;
        let place = Arc::new(place);
        let (state, tasks) = start_cluster(
            &config,
            cluster,
            bootstrap.clone(),
            store.clone(),
            place,
            &shared,
            &kafka_clusters,
            &shutdown,
        )?;
        states.push(state);
        cluster_tasks.push(tasks);
        running.push(RunningCluster {
            name: cluster.url_name().to_string(),
            kafka_bootstrap: bootstrap.join(","),
            store,
        });
    }
    // Every cluster's pages know every cluster (the switcher, the home page).
    let directory = Arc::new(web::clusters::Directory {
        members: states.iter().map(AppState::member).collect(),
    });
    for state in &mut states {
        state.directory = directory.clone();
    }

    let router = web::router_for(states);
    let web_shutdown = shutdown.clone();
    let limits = config
        .web_limits
        .unwrap_or_else(|| web::server::ServerLimits::for_open_files(raise_open_file_limit()));
    let web_task = tokio::spawn(async move {
        web::server::serve(listener, router, limits, web_shutdown).await;
        Ok::<(), String>(())
    });
    tracing::info!("dashboard on http://{web_addr}");

    Ok(RunningApp {
        web_addr,
        kafka_bootstrap: running[0].kafka_bootstrap.clone(),
        store: running[0].store.clone(),
        clusters: running,
        shutdown,
        web_task,
        cluster_tasks,
        #[cfg(feature = "embedded-broker")]
        broker_task,
    })
}

/// Starts one cluster's collector, live renderer, sinks and demo traffic;
/// its web state (without the directory of all clusters yet). `clusters`:
/// every cluster, for replays into another one.
#[allow(clippy::too_many_arguments)]
fn start_cluster(
    config: &Config,
    cluster: &ClusterConfig,
    bootstrap: Vec<String>,
    store: Arc<Store>,
    place: Arc<web::clusters::ClusterPlace>,
    shared: &Shared,
    clusters: &Arc<crate::replay::clusters::KafkaClusters>,
    shutdown: &CancellationToken,
) -> Result<(AppState, ClusterTasks), AppError> {
    let name = cluster.url_name().to_string();
    let kafka_bootstrap = bootstrap.join(",");
    let security = &cluster.kafka_security;
    // Every Kafka client below gets the same security (src/security/).
    let kafka = crate::security::KafkaAccess::new(&kafka_bootstrap, security.clone());
    if cluster.brokers.is_some() {
        security.log_notes();
        tracing::info!(
            cluster = %name,
            kafka = %kafka_bootstrap,
            "Kafka connections: {}",
            security.describe()
        );
    }
    let unreachable_hint = match (&cluster.brokers, config.clusters.is_empty()) {
        (Some(_), true) => {
            "check that --brokers (KAFKA_PULSE_BROKERS) names reachable Kafka listeners"
        }
        (Some(_), false) => "check that this cluster's brokers are reachable Kafka listeners",
        (None, _) => "the embedded broker is not answering; it is restarted automatically",
    };

    let client = Arc::new(
        KafkaClient::new(bootstrap, "kafka-pulse-collector", config.request_timeout)
            .with_security(security.clone()),
    );
    let analyzer = Analyzer::new(AnalyzerSettings {
        status_window: config.status_window,
        forget_groups_after: config.forget_groups_after.map(|d| d.as_secs_f64()),
        ..AnalyzerSettings::default()
    });
    let exact_times = match cluster.exact_lag_fetches {
        0 => None,
        per_tick => Some(
            collector::exact::ExactTimes::start(&kafka, per_tick, config.request_timeout)
                .map_err(AppError::Collector)?,
        ),
    };
    let collector = tokio::spawn(collector::run(
        KafkaSource::new(client, unreachable_hint, cluster.filters.clone()),
        analyzer,
        store.clone(),
        cluster.interval,
        cluster.lag_thresholds.clone(),
        exact_times,
        shutdown.clone(),
    ));

    let (live_tx, live_rx) = watch::channel(Arc::new(LiveFragment::default()));
    let render = tokio::spawn(web::pages::overview::render_loop(
        store.clone(),
        place.clone(),
        live_tx,
        shutdown.clone(),
    ));
    let state = AppState {
        store: store.clone(),
        live: live_rx,
        interval: cluster.interval,
        request_timeout: config.request_timeout,
        metrics: shared.metrics.clone(),
        shutdown: shutdown.clone(),
        enable_writes: config.enable_writes,
        hosts: shared.hosts.clone(),
        access: shared.access.clone(),
        viewers: shared.viewers.clone(),
        replays: Some(Arc::new(crate::replay::service::ReplayService::new(
            name.clone(),
            kafka.clone(),
            clusters.clone(),
            config.request_timeout,
            store.clone(),
            shutdown.clone(),
        ))),
        place,
        directory: Default::default(),
    };

    let influx = config.influx.clone().map(|influx| {
        tokio::spawn(crate::sinks::influxdb::run(
            influx,
            cluster.name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });
    let elasticsearch = config.elasticsearch.clone().map(|es| {
        tokio::spawn(crate::sinks::elasticsearch::run(
            es,
            cluster.name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });
    let notify = config.notify.clone().map(|notify| {
        tokio::spawn(crate::sinks::webhook::run(
            notify,
            cluster.name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });

    let demo = cluster.demo.then(|| {
        if cluster.brokers.is_some() {
            tracing::warn!(
                cluster = %name,
                kafka = %kafka_bootstrap,
                "--demo: producing demo traffic into this cluster (topics {})",
                crate::demo::TOPIC_NAMES.join(", ")
            );
        }
        let kafka = kafka.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(error) = crate::demo::run(kafka, shutdown).await {
                tracing::error!("demo traffic failed: {error}");
            }
        })
    });
    Ok((
        state,
        ClusterTasks {
            name,
            demo,
            collector,
            render,
            influx,
            elasticsearch,
            notify,
        },
    ))
}

async fn wait_bounded<T>(what: &str, task: JoinHandle<T>) -> Option<T> {
    match tokio::time::timeout(STOP_TIMEOUT, task).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::warn!("{what} ended abnormally: {error}");
            None
        }
        Err(_) => {
            tracing::warn!("{what} did not stop within {STOP_TIMEOUT:?}; leaving it");
            None
        }
    }
}

impl RunningApp {
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops everything in reverse order of start, each part bounded in time.
    pub async fn stop(self) -> Result<(), AppError> {
        self.shutdown.cancel();
        let served = wait_bounded("web server", self.web_task).await;
        // Every cluster's parts stop at once; each part is bounded in time.
        futures::future::join_all(self.cluster_tasks.into_iter().map(ClusterTasks::stop)).await;
        #[cfg(feature = "embedded-broker")]
        if let Some(task) = self.broker_task {
            if let Some(mut broker) = wait_bounded("broker supervisor", task).await {
                broker.stop().await;
            }
        }
        match served {
            Some(Err(error)) => Err(AppError::Serve(error)),
            _ => Ok(()),
        }
    }
}

impl ClusterTasks {
    async fn stop(self) {
        let name = self.name;
        if let Some(task) = self.demo {
            wait_bounded(&format!("demo traffic ({name})"), task).await;
        }
        wait_bounded(&format!("collector ({name})"), self.collector).await;
        if let Some(task) = self.influx {
            if let Some(Err(error)) = wait_bounded("InfluxDB sink", task).await {
                tracing::error!(cluster = %name, "InfluxDB sink: {error}");
            }
        }
        if let Some(task) = self.elasticsearch {
            if let Some(Err(error)) = wait_bounded("Elasticsearch sink", task).await {
                tracing::error!(cluster = %name, "Elasticsearch sink: {error}");
            }
        }
        if let Some(task) = self.notify {
            if let Some(Err(error)) = wait_bounded("webhook notifier", task).await {
                tracing::error!(cluster = %name, "webhook notifier: {error}");
            }
        }
        wait_bounded(&format!("live renderer ({name})"), self.render).await;
    }
}

/// The dashboard process: runs until Ctrl-C or SIGTERM on a runtime of its
/// own; the exit code says how it ended (1: failed at run time). Not async,
/// so the binary does not compile the app's futures again (src/runtime.rs).
pub fn run_to_exit(config: Config) -> std::process::ExitCode {
    crate::runtime::block_on_to_exit(async move {
        match run(config).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("kafka-pulse: {error}");
                std::process::ExitCode::from(1)
            }
        }
    })
}

/// Runs until Ctrl-C or SIGTERM, then stops cleanly.
pub async fn run(config: Config) -> Result<(), AppError> {
    let app = start(config).await?;
    let token = app.shutdown_token();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = token.cancelled() => {}
    }
    app.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

//! Wiring: start the parts in order (web listener, broker, collector, web,
//! demo) and stop them in reverse, each with the shared shutdown token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::analysis::{Analyzer, AnalyzerSettings};
use crate::collector::{self, kafka::KafkaClient, KafkaSource};
use crate::config::Config;
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

/// A started kafka-pulse; `stop` shuts it down.
pub struct RunningApp {
    pub web_addr: SocketAddr,
    /// Bootstrap servers the collector watches (the embedded broker's address
    /// when it runs one).
    pub kafka_bootstrap: String,
    pub store: Arc<Store>,
    shutdown: CancellationToken,
    web_task: JoinHandle<Result<(), String>>,
    demo_task: Option<JoinHandle<()>>,
    influx_task: Option<JoinHandle<Result<(), crate::sinks::influxdb::service::InfluxError>>>,
    es_task: Option<JoinHandle<Result<(), crate::sinks::elasticsearch::service::EsError>>>,
    notify_task: Option<JoinHandle<Result<(), crate::sinks::webhook::sender::WebhookError>>>,
    collector_task: JoinHandle<()>,
    render_task: JoinHandle<()>,
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
    let store = Arc::new(Store::new(DEFAULT_HISTORY_POINTS, DEFAULT_EVENT_CAPACITY));

    #[cfg(feature = "embedded-broker")]
    let mut broker_task = None;
    let bootstrap: Vec<String> = match &config.brokers {
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
    let kafka_bootstrap = bootstrap.join(",");
    // Every Kafka client below gets the same security (src/security/).
    let kafka = crate::security::KafkaAccess::new(&kafka_bootstrap, config.kafka_security.clone());
    if config.brokers.is_some() {
        config.kafka_security.log_notes();
        tracing::info!(
            kafka = %kafka_bootstrap,
            "Kafka connections: {}",
            config.kafka_security.describe()
        );
    }
    let unreachable_hint = if config.brokers.is_some() {
        "check that --brokers (KAFKA_PULSE_BROKERS) names reachable Kafka listeners"
    } else {
        "the embedded broker is not answering; it is restarted automatically"
    };

    let client = Arc::new(
        KafkaClient::new(bootstrap, "kafka-pulse-collector", config.request_timeout)
            .with_security(config.kafka_security.clone()),
    );
    let analyzer = Analyzer::new(AnalyzerSettings {
        status_window: config.status_window,
        forget_groups_after: config.forget_groups_after.map(|d| d.as_secs_f64()),
        ..AnalyzerSettings::default()
    });
    let exact_times = match config.exact_lag_fetches {
        0 => None,
        per_tick => Some(
            collector::exact::ExactTimes::start(&kafka, per_tick, config.request_timeout)
                .map_err(AppError::Collector)?,
        ),
    };
    let collector_task = tokio::spawn(collector::run(
        KafkaSource::new(client, unreachable_hint, config.filters.clone()),
        analyzer,
        store.clone(),
        config.interval,
        config.lag_thresholds.clone(),
        exact_times,
        shutdown.clone(),
    ));

    let (live_tx, live_rx) = watch::channel(Arc::new(LiveFragment::default()));
    let render_task = tokio::spawn(web::pages::overview::render_loop(
        store.clone(),
        live_tx,
        shutdown.clone(),
    ));
    let state = AppState {
        store: store.clone(),
        live: live_rx,
        interval: config.interval,
        request_timeout: config.request_timeout,
        metrics: Arc::new(web::metrics::MetricsCache::new(config.metrics)),
        shutdown: shutdown.clone(),
        enable_writes: config.enable_writes,
        hosts: Arc::new(web::host::HostPolicy::new(&config.allowed_hosts)),
        access: Arc::new(web::auth::AccessPolicy::new(
            config.auth.clone(),
            config.auth_read,
            config.public_metrics,
            config.public_url.as_ref(),
        )),
        viewers: Arc::new(tokio::sync::Semaphore::new(web::sse::MAX_VIEWERS)),
        replays: Some(Arc::new(crate::replay::service::ReplayService::new(
            kafka.clone(),
            config.request_timeout,
            store.clone(),
            shutdown.clone(),
        ))),
    };
    let router = web::router(state);
    let web_shutdown = shutdown.clone();
    let limits = config
        .web_limits
        .unwrap_or_else(|| web::server::ServerLimits::for_open_files(raise_open_file_limit()));
    let web_task = tokio::spawn(async move {
        web::server::serve(listener, router, limits, web_shutdown).await;
        Ok::<(), String>(())
    });
    tracing::info!("dashboard on http://{web_addr}");

    let influx_task = config.influx.clone().map(|influx| {
        tokio::spawn(crate::sinks::influxdb::run(
            influx,
            config.cluster_name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });

    let es_task = config.elasticsearch.clone().map(|es| {
        tokio::spawn(crate::sinks::elasticsearch::run(
            es,
            config.cluster_name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });

    let notify_task = config.notify.clone().map(|notify| {
        tokio::spawn(crate::sinks::webhook::run(
            notify,
            config.cluster_name.clone(),
            store.clone(),
            shutdown.clone(),
        ))
    });

    let demo_task = config.demo.then(|| {
        if config.brokers.is_some() {
            tracing::warn!(
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

    Ok(RunningApp {
        web_addr,
        kafka_bootstrap,
        store,
        shutdown,
        web_task,
        demo_task,
        influx_task,
        es_task,
        notify_task,
        collector_task,
        render_task,
        #[cfg(feature = "embedded-broker")]
        broker_task,
    })
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
        if let Some(task) = self.demo_task {
            wait_bounded("demo traffic", task).await;
        }
        wait_bounded("collector", self.collector_task).await;
        if let Some(task) = self.influx_task {
            if let Some(Err(error)) = wait_bounded("InfluxDB sink", task).await {
                tracing::error!("InfluxDB sink: {error}");
            }
        }
        if let Some(task) = self.es_task {
            if let Some(Err(error)) = wait_bounded("Elasticsearch sink", task).await {
                tracing::error!("Elasticsearch sink: {error}");
            }
        }
        if let Some(task) = self.notify_task {
            if let Some(Err(error)) = wait_bounded("webhook notifier", task).await {
                tracing::error!("webhook notifier: {error}");
            }
        }
        wait_bounded("live renderer", self.render_task).await;
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

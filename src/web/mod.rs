//! HTTP: dashboard pages, live SSE fragments, JSON API and /metrics. Reads
//! the store only; never talks to Kafka.

pub mod api;
pub mod assets;
pub mod auth;
pub mod clusters;
pub mod error;
pub mod format;
pub mod host;
pub mod limits;
pub mod messages;
pub mod metrics;
pub mod pages;
pub mod replays;
pub mod server;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use error::ApiError;
use sse::LiveFragment;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub live: watch::Receiver<Arc<LiveFragment>>,
    pub interval: Duration,
    pub request_timeout: Duration,
    /// /metrics: its options (process-wide). The router keeps a render
    /// cache per cluster of its own (`metrics::Exposition`).
    pub metrics: Arc<metrics::MetricsCache>,
    pub shutdown: CancellationToken,
    /// Replays and the message browser (the only parts of the web layer
    /// that reach Kafka, through the replay module); None in tests of pages
    /// that don't need it.
    pub replays: Option<Arc<crate::replay::service::ReplayService>>,
    /// `--enable-writes`: replays may be started from the web.
    pub enable_writes: bool,
    /// Host names answered (DNS rebinding protection).
    pub hosts: Arc<host::HostPolicy>,
    /// Who may read and write; the pages' CSRF token.
    pub access: Arc<auth::AccessPolicy>,
    /// Places for live viewers (SSE streams), [`sse::MAX_VIEWERS`] in all.
    pub viewers: Arc<tokio::sync::Semaphore>,
    /// The cluster this state serves and where its pages and API live.
    pub place: Arc<clusters::ClusterPlace>,
    /// Every watched cluster (the home page, the switcher, /metrics).
    pub directory: Arc<clusters::Directory>,
}

impl AppState {
    /// This cluster as the all-clusters views see it.
    pub fn member(&self) -> clusters::Member {
        clusters::Member {
            place: self.place.clone(),
            store: self.store.clone(),
            interval: self.interval,
            request_timeout: self.request_timeout,
        }
    }
}

/// No inline script or style anywhere: everything comes from /static.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such page; the dashboard is at /, the API under /api/v1".to_string(),
    }
}

/// A known path asked with a method it does not take: the documented JSON
/// error, not axum's empty 405.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{method} is not allowed on {}; the API's writes are POST/DELETE /api/v1/replays, everything else is GET",
            uri.path()
        ),
    }
}

/// The whole HTTP surface of one cluster; tests drive it with `oneshot`.
pub fn router(state: AppState) -> Router {
    router_for(vec![state])
}

/// One cluster's pages, relative to where they are served (`/` or
/// `/clusters/NAME`), with their header (see `pages::chrome`).
fn cluster_pages<S: Clone + Send + Sync + 'static>(state: &AppState) -> Router<S> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/wall", get(pages::overview))
        .route("/fragments/overview", get(pages::overview_fragment))
        .route("/live", get(pages::overview::live))
        .route("/messages", get(messages::page))
        .route("/replays", get(replays::page))
        .merge(pages::routes(state.place.clone()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::chrome::scope,
        ))
        .with_state(state.clone())
}

/// One cluster's API, relative to `/api/v1` or `/api/v1/clusters/NAME`.
fn cluster_api() -> Router<AppState> {
    Router::new()
        .route("/health", get(api::health))
        .route("/brokers", get(api::brokers))
        .route("/topics", get(api::topics))
        .route("/topics/{topic}", get(api::topic))
        .route("/groups", get(api::groups))
        .route("/groups/{group}", get(api::group))
        .route("/groups/{group}/heatmap", get(api::heatmap))
        .route("/events", get(api::events))
        .route("/series", get(api::series))
        .route("/topics/{topic}/messages", get(messages::api))
        .route(
            "/replays",
            axum::routing::post(replays::start).get(replays::list),
        )
        .route("/replays/{id}", get(replays::get).delete(replays::cancel))
}

/// The single-cluster URLs, answered with several clusters by a redirect
/// to the home page (pages) or a 409 naming the clusters (API).
const SINGLE_CLUSTER_PAGES: &[&str] = &[
    "/messages",
    "/replays",
    "/topics",
    "/topics/{topic}",
    "/groups",
    "/groups/{group}",
    "/brokers",
    "/events",
];
const SINGLE_CLUSTER_API: &[&str] = &[
    "/api/v1/brokers",
    "/api/v1/topics",
    "/api/v1/topics/{topic}",
    "/api/v1/groups",
    "/api/v1/groups/{group}",
    "/api/v1/groups/{group}/heatmap",
    "/api/v1/events",
    "/api/v1/series",
    "/api/v1/topics/{topic}/messages",
    "/api/v1/replays",
    "/api/v1/replays/{id}",
];

/// What /metrics serves: every cluster, each with a render cache of its
/// own (its snapshots come on its own clock), with the options of the
/// first state (they are process-wide).
fn exposition(states: &[AppState]) -> metrics::Exposition {
    let first = &states[0];
    metrics::Exposition::new(
        states
            .iter()
            .map(|s| (s.place.clone(), s.store.clone()))
            .collect(),
        first.metrics.options(),
        first.access.clone(),
    )
}

/// The whole HTTP surface for every watched cluster (one state each, in
/// configuration order): each cluster's pages under `/clusters/NAME` and API
/// under `/api/v1/clusters/NAME`, plus the single-cluster URLs (see
/// `clusters.rs`), `/metrics` and `/static`.
pub fn router_for(mut states: Vec<AppState>) -> Router {
    let first = states.first().expect("at least one cluster").clone();
    let directory = if first.directory.members.is_empty() {
        // States built by hand (tests): every page still knows every
        // cluster (the switcher).
        let directory = Arc::new(clusters::Directory {
            members: states.iter().map(AppState::member).collect(),
        });
        for state in &mut states {
            state.directory = directory.clone();
        }
        directory
    } else {
        first.directory.clone()
    };
    let first = states[0].clone();
    let mut app = Router::new();
    for state in &states {
        let name = &state.place.name;
        app = app
            .nest(&format!("/clusters/{name}"), cluster_pages(state))
            .nest(
                &format!("/api/v1/clusters/{name}"),
                cluster_api().with_state(state.clone()),
            );
    }
    if states.len() == 1 {
        app = app
            .merge(cluster_pages(&first))
            .nest("/api/v1", cluster_api().with_state(first.clone()))
            // The one cluster's outputs are labelled with Kafka's cluster id
            // when it has no configured name, so links built from the label
            // (alerts, dashboards) reach its pages under any name.
            .route("/clusters/{name}/{*rest}", get(clusters::to_single))
            .route("/clusters/{name}/", get(clusters::to_single))
            .route("/clusters/{name}", get(clusters::to_single));
    } else {
        app = app
            .route("/", get(pages::home::page))
            .route("/wall", get(pages::home::page))
            .route("/api/v1/health", get(clusters::health));
        for path in SINGLE_CLUSTER_PAGES {
            app = app.route(path, get(clusters::to_home));
        }
        for path in SINGLE_CLUSTER_API {
            app = app.route(path, axum::routing::any(clusters::ambiguous));
        }
        // The pages' live parts are read by scripts, not people: a 409
        // naming the clusters, not a redirect to a page.
        for path in ["/live", "/live/{*rest}", "/fragments/{*rest}"] {
            app = app.route(path, get(clusters::ambiguous));
        }
    }
    app.route("/clusters", get(pages::home::page))
        .merge(pages::home_live::routes(&first))
        .route("/api/v1/clusters", get(clusters::list))
        .with_state(directory.clone())
        .route(
            "/metrics",
            get(metrics::metrics).with_state(Arc::new(exposition(&states))),
        )
        .route("/static/{file}", get(assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Wallboard mode and display parameters of every page (a 400 for
        // a bad value).
        .layer(middleware::from_fn_with_state(
            directory.clone(),
            pages::wall::scope,
        ))
        .layer(middleware::from_fn_with_state(
            first.access.clone(),
            auth::guard,
        ))
        .layer(middleware::from_fn_with_state(
            first.hosts.clone(),
            host::check_host,
        ))
        .layer(middleware::from_fn(limits::check_request_size))
        .layer(middleware::from_fn(security_headers))
}

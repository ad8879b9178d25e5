//! HTTP: dashboard pages, live SSE fragments, JSON API and /metrics. Reads
//! the store only; never talks to Kafka.

pub mod api;
pub mod assets;
pub mod auth;
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
    /// /metrics: its options and the render of the latest scraped snapshot.
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

/// The whole HTTP surface; tests drive it with `oneshot`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/fragments/overview", get(pages::overview_fragment))
        .route("/live", get(pages::overview::live))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/brokers", get(api::brokers))
        .route("/api/v1/topics", get(api::topics))
        .route("/api/v1/topics/{topic}", get(api::topic))
        .route("/api/v1/groups", get(api::groups))
        .route("/api/v1/groups/{group}", get(api::group))
        .route("/api/v1/events", get(api::events))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/topics/{topic}/messages", get(messages::api))
        .route(
            "/api/v1/replays",
            axum::routing::post(replays::start).get(replays::list),
        )
        .route(
            "/api/v1/replays/{id}",
            get(replays::get).delete(replays::cancel),
        )
        .route("/messages", get(messages::page))
        .route("/replays", get(replays::page))
        .route("/static/{file}", get(assets::serve))
        .merge(pages::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.access.clone(),
            auth::guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.hosts.clone(),
            host::check_host,
        ))
        .layer(middleware::from_fn(limits::check_request_size))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

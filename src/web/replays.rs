//! /api/v1/replays (start, list with progress, cancel) and the /replays
//! page; with several clusters both per cluster (/api/v1/clusters/NAME/replays,
//! /clusters/NAME/replays), and a replay may write into another cluster
//! (`"to_cluster": "NAME"`). Starting needs `Content-Type: application/json`, which a browser
//! sends cross-site only after a CORS preflight this server never grants,
//! so another web page cannot start a replay behind a user's back.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use super::auth::Who;
use super::error::ApiError;
use super::AppState;
use crate::replay::service::{ReplayService, StartError};
use crate::replay::spec::ReplayRequest;

/// Why a write from the web is refused, and how to allow it.
const WRITES_OFF: &str = "writes from the web are off: start kafka-pulse with --enable-writes \
     (KAFKA_PULSE_ENABLE_WRITES=true) to start replays here, or run `kafka-pulse replay` in a shell";

fn service(state: &AppState) -> Result<&Arc<ReplayService>, ApiError> {
    state.replays.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "replays are not available in this process (no Kafka connection)".into(),
    })
}

/// Writes from the web are refused unless `--enable-writes`.
fn writes_allowed(state: &AppState) -> Result<(), ApiError> {
    if state.enable_writes {
        return Ok(());
    }
    Err(ApiError {
        status: StatusCode::FORBIDDEN,
        message: WRITES_OFF.into(),
    })
}

/// Who asked, for the audit trail of events (set by the auth guard).
fn who(who: Option<axum::Extension<Who>>) -> String {
    who.map_or_else(
        || "an unknown client".to_string(),
        |axum::Extension(Who(who))| who,
    )
}

pub async fn start(
    State(state): State<AppState>,
    asked_by: Option<axum::Extension<Who>>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    writes_allowed(&state)?;
    let service = service(&state)?;
    let Json(request) = body.map_err(|rejection| ApiError {
        status: rejection.status(),
        message: format!(
            "{}; send a JSON object like {{\"from\":\"orders\",\"to\":\"orders-replay\",\"speed\":1}} \
             (optionally \"to_cluster\":\"NAME\" to write into another cluster) \
             with Content-Type: application/json",
            rejection.body_text()
        ),
    })?;
    match service.start(request, &who(asked_by)).await {
        Ok(view) => Ok((StatusCode::CREATED, Json(view)).into_response()),
        Err(StartError::Invalid(message)) => Err(ApiError::bad_request(message)),
        Err(StartError::Busy(message)) => Err(ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message,
        }),
        Err(StartError::Kafka(message)) => Err(ApiError {
            status: StatusCode::BAD_GATEWAY,
            message,
        }),
        Err(StartError::Denied(message)) => Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message,
        }),
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let replays = service(&state)?.list();
    Ok(Json(serde_json::json!({ "replays": replays })).into_response())
}

fn unknown(state: &AppState, id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no replay {id:?}; GET {}/replays lists the ones this process knows",
        state.place.api
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = service(&state)?
        .get(&id)
        .ok_or_else(|| unknown(&state, &id))?;
    Ok(Json(view).into_response())
}

/// 202: the replay stops between two records and confirms what is in
/// flight; GET shows "cancelled" a moment later.
pub async fn cancel(
    State(state): State<AppState>,
    asked_by: Option<axum::Extension<Who>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    writes_allowed(&state)?;
    let view = service(&state)?
        .cancel(&id, &who(asked_by))
        .ok_or_else(|| unknown(&state, &id))?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

#[derive(Template)]
#[template(path = "replays.html")]
struct ReplaysPage {
    topics: Vec<String>,
    interval_ms: u128,
    /// Shown instead of the form when writes from the web are off.
    writes_off: Option<&'static str>,
    /// Sent back with each write (see web::auth).
    csrf_token: String,
    /// This cluster's API prefix: the page's script calls it, so the page
    /// works at /replays and at /clusters/NAME/replays alike.
    api: String,
    /// This cluster's name (the target cluster preselected).
    cluster: String,
    /// Every watched cluster, for the target-cluster select; empty with one
    /// cluster (no select).
    clusters: Vec<String>,
}

pub async fn page(State(state): State<AppState>) -> Response {
    let snapshot = state.store.latest();
    let page = ReplaysPage {
        topics: snapshot.topics.iter().map(|t| t.name.to_string()).collect(),
        interval_ms: state.interval.as_millis(),
        writes_off: (!state.enable_writes).then_some(WRITES_OFF),
        csrf_token: state.access.csrf_token.clone(),
        api: state.place.api.clone(),
        cluster: state.place.name.clone(),
        clusters: if state.directory.is_several() {
            state
                .directory
                .names()
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        },
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => ApiError::internal(format!("rendering the replays page failed: {error}"))
            .into_response(),
    }
}

//! Sizes a request may have, answered in the documented JSON error form.
//! hyper itself refuses a request head over the server's buffer
//! (`MAX_HEAD_BYTES` in server.rs) with a bare 431 before any handler runs;
//! these limits are below it, so a too-long URL or too many headers get an
//! answer that says what is wrong.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Longer than any filter, topic or group name the pages link to (names are
/// at most 249 bytes in Kafka, group ids are in practice far below this).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// All header names and values together.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

pub async fn check_request_size(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "the URL is {uri_bytes} bytes, more than the {MAX_URI_BYTES} kafka-pulse takes; \
                 shorten the filter or query"
            ),
        }
        .into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "the request headers are {header_bytes} bytes, more than the {MAX_HEADER_BYTES} \
                 kafka-pulse takes; send fewer or smaller cookies and headers"
            ),
        }
        .into_response();
    }
    next.run(request).await
}

//! Static files, embedded in the binary (no CDN, nothing to install next
//! to it), each with its content type and an ETag so a reload costs a 304.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Everything under /static. uPlot 1.6.32 (MIT, static/uPlot.LICENSE) is
/// vendored as published on npm.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "pulse.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/pulse.css"),
    },
    Asset {
        name: "pulse.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/pulse.js"),
    },
    Asset {
        name: "replays.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/replays.js"),
    },
    Asset {
        name: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/charts.js"),
    },
    Asset {
        name: "heatmap.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/heatmap.js"),
    },
    Asset {
        name: "wall.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/wall.js"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/uPlot.min.css"),
    },
];

/// FNV-1a of the body: changes whenever the file does.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf29ce484222325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3)
    });
    format!("\"{hash:016x}\"")
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag(a.body)).collect())
}

pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found(format!("no static file '{name}'")).into_response();
    };
    let asset = &ASSETS[index];
    let tag = &etags()[index];
    // "no-cache" = revalidate each time: a new binary's files show at once.
    let cache = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::ETAG,
            HeaderValue::from_str(tag).expect("an etag is ASCII"),
        ),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

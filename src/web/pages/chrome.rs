//! The header of every cluster page: the nav links under the cluster's
//! base, and, with several clusters, the switcher (this cluster's name, the
//! same page in each other cluster, all clusters).
//!
//! `base.html` is shared by page structs this module does not own (the
//! replays page), and what the header shows depends on the request (which
//! cluster, which page), not on the page's data. So a middleware on each
//! cluster's pages puts the request's [`PageContext`] in a task-local while
//! the handler runs, and `base.html` asks [`current`] for the header. Pages
//! rendered outside a cluster's routes get today's single-cluster header.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::Link;
use crate::web::clusters::{ClusterPlace, Directory, Member};
use crate::web::{format, AppState};

tokio::task_local! {
    static CONTEXT: PageContext;
}

/// Which cluster a page request is about, and which of its pages.
struct PageContext {
    place: Arc<ClusterPlace>,
    directory: Arc<Directory>,
    /// The request path relative to the cluster's base (`/topics/orders`).
    path: String,
    query: Option<String>,
}

/// What the header of a cluster page shows.
pub struct Chrome {
    /// The brand link: the home page (`/`, the overview with one cluster;
    /// `/clusters` with several, where `/` would only redirect there).
    pub brand_href: String,
    /// The cluster's overview.
    pub overview_href: String,
    /// Prefix of the other page links ("" or `/clusters/NAME`).
    pub base: String,
    /// The API link (this cluster's health).
    pub api_href: String,
    /// Only with several clusters.
    pub switcher: Option<Switcher>,
}

/// Links to the same page in the other clusters.
pub struct Switcher {
    pub current: String,
    pub others: Vec<Link>,
    pub all_href: &'static str,
}

/// Runs a cluster page's handler with its [`PageContext`] in scope.
pub async fn scope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Nested routers see the path without `/clusters/NAME`.
    let context = PageContext {
        place: state.place.clone(),
        directory: state.directory.clone(),
        path: request.uri().path().to_string(),
        query: request.uri().query().map(str::to_string),
    };
    CONTEXT.scope(context, next.run(request)).await
}

/// The header of the page being rendered.
pub fn current() -> Chrome {
    CONTEXT
        .try_with(Chrome::build)
        .unwrap_or_else(|_| Chrome::build_for(&ClusterPlace::default(), None))
}

impl Chrome {
    fn build(context: &PageContext) -> Chrome {
        let switcher = context
            .directory
            .is_several()
            .then(|| Switcher::build(context));
        Chrome::build_for(&context.place, switcher)
    }

    fn build_for(place: &ClusterPlace, switcher: Option<Switcher>) -> Chrome {
        Chrome {
            brand_href: if switcher.is_some() { "/clusters" } else { "/" }.to_string(),
            overview_href: overview_href(place),
            base: place.base.clone(),
            api_href: format!("{}/health", place.api),
            switcher,
        }
    }
}

fn overview_href(place: &ClusterPlace) -> String {
    if place.base.is_empty() {
        "/".to_string()
    } else {
        place.base.clone()
    }
}

impl Switcher {
    fn build(context: &PageContext) -> Switcher {
        Switcher {
            current: context.place.name.clone(),
            others: context
                .directory
                .members
                .iter()
                .filter(|m| m.place.name != context.place.name)
                .map(|m| Link {
                    name: m.place.name.clone(),
                    href: same_page(m, &context.path, context.query.as_deref()),
                })
                .collect(),
            all_href: "/clusters",
        }
    }
}

/// `path` (relative to a cluster's base) in `member`: the same page; a
/// topic or group it does not have becomes its list of them, the message
/// browser its empty form (offsets mean nothing across clusters). The
/// events filter is kept: it is about names, not offsets.
fn same_page(member: &Member, path: &str, query: Option<&str>) -> String {
    let base = &member.place.base;
    let path = path.trim_end_matches('/');
    let relative = match path.split_once('/').map(|(_, rest)| rest) {
        Some(rest) if rest.starts_with("topics/") || rest.starts_with("groups/") => {
            let (kind, encoded) = rest.split_once('/').unwrap_or((rest, ""));
            match format::decode_path_segment(encoded) {
                Some(name) if member_has(member, kind, &name) => {
                    format!("/{kind}/{}", format::path_segment(&name))
                }
                _ => format!("/{kind}"),
            }
        }
        Some("events") => match query {
            Some(query) if !query.is_empty() => format!("/events?{query}"),
            _ => "/events".to_string(),
        },
        Some("messages") => "/messages".to_string(),
        Some("topics" | "groups" | "brokers" | "replays") => path.to_string(),
        // The overview, and anything else (a fragment, a live stream).
        _ => return overview_href(&member.place),
    };
    format!("{base}{relative}")
}

/// Whether `member`'s latest sample has the topic or group `name`.
fn member_has(member: &Member, kind: &str, name: &str) -> bool {
    let snapshot = member.store.latest();
    match kind {
        "topics" => snapshot.topic(name).is_some(),
        _ => snapshot.group(name).is_some(),
    }
}

//! Wallboard mode: `/wall` (a cluster's, or the all-clusters home with
//! several), or `?wall` on any page. The page is the same page; the layout
//! drops the navigation, turns dark and sets large type (`body.wall` in
//! pulse.css). `?rotate=30s` moves on to the next chosen page
//! (`&topic=NAME`, `&group=NAME`, repeatable) after that long, and
//! `?window=15m` picks the overview chart's window.
//!
//! Like `chrome.rs`, this is per request and read by `base.html`, which
//! page structs share without owning it: a middleware over every page
//! checks the query (a bad value is a 400 naming it, before the page is
//! rendered) and puts the [`Wall`] in a task-local while the handler runs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::clusters::Directory;
use crate::web::error::ApiError;
use crate::web::format;

tokio::task_local! {
    static WALL: Display;
}

/// Rotation is at least this slow: a page must have time to load and show
/// a few updates before the next.
pub const MIN_ROTATE: Duration = Duration::from_secs(5);
/// ... and at most this slow (a typo like `30m` for `30s` still rotates).
pub const MAX_ROTATE: Duration = Duration::from_secs(3600);
/// Pages in one rotation at most (each is a query parameter).
pub const MAX_ROTATE_PAGES: usize = 50;
/// The overview chart windows `?window=` takes.
pub const WINDOWS: [&str; 3] = ["5m", "15m", "60m"];

/// How a page request asked to be shown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Display {
    pub wall: Option<Wall>,
    /// `?window=`: the overview chart's window, when given.
    pub window: Option<&'static str>,
}

/// Wallboard mode of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct Wall {
    pub rotation: Option<Rotation>,
}

/// Where the rotation goes next, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub ms: u128,
    /// The next page's URL (with the rotation's query).
    pub next: String,
    /// What the next page shows, for people ("group billing").
    pub next_label: String,
}

/// Paths whose requests are never pages.
fn is_page(path: &str) -> bool {
    let rest = match path.strip_prefix("/clusters/") {
        Some(rest) => rest.split_once('/').map_or("", |(_, rest)| rest),
        None => path.trim_start_matches('/'),
    };
    !["api/", "static/", "live", "fragments/", "metrics"]
        .iter()
        .any(|p| rest.starts_with(p) || path.starts_with(&format!("/{p}")))
}

/// Checks every page request's display parameters; a bad one is a 400.
pub async fn scope(
    State(directory): State<Arc<Directory>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if !is_page(&path) {
        return next.run(request).await;
    }
    match parse(&path, request.uri().query().unwrap_or(""), &directory) {
        Ok(display) => WALL.scope(display, next.run(request)).await,
        Err(error) => error.into_response(),
    }
}

/// The display of the page being rendered (none outside a request).
pub fn current() -> Display {
    WALL.try_with(Clone::clone).unwrap_or_default()
}

/// The wall of the page being rendered, if it is one.
pub fn current_wall() -> Option<Wall> {
    current().wall
}

/// `true` for `?wall`, `?wall=1`, `?wall=yes`; `false` for `?wall=0` or
/// `?wall=false`.
fn flag(value: &str) -> Result<bool, ApiError> {
    match value {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(ApiError::bad_request(format!(
            "wall takes no value (or 1/0), got '{other}'"
        ))),
    }
}

fn rotate_interval(text: &str) -> Result<Duration, ApiError> {
    let interval = humantime::parse_duration(text).map_err(|_| {
        ApiError::bad_request(format!(
            "rotate must be a duration like 30s or 2m, got '{text}'"
        ))
    })?;
    if interval < MIN_ROTATE {
        return Err(ApiError::bad_request(format!(
            "rotate must be at least 5s, got '{text}'"
        )));
    }
    if interval > MAX_ROTATE {
        return Err(ApiError::bad_request(format!(
            "rotate must be at most 1h, got '{text}'"
        )));
    }
    Ok(interval)
}

fn window(text: &str) -> Result<&'static str, ApiError> {
    let text = if text == "1h" { "60m" } else { text };
    WINDOWS
        .iter()
        .find(|w| **w == text)
        .copied()
        .ok_or_else(|| {
            ApiError::bad_request(format!("window must be 5m, 15m or 60m, got '{text}'"))
        })
}

/// The cluster base of a page path: `/clusters/NAME` or "" (the one
/// cluster at the root, or the all-clusters home).
fn base_of(path: &str) -> (&str, &str) {
    if let Some(rest) = path.strip_prefix("/clusters/") {
        let end = rest
            .find('/')
            .map_or(path.len(), |i| "/clusters/".len() + i);
        return (&path[..end], &path[end..]);
    }
    ("", path)
}

/// A page of a rotation: its path and what it is, for people.
struct Stop {
    path: String,
    label: String,
}

pub(crate) fn parse(path: &str, query: &str, directory: &Directory) -> Result<Display, ApiError> {
    let mut wall = path == "/wall" || path.ends_with("/wall");
    let mut display = Display::default();
    let mut rotate = None;
    let (mut topics, mut groups) = (Vec::new(), Vec::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "wall" => wall |= flag(&value)?,
            "rotate" => rotate = Some(rotate_interval(&value)?),
            "window" => display.window = Some(window(&value)?),
            "topic" => topics.push(value.into_owned()),
            "group" => groups.push(value.into_owned()),
            _ => {}
        }
    }
    let Some(interval) = rotate else {
        display.wall = wall.then_some(Wall { rotation: None });
        return Ok(display);
    };
    let (base, rest) = base_of(path);
    // With several clusters, a rotation without chosen pages goes through
    // the all-clusters wall and each cluster's.
    let every_cluster = directory.is_several() && topics.is_empty() && groups.is_empty();
    if base.is_empty() && directory.is_several() && !every_cluster {
        return Err(ApiError::bad_request(
            "on the all-clusters wall, rotate goes through each cluster's wall; \
             topic= and group= belong to one cluster's wall (/clusters/NAME/wall)",
        ));
    }
    let stops: Vec<Stop> = if every_cluster {
        std::iter::once(Stop {
            path: "/wall".into(),
            label: "all clusters".into(),
        })
        .chain(directory.members.iter().map(|m| Stop {
            path: format!("{}/wall", m.place.base),
            label: format!("cluster {}", m.place.name),
        }))
        .collect()
    } else {
        if topics.is_empty() && groups.is_empty() {
            return Err(ApiError::bad_request(
                "rotate needs the pages to go through: add topic=NAME and/or group=NAME \
                 (repeatable), e.g. /wall?rotate=30s&group=billing",
            ));
        }
        let wall = Stop {
            path: format!("{base}/wall"),
            label: "overview".into(),
        };
        let topics = topics.iter().map(|t| Stop {
            path: format!("{base}/topics/{}", format::path_segment(t)),
            label: format!("topic {t}"),
        });
        let groups = groups.iter().map(|g| Stop {
            path: format!("{base}/groups/{}", format::path_segment(g)),
            label: format!("group {g}"),
        });
        std::iter::once(wall).chain(topics).chain(groups).collect()
    };
    if stops.len() > MAX_ROTATE_PAGES + 1 {
        return Err(ApiError::bad_request(format!(
            "rotate goes through at most {MAX_ROTATE_PAGES} pages, got {}",
            stops.len() - 1
        )));
    }
    // Where this page is in the rotation: the overview (or the home) is
    // the wall, a topic or group page is itself.
    let here = match rest.trim_end_matches('/') {
        "" | "/wall" => format!("{base}/wall"),
        _ => path.trim_end_matches('/').to_string(),
    };
    let at = stops.iter().position(|s| s.path == here).unwrap_or(0);
    let next = &stops[(at + 1) % stops.len()];
    let mut carried = url::form_urlencoded::Serializer::new(String::new());
    carried.append_pair("rotate", &humantime::format_duration(interval).to_string());
    if let Some(window) = display.window {
        carried.append_pair("window", window);
    }
    for topic in &topics {
        carried.append_pair("topic", topic);
    }
    for group in &groups {
        carried.append_pair("group", group);
    }
    let separator = if next.path.ends_with("/wall") {
        "?"
    } else {
        "?wall&"
    };
    display.wall = Some(Wall {
        rotation: Some(Rotation {
            ms: interval.as_millis(),
            next: format!("{}{separator}{}", next.path, carried.finish()),
            next_label: next.label.clone(),
        }),
    });
    Ok(display)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Directory {
        Directory::default()
    }

    #[test]
    fn plain_pages_are_not_walls() {
        assert_eq!(parse("/", "", &one()).unwrap(), Display::default());
        assert!(parse("/groups/x", "wall", &one()).unwrap().wall.is_some());
        assert!(parse("/groups/x", "wall=0", &one()).unwrap().wall.is_none());
        assert!(parse("/clusters/a/wall", "", &one())
            .unwrap()
            .wall
            .is_some());
    }

    #[test]
    fn bad_values_are_named() {
        let message = |q: &str| parse("/wall", q, &one()).unwrap_err().message;
        assert_eq!(
            message("rotate=2s&group=g"),
            "rotate must be at least 5s, got '2s'"
        );
        assert!(message("rotate=soon&group=g").contains("like 30s"));
        assert!(message("rotate=2h&group=g").contains("at most 1h"));
        assert!(message("rotate=30s").contains("topic=NAME and/or group=NAME"));
        assert!(message("window=7m").contains("window must be 5m, 15m or 60m"));
        assert!(message("wall=maybe").contains("wall takes no value"));
    }

    #[test]
    fn rotation_goes_round_with_its_query() {
        let q = "rotate=30s&topic=a%2Fb&group=g%201";
        let first = parse("/clusters/p/wall", q, &one()).unwrap();
        let rotation = first.wall.unwrap().rotation.unwrap();
        assert_eq!(rotation.ms, 30_000);
        assert_eq!(
            rotation.next,
            "/clusters/p/topics/a%2Fb?wall&rotate=30s&topic=a%2Fb&group=g+1"
        );
        assert_eq!(rotation.next_label, "topic a/b");
        let second = parse("/clusters/p/topics/a%2Fb", &format!("wall&{q}"), &one()).unwrap();
        let next = second.wall.unwrap().rotation.unwrap().next;
        assert!(next.starts_with("/clusters/p/groups/g%201?wall&"), "{next}");
        let third = parse("/clusters/p/groups/g%201", &format!("wall&{q}"), &one()).unwrap();
        let next = third.wall.unwrap().rotation.unwrap().next;
        assert!(next.starts_with("/clusters/p/wall?rotate=30s"), "{next}");
    }

    #[test]
    fn only_pages_are_checked() {
        assert!(is_page("/"));
        assert!(is_page("/clusters/a/groups/x"));
        assert!(!is_page("/api/v1/series"));
        assert!(!is_page("/clusters/a/live"));
        assert!(!is_page("/static/pulse.js"));
        assert!(!is_page("/live/home"));
    }
}

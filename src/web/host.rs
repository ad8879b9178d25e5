//! Which Host headers kafka-pulse answers: DNS rebinding protection. A web
//! page on another site can make a browser resolve its own host name to
//! 127.0.0.1 and then read kafka-pulse's pages and API as if they were its
//! own; the Host header still carries the attacker's name. So only names
//! kafka-pulse is known by are answered: IP literals (a rebinding attack
//! needs a name), `localhost`, and `--allowed-hosts`. /metrics and
//! /api/v1/health answer any Host, for scrapers and health checks that
//! address kafka-pulse by a service name.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The host names answered besides IP literals and `localhost`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPolicy {
    /// Lower-case names without ports; `*` allows every name.
    names: Vec<String>,
}

impl HostPolicy {
    pub fn new(names: &[String]) -> Self {
        HostPolicy {
            names: names
                .iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether a request with this Host header is answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host);
        if name.is_empty() || name.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost"
            || name.ends_with(".localhost")
            || self
                .names
                .iter()
                .any(|allowed| allowed == "*" || *allowed == name)
    }
}

/// The name part of a Host header: without the port, without the brackets
/// of an IPv6 literal.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Paths answered whatever the Host: scrapers and health checks.
fn exempt(path: &str) -> bool {
    path == "/metrics" || path == "/api/v1/health"
}

/// Refuses requests whose Host is not one kafka-pulse is known by.
pub async fn check_host(
    State(policy): State<std::sync::Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if exempt(request.uri().path()) || policy.allows(host) {
        return next.run(request).await;
    }
    ApiError {
        status: StatusCode::MISDIRECTED_REQUEST,
        message: format!(
            "kafka-pulse does not answer for host {:?}: add it with --allowed-hosts \
             (KAFKA_PULSE_ALLOWED_HOSTS) if it is a name kafka-pulse is reached by \
             (this protects against DNS rebinding)",
            crate::model::printable(host)
        ),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_localhost_and_allowed_names_pass_others_do_not() {
        let policy = HostPolicy::new(&["Kafka-Pulse".into(), "pulse.example.com.".into()]);
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.1.2.3:80",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost",
            "kafka-pulse:8080",
            "pulse.example.com",
            "",
        ] {
            assert!(policy.allows(host), "{host} should pass");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "kafka-pulse.evil",
            "localhost.evil.example",
        ] {
            assert!(!policy.allows(host), "{host} should be refused");
        }
        assert!(HostPolicy::new(&["*".into()]).allows("anything.example"));
    }
}

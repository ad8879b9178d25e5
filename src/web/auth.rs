//! Who may read and write through the web: the credentials of
//! `--auth-token-file`, checked on each request that needs them, the CSRF
//! token the pages' forms carry, and the name a write is recorded under.
//!
//! One file serves both schemes a client may use: `Authorization: Bearer
//! SECRET` (scripts, Prometheus) and `Authorization: Basic` with NAME and
//! SECRET (browsers, which then remember it for the origin). Secrets are
//! kept as SHA-256 digests and compared in constant time, every entry every
//! time, so neither timing nor a memory dump gives one away.
//!
//! Browsers send Basic credentials on their own, also when another site's
//! page makes them post to kafka-pulse; so a write that is not Bearer-
//! authenticated and comes from a browser (it carries `Origin`, which
//! browsers always send with a POST or DELETE) must come from kafka-pulse's
//! own origin and carry the CSRF token of its pages.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// Shorter secrets could be guessed by trying; 16 characters of
/// `openssl rand -hex 16` are 64 bits, more than any online attacker gets
/// through.
pub const MIN_SECRET_CHARS: usize = 16;

/// The request header the pages send their CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Credentials of `--auth-token-file`: lines `NAME:SECRET`.
pub struct Credentials {
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    digest: [u8; 32],
}

/// Names only: secrets never reach a log line or an error.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "names",
                &self.entries.iter().map(|e| &e.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn digest(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

impl Credentials {
    /// Reads and checks the file; the error names the file, the line and
    /// the fix, never a secret.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!(
                "cannot read --auth-token-file {}: {error}; it needs lines NAME:SECRET",
                path.display()
            )
        })?;
        warn_if_others_can_read(path);
        Self::parse(&text).map_err(|error| format!("--auth-token-file {}: {error}", path.display()))
    }

    /// Lines `NAME:SECRET`; blank lines and lines starting with `#` are
    /// skipped. A name is who a write is recorded under and the user name
    /// of Basic authentication.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, secret)) = line.split_once(':') else {
                return Err(format!(
                    "line {number} is not NAME:SECRET (e.g. grafana:{})",
                    "x".repeat(MIN_SECRET_CHARS)
                ));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
            {
                return Err(format!(
                    "line {number}: the name must be letters, digits, '.', '_', '@' or '-', got {:?}",
                    crate::model::printable(name)
                ));
            }
            if secret.chars().count() < MIN_SECRET_CHARS {
                return Err(format!(
                    "line {number}: the secret of {name} is shorter than {MIN_SECRET_CHARS} characters; \
                     make one with `openssl rand -hex 24`"
                ));
            }
            if entries.iter().any(|e| e.name == name) {
                return Err(format!("line {number}: {name} is named twice"));
            }
            entries.push(Entry {
                name: name.to_string(),
                digest: digest(secret.as_bytes()),
            });
        }
        if entries.is_empty() {
            return Err(
                "it has no credentials; add lines NAME:SECRET (e.g. from `openssl rand -hex 24`)"
                    .to_string(),
            );
        }
        Ok(Credentials { entries })
    }

    /// The name whose secret this is (Bearer), or whose name and secret
    /// these are (Basic, `user` given). Every entry is compared, without an
    /// early exit.
    fn check(&self, user: Option<&str>, secret: &str) -> Option<&str> {
        let presented = digest(secret.as_bytes());
        let mut found = None;
        for entry in &self.entries {
            let secret_matches: bool = entry.digest.ct_eq(&presented).into();
            let name_matches = user.is_none_or(|user| user == entry.name);
            if secret_matches && name_matches && found.is_none() {
                found = Some(entry.name.as_str());
            }
        }
        found
    }
}

#[cfg(unix)]
fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "--auth-token-file {} can be read by other users; `chmod 600` it",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_path: &Path) {}

/// What the web answers to whom.
#[derive(Debug)]
pub struct AccessPolicy {
    /// `None`: no authentication (only possible with a loopback listen
    /// address when writes are on, see config).
    pub credentials: Option<Arc<Credentials>>,
    /// `--auth-read`: pages and API need credentials too, not only writes.
    pub read_needs_auth: bool,
    /// `--public-metrics`: /metrics answers without credentials even with
    /// `--auth-read`, for scrapers that cannot send any.
    pub public_metrics: bool,
    /// Origins (scheme://host[:port]) besides the request's own Host that
    /// writes may come from: the origin of `--public-url`.
    pub extra_origins: Vec<String>,
    /// Carried by the pages' forms; random per process.
    pub csrf_token: String,
    /// Requests refused for missing or wrong credentials (a /metrics
    /// counter: someone guessing shows).
    pub failures: AtomicU64,
}

impl AccessPolicy {
    pub fn new(
        credentials: Option<Arc<Credentials>>,
        read_needs_auth: bool,
        public_metrics: bool,
        public_url: Option<&url::Url>,
    ) -> Self {
        AccessPolicy {
            credentials,
            read_needs_auth,
            public_metrics,
            extra_origins: public_url
                .map(|url| url.origin().ascii_serialization())
                .into_iter()
                .collect(),
            csrf_token: new_csrf_token(),
            failures: AtomicU64::new(0),
        }
    }

    /// No credentials, no CSRF secret worth keeping: what tests of pages
    /// that don't write use.
    pub fn open() -> Self {
        Self::new(None, false, false, None)
    }

    /// Paths that answer without credentials whatever the options: the
    /// health check (it says only ok/degraded), the static assets (the
    /// same for everyone), and /metrics with `--public-metrics`.
    fn public(&self, path: &str) -> bool {
        path == "/api/v1/health"
            || path.starts_with("/static/")
            || (self.public_metrics && path == "/metrics")
    }
}

fn new_csrf_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who made a request, for the audit trail of writes: the credential's
/// name (when authenticated) and the client address.
#[derive(Debug, Clone)]
pub struct Who(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Basic,
}

/// The credential name an `Authorization` header proves, `Ok(None)` when
/// there is none, `Err` when it is there but wrong or malformed.
fn authenticate(
    credentials: &Credentials,
    headers: &HeaderMap,
) -> Result<Option<(String, Scheme)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or(())?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return credentials
            .check(None, rest)
            .map(|name| Some((name.to_string(), Scheme::Bearer)))
            .ok_or(());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .map_err(|_| ())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ())?;
        let (user, secret) = decoded.split_once(':').ok_or(())?;
        return credentials
            .check(Some(user), secret)
            .map(|name| Some((name.to_string(), Scheme::Basic)))
            .ok_or(());
    }
    Err(())
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.to_string(),
    }
    .into_response();
    // Basic makes browsers ask for a name and a secret; Bearer tells
    // scripts what else is taken.
    let headers = response.headers_mut();
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"kafka-pulse\", charset=\"UTF-8\""),
    );
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"kafka-pulse\""),
    );
    response
}

fn forbidden(message: String) -> Response {
    ApiError {
        status: StatusCode::FORBIDDEN,
        message,
    }
    .into_response()
}

/// Whether a browser's `Origin` is kafka-pulse's own: the request's Host
/// (any scheme: TLS may end at a proxy) or `--public-url`'s origin.
fn same_origin(origin: &str, headers: &HeaderMap, policy: &AccessPolicy) -> bool {
    if policy.extra_origins.iter().any(|o| o == origin) {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false;
    };
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// Checks credentials and, for browser writes, origin and CSRF token; puts
/// [`Who`] into the request for the handlers.
pub async fn guard(
    State(policy): State<Arc<AccessPolicy>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let write = is_write(request.method());
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.to_string());
    let mut identity = None;
    if let Some(credentials) = &policy.credentials {
        let needed = write || (policy.read_needs_auth && !policy.public(path));
        if needed {
            match authenticate(credentials, request.headers()) {
                Ok(Some(found)) => identity = Some(found),
                Ok(None) => {
                    policy.failures.fetch_add(1, Ordering::Relaxed);
                    return unauthorized(if write {
                        "writes need credentials from --auth-token-file: send \
                         Authorization: Bearer SECRET, or a name and secret (Basic)"
                    } else {
                        "kafka-pulse runs with --auth-read: send Authorization: Bearer SECRET, \
                         or a name and secret (Basic), from --auth-token-file"
                    });
                }
                Err(()) => {
                    policy.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "refused a request to {} from {}: wrong or malformed credentials",
                        crate::model::printable(path),
                        peer.as_deref().unwrap_or("an unknown client")
                    );
                    return unauthorized(
                        "wrong or malformed credentials: the name or the secret is not in \
                         --auth-token-file",
                    );
                }
            }
        }
    }
    if write && identity.as_ref().map(|(_, scheme)| *scheme) != Some(Scheme::Bearer) {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !same_origin(origin, request.headers(), &policy) {
                return forbidden(format!(
                    "writes from another site's page are refused (Origin {}); if kafka-pulse is \
                     reached through a proxy under another name, set --public-url",
                    crate::model::printable(origin)
                ));
            }
            let token = request
                .headers()
                .get(CSRF_HEADER)
                .map(|value| value.as_bytes())
                .unwrap_or(b"");
            if !bool::from(token.ct_eq(policy.csrf_token.as_bytes())) {
                return forbidden(
                    "this write carries no valid CSRF token: reload the page (kafka-pulse \
                     restarted) and try again; scripts send Authorization: Bearer instead"
                        .to_string(),
                );
            }
        }
    }
    let who = match (identity, peer) {
        (Some((name, _)), Some(peer)) => format!("{name} from {peer}"),
        (Some((name, _)), None) => name,
        (None, Some(peer)) => peer,
        (None, None) => "an unknown client".to_string(),
    };
    request.extensions_mut().insert(Who(who));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "# who may write\n\ngrafana:0123456789abcdef0123\n ops : secret-with-:colon-inside \n";

    #[test]
    fn file_lines_give_names_and_secrets_checked_by_either_scheme() {
        let credentials = Credentials::parse(FILE).unwrap();
        assert_eq!(
            credentials.check(None, "0123456789abcdef0123"),
            Some("grafana")
        );
        assert_eq!(
            credentials.check(Some("ops"), " secret-with-:colon-inside"),
            Some("ops")
        );
        // Basic needs the name that goes with the secret.
        assert_eq!(credentials.check(Some("ops"), "0123456789abcdef0123"), None);
        assert_eq!(credentials.check(None, "0123456789abcdef012"), None);
        assert_eq!(credentials.check(None, ""), None);
        let shown = format!("{credentials:?}");
        assert!(shown.contains("grafana") && !shown.contains("0123456789"));
    }

    #[test]
    fn bad_files_name_the_line_and_never_the_secret() {
        for (text, expected) in [
            ("grafana\n", "line 1 is not NAME:SECRET"),
            (
                "\n# c\nshort:tooshort123\n",
                "line 3: the secret of short is shorter",
            ),
            (
                "bad name:0123456789abcdef0123\n",
                "line 1: the name must be",
            ),
            (
                "a:0123456789abcdef0123\na:0123456789abcdef0124\n",
                "line 2: a is named twice",
            ),
            ("# nothing\n", "no credentials"),
        ] {
            let error = Credentials::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(!error.contains("0123456789abcdef"), "{error}");
            assert!(!error.contains("tooshort123"), "{error}");
        }
    }

    #[test]
    fn authorization_headers_are_read_in_both_schemes() {
        let credentials = Credentials::parse(FILE).unwrap();
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            authenticate(&credentials, &headers)
        };
        assert_eq!(authenticate(&credentials, &HeaderMap::new()), Ok(None));
        assert_eq!(
            with("Bearer 0123456789abcdef0123"),
            Ok(Some(("grafana".to_string(), Scheme::Bearer)))
        );
        let basic =
            base64::engine::general_purpose::STANDARD.encode("grafana:0123456789abcdef0123");
        assert_eq!(
            with(&format!("basic {basic}")),
            Ok(Some(("grafana".to_string(), Scheme::Basic)))
        );
        let wrong_user =
            base64::engine::general_purpose::STANDARD.encode("ops:0123456789abcdef0123");
        for value in [
            "Bearer nope".to_string(),
            format!("Basic {wrong_user}"),
            "Basic !!!".to_string(),
            "Digest abc".to_string(),
            "Bearer".to_string(),
        ] {
            assert_eq!(with(&value), Err(()), "{value}");
        }
    }
}

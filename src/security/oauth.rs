//! OAUTHBEARER tokens: one provider per configuration, shared by the own
//! client (asked before each SASL exchange) and every rdkafka client
//! (asked through `KafkaContext::generate_oauth_token`, rdkafka's token
//! refresh callback), so both present the same token and refresh it the
//! same way.
//!
//! Two sources:
//! - a token file (`sasl.oauthbearer.token.file`, or Java's
//!   `sasl.oauthbearer.token.endpoint.url=file:///…`), re-read whenever its
//!   modification time or size changes, so a sidecar that rotates it is
//!   followed without a restart;
//! - OIDC client credentials (`sasl.oauthbearer.method=oidc`): a
//!   `grant_type=client_credentials` POST to the token endpoint with the
//!   client id and secret (HTTP Basic, RFC 6749 §2.3.1), refreshed at 80% of
//!   its `expires_in`;
//! - Amazon MSK IAM (`msk_iam.rs`): a SigV4-presigned URL signed with AWS
//!   credentials (`aws_credentials.rs`), valid 900 s and refreshed at 80%
//!   of that (or of the credentials' remaining life, if shorter).
//!
//! Errors name the file or the endpoint and the client id, never the secret
//! or the token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use super::aws_credentials::AwsCredentials;
use super::msk_iam::{self, MskIam};
use super::secret::Secret;

/// A token is used until this share of its lifetime has passed.
const REFRESH_AT: f64 = 0.8;
/// rdkafka is told a file token lives at most this long, so it asks again
/// (and sees a rotated file) at least every ~48 s.
const FILE_RECHECK: Duration = Duration::from_secs(60);
/// A token without `exp` (opaque) or `expires_in` is kept this long.
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(3600);
/// Token endpoint requests give up after this long.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    File(PathBuf),
    Oidc {
        endpoint: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
    },
    MskIam(MskIam),
}

impl TokenSource {
    /// Where tokens come from, for messages (never the secret).
    pub fn describe(&self) -> String {
        match self {
            TokenSource::File(path) => format!("token file {}", path.display()),
            TokenSource::Oidc {
                endpoint,
                client_id,
                ..
            } => format!("client id '{client_id}' at token endpoint {endpoint}"),
            TokenSource::MskIam(msk) => msk.describe(),
        }
    }
}

/// A token and what is known about it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub value: Secret,
    /// The JWT's `sub` claim, else the client id, or for MSK IAM the AWS
    /// access key id (rdkafka needs one).
    pub principal: String,
    /// When it expires, milliseconds since the epoch.
    pub expires_at_ms: i64,
    /// When to fetch a new one, milliseconds since the epoch.
    pub refresh_at_ms: i64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("principal", &self.principal)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// What identifies the file's content without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

#[derive(Default)]
struct Cache {
    token: Option<Token>,
    stamp: Option<FileStamp>,
}

/// The one token provider of a configuration (cheap to share: `Arc`).
pub struct TokenProvider {
    source: TokenSource,
    /// MSK IAM's credentials (`None` for the other sources).
    aws: Option<AwsCredentials>,
    cache: std::sync::Mutex<Cache>,
    /// One endpoint request at a time: connections opened together wait
    /// for the same token instead of each asking for one.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TokenProvider {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for TokenProvider {}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The claims kafka-pulse reads from a JWT: `sub` and `exp` (seconds).
/// `None` for an opaque (non-JWT) token, which is sent as it is.
pub fn jwt_claims(token: &str) -> Option<(Option<String>, Option<i64>)> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub").and_then(|s| s.as_str()).map(String::from);
    let exp = claims.get("exp").and_then(|e| {
        e.as_i64()
            .or_else(|| e.as_f64().map(|f| f as i64))
            .filter(|e| *e > 0)
    });
    Some((sub, exp))
}

/// When to refresh a token issued at `issued_ms` that expires at
/// `expires_ms`: at 80% of its lifetime.
fn refresh_time(issued_ms: i64, expires_ms: i64) -> i64 {
    issued_ms + ((expires_ms - issued_ms).max(0) as f64 * REFRESH_AT) as i64
}

/// A token read from `text` (a file's content) at `now`.
fn file_token(path: &std::path::Path, text: &str, now: i64) -> Result<Token, String> {
    let value = text.trim();
    if value.is_empty() {
        return Err(format!(
            "OAUTHBEARER token file {} is empty",
            path.display()
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "OAUTHBEARER token file {} holds more than one word: it must hold the token alone",
            path.display()
        ));
    }
    let (sub, exp) = jwt_claims(value).unwrap_or((None, None));
    let expires_at_ms = match exp {
        Some(exp) => exp.saturating_mul(1000),
        None => now + UNKNOWN_LIFETIME.as_millis() as i64,
    };
    if expires_at_ms <= now {
        return Err(format!(
            "the token in OAUTHBEARER token file {} expired at {} (its exp claim)",
            path.display(),
            chrono::DateTime::from_timestamp_millis(expires_at_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| expires_at_ms.to_string())
        ));
    }
    Ok(Token {
        value: Secret::new(value),
        principal: sub.unwrap_or_else(|| "kafka-pulse".into()),
        expires_at_ms,
        refresh_at_ms: refresh_time(now, expires_at_ms),
    })
}

/// The token endpoint's answer (RFC 6749 §5.1) as a token, at `now`.
fn endpoint_token(body: &[u8], client_id: &str, now: i64) -> Result<Token, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|_| "its answer is not the JSON of a token response".to_string())?;
    let value = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("its answer has no access_token")?;
    let (sub, exp) = jwt_claims(&value).unwrap_or((None, None));
    let expires_in = answer.expires_in.and_then(|e| {
        e.as_f64()
            .or_else(|| e.as_str().and_then(|s| s.trim().parse().ok()))
    });
    let expires_at_ms = match (expires_in, exp) {
        (Some(seconds), _) if seconds > 0.0 => now + (seconds * 1000.0) as i64,
        (_, Some(exp)) => exp.saturating_mul(1000),
        _ => now + UNKNOWN_LIFETIME.as_millis() as i64,
    };
    Ok(Token {
        value: Secret::new(value),
        principal: sub.unwrap_or_else(|| client_id.to_string()),
        expires_at_ms,
        refresh_at_ms: refresh_time(now, expires_at_ms),
    })
}

/// The error fields of a refused token request (RFC 6749 §5.2), never
/// the body as a whole (it could echo what was sent).
fn endpoint_error(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(Refusal {
            error: Some(error),
            error_description,
        }) => match error_description {
            Some(description) => format!(": {error} ({description})"),
            None => format!(": {error}"),
        },
        _ => String::new(),
    }
}

impl TokenProvider {
    pub fn new(source: TokenSource) -> Arc<Self> {
        let aws = match &source {
            TokenSource::MskIam(msk) => Some(AwsCredentials::for_login(&msk.login, &msk.region)),
            _ => None,
        };
        Arc::new(TokenProvider {
            source,
            aws,
            cache: Default::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// An MSK IAM provider signing with `credentials` instead of those its
    /// login names (tests, and callers that bring their own).
    pub fn msk_iam_with(msk: MskIam, credentials: AwsCredentials) -> Arc<Self> {
        Arc::new(TokenProvider {
            source: TokenSource::MskIam(msk),
            aws: Some(credentials),
            cache: Default::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// The cached token if it is still good at `now` (and, for a file, the
    /// file has not changed).
    fn cached(&self, now: i64) -> Option<Token> {
        let cache = self.cache.lock().expect("token cache poisoned");
        let token = cache.token.as_ref()?;
        if now >= token.refresh_at_ms {
            return None;
        }
        if let TokenSource::File(path) = &self.source {
            if cache.stamp != stamp(path) {
                return None;
            }
        }
        Some(token.clone())
    }

    /// A valid token: the cached one, or a fresh one from the file or
    /// the endpoint.
    pub async fn token(&self) -> Result<Token, String> {
        if let Some(token) = self.cached(now_ms()) {
            return Ok(token);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(token) = self.cached(now_ms()) {
            return Ok(token);
        }
        let (token, file_stamp) = match &self.source {
            TokenSource::File(path) => {
                let file_stamp = stamp(path);
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read OAUTHBEARER token file {}: {e}", path.display())
                })?;
                (file_token(path, &text, now_ms())?, file_stamp)
            }
            TokenSource::Oidc {
                endpoint,
                client_id,
                client_secret,
                scope,
            } => (
                fetch(endpoint, client_id, client_secret, scope.as_deref()).await?,
                None,
            ),
            TokenSource::MskIam(msk) => {
                let credentials = self
                    .aws
                    .as_ref()
                    .ok_or("AWS MSK IAM has no credential source")?;
                (msk_token(msk, credentials).await?, None)
            }
        };
        let mut cache = self.cache.lock().expect("token cache poisoned");
        cache.token = Some(token.clone());
        cache.stamp = file_stamp;
        tracing::debug!(
            "OAUTHBEARER token for principal '{}' from {}, expires {}",
            token.principal,
            self.source.describe(),
            chrono::DateTime::from_timestamp_millis(token.expires_at_ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
        Ok(token)
    }

    /// [`token`](Self::token) for rdkafka's callback, which is synchronous
    /// and may run on a tokio worker (the stream consumers poll there): the
    /// request runs on a thread of its own with its own small runtime.
    pub fn token_blocking(self: &Arc<Self>) -> Result<Token, String> {
        if let Some(token) = self.cached(now_ms()) {
            return Ok(token);
        }
        let provider = self.clone();
        std::thread::Builder::new()
            .name("oauth-token".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the token request: {e}"))?
                    .block_on(provider.token())
            })
            .map_err(|e| format!("cannot start the token request: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("the token request failed".into()))
    }

    /// The lifetime rdkafka is given for `token`: its expiry, but for a
    /// file at most a minute ahead so a rotated file is picked up.
    pub fn rdkafka_lifetime_ms(&self, token: &Token) -> i64 {
        match self.source {
            TokenSource::File(_) => token
                .expires_at_ms
                .min(now_ms() + FILE_RECHECK.as_millis() as i64),
            TokenSource::Oidc { .. } | TokenSource::MskIam(_) => token.expires_at_ms,
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
    })
}

/// A fresh MSK IAM token: signed now, valid until its URL expires or the
/// credentials do, whichever is first (MSK refuses a token whose session
/// token has expired).
async fn msk_token(msk: &MskIam, credentials: &AwsCredentials) -> Result<Token, String> {
    let resolved = credentials.get().await?;
    let now = chrono::Utc::now();
    let signed = msk_iam::auth_token(
        &msk.region,
        &resolved.credentials,
        now,
        &msk_iam::user_agent(),
    );
    let expires_at_ms = resolved
        .expires_at_ms
        .map_or(signed.expires_at_ms, |at| at.min(signed.expires_at_ms));
    if expires_at_ms <= now.timestamp_millis() {
        return Err(format!(
            "the AWS credentials of {} have expired",
            msk.login.describe()
        ));
    }
    Ok(Token {
        value: signed.value,
        principal: resolved.credentials.access_key_id,
        expires_at_ms,
        refresh_at_ms: refresh_time(now.timestamp_millis(), expires_at_ms),
    })
}

/// One client-credentials request.
async fn fetch(
    endpoint: &str,
    client_id: &str,
    client_secret: &Secret,
    scope: Option<&str>,
) -> Result<Token, String> {
    let failed = |why: String| {
        format!("OAUTHBEARER token endpoint {endpoint} (client id '{client_id}'): {why}")
    };
    let client = reqwest::Client::builder()
        .timeout(ENDPOINT_TIMEOUT)
        .build()
        .map_err(|e| failed(format!("cannot make an HTTP client: {e}")))?;
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = client
        .post(endpoint)
        .basic_auth(client_id, Some(client_secret.expose()))
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        // reqwest's errors name the URL, never the credentials.
        .map_err(|e| failed(format!("request failed: {}", e.without_url())))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| failed(format!("reading the answer failed: {}", e.without_url())))?;
    if !status.is_success() {
        return Err(failed(format!(
            "refused with HTTP {}{}",
            status.as_u16(),
            endpoint_error(&body)
        )));
    }
    endpoint_token(&body, client_id, now_ms()).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn jwt_claims_are_read_and_opaque_tokens_are_not_jwts() {
        let token = jwt(serde_json::json!({"sub": "alice", "exp": 2_000_000_000}));
        assert_eq!(
            jwt_claims(&token),
            Some((Some("alice".into()), Some(2_000_000_000)))
        );
        assert_eq!(jwt_claims("opaque-token"), None);
        assert_eq!(jwt_claims("a.b"), None);
        assert_eq!(jwt_claims("a.%%%.c"), None);
        assert_eq!(jwt_claims(""), None);
    }

    #[test]
    fn file_tokens_refresh_at_80_percent_and_expired_ones_are_refused() {
        let path = std::path::Path::new("/run/token");
        let now = 1_000_000_000_000;
        let exp = now / 1000 + 100;
        let token = file_token(
            path,
            &format!("{}\n", jwt(serde_json::json!({"sub": "svc", "exp": exp}))),
            now,
        )
        .unwrap();
        assert_eq!(token.principal, "svc");
        assert_eq!(token.expires_at_ms, exp * 1000);
        assert_eq!(token.refresh_at_ms, now + 80_000);
        let error = file_token(
            path,
            &jwt(serde_json::json!({"sub": "svc", "exp": now / 1000 - 1})),
            now,
        )
        .unwrap_err();
        assert!(
            error.contains("expired") && error.contains("/run/token"),
            "{error}"
        );
        assert!(file_token(path, " \n", now).unwrap_err().contains("empty"));
        let error = file_token(path, "secret-one secret-two", now).unwrap_err();
        assert!(!error.contains("secret-one"), "{error}");
        // An opaque token is kept for an hour.
        let opaque = file_token(path, "opaque", now).unwrap();
        assert_eq!(opaque.expires_at_ms, now + 3_600_000);
        assert_eq!(opaque.principal, "kafka-pulse");
    }

    #[test]
    fn endpoint_answers_become_tokens_and_refusals_show_their_error_only() {
        let now = 1_000_000_000_000;
        let body = serde_json::json!({
            "access_token": jwt(serde_json::json!({"sub": "svc-account"})),
            "token_type": "Bearer",
            "expires_in": 300
        });
        let token = endpoint_token(body.to_string().as_bytes(), "client", now).unwrap();
        assert_eq!(token.principal, "svc-account");
        assert_eq!(token.expires_at_ms, now + 300_000);
        assert_eq!(token.refresh_at_ms, now + 240_000);
        // expires_in as a string (some IdPs), an opaque token: the client id.
        let body = br#"{"access_token":"opaque","expires_in":"60"}"#;
        let token = endpoint_token(body, "client", now).unwrap();
        assert_eq!(token.principal, "client");
        assert_eq!(token.expires_at_ms, now + 60_000);
        assert!(endpoint_token(b"<html>", "c", now).is_err());
        assert!(endpoint_token(br#"{"token_type":"Bearer"}"#, "c", now).is_err());
        assert_eq!(
            endpoint_error(br#"{"error":"invalid_client","error_description":"bad"}"#),
            ": invalid_client (bad)"
        );
        assert_eq!(endpoint_error(b"echo of hunter2"), "");
    }

    #[test]
    fn a_file_token_is_re_read_when_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let first = jwt(serde_json::json!({"sub": "one", "exp": now_ms() / 1000 + 3600}));
        std::fs::write(&path, &first).unwrap();
        let provider = TokenProvider::new(TokenSource::File(path.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let token = runtime.block_on(provider.token()).unwrap();
        assert_eq!(token.value.expose(), first);
        // A longer token: the size changes even within the mtime's resolution.
        let second = jwt(serde_json::json!({"sub": "one-more", "exp": now_ms() / 1000 + 3600}));
        std::fs::write(&path, &second).unwrap();
        assert_eq!(provider.token_blocking().unwrap().value.expose(), second);
        assert!(provider.rdkafka_lifetime_ms(&token) <= now_ms() + 60_000);
        std::fs::remove_file(&path).unwrap();
        let error = runtime.block_on(provider.token()).unwrap_err();
        assert!(
            error.contains("cannot read OAUTHBEARER token file"),
            "{error}"
        );
    }

    #[test]
    fn an_unreachable_endpoint_names_it_and_the_client_but_not_the_secret() {
        let provider = TokenProvider::new(TokenSource::Oidc {
            endpoint: "http://127.0.0.1:9/token".into(),
            client_id: "pulse".into(),
            client_secret: Secret::new("hunter2"),
            scope: Some("kafka".into()),
        });
        let error = provider.token_blocking().unwrap_err();
        assert!(
            error.contains("http://127.0.0.1:9/token") && error.contains("'pulse'"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        assert!(!format!("{provider:?}").contains("hunter2"));
    }
}

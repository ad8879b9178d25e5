//! A small OIDC provider for tests/secure_kafka.rs: a JWKS endpoint that
//! Kafka's `OAuthBearerValidatorCallbackHandler` fetches at start, and a
//! client-credentials token endpoint that kafka-pulse asks. Tokens are
//! ES256 JWTs (ring, already in the tree through rustls) with `sub`, `iat`,
//! `exp` and `scope`, which is what Kafka's `BrokerJwtValidator` requires.
//! Plain HTTP/1.1 on a loopback port, one thread per connection; it lives
//! as long as the test binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

const KEY_ID: &str = "kafka-pulse-test-key";
/// The `aud` claim of every token (Kafka 4.4 brokers require
/// `sasl.oauthbearer.expected.audience`).
pub const AUDIENCE: &str = "kafka-pulse-test-cluster";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub struct OidcProvider {
    pub addr: SocketAddr,
    client_id: String,
    client_secret: String,
    subject: String,
    expires_in: u64,
    key: EcdsaKeyPair,
    /// Every token handed out, so tests can search for them.
    pub issued: Mutex<Vec<String>>,
    /// Token requests answered (accepted or refused).
    pub token_requests: AtomicUsize,
}

impl OidcProvider {
    /// Starts serving on a free loopback port: `client_id`/`client_secret`
    /// get tokens for `subject` that live `expires_in` seconds.
    pub fn start(
        client_id: &str,
        client_secret: &str,
        subject: &str,
        expires_in: u64,
    ) -> Result<Arc<Self>, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "cannot generate an EC key".to_string())?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| "cannot load the EC key".to_string())?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let provider = Arc::new(OidcProvider {
            addr: listener.local_addr().map_err(|e| e.to_string())?,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            subject: subject.into(),
            expires_in,
            key,
            issued: Mutex::new(Vec::new()),
            token_requests: AtomicUsize::new(0),
        });
        let serving = provider.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let provider = serving.clone();
                std::thread::spawn(move || provider.serve(stream));
            }
        });
        Ok(provider)
    }

    /// The `iss` claim of every token (Kafka 4.4 brokers require
    /// `sasl.oauthbearer.expected.issuer`).
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    fn jwks(&self) -> String {
        // An uncompressed P-256 point: 0x04, x (32 bytes), y (32 bytes).
        let point = self.key.public_key().as_ref();
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KEY_ID,
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        }]})
        .to_string()
    }

    fn token(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": KEY_ID});
        let claims = serde_json::json!({
            "sub": self.subject, "iat": now, "exp": now + self.expires_in,
            "scope": "kafka", "aud": AUDIENCE, "iss": self.issuer(), "jti": uuid::Uuid::new_v4().to_string(),
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .expect("ES256 signature");
        let token = format!("{signing_input}.{}", b64(signature.as_ref()));
        self.issued.lock().unwrap().push(token.clone());
        token
    }

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let length: usize = header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length.min(65536)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).to_string();
        let (status, answer) = match request_line.split_whitespace().take(2).collect::<Vec<_>>()[..]
        {
            ["GET", "/jwks"] => (200, self.jwks()),
            ["POST", "/token"] => {
                self.token_requests.fetch_add(1, Ordering::SeqCst);
                let expected = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", self.client_id, self.client_secret))
                );
                if header("authorization").as_deref() != Some(expected.as_str()) {
                    (
                        401,
                        r#"{"error":"invalid_client","error_description":"bad client credentials"}"#
                            .to_string(),
                    )
                } else if !body
                    .split('&')
                    .any(|p| p == "grant_type=client_credentials")
                {
                    (400, r#"{"error":"unsupported_grant_type"}"#.to_string())
                } else {
                    (
                        200,
                        serde_json::json!({
                            "access_token": self.token(), "token_type": "Bearer",
                            "expires_in": self.expires_in,
                        })
                        .to_string(),
                    )
                }
            }
            _ => (404, "{}".to_string()),
        };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
    }
}

/// An unsecured JWT (`alg: none`), what Kafka's
/// `OAuthBearerUnsecuredValidatorCallbackHandler` accepts.
pub fn unsecured_jwt(subject: &str, lifetime_seconds: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": subject, "iat": now, "exp": now + lifetime_seconds});
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims.to_string().as_bytes())
    )
}

//! The rdkafka client context every kafka-pulse rdkafka client is made
//! with: it answers librdkafka's OAUTHBEARER token refresh with the same
//! token provider the own client uses (`oauth.rs`). Without OAUTHBEARER
//! it behaves like rdkafka's default context.

use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::consumer::ConsumerContext;

use super::oauth::TokenProvider;

#[derive(Clone, Default)]
pub struct KafkaContext {
    oauth: Option<Arc<TokenProvider>>,
    /// Whether librdkafka asked for a token yet.
    asked: Arc<AtomicBool>,
}

impl KafkaContext {
    pub fn new(oauth: Option<Arc<TokenProvider>>) -> Self {
        KafkaContext {
            oauth,
            asked: Default::default(),
        }
    }

    /// librdkafka asks for the first OAUTHBEARER token with an event that
    /// waits in the client's queue until the application polls it, so a
    /// blocking call made first (metadata, watermarks) waits for a
    /// connection that never comes. With OAUTHBEARER this polls
    /// (`poll_once`, which must not consume messages: call it before
    /// anything is assigned) until the token was asked for, at most
    /// `timeout`; otherwise it returns at once.
    pub fn serve_first_token(&self, mut poll_once: impl FnMut(), timeout: Duration) {
        if self.oauth.is_none() {
            return;
        }
        let deadline = Instant::now() + timeout;
        while !self.asked.load(Ordering::SeqCst) && Instant::now() < deadline {
            poll_once();
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl ClientContext for KafkaContext {
    // Only consulted when sasl.mechanism is OAUTHBEARER.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        self.asked.store(true, Ordering::SeqCst);
        let provider = self
            .oauth
            .as_ref()
            .ok_or("sasl.mechanism=OAUTHBEARER has no token source")?;
        // librdkafka logs this error as it is: it names the file or the
        // endpoint and client id, never the secret or the token.
        let token = provider.token_blocking()?;
        Ok(OAuthToken {
            lifetime_ms: provider.rdkafka_lifetime_ms(&token),
            principal_name: token.principal,
            token: token.value.expose().to_string(),
        })
    }
}

impl ConsumerContext for KafkaContext {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::oauth::TokenSource;

    #[test]
    fn the_callback_hands_rdkafka_the_providers_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "opaque-token\n").unwrap();
        let context = KafkaContext::new(Some(TokenProvider::new(TokenSource::File(path))));
        let token = context.generate_oauth_token(None).unwrap();
        assert_eq!(token.token, "opaque-token");
        assert_eq!(token.principal_name, "kafka-pulse");
        let now = crate::security::oauth::now_ms();
        assert!(token.lifetime_ms > now && token.lifetime_ms <= now + 60_000);
        let Err(error) = KafkaContext::default().generate_oauth_token(None) else {
            panic!("a token without a source");
        };
        assert!(error.to_string().contains("no token source"));
    }

    /// MSK IAM end to end short of a broker (an Apache Kafka broker cannot
    /// validate an MSK token): the OAUTHBEARER client-first message of the
    /// own client and rdkafka's callback carry the same signed token.
    #[test]
    fn both_clients_present_the_same_msk_iam_token() {
        use crate::security::aws_credentials::AwsCredentials;
        use crate::security::msk_iam::MskIam;
        use crate::security::secret::Secret;
        use crate::security::settings::{Mechanism, SaslSettings};
        use crate::security::sigv4::Credentials;
        use base64::Engine;

        let msk = MskIam {
            region: "eu-west-1".into(),
            region_from: "aws.region (from test)".into(),
            login: Default::default(),
        };
        let credentials = Credentials {
            access_key_id: "AKIAEXAMPLEKEYID".into(),
            secret_access_key: Secret::new("hunter2-secret-key"),
            session_token: Some(Secret::new("hunter2-session")),
        };
        let provider = TokenProvider::msk_iam_with(msk, AwsCredentials::fixed(credentials, None));
        let sasl = SaslSettings {
            mechanism: Mechanism::OAuthBearer,
            username: String::new(),
            password: Secret::default(),
            oauth: Some(provider.clone()),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let own = runtime.block_on(async {
            let mut authenticator = crate::security::sasl::authenticator(&sasl).await.unwrap();
            authenticator.step(None).unwrap().unwrap()
        });
        let token = provider.token_blocking().unwrap();
        let mut expected = b"n,,\x01auth=Bearer ".to_vec();
        expected.extend_from_slice(token.value.expose().as_bytes());
        expected.extend_from_slice(b"\x01\x01");
        assert_eq!(own, expected);

        let theirs = KafkaContext::new(Some(provider.clone()))
            .generate_oauth_token(None)
            .unwrap();
        assert_eq!(theirs.token, token.value.expose());
        assert_eq!(theirs.principal_name, "AKIAEXAMPLEKEYID");
        assert_eq!(theirs.lifetime_ms, token.expires_at_ms);
        let now = crate::security::oauth::now_ms();
        assert!(
            token.expires_at_ms > now + 890_000 && token.expires_at_ms <= now + 900_000,
            "{token:?}"
        );
        // Refreshed at 80% of the 900 s.
        assert!(token.refresh_at_ms - now <= 720_000 && token.refresh_at_ms - now > 710_000);

        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&theirs.token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Credential=AKIAEXAMPLEKEYID%2F"),
            "{url}"
        );
        assert!(!url.contains("hunter2-secret-key"), "{url}");
        for shown in [
            format!("{provider:?}"),
            format!("{sasl:?}"),
            format!("{token:?}"),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn msk_iam_without_credentials_says_which_variables_to_set() {
        use crate::security::aws_credentials::AwsCredentials;
        use crate::security::msk_iam::MskIam;

        let msk = MskIam {
            region: "us-east-1".into(),
            region_from: "AWS_REGION".into(),
            login: Default::default(),
        };
        let env = |name: &str| {
            (name == "AWS_WEB_IDENTITY_TOKEN_FILE").then(|| "/var/run/token".to_string())
        };
        let provider = TokenProvider::msk_iam_with(msk, AwsCredentials::from_env(Arc::new(env)));
        let Err(error) = KafkaContext::new(Some(provider)).generate_oauth_token(None) else {
            panic!("a token without credentials");
        };
        let error = error.to_string();
        assert!(
            error.contains("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
                && error.contains("AWS_WEB_IDENTITY_TOKEN_FILE is set")
                && error.contains("--features msk-iam"),
            "{error}"
        );
    }
}

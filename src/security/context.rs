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
}

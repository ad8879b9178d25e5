//! SASL mechanisms of the collector's own client. Each mechanism is one
//! module implementing [`Authenticator`]: given the broker's last answer it
//! says what to send next, or that it is done. The exchange itself
//! (SaslHandshake, then SaslAuthenticate per message) is driven by the
//! connection in `collector/kafka.rs`, so a new mechanism is one more
//! module and one more arm in [`authenticator`].

pub mod oauthbearer;
pub mod plain;
pub mod scram;

use super::settings::{Mechanism, SaslSettings};

/// One side of a SASL exchange.
pub trait Authenticator: Send {
    /// The next message for the broker, given its last answer (`None` at
    /// the start); `Ok(None)` when the exchange is complete. Errors never
    /// contain the password.
    fn step(&mut self, server: Option<&[u8]>) -> Result<Option<Vec<u8>>, String>;
}

/// A fresh authenticator for one connection (or one re-authentication).
/// OAUTHBEARER asks the token provider first, which may read the token
/// file or call the token endpoint; its errors name them, never a secret.
pub async fn authenticator(settings: &SaslSettings) -> Result<Box<dyn Authenticator>, String> {
    Ok(match settings.mechanism {
        Mechanism::OAuthBearer => {
            let provider = settings
                .oauth
                .as_ref()
                .ok_or("OAUTHBEARER has no token source")?;
            Box::new(oauthbearer::OAuthBearer::new(provider.token().await?.value))
        }
        Mechanism::Plain => Box::new(plain::Plain::new(
            &settings.username,
            settings.password.expose(),
        )),
        Mechanism::ScramSha256 => Box::new(scram::Scram::new(
            scram::Hash::Sha256,
            &settings.username,
            settings.password.expose(),
        )),
        Mechanism::ScramSha512 => Box::new(scram::Scram::new(
            scram::Hash::Sha512,
            &settings.username,
            settings.password.expose(),
        )),
    })
}

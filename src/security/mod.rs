//! Connecting to secured Kafka clusters: one security configuration, given
//! by Kafka's own property names, for every Kafka connection kafka-pulse
//! makes — the collector's own client (TLS with rustls, SASL here) and every
//! rdkafka client (replay, export/import, demo, message browser, exact time
//! lag), so no path connects in plaintext when security is configured.
//!
//! - `properties.rs`: Java `.properties` reader (`--kafka-properties`)
//! - `sources.rs`: flags, environment, TOML table, file → one property set
//! - `jaas.rs`: the `sasl.jaas.config` login line
//! - `settings.rs`: property set → validated settings and librdkafka's list
//! - `tls.rs`: rustls client configuration (CA file, mTLS, encrypted keys)
//! - `sasl/`: SaslHandshake/SaslAuthenticate exchanges, one module per mechanism
//! - `oauth.rs`: OAUTHBEARER tokens (file, OIDC client credentials or
//!   Amazon MSK IAM), one provider for both clients
//! - `msk_iam.rs`: the MSK IAM token (a SigV4-presigned URL) and its region
//! - `sigv4.rs`: AWS Signature Version 4 query presigning
//! - `aws_credentials.rs`: the AWS credentials MSK IAM signs with
//! - `context.rs`: the rdkafka context that hands rdkafka those tokens
//! - `secret.rs`: values that never reach a log, page or error
//! - `acl.rs`: which ACL an authorization error says the principal lacks

pub mod acl;
pub mod aws_credentials;
pub mod context;
pub mod jaas;
pub mod msk_iam;
pub mod oauth;
pub mod properties;
pub mod sasl;
pub mod secret;
pub mod settings;
pub mod sigv4;
pub mod sources;
pub mod tls;

use std::sync::Arc;

pub use context::KafkaContext;
pub use settings::{Mechanism, Protocol, SaslSettings, SecuritySettings, TlsSettings};
pub use sources::{FileSettings, KafkaPropertyArgs, PropertySet};

/// Security of every Kafka connection: the validated settings and, when
/// TLS is on, the rustls configuration built once at start (so a bad CA
/// file or key stops the start instead of failing each connection).
#[derive(Clone, Default)]
pub struct Security {
    settings: SecuritySettings,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Security {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
    }
}

impl Security {
    /// Plaintext, no authentication: the embedded broker and tests.
    pub fn plaintext() -> Self {
        Security::default()
    }

    /// Validates `props` (librdkafka is asked about keys kafka-pulse does
    /// not handle itself) and loads certificates and keys.
    pub fn from_properties(props: &PropertySet) -> Result<Self, String> {
        Security::from_properties_in(
            props,
            &settings::Surroundings {
                env: &|_| None,
                bootstrap: None,
            },
        )
    }

    /// [`from_properties`](Self::from_properties), with the environment
    /// and the bootstrap servers `around` (AWS MSK IAM's region).
    pub fn from_properties_in(
        props: &PropertySet,
        around: &settings::Surroundings<'_>,
    ) -> Result<Self, String> {
        let settings = settings::resolve_in(props, around, &settings::librdkafka_accepts)?;
        let tls = settings
            .tls
            .as_ref()
            .map(tls::client_config)
            .transpose()?
            .map(Arc::new);
        Ok(Security { settings, tls })
    }

    /// Every source of properties (see `sources.rs`) read and validated,
    /// for the cluster at `bootstrap`.
    pub fn from_sources(
        args: &KafkaPropertyArgs,
        file: FileSettings<'_>,
        env: &dyn Fn(&str) -> Option<String>,
        bootstrap: Option<&str>,
    ) -> Result<Self, String> {
        let props = sources::collect(args, file, env)?;
        Security::from_properties_in(&props, &settings::Surroundings { env, bootstrap })
    }

    /// The dashboard's security: every source read and validated. With
    /// the embedded broker (`brokers` None) only plaintext makes sense,
    /// and a `bootstrap.servers` property is pointed at `--brokers` rather
    /// than silently used or ignored.
    pub fn for_dashboard(
        args: &KafkaPropertyArgs,
        file: FileSettings<'_>,
        env: &dyn Fn(&str) -> Option<String>,
        brokers: Option<&str>,
    ) -> Result<Self, String> {
        let brokers_given = brokers.is_some();
        let props = sources::collect(args, file, env)?;
        let servers = props.get("bootstrap.servers").map(str::to_string);
        if let (Some(servers), false) = (&servers, brokers_given) {
            return Err(format!(
                "bootstrap.servers (from {}) does not choose the cluster: pass it as --brokers {servers} (or KAFKA_PULSE_BROKERS)",
                props.source("bootstrap.servers")
            ));
        }
        let mut security = Security::from_properties_in(
            &props,
            &settings::Surroundings {
                env,
                bootstrap: brokers,
            },
        )?;
        if !brokers_given && !security.is_plaintext() {
            return Err(format!(
                "security.protocol={} needs --brokers: the embedded broker speaks plaintext only",
                security.protocol().name()
            ));
        }
        if servers.is_some() {
            security.settings.notes.push(format!(
                "bootstrap.servers (from {}) is ignored: --brokers names the cluster",
                props.source("bootstrap.servers")
            ));
        }
        Ok(security)
    }

    pub fn settings(&self) -> &SecuritySettings {
        &self.settings
    }

    pub fn protocol(&self) -> Protocol {
        self.settings.protocol
    }

    pub fn is_plaintext(&self) -> bool {
        self.settings.protocol == Protocol::Plaintext
    }

    /// The rustls configuration of the own client, when TLS is on.
    pub fn tls_config(&self) -> Option<&Arc<rustls::ClientConfig>> {
        self.tls.as_ref()
    }

    pub fn sasl(&self) -> Option<&SaslSettings> {
        self.settings.sasl.as_ref()
    }

    /// Whether connections log in with OAUTHBEARER tokens (rdkafka's admin
    /// client cannot: see `KafkaClient::create_topic`).
    pub fn uses_oauth(&self) -> bool {
        self.sasl().is_some_and(|s| s.oauth.is_some())
    }

    /// Whether the own client checks broker host names (for messages).
    pub fn verifies_hostname(&self) -> bool {
        self.settings
            .tls
            .as_ref()
            .is_some_and(|t| t.verify_hostname)
    }

    /// Logs the start-up notes (ignored keys, hostname check off) once.
    pub fn log_notes(&self) {
        for note in &self.settings.notes {
            tracing::warn!("Kafka client properties: {note}");
        }
    }

    /// One line for the start-up log: protocol, mechanism and user, never
    /// a secret.
    pub fn describe(&self) -> String {
        let mut text = self.settings.protocol.name().to_string();
        if let Some(sasl) = self.sasl() {
            text.push_str(&format!(
                " with SASL {} {}",
                sasl.mechanism.name(),
                sasl.who()
            ));
        }
        if let Some(tls) = &self.settings.tls {
            if let Some(ca) = &tls.ca_location {
                text.push_str(&format!(", CA file {}", ca.display()));
            }
            if let Some(cert) = &tls.certificate_location {
                text.push_str(&format!(", client certificate {}", cert.display()));
            }
            if !tls.verify_hostname {
                text.push_str(", host names NOT verified");
            }
        }
        text
    }

    /// An rdkafka configuration for `bootstrap` with these security
    /// properties; callers add their own settings afterwards (theirs win
    /// for non-security keys).
    pub fn rdkafka_config(&self, bootstrap: &str) -> rdkafka::ClientConfig {
        let mut config = rdkafka::ClientConfig::new();
        for (key, value) in &self.settings.rdkafka.0 {
            config.set(key, value);
        }
        config.set("bootstrap.servers", bootstrap);
        config
    }

    /// The context every rdkafka client is created with
    /// (`create_with_context`): it hands rdkafka the OAUTHBEARER tokens of
    /// the same provider the own client uses.
    pub fn rdkafka_context(&self) -> KafkaContext {
        KafkaContext::new(self.sasl().and_then(|s| s.oauth.clone()))
    }
}

/// Where a Kafka cluster is and how to talk to it: what every rdkafka user
/// gets instead of a bare bootstrap string, so none can forget security.
#[derive(Debug, Clone, Default)]
pub struct KafkaAccess {
    pub bootstrap: String,
    pub security: Arc<Security>,
}

impl KafkaAccess {
    pub fn new(bootstrap: impl Into<String>, security: Arc<Security>) -> Self {
        KafkaAccess {
            bootstrap: bootstrap.into(),
            security,
        }
    }

    /// A plaintext cluster (the embedded broker, tests).
    pub fn plaintext(bootstrap: impl Into<String>) -> Self {
        KafkaAccess::new(bootstrap, Arc::new(Security::plaintext()))
    }

    /// An rdkafka configuration with `bootstrap.servers` and security set.
    pub fn rdkafka_config(&self) -> rdkafka::ClientConfig {
        self.security.rdkafka_config(&self.bootstrap)
    }

    /// The context to create rdkafka clients with (see
    /// [`Security::rdkafka_context`]).
    pub fn rdkafka_context(&self) -> KafkaContext {
        self.security.rdkafka_context()
    }
}

/// A bare bootstrap string means a plaintext cluster (the embedded broker
/// and tests); configured clusters are passed as `KafkaAccess`.
impl From<&str> for KafkaAccess {
    fn from(bootstrap: &str) -> Self {
        KafkaAccess::plaintext(bootstrap)
    }
}

impl From<&String> for KafkaAccess {
    fn from(bootstrap: &String) -> Self {
        KafkaAccess::plaintext(bootstrap.as_str())
    }
}

impl From<String> for KafkaAccess {
    fn from(bootstrap: String) -> Self {
        KafkaAccess::plaintext(bootstrap)
    }
}

impl From<&KafkaAccess> for KafkaAccess {
    fn from(access: &KafkaAccess) -> Self {
        access.clone()
    }
}

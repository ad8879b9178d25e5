//! Kafka client properties → what each connection does: TLS (with which CA,
//! client certificate, hostname check) and SASL (which mechanism, user,
//! password), for the collector's own client; and the property list handed
//! to librdkafka for every rdkafka client. One validation for both, so they
//! cannot disagree, and so a security setting that would be ignored (say
//! `ssl.ca.location` with `security.protocol` left at PLAINTEXT) is an
//! error instead of a silent plaintext connection.

use std::path::PathBuf;
use std::sync::Arc;

use super::aws_credentials;
use super::jaas::{self, LoginModule};
use super::msk_iam::{self, MskIam, REGION_PROPERTY};
use super::oauth::{TokenProvider, TokenSource};
use super::secret::{is_secret_key, Secret};
use super::sources::{PropertySet, ENV_KEYS};

/// Java's login callback handlers for OAUTHBEARER: kafka-pulse has its own
/// token provider, so a vendor file naming one is accepted with a note.
const JAVA_OAUTH_HANDLERS: [&str; 2] = [
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerLoginCallbackHandler",
];

/// Amazon MSK's login callback handler for IAM: kafka-pulse signs MSK IAM
/// tokens itself, so the file MSK's documentation gives is accepted as is.
const MSK_IAM_HANDLER: &str = "software.amazon.msk.auth.iam.IAMClientCallbackHandler";

/// The `sasl.oauthbearer.method` that selects Amazon MSK IAM tokens.
pub const MSK_IAM_METHOD: &str = "aws_msk_iam";

/// What settings may be found from besides the properties: the process
/// environment and the bootstrap servers (MSK IAM's region, from
/// AWS_REGION or the MSK broker host names).
pub struct Surroundings<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub bootstrap: Option<&'a str>,
}

/// Keys of Java clients (and Confluent's Schema Registry serializers) that
/// mean nothing to kafka-pulse: vendors' client.properties files carry them,
/// so they are accepted and named in a start-up note rather than refused.
const JAVA_ONLY_KEYS: [&str; 12] = [
    "client.dns.lookup",
    "schema.registry.url",
    "basic.auth.credentials.source",
    "basic.auth.user.info",
    "schema.registry.basic.auth.user.info",
    "key.serializer",
    "value.serializer",
    "key.deserializer",
    "value.deserializer",
    "ssl.protocol",
    "ssl.enabled.protocols",
    "ssl.truststore.password",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslPlaintext => "SASL_PLAINTEXT",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    OAuthBearer,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of CAs trusted besides the system's roots.
    pub ca_location: Option<PathBuf>,
    /// Client certificate (chain) and key for mTLS.
    pub certificate_location: Option<PathBuf>,
    pub key_location: Option<PathBuf>,
    pub key_password: Option<Secret>,
    /// Check the broker's certificate names its host (on unless
    /// `ssl.endpoint.identification.algorithm` is empty or `none`).
    pub verify_hostname: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslSettings {
    pub mechanism: Mechanism,
    /// The user of PLAIN and SCRAM (empty for OAUTHBEARER).
    pub username: String,
    pub password: Secret,
    /// OAUTHBEARER's token provider, shared by the own client and
    /// rdkafka's token refresh callback.
    pub oauth: Option<Arc<TokenProvider>>,
}

impl SaslSettings {
    /// Who logs in, for messages: `of user 'alice'`, or where the token
    /// comes from. Never a secret.
    pub fn who(&self) -> String {
        match &self.oauth {
            Some(provider) => format!("with the token of {}", provider.source().describe()),
            None => format!("of user '{}'", self.username),
        }
    }
}

/// Validated client security: what both Kafka clients of kafka-pulse do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecuritySettings {
    pub protocol: Protocol,
    pub tls: Option<TlsSettings>,
    pub sasl: Option<SaslSettings>,
    /// Properties for librdkafka, by librdkafka's names (secrets included;
    /// `Debug` of the list redacts them).
    pub rdkafka: RdkafkaProperties,
    /// Things to log once at start (ignored keys, hostname check off).
    pub notes: Vec<String>,
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct RdkafkaProperties(pub Vec<(String, String)>);

impl std::fmt::Debug for RdkafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.0 {
            if is_secret_key(key) {
                map.entry(key, &"<redacted>");
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

/// How to turn a Java keystore into the PEM files kafka-pulse reads.
fn keystore_help(key: &str, location: &str, kind: &str) -> String {
    let p12 = if kind.eq_ignore_ascii_case("PKCS12") {
        location.to_string()
    } else {
        "store.p12".to_string()
    };
    let to_p12 = if kind.eq_ignore_ascii_case("PKCS12") {
        String::new()
    } else {
        format!(
            "  keytool -importkeystore -srckeystore {location} -srcstoretype JKS \
             -destkeystore store.p12 -deststoretype PKCS12\n"
        )
    };
    if key == "ssl.truststore.location" {
        format!(
            "{key}={location} is a Java {kind} keystore, which kafka-pulse does not read; \
             export its CA certificates to PEM and use ssl.ca.location:\n{to_p12}  \
             openssl pkcs12 -in {p12} -nokeys -out ca.pem\n\
             then set ssl.ca.location=ca.pem (and drop the ssl.truststore.* properties). \
             A PEM truststore (ssl.truststore.type=PEM) is read as it is."
        )
    } else {
        format!(
            "{key}={location} is a Java {kind} keystore, which kafka-pulse does not read; \
             export the client certificate and key to PEM:\n{to_p12}  \
             openssl pkcs12 -in {p12} -clcerts -nokeys -out client.pem\n  \
             openssl pkcs12 -in {p12} -nocerts -out client.key\n\
             then set ssl.certificate.location=client.pem, ssl.key.location=client.key and \
             ssl.key.password to the passphrase openssl asked for (and drop the ssl.keystore.* \
             properties). A PEM keystore (ssl.keystore.type=PEM) is read as it is."
        )
    }
}

/// Where OAUTHBEARER tokens come from: a token file
/// (`sasl.oauthbearer.token.file`, or Java's `file:` token endpoint URL)
/// or OIDC client credentials (an http(s) token endpoint with a client id
/// and secret from the properties or the OAuthBearerLoginModule line).
fn oauth_source(
    props: &PropertySet,
    login: Option<&jaas::JaasLogin>,
    notes: &mut Vec<String>,
) -> Result<TokenSource, String> {
    let named = |key: &str| format!("{key} (from {})", props.source(key));
    let method = props
        .get("sasl.oauthbearer.method")
        .map(|m| m.trim().to_ascii_lowercase());
    if let Some(other) = method
        .as_deref()
        .filter(|m| *m != "oidc" && *m != "default")
    {
        return Err(format!(
            "{} must be default (a token file), oidc (client credentials) or {MSK_IAM_METHOD} \
             (Amazon MSK IAM), got '{other}'",
            named("sasl.oauthbearer.method")
        ));
    }
    let endpoint = props
        .get("sasl.oauthbearer.token.endpoint.url")
        .map(|u| u.trim().to_string());
    let file = props.get("sasl.oauthbearer.token.file").map(PathBuf::from);
    // Java reads a token file given as a file: endpoint URL.
    let endpoint_file = match endpoint.as_deref() {
        Some(text) if text.to_ascii_lowercase().starts_with("file:") => Some(
            url::Url::parse(text)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    format!(
                        "{} is not a file URL such as file:///etc/kafka/token.jwt",
                        named("sasl.oauthbearer.token.endpoint.url")
                    )
                })?,
        ),
        _ => None,
    };
    let client_id = props
        .get("sasl.oauthbearer.client.id")
        .map(str::to_string)
        .or_else(|| login.and_then(|l| l.client_id.clone()));
    let client_secret = props
        .get("sasl.oauthbearer.client.secret")
        .map(Secret::new)
        .or_else(|| login.and_then(|l| l.client_secret.clone()));
    let scope = props
        .get("sasl.oauthbearer.scope")
        .map(str::to_string)
        .or_else(|| login.and_then(|l| l.scope.clone()))
        .filter(|s| !s.trim().is_empty());
    match (file.or(endpoint_file), endpoint) {
        (Some(path), endpoint) => {
            if method.as_deref() == Some("oidc") {
                return Err(
                    "sasl.oauthbearer.method=oidc fetches tokens from an http(s) token endpoint; \
                     a token file is read with sasl.oauthbearer.method=default (or unset)"
                        .into(),
                );
            }
            if let Some(url) = endpoint.filter(|u| !u.to_ascii_lowercase().starts_with("file:")) {
                return Err(format!(
                    "both sasl.oauthbearer.token.file and the token endpoint {url} are set: keep one"
                ));
            }
            if client_id.is_some() || client_secret.is_some() {
                notes.push(
                    "the OAUTHBEARER client id and secret are ignored: the token comes from a file"
                        .into(),
                );
            }
            Ok(TokenSource::File(path))
        }
        (None, Some(url)) => {
            let parsed = url::Url::parse(&url).map_err(|_| {
                format!(
                    "{} is not a URL",
                    named("sasl.oauthbearer.token.endpoint.url")
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(format!(
                    "{} must be an http(s) token endpoint or a file: URL",
                    named("sasl.oauthbearer.token.endpoint.url")
                ));
            }
            if parsed.scheme() == "http" {
                notes.push(format!(
                    "the OAUTHBEARER token endpoint {url} is plain http: the client secret and \
                     tokens cross the network unencrypted"
                ));
            }
            let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
                return Err(format!(
                    "the OAUTHBEARER token endpoint {url} needs sasl.oauthbearer.client.id and \
                     sasl.oauthbearer.client.secret (e.g. KAFKA_PULSE_KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET_FILE), \
                     or clientId and clientSecret in the OAuthBearerLoginModule line"
                ));
            };
            if client_id.trim().is_empty() {
                return Err("sasl.oauthbearer.client.id is empty".into());
            }
            Ok(TokenSource::Oidc {
                endpoint: url,
                client_id,
                client_secret,
                scope,
            })
        }
        (None, None) => Err(
            "sasl.mechanism=OAUTHBEARER needs a token source: sasl.oauthbearer.token.file=FILE \
             (a token that is re-read when the file changes), or sasl.oauthbearer.method=oidc \
             with sasl.oauthbearer.token.endpoint.url, sasl.oauthbearer.client.id and \
             sasl.oauthbearer.client.secret"
                .into(),
        ),
    }
}

/// Amazon MSK IAM: the region (the `aws.region` property, AWS_REGION,
/// AWS_DEFAULT_REGION, the MSK broker host names) and the identity of the
/// IAMLoginModule line. The OAUTHBEARER keys of the other sources would be
/// ignored, so they are refused.
fn msk_iam_source(
    props: &PropertySet,
    login: Option<&jaas::JaasLogin>,
    around: &Surroundings<'_>,
) -> Result<TokenSource, String> {
    let named = |key: &str| format!("{key} (from {})", props.source(key));
    if let Some(method) = props
        .get("sasl.oauthbearer.method")
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| m != MSK_IAM_METHOD)
    {
        return Err(format!(
            "{} is {method}, but AWS MSK IAM (sasl.mechanism=AWS_MSK_IAM or the IAMLoginModule) \
             signs its own tokens: drop it or set it to {MSK_IAM_METHOD}",
            named("sasl.oauthbearer.method")
        ));
    }
    if let Some(key) = props
        .entries
        .keys()
        .find(|k| k.starts_with("sasl.oauthbearer.") && *k != "sasl.oauthbearer.method")
    {
        return Err(format!(
            "{} is set, but AWS MSK IAM signs its own tokens from AWS credentials: drop it",
            named(key)
        ));
    }
    let aws = login
        .filter(|l| l.module == LoginModule::AwsMskIam)
        .map(|l| l.aws.clone())
        .unwrap_or_default();
    if let Some(why) = aws_credentials::unsupported(&aws) {
        return Err(format!("{why} (from {})", props.source("sasl.jaas.config")));
    }
    let bootstrap = around.bootstrap.or_else(|| props.get("bootstrap.servers"));
    let (region, region_from) = msk_iam::resolve_region(
        props
            .get(REGION_PROPERTY)
            .map(|value| (value, props.source(REGION_PROPERTY))),
        around.env,
        bootstrap,
    )?;
    Ok(TokenSource::MskIam(MskIam {
        region,
        region_from,
        login: aws,
    }))
}

/// Checks `props` and decides what the clients do. `rdkafka_knows` says
/// whether librdkafka accepts a property (`None`) or why not. MSK IAM's
/// region is looked for in the properties only (`bootstrap.servers`
/// included); see [`resolve_in`].
pub fn resolve(
    props: &PropertySet,
    rdkafka_knows: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<SecuritySettings, String> {
    let around = Surroundings {
        env: &|_| None,
        bootstrap: None,
    };
    resolve_in(props, &around, rdkafka_knows)
}

/// [`resolve`], with the environment and bootstrap servers `around`.
pub fn resolve_in(
    props: &PropertySet,
    around: &Surroundings<'_>,
    rdkafka_knows: &dyn Fn(&str, &str) -> Option<String>,
) -> Result<SecuritySettings, String> {
    let mut notes = Vec::new();
    let mut rdkafka: Vec<(String, String)> = Vec::new();
    let named = |key: &str| format!("{key} (from {})", props.source(key));

    let protocol = match props.get("security.protocol") {
        None => Protocol::Plaintext,
        Some(text) => match text.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Protocol::Plaintext,
            "SSL" => Protocol::Ssl,
            "SASL_PLAINTEXT" => Protocol::SaslPlaintext,
            "SASL_SSL" => Protocol::SaslSsl,
            _ => {
                return Err(format!(
                    "{} must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got '{text}'",
                    named("security.protocol")
                ))
            }
        },
    };

    let mut ca_location = props.get("ssl.ca.location").map(PathBuf::from);
    let mut certificate_location = props.get("ssl.certificate.location").map(PathBuf::from);
    let mut key_location = props.get("ssl.key.location").map(PathBuf::from);
    let key_password = props.get("ssl.key.password").map(Secret::new);

    // Java keystores: PEM ones are read as they are, the others get the
    // commands that export PEM.
    for (location_key, type_key) in [
        ("ssl.truststore.location", "ssl.truststore.type"),
        ("ssl.keystore.location", "ssl.keystore.type"),
    ] {
        let Some(location) = props.get(location_key) else {
            if props.get(type_key).is_some() {
                notes.push(format!(
                    "{} is ignored without {location_key}",
                    named(type_key)
                ));
            }
            continue;
        };
        let kind = props
            .get(type_key)
            .unwrap_or("JKS")
            .trim()
            .to_ascii_uppercase();
        if kind != "PEM" {
            let kind = if location.to_ascii_lowercase().ends_with(".p12")
                || location.to_ascii_lowercase().ends_with(".pfx")
            {
                "PKCS12".to_string()
            } else {
                kind
            };
            return Err(keystore_help(location_key, location, &kind));
        }
        if location_key == "ssl.truststore.location" {
            if ca_location.is_some() {
                return Err(format!(
                    "both ssl.ca.location and {} are set: keep one",
                    named(location_key)
                ));
            }
            ca_location = Some(PathBuf::from(location));
        } else {
            if certificate_location.is_some() || key_location.is_some() {
                return Err(format!(
                    "both ssl.certificate.location/ssl.key.location and {} are set: keep one",
                    named(location_key)
                ));
            }
            // A PEM keystore holds the key and the certificate chain.
            certificate_location = Some(PathBuf::from(location));
            key_location = Some(PathBuf::from(location));
        }
    }
    if props.get("ssl.keystore.password").is_some() && props.get("ssl.keystore.location").is_none()
    {
        notes.push("ssl.keystore.password is ignored without ssl.keystore.location".into());
    }

    let verify_hostname = match props.get("ssl.endpoint.identification.algorithm") {
        None => true,
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "https" => true,
            "" | "none" => false,
            other => {
                return Err(format!(
                    "{} must be https (the default) or empty/none to turn the hostname check \
                     off, got '{other}'",
                    named("ssl.endpoint.identification.algorithm")
                ))
            }
        },
    };

    if certificate_location.is_some() != key_location.is_some() {
        return Err(
            "ssl.certificate.location and ssl.key.location go together: a client certificate \
             needs its key"
                .into(),
        );
    }
    if key_password.is_some() && key_location.is_none() {
        return Err("ssl.key.password is set but ssl.key.location is not".into());
    }

    let ssl_given: Vec<&str> = props
        .entries
        .keys()
        .filter(|k| k.starts_with("ssl."))
        .map(String::as_str)
        .filter(|k| !JAVA_ONLY_KEYS.contains(k))
        .collect();
    let tls = if protocol.uses_tls() {
        if !verify_hostname {
            notes.push(
                "ssl.endpoint.identification.algorithm is empty: broker certificates are \
                 checked against the CA but NOT against the broker's host name"
                    .into(),
            );
        }
        Some(TlsSettings {
            ca_location: ca_location.clone(),
            certificate_location: certificate_location.clone(),
            key_location: key_location.clone(),
            key_password: key_password.clone(),
            verify_hostname,
        })
    } else {
        if let Some(key) = ssl_given.first() {
            return Err(format!(
                "{} is set but security.protocol is {}: TLS settings would be ignored and the \
                 connection made without TLS; set security.protocol=SSL or SASL_SSL",
                named(key),
                protocol.name()
            ));
        }
        None
    };

    // SASL: sasl.username/sasl.password win over the JAAS line's.
    let login = props
        .get("sasl.jaas.config")
        .map(jaas::parse)
        .transpose()
        .map_err(|e| format!("{e} (from {})", props.source("sasl.jaas.config")))?;
    let mechanism_text = props
        .get("sasl.mechanism")
        .or_else(|| props.get("sasl.mechanisms"));
    let sasl_given: Vec<&str> = props
        .entries
        .keys()
        .filter(|k| k.starts_with("sasl."))
        .map(String::as_str)
        .collect();
    // Amazon MSK IAM runs as OAUTHBEARER with a signed token; it is asked
    // for by MSK's own mechanism name, by its login module, or as an
    // OAUTHBEARER method.
    let login_is_msk = login.as_ref().map(|l| l.module) == Some(LoginModule::AwsMskIam);
    let mut msk = login_is_msk
        || props
            .get("sasl.oauthbearer.method")
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(MSK_IAM_METHOD));
    let sasl = if protocol.uses_sasl() {
        let mechanism = match mechanism_text.map(|m| m.trim().to_ascii_uppercase()) {
            Some(m) if m == "PLAIN" => Mechanism::Plain,
            Some(m) if m == "SCRAM-SHA-256" => Mechanism::ScramSha256,
            Some(m) if m == "SCRAM-SHA-512" => Mechanism::ScramSha512,
            Some(m) if m == "GSSAPI" => {
                return Err(
                    "sasl.mechanism=GSSAPI (Kerberos) is not supported by kafka-pulse; \
                     use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                        .into(),
                )
            }
            Some(m) if m == "OAUTHBEARER" => Mechanism::OAuthBearer,
            Some(m) if m == "AWS_MSK_IAM" => {
                msk = true;
                Mechanism::OAuthBearer
            }
            Some(m) => {
                return Err(format!(
                    "{} must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or AWS_MSK_IAM, \
                     got '{m}'",
                    named("sasl.mechanism")
                ))
            }
            // PLAIN and OAUTHBEARER can be told from the login module alone.
            None if login.as_ref().map(|l| l.module) == Some(LoginModule::Plain) => {
                Mechanism::Plain
            }
            None if login.as_ref().map(|l| l.module) == Some(LoginModule::OAuthBearer)
                || login_is_msk =>
            {
                Mechanism::OAuthBearer
            }
            None => {
                return Err(format!(
                    "security.protocol={} needs sasl.mechanism (PLAIN, SCRAM-SHA-256, \
                     SCRAM-SHA-512 or OAUTHBEARER)",
                    protocol.name()
                ))
            }
        };
        if let Some(login) = &login {
            let fits = match login.module {
                LoginModule::Plain => mechanism == Mechanism::Plain,
                LoginModule::Scram => {
                    matches!(mechanism, Mechanism::ScramSha256 | Mechanism::ScramSha512)
                }
                LoginModule::OAuthBearer => mechanism == Mechanism::OAuthBearer && !msk,
                LoginModule::AwsMskIam => mechanism == Mechanism::OAuthBearer,
            };
            if !fits {
                let module = match login.module {
                    LoginModule::Plain => "PLAIN",
                    LoginModule::Scram => "SCRAM",
                    LoginModule::OAuthBearer => "OAUTHBEARER",
                    LoginModule::AwsMskIam => "AWS MSK IAM",
                };
                return Err(if msk && login.module != LoginModule::AwsMskIam {
                    format!(
                        "sasl.jaas.config uses the {module} login module but the login is AWS \
                         MSK IAM: use software.amazon.msk.auth.iam.IAMLoginModule, or no \
                         sasl.jaas.config"
                    )
                } else {
                    format!(
                        "sasl.jaas.config uses the {module} login module but sasl.mechanism is {}",
                        mechanism.name()
                    )
                });
            }
        }
        let oauth_keys: Vec<&str> = sasl_given
            .iter()
            .copied()
            .filter(|k| k.starts_with("sasl.oauthbearer."))
            .collect();
        if mechanism == Mechanism::OAuthBearer {
            let source = if msk {
                msk_iam_source(props, login.as_ref(), around)?
            } else {
                oauth_source(props, login.as_ref(), &mut notes)?
            };
            for key in ["sasl.username", "sasl.password"] {
                if props.get(key).is_some() {
                    return Err(format!(
                        "{} is set but sasl.mechanism is OAUTHBEARER, which logs in with a token",
                        named(key)
                    ));
                }
            }
            rdkafka.push(("sasl.mechanism".into(), mechanism.name().into()));
            Some(SaslSettings {
                mechanism,
                username: String::new(),
                password: Secret::default(),
                oauth: Some(TokenProvider::new(source)),
            })
        } else {
            if let Some(key) = oauth_keys.first() {
                return Err(format!(
                    "{} is set but sasl.mechanism is {}: set sasl.mechanism=OAUTHBEARER to log in \
                 with a token",
                    named(key),
                    mechanism.name()
                ));
            }
            let username = props
                .get("sasl.username")
                .map(str::to_string)
                .or_else(|| login.as_ref().and_then(|l| l.username.clone()));
            let password = props
                .get("sasl.password")
                .map(Secret::new)
                .or_else(|| login.as_ref().and_then(|l| l.password.clone()));
            let (Some(username), Some(password)) = (username, password) else {
                return Err(format!(
                "sasl.mechanism={} needs a user and a password: sasl.username and sasl.password \
                 (e.g. KAFKA_PULSE_KAFKA_SASL_PASSWORD), or sasl.jaas.config",
                mechanism.name()
            ));
            };
            if username.is_empty() {
                return Err("sasl.username is empty".into());
            }
            rdkafka.push(("sasl.mechanism".into(), mechanism.name().into()));
            rdkafka.push(("sasl.username".into(), username.clone()));
            rdkafka.push(("sasl.password".into(), password.expose().to_string()));
            Some(SaslSettings {
                mechanism,
                username,
                password,
                oauth: None,
            })
        }
    } else {
        if let Some(key) = sasl_given.first() {
            return Err(format!(
                "{} is set but security.protocol is {}: SASL settings would be ignored; set \
                 security.protocol=SASL_SSL or SASL_PLAINTEXT",
                named(key),
                protocol.name()
            ));
        }
        None
    };

    let is_msk = sasl
        .as_ref()
        .and_then(|s| s.oauth.as_ref())
        .is_some_and(|p| matches!(p.source(), TokenSource::MskIam(_)));
    if props.get(REGION_PROPERTY).is_some() && !is_msk {
        return Err(format!(
            "{} is set but the login is not AWS MSK IAM: set sasl.mechanism=AWS_MSK_IAM (with \
             security.protocol=SASL_SSL), or drop it",
            named(REGION_PROPERTY)
        ));
    }

    // What librdkafka gets for the properties both clients share.
    rdkafka.push((
        "security.protocol".into(),
        protocol.name().to_ascii_lowercase(),
    ));
    if let Some(tls) = &tls {
        let path = |p: &PathBuf| p.display().to_string();
        if let Some(ca) = &tls.ca_location {
            rdkafka.push(("ssl.ca.location".into(), path(ca)));
        }
        if let Some(cert) = &tls.certificate_location {
            rdkafka.push(("ssl.certificate.location".into(), path(cert)));
        }
        if let Some(key) = &tls.key_location {
            rdkafka.push(("ssl.key.location".into(), path(key)));
        }
        if let Some(password) = &tls.key_password {
            rdkafka.push(("ssl.key.password".into(), password.expose().to_string()));
        }
        rdkafka.push((
            "ssl.endpoint.identification.algorithm".into(),
            if tls.verify_hostname { "https" } else { "none" }.into(),
        ));
    }

    // Every other key: ignored Java-only keys, refused security keys the
    // own client would not honour, and anything librdkafka knows.
    for (key, property) in &props.entries {
        let handled = ENV_KEYS.contains(&key.as_str())
            || matches!(
                key.as_str(),
                "sasl.mechanisms"
                    | "bootstrap.servers"
                    | "ssl.truststore.location"
                    | "ssl.truststore.type"
                    | "ssl.keystore.location"
                    | "ssl.keystore.type"
                    | "ssl.keystore.password"
            );
        if handled {
            continue;
        }
        if JAVA_ONLY_KEYS.contains(&key.as_str()) {
            notes.push(format!(
                "{} concerns Java clients only and is ignored",
                named(key)
            ));
            continue;
        }
        if key == "sasl.client.callback.handler.class"
            && property.value.trim() == MSK_IAM_HANDLER
            && is_msk
        {
            notes.push(format!(
                "{} is ignored: kafka-pulse signs AWS MSK IAM tokens itself",
                named(key)
            ));
            continue;
        }
        if key == "sasl.login.callback.handler.class"
            && JAVA_OAUTH_HANDLERS.contains(&property.value.trim())
        {
            notes.push(format!(
                "{} is ignored: kafka-pulse fetches OAUTHBEARER tokens itself",
                named(key)
            ));
            continue;
        }
        if key.starts_with("sasl.oauthbearer") || key.starts_with("sasl.login") {
            return Err(format!(
                "{} is not supported: for OAUTHBEARER kafka-pulse reads sasl.oauthbearer.method, \
                 sasl.oauthbearer.token.file, sasl.oauthbearer.token.endpoint.url, \
                 sasl.oauthbearer.client.id, sasl.oauthbearer.client.secret and \
                 sasl.oauthbearer.scope",
                named(key)
            ));
        }
        if key.starts_with("sasl.kerberos") {
            return Err(format!(
                "{}: Kerberos (GSSAPI) is not supported by kafka-pulse",
                named(key)
            ));
        }
        if key.starts_with("ssl.") || key.starts_with("sasl.") {
            return Err(format!(
                "{} is not supported: both of kafka-pulse's Kafka clients must use the same \
                 security, and its own client reads only security.protocol, ssl.ca.location, \
                 ssl.certificate.location, ssl.key.location, ssl.key.password, \
                 ssl.endpoint.identification.algorithm, sasl.mechanism, sasl.username, \
                 sasl.password and sasl.jaas.config",
                named(key)
            ));
        }
        if let Some(why) = rdkafka_knows(key, &property.value) {
            return Err(format!(
                "unknown Kafka client property {}: {why}",
                named(key)
            ));
        }
        rdkafka.push((key.clone(), property.value.clone()));
    }
    Ok(SecuritySettings {
        protocol,
        tls,
        sasl,
        rdkafka: RdkafkaProperties(rdkafka),
        notes,
    })
}

/// Asks librdkafka whether it accepts `key=value` (a configuration object
/// only, no client is made): `None` if so, else why not (the value is
/// quoted only when the key is not a secret's).
pub fn librdkafka_accepts(key: &str, value: &str) -> Option<String> {
    use rdkafka::error::KafkaError;
    let mut config = rdkafka::ClientConfig::new();
    config.set(key, value);
    match config.create_native_config() {
        Ok(_) => None,
        Err(KafkaError::ClientConfig(code, description, _, _)) => Some(match code {
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN => {
                "neither kafka-pulse nor librdkafka knows it".to_string()
            }
            _ if is_secret_key(key) => "librdkafka refuses its value".to_string(),
            _ => format!("librdkafka refuses it: {description}"),
        }),
        Err(other) => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> PropertySet {
        let mut set = PropertySet::default();
        for (k, v) in pairs {
            set.set(k, v, "test");
        }
        set
    }

    fn resolve_ok(pairs: &[(&str, &str)]) -> SecuritySettings {
        resolve(&props(pairs), &librdkafka_accepts).unwrap()
    }

    fn resolve_err(pairs: &[(&str, &str)]) -> String {
        let error = resolve(&props(pairs), &librdkafka_accepts).unwrap_err();
        for (_, value) in pairs {
            if value.contains("hunter2") {
                assert!(!error.contains("hunter2"), "secret in {error}");
            }
        }
        error
    }

    fn rd(settings: &SecuritySettings, key: &str) -> Option<String> {
        settings
            .rdkafka
            .0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    #[test]
    fn nothing_set_is_plaintext() {
        let settings = resolve_ok(&[]);
        assert_eq!(settings.protocol, Protocol::Plaintext);
        assert!(settings.tls.is_none() && settings.sasl.is_none());
        assert_eq!(
            rd(&settings, "security.protocol").as_deref(),
            Some("plaintext")
        );
    }

    #[test]
    fn sasl_ssl_scram_from_a_jaas_line() {
        let settings = resolve_ok(&[
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"hunter2\";",
            ),
            ("ssl.ca.location", "/etc/ca.pem"),
        ]);
        assert_eq!(settings.protocol, Protocol::SaslSsl);
        let sasl = settings.sasl.clone().unwrap();
        assert_eq!(sasl.mechanism, Mechanism::ScramSha512);
        assert_eq!(sasl.username, "alice");
        assert_eq!(sasl.password.expose(), "hunter2");
        let tls = settings.tls.clone().unwrap();
        assert!(tls.verify_hostname);
        assert_eq!(tls.ca_location, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(rd(&settings, "sasl.username").as_deref(), Some("alice"));
        assert_eq!(rd(&settings, "sasl.password").as_deref(), Some("hunter2"));
        assert_eq!(
            rd(&settings, "sasl.mechanism").as_deref(),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(rd(&settings, "sasl.jaas.config"), None);
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn plain_is_inferred_from_the_plain_login_module_and_explicit_keys_win() {
        let settings = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username='k' password='hunter2';",
            ),
            ("sasl.username", "override"),
        ]);
        let sasl = settings.sasl.unwrap();
        assert_eq!(sasl.mechanism, Mechanism::Plain);
        assert_eq!(sasl.username, "override");
        assert_eq!(sasl.password.expose(), "hunter2");
    }

    #[test]
    fn security_settings_never_silently_ignored() {
        let error = resolve_err(&[("ssl.ca.location", "/ca.pem")]);
        assert!(error.contains("security.protocol is PLAINTEXT"), "{error}");
        let error = resolve_err(&[("security.protocol", "SSL"), ("sasl.username", "u")]);
        assert!(error.contains("SASL settings would be ignored"), "{error}");
        let error = resolve_err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
        ]);
        assert!(error.contains("needs a user and a password"), "{error}");
        let error = resolve_err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
        ]);
        assert!(error.contains("needs sasl.mechanism"), "{error}");
        let error = resolve_err(&[("security.protocol", "TLS")]);
        assert!(
            error.contains("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
            "{error}"
        );
        let error = resolve_err(&[
            ("security.protocol", "SSL"),
            ("ssl.certificate.location", "/c.pem"),
        ]);
        assert!(error.contains("go together"), "{error}");
        let error = resolve_err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.plain.PlainLoginModule required username='k' password='hunter2';",
            ),
        ]);
        assert!(error.contains("login module"), "{error}");
        for mechanism in ["GSSAPI", "OAUTHBEARER", "DIGEST"] {
            let error = resolve_err(&[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", mechanism),
            ]);
            assert!(error.contains(mechanism), "{error}");
        }
    }

    #[test]
    fn hostname_verification_is_on_unless_turned_off_with_a_note() {
        let on = resolve_ok(&[("security.protocol", "SSL")]);
        assert!(on.tls.unwrap().verify_hostname);
        assert!(on.notes.is_empty());
        let off = resolve_ok(&[
            ("security.protocol", "SSL"),
            ("ssl.endpoint.identification.algorithm", ""),
        ]);
        assert!(!off.tls.clone().unwrap().verify_hostname);
        assert!(off.notes[0].contains("NOT against the broker's host name"));
        assert_eq!(
            rd(&off, "ssl.endpoint.identification.algorithm").as_deref(),
            Some("none")
        );
        let error = resolve_err(&[
            ("security.protocol", "SSL"),
            ("ssl.endpoint.identification.algorithm", "http"),
        ]);
        assert!(error.contains("https"), "{error}");
    }

    #[test]
    fn java_keystores_get_the_commands_that_export_pem() {
        let error = resolve_err(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", "/etc/kafka/truststore.jks"),
            ("ssl.truststore.password", "hunter2"),
        ]);
        assert!(
            error.contains("keytool -importkeystore -srckeystore /etc/kafka/truststore.jks"),
            "{error}"
        );
        assert!(
            error.contains("openssl pkcs12 -in store.p12 -nokeys -out ca.pem"),
            "{error}"
        );
        let error = resolve_err(&[
            ("security.protocol", "SSL"),
            ("ssl.keystore.location", "/etc/kafka/client.p12"),
            ("ssl.keystore.type", "PKCS12"),
        ]);
        assert!(!error.contains("keytool"), "{error}");
        assert!(
            error.contains(
                "openssl pkcs12 -in /etc/kafka/client.p12 -clcerts -nokeys -out client.pem"
            ),
            "{error}"
        );
        assert!(error.contains("-nocerts -out client.key"), "{error}");
        // PEM stores are read as they are.
        let settings = resolve_ok(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", "/ca.pem"),
            ("ssl.truststore.type", "PEM"),
            ("ssl.keystore.location", "/client.pem"),
            ("ssl.keystore.type", "pem"),
        ]);
        let tls = settings.tls.unwrap();
        assert_eq!(tls.ca_location, Some(PathBuf::from("/ca.pem")));
        assert_eq!(tls.certificate_location, Some(PathBuf::from("/client.pem")));
        assert_eq!(tls.key_location, Some(PathBuf::from("/client.pem")));
    }

    #[test]
    fn other_keys_go_to_librdkafka_when_it_knows_them() {
        let settings = resolve_ok(&[
            ("security.protocol", "SSL"),
            ("socket.keepalive.enable", "true"),
            ("client.dns.lookup", "use_all_dns_ips"),
        ]);
        assert_eq!(
            rd(&settings, "socket.keepalive.enable").as_deref(),
            Some("true")
        );
        assert_eq!(rd(&settings, "client.dns.lookup"), None);
        assert!(settings
            .notes
            .iter()
            .any(|n| n.contains("client.dns.lookup")));
        let error = resolve_err(&[("no.such.property", "1")]);
        assert!(
            error.contains("no.such.property") && error.contains("neither"),
            "{error}"
        );
        let error = resolve_err(&[("socket.keepalive.enable", "maybe")]);
        assert!(error.contains("refuses"), "{error}");
        let error = resolve_err(&[("security.protocol", "SSL"), ("ssl.ca.pem", "x")]);
        assert!(error.contains("not supported"), "{error}");
        let error = resolve_err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
            ("sasl.oauthbearer.token.endpoint.url", "https://idp"),
        ]);
        assert!(
            error.contains("sasl.oauthbearer.token.endpoint.url")
                && error.contains("sasl.mechanism is PLAIN"),
            "{error}"
        );
    }

    fn source(settings: &SecuritySettings) -> TokenSource {
        settings
            .sasl
            .as_ref()
            .unwrap()
            .oauth
            .as_ref()
            .unwrap()
            .source()
            .clone()
    }

    #[test]
    fn oauthbearer_from_a_token_file_or_oidc_client_credentials() {
        let file = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.token.file", "/run/token.jwt"),
        ]);
        assert_eq!(source(&file), TokenSource::File("/run/token.jwt".into()));
        assert_eq!(rd(&file, "sasl.mechanism").as_deref(), Some("OAUTHBEARER"));
        // Nothing token-related reaches librdkafka: tokens come from the callback.
        assert!(file
            .rdkafka
            .0
            .iter()
            .all(|(k, _)| !k.starts_with("sasl.oauthbearer")));
        // Java's form of a token file.
        let java = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "file:///run/token.jwt",
            ),
        ]);
        assert_eq!(source(&java), TokenSource::File("/run/token.jwt".into()));

        let oidc = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "OIDC"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "https://idp.example.com/token",
            ),
            ("sasl.oauthbearer.client.id", "pulse"),
            ("sasl.oauthbearer.client.secret", "hunter2"),
            ("sasl.oauthbearer.scope", "kafka"),
        ]);
        assert_eq!(
            source(&oidc),
            TokenSource::Oidc {
                endpoint: "https://idp.example.com/token".into(),
                client_id: "pulse".into(),
                client_secret: Secret::new("hunter2"),
                scope: Some("kafka".into()),
            }
        );
        assert!(oidc.notes.is_empty(), "{:?}", oidc.notes);
        let shown = format!("{oidc:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            oidc.sasl.as_ref().unwrap().who(),
            "with the token of client id 'pulse' at token endpoint https://idp.example.com/token"
        );

        // Java's OIDC form: the mechanism and credentials from the JAAS line,
        // its login callback handler ignored with a note.
        let java = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            (
                "sasl.oauthbearer.token.endpoint.url",
                "http://127.0.0.1:8080/token",
            ),
            (
                "sasl.login.callback.handler.class",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
            ),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 clientId='pulse' clientSecret='hunter2' scope='kafka';",
            ),
        ]);
        assert!(
            matches!(source(&java), TokenSource::Oidc { client_id, .. } if client_id == "pulse")
        );
        assert!(
            java.notes.iter().any(|n| n.contains("plain http")),
            "{:?}",
            java.notes
        );
        assert!(
            java.notes.iter().any(|n| n.contains("callback.handler")),
            "{:?}",
            java.notes
        );
    }

    #[test]
    fn oauthbearer_settings_that_cannot_work_are_refused() {
        let base = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ];
        let with = |more: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(more);
            resolve_err(&pairs)
        };
        assert!(with(&[]).contains("needs a token source"));
        let error = with(&[("sasl.oauthbearer.token.endpoint.url", "https://idp/token")]);
        assert!(
            error.contains("needs sasl.oauthbearer.client.id"),
            "{error}"
        );
        let error = with(&[
            ("sasl.oauthbearer.token.endpoint.url", "ftp://idp/token"),
            ("sasl.oauthbearer.client.id", "c"),
            ("sasl.oauthbearer.client.secret", "hunter2"),
        ]);
        assert!(error.contains("http(s)"), "{error}");
        let error = with(&[
            ("sasl.oauthbearer.method", "oidc"),
            ("sasl.oauthbearer.token.file", "/t"),
        ]);
        assert!(error.contains("method=oidc"), "{error}");
        let error = with(&[("sasl.oauthbearer.method", "magic")]);
        assert!(
            error.contains("default") && error.contains("oidc"),
            "{error}"
        );
        let error = with(&[
            ("sasl.oauthbearer.token.file", "/t"),
            ("sasl.username", "u"),
        ]);
        assert!(error.contains("logs in with a token"), "{error}");
        let error = with(&[
            ("sasl.oauthbearer.token.file", "/t"),
            ("sasl.oauthbearer.extensions", "logicalCluster=lkc-1"),
        ]);
        assert!(error.contains("sasl.oauthbearer.extensions"), "{error}");
        let error = with(&[(
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=hunter2;",
        )]);
        assert!(error.contains("login module"), "{error}");
    }

    #[test]
    fn real_world_files_resolve() {
        // Confluent Cloud's downloadable client.properties.
        let confluent = super::super::properties::parse(
            "bootstrap.servers=pkc-x.confluent.cloud:9092\nsecurity.protocol=SASL_SSL\n\
             sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username='KEY' password='hunter2';\n\
             sasl.mechanism=PLAIN\nclient.dns.lookup=use_all_dns_ips\nsession.timeout.ms=45000\nacks=all\n\
             schema.registry.url=https://psrc-x.confluent.cloud\nbasic.auth.credentials.source=USER_INFO\n\
             basic.auth.user.info=SR:hunter2\n",
        )
        .unwrap();
        let mut set = PropertySet::default();
        for e in confluent {
            set.set(&e.key, &e.value, "file");
        }
        let settings = resolve(&set, &librdkafka_accepts).unwrap();
        assert_eq!(settings.sasl.as_ref().unwrap().mechanism, Mechanism::Plain);
        assert_eq!(settings.sasl.as_ref().unwrap().username, "KEY");
        assert!(!format!("{settings:?}").contains("hunter2"));
        // Strimzi's SCRAM user with its CA exported as PEM.
        let strimzi = props(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("ssl.truststore.location", "/tmp/ca.crt"),
            ("ssl.truststore.type", "PEM"),
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"my-user\" password=\"hunter2\";",
            ),
        ]);
        let settings = resolve(&strimzi, &librdkafka_accepts).unwrap();
        assert_eq!(
            settings.tls.unwrap().ca_location,
            Some(PathBuf::from("/tmp/ca.crt"))
        );
    }

    /// The client.properties of Amazon MSK's IAM documentation, as is.
    const MSK_IAM_CLIENT_PROPERTIES: &str = "\
# Sets up TLS for encryption and SASL for authN.
security.protocol = SASL_SSL

# Identifies the SASL mechanism to use.
sasl.mechanism = AWS_MSK_IAM

# Binds SASL client implementation.
sasl.jaas.config = software.amazon.msk.auth.iam.IAMLoginModule required;

# Encapsulates constructing a SigV4 signature based on extracted credentials.
# The SASL client bound by \"sasl.jaas.config\" invokes this class.
sasl.client.callback.handler.class = software.amazon.msk.auth.iam.IAMClientCallbackHandler
";

    fn file_props(text: &str) -> PropertySet {
        let mut set = PropertySet::default();
        for e in super::super::properties::parse(text).unwrap() {
            set.set(&e.key, &e.value, "client.properties");
        }
        set
    }

    fn msk(settings: &SecuritySettings) -> MskIam {
        match source(settings) {
            TokenSource::MskIam(msk) => msk,
            other => panic!("not MSK IAM: {other:?}"),
        }
    }

    const MSK_BROKERS: &str = "b-1.pulse.a1b2c3.c2.kafka.eu-west-1.amazonaws.com:9098,\
                               b-2.pulse.a1b2c3.c2.kafka.eu-west-1.amazonaws.com:9098";

    #[test]
    fn amazon_msk_iam_client_properties_as_is() {
        let props = file_props(MSK_IAM_CLIENT_PROPERTIES);
        let around = Surroundings {
            env: &|_| None,
            bootstrap: Some(MSK_BROKERS),
        };
        let settings = resolve_in(&props, &around, &librdkafka_accepts).unwrap();
        assert_eq!(settings.protocol, Protocol::SaslSsl);
        let sasl = settings.sasl.as_ref().unwrap();
        assert_eq!(sasl.mechanism, Mechanism::OAuthBearer);
        assert_eq!(
            msk(&settings),
            MskIam {
                region: "eu-west-1".into(),
                region_from: "the MSK broker host names".into(),
                login: Default::default(),
            }
        );
        // librdkafka runs it as OAUTHBEARER with tokens from the callback.
        assert_eq!(
            rd(&settings, "sasl.mechanism").as_deref(),
            Some("OAUTHBEARER")
        );
        assert!(settings
            .rdkafka
            .0
            .iter()
            .all(|(k, _)| !k.starts_with("sasl.") || k == "sasl.mechanism"));
        assert!(
            settings
                .notes
                .iter()
                .any(|n| n.contains("sasl.client.callback.handler.class") && n.contains("ignored")),
            "{:?}",
            settings.notes
        );
        assert_eq!(
            sasl.who(),
            "with the token of AWS MSK IAM (default AWS credentials, region eu-west-1 from the \
             MSK broker host names)"
        );
        // The login module alone says it too, and bootstrap.servers in the
        // file gives the region when no --brokers does.
        let mut props = file_props(
            "security.protocol=SASL_SSL\n\
             sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n",
        );
        props.set("bootstrap.servers", MSK_BROKERS, "client.properties");
        let settings = resolve(&props, &librdkafka_accepts).unwrap();
        assert_eq!(msk(&settings).region, "eu-west-1");
    }

    #[test]
    fn msk_iam_as_an_oauthbearer_method_with_the_region_property_or_variables() {
        let settings = resolve_ok(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("sasl.oauthbearer.method", "AWS_MSK_IAM"),
            ("aws.region", "us-east-2"),
        ]);
        assert_eq!(msk(&settings).region, "us-east-2");
        assert_eq!(msk(&settings).region_from, "aws.region (from test)");
        assert!(settings.notes.is_empty(), "{:?}", settings.notes);
        let props = props(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "AWS_MSK_IAM"),
        ]);
        let env = |name: &str| (name == "AWS_REGION").then(|| "ap-southeast-2".to_string());
        let around = Surroundings {
            env: &env,
            bootstrap: Some(MSK_BROKERS),
        };
        let settings = resolve_in(&props, &around, &librdkafka_accepts).unwrap();
        assert_eq!(msk(&settings).region, "ap-southeast-2");
        assert_eq!(msk(&settings).region_from, "AWS_REGION");
    }

    #[test]
    fn msk_iam_settings_that_cannot_work_are_refused() {
        let base = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "AWS_MSK_IAM"),
        ];
        let with = |more: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(more);
            resolve_err(&pairs)
        };
        let error = with(&[]);
        assert!(
            error.contains("region")
                && error.contains("aws.region=")
                && error.contains("AWS_REGION"),
            "{error}"
        );
        let region = ("aws.region", "us-east-1");
        let error = with(&[region, ("sasl.oauthbearer.method", "oidc")]);
        assert!(error.contains("aws_msk_iam"), "{error}");
        let error = with(&[region, ("sasl.oauthbearer.token.file", "/t")]);
        assert!(error.contains("sasl.oauthbearer.token.file"), "{error}");
        let error = with(&[region, ("aws.region", "US East")]);
        assert!(error.contains("not an AWS region"), "{error}");
        let error = with(&[region, ("sasl.username", "u")]);
        assert!(error.contains("logs in with a token"), "{error}");
        let error = with(&[
            region,
            (
                "sasl.jaas.config",
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
            ),
        ]);
        assert!(error.contains("IAMLoginModule"), "{error}");
        let error = resolve_err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                "software.amazon.msk.auth.iam.IAMLoginModule required;",
            ),
        ]);
        assert!(error.contains("AWS MSK IAM"), "{error}");
        // The region of another login would be silently ignored.
        let error = resolve_err(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "u"),
            ("sasl.password", "hunter2"),
            ("aws.region", "us-east-1"),
        ]);
        assert!(
            error.contains("aws.region") && error.contains("AWS_MSK_IAM"),
            "{error}"
        );
        let error = resolve_err(&[("aws.region", "us-east-1")]);
        assert!(error.contains("aws.region"), "{error}");
        // Another callback handler than MSK's is not silently ignored.
        let error = with(&[
            region,
            ("sasl.client.callback.handler.class", "com.example.Handler"),
        ]);
        assert!(
            error.contains("sasl.client.callback.handler.class"),
            "{error}"
        );
    }

    #[test]
    fn a_profile_or_role_needs_the_msk_iam_feature() {
        let pairs = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "AWS_MSK_IAM"),
            ("aws.region", "us-east-1"),
            (
                "sasl.jaas.config",
                "software.amazon.msk.auth.iam.IAMLoginModule required awsProfileName=\"prod\" \
                 awsRoleArn=\"arn:aws:iam::123456789012:role/pulse\";",
            ),
        ];
        if cfg!(feature = "msk-iam") {
            let login = msk(&resolve_ok(&pairs)).login;
            assert_eq!(login.profile.as_deref(), Some("prod"));
            assert_eq!(
                login.role_arn.as_deref(),
                Some("arn:aws:iam::123456789012:role/pulse")
            );
        } else {
            let error = resolve_err(&pairs);
            assert!(
                error.contains("awsProfileName") && error.contains("--features msk-iam"),
                "{error}"
            );
        }
    }
}

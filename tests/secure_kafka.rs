//! kafka-pulse against real Apache Kafka listeners with TLS and SASL: one
//! broker (started once for this binary) with a PLAINTEXT listener for
//! setup and the oracle, SASL_SSL with SCRAM-SHA-512 (users created at
//! `kafka-storage format`), SSL with client certificates required (mTLS),
//! SASL_PLAINTEXT with PLAIN, OAUTHBEARER with Kafka's unsecured JWT
//! validator (a token file), OAUTHBEARER validated against the JWKS of a
//! small OIDC provider served by the test (client credentials), a SCRAM
//! listener whose sessions last 3 s (KIP-368 re-authentication) and an SSL
//! listener with an expired certificate. Certificates are made by the test
//! (rcgen); the client key is an encrypted PKCS#8 PEM. StandardAuthorizer
//! is on: the other tests' principals are super users, a DESCRIBE-only
//! `viewer` shows what least privilege looks like.
//!
//! For each secured listener: lag equals `kafka-consumer-groups`' (the
//! collector's own client), the message browser reads and a replay copies
//! (rdkafka clients), and the test's passwords and key passphrase appear in
//! no log line, page, API answer, /metrics or `--help`. Failures (wrong
//! password, mechanism not enabled, untrusted CA, expired certificate, host
//! name mismatch, TLS/plaintext mix-ups, missing client certificate) are one
//! clear line.
//!
//! Without java/Maven these tests skip with the reason; with
//! KAFKA_PULSE_REQUIRE_EXTERNAL=1 (CI) they fail instead.

mod common;
#[path = "common/oidc_provider.rs"]
mod oidc_provider;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use common::kafka_cluster::{versions, ClusterSpec, KafkaCluster};
use common::servers::require;
use common::*;
use kafka_pulse::cli::Cli;
use kafka_pulse::collector::kafka::KafkaClient;
use kafka_pulse::config::Config;
use kafka_pulse::security::{KafkaAccess, Security};
use oidc_provider::{unsecured_jwt, OidcProvider};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

const USER: &str = "pulse";
const SCRAM_PASSWORD: &str = "scram-Pw-7f3Kq";
const PLAIN_PASSWORD: &str = "plain-Pw-2Jx9";
const KEY_PASSPHRASE: &str = "key-Pass-8Wm4";
const WRONG_PASSWORD: &str = "wrong-Pw-5Tz1";
const CLIENT_SECRET: &str = "oidc-Secret-4Hq8";
/// A SCRAM user with only DESCRIBE rights (the least-privilege test).
const VIEWER: &str = "viewer";
const VIEWER_PASSWORD: &str = "viewer-Pw-3Rn6";
const SECRETS: [&str; 6] = [
    SCRAM_PASSWORD,
    PLAIN_PASSWORD,
    KEY_PASSPHRASE,
    WRONG_PASSWORD,
    CLIENT_SECRET,
    VIEWER_PASSWORD,
];
/// The OIDC client of the test and the principals of the token listeners
/// (super users, like `pulse`, so only the ACL test meets the authorizer).
const CLIENT_ID: &str = "pulse-client-id";
const OIDC_PRINCIPAL: &str = "pulse-oidc";
const OAUTH_PRINCIPAL: &str = "pulse-oauth";
/// The common name of the mTLS client certificate: principal `CN=…`.
const CLIENT_CN: &str = "pulse-client";
/// Session lifetime of the REAUTH listener (connections.max.reauth.ms).
const REAUTH_MS: u64 = 3000;

/// Tokens written or issued during the run: secrets too.
static TOKENS: Mutex<Vec<String>> = Mutex::new(Vec::new());

const WAIT: Duration = Duration::from_secs(60);

struct Secure {
    cluster: KafkaCluster,
    certs: tempfile::TempDir,
    idp: Arc<OidcProvider>,
}

impl Secure {
    fn path(&self, name: &str) -> PathBuf {
        self.certs.path().join(name)
    }
}

static SECURE: OnceLock<Option<Secure>> = OnceLock::new();

/// Everything kafka-pulse logs in this test binary, to search for secrets.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(buffer.clone());
        // Debug level: more lines that could leak, all searched.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,hyper=info,hyper_util=info,reqwest=info,h2=info",
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buffer
    })
    .clone()
}

fn logs_text() -> String {
    String::from_utf8_lossy(&capture_logs().lock().unwrap()).to_string()
}

fn assert_no_secret(place: &str, text: &str) {
    let mut tokens = TOKENS.lock().unwrap().clone();
    if let Some(secure) = SECURE.get().and_then(Option::as_ref) {
        tokens.extend(secure.idp.issued.lock().unwrap().iter().cloned());
    }
    for secret in SECRETS
        .iter()
        .copied()
        .chain(tokens.iter().map(String::as_str))
    {
        assert!(
            !text.contains(secret),
            "a secret appears in {place}:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// A `.properties` value: newlines as `\n` (inline PEM in server.properties).
fn escaped(pem: &str) -> String {
    pem.trim_end().replace('\n', "\\n")
}

/// A broker's key and certificate, as PEM.
struct BrokerPem {
    key: String,
    chain: String,
}

/// CA, broker certificate (for 127.0.0.1 only, so `localhost` is a host
/// name mismatch), a broker certificate that expired in 2021, client
/// certificate with an encrypted PKCS#8 key, and a second CA nobody uses.
/// Returns the broker's current and expired key and chain.
fn make_certificates(dir: &Path) -> (BrokerPem, BrokerPem) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("kafka-pulse test CA");
    let (other_cert, _) = ca("some other CA");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), other_cert.pem()).unwrap();

    let broker = |name: &str, expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
        BrokerPem {
            key: key.serialize_pem(),
            chain: cert.pem(),
        }
    };

    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, CLIENT_CN);
    let client_cert = params.signed_by(&client_key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("client.pem"), client_cert.pem()).unwrap();
    std::fs::write(
        dir.join("client.key"),
        encrypted_pkcs8(&client_key.serialize_der()),
    )
    .unwrap();
    (broker("test-broker", false), broker("expired-broker", true))
}

/// PBES2 (PBKDF2-SHA256, AES-256-CBC): what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes.
fn encrypted_pkcs8(der: &[u8]) -> String {
    use pkcs8::der::Decode;
    let info = pkcs8::PrivateKeyInfo::from_der(der).unwrap();
    let salt = [7u8; 16];
    let iv = [9u8; 16];
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
    let document = info.encrypt_with_params(params, KEY_PASSPHRASE).unwrap();
    document
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

fn secure() -> Option<&'static Secure> {
    SECURE
        .get_or_init(|| {
            let started = std::thread::spawn(|| {
                let certs = tempfile::tempdir().map_err(|e| e.to_string())?;
                let (server, expired) = make_certificates(certs.path());
                // Up before the broker: it fetches the JWKS at start.
                let idp = OidcProvider::start(CLIENT_ID, CLIENT_SECRET, OIDC_PRINCIPAL, 60)?;
                let mut spec = ClusterSpec::new(&versions().current, 1);
                spec.listeners = vec![
                    ("SASL_SSL".into(), "SASL_SSL".into()),
                    ("MTLS".into(), "SSL".into()),
                    ("SASL_PLAINTEXT".into(), "SASL_PLAINTEXT".into()),
                    ("OAUTH".into(), "SASL_PLAINTEXT".into()),
                    ("OIDC".into(), "SASL_PLAINTEXT".into()),
                    ("REAUTH".into(), "SASL_PLAINTEXT".into()),
                    ("EXPIRED".into(), "SSL".into()),
                ];
                spec.jvm_args = vec![format!(
                    "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={}",
                    idp.jwks_url()
                )];
                spec.format_args = vec![
                    "--add-scram".into(),
                    format!("SCRAM-SHA-512=[name={USER},password={SCRAM_PASSWORD}]"),
                    "--add-scram".into(),
                    format!("SCRAM-SHA-512=[name={VIEWER},password={VIEWER_PASSWORD}]"),
                ];
                let ca = certs.path().join("ca.pem").display().to_string();
                let set = |k: &str, v: String| (k.to_string(), v);
                // StandardAuthorizer, deny by default: every principal of
                // the other tests is a super user, so only `viewer` (the
                // least-privilege test) meets the ACLs.
                let super_users = ["ANONYMOUS", USER, OIDC_PRINCIPAL, OAUTH_PRINCIPAL, "broker"]
                    .iter()
                    .map(|name| format!("User:{name}"))
                    .chain([format!("User:CN={CLIENT_CN}")])
                    .collect::<Vec<_>>()
                    .join(";");
                spec.extra_properties = vec![
                    set(
                        "authorizer.class.name",
                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer".into(),
                    ),
                    set("super.users", super_users),
                    set("allow.everyone.if.no.acl.found", "false".into()),
                    set("ssl.keystore.type", "PEM".into()),
                    set("ssl.keystore.key", escaped(&server.key)),
                    set("ssl.keystore.certificate.chain", escaped(&server.chain)),
                    set("listener.name.expired.ssl.keystore.type", "PEM".into()),
                    set("listener.name.expired.ssl.keystore.key", escaped(&expired.key)),
                    set(
                        "listener.name.expired.ssl.keystore.certificate.chain",
                        escaped(&expired.chain),
                    ),
                    set("ssl.truststore.type", "PEM".into()),
                    set("ssl.truststore.location", ca),
                    set("listener.name.mtls.ssl.client.auth", "required".into()),
                    set(
                        "listener.name.sasl_ssl.sasl.enabled.mechanisms",
                        "SCRAM-SHA-512".into(),
                    ),
                    set(
                        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;".into(),
                    ),
                    set(
                        "listener.name.sasl_plaintext.sasl.enabled.mechanisms",
                        "PLAIN".into(),
                    ),
                    set(
                        "listener.name.sasl_plaintext.plain.sasl.jaas.config",
                        format!(
                            "org.apache.kafka.common.security.plain.PlainLoginModule required \
                             user_{USER}=\"{PLAIN_PASSWORD}\";"
                        ),
                    ),
                ];
                // OAUTHBEARER: the broker's own login (unused: PLAINTEXT is
                // the inter-broker listener) needs a subject claim.
                let oauth_login = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule \
                                   required unsecuredLoginStringClaim_sub=\"broker\";";
                spec.extra_properties.extend([
                    set("listener.name.oauth.sasl.enabled.mechanisms", "OAUTHBEARER".into()),
                    set("listener.name.oauth.oauthbearer.sasl.jaas.config", oauth_login.into()),
                    set(
                        "listener.name.oauth.oauthbearer.sasl.server.callback.handler.class",
                        "org.apache.kafka.common.security.oauthbearer.internals.unsecured.\
                         OAuthBearerUnsecuredValidatorCallbackHandler"
                            .into(),
                    ),
                    set("listener.name.oidc.sasl.enabled.mechanisms", "OAUTHBEARER".into()),
                    set("listener.name.oidc.oauthbearer.sasl.jaas.config", oauth_login.into()),
                    set(
                        "listener.name.oidc.oauthbearer.sasl.server.callback.handler.class",
                        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
                            .into(),
                    ),
                    set("sasl.oauthbearer.jwks.endpoint.url", idp.jwks_url()),
                    set(
                        "sasl.oauthbearer.expected.audience",
                        oidc_provider::AUDIENCE.into(),
                    ),
                    set("sasl.oauthbearer.expected.issuer", idp.issuer()),
                    set("listener.name.reauth.sasl.enabled.mechanisms", "SCRAM-SHA-512".into()),
                    set(
                        "listener.name.reauth.scram-sha-512.sasl.jaas.config",
                        "org.apache.kafka.common.security.scram.ScramLoginModule required;".into(),
                    ),
                    set(
                        "listener.name.reauth.scram-sha-512.connections.max.reauth.ms",
                        REAUTH_MS.to_string(),
                    ),
                ]);
                let begun = Instant::now();
                let cluster = KafkaCluster::start(&spec)?;
                eprintln!(
                    "Kafka {} with SASL_SSL, mTLS, SASL_PLAINTEXT, OAUTHBEARER (unsecured and \
                     OIDC) and re-authentication listeners up in {:.1}s",
                    spec.version,
                    begun.elapsed().as_secs_f64()
                );
                Ok::<_, String>(Secure {
                    cluster,
                    certs,
                    idp,
                })
            });
            require(started.join().expect("cluster launcher thread"))
        })
        .as_ref()
}

/// The dashboard's configuration from command-line arguments (and a TOML
/// file when given), as the binary builds it, on free ports.
fn config_from(args: &[String]) -> Config {
    let mut argv = vec!["kafka-pulse".to_string()];
    argv.extend(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let mut config = Config::load(cli.options).expect("configuration is valid");
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.interval = Duration::from_millis(250);
    config.demo = false;
    config
}

/// SASL_SSL + SCRAM-SHA-512, from a Java client.properties file as a
/// vendor would hand it out (JAAS line, PEM truststore).
fn scram_config(secure: &Secure) -> Config {
    scram_config_as(secure, USER, SCRAM_PASSWORD, &[])
}

/// [`scram_config`] for `user`, with more command-line arguments.
fn scram_config_as(secure: &Secure, user: &str, password: &str, more: &[&str]) -> Config {
    let file = secure.path(&format!("scram-{user}.properties"));
    std::fs::write(
        &file,
        format!(
            "# SCRAM over TLS\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    \
             username=\"{user}\" \\\n    password=\"{password}\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            secure.path("ca.pem").display()
        ),
    )
    .unwrap();
    let mut args = vec![
        "--brokers".to_string(),
        secure.cluster.listener_bootstrap("SASL_SSL"),
        "--kafka-properties".into(),
        file.display().to_string(),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    config_from(&args)
}

/// SSL with a client certificate whose key is encrypted, by flags.
fn mtls_config(secure: &Secure) -> Config {
    let property = |k: &str, v: String| ["--kafka-property".to_string(), format!("{k}={v}")];
    let mut args = vec![
        "--brokers".to_string(),
        secure.cluster.listener_bootstrap("MTLS"),
    ];
    args.extend(property("security.protocol", "SSL".into()));
    args.extend(property(
        "ssl.ca.location",
        secure.path("ca.pem").display().to_string(),
    ));
    args.extend(property(
        "ssl.certificate.location",
        secure.path("client.pem").display().to_string(),
    ));
    args.extend(property(
        "ssl.key.location",
        secure.path("client.key").display().to_string(),
    ));
    args.extend(property("ssl.key.password", KEY_PASSPHRASE.into()));
    config_from(&args)
}

/// SASL_PLAINTEXT + PLAIN from the `[kafka]` table of the TOML file.
fn plain_config(secure: &Secure) -> Config {
    let file = secure.path("plain.toml");
    std::fs::write(
        &file,
        format!(
            "brokers = \"{}\"\n[kafka]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\
             \"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"{USER}\"\n\
             \"sasl.password\" = \"{PLAIN_PASSWORD}\"\n",
            secure.cluster.listener_bootstrap("SASL_PLAINTEXT")
        ),
    )
    .unwrap();
    config_from(&["--config".into(), file.display().to_string()])
}

/// OAUTHBEARER with an unsecured JWT from a token file, by flags.
fn oauth_file_config(secure: &Secure) -> Config {
    let token = unsecured_jwt(OAUTH_PRINCIPAL, 3600);
    TOKENS.lock().unwrap().push(token.clone());
    let file = secure.path("oauth-token.jwt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    config_from(&[
        "--brokers".into(),
        secure.cluster.listener_bootstrap("OAUTH"),
        "--kafka-property".into(),
        "security.protocol=SASL_PLAINTEXT".into(),
        "--kafka-property".into(),
        "sasl.mechanism=OAUTHBEARER".into(),
        "--kafka-property".into(),
        format!("sasl.oauthbearer.token.file={}", file.display()),
    ])
}

/// OAUTHBEARER with OIDC client credentials, from a client.properties file
/// with librdkafka's names.
fn oidc_config(secure: &Secure) -> Config {
    let file = secure.path("oidc.properties");
    std::fs::write(
        &file,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n\
             sasl.oauthbearer.method=oidc\nsasl.oauthbearer.token.endpoint.url={}\n\
             sasl.oauthbearer.client.id={CLIENT_ID}\nsasl.oauthbearer.client.secret={CLIENT_SECRET}\n\
             sasl.oauthbearer.scope=kafka\n",
            secure.idp.token_url()
        ),
    )
    .unwrap();
    config_from(&[
        "--brokers".into(),
        secure.cluster.listener_bootstrap("OIDC"),
        "--kafka-properties".into(),
        file.display().to_string(),
    ])
}

async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create().expect("admin");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in admin
        .create_topics([&new], &AdminOptions::new())
        .await
        .expect("create topics")
    {
        result.unwrap_or_else(|(name, e)| panic!("create {name}: {e}"));
    }
}

/// (topic, partition) → (current offset, log end offset, lag) from
/// `kafka-consumer-groups --describe` over the PLAINTEXT listener.
fn oracle(cluster: &KafkaCluster, group: &str) -> Vec<(String, i32, i64, i64, i64)> {
    let output = cluster
        .tool(
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            &[
                "--bootstrap-server",
                &cluster.bootstrap,
                "--describe",
                "--group",
                group,
            ],
        )
        .expect("kafka-consumer-groups");
    let mut header: Option<Vec<&str>> = None;
    let mut rows = Vec::new();
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"GROUP") {
            header = Some(words);
            continue;
        }
        let Some(header) = &header else { continue };
        if words.len() != header.len() {
            continue;
        }
        let cell = |name: &str| words[header.iter().position(|h| *h == name).unwrap()];
        let number = |name: &str| cell(name).parse::<i64>().expect(name);
        rows.push((
            cell("TOPIC").to_string(),
            number("PARTITION") as i32,
            number("CURRENT-OFFSET"),
            number("LOG-END-OFFSET"),
            number("LAG"),
        ));
    }
    assert!(!rows.is_empty(), "oracle printed no rows:\n{output}");
    rows
}

/// Asserts that a group's API answer has the oracle's committed offset,
/// log end and lag on every partition and their sum as its lag; returns it.
fn assert_matches_oracle(
    tag: &str,
    detail: &serde_json::Value,
    rows: &[(String, i32, i64, i64, i64)],
) -> i64 {
    let mut total = 0;
    for (row_topic, partition, current, log_end, lag) in rows {
        let mine = detail["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["topic"] == row_topic.as_str() && p["partition"] == *partition)
            .unwrap_or_else(|| panic!("{tag}: {row_topic}/{partition} missing: {detail}"));
        assert_eq!(mine["committed_offset"], *current, "{tag}: {mine}");
        assert_eq!(mine["high_watermark"], *log_end, "{tag}: {mine}");
        assert_eq!(mine["lag"], *lag, "{tag}: {mine}");
        total += lag;
    }
    assert_eq!(detail["lag"], total, "{tag}: {detail}");
    total
}

/// Lag, the message browser, a replay and the secrets check through one
/// secured listener; `config` says how kafka-pulse connects to it.
async fn secured_listener_works(tag: &str, config: Config) {
    let secure = secure().expect("cluster");
    let logs = capture_logs();
    let plaintext = secure.cluster.bootstrap.clone();
    let topic = format!("orders-{tag}");
    let group = format!("billing-{tag}");
    create_topic(&plaintext, &topic, 3).await;
    produce_split(&plaintext, &topic, &[(0, 30), (1, 20), (2, 10)]).await;
    consume_and_commit(&plaintext, &group, &topic, &[(0, 12), (1, 20), (2, 3)]).await;

    let security = config.kafka_security.clone();
    let secured_bootstrap = config.brokers.as_ref().unwrap().join(",");
    let running = kafka_pulse::app::start(config)
        .await
        .expect("kafka-pulse starts");
    let base = format!("http://{}", running.web_addr);

    // The collector's own client (TLS/SASL here) against the oracle.
    let rows = oracle(&secure.cluster, &group);
    let detail = wait_for_json(&base, &format!("/api/v1/groups/{group}"), WAIT, |body| {
        body["partitions"].as_array().is_some_and(|p| p.len() == 3)
    })
    .await;
    let total = assert_matches_oracle(tag, &detail, &rows);
    assert_eq!(total, 18 + 7, "{tag}: the traffic's own lag");

    // The message browser: an rdkafka consumer with the same security.
    let (status, page) = get_json(
        &base,
        &format!("/api/v1/topics/{topic}/messages?partition=0&offset=0&limit=5"),
    )
    .await;
    assert_eq!(status, 200, "{tag}: {page}");
    let messages = page["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 5, "{tag}: {page}");
    assert_eq!(messages[0]["value"], "{\"n\":0}", "{tag}: {page}");

    // A replay: rdkafka consumer, admin and idempotent producer.
    let request = kafka_pulse::replay::spec::ReplayRequest {
        from: topic.clone(),
        to: format!("{topic}-copy"),
        speed: Some("max".into()),
        create_target: true,
        keep_partition: true,
        ..Default::default()
    };
    let spec = kafka_pulse::replay::spec::ReplaySpec::from_request(&request).expect("spec");
    let prepared = kafka_pulse::replay::prepare_replay(
        KafkaAccess::new(secured_bootstrap, security),
        &spec,
        true,
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("{tag}: replay prepared: {e}"));
    let report = prepared
        .run(
            &kafka_pulse::replay::run::Progress::default(),
            &tokio_util::sync::CancellationToken::new(),
        )
        .await;
    assert_eq!(report.error, None, "{tag}");
    assert_eq!(report.messages_written, 60, "{tag}: {report:?}");
    let copy = wait_for_json(
        &base,
        &format!("/api/v1/topics/{topic}-copy"),
        WAIT,
        // A later sample than the last write: the replay has finished.
        |body| {
            body["partitions"].as_array().is_some_and(|p| {
                p.len() == 3
                    && p.iter()
                        .filter_map(|p| p["high_watermark"].as_i64())
                        .sum::<i64>()
                        == 60
            })
        },
    )
    .await;
    let copied: Vec<i64> = copy["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["high_watermark"].as_i64().unwrap())
        .collect();
    assert_eq!(copied.iter().sum::<i64>(), 60, "{tag}: {copy}");

    // No secret anywhere kafka-pulse shows or logs.
    for path in [
        "/",
        "/topics",
        &format!("/topics/{topic}"),
        "/groups",
        &format!("/groups/{group}"),
        "/brokers",
        "/events",
        "/replays",
        &format!("/messages?topic={topic}&partition=0"),
        "/metrics",
        "/api/v1/health",
        "/api/v1/topics",
        "/api/v1/groups",
        "/api/v1/brokers",
        "/api/v1/events",
        "/api/v1/replays",
    ] {
        let (_, body) = get_text(&base, path).await;
        assert_no_secret(&format!("{tag} {path}"), &body);
    }
    running.stop().await.expect("kafka-pulse stops");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        text.contains("Kafka connections:"),
        "the start-up line is logged"
    );
    assert_no_secret(&format!("{tag}: the log"), &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sasl_ssl_with_scram_sha_512_from_a_client_properties_file() {
    let Some(secure) = secure() else { return };
    secured_listener_works("scram", scram_config(secure)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutual_tls_with_an_encrypted_client_key() {
    let Some(secure) = secure() else { return };
    secured_listener_works("mtls", mtls_config(secure)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sasl_plaintext_with_plain_from_the_toml_file() {
    let Some(secure) = secure() else { return };
    secured_listener_works("plain", plain_config(secure)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauthbearer_with_an_unsecured_token_from_a_file() {
    let Some(secure) = secure() else { return };
    secured_listener_works("oauth", oauth_file_config(secure)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauthbearer_with_oidc_client_credentials_validated_by_jwks() {
    let Some(secure) = secure() else { return };
    let before = secure
        .idp
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    secured_listener_works("oidc", oidc_config(secure)).await;
    // The own client and the rdkafka clients share one provider: tokens
    // last 60 s, so a handful of requests at most, not one per connection.
    let requests = secure
        .idp
        .token_requests
        .load(std::sync::atomic::Ordering::SeqCst)
        - before;
    assert!((1..=4).contains(&requests), "{requests} token requests");
}

/// KIP-368: the REAUTH listener ends each SASL session after 3 s. Over
/// more than three lifetimes no sample fails, no request error is counted,
/// and the own client re-authenticates (it logs each time); the message
/// browser (rdkafka, which re-authenticates itself) reads afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_are_re_authenticated_before_the_broker_ends_them() {
    let Some(secure) = secure() else { return };
    let logs = capture_logs();
    let plaintext = secure.cluster.bootstrap.clone();
    create_topic(&plaintext, "orders-reauth", 2).await;
    produce_split(&plaintext, "orders-reauth", &[(0, 10), (1, 10)]).await;
    consume_and_commit(
        &plaintext,
        "billing-reauth",
        "orders-reauth",
        &[(0, 4), (1, 6)],
    )
    .await;
    let mut config = config_from(&[
        "--brokers".into(),
        secure.cluster.listener_bootstrap("REAUTH"),
        "--kafka-property".into(),
        "security.protocol=SASL_PLAINTEXT".into(),
        "--kafka-property".into(),
        "sasl.mechanism=SCRAM-SHA-512".into(),
        "--kafka-property".into(),
        format!("sasl.username={USER}"),
        "--kafka-property".into(),
        format!("sasl.password={SCRAM_PASSWORD}"),
    ]);
    config.interval = Duration::from_millis(200);
    let log_start = logs.lock().unwrap().len();
    let running = kafka_pulse::app::start(config).await.expect("starts");
    let base = format!("http://{}", running.web_addr);
    wait_for_json(&base, "/api/v1/groups/billing-reauth", WAIT, |body| {
        body["lag"] == 10
    })
    .await;
    let watched = Duration::from_millis(REAUTH_MS * 3 + 2000);
    let begun = Instant::now();
    let mut first_sequence = None;
    let mut last_sequence = 0;
    while begun.elapsed() < watched {
        let (_, health) = get_json(&base, "/api/v1/health").await;
        assert_eq!(health["kafka_up"], true, "{health}");
        assert_eq!(
            health["errors"],
            serde_json::json!([]),
            "a failed sample: {health}"
        );
        last_sequence = health["sequence"].as_u64().unwrap();
        first_sequence.get_or_insert(last_sequence);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let samples = last_sequence - first_sequence.unwrap();
    assert!(samples >= 30, "only {samples} samples in {watched:?}");
    let (_, metrics) = get_text(&base, "/metrics").await;
    let errors: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("kafka_pulse_kafka_request_errors_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    assert!(errors.is_empty(), "request errors: {errors:?}");
    let detail = wait_for_json(&base, "/api/v1/groups/billing-reauth", WAIT, |_| true).await;
    assert_eq!(detail["lag"], 10, "{detail}");
    let (status, page) = get_json(
        &base,
        "/api/v1/topics/orders-reauth/messages?partition=1&offset=0&limit=3",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(3), "{page}");
    running.stop().await.expect("stops");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()[log_start..]).to_string();
    let reauthentications = text.matches("re-authenticated at Kafka broker").count();
    eprintln!("{samples} samples, {reauthentications} re-authentications in {watched:?}");
    assert!(
        reauthentications >= 3,
        "{reauthentications} re-authentications in {watched:?}"
    );
    assert_no_secret("the log", &text);
}

/// Grants `operation` on a resource to the viewer, with Kafka's own tool
/// over the PLAINTEXT listener (a super user).
fn grant(cluster: &KafkaCluster, operation: &str, resource: &[&str]) {
    let principal = format!("User:{VIEWER}");
    let mut args = vec![
        "--bootstrap-server",
        &cluster.bootstrap,
        "--add",
        "--allow-principal",
        &principal,
        "--operation",
        operation,
    ];
    args.extend_from_slice(resource);
    cluster
        .tool("org.apache.kafka.tools.AclCommand", &args)
        .expect("kafka-acls --add");
}

/// A principal with only Cluster DESCRIBE and DESCRIBE on its topics and
/// groups (the README's minimal ACLs): lag is exact and every sample
/// succeeds; what it may not do shows where it is needed, naming the ACL:
/// a listed group it may not describe, the message browser and exact time
/// lag (Topic READ).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_describe_only_principal_works_and_missing_rights_show_per_part() {
    let secure = secure().expect("cluster");
    let cluster = &secure.cluster;
    let plaintext = cluster.bootstrap.clone();
    let topic = "lp-orders";
    let group = "lp-billing";
    let foreign_group = "audit-lp";
    create_topic(&plaintext, topic, 2).await;
    produce_split(&plaintext, topic, &[(0, 20), (1, 10)]).await;
    consume_and_commit(&plaintext, group, topic, &[(0, 5), (1, 10)]).await;
    consume_and_commit(&plaintext, foreign_group, topic, &[(0, 2)]).await;
    grant(cluster, "Describe", &["--cluster"]);
    for kind in ["--topic", "--group"] {
        grant(
            cluster,
            "Describe",
            &[kind, "lp-", "--resource-pattern-type", "prefixed"],
        );
    }

    let config = scram_config_as(
        secure,
        VIEWER,
        VIEWER_PASSWORD,
        &["--exact-lag-fetches", "5"],
    );
    let running = kafka_pulse::app::start(config)
        .await
        .expect("kafka-pulse starts");
    let base = format!("http://{}", running.web_addr);

    // DESCRIBE is all the numbers need.
    let rows = oracle(cluster, group);
    let detail = wait_for_json(&base, &format!("/api/v1/groups/{group}"), WAIT, |body| {
        body["partitions"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    // The helper also checks the group's lag is the partitions' sum.
    assert_eq!(assert_matches_oracle("viewer", &detail, &rows), 15);
    assert!(detail["error"].is_null(), "{detail}");

    // Cluster DESCRIBE lists every group; one without Group DESCRIBE says
    // which ACL it lacks, alone.
    let foreign = wait_for_json(
        &base,
        &format!("/api/v1/groups/{foreign_group}"),
        WAIT,
        |body| body["error"].is_string(),
    )
    .await;
    let error = foreign["error"].as_str().unwrap();
    assert!(
        error.contains("GroupAuthorizationFailed") && error.contains("Group DESCRIBE"),
        "{error}"
    );

    // The message browser needs Topic READ, and says so (403).
    let (status, page) = get_json(
        &base,
        &format!("/api/v1/topics/{topic}/messages?partition=0&offset=0&limit=5"),
    )
    .await;
    assert_eq!(status, 403, "{page}");
    let error = page["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Topic READ") && error.contains(topic),
        "{page}"
    );

    // Exact time lag needs Topic READ too: it says so, and time lag stays
    // the estimate from the watermark history.
    let health = wait_for_json(&base, "/api/v1/health", WAIT, |body| {
        body["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e.as_str().unwrap().contains("Topic READ")))
    })
    .await;
    assert_eq!(health["kafka_up"], true, "{health}");
    let errors: Vec<&str> = health["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("exact time lag") && e.contains(topic)),
        "{errors:?}"
    );
    let (_, detail) = get_json(&base, &format!("/api/v1/groups/{group}")).await;
    for partition in detail["partitions"].as_array().unwrap() {
        assert_eq!(partition["lag_seconds_exact"], false, "{partition}");
    }

    // Every sample succeeded: no tick lost Kafka.
    let (_, events) = get_json(&base, "/api/v1/events?limit=1000").await;
    let down = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "kafka_down")
        .count();
    assert_eq!(down, 0, "{events}");
    running.stop().await.expect("kafka-pulse stops");
}

/// The metadata error of the own client with `pairs` as properties.
async fn failure(bootstrap: &str, pairs: &[(&str, String)]) -> (String, Duration) {
    let mut props = kafka_pulse::security::PropertySet::default();
    for (key, value) in pairs {
        props.set(key, value, "test");
    }
    let security = Security::from_properties(&props).expect("valid properties");
    let client = KafkaClient::new(
        vec![bootstrap.to_string()],
        "kafka-pulse-test",
        Duration::from_secs(10),
    )
    .with_security(Arc::new(security));
    let begun = Instant::now();
    let error = client
        .metadata()
        .await
        .expect_err("the connection must fail")
        .to_string();
    let took = begun.elapsed();
    eprintln!("{bootstrap} after {took:?}: {error}");
    assert_no_secret("an error", &error);
    (error, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_are_one_clear_line_without_secrets() {
    let Some(secure) = secure() else { return };
    let sasl_ssl = secure.cluster.listener_bootstrap("SASL_SSL");
    let mtls = secure.cluster.listener_bootstrap("MTLS");
    let sasl_plaintext = secure.cluster.listener_bootstrap("SASL_PLAINTEXT");
    let ca = secure.path("ca.pem").display().to_string();
    let scram = |password: &str| {
        vec![
            ("security.protocol", "SASL_SSL".to_string()),
            ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
            ("sasl.username", USER.to_string()),
            ("sasl.password", password.to_string()),
            ("ssl.ca.location", ca.clone()),
        ]
    };

    // The right password works (the failures below are not an accident).
    let mut props = kafka_pulse::security::PropertySet::default();
    for (key, value) in scram(SCRAM_PASSWORD) {
        props.set(key, &value, "test");
    }
    let client = KafkaClient::new(vec![sasl_ssl.clone()], "t", Duration::from_secs(10))
        .with_security(Arc::new(Security::from_properties(&props).unwrap()));
    client
        .metadata()
        .await
        .expect("SCRAM with the right password");

    let (error, _) = failure(&sasl_ssl, &scram(WRONG_PASSWORD)).await;
    assert!(
        error.contains(&sasl_ssl)
            && error.contains("SCRAM-SHA-512")
            && error.contains(&format!("user '{USER}'"))
            && error.contains("Authentication failed"),
        "wrong password: {error}"
    );

    let (error, _) = failure(
        &sasl_plaintext,
        &[
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "SCRAM-SHA-256".into()),
            ("sasl.username", USER.into()),
            ("sasl.password", WRONG_PASSWORD.into()),
        ],
    )
    .await;
    assert!(
        error.contains("does not enable SASL mechanism SCRAM-SHA-256")
            && error.contains("it enables: PLAIN")
            && error.contains(&sasl_plaintext),
        "mechanism not enabled: {error}"
    );

    let mut untrusted = scram(SCRAM_PASSWORD);
    untrusted[4].1 = secure.path("other-ca.pem").display().to_string();
    let (error, _) = failure(&sasl_ssl, &untrusted).await;
    assert!(
        error.contains("not signed by a trusted CA")
            && error.contains("other-ca.pem")
            && error.contains("CN=test-broker")
            && error.contains(&sasl_ssl),
        "untrusted CA: {error}"
    );

    let expired = secure.cluster.listener_bootstrap("EXPIRED");
    let (error, _) = failure(
        &expired,
        &[
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", ca.clone()),
        ],
    )
    .await;
    assert!(
        error.contains("CN=expired-broker")
            && error.contains("expired at 2021-01-01T00:00:00Z")
            && error.contains(&expired),
        "expired certificate: {error}"
    );

    let port = sasl_ssl.rsplit_once(':').unwrap().1;
    let by_name = format!("localhost:{port}");
    let (error, _) = failure(&by_name, &scram(SCRAM_PASSWORD)).await;
    assert!(
        error.contains("not valid for the host name localhost")
            && error.contains("127.0.0.1")
            && error.contains(&by_name),
        "host name mismatch: {error}"
    );
    // Turned off, the same connection works (and says so in the notes).
    let mut unchecked = scram(SCRAM_PASSWORD);
    unchecked.push(("ssl.endpoint.identification.algorithm", String::new()));
    let mut props = kafka_pulse::security::PropertySet::default();
    for (key, value) in &unchecked {
        props.set(key, value, "test");
    }
    let security = Security::from_properties(&props).unwrap();
    assert!(security.settings().notes[0].contains("NOT against the broker's host name"));
    KafkaClient::new(vec![by_name.clone()], "t", Duration::from_secs(10))
        .with_security(Arc::new(security))
        .metadata()
        .await
        .expect("no host name check");

    // Plaintext to a TLS port and TLS to a plaintext port: said at once,
    // not after the 10 s request timeout.
    let (error, took) = failure(&sasl_ssl, &[]).await;
    assert!(
        error.contains("SSL or SASL_SSL listener") && error.contains(&sasl_ssl),
        "plaintext to TLS: {error}"
    );
    assert!(
        took < Duration::from_secs(5),
        "plaintext to TLS took {took:?}"
    );
    let (error, took) = failure(
        &secure.cluster.bootstrap,
        &[
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", ca.clone()),
        ],
    )
    .await;
    assert!(
        error.contains("PLAINTEXT or SASL_PLAINTEXT listener"),
        "TLS to plaintext: {error}"
    );
    assert!(
        took < Duration::from_secs(5),
        "TLS to plaintext took {took:?}"
    );

    // OAUTHBEARER: a wrong client secret names the endpoint and client,
    // and a token the listener does not trust is refused with its status.
    let oidc = secure.cluster.listener_bootstrap("OIDC");
    let (error, _) = failure(
        &oidc,
        &[
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "OAUTHBEARER".into()),
            ("sasl.oauthbearer.method", "oidc".into()),
            (
                "sasl.oauthbearer.token.endpoint.url",
                secure.idp.token_url(),
            ),
            ("sasl.oauthbearer.client.id", CLIENT_ID.into()),
            ("sasl.oauthbearer.client.secret", WRONG_PASSWORD.into()),
        ],
    )
    .await;
    assert!(
        error.contains(&secure.idp.token_url())
            && error.contains(CLIENT_ID)
            && error.contains("HTTP 401: invalid_client")
            && error.contains(&oidc),
        "wrong client secret: {error}"
    );
    let unsigned = unsecured_jwt(OIDC_PRINCIPAL, 600);
    TOKENS.lock().unwrap().push(unsigned.clone());
    let token_file = secure.path("unsigned.jwt");
    std::fs::write(&token_file, &unsigned).unwrap();
    let (error, _) = failure(
        &oidc,
        &[
            ("security.protocol", "SASL_PLAINTEXT".into()),
            ("sasl.mechanism", "OAUTHBEARER".into()),
            (
                "sasl.oauthbearer.token.file",
                token_file.display().to_string(),
            ),
        ],
    )
    .await;
    assert!(
        error.contains("refused the token: status invalid_token")
            && error.contains("unsigned.jwt")
            && error.contains(&oidc),
        "untrusted token: {error}"
    );

    // A SASL listener without SASL configured.
    let (error, _) = failure(&sasl_plaintext, &[]).await;
    assert!(error.contains("probably requires SASL"), "no SASL: {error}");

    // mTLS without a client certificate.
    let (error, _) = failure(
        &mtls,
        &[
            ("security.protocol", "SSL".into()),
            ("ssl.ca.location", ca.clone()),
        ],
    )
    .await;
    assert!(
        error.contains("requires a client certificate") && error.contains(&mtls),
        "no client certificate: {error}"
    );
}

#[test]
fn a_wrong_key_passphrase_stops_the_start_and_help_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let mut props = kafka_pulse::security::PropertySet::default();
    props.set("security.protocol", "SSL", "test");
    props.set(
        "ssl.ca.location",
        &dir.path().join("ca.pem").display().to_string(),
        "test",
    );
    props.set(
        "ssl.certificate.location",
        &dir.path().join("client.pem").display().to_string(),
        "test",
    );
    props.set(
        "ssl.key.location",
        &dir.path().join("client.key").display().to_string(),
        "test",
    );
    props.set("ssl.key.password", WRONG_PASSWORD, "test");
    let error = Security::from_properties(&props).unwrap_err();
    assert!(error.contains("cannot decrypt ssl.key.location"), "{error}");
    assert_no_secret("the error", &error);
    props.set("ssl.key.password", KEY_PASSPHRASE, "test");
    Security::from_properties(&props).expect("the right passphrase decrypts the key");

    // `--help` of every command, with every secret in the environment.
    for command in [&[][..], &["replay"][..], &["export"][..]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kafka-pulse"))
            .args(command)
            .arg("--help")
            .env("KAFKA_PULSE_KAFKA_SASL_PASSWORD", SCRAM_PASSWORD)
            .env("KAFKA_PULSE_KAFKA_SSL_KEY_PASSWORD", KEY_PASSPHRASE)
            .env(
                "KAFKA_PULSE_KAFKA_SASL_JAAS_CONFIG",
                format!("x required password=\"{PLAIN_PASSWORD}\";"),
            )
            .output()
            .expect("kafka-pulse --help");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + String::from_utf8_lossy(&output.stderr).as_ref();
        assert!(text.contains("--kafka-property"), "{text}");
        assert_no_secret("--help", &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_of_a_failing_connection_hold_no_secret() {
    let Some(secure) = secure() else { return };
    capture_logs();
    let mut config = scram_config(secure);
    let mut props = kafka_pulse::security::PropertySet::default();
    for (key, value) in [
        ("security.protocol", "SASL_SSL".to_string()),
        ("sasl.mechanism", "SCRAM-SHA-512".into()),
        ("sasl.username", USER.into()),
        ("sasl.password", WRONG_PASSWORD.into()),
        (
            "ssl.ca.location",
            secure.path("ca.pem").display().to_string(),
        ),
    ] {
        props.set(key, &value, "test");
    }
    config.kafka_security = Arc::new(Security::from_properties(&props).unwrap());
    let running = kafka_pulse::app::start(config).await.expect("starts");
    let base = format!("http://{}", running.web_addr);
    let health = wait_for_json(&base, "/api/v1/health", WAIT, |body| {
        body["errors"].as_array().is_some_and(|e| {
            e.iter()
                .any(|x| x.to_string().contains("Authentication failed"))
        })
    })
    .await;
    assert_no_secret("health", &health.to_string());
    for path in ["/", "/metrics", "/api/v1/health", "/events"] {
        let (_, body) = get_text(&base, path).await;
        assert_no_secret(path, &body);
    }
    running.stop().await.expect("kafka-pulse stops");
    assert_no_secret("the log", &logs_text());
}

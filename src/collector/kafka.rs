//! The Kafka wire client the collector samples with.
//!
//! Why not rdkafka here: its safe API lists groups through DescribeGroups (which
//! the embedded tansu broker cannot answer), fetches watermarks one partition per
//! round trip and committed offsets only through a consumer per group. Speaking
//! the few admin requests we need ourselves (with the `kafka-protocol` crate)
//! gives one batched ListOffsets per broker, one OffsetFetch per coordinator and
//! 1,000 groups, coordinators cached between ticks and a per-request degrade
//! path, all async. Versions are negotiated with ApiVersions on every connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, ConsumerGroupDescribeRequest,
    ConsumerProtocolAssignment, CreateTopicsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    GroupId, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, OffsetFetchRequest,
    RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslHandshakeRequest,
    ShareGroupDescribeRequest, TopicName,
};
use kafka_protocol::protocol::{
    encode_request_header_into_buffer, Decodable, HeaderVersion, Request, StrBytes,
};
use kafka_protocol::ResponseError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::model::{GroupType, Name, Names, TopicAssignment};
use crate::security::{SaslSettings, Security};
use crate::store::RequestStat;

/// ListOffsets timestamp asking for the high watermark (next offset to be written).
pub const LATEST: i64 = -1;
/// ListOffsets timestamp asking for the low watermark (first retained offset).
pub const EARLIEST: i64 = -2;

/// Largest response we accept; a corrupt length prefix must not allocate gigabytes.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// Most groups one OffsetFetch or DescribeGroups request carries. One request
/// for 50,000 groups makes a response of tens of MiB that one slow broker or
/// one timeout throws away whole; chunks keep each exchange small.
pub const MAX_GROUPS_PER_REQUEST: usize = 1000;

/// Error codes that mean "ask FindCoordinator again": the group moved
/// (NOT_COORDINATOR), its coordinator is down (COORDINATOR_NOT_AVAILABLE) or
/// still loading the offsets topic (COORDINATOR_LOAD_IN_PROGRESS).
pub fn is_coordinator_error(code: i16) -> bool {
    const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    const NOT_COORDINATOR: i16 = 16;
    matches!(
        code,
        COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
    )
}

/// Group → coordinator broker id, kept between ticks: coordinators rarely
/// move, and looking up every group every tick is one more round trip (and,
/// on brokers without batched FindCoordinator, one per group).
#[derive(Debug, Default)]
struct CoordinatorCache {
    by_group: HashMap<String, i32>,
}

impl CoordinatorCache {
    /// The groups of `listed` that need a FindCoordinator.
    fn missing(&self, listed: &[String]) -> Vec<String> {
        listed
            .iter()
            .filter(|g| !self.by_group.contains_key(*g))
            .cloned()
            .collect()
    }

    /// Keeps only groups still listed, so deleted groups do not pile up.
    fn retain_groups(&mut self, listed: &[String]) {
        let listed: std::collections::HashSet<&str> = listed.iter().map(String::as_str).collect();
        self.by_group.retain(|g, _| listed.contains(g.as_str()));
    }

    /// Remembers successful answers only: a failed lookup is retried next tick.
    fn record(&mut self, answers: &HashMap<String, Result<i32, String>>) {
        for (group, answer) in answers {
            if let Ok(id) = answer {
                self.by_group.insert(group.clone(), *id);
            }
        }
    }

    /// Drops `group`'s coordinator when `code` says it is stale; true if dropped.
    fn forget_on_error(&mut self, group: &str, code: i16) -> bool {
        is_coordinator_error(code) && self.by_group.remove(group).is_some()
    }

    /// Drops coordinators that are no longer brokers of the cluster.
    fn retain_brokers(&mut self, is_broker: impl Fn(i32) -> bool) {
        self.by_group.retain(|_, id| is_broker(*id));
    }

    fn get(&self, group: &str) -> Option<i32> {
        self.by_group.get(group).copied()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot connect to Kafka broker {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("Kafka broker {addr} did not answer {api} within {timeout:?}")]
    Timeout {
        addr: String,
        api: &'static str,
        timeout: Duration,
    },
    #[error("Kafka broker {addr} closed the connection or failed during {api}: {source}")]
    Io {
        addr: String,
        api: &'static str,
        source: std::io::Error,
    },
    #[error("Kafka broker {addr} sent a {api} response we could not decode: {detail}")]
    Protocol {
        addr: String,
        api: &'static str,
        detail: String,
    },
    #[error("Kafka broker {addr} does not support {api} versions {min}..={max}")]
    Unsupported {
        addr: String,
        api: &'static str,
        min: i16,
        max: i16,
    },
    #[error("{api} failed: {error}")]
    Broker { api: &'static str, error: String },
    #[error("none of the bootstrap brokers answered ({tried}): {last}")]
    NoBrokerReachable { tried: String, last: String },
    #[error("broker id {0} is not in the cluster metadata")]
    UnknownBroker(i32),
    /// TLS or SASL failed: one line naming the broker and the setting,
    /// never a secret (src/security/).
    #[error("{0}")]
    Security(String),
}

/// Human text for a Kafka error code of a request the collector makes,
/// `None` when the code means success. Authorization errors name the
/// DESCRIBE ACL the principal lacks: that is all these requests need.
pub fn error_text(code: i16) -> Option<String> {
    let text = plain_error_text(code)?;
    Some(match crate::security::acl::collector_hint(code) {
        Some(hint) => format!("{text}: {hint}"),
        None => text,
    })
}

/// [`error_text`] without the DESCRIBE reading, for requests that need
/// other rights (CreateTopics).
fn plain_error_text(code: i16) -> Option<String> {
    if code == 0 {
        return None;
    }
    Some(match ResponseError::try_from_code(code) {
        Some(error) => format!("{error:?} (code {code})"),
        None => format!("error code {code}"),
    })
}

fn api_name(key: i16) -> &'static str {
    match ApiKey::try_from(key) {
        Ok(ApiKey::ApiVersions) => "ApiVersions",
        Ok(ApiKey::Metadata) => "Metadata",
        Ok(ApiKey::ListOffsets) => "ListOffsets",
        Ok(ApiKey::ListGroups) => "ListGroups",
        Ok(ApiKey::DescribeGroups) => "DescribeGroups",
        Ok(ApiKey::OffsetFetch) => "OffsetFetch",
        Ok(ApiKey::FindCoordinator) => "FindCoordinator",
        Ok(ApiKey::ConsumerGroupDescribe) => "ConsumerGroupDescribe",
        Ok(ApiKey::ShareGroupDescribe) => "ShareGroupDescribe",
        Ok(ApiKey::SaslHandshake) => "SaslHandshake",
        Ok(ApiKey::SaslAuthenticate) => "SaslAuthenticate",
        Ok(ApiKey::CreateTopics) => "CreateTopics",
        _ => "request",
    }
}

/// A plain TCP or a TLS stream to a broker.
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What a response's first bytes look like when the broker speaks TLS
/// (a TLS record: content type 20..=23, major version 3) to a client that
/// does not: read as a length they would ask for ~350 MB.
fn looks_like_tls(prefix: [u8; 4]) -> bool {
    (20..=23).contains(&prefix[0]) && prefix[1] == 3
}

use crate::security::tls::TLS_ANSWER;

/// One TCP (or TLS) connection to one broker, authenticated when SASL is
/// configured, with the API versions it announced.
struct Connection {
    addr: String,
    stream: Box<dyn Io>,
    tls: bool,
    versions: HashMap<i16, (i16, i16)>,
    next_correlation_id: i32,
    /// When to authenticate again (KIP-368): the broker closes the
    /// connection at the first request after its session lifetime.
    reauthenticate_at: Option<Instant>,
}

/// Share of the broker's session lifetime after which the own client
/// re-authenticates (Java clients pick 85-95%; the margin covers one slow
/// request of the sample under way).
const REAUTHENTICATE_AT: f64 = 0.8;

impl Connection {
    async fn open(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        security: &Security,
    ) -> Result<Self, KafkaError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| KafkaError::Timeout {
                addr: addr.to_string(),
                api: "connect",
                timeout,
            })?
            .map_err(|source| KafkaError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        stream.set_nodelay(true).ok();
        let tls = security.tls_config().is_some();
        let stream: Box<dyn Io> = match security.tls_config() {
            None => Box::new(stream),
            Some(config) => {
                let host = crate::security::tls::host_of(addr);
                let name =
                    rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| {
                        KafkaError::Security(format!(
                            "Kafka broker {addr}: '{host}' is not a host name TLS can check"
                        ))
                    })?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let handshake = tokio::time::timeout(timeout, connector.connect(name, stream))
                    .await
                    .map_err(|_| KafkaError::Timeout {
                        addr: addr.to_string(),
                        api: "TLS handshake",
                        timeout,
                    })?;
                Box::new(handshake.map_err(|error| {
                    KafkaError::Security(crate::security::tls::handshake_failure(
                        addr, security, &error,
                    ))
                })?)
            }
        };
        let mut connection = Connection {
            addr: addr.to_string(),
            stream,
            tls,
            versions: HashMap::new(),
            next_correlation_id: 1,
            reauthenticate_at: None,
        };
        // v0 is understood by every broker and answers with the version
        // table. It is also the first thing the broker reads from us, so
        // a TLS/plaintext mix-up shows here: say so instead of a decode error.
        let response: ApiVersionsResponse = match connection
            .send(&ApiVersionsRequest::default(), 0, client_id, timeout)
            .await
        {
            Err(KafkaError::Io { source, .. }) => {
                return Err(KafkaError::Security(
                    crate::security::tls::first_exchange_failure(addr, security, &source),
                ))
            }
            other => other?,
        };
        if let Some(error) = error_text(response.error_code) {
            return Err(KafkaError::Broker {
                api: "ApiVersions",
                error,
            });
        }
        connection.versions = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        if let Some(sasl) = security.sasl() {
            connection.authenticate(sasl, client_id, timeout).await?;
        }
        Ok(connection)
    }

    /// SaslHandshake, then SaslAuthenticate for each message the mechanism
    /// (src/security/sasl/) produces. Errors name the broker, mechanism
    /// and user, never the password.
    async fn authenticate(
        &mut self,
        sasl: &SaslSettings,
        client_id: &str,
        timeout: Duration,
    ) -> Result<(), KafkaError> {
        let mechanism = sasl.mechanism.name();
        let login = format!("SASL {mechanism} login {}", sasl.who());
        let started = Instant::now();
        let version = self.pick_version::<SaslHandshakeRequest>((1, 1))?;
        let mut handshake = SaslHandshakeRequest::default();
        handshake.mechanism = StrBytes::from_static_str(mechanism);
        let response = self.send(&handshake, version, client_id, timeout).await?;
        const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
        if response.error_code == UNSUPPORTED_SASL_MECHANISM {
            let enabled: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(KafkaError::Security(format!(
                "Kafka broker {} does not enable SASL mechanism {mechanism} (sasl.mechanism); it enables: {}",
                self.addr,
                if enabled.is_empty() { "none".to_string() } else { enabled.join(", ") }
            )));
        }
        if let Some(error) = error_text(response.error_code) {
            return Err(KafkaError::Security(format!(
                "Kafka broker {} refused {login}: SaslHandshake: {error}",
                self.addr
            )));
        }
        let version = self.pick_version::<SaslAuthenticateRequest>((0, 2))?;
        let mut authenticator =
            crate::security::sasl::authenticator(sasl)
                .await
                .map_err(|why| {
                    KafkaError::Security(format!(
                        "{login} at Kafka broker {} failed: {why}",
                        self.addr
                    ))
                })?;
        let mut answer: Option<Bytes> = None;
        let mut lifetime_ms = 0;
        loop {
            let message = match authenticator.step(answer.as_deref()) {
                Ok(Some(message)) => message,
                Ok(None) => {
                    // v1+ says how long the session lasts (0: for ever);
                    // counted from before the exchange, to be safe.
                    self.reauthenticate_at = (lifetime_ms > 0).then(|| {
                        started
                            + Duration::from_millis((lifetime_ms as f64 * REAUTHENTICATE_AT) as u64)
                    });
                    return Ok(());
                }
                Err(why) => {
                    return Err(KafkaError::Security(format!(
                        "{login} at Kafka broker {} failed: {why}",
                        self.addr
                    )))
                }
            };
            let mut request = SaslAuthenticateRequest::default();
            request.auth_bytes = Bytes::from(message);
            let response = self.send(&request, version, client_id, timeout).await?;
            if let Some(error) = error_text(response.error_code) {
                return Err(KafkaError::Security(format!(
                    "Kafka broker {} refused {login}: {}",
                    self.addr,
                    with_message(error, response.error_message)
                )));
            }
            lifetime_ms = response.session_lifetime_ms;
            answer = Some(response.auth_bytes);
        }
    }

    fn reauthentication_due(&self) -> bool {
        self.reauthenticate_at
            .is_some_and(|at| Instant::now() >= at)
    }

    /// Highest version both sides speak within `wanted` (inclusive).
    fn pick_version<R: Request>(&self, wanted: (i16, i16)) -> Result<i16, KafkaError> {
        let (broker_min, broker_max) = self.versions.get(&R::KEY).copied().unwrap_or((0, -1));
        let min = wanted.0.max(broker_min).max(R::VERSIONS.min);
        let max = wanted.1.min(broker_max).min(R::VERSIONS.max);
        if min > max {
            return Err(KafkaError::Unsupported {
                addr: self.addr.clone(),
                api: api_name(R::KEY),
                min: wanted.0,
                max: wanted.1,
            });
        }
        Ok(max)
    }

    async fn send<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        client_id: &str,
        timeout: Duration,
    ) -> Result<R::Response, KafkaError> {
        let api = api_name(R::KEY);
        let protocol_error = |detail: String| KafkaError::Protocol {
            addr: self.addr.clone(),
            api,
            detail,
        };
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = correlation_id;
        header.client_id = Some(StrBytes::from_string(client_id.to_string()));

        let mut frame = BytesMut::with_capacity(256);
        frame.extend_from_slice(&[0; 4]);
        encode_request_header_into_buffer(&mut frame, &header)
            .map_err(|e| protocol_error(format!("encoding header: {e}")))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| protocol_error(format!("encoding v{version}: {e}")))?;
        let body_len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&body_len.to_be_bytes());

        let addr = self.addr.clone();
        let tls = self.tls;
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let mut prefix = [0u8; 4];
            self.stream.read_exact(&mut prefix).await?;
            if !tls && looks_like_tls(prefix) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    TLS_ANSWER,
                ));
            }
            let length = i32::from_be_bytes(prefix);
            if length < 0 || length as usize > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("response length {length} out of range"),
                ));
            }
            let mut body = vec![0u8; length as usize];
            self.stream.read_exact(&mut body).await?;
            Ok(Bytes::from(body))
        };
        let mut body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| KafkaError::Timeout {
                addr: addr.clone(),
                api,
                timeout,
            })?
            .map_err(|source| KafkaError::Io {
                addr: addr.clone(),
                api,
                source,
            })?;
        decode_response::<R>(&mut body, version, correlation_id).map_err(|detail| {
            KafkaError::Protocol {
                addr: addr.clone(),
                api,
                detail,
            }
        })
    }
}

/// A response body (after the length prefix) as `R`'s response of
/// `version`: its header's correlation id must match. A truncated,
/// corrupted or arbitrary body is an error, never a panic, and a corrupt
/// array length cannot abort the process (the kafka-protocol crate reserves
/// an array's capacity from it before reading the items; src/alloc.rs makes
/// such a reservation cheap). Property-tested below; the body itself is
/// capped at [`MAX_RESPONSE_BYTES`].
fn decode_response<R: Request>(
    body: &mut Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response, String> {
    let header = ResponseHeader::decode(body, R::Response::header_version(version))
        .map_err(|e| format!("header: {e}"))?;
    if header.correlation_id != correlation_id {
        return Err(format!(
            "correlation id {} does not match request {correlation_id}",
            header.correlation_id
        ));
    }
    R::Response::decode(body, version).map_err(|e| format!("v{version}: {e}"))
}

/// A broker as listed in cluster metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerAddress {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TopicMetadata {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<PartitionMetadata>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: Option<i32>,
    pub brokers: Vec<BrokerAddress>,
    pub topics: Vec<TopicMetadata>,
}

/// One offset answer of ListOffsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: Result<i64, String>,
}

#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group: String,
    pub protocol_type: String,
    /// As the broker reported it; tansu says "UNKNOWN".
    pub state: Option<String>,
    /// What kind of group, from ListGroups v5+ (Kafka 3.8+): decides how it
    /// is described. `None` from older brokers: a classic group.
    pub group_type: Option<GroupType>,
}

#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    pub assignment: Vec<TopicAssignment>,
}

/// The partitions in a consumer-protocol member assignment: a big-endian
/// version, then `ConsumerProtocolAssignment` of that version. Other
/// protocols (connect, ...) and undecodable bytes give an empty list.
fn decode_assignment(protocol_type: &str, bytes: &Bytes) -> Vec<TopicAssignment> {
    if protocol_type != "consumer" || bytes.len() < 2 {
        return Vec::new();
    }
    let mut buf = bytes.clone();
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = buf.split_to(2);
    // Newer versions only add fields: read them as the newest we know.
    let version = version.clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(assignment) => assignment
            .assigned_partitions
            .into_iter()
            .map(|tp| TopicAssignment {
                topic: tp.topic.0.to_string(),
                partitions: tp.partitions,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[derive(Debug, Clone)]
pub struct DescribedGroup {
    pub group: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<DescribedMember>,
    pub error: Option<String>,
    /// The raw code behind `error` (0 = none), to spot a stale coordinator.
    pub error_code: i16,
}

/// Committed offsets of one group: (topic, partition) → offset, `None` = no commit.
#[derive(Debug, Clone, Default)]
pub struct GroupOffsets {
    pub group: String,
    /// Topic names are shared within one answer: 50,000 groups × 4
    /// partitions would otherwise be 200,000 strings per tick.
    pub offsets: Vec<(Name, i32, Option<i64>)>,
    pub error: Option<String>,
    /// The raw code behind `error` (0 = none), to spot a stale coordinator.
    pub error_code: i16,
}

type SharedConnection = Arc<Mutex<Option<Connection>>>;

/// Connection pool over the cluster's brokers. Cheap to share (`Arc`); each
/// broker connection serves one request at a time, different brokers in parallel.
pub struct KafkaClient {
    bootstrap: Vec<String>,
    client_id: String,
    timeout: Duration,
    security: Arc<Security>,
    connections: std::sync::Mutex<HashMap<String, SharedConnection>>,
    brokers: std::sync::Mutex<HashMap<i32, String>>,
    coordinators: std::sync::Mutex<CoordinatorCache>,
    stats: std::sync::Mutex<BTreeMap<&'static str, RequestStat>>,
}

impl KafkaClient {
    pub fn new(bootstrap: Vec<String>, client_id: &str, timeout: Duration) -> Self {
        KafkaClient {
            bootstrap,
            client_id: client_id.to_string(),
            timeout,
            security: Default::default(),
            connections: Default::default(),
            brokers: Default::default(),
            coordinators: Default::default(),
            stats: Default::default(),
        }
    }

    /// TLS and SASL for every connection (plaintext by default).
    pub fn with_security(mut self, security: Arc<Security>) -> Self {
        self.security = security;
        self
    }

    /// A client for a configured cluster (bootstrap list and security),
    /// e.g. to create topics where rdkafka's admin client cannot log in.
    pub fn for_access(
        kafka: &crate::security::KafkaAccess,
        client_id: &str,
        timeout: Duration,
    ) -> Self {
        let bootstrap = kafka
            .bootstrap
            .split(',')
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect();
        KafkaClient::new(bootstrap, client_id, timeout).with_security(kafka.security.clone())
    }

    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }

    fn connection_slot(&self, addr: &str) -> SharedConnection {
        let mut connections = self.connections.lock().expect("connection map poisoned");
        connections.entry(addr.to_string()).or_default().clone()
    }

    /// Sends one request to `addr`, choosing the highest version in `wanted` the
    /// broker speaks; `build` makes the request for that version. A failed
    /// exchange drops the connection so the next call reconnects.
    async fn call<R, F>(
        &self,
        addr: &str,
        wanted: (i16, i16),
        build: F,
    ) -> Result<R::Response, KafkaError>
    where
        R: Request,
        F: FnOnce(i16) -> R,
    {
        let started = Instant::now();
        let result = self.call_unmeasured(addr, wanted, build).await;
        let mut stats = self.stats.lock().expect("stats poisoned");
        let stat = stats.entry(api_name(R::KEY)).or_default();
        stat.durations.observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            stat.errors += 1;
        }
        result
    }

    async fn call_unmeasured<R, F>(
        &self,
        addr: &str,
        wanted: (i16, i16),
        build: F,
    ) -> Result<R::Response, KafkaError>
    where
        R: Request,
        F: FnOnce(i16) -> R,
    {
        let slot = self.connection_slot(addr);
        let mut guard = slot.lock().await;
        if let (Some(connection), Some(sasl)) = (guard.as_mut(), self.security.sasl()) {
            if connection.reauthentication_due() {
                // KIP-368: SaslHandshake and SaslAuthenticate again on the
                // same connection, before the broker's session ends. If that
                // fails (the session ended while idle), a new connection
                // logs in afresh; its errors are the ones reported.
                match connection
                    .authenticate(sasl, &self.client_id, self.timeout)
                    .await
                {
                    Ok(()) => tracing::debug!("re-authenticated at Kafka broker {addr}"),
                    Err(error) => {
                        tracing::debug!(
                            "re-authentication at Kafka broker {addr} failed ({error}); reconnecting"
                        );
                        *guard = None;
                    }
                }
            }
        }
        let fresh = guard.is_none();
        if fresh {
            *guard =
                Some(Connection::open(addr, &self.client_id, self.timeout, &self.security).await?);
        }
        let connection = guard.as_mut().expect("connection just opened");
        let version = connection.pick_version::<R>(wanted)?;
        let request = build(version);
        let result = connection
            .send(&request, version, &self.client_id, self.timeout)
            .await;
        if result.is_err() {
            *guard = None;
        }
        match result {
            // A SASL listener answers ApiVersions, then drops a client that
            // asks anything else before authenticating.
            Err(KafkaError::Io { source, .. })
                if fresh
                    && self.security.sasl().is_none()
                    && source.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                Err(KafkaError::Security(format!(
                    "Kafka broker {addr} closed the connection at the first request after ApiVersions: it probably requires SASL (set security.protocol=SASL_SSL or SASL_PLAINTEXT and sasl.mechanism, sasl.username, sasl.password); security.protocol is {}",
                    self.security.protocol().name()
                )))
            }
            other => other,
        }
    }

    /// Duration and error statistics per request type since start.
    pub fn request_stats(&self) -> Vec<(String, RequestStat)> {
        let stats = self.stats.lock().expect("stats poisoned");
        stats
            .iter()
            .map(|(api, stat)| (api.to_string(), stat.clone()))
            .collect()
    }

    fn broker_addr(&self, node_id: i32) -> Result<String, KafkaError> {
        self.brokers
            .lock()
            .expect("broker map poisoned")
            .get(&node_id)
            .cloned()
            .ok_or(KafkaError::UnknownBroker(node_id))
    }

    /// Full cluster metadata, asking the bootstrap brokers in turn.
    pub async fn metadata(&self) -> Result<ClusterMetadata, KafkaError> {
        let mut last_error = None;
        let known: Vec<String> = self
            .brokers
            .lock()
            .expect("poisoned")
            .values()
            .cloned()
            .collect();
        let mut candidates = self.bootstrap.clone();
        candidates.extend(
            known
                .into_iter()
                .filter(|addr| !self.bootstrap.contains(addr)),
        );
        for addr in &candidates {
            match self.metadata_from(addr).await {
                Ok(metadata) => {
                    let mut brokers = self.brokers.lock().expect("poisoned");
                    brokers.clear();
                    brokers.extend(metadata.brokers.iter().map(|b| (b.node_id, b.addr())));
                    self.coordinators
                        .lock()
                        .expect("poisoned")
                        .retain_brokers(|id| brokers.contains_key(&id));
                    return Ok(metadata);
                }
                Err(error) => last_error = Some(error),
            }
        }
        let last = last_error.map(|e| e.to_string()).unwrap_or_default();
        Err(KafkaError::NoBrokerReachable {
            tried: candidates.join(","),
            last,
        })
    }

    async fn metadata_from(&self, addr: &str) -> Result<ClusterMetadata, KafkaError> {
        let response = self
            .call(addr, (1, 12), |_| {
                let mut request = MetadataRequest::default();
                request.topics = None; // all topics
                request
            })
            .await?;
        let brokers = response
            .brokers
            .iter()
            .map(|b| BrokerAddress {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        let topics = response
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: p.leader_id.0,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                        error: error_text(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some(TopicMetadata {
                    name,
                    internal: t.is_internal,
                    partitions,
                    error: error_text(t.error_code),
                })
            })
            .collect();
        Ok(ClusterMetadata {
            cluster_id: response.cluster_id.as_ref().map(|c| c.to_string()),
            controller_id: (response.controller_id.0 >= 0).then_some(response.controller_id.0),
            brokers,
            topics,
        })
    }

    /// One batched ListOffsets to `leader` for all `partitions` at `timestamp`
    /// ([`LATEST`], [`EARLIEST`] or a time in ms).
    pub async fn list_offsets(
        &self,
        leader: i32,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        let addr = self.broker_addr(leader)?;
        let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, partition) in partitions {
            match by_topic.iter_mut().find(|(name, _)| name == topic) {
                Some((_, list)) => list.push(*partition),
                None => by_topic.push((topic.clone(), vec![*partition])),
            }
        }
        let response = self
            .call(&addr, (1, 7), |_| {
                let mut request = ListOffsetsRequest::default();
                request.replica_id = BrokerId(-1);
                request.topics = by_topic
                    .iter()
                    .map(|(topic, partitions)| {
                        let mut entry = ListOffsetsTopic::default();
                        entry.name = TopicName(StrBytes::from_string(topic.clone()));
                        entry.partitions = partitions
                            .iter()
                            .map(|&partition| {
                                let mut p = ListOffsetsPartition::default();
                                p.partition_index = partition;
                                p.current_leader_epoch = -1;
                                p.timestamp = timestamp;
                                p
                            })
                            .collect();
                        entry
                    })
                    .collect();
                request
            })
            .await?;
        Ok(response
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(move |p| PartitionOffset {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                    offset: match error_text(p.error_code) {
                        None => Ok(p.offset),
                        Some(error) => Err(error),
                    },
                })
            })
            .collect())
    }

    /// ListGroups on one broker (each broker lists the groups it coordinates).
    pub async fn list_groups(&self, broker: i32) -> Result<Vec<ListedGroup>, KafkaError> {
        let addr = self.broker_addr(broker)?;
        let response = self
            // v5 adds each group's type; an empty types filter lists all kinds.
            .call(&addr, (0, 5), |_| ListGroupsRequest::default())
            .await?;
        if let Some(error) = error_text(response.error_code) {
            return Err(KafkaError::Broker {
                api: "ListGroups",
                error,
            });
        }
        Ok(response
            .groups
            .iter()
            .map(|g| {
                let state = g.group_state.to_string();
                let group_type = g.group_type.to_string();
                ListedGroup {
                    group: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: (!state.is_empty() && !state.eq_ignore_ascii_case("unknown"))
                        .then_some(state),
                    group_type: (!group_type.is_empty()).then(|| GroupType::parse(&group_type)),
                }
            })
            .collect())
    }

    /// The coordinator broker id of each group: cached ones from earlier
    /// ticks, the others by FindCoordinator (batched when the broker speaks
    /// v4+). `groups` is every listed group; others leave the cache.
    pub async fn find_coordinators(
        &self,
        groups: &[String],
    ) -> Result<HashMap<String, Result<i32, String>>, KafkaError> {
        let missing = {
            let mut cache = self.coordinators.lock().expect("poisoned");
            cache.retain_groups(groups);
            cache.missing(groups)
        };
        let found = self.lookup_coordinators(&missing).await?;
        let mut cache = self.coordinators.lock().expect("poisoned");
        cache.record(&found);
        let mut answers = found;
        for group in groups {
            if let Some(id) = cache.get(group) {
                answers.entry(group.clone()).or_insert(Ok(id));
            }
        }
        Ok(answers)
    }

    /// Looks `groups` up again with FindCoordinator, whatever is cached
    /// (their coordinator moved or did not answer); the other groups keep
    /// their cached coordinators.
    pub async fn relocate_coordinators(
        &self,
        groups: &[String],
    ) -> Result<HashMap<String, Result<i32, String>>, KafkaError> {
        {
            let mut cache = self.coordinators.lock().expect("poisoned");
            for group in groups {
                cache.by_group.remove(group);
            }
        }
        let found = self.lookup_coordinators(groups).await?;
        self.coordinators.lock().expect("poisoned").record(&found);
        Ok(found)
    }

    /// Forgets the coordinators of groups whose answer says it is stale, so
    /// the next tick asks FindCoordinator again.
    fn forget_stale_coordinators<'a>(&self, errors: impl Iterator<Item = (&'a str, i16)>) {
        let mut cache = self.coordinators.lock().expect("poisoned");
        for (group, code) in errors {
            cache.forget_on_error(group, code);
        }
    }

    async fn lookup_coordinators(
        &self,
        groups: &[String],
    ) -> Result<HashMap<String, Result<i32, String>>, KafkaError> {
        let mut answers = HashMap::new();
        if groups.is_empty() {
            return Ok(answers);
        }
        let addr = self.any_broker_addr()?;
        let batched = self
            .call(&addr, (4, 4), |_| {
                let mut request = FindCoordinatorRequest::default();
                request.key_type = 0;
                request.coordinator_keys = groups
                    .iter()
                    .map(|g| StrBytes::from_string(g.clone()))
                    .collect();
                request
            })
            .await;
        match batched {
            Ok(response) => {
                for c in response.coordinators {
                    let answer = match error_text(c.error_code) {
                        None => Ok(c.node_id.0),
                        Some(error) => Err(error),
                    };
                    answers.insert(c.key.to_string(), answer);
                }
                Ok(answers)
            }
            Err(KafkaError::Unsupported { .. }) => {
                for group in groups {
                    let response = self
                        .call(&addr, (0, 3), |_| {
                            let mut request = FindCoordinatorRequest::default();
                            request.key = StrBytes::from_string(group.clone());
                            request
                        })
                        .await?;
                    let answer = match error_text(response.error_code) {
                        None => Ok(response.node_id.0),
                        Some(error) => Err(error),
                    };
                    answers.insert(group.clone(), answer);
                }
                Ok(answers)
            }
            Err(error) => Err(error),
        }
    }

    /// Creates topic `name` (an existing one is fine). Used with
    /// OAUTHBEARER instead of rdkafka's admin client, which never serves
    /// librdkafka's token refresh event (it does not poll the queue the
    /// event waits on) and so never connects. Brokers forward CreateTopics
    /// to the controller.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication: i16,
        configs: &[(&str, &str)],
    ) -> Result<(), KafkaError> {
        use kafka_protocol::messages::create_topics_request::{
            CreatableTopic, CreatableTopicConfig,
        };
        const TOPIC_ALREADY_EXISTS: i16 = 36;
        self.metadata().await?;
        let addr = self.any_broker_addr()?;
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
        let response = self
            .call(&addr, (2, 7), |_| {
                let mut topic = CreatableTopic::default();
                topic.name = TopicName(StrBytes::from_string(name.to_string()));
                topic.num_partitions = partitions;
                topic.replication_factor = replication;
                topic.configs = configs
                    .iter()
                    .map(|(key, value)| {
                        let mut config = CreatableTopicConfig::default();
                        config.name = StrBytes::from_string(key.to_string());
                        config.value = Some(StrBytes::from_string(value.to_string()));
                        config
                    })
                    .collect();
                let mut request = CreateTopicsRequest::default();
                request.topics = vec![topic];
                request.timeout_ms = timeout_ms;
                request
            })
            .await?;
        for topic in response.topics {
            if topic.error_code == TOPIC_ALREADY_EXISTS {
                continue;
            }
            if let Some(error) = plain_error_text(topic.error_code) {
                return Err(KafkaError::Broker {
                    api: "CreateTopics",
                    error: with_message(error, topic.error_message),
                });
            }
        }
        Ok(())
    }

    fn any_broker_addr(&self) -> Result<String, KafkaError> {
        let brokers = self.brokers.lock().expect("poisoned");
        brokers
            .keys()
            .min()
            .and_then(|id| brokers.get(id).cloned())
            .or_else(|| self.bootstrap.first().cloned())
            .ok_or(KafkaError::UnknownBroker(-1))
    }

    /// Committed offsets of `groups`, all coordinated by `coordinator`: one
    /// request per [`MAX_GROUPS_PER_REQUEST`] groups on brokers with
    /// OffsetFetch v8+, else one each. Any failed request fails the call.
    pub async fn offset_fetch(
        &self,
        coordinator: i32,
        groups: &[String],
    ) -> Result<Vec<GroupOffsets>, KafkaError> {
        let addr = self.broker_addr(coordinator)?;
        let mut all = Vec::with_capacity(groups.len());
        let mut names = Names::default();
        for (chunk, request) in groups
            .chunks(MAX_GROUPS_PER_REQUEST)
            .zip(offset_fetch_requests(groups))
        {
            match self.call(&addr, (8, 8), |_| request).await {
                Ok(response) => all.extend(response.groups.iter().map(|g| {
                    GroupOffsets {
                        group: g.group_id.0.to_string(),
                        offsets: g
                            .topics
                            .iter()
                            .flat_map(|t| {
                                let name = names.get(&t.name.0);
                                t.partitions.iter().map(move |p| {
                                    (
                                        name.clone(),
                                        p.partition_index,
                                        (p.committed_offset >= 0).then_some(p.committed_offset),
                                    )
                                })
                            })
                            .collect(),
                        error: error_text(g.error_code),
                        error_code: g.error_code,
                    }
                })),
                Err(KafkaError::Unsupported { .. }) => {
                    for group in chunk {
                        all.push(self.offset_fetch_one(&addr, group).await?);
                    }
                }
                Err(error) => return Err(error),
            }
        }
        self.forget_stale_coordinators(all.iter().map(|g| (g.group.as_str(), g.error_code)));
        Ok(all)
    }

    async fn offset_fetch_one(&self, addr: &str, group: &str) -> Result<GroupOffsets, KafkaError> {
        let response = self
            .call(addr, (2, 7), |_| {
                let mut request = OffsetFetchRequest::default();
                request.group_id = GroupId(StrBytes::from_string(group.to_string()));
                request.topics = None;
                request
            })
            .await?;
        Ok(GroupOffsets {
            group: group.to_string(),
            offsets: response
                .topics
                .iter()
                .flat_map(|t| {
                    let name = Name::from(t.name.0.as_str());
                    t.partitions.iter().map(move |p| {
                        (
                            name.clone(),
                            p.partition_index,
                            (p.committed_offset >= 0).then_some(p.committed_offset),
                        )
                    })
                })
                .collect(),
            error: error_text(response.error_code),
            error_code: response.error_code,
        })
    }

    /// DescribeGroups for `groups` on their coordinator, one request per
    /// [`MAX_GROUPS_PER_REQUEST`] groups. Any failed request fails the call.
    pub async fn describe_groups(
        &self,
        coordinator: i32,
        groups: &[String],
    ) -> Result<Vec<DescribedGroup>, KafkaError> {
        let addr = self.broker_addr(coordinator)?;
        let mut all = Vec::with_capacity(groups.len());
        for request in describe_groups_requests(groups) {
            let response = self.call(&addr, (0, 5), |_| request).await?;
            all.extend(response.groups.iter().map(|g| {
                DescribedGroup {
                    group: g.group_id.0.to_string(),
                    state: g.group_state.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    members: g
                        .members
                        .iter()
                        .map(|m| DescribedMember {
                            member_id: m.member_id.to_string(),
                            client_id: m.client_id.to_string(),
                            client_host: m.client_host.to_string(),
                            assignment: decode_assignment(&g.protocol_type, &m.member_assignment),
                        })
                        .collect(),
                    error: error_text(g.error_code),
                    error_code: g.error_code,
                }
            }));
        }
        self.forget_stale_coordinators(all.iter().map(|g| (g.group.as_str(), g.error_code)));
        Ok(all)
    }

    /// ConsumerGroupDescribe (KIP-848, API 69) for consumer-type groups on
    /// their coordinator: state (Assigning, Reconciling, Stable, Empty, ...),
    /// members and their current assignment. Same chunks as DescribeGroups.
    pub async fn describe_consumer_groups(
        &self,
        coordinator: i32,
        groups: &[String],
    ) -> Result<Vec<DescribedGroup>, KafkaError> {
        self.describe_in_chunks(
            coordinator,
            groups,
            (0, 1),
            |ids| {
                let mut request = ConsumerGroupDescribeRequest::default();
                request.group_ids = ids;
                request
            },
            |response| described_groups!(response, "consumer"),
        )
        .await
    }

    /// ShareGroupDescribe (KIP-932, API 77) for share groups: state and
    /// members with their assignment.
    pub async fn describe_share_groups(
        &self,
        coordinator: i32,
        groups: &[String],
    ) -> Result<Vec<DescribedGroup>, KafkaError> {
        self.describe_in_chunks(
            coordinator,
            groups,
            (1, 1),
            |ids| {
                let mut request = ShareGroupDescribeRequest::default();
                request.group_ids = ids;
                request
            },
            |response| described_groups!(response, "share"),
        )
        .await
    }

    /// One describe request per [`MAX_GROUPS_PER_REQUEST`] groups on their
    /// coordinator; answers that say the coordinator moved forget it.
    async fn describe_in_chunks<R: Request>(
        &self,
        coordinator: i32,
        groups: &[String],
        versions: (i16, i16),
        build: impl Fn(Vec<GroupId>) -> R,
        convert: impl Fn(R::Response) -> Vec<DescribedGroup>,
    ) -> Result<Vec<DescribedGroup>, KafkaError> {
        let addr = self.broker_addr(coordinator)?;
        let mut all = Vec::with_capacity(groups.len());
        for chunk in groups.chunks(MAX_GROUPS_PER_REQUEST) {
            let response = self
                .call(&addr, versions, |_| build(group_ids(chunk)))
                .await?;
            all.extend(convert(response));
        }
        self.forget_stale_coordinators(all.iter().map(|g| (g.group.as_str(), g.error_code)));
        Ok(all)
    }
}

/// The groups of a ConsumerGroupDescribe or ShareGroupDescribe answer: the
/// two have the same shape in different generated types.
macro_rules! described_groups {
    ($response:expr, $protocol:literal) => {
        $response
            .groups
            .into_iter()
            .map(|g| DescribedGroup {
                group: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: $protocol.to_string(),
                members: g
                    .members
                    .into_iter()
                    .map(|m| DescribedMember {
                        member_id: m.member_id.to_string(),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        assignment: m
                            .assignment
                            .topic_partitions
                            .into_iter()
                            .map(|tp| TopicAssignment {
                                topic: tp.topic_name.0.to_string(),
                                partitions: tp.partitions,
                            })
                            .collect(),
                    })
                    .collect(),
                error: error_text(g.error_code).map(|e| with_message(e, g.error_message)),
                error_code: g.error_code,
            })
            .collect()
    };
}
use described_groups;

fn group_ids(groups: &[String]) -> Vec<GroupId> {
    groups
        .iter()
        .map(|g| GroupId(StrBytes::from_string(g.clone())))
        .collect()
}

/// An error code's text with the broker's own message, when it sent one.
fn with_message(error: String, message: Option<StrBytes>) -> String {
    match message {
        Some(message) if !message.is_empty() => format!("{error}: {message}"),
        _ => error,
    }
}

/// Batched OffsetFetch (v8+) requests for `groups`, at most
/// [`MAX_GROUPS_PER_REQUEST`] groups each, in order.
fn offset_fetch_requests(groups: &[String]) -> Vec<OffsetFetchRequest> {
    groups
        .chunks(MAX_GROUPS_PER_REQUEST)
        .map(|chunk| {
            let mut request = OffsetFetchRequest::default();
            request.groups = chunk
                .iter()
                .map(|g| {
                    let mut entry = OffsetFetchRequestGroup::default();
                    entry.group_id = GroupId(StrBytes::from_string(g.clone()));
                    entry.topics = None; // every partition the group committed
                    entry
                })
                .collect();
            request
        })
        .collect()
}

/// DescribeGroups requests for `groups`, at most [`MAX_GROUPS_PER_REQUEST`]
/// groups each, in order.
fn describe_groups_requests(groups: &[String]) -> Vec<DescribeGroupsRequest> {
    groups
        .chunks(MAX_GROUPS_PER_REQUEST)
        .map(|chunk| {
            let mut request = DescribeGroupsRequest::default();
            request.groups = group_ids(chunk);
            request
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_assignments_decode_from_the_consumer_protocol() {
        use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
        use kafka_protocol::protocol::Encodable;
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("orders")))
                .with_partitions(vec![0, 2]),
        ]);
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&1i16.to_be_bytes());
        assignment.encode(&mut bytes, 1).unwrap();
        let bytes = bytes.freeze();
        let decoded = decode_assignment("consumer", &bytes);
        assert_eq!(
            decoded,
            vec![TopicAssignment {
                topic: "orders".into(),
                partitions: vec![0, 2]
            }]
        );
        assert!(decode_assignment("connect", &bytes).is_empty());
        assert!(decode_assignment("consumer", &Bytes::from_static(b"\x00")).is_empty());
    }

    /// A valid answer frame (header with correlation id 7 and body) of each
    /// request kafka-pulse sends, with a decoder that reports whether it
    /// decoded: what the property tests below mutate.
    type Decoder = Box<dyn Fn(&mut Bytes) -> bool>;

    fn fixture<R: Request + 'static>(response: R::Response, version: i16) -> (Bytes, Decoder)
    where
        R::Response: kafka_protocol::protocol::Encodable,
    {
        use kafka_protocol::protocol::Encodable;
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut frame, R::Response::header_version(version))
            .unwrap();
        response.encode(&mut frame, version).unwrap();
        let decode: Decoder = Box::new(move |body| decode_response::<R>(body, version, 7).is_ok());
        (frame.freeze(), decode)
    }

    fn every_answer() -> Vec<(Bytes, Decoder)> {
        use kafka_protocol::messages::*;
        let name = |text: &'static str| StrBytes::from_static_str(text);
        let partitions = |count: i32| {
            (0..count)
                .map(|i| {
                    metadata_response::MetadataResponsePartition::default()
                        .with_partition_index(i)
                        .with_leader_id(BrokerId(1))
                        .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
                        .with_isr_nodes(vec![BrokerId(1)])
                })
                .collect::<Vec<_>>()
        };
        let metadata = MetadataResponse::default()
            .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(name("broker-1"))
                .with_port(9092)])
            .with_topics(vec![
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(TopicName(name("orders"))))
                    .with_partitions(partitions(3)),
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(TopicName(name("payments"))))
                    .with_partitions(partitions(2)),
            ]);
        let offsets = OffsetFetchResponse::default().with_groups(vec![
            offset_fetch_response::OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(name("billing")))
                .with_topics(vec![
                    offset_fetch_response::OffsetFetchResponseTopics::default()
                        .with_name(TopicName(name("orders")))
                        .with_partitions(vec![
                            offset_fetch_response::OffsetFetchResponsePartitions::default()
                                .with_partition_index(0)
                                .with_committed_offset(42),
                        ]),
                ]),
        ]);
        let list_offsets = ListOffsetsResponse::default().with_topics(vec![
            list_offsets_response::ListOffsetsTopicResponse::default()
                .with_name(TopicName(name("orders")))
                .with_partitions(vec![
                    list_offsets_response::ListOffsetsPartitionResponse::default()
                        .with_offset(1_000)
                        .with_timestamp(1_700_000_000_000),
                ]),
        ]);
        let described = DescribeGroupsResponse::default().with_groups(vec![
            describe_groups_response::DescribedGroup::default()
                .with_group_id(GroupId(name("billing")))
                .with_group_state(name("Stable"))
                .with_protocol_type(name("consumer"))
                .with_members(
                    vec![describe_groups_response::DescribedGroupMember::default()
                    .with_member_id(name("m-1"))
                    .with_client_host(name("/10.0.0.1"))
                    .with_member_assignment(Bytes::from_static(
                        b"\x00\x01\x00\x00\x00\x01\x00\x06orders\x00\x00\x00\x01\x00\x00\x00\x00",
                    ))],
                ),
        ]);
        vec![
            fixture::<MetadataRequest>(metadata.clone(), 12),
            fixture::<MetadataRequest>(metadata, 4),
            fixture::<ListGroupsRequest>(
                ListGroupsResponse::default().with_groups(vec![
                    list_groups_response::ListedGroup::default()
                        .with_group_id(GroupId(name("billing")))
                        .with_group_type(name("consumer")),
                ]),
                5,
            ),
            fixture::<OffsetFetchRequest>(offsets, 8),
            fixture::<ListOffsetsRequest>(list_offsets, 7),
            fixture::<FindCoordinatorRequest>(
                FindCoordinatorResponse::default().with_coordinators(vec![
                    find_coordinator_response::Coordinator::default()
                        .with_key(name("billing"))
                        .with_host(name("broker-1"))
                        .with_port(9092),
                ]),
                4,
            ),
            fixture::<DescribeGroupsRequest>(described.clone(), 5),
            fixture::<DescribeGroupsRequest>(described, 1),
            fixture::<ConsumerGroupDescribeRequest>(
                ConsumerGroupDescribeResponse::default().with_groups(vec![
                    consumer_group_describe_response::DescribedGroup::default()
                        .with_group_id(GroupId(name("billing")))
                        .with_members(vec![consumer_group_describe_response::Member::default()
                            .with_member_id(name("m-1"))]),
                ]),
                1,
            ),
            fixture::<ShareGroupDescribeRequest>(ShareGroupDescribeResponse::default(), 1),
            fixture::<ApiVersionsRequest>(
                ApiVersionsResponse::default().with_api_keys(vec![
                    api_versions_response::ApiVersion::default()
                        .with_api_key(3)
                        .with_max_version(12),
                ]),
                0,
            ),
        ]
    }

    /// Every answer decodes whole; every prefix (a broker that stopped
    /// mid-frame, a proxy that cut it) is an error, never a panic.
    #[test]
    fn every_answer_decodes_whole_and_its_truncations_are_errors() {
        for (frame, decode) in every_answer() {
            assert!(decode(&mut frame.clone()), "{frame:?}");
            for cut in 0..frame.len() {
                assert!(
                    !decode(&mut frame.slice(..cut)),
                    "prefix {cut} of {frame:?}"
                );
            }
        }
    }

    /// Mutated answers (bytes overwritten, lengths set to the largest
    /// values a field can carry, bytes cut out or put in) and arbitrary
    /// bytes decode to an answer or an error: never a panic, never an abort
    /// (the huge arrays a corrupt length asks for are only reserved, see
    /// src/alloc.rs). Fixed seed and case count: CI runs the same inputs.
    #[test]
    fn mutated_and_random_answers_never_panic_or_abort() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
        let answers = every_answer();
        let count = answers.len();
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 4_000,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(RngAlgorithm::ChaCha, &[0x5e; 32]),
        );
        let mutation = (0u8..5, any::<u32>(), any::<u32>());
        let strategy = (
            0..count,
            proptest::collection::vec(mutation, 1..6),
            proptest::collection::vec(any::<u8>(), 0..64),
        );
        runner
            .run(&strategy, |(which, mutations, noise)| {
                let (frame, decode) = &answers[which];
                let mut bytes = frame.to_vec();
                for (kind, at, value) in mutations {
                    let at = at as usize % (bytes.len() + 1);
                    match kind {
                        0 => {
                            if at < bytes.len() {
                                bytes[at] = value as u8;
                            }
                        }
                        // A length or count field at its extremes.
                        1 => {
                            let big = [0x7fff_ffffu32, 0xffff_ffff, 0x8000_0000, value]
                                [value as usize % 4];
                            for (i, b) in big.to_be_bytes().into_iter().enumerate() {
                                if at + i < bytes.len() {
                                    bytes[at + i] = b;
                                }
                            }
                        }
                        // The largest unsigned varint (compact lengths).
                        2 => {
                            bytes.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                        }
                        3 => {
                            let end = (at + value as usize % 16).min(bytes.len());
                            bytes.drain(at..end);
                        }
                        _ => {
                            bytes.splice(at..at, noise.iter().copied());
                        }
                    }
                }
                let _ = decode(&mut Bytes::from(bytes));
                // Arbitrary bytes as each answer.
                let _ = decode(&mut Bytes::from(noise.clone()));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn a_wrong_correlation_id_is_an_error() {
        use kafka_protocol::messages::*;
        let (frame, _) = fixture::<FindCoordinatorRequest>(FindCoordinatorResponse::default(), 4);
        let mut body = frame.clone();
        assert!(decode_response::<FindCoordinatorRequest>(&mut body, 4, 7).is_ok());
        let mut body = frame;
        let error = decode_response::<FindCoordinatorRequest>(&mut body, 4, 8).unwrap_err();
        assert!(error.contains("does not match"), "{error}");
    }

    #[test]
    fn error_text_is_none_for_success_and_names_known_codes() {
        assert_eq!(error_text(0), None);
        let text = error_text(3).unwrap();
        assert!(text.contains("UnknownTopicOrPartition"), "{text}");
        assert!(error_text(-12345).unwrap().contains("-12345"));
        let denied = error_text(30).unwrap();
        assert!(
            denied.starts_with("GroupAuthorizationFailed (code 30): ")
                && denied.contains("Group DESCRIBE"),
            "{denied}"
        );
        assert!(!plain_error_text(29).unwrap().contains("DESCRIBE"));
    }

    fn names(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("g{i}")).collect()
    }

    #[test]
    fn only_groups_without_a_cached_coordinator_are_looked_up() {
        let mut cache = CoordinatorCache::default();
        let listed = names(0..4);
        assert_eq!(cache.missing(&listed), listed, "empty cache: look up all");
        let answers: HashMap<String, Result<i32, String>> = [
            ("g0".to_string(), Ok(1)),
            ("g1".to_string(), Ok(2)),
            ("g2".to_string(), Err("CoordinatorNotAvailable".to_string())),
        ]
        .into_iter()
        .collect();
        cache.record(&answers);
        // g2's lookup failed and g3 was never answered: both asked again.
        assert_eq!(cache.missing(&listed), vec!["g2", "g3"]);
        assert_eq!(cache.get("g0"), Some(1));
        assert_eq!(cache.get("g2"), None);
        // A group no longer listed leaves the cache.
        cache.retain_groups(&names(1..4));
        assert_eq!(cache.get("g0"), None);
        assert_eq!(cache.missing(&names(0..2)), vec!["g0"]);
    }

    #[test]
    fn coordinator_errors_invalidate_and_other_errors_do_not() {
        let mut cache = CoordinatorCache::default();
        let all = names(0..6);
        cache.record(&all.iter().map(|g| (g.clone(), Ok(1))).collect());
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
        assert!(cache.forget_on_error("g0", 14));
        assert!(cache.forget_on_error("g1", 15));
        assert!(cache.forget_on_error("g2", 16));
        // Success, GROUP_AUTHORIZATION_FAILED, UNKNOWN_SERVER_ERROR: the
        // coordinator is right, asking again would not help.
        assert!(!cache.forget_on_error("g3", 0));
        assert!(!cache.forget_on_error("g4", 30));
        assert!(!cache.forget_on_error("g5", -1));
        assert!(
            !cache.forget_on_error("unknown", 16),
            "nothing cached to drop"
        );
        assert_eq!(cache.missing(&all), vec!["g0", "g1", "g2"]);
    }

    #[test]
    fn coordinators_on_brokers_gone_from_metadata_are_forgotten() {
        let mut cache = CoordinatorCache::default();
        cache.record(
            &[("a", 1), ("b", 2), ("c", 3)]
                .into_iter()
                .map(|(g, id)| (g.to_string(), Ok(id)))
                .collect(),
        );
        cache.retain_brokers(|id| id != 2);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("c"), Some(3));
    }

    #[test]
    fn offset_fetch_and_describe_groups_split_into_chunks_of_at_most_1000() {
        let groups = names(0..2500);
        let fetches = offset_fetch_requests(&groups);
        assert_eq!(
            fetches.iter().map(|r| r.groups.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let fetched: Vec<String> = fetches
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| g.group_id.0.to_string()))
            .collect();
        assert_eq!(fetched, groups, "every group once, in order");
        assert!(fetches
            .iter()
            .flat_map(|r| &r.groups)
            .all(|g| g.topics.is_none()));

        let describes = describe_groups_requests(&groups);
        assert_eq!(
            describes.iter().map(|r| r.groups.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let described: Vec<String> = describes
            .iter()
            .flat_map(|r| r.groups.iter().map(|g| g.0.to_string()))
            .collect();
        assert_eq!(described, groups);

        assert_eq!(offset_fetch_requests(&names(0..1000)).len(), 1);
        assert_eq!(describe_groups_requests(&names(0..1001)).len(), 2);
        assert!(offset_fetch_requests(&[]).is_empty());
    }

    #[tokio::test]
    async fn unreachable_bootstrap_names_every_address_tried() {
        // Port 1 on loopback is closed on any sane machine: connect fails fast.
        let client = KafkaClient::new(
            vec!["127.0.0.1:1".to_string()],
            "test",
            Duration::from_secs(2),
        );
        let error = client.metadata().await.unwrap_err().to_string();
        assert!(error.contains("127.0.0.1:1"), "{error}");
    }
}

//! A Kafka cluster for tests that the embedded broker cannot stand in
//! for: it speaks the Kafka protocol (kafka-protocol's own encoders) for
//! what the collector asks — ApiVersions, Metadata, ListOffsets,
//! ListGroups, FindCoordinator, OffsetFetch, DescribeGroups — and makes up
//! the answers from a few numbers: `topics` topics of `partitions`
//! partitions, `groups` groups each committed on one topic. With two nodes
//! the groups' coordinator moves from node 1 to node 2 after the first
//! lookup (node 1 then answers NOT_COORDINATOR); with one node it stays.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, DescribeGroupsRequest,
    DescribeGroupsResponse, FindCoordinatorRequest, FindCoordinatorResponse, GroupId,
    ListGroupsRequest, ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, OffsetFetchRequest, OffsetFetchResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NOT_COORDINATOR: i16 = 16;
/// Every partition's high watermark; groups commit `COMMITTED_BEHIND` below.
pub const HIGH: i64 = 100_000;
pub const COMMITTED_BEHIND: i64 = 40;

/// The shape of the made-up cluster.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub topics: usize,
    pub partitions: usize,
    pub groups: usize,
    /// 2: the coordinator moves from node 1 to node 2 after the first lookup.
    pub nodes: usize,
}

pub fn topic_name(t: usize) -> String {
    format!("topic-{t:05}")
}

pub fn group_name(g: usize) -> String {
    format!("group-{g:05}")
}

/// The running cluster: its nodes' ports and what it was asked.
pub struct FakeCluster {
    pub shape: Shape,
    pub ports: Vec<u16>,
    pub coordinator_lookups: AtomicUsize,
    /// OffsetFetch requests per node.
    pub offset_fetches: Vec<AtomicUsize>,
}

impl FakeCluster {
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.ports[0])
    }

    /// The node a coordinator lookup names now.
    fn coordinator(&self) -> i32 {
        let lookup = self.coordinator_lookups.fetch_add(1, Ordering::SeqCst);
        if self.shape.nodes > 1 && lookup > 0 {
            2
        } else {
            1
        }
    }

    /// Whether `node` answers for groups (the old coordinator does not).
    fn coordinates(&self, node: i32) -> bool {
        self.shape.nodes == 1 || node == 2
    }
}

fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn versions<R: Request>() -> ApiVersion {
    let mut version = ApiVersion::default();
    version.api_key = R::KEY;
    version.min_version = R::VERSIONS.min;
    version.max_version = R::VERSIONS.max;
    version
}

/// The response to one request on node `node` (1-based), encoded.
fn answer(
    cluster: &FakeCluster,
    node: i32,
    key: ApiKey,
    version: i16,
    body: &mut Bytes,
) -> BytesMut {
    let shape = cluster.shape;
    let mut out = BytesMut::new();
    match key {
        ApiKey::ApiVersions => {
            let mut response = ApiVersionsResponse::default();
            response.api_keys = vec![
                versions::<ApiVersionsRequest>(),
                versions::<MetadataRequest>(),
                versions::<ListOffsetsRequest>(),
                versions::<ListGroupsRequest>(),
                versions::<FindCoordinatorRequest>(),
                versions::<OffsetFetchRequest>(),
                versions::<DescribeGroupsRequest>(),
            ];
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::Metadata => {
            let mut response = MetadataResponse::default();
            response.controller_id = BrokerId(1);
            response.cluster_id = Some(str("fake"));
            response.brokers = (0..shape.nodes)
                .map(|i| {
                    let mut broker = MetadataResponseBroker::default();
                    broker.node_id = BrokerId(i as i32 + 1);
                    broker.host = str("127.0.0.1");
                    broker.port = i32::from(cluster.ports[i]);
                    broker
                })
                .collect();
            response.topics = (0..shape.topics)
                .map(|t| {
                    let mut topic = MetadataResponseTopic::default();
                    topic.name = Some(TopicName(str(&topic_name(t))));
                    topic.partitions = (0..shape.partitions)
                        .map(|p| {
                            let mut partition = MetadataResponsePartition::default();
                            partition.partition_index = p as i32;
                            partition.leader_id = BrokerId(1);
                            partition.replica_nodes = vec![BrokerId(1)];
                            partition.isr_nodes = vec![BrokerId(1)];
                            partition
                        })
                        .collect();
                    topic
                })
                .collect();
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::ListOffsets => {
            let request = ListOffsetsRequest::decode(body, version).unwrap();
            let mut response = ListOffsetsResponse::default();
            response.topics = request
                .topics
                .iter()
                .map(|t| {
                    let mut topic = ListOffsetsTopicResponse::default();
                    topic.name = t.name.clone();
                    topic.partitions = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let mut partition = ListOffsetsPartitionResponse::default();
                            partition.partition_index = p.partition_index;
                            // -1 asks for the latest offset, -2 for the earliest.
                            partition.offset = if p.timestamp == -1 { HIGH } else { 0 };
                            partition.timestamp = -1;
                            partition
                        })
                        .collect();
                    topic
                })
                .collect();
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::ListGroups => {
            let mut response = ListGroupsResponse::default();
            if node == 1 {
                response.groups = (0..shape.groups)
                    .map(|g| {
                        let mut group = ListedGroup::default();
                        group.group_id = GroupId(str(&group_name(g)));
                        group.protocol_type = str("consumer");
                        group.group_state = str("Stable");
                        group
                    })
                    .collect();
            }
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::FindCoordinator => {
            let request = FindCoordinatorRequest::decode(body, version).unwrap();
            let node_id = cluster.coordinator();
            let port = i32::from(cluster.ports[node_id as usize - 1]);
            let mut response = FindCoordinatorResponse::default();
            if version >= 4 {
                response.coordinators = request
                    .coordinator_keys
                    .iter()
                    .map(|key| {
                        let mut coordinator = Coordinator::default();
                        coordinator.key = key.clone();
                        coordinator.node_id = BrokerId(node_id);
                        coordinator.host = str("127.0.0.1");
                        coordinator.port = port;
                        coordinator
                    })
                    .collect();
            } else {
                response.node_id = BrokerId(node_id);
                response.host = str("127.0.0.1");
                response.port = port;
            }
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::OffsetFetch => {
            assert!(version >= 8, "the client batches groups (v8+)");
            let request = OffsetFetchRequest::decode(body, version).unwrap();
            cluster.offset_fetches[node as usize - 1].fetch_add(1, Ordering::SeqCst);
            let mut response = OffsetFetchResponse::default();
            response.groups = request
                .groups
                .iter()
                .map(|g| {
                    let mut group = OffsetFetchResponseGroup::default();
                    group.group_id = g.group_id.clone();
                    if !cluster.coordinates(node) {
                        group.error_code = NOT_COORDINATOR;
                        return group;
                    }
                    // group-NNNNN commits on topic NNNNN % topics.
                    let index: usize = g.group_id.0.trim_start_matches("group-").parse().unwrap();
                    let mut topic = OffsetFetchResponseTopics::default();
                    topic.name = TopicName(str(&topic_name(index % shape.topics.max(1))));
                    topic.partitions = (0..shape.partitions)
                        .map(|p| {
                            let mut partition = OffsetFetchResponsePartitions::default();
                            partition.partition_index = p as i32;
                            partition.committed_offset = HIGH - COMMITTED_BEHIND;
                            partition
                        })
                        .collect();
                    group.topics = vec![topic];
                    group
                })
                .collect();
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::DescribeGroups => {
            let request = DescribeGroupsRequest::decode(body, version).unwrap();
            let mut response = DescribeGroupsResponse::default();
            response.groups = request
                .groups
                .iter()
                .map(|id| {
                    let mut group = DescribedGroup::default();
                    group.group_id = id.clone();
                    if cluster.coordinates(node) {
                        group.group_state = str("Stable");
                        group.protocol_type = str("consumer");
                    } else {
                        group.error_code = NOT_COORDINATOR;
                    }
                    group
                })
                .collect();
            response.encode(&mut out, version).unwrap();
        }
        other => panic!("the fake broker does not answer {other:?}"),
    }
    out
}

async fn serve_connection(cluster: Arc<FakeCluster>, node: i32, mut stream: TcpStream) {
    loop {
        let Ok(length) = stream.read_i32().await else {
            return;
        };
        let mut frame = vec![0u8; length as usize];
        if stream.read_exact(&mut frame).await.is_err() {
            return;
        }
        let mut body = Bytes::from(frame);
        let key = ApiKey::try_from(i16::from_be_bytes([body[0], body[1]])).unwrap();
        let version = i16::from_be_bytes([body[2], body[3]]);
        let header = RequestHeader::decode(&mut body, key.request_header_version(version)).unwrap();
        let mut response_header = ResponseHeader::default();
        response_header.correlation_id = header.correlation_id;
        let mut out = BytesMut::new();
        response_header
            .encode(&mut out, key.response_header_version(version))
            .unwrap();
        out.extend_from_slice(&answer(&cluster, node, key, version, &mut body));
        let mut message = (out.len() as i32).to_be_bytes().to_vec();
        message.extend_from_slice(&out);
        if stream.write_all(&message).await.is_err() {
            return;
        }
    }
}

/// Starts the cluster's nodes on free ports of 127.0.0.1; they serve until
/// the runtime ends.
pub async fn start(shape: Shape) -> Arc<FakeCluster> {
    let mut listeners = Vec::new();
    for _ in 0..shape.nodes {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let cluster = Arc::new(FakeCluster {
        shape,
        ports: listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect(),
        coordinator_lookups: AtomicUsize::new(0),
        offset_fetches: (0..shape.nodes).map(|_| AtomicUsize::new(0)).collect(),
    });
    for (i, listener) in listeners.into_iter().enumerate() {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_connection(cluster.clone(), i as i32 + 1, stream));
            }
        });
    }
    cluster
}

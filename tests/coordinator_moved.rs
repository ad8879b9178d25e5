//! A group's coordinator moves (a broker restarts, leadership of
//! __consumer_offsets changes): the cached coordinator answers
//! NOT_COORDINATOR. kafka-pulse must find the new one and read the group's
//! offsets in the same tick, not report the group as failed until the next.
//!
//! The embedded broker never moves coordinators, so this runs against a
//! two-node broker speaking the Kafka protocol (kafka-protocol's own
//! encoders): node 1 was the coordinator and now answers NOT_COORDINATOR,
//! node 2 is the new one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

use kafka_pulse::collector::kafka::KafkaClient;
use kafka_pulse::collector::KafkaSource;
use kafka_pulse::filter::Filters;

const NOT_COORDINATOR: i16 = 16;
const GROUP: &str = "billing";
const TOPIC: &str = "orders";
const COMMITTED: i64 = 60;
const HIGH: i64 = 100;

/// What the two nodes share: their ports and how often a coordinator was
/// asked for (the first answer names node 1, later ones node 2).
struct Cluster {
    ports: [u16; 2],
    coordinator_lookups: AtomicUsize,
    offset_fetches: [AtomicUsize; 2],
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

/// The response to one request on node `node` (1 or 2), encoded.
fn answer(cluster: &Cluster, node: i32, key: ApiKey, version: i16, body: &mut Bytes) -> BytesMut {
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
            response.brokers = (0..2)
                .map(|i| {
                    let mut broker = MetadataResponseBroker::default();
                    broker.node_id = BrokerId(i as i32 + 1);
                    broker.host = str("127.0.0.1");
                    broker.port = i32::from(cluster.ports[i]);
                    broker
                })
                .collect();
            let mut partition = MetadataResponsePartition::default();
            partition.partition_index = 0;
            partition.leader_id = BrokerId(1);
            partition.replica_nodes = vec![BrokerId(1)];
            partition.isr_nodes = vec![BrokerId(1)];
            let mut topic = MetadataResponseTopic::default();
            topic.name = Some(TopicName(str(TOPIC)));
            topic.partitions = vec![partition];
            response.topics = vec![topic];
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
                let mut group = ListedGroup::default();
                group.group_id = GroupId(str(GROUP));
                group.protocol_type = str("consumer");
                group.group_state = str("Stable");
                response.groups = vec![group];
            }
            response.encode(&mut out, version).unwrap();
        }
        ApiKey::FindCoordinator => {
            let request = FindCoordinatorRequest::decode(body, version).unwrap();
            let lookup = cluster.coordinator_lookups.fetch_add(1, Ordering::SeqCst);
            // Node 1 was the coordinator; it has moved to node 2 since.
            let node_id = if lookup == 0 { 1 } else { 2 };
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
                    if node == 1 {
                        group.error_code = NOT_COORDINATOR;
                    } else {
                        let mut partition = OffsetFetchResponsePartitions::default();
                        partition.partition_index = 0;
                        partition.committed_offset = COMMITTED;
                        let mut topic = OffsetFetchResponseTopics::default();
                        topic.name = TopicName(str(TOPIC));
                        topic.partitions = vec![partition];
                        group.topics = vec![topic];
                    }
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
                    if node == 1 {
                        group.error_code = NOT_COORDINATOR;
                    } else {
                        group.group_state = str("Stable");
                        group.protocol_type = str("consumer");
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

async fn serve_connection(cluster: Arc<Cluster>, node: i32, mut stream: TcpStream) {
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

async fn start_cluster() -> Arc<Cluster> {
    let listeners = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let ports = [
        listeners[0].local_addr().unwrap().port(),
        listeners[1].local_addr().unwrap().port(),
    ];
    let cluster = Arc::new(Cluster {
        ports,
        coordinator_lookups: AtomicUsize::new(0),
        offset_fetches: [AtomicUsize::new(0), AtomicUsize::new(0)],
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

#[tokio::test]
async fn offsets_are_read_from_the_new_coordinator_in_the_same_tick() {
    let cluster = start_cluster().await;
    let client = Arc::new(KafkaClient::new(
        vec![format!("127.0.0.1:{}", cluster.ports[0])],
        "kafka-pulse-test",
        Duration::from_secs(5),
    ));
    let mut source = KafkaSource::new(client, "unreachable", Filters::default());
    let sample = tokio::time::timeout(Duration::from_secs(20), source.sample())
        .await
        .expect("one tick within 20 s");
    assert!(sample.kafka_up, "{:?}", sample.errors);
    let group = sample
        .groups
        .iter()
        .find(|g| g.group.as_str() == GROUP)
        .expect("the group is listed");
    assert_eq!(group.error, None, "errors: {:?}", sample.errors);
    assert_eq!(group.offsets.len(), 1, "{group:?}");
    assert_eq!(group.offsets[0].topic.as_str(), TOPIC);
    assert_eq!(group.offsets[0].offset.get(), Some(COMMITTED));
    // Asked at the old coordinator first, then at the new one.
    assert_eq!(cluster.offset_fetches[0].load(Ordering::SeqCst), 1);
    assert_eq!(cluster.offset_fetches[1].load(Ordering::SeqCst), 1);
    assert_eq!(cluster.coordinator_lookups.load(Ordering::SeqCst), 2);
}

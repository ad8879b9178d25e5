//! The sampling loop: once per interval read the cluster (metadata,
//! watermarks, groups, committed offsets) into a `Sample`, analyse it and
//! publish the `Snapshot`. A failing request degrades its part of the sample
//! and is listed in `Sample::errors`; it never drops the whole tick.

pub mod exact;
pub mod kafka;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::analysis::events::{self, LagThresholds};
use crate::analysis::Analyzer;
use crate::filter::Filters;
use crate::model::{
    BrokerIdLists, BrokerSample, CommittedOffset, GroupSample, GroupType, MemberSample, Name,
    Names, PartitionSample, Sample, TopicSample,
};
use crate::store::Store;
use kafka::{GroupOffsets, KafkaClient, KafkaError, EARLIEST, LATEST};

/// How long to wait before asking a broker to describe groups again after it
/// failed to (tansu on sqlite closes the connection on DescribeGroups).
const DESCRIBE_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Reads one `Sample` per call from a Kafka cluster.
pub struct KafkaSource {
    client: Arc<KafkaClient>,
    /// What to tell the user when Kafka cannot be reached at all.
    unreachable_hint: String,
    filters: Filters,
    /// Brokers whose DescribeGroups failed, with when and why.
    describe_failures: HashMap<i32, (Instant, String)>,
    /// Each broker's last ListGroups answer and when it came, to keep its
    /// groups while it does not answer (see [`CARRY_LISTING_FOR`]).
    listings: Listings,
}

/// How long the groups a broker listed are kept while that broker does not
/// answer ListGroups (it died, hangs, or left the metadata): long enough
/// for the group coordinators to fail over to other brokers, which then
/// list them. Without this a broker failure made its groups vanish for a
/// few ticks, with group_deleted / group_created events each way.
const CARRY_LISTING_FOR: Duration = Duration::from_secs(60);

/// A group as a broker listed it.
#[derive(Debug, Clone)]
struct Listed {
    state: Option<String>,
    group_type: Option<GroupType>,
    /// Why the group was not listed this tick, when it is carried over.
    carried: Option<String>,
}

/// Broker id → (its groups, when it last answered ListGroups).
type Listings = HashMap<i32, (Vec<(String, Listed)>, Instant)>;

impl KafkaSource {
    pub fn new(
        client: Arc<KafkaClient>,
        unreachable_hint: impl Into<String>,
        filters: Filters,
    ) -> Self {
        KafkaSource {
            client,
            unreachable_hint: unreachable_hint.into(),
            filters,
            describe_failures: HashMap::new(),
            listings: HashMap::new(),
        }
    }

    pub async fn sample(&mut self) -> Sample {
        let started = Instant::now();
        let mut sample = Sample {
            taken_at: Utc::now(),
            ..Sample::default()
        };
        let metadata = match self.client.metadata().await {
            Ok(metadata) => metadata,
            Err(error) => {
                sample
                    .errors
                    .push(format!("Metadata: {error}; {}", self.unreachable_hint));
                sample.duration_seconds = started.elapsed().as_secs_f64();
                // Stamped when the failure was known: a hung cluster's
                // failed samples (each one request timeout long) then stay
                // fresh, and it shows as down, not intermittently stale.
                sample.taken_at = Utc::now();
                return sample;
            }
        };
        // The sample is of the moment the cluster answered: after a hung
        // broker resumes, the recovery is stamped when it was seen, not when
        // the request that waited for it was sent; watermarks and offsets
        // are read from here on.
        sample.taken_at = Utc::now();
        sample.kafka_up = true;
        sample.cluster_id = metadata.cluster_id.clone();
        sample.controller_id = metadata.controller_id;
        sample.brokers = metadata
            .brokers
            .iter()
            .map(|b| BrokerSample {
                node_id: b.node_id,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
            })
            .collect();
        let mut id_lists = BrokerIdLists::default();
        sample.topics = metadata
            .topics
            .iter()
            .filter(|t| self.filters.topics.allows(&t.name))
            .map(|t| TopicSample {
                name: Name::from(t.name.as_str()),
                internal: t.internal,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| PartitionSample {
                        partition: p.partition,
                        leader: p.leader,
                        replicas: id_lists.get(&p.replicas),
                        isr: id_lists.get(&p.isr),
                        low_watermark: None,
                        high_watermark: None,
                    })
                    .collect(),
            })
            .collect();
        for topic in &metadata.topics {
            if let Some(error) = &topic.error {
                sample.errors.push(format!("topic {}: {error}", topic.name));
            }
        }

        let broker_ids: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
        let client = self.client.clone();
        let (watermarks, groups) = tokio::join!(
            read_watermarks(&client, &sample.topics),
            read_groups(
                &client,
                &mut self.describe_failures,
                &mut self.listings,
                &broker_ids,
                &self.filters,
                &sample.topics
            )
        );
        let (watermarks, watermark_errors) = watermarks;
        sample.errors.extend(watermark_errors);
        for topic in &mut sample.topics {
            for partition in &mut topic.partitions {
                if let Some(&(low, high)) =
                    watermarks.get(&(topic.name.to_string(), partition.partition))
                {
                    partition.low_watermark = low;
                    partition.high_watermark = high;
                }
            }
        }
        let (groups, group_errors) = groups;
        sample.groups = groups;
        sample.errors.extend(group_errors);
        sample.duration_seconds = started.elapsed().as_secs_f64();
        sample
    }
}

/// Low and high watermark of every partition: two batched ListOffsets per
/// leader broker, all brokers in parallel.
async fn read_watermarks(
    client: &KafkaClient,
    topics: &[TopicSample],
) -> (
    HashMap<(String, i32), (Option<i64>, Option<i64>)>,
    Vec<String>,
) {
    let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    let mut errors = Vec::new();
    for topic in topics {
        for partition in &topic.partitions {
            if partition.leader < 0 {
                errors.push(format!(
                    "{}/{} has no leader: watermarks unknown",
                    topic.name, partition.partition
                ));
                continue;
            }
            by_leader
                .entry(partition.leader)
                .or_default()
                .push((topic.name.to_string(), partition.partition));
        }
    }
    let requests = by_leader.iter().map(|(&leader, partitions)| async move {
        let (high, low) = tokio::join!(
            client.list_offsets(leader, partitions, LATEST),
            client.list_offsets(leader, partitions, EARLIEST)
        );
        (leader, high, low)
    });
    let mut watermarks: HashMap<(String, i32), (Option<i64>, Option<i64>)> = HashMap::new();
    for (leader, high, low) in join_all(requests).await {
        for (answer, is_high) in [(high, true), (low, false)] {
            match answer {
                Ok(offsets) => {
                    for offset in offsets {
                        let entry = watermarks
                            .entry((offset.topic.clone(), offset.partition))
                            .or_default();
                        match offset.offset {
                            Ok(value) if is_high => entry.1 = Some(value),
                            Ok(value) => entry.0 = Some(value),
                            Err(error) => errors.push(format!(
                                "ListOffsets {}/{}: {error}",
                                offset.topic, offset.partition
                            )),
                        }
                    }
                }
                Err(error) => errors.push(format!("ListOffsets on broker {leader}: {error}")),
            }
        }
    }
    (watermarks, errors)
}

/// Every group of every broker with its committed offsets and, where the
/// broker can describe it, state and members.
async fn read_groups(
    client: &KafkaClient,
    describe_failures: &mut HashMap<i32, (Instant, String)>,
    listings: &mut Listings,
    broker_ids: &[i32],
    filters: &Filters,
    topics: &[TopicSample],
) -> (Vec<GroupSample>, Vec<String>) {
    let mut errors = Vec::new();
    let answers = join_all(
        broker_ids
            .iter()
            .map(|&id| async move { (id, client.list_groups(id).await) }),
    )
    .await;
    let now = Instant::now();
    let mut answered = HashSet::new();
    let mut listing_errors = HashMap::new();
    for (broker, answer) in answers {
        match answer {
            Ok(groups) => {
                let kept = groups
                    .into_iter()
                    .filter(|g| filters.groups.allows(&g.group))
                    .map(|g| {
                        let listed = Listed {
                            state: g.state,
                            group_type: g.group_type,
                            carried: None,
                        };
                        (g.group, listed)
                    })
                    .collect();
                listings.insert(broker, (kept, now));
                answered.insert(broker);
            }
            Err(error) => {
                errors.push(format!("ListGroups on broker {broker}: {error}"));
                listing_errors.insert(broker, error.to_string());
            }
        }
    }
    let listed = merge_listings(listings, &answered, &listing_errors, now);
    if listed.is_empty() {
        return (Vec::new(), errors);
    }
    let names: Vec<String> = listed.keys().cloned().collect();
    let coordinators = match client.find_coordinators(&names).await {
        Ok(found) => found,
        Err(error) => {
            errors.push(format!("FindCoordinator: {error}"));
            HashMap::new()
        }
    };
    let mut by_coordinator: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let coordinator_unknown = Name::from("coordinator unknown");
    // Topic and state names repeat across groups: shared, not copied.
    let mut shared = Names::default();
    for topic in topics {
        shared.insert(topic.name.clone());
    }
    let mut samples: BTreeMap<String, GroupSample> = listed
        .iter()
        .map(|(name, listed)| {
            let sample = GroupSample {
                group: Name::from(name.as_str()),
                group_type: listed.group_type,
                state: listed.state.as_deref().map(|state| shared.get(state)),
                state_note: listed.carried.as_deref().map(|note| shared.get(note)),
                ..GroupSample::default()
            };
            (name.clone(), sample)
        })
        .collect();
    for name in &names {
        match coordinators.get(name) {
            Some(Ok(id)) => by_coordinator.entry(*id).or_default().push(name.clone()),
            Some(Err(error)) => {
                samples.get_mut(name).expect("listed").error =
                    Some(format!("FindCoordinator: {error}").into());
            }
            None => {
                samples.get_mut(name).expect("listed").error = Some(coordinator_unknown.clone());
            }
        }
    }

    let now = Instant::now();
    let describe_allowed: HashMap<i32, bool> = by_coordinator
        .keys()
        .map(|&id| {
            let allowed = match describe_failures.get(&id) {
                Some((when, _)) => now.duration_since(*when) >= DESCRIBE_RETRY_AFTER,
                None => true,
            };
            (id, allowed)
        })
        .collect();
    let group_type = |name: &String| listed.get(name).and_then(|l| l.group_type);
    let results = join_all(by_coordinator.iter().map(|(&coordinator, groups)| {
        let describe = describe_allowed[&coordinator];
        let kinds = GroupKinds::split(groups, group_type);
        async move {
            let offsets = client.offset_fetch(coordinator, &kinds.committing).await;
            // Described after the offsets: on brokers that drop the
            // connection for DescribeGroups the offsets are already safe.
            let described = if describe && !kinds.classic.is_empty() {
                Some(client.describe_groups(coordinator, &kinds.classic).await)
            } else {
                None
            };
            let mut others = Vec::new();
            if !kinds.consumer.is_empty() {
                others.push((
                    "ConsumerGroupDescribe",
                    client
                        .describe_consumer_groups(coordinator, &kinds.consumer)
                        .await,
                ));
            }
            if !kinds.share.is_empty() {
                others.push((
                    "ShareGroupDescribe",
                    client
                        .describe_share_groups(coordinator, &kinds.share)
                        .await,
                ));
            }
            (coordinator, offsets, described, others)
        }
    }))
    .await;

    // Groups whose coordinator moved since it was cached, or did not answer.
    let mut moved = Vec::new();
    let mut unreachable = HashSet::new();
    for (coordinator, offsets, described, others) in results {
        match offsets {
            Ok(list) => {
                for group_offsets in list {
                    if let Some(group) =
                        apply_offsets(&mut samples, group_offsets, filters, &mut shared)
                    {
                        moved.push(group);
                    }
                }
            }
            Err(error) => {
                let unknown = Name::from(format!("committed offsets unknown: {error}"));
                errors.push(format!("OffsetFetch on broker {coordinator}: {error}"));
                unreachable.insert(coordinator);
                for group in &by_coordinator[&coordinator] {
                    if let Some(sample) = samples.get_mut(group) {
                        if sample.group_type.is_none_or(GroupType::commits_offsets) {
                            sample.error = Some(unknown.clone());
                            // The coordinator did not answer (down, or not
                            // reachable): look the group up again now; a
                            // failover may already have moved it.
                            moved.push(group.clone());
                        }
                    }
                }
            }
        }
        match described {
            Some(Ok(described)) => {
                describe_failures.remove(&coordinator);
                apply_descriptions(&mut samples, "DescribeGroups", described, &mut shared);
            }
            Some(Err(error)) => {
                let note = describe_failure_note(&error);
                errors.push(format!("DescribeGroups on broker {coordinator}: {error}"));
                describe_failures.insert(coordinator, (now, note));
            }
            None => {}
        }
        for (api, answer) in others {
            match answer {
                Ok(described) => apply_descriptions(&mut samples, api, described, &mut shared),
                Err(error) => errors.push(format!("{api} on broker {coordinator}: {error}")),
            }
        }
        if let Some((_, note)) = describe_failures.get(&coordinator) {
            let note = Name::from(note.as_str());
            for group in &by_coordinator[&coordinator] {
                if let Some(sample) = samples.get_mut(group) {
                    if sample.members.is_none() && describes_classically(sample.group_type) {
                        sample.state_note = Some(note.clone());
                    }
                }
            }
        }
    }
    if !moved.is_empty() {
        refetch_moved(
            client,
            &moved,
            &unreachable,
            &mut samples,
            filters,
            &mut shared,
            &mut errors,
        )
        .await;
    }
    (samples.into_values().collect(), errors)
}

/// Every group to sample: those listed this tick, and those a broker that
/// did not answer listed within [`CARRY_LISTING_FOR`] (kept with their last
/// state and a note why). Listings older than that are dropped.
fn merge_listings(
    listings: &mut Listings,
    answered: &HashSet<i32>,
    listing_errors: &HashMap<i32, String>,
    now: Instant,
) -> BTreeMap<String, Listed> {
    listings.retain(|broker, (_, at)| {
        answered.contains(broker) || now.duration_since(*at) <= CARRY_LISTING_FOR
    });
    let mut listed: BTreeMap<String, Listed> = BTreeMap::new();
    for broker in answered {
        for (group, entry) in &listings[broker].0 {
            listed.insert(group.clone(), entry.clone());
        }
    }
    for (broker, (groups, at)) in listings.iter() {
        if answered.contains(broker) {
            continue;
        }
        let why = listing_errors
            .get(broker)
            .map(|e| format!("ListGroups failed: {e}"))
            .unwrap_or_else(|| "it left the cluster metadata".to_string());
        let note = format!(
            "not listed this tick: broker {broker} did not answer ({why}); kept as listed {}s ago",
            now.duration_since(*at).as_secs()
        );
        for (group, entry) in groups {
            listed.entry(group.clone()).or_insert_with(|| Listed {
                carried: Some(note.clone()),
                ..entry.clone()
            });
        }
    }
    listed
}

/// The groups of one coordinator by how they are read: every kind but share
/// groups commits offsets; each kind has its own describe request.
#[derive(Debug, Default, PartialEq)]
struct GroupKinds {
    committing: Vec<String>,
    classic: Vec<String>,
    consumer: Vec<String>,
    share: Vec<String>,
}

impl GroupKinds {
    fn split(groups: &[String], group_type: impl Fn(&String) -> Option<GroupType>) -> Self {
        let mut kinds = GroupKinds::default();
        for group in groups {
            let kind = group_type(group);
            if kind.is_none_or(GroupType::commits_offsets) {
                kinds.committing.push(group.clone());
            }
            match kind {
                None | Some(GroupType::Classic) => kinds.classic.push(group.clone()),
                Some(GroupType::Consumer) => kinds.consumer.push(group.clone()),
                Some(GroupType::Share) => kinds.share.push(group.clone()),
                // Streams groups (KIP-1071) and kinds newer than this build:
                // their state comes from ListGroups.
                Some(GroupType::Streams | GroupType::Other) => {}
            }
        }
        kinds
    }
}

/// Classic groups (and groups of brokers that do not say) are described
/// with DescribeGroups, the request tansu cannot answer.
fn describes_classically(group_type: Option<GroupType>) -> bool {
    matches!(group_type, None | Some(GroupType::Classic))
}

/// Puts described state and members into the samples; a group the broker
/// could not describe keeps its listed state with a note saying why.
fn apply_descriptions(
    samples: &mut BTreeMap<String, GroupSample>,
    api: &str,
    described: Vec<kafka::DescribedGroup>,
    shared: &mut Names,
) {
    for group in described {
        let Some(sample) = samples.get_mut(&group.group) else {
            continue;
        };
        if let Some(error) = group.error {
            sample.state_note = Some(shared.get(&format!("{api}: {error}")));
            continue;
        }
        sample.state = Some(shared.get(&group.state));
        sample.state_note = None;
        sample.members = Some(
            group
                .members
                .into_iter()
                .map(|m| MemberSample {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    assignment: m.assignment,
                })
                .collect(),
        );
    }
}

/// Puts one group's committed offsets into its sample. Returns the group's
/// name when its coordinator has moved (the client's cache forgot it).
fn apply_offsets(
    samples: &mut BTreeMap<String, GroupSample>,
    group_offsets: GroupOffsets,
    filters: &Filters,
    shared: &mut Names,
) -> Option<String> {
    let sample = samples.get_mut(&group_offsets.group)?;
    sample.offsets = group_offsets
        .offsets
        .into_iter()
        .filter(|(topic, _, _)| filters.topics.allows(topic))
        .map(|(topic, partition, offset)| CommittedOffset {
            topic: shared.get(topic.as_str()),
            partition,
            offset: offset.into(),
        })
        .collect();
    sample
        .offsets
        .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    sample.error = group_offsets
        .error
        .map(|error| shared.get(&format!("OffsetFetch: {error}")));
    kafka::is_coordinator_error(group_offsets.error_code).then_some(group_offsets.group)
}

/// Asks again, in the same tick, for the offsets of groups whose coordinator
/// moved (a broker restarted, or leadership of __consumer_offsets changed):
/// their new coordinator is looked up and asked once. Without this a rolling
/// restart turned each such group ERR for a tick and back, with an event
/// (and a webhook) each way. A group still failing keeps its error.
async fn refetch_moved(
    client: &KafkaClient,
    moved: &[String],
    unreachable: &HashSet<i32>,
    samples: &mut BTreeMap<String, GroupSample>,
    filters: &Filters,
    shared: &mut Names,
    errors: &mut Vec<String>,
) {
    let found = match client.relocate_coordinators(moved).await {
        Ok(found) => found,
        Err(error) => {
            errors.push(format!(
                "FindCoordinator after a coordinator moved: {error}"
            ));
            return;
        }
    };
    let mut by_coordinator: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for group in moved {
        match found.get(group) {
            // Still the broker that just failed to answer: asking it again
            // would only wait for the same timeout.
            Some(Ok(id)) if unreachable.contains(id) => {}
            Some(Ok(id)) => by_coordinator.entry(*id).or_default().push(group.clone()),
            _ => {}
        }
    }
    let answers = join_all(
        by_coordinator
            .iter()
            .map(|(&id, groups)| async move { (id, client.offset_fetch(id, groups).await) }),
    )
    .await;
    for (coordinator, answer) in answers {
        match answer {
            Ok(list) => {
                for group_offsets in list {
                    apply_offsets(samples, group_offsets, filters, shared);
                }
            }
            Err(error) => errors.push(format!(
                "OffsetFetch on broker {coordinator} (coordinator moved): {error}"
            )),
        }
    }
}

fn describe_failure_note(error: &KafkaError) -> String {
    let cause = match error {
        KafkaError::Io { .. } => "it closed the connection".to_string(),
        other => other.to_string(),
    };
    format!(
        "state and members unknown: the broker could not describe the group \
         (DescribeGroups failed: {cause}); lag and status come from committed offsets"
    )
}

/// Runs the sampling loop until `shutdown` fires.
pub async fn run(
    mut source: KafkaSource,
    mut analyzer: Analyzer,
    store: Arc<Store>,
    interval: Duration,
    thresholds: LagThresholds,
    exact: Option<exact::ExactTimes>,
    shutdown: CancellationToken,
) {
    let mut previous = store.latest();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let mut sample = tokio::select! {
            _ = shutdown.cancelled() => break,
            sample = source.sample() => sample,
        };
        if let Some(exact) = &exact {
            // Up to half an interval for this tick's new offsets.
            exact.annotate(&mut sample, interval / 2).await;
        }
        if sample.kafka_up != was_up {
            if sample.kafka_up {
                tracing::info!("Kafka is reachable again");
            } else {
                tracing::warn!(errors = ?sample.errors, "Kafka is unreachable");
            }
            was_up = sample.kafka_up;
        }
        store.set_request_stats(source.client.request_stats());
        // Analysis takes ~0.3 s at 50,000 groups: on a blocking thread, so
        // the web server and the embedded broker keep being served.
        let settings = analyzer.settings().clone();
        let job_thresholds = thresholds.clone();
        let job = tokio::task::spawn_blocking(move || {
            let snapshot = analyzer.analyze(sample);
            let changes = events::diff(&previous, &snapshot, &job_thresholds);
            (analyzer, snapshot, changes)
        });
        let (next_analyzer, snapshot, changes) = match job.await {
            Ok(done) => done,
            Err(error) => {
                // A bug in the analysis must not stop monitoring: start over
                // with empty state (rates and windows refill in a few ticks).
                tracing::error!("analysis failed, its state is reset: {error}");
                analyzer = Analyzer::new(settings);
                previous = store.latest();
                continue;
            }
        };
        analyzer = next_analyzer;
        for event in &changes {
            let (subject, message) = event.printable_parts();
            tracing::info!(kind = %event.kind, subject = %subject, "{message}");
        }
        store.publish(snapshot);
        store.push_events(changes);
        previous = store.latest();
    }
}

//! The series kafka_exporter (danielqsj) exports, with its names, labels and
//! HELP texts, so dashboards built for it work unchanged
//! (`--metrics-compat kafka_exporter`). Part of the per-snapshot render.

use super::text::Writer;
use crate::model::{PartitionView, Snapshot};

pub fn render(w: &mut Writer, snapshot: &Snapshot) {
    w.family(
        "kafka_brokers",
        "gauge",
        "Number of Brokers in the Kafka Cluster.",
    );
    w.series("kafka_brokers").count(snapshot.brokers.len());
    w.family(
        "kafka_topic_partitions",
        "gauge",
        "Number of partitions for this Topic",
    );
    for t in &snapshot.topics {
        w.series("kafka_topic_partitions")
            .label("topic", &t.name)
            .count(t.partitions.len());
    }
    type PartitionValue = fn(&PartitionView) -> Option<i64>;
    let partition_families: [(&str, &str, PartitionValue); 6] = [
        (
            "kafka_topic_partition_current_offset",
            "Current Offset of a Broker at Topic/Partition",
            |p| p.high_watermark,
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "Oldest Offset of a Broker at Topic/Partition",
            |p| p.low_watermark,
        ),
        (
            "kafka_topic_partition_in_sync_replica",
            "Number of In-Sync Replicas for this Topic/Partition",
            |p| Some(p.isr.len() as i64),
        ),
        (
            "kafka_topic_partition_leader",
            "Leader Broker ID of this Topic/Partition",
            |p| Some(p.leader.into()),
        ),
        (
            "kafka_topic_partition_replicas",
            "Number of Replicas for this Topic/Partition",
            |p| Some(p.replicas.len() as i64),
        ),
        (
            "kafka_topic_partition_under_replicated_partition",
            "1 if Topic/Partition is under Replicated",
            |p| Some(i64::from(p.isr.len() < p.replicas.len())),
        ),
    ];
    for (name, help, value) in partition_families {
        w.family(name, "gauge", help);
        for t in &snapshot.topics {
            for p in &t.partitions {
                if let Some(v) = value(p) {
                    w.series(name)
                        .label("topic", &t.name)
                        .label_int("partition", p.partition.into())
                        .int(v);
                }
            }
        }
    }
    w.family(
        "kafka_consumergroup_current_offset",
        "gauge",
        "Current Offset of a ConsumerGroup at Topic/Partition",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            if let Some(offset) = p.committed_offset.get() {
                w.series("kafka_consumergroup_current_offset")
                    .label("consumergroup", &g.group)
                    .label("topic", &p.topic)
                    .label_int("partition", p.partition.into())
                    .int(offset);
            }
        }
    }
    w.family(
        "kafka_consumergroup_current_offset_sum",
        "gauge",
        "Current Offset of a ConsumerGroup at Topic for all partitions",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            let sum: i64 = g
                .partitions
                .iter()
                .filter(|p| p.topic == t.topic)
                .filter_map(|p| p.committed_offset.get())
                .sum();
            w.series("kafka_consumergroup_current_offset_sum")
                .label("consumergroup", &g.group)
                .label("topic", &t.topic)
                .int(sum);
        }
    }
    w.family(
        "kafka_consumergroup_lag",
        "gauge",
        "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
    );
    for g in &snapshot.groups {
        for p in &g.partitions {
            w.series("kafka_consumergroup_lag")
                .label("consumergroup", &g.group)
                .label("topic", &p.topic)
                .label_int("partition", p.partition.into())
                .int(p.lag);
        }
    }
    w.family(
        "kafka_consumergroup_lag_sum",
        "gauge",
        "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
    );
    for g in &snapshot.groups {
        for t in &g.topics {
            w.series("kafka_consumergroup_lag_sum")
                .label("consumergroup", &g.group)
                .label("topic", &t.topic)
                .int(t.lag);
        }
    }
    w.family(
        "kafka_consumergroup_members",
        "gauge",
        "Amount of members in a consumer group",
    );
    for g in &snapshot.groups {
        if let Some(members) = &g.members {
            w.series("kafka_consumergroup_members")
                .label("consumergroup", &g.group)
                .count(members.len());
        }
    }
}

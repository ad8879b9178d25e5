"""Fills a Kafka cluster for the scale bench, and times confluent-kafka's
AdminClient reading what one kafka-pulse tick reads.

    cluster.py fill BOOTSTRAP TOPICS PARTITIONS GROUPS
    cluster.py baseline BOOTSTRAP ROUNDS

fill: TOPICS topics of PARTITIONS partitions, 10 messages per partition,
and GROUPS groups, each with commits on 5 partitions of one topic (set
with AlterConsumerGroupOffsets, no consumer needed).
baseline: per round, list groups, describe them, fetch every group's
committed offsets, and the low and high watermark of every partition;
prints "round N total_ms list_ms describe_ms offsets_ms watermarks_ms".
"""
import sys
import time

from confluent_kafka import Producer, TopicPartition, ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec


def fill(bootstrap, topics, partitions, groups):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [f"scale-{i:04d}" for i in range(topics)]
    for start in range(0, topics, 50):
        futures = admin.create_topics(
            [NewTopic(n, partitions, 1) for n in names[start:start + 50]],
            request_timeout=120,
        )
        for future in futures.values():
            future.result(timeout=300)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                         "queue.buffering.max.messages": 1000000})
    for name in names:
        for p in range(partitions):
            for i in range(10):
                producer.produce(name, value=b"x", partition=p)
        producer.poll(0)
    assert producer.flush(300) == 0, "unflushed messages"
    pending = []
    for g in range(groups):
        topic = names[g % topics]
        first = (g // topics * 5) % partitions
        offsets = [TopicPartition(topic, (first + k) % partitions, 5) for k in range(5)]
        pending.extend(admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(f"scale-group-{g:05d}", offsets)]).values())
        if len(pending) >= 200:
            for future in pending:
                future.result(timeout=120)
            pending = []
    for future in pending:
        future.result(timeout=120)
    print(f"filled {topics * partitions} partitions, {groups} groups", file=sys.stderr)


def baseline(bootstrap, rounds):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for round_ in range(rounds + 1):
        t0 = time.monotonic()
        groups = [g.group_id for g in admin.list_consumer_groups().result(timeout=120).valid]
        t1 = time.monotonic()
        for start in range(0, len(groups), 500):
            for future in admin.describe_consumer_groups(groups[start:start + 500]).values():
                future.result(timeout=120)
        t2 = time.monotonic()
        # One group per request: the client's API takes a single group.
        for group in groups:
            for future in admin.list_consumer_group_offsets(
                    [ConsumerGroupTopicPartitions(group)]).values():
                future.result(timeout=120)
        t3 = time.monotonic()
        metadata = admin.list_topics(timeout=120)
        partitions = [TopicPartition(t, p) for t, m in metadata.topics.items()
                      for p in m.partitions]
        for spec in (OffsetSpec.latest(), OffsetSpec.earliest()):
            futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=120)
            for future in futures.values():
                future.result(timeout=120)
        t4 = time.monotonic()
        if round_ >= 1:
            ms = lambda a, b: (b - a) * 1000
            print(f"round {round_} {ms(t0, t4):.1f} {ms(t0, t1):.1f} {ms(t1, t2):.1f} "
                  f"{ms(t2, t3):.1f} {ms(t3, t4):.1f} {len(groups)} {len(partitions)}",
                  flush=True)


if __name__ == "__main__":
    command, bootstrap = sys.argv[1], sys.argv[2]
    if command == "fill":
        fill(bootstrap, *map(int, sys.argv[3:6]))
    else:
        baseline(bootstrap, int(sys.argv[3]))

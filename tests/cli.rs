//! The binary as a user runs it: bad configuration exits non-zero naming the
//! option; a running instance exits 0 on SIGTERM within 5 s even with a live
//! SSE viewer connected.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::servers::free_ports;
use common::*;

fn kafka_pulse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kafka-pulse"));
    // Flags in tests must not be overridden by a developer's environment.
    for (key, _) in std::env::vars() {
        if key.starts_with("KAFKA_PULSE_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs to completion (bounded) and returns (exit code, stderr).
fn run_expecting_exit(args: &[&str]) -> (i32, String) {
    let mut child = kafka_pulse()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("kafka-pulse {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn zero_interval_is_refused_naming_the_option() {
    let (code, stderr) = run_expecting_exit(&["--interval", "0s"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--interval must be at least 100ms"),
        "{stderr}"
    );
}

#[test]
fn malformed_listen_address_is_refused_naming_the_option() {
    let (code, stderr) = run_expecting_exit(&["--listen", "localhost"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--listen must be HOST:PORT"), "{stderr}");
}

#[test]
fn malformed_broker_list_is_refused_naming_the_option() {
    let (code, stderr) = run_expecting_exit(&["--brokers", "kafka:port"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--brokers"), "{stderr}");
}

#[test]
fn unknown_toml_key_is_refused_naming_the_key() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "intervall = \"1s\"").unwrap();
    let path = file.path().to_str().unwrap().to_string();
    let (code, stderr) = run_expecting_exit(&["--config", &path]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("intervall"), "{stderr}");
    assert!(stderr.contains(&path), "{stderr}");
}

#[test]
fn environment_variables_are_read() {
    let (code, stderr) = {
        let mut child = kafka_pulse()
            .env("KAFKA_PULSE_INTERVAL", "10ms")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status.code().unwrap_or(-1), stderr)
    };
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--interval"), "{stderr}");
}

#[test]
fn taken_kafka_port_names_kafka_listen_and_brokers() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let (code, stderr) = run_expecting_exit(&[
        "--kafka-listen",
        &taken,
        "--listen",
        "127.0.0.1:0",
        "--no-demo",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--kafka-listen"), "{stderr}");
    assert!(stderr.contains("--brokers"), "{stderr}");
}

#[test]
fn taken_web_port_names_listen() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let (code, stderr) = run_expecting_exit(&["--listen", &taken, "--brokers", "127.0.0.1:1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
}

#[test]
fn help_documents_every_option() {
    let output = kafka_pulse().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--brokers",
        "--listen",
        "--kafka-listen",
        "--data-dir",
        "--interval",
        "--no-demo",
        "--request-timeout",
        "--status-window",
        "--config",
        "KAFKA_PULSE_BROKERS",
    ] {
        assert!(help.contains(option), "--help lacks {option}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_within_five_seconds_with_a_live_viewer() {
    let [web_port, kafka_port] = free_ports::<2>();
    let log = tempfile::NamedTempFile::new().unwrap();
    let stdout = tempfile::NamedTempFile::new().unwrap();
    let mut child = kafka_pulse()
        .args([
            "--listen",
            &format!("127.0.0.1:{web_port}"),
            "--kafka-listen",
            &format!("127.0.0.1:{kafka_port}"),
            "--interval",
            "250ms",
        ])
        .stdout(stdout.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{web_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/api/v1/health")).await {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            if body["kafka_up"] == true {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "kafka-pulse never became healthy"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "kafka-pulse exited early: {}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Demo traffic shows up in the overview within the first seconds.
    wait_for_json(&base, "/api/v1/topics", Duration::from_secs(30), |body| {
        body["topics"].as_array().is_some_and(|t| t.len() >= 3)
    })
    .await;

    // A viewer holds the live stream open and receives a pushed fragment.
    let mut stream = reqwest::get(format!("{base}/live")).await.expect("sse");
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut received = String::new();
    while !received.contains("event: overview") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an SSE event within 10 s")
            .expect("stream ok")
            .expect("stream open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }

    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if started.elapsed() > Duration::from_secs(5) {
            child.kill().ok();
            panic!("kafka-pulse did not exit within 5 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "exit status {exit:?}");
    // The log is on stderr; stdout is kept for the subcommands' output
    // (`replay --json` writes its report there).
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(logged.contains("dashboard on http://"), "{logged}");
    let printed = std::fs::read_to_string(stdout.path()).unwrap();
    assert!(printed.is_empty(), "log lines on stdout: {printed}");
    // The open stream ended rather than hanging.
    let rest = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "SSE stream still open after exit");
}

#[test]
fn demo_and_no_demo_together_are_refused() {
    let mut child = kafka_pulse()
        .env("KAFKA_PULSE_DEMO", "true")
        .args(["--no-demo", "--brokers", "127.0.0.1:1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("kafka-pulse with --demo and --no-demo did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--demo and --no-demo") && stderr.contains("keep only one"),
        "{stderr}"
    );
}

/// A child process killed when the test ends, passing or not.
struct Running {
    child: std::process::Child,
    /// Its stdout and stderr (the log).
    output: [tempfile::NamedTempFile; 2],
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let output = [(); 2].map(|_| tempfile::NamedTempFile::new().unwrap());
        let child = kafka_pulse()
            .args(args)
            .stdout(output[0].reopen().unwrap())
            .stderr(output[1].reopen().unwrap())
            .spawn()
            .expect("spawn");
        Running { child, output }
    }

    fn log(&self) -> String {
        self.output
            .iter()
            .map(|file| std::fs::read_to_string(file.path()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until /api/v1/health says Kafka is up.
    async fn wait_kafka_up(&mut self, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = reqwest::get(format!("{base}/api/v1/health")).await {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if body["kafka_up"] == true {
                    return;
                }
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "kafka-pulse exited early: {}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "kafka-pulse at {base} never saw Kafka up: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `--demo` with `--brokers`: kafka-pulse B produces the demo traffic into
/// the embedded broker of kafka-pulse A (started with --no-demo, so any demo
/// topic there comes from B) and shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_flag_sends_demo_traffic_to_the_brokers_cluster() {
    let [a_web, a_kafka, b_web] = free_ports::<3>();
    let a_kafka = format!("127.0.0.1:{a_kafka}");
    let a_base = format!("http://127.0.0.1:{a_web}");
    let b_base = format!("http://127.0.0.1:{b_web}");
    let mut a = Running::start(&[
        "--listen",
        &format!("127.0.0.1:{a_web}"),
        "--kafka-listen",
        &a_kafka,
        "--no-demo",
        "--interval",
        "250ms",
    ]);
    a.wait_kafka_up(&a_base).await;
    let mut b = Running::start(&[
        "--listen",
        &format!("127.0.0.1:{b_web}"),
        "--brokers",
        &a_kafka,
        "--demo",
        "--interval",
        "250ms",
    ]);
    b.wait_kafka_up(&b_base).await;
    let demo_topics = kafka_pulse::demo::TOPIC_NAMES;
    let topics = wait_for_json(&b_base, "/api/v1/topics", Duration::from_secs(60), |body| {
        demo_topics.iter().all(|name| {
            body["topics"].as_array().is_some_and(|list| {
                list.iter()
                    .any(|t| t["name"] == *name && t["depth"].as_i64().is_some_and(|d| d > 0))
            })
        })
    })
    .await;
    // Traffic really went to A's broker: A (no demo of its own) sees it too.
    wait_for_json(&a_base, "/api/v1/topics", Duration::from_secs(30), |body| {
        body["topics"]
            .as_array()
            .is_some_and(|list| list.iter().any(|t| t["name"] == "orders"))
    })
    .await;
    // And the demo's consumers commit there.
    wait_for_json(&b_base, "/api/v1/groups", Duration::from_secs(60), |body| {
        body["groups"]
            .as_array()
            .is_some_and(|list| list.iter().any(|g| g["group"] == "order-service"))
    })
    .await;
    assert!(
        b.log()
            .contains("--demo: producing demo traffic into this cluster"),
        "B does not say where its demo traffic goes: {}\n{topics}",
        b.log()
    );
}

//! Real external servers for tests (Debian packages influxdb,
//! victoria-metrics and prometheus), started on free loopback ports in temporary
//! directories and killed on drop. Absent binaries skip the test with a
//! printed reason, unless KAFKA_PULSE_REQUIRE_EXTERNAL=1 (CI), which fails it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub name: &'static str,
    pub base: String,
    pub port: u16,
    /// The path answering 2xx once the server serves (`/ping`, `/-/ready`).
    probe: &'static str,
    child: Option<Child>,
    command: Command,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `N` distinct loopback ports nothing listens on right now. All are held
/// until every one is chosen, so two calls cannot hand out the same port.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

fn binary(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    })
}

/// `Some(server)`, or `None` after printing why the test is skipped.
/// Panics instead of skipping when KAFKA_PULSE_REQUIRE_EXTERNAL=1.
pub fn require<T>(server: Result<T, String>) -> Option<T> {
    match server {
        Ok(server) => Some(server),
        Err(reason) => {
            if std::env::var("KAFKA_PULSE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
                panic!("KAFKA_PULSE_REQUIRE_EXTERNAL=1 but {reason}");
            }
            eprintln!("skipping: {reason}");
            None
        }
    }
}

impl Server {
    fn launch(
        name: &'static str,
        command: Command,
        port: u16,
        dir: tempfile::TempDir,
    ) -> Result<Self, String> {
        Self::launch_probed(name, command, port, dir, "/ping")
    }

    fn launch_probed(
        name: &'static str,
        mut command: Command,
        port: u16,
        dir: tempfile::TempDir,
        probe: &'static str,
    ) -> Result<Self, String> {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        let mut server = Server {
            name,
            base: format!("http://127.0.0.1:{port}"),
            port,
            probe,
            child: None,
            command,
            _dir: dir,
        };
        server.start()?;
        Ok(server)
    }

    /// (Re)starts the process on the same port and data directory.
    pub fn start(&mut self) -> Result<(), String> {
        let child = self
            .command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.name))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::blocking_get(&format!("{}{}", self.base, self.probe)) {
                if response < 300 {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{} did not answer {} within 30 s",
            self.name, self.probe
        ))
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Minimal blocking GET (status code only) without pulling reqwest's
/// blocking feature: the readiness probe runs before any runtime exists.
mod reqwest {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    pub fn blocking_get(url: &str) -> Result<u16, String> {
        let rest = url.strip_prefix("http://").ok_or("http only")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut stream = TcpStream::connect(host).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).map_err(|e| e.to_string())?;
        std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| "bad status line".to_string())
    }
}

/// InfluxDB 1.x (`influxd` from Debian's influxdb package).
pub fn influxd() -> Result<Server, String> {
    let path = binary("influxd").ok_or("influxd not installed (apt-get install influxdb)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let [port, rpc_port] = free_ports::<2>();
    let mut command = Command::new(path);
    command
        .arg("run")
        .env("INFLUXDB_HTTP_BIND_ADDRESS", format!("127.0.0.1:{port}"))
        .env("INFLUXDB_BIND_ADDRESS", format!("127.0.0.1:{rpc_port}"))
        .env("INFLUXDB_META_DIR", dir.path().join("meta"))
        .env("INFLUXDB_DATA_DIR", dir.path().join("data"))
        .env("INFLUXDB_DATA_WAL_DIR", dir.path().join("wal"))
        .env("INFLUXDB_REPORTING_DISABLED", "true")
        .env("INFLUXDB_HTTP_LOG_ENABLED", "false")
        .env("INFLUXDB_DATA_QUERY_LOG_ENABLED", "false")
        .env("INFLUXDB_MONITOR_STORE_ENABLED", "false");
    Server::launch("influxd", command, port, dir)
}

/// VictoriaMetrics (Debian's victoria-metrics package), answering queries
/// without its default 30 s search latency.
pub fn victoria_metrics() -> Result<Server, String> {
    let path = binary("victoria-metrics")
        .ok_or("victoria-metrics not installed (apt-get install victoria-metrics)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let mut command = Command::new(path);
    command
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg(format!("-storageDataPath={}", dir.path().display()))
        .arg("-search.latencyOffset=0s")
        .arg("-loggerLevel=ERROR");
    Server::launch("victoria-metrics", command, port, dir)
}

/// `promtool` (Debian's prometheus package), or why it is missing.
pub fn promtool() -> Result<PathBuf, String> {
    binary("promtool").ok_or_else(|| "promtool not installed (apt-get install prometheus)".into())
}

/// Prometheus (Debian's prometheus package) running `config` (the YAML of
/// prometheus.yml, rule file paths absolute) with its TSDB in a temporary
/// directory.
pub fn prometheus(config: &str) -> Result<Server, String> {
    let path =
        binary("prometheus").ok_or("prometheus not installed (apt-get install prometheus)")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let port = free_port();
    let mut command = Command::new(path);
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=error");
    Server::launch_probed("prometheus", command, port, dir, "/-/ready")
}

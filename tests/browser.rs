//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, raw JSON over HTTP with reqwest) against kafka-pulse with
//! the embedded broker and demo traffic. Checks that every page loads
//! without console errors (CSP violations included), that the overview
//! updates itself, that a hostile consumer group id created through Kafka
//! shows as text and runs nothing, and that a 360 px wide screen never
//! scrolls sideways. Screenshots go to $CARGO_TARGET_DIR/screenshots;
//! with KAFKA_PULSE_SCREENSHOTS=1 the ones the README shows are written to
//! docs/ too (a normal run leaves the clone clean).
//!
//! The wallboard test: the overview's flow chart gains points without a
//! reload and nothing shifts over three updates (layout-shift entries),
//! `/wall` at 1920×1080 has large type and no console or CSP errors, at
//! 360 px no sideways scroll, `?rotate=` moves on, and a consumer stopped on
//! one partition is the heatmap's hot row.
//!
//! Needs Debian's chromium and chromium-driver; skips with a printed reason
//! without them, fails instead when KAFKA_PULSE_REQUIRE_EXTERNAL=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::servers::{free_port, require};
use common::*;
use kafka_pulse::app;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A group id that would run script if any page inserted it as markup.
const HOSTILE_GROUP: &str = "<img src=x onerror=\"window.__xss=1\">";
const INTERVAL: Duration = Duration::from_secs(1);
/// Whole-test bound: a hung browser must not hang the suite.
const TEST_BUDGET: Duration = Duration::from_secs(150);

/// chromedriver (and the Chromium it starts), ended on drop even when an
/// assertion failed: the session is closed, then every process still
/// using our private profile directory is killed by its pid.
struct Browser {
    http: reqwest::Client,
    driver_url: String,
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = blocking_delete(&format!("{}/session/{}", self.driver_url, self.session));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        kill_processes_using(self.profile.path());
    }
}

/// Kills processes whose command line names `dir` (Chromium and its
/// helpers started for this test only), by pid.
fn kill_processes_using(dir: &Path) {
    let needle = dir.to_string_lossy().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// DELETE without a runtime (Drop cannot await).
fn blocking_delete(url: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Ok(())
}

impl Browser {
    async fn start() -> Result<Browser, String> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(path).is_file() {
                return Err(format!(
                    "{path} not installed (apt-get install chromium chromium-driver)"
                ));
            }
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut browser = Browser {
            http,
            driver_url,
            session: String::new(),
            driver,
            profile,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.driver_url))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not answer /status within 15 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // Do not wait for subresources beyond the DOM: an open SSE
            // stream must not count as loading.
            "pageLoadStrategy": "eager",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = browser.call("POST", "/session", capabilities).await?;
        browser.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {answer}"))?
            .to_string();
        Ok(browser)
    }

    /// One WebDriver command; `path` is relative to the driver (or, when it
    /// does not start with "/session", to this session).
    async fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = if path.starts_with("/session") && !self.session.is_empty() {
            format!("{}/session/{}{}", self.driver_url, self.session, &path[8..])
        } else {
            format!("{}{}", self.driver_url, path)
        };
        let request = match method {
            "GET" => self.http.get(&url),
            _ => self.http.post(&url).json(&body),
        };
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let answer: Value = response.json().await.map_err(|e| format!("{url}: {e}"))?;
        if answer["value"]["error"].is_string() {
            return Err(format!("{method} {path}: {}", answer["value"]));
        }
        Ok(answer["value"].clone())
    }

    async fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/session/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
        .expect("script")
    }

    async fn goto(&self, url: &str) {
        eprintln!("opening {url}");
        self.call("POST", "/session/url", json!({ "url": url }))
            .await
            .unwrap_or_else(|e| panic!("navigate to {url}: {e}"));
        self.wait_for(
            "return document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await;
    }

    /// Polls `script` until it returns true; panics after `timeout`.
    async fn wait_for(&self, script: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.run(script).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{script}` not true within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/session/window/rect",
            json!({"width": width, "height": height}),
        )
        .await
        .expect("resize");
    }

    /// Browser console entries since the last call (warnings and errors).
    async fn console_problems(&self) -> Vec<String> {
        let entries = self
            .call("POST", "/session/se/log", json!({"type": "browser"}))
            .await
            .expect("browser log");
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    async fn screenshot(&self, name: &str) {
        let data = self
            .call("GET", "/session/screenshot", Value::Null)
            .await
            .expect("screenshot");
        let png = base64_decode(data.as_str().unwrap_or_default());
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot the README shows: also written to docs/ when
    /// KAFKA_PULSE_SCREENSHOTS=1.
    async fn doc_screenshot(&self, name: &str) {
        self.screenshot(name).await;
        if let Some(docs) = docs_screenshots() {
            std::fs::copy(
                screenshot_dir().join(format!("{name}.png")),
                docs.join(format!("{name}.png")),
            )
            .unwrap();
        }
    }

    /// Fails on console warnings or errors (CSP violations among them).
    async fn assert_clean_console(&self, what: &str) {
        let problems = self.console_problems().await;
        assert!(problems.is_empty(), "{what}: console errors: {problems:?}");
    }

    /// The live sequence of the page's status strip.
    async fn sequence(&self) -> f64 {
        self.run("const s = document.querySelector('[data-sequence]'); return s ? Number(s.getAttribute('data-sequence')) : 0")
            .await
            .as_f64()
            .unwrap_or(0.0)
    }

    /// No sideways scroll at the window's width.
    async fn assert_no_sideways_scroll(&self, what: &str) {
        let overflow = self
            .run("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            .await;
        let (scroll, client) = (overflow[0].as_f64().unwrap(), overflow[1].as_f64().unwrap());
        assert!(
            scroll <= client,
            "{what} scrolls sideways: scrollWidth {scroll} > clientWidth {client}"
        );
    }
}

/// Where the README's screenshots are regenerated, when asked for.
fn docs_screenshots() -> Option<PathBuf> {
    (std::env::var("KAFKA_PULSE_SCREENSHOTS").as_deref() == Ok("1"))
        .then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("screenshots")
}

/// Standard base64 (WebDriver screenshots), without a dependency for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    sextets
        .chunks(4)
        .flat_map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &s)| acc | (u32::from(s) << (18 - 6 * i)));
            let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
            bytes.into_iter().take(chunk.len().saturating_sub(1))
        })
        .collect()
}

/// A real consumer group with a hostile id: one message read and committed.
async fn create_hostile_group(bootstrap: &str) {
    kafka_pulse::demo::ensure_topic(bootstrap, "xss-check", 1)
        .await
        .expect("create topic");
    produce_split(bootstrap, "xss-check", &[(0, 3)]).await;
    consume_and_commit(bootstrap, HOSTILE_GROUP, "xss-check", &[(0, 1)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser() {
    let Some(browser) = require(Browser::start().await) else {
        return;
    };
    let mut config = test_config(None, None);
    config.demo = true;
    config.interval = INTERVAL;
    // The replays page starts a replay through its form.
    config.enable_writes = true;
    let running = app::start(config).await.expect("start kafka-pulse");
    let base = format!("http://{}", running.web_addr);
    let checks = tokio::time::timeout(
        TEST_BUDGET,
        check_pages(&browser, &base, &running.kafka_bootstrap),
    );
    let outcome = checks.await;
    running.stop().await.expect("clean stop");
    drop(browser);
    outcome.expect("the browser checks finished within the budget");
}

async fn check_pages(browser: &Browser, base: &str, bootstrap: &str) {
    create_hostile_group(bootstrap).await;
    let groups = wait_for_json(base, "/api/v1/groups", Duration::from_secs(30), |body| {
        let names: Vec<&str> = body["groups"]
            .as_array()
            .map(|g| g.iter().filter_map(|g| g["group"].as_str()).collect())
            .unwrap_or_default();
        names.contains(&HOSTILE_GROUP) && names.contains(&"order-service")
    })
    .await;
    assert!(groups["groups"].as_array().unwrap().len() >= 2);
    let hostile_path = kafka_pulse::web::format::path_segment(HOSTILE_GROUP);
    let pages = [
        ("overview", "/".to_string()),
        ("topics", "/topics".to_string()),
        ("topic", "/topics/orders".to_string()),
        ("groups", "/groups".to_string()),
        ("group", "/groups/order-service".to_string()),
        ("group-hostile", format!("/groups/{hostile_path}")),
        ("brokers", "/brokers".to_string()),
        ("events", "/events".to_string()),
    ];

    // The console check itself works: a logged error is seen.
    browser.goto(&format!("{base}/brokers")).await;
    browser.run("console.error('probe-123'); return true").await;
    let probe = browser.console_problems().await;
    assert!(
        probe.iter().any(|m| m.contains("probe-123")),
        "the browser log does not report console errors: {probe:?}"
    );

    // Wide screen: no console errors, nothing injected, one live update
    // applied, charts drawn where there are charts.
    browser.resize(1280, 900).await;
    for (name, path) in &pages {
        browser.goto(&format!("{base}{path}")).await;
        let sequence = "return Number(document.querySelector('[data-sequence]').getAttribute('data-sequence'))";
        let before = browser.run(sequence).await.as_f64().unwrap_or(0.0);
        browser
            .wait_for(&format!("{sequence} > {before}"), INTERVAL * 4)
            .await;
        if path.starts_with("/topics/") || path.starts_with("/groups/") {
            browser
                .wait_for(
                    "return document.querySelectorAll('.uplot canvas').length >= 2",
                    Duration::from_secs(5),
                )
                .await;
        }
        assert_eq!(
            browser.run("return typeof window.__xss").await,
            "undefined",
            "{path}: the hostile group id ran script"
        );
        let problems = browser.console_problems().await;
        assert!(problems.is_empty(), "{path}: console errors: {problems:?}");
        browser.screenshot(name).await;
    }

    // The message browser shows messages as text; the replays page starts a
    // replay through its form and shows it finish.
    browser
        .goto(&format!("{base}/messages?topic=orders&partition=0&limit=5"))
        .await;
    browser
        .wait_for(
            "return document.querySelectorAll('article.message').length === 5",
            Duration::from_secs(5),
        )
        .await;
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "/messages: console errors: {problems:?}"
    );
    browser.screenshot("messages").await;
    browser.goto(&format!("{base}/replays")).await;
    browser
        .run(
            "const f = document.getElementById('replay-form');\
             f.from.value = 'orders'; f.to.value = 'orders-replay'; f.speed.value = 'max';\
             f.count.value = '50'; f.requestSubmit(); return true",
        )
        .await;
    browser
        .wait_for(
            "const b = document.querySelector('#replay-list tbody tr .badge');\
             return b !== null && b.textContent === 'FINISHED'",
            Duration::from_secs(20),
        )
        .await;
    let written = browser
        .run("return document.querySelector('#replay-list tbody tr td.num').textContent")
        .await;
    assert!(
        written.as_str().unwrap_or("").starts_with("50"),
        "the replay row shows 50 written: {written}"
    );
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "/replays: console errors: {problems:?}"
    );
    browser.screenshot("replays").await;

    // The hostile id is on the groups page as text.
    browser.goto(&format!("{base}/groups")).await;
    let shown = browser
        .run(&format!(
            "return document.body.innerText.includes({})",
            serde_json::to_string(HOSTILE_GROUP).unwrap()
        ))
        .await;
    assert_eq!(shown, true, "the hostile group id is not shown as text");
    assert_eq!(browser.run("return document.images.length").await, 0);

    // The overview updates itself: a number changes within 3 intervals,
    // and the page was not reloaded (a marker set now survives).
    browser.goto(&format!("{base}/")).await;
    browser.run("window.__marker = 1; return true").await;
    let before = browser
        .run("return document.querySelector('.status-bar .seq').textContent")
        .await;
    browser
        .wait_for(
            &format!(
                "return window.__marker === 1 && document.querySelector('.status-bar .seq').textContent !== {before}"
            ),
            INTERVAL * 3,
        )
        .await;

    // Sorting survives live updates.
    browser.goto(&format!("{base}/groups")).await;
    browser
        .run("document.querySelector('#group-list th button[data-col=\"0\"]').click(); return true")
        .await;
    let first_name =
        "return document.querySelector('#group-list tbody tr td').getAttribute('data-v')";
    let sorted_first = browser.run(first_name).await;
    let seq = browser
        .run("return document.querySelector('[data-sequence]').getAttribute('data-sequence')")
        .await;
    browser
        .wait_for(
            &format!("return document.querySelector('[data-sequence]').getAttribute('data-sequence') !== {seq}"),
            INTERVAL * 4,
        )
        .await;
    assert_eq!(
        browser.run(first_name).await,
        sorted_first,
        "sort lost on update"
    );
    assert!(browser
        .run("return location.hash")
        .await
        .as_str()
        .unwrap()
        .contains("sort-group-list=0-asc"));

    // Phone width: nothing scrolls sideways; tables scroll in their box.
    browser.resize(360, 800).await;
    let width = browser.run("return window.innerWidth").await;
    assert!(
        width.as_f64().unwrap() <= 400.0,
        "window did not shrink: {width}"
    );
    let tool_pages = [
        (
            "messages",
            "/messages?topic=orders&partition=0&limit=5".to_string(),
        ),
        ("replays", "/replays".to_string()),
    ];
    for (name, path) in pages.iter().chain(&tool_pages) {
        browser.goto(&format!("{base}{path}")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = browser
            .run("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            .await;
        let (scroll, client) = (overflow[0].as_f64().unwrap(), overflow[1].as_f64().unwrap());
        assert!(
            scroll <= client,
            "{path} scrolls sideways at 360 px: scrollWidth {scroll} > clientWidth {client}"
        );
        let problems = browser.console_problems().await;
        assert!(
            problems.is_empty(),
            "{path} (360 px): console errors: {problems:?}"
        );
        if ["overview", "group-hostile", "topic"].contains(name) {
            browser.screenshot(&format!("{name}-360")).await;
        }
        if *name == "topic" {
            // The README's topic picture is the wide one, taken above.
            browser.resize(1280, 900).await;
            browser.goto(&format!("{base}{path}")).await;
            browser
                .wait_for(
                    "return document.querySelectorAll('.uplot canvas').length >= 2",
                    Duration::from_secs(5),
                )
                .await;
            // The depth chart, then the per-partition in-rate bars.
            browser
                .run("const s = document.querySelector('ul.skew'); window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY - 560); return true")
                .await;
            tokio::time::sleep(Duration::from_millis(800)).await;
            browser.doc_screenshot("topic").await;
            browser.resize(360, 800).await;
        }
    }
}

/// Two clusters in one kafka-pulse: "local" is the embedded broker with
/// demo traffic, "mirror" the same broker seen through an include filter
/// (only the first demo topic). The home page updates both rows live; a
/// cluster link leads to its pages; the switcher leads to the same page of
/// the other cluster, which shows what its filter lets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clusters_in_a_real_browser() {
    let Some(browser) = require(Browser::start().await) else {
        return;
    };
    // The mirror's brokers are the embedded broker's address, known before
    // start only when its port is chosen here.
    let kafka_listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let defaults = test_config(None, None);
    let mirrored = kafka_pulse::demo::TOPIC_NAMES[0];
    let cluster = |name: &str, brokers: Option<Vec<String>>, demo: bool, topics: Option<&str>| {
        kafka_pulse::config::ClusterConfig {
            name: Some(name.to_string()),
            brokers,
            interval: INTERVAL,
            demo,
            filters: kafka_pulse::filter::Filters {
                topics: kafka_pulse::filter::NameFilter::new(
                    topics.map(|t| ("--include-topics", t)),
                    None,
                )
                .unwrap(),
                groups: Default::default(),
            },
            lag_thresholds: defaults.lag_thresholds.clone(),
            exact_lag_fetches: defaults.exact_lag_fetches,
            kafka_security: defaults.kafka_security.clone(),
        }
    };
    let config = kafka_pulse::config::Config {
        clusters: vec![
            cluster("local", None, true, None),
            cluster(
                "mirror",
                Some(vec![kafka_listen.to_string()]),
                false,
                Some(mirrored),
            ),
        ],
        kafka_listen,
        ..test_config(None, None)
    };
    let running = app::start(config).await.expect("start kafka-pulse");
    let base = format!("http://{}", running.web_addr);
    let checks = tokio::time::timeout(TEST_BUDGET, check_clusters(&browser, &base, mirrored));
    let outcome = checks.await;
    running.stop().await.expect("clean stop");
    drop(browser);
    outcome.expect("the browser checks finished within the budget");
}

/// The topic names on the topics page, once there are some.
async fn topic_names(browser: &Browser) -> Vec<String> {
    let names = "return Array.from(document.querySelectorAll('#topic-list td.name'), td => td.getAttribute('data-v'))";
    browser
        .wait_for(&format!("{names}.length > 0"), Duration::from_secs(30))
        .await;
    serde_json::from_value(browser.run(names).await).unwrap()
}

async fn check_clusters(browser: &Browser, base: &str, mirrored: &str) {
    browser.resize(1280, 900).await;
    // The home page: both rows update without a reload.
    browser.goto(&format!("{base}/")).await;
    browser.run("window.__marker = 1; return true").await;
    let sequence = |name: &str| {
        format!(
            "Number((document.querySelector('tr[data-cluster=\"{name}\"]') || {{getAttribute: () => 0}}).getAttribute('data-sequence'))"
        )
    };
    let (local, mirror) = (sequence("local"), sequence("mirror"));
    browser
        .wait_for(
            &format!("return {local} > 0 && {mirror} > 0"),
            Duration::from_secs(30),
        )
        .await;
    let before = browser.run(&format!("return [{local}, {mirror}]")).await;
    browser
        .wait_for(
            &format!(
                "return window.__marker === 1 && {local} > {} && {mirror} > {}",
                before[0], before[1]
            ),
            INTERVAL * 5,
        )
        .await;
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "home: console errors: {problems:?}");
    browser.screenshot("clusters-home").await;

    // Follow the local cluster's link, then its Topics nav link.
    browser
        .run("document.querySelector('tr[data-cluster=\"local\"] td.name a').click(); return true")
        .await;
    browser
        .wait_for(
            "return location.pathname === '/clusters/local' && document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await;
    browser
        .run("document.querySelector('nav[aria-label=\"Pages\"] a[href=\"/clusters/local/topics\"]').click(); return true")
        .await;
    browser
        .wait_for(
            "return location.pathname === '/clusters/local/topics' && document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await;
    // Every demo topic shows here (no filter), and the page goes live.
    browser
        .wait_for(
            &format!(
                "return document.querySelectorAll('#topic-list td.name').length >= {}",
                kafka_pulse::demo::TOPIC_NAMES.len()
            ),
            Duration::from_secs(30),
        )
        .await;
    let local_topics = topic_names(browser).await;
    for topic in kafka_pulse::demo::TOPIC_NAMES {
        assert!(
            local_topics.iter().any(|t| t == topic),
            "local lacks {topic}: {local_topics:?}"
        );
    }
    let seq =
        "return Number(document.querySelector('[data-sequence]').getAttribute('data-sequence'))";
    let at = browser.run(seq).await.as_f64().unwrap_or(0.0);
    browser
        .wait_for(&format!("{seq} > {at}"), INTERVAL * 4)
        .await;
    assert_eq!(
        browser
            .run("return document.querySelector('nav[aria-label=\"Pages\"] a[aria-current=\"page\"]').textContent")
            .await,
        "Topics"
    );

    // The switcher: the same page in the mirror, which sees one topic.
    browser
        .run("document.querySelector('nav.clusters a[data-cluster=\"mirror\"]').click(); return true")
        .await;
    browser
        .wait_for(
            "return location.pathname === '/clusters/mirror/topics' && document.readyState === 'complete'",
            Duration::from_secs(10),
        )
        .await;
    let mirror_topics = topic_names(browser).await;
    assert_eq!(mirror_topics, [mirrored], "the mirror's include filter");
    assert!(local_topics.len() > mirror_topics.len());
    let at = browser.run(seq).await.as_f64().unwrap_or(0.0);
    browser
        .wait_for(&format!("{seq} > {at}"), INTERVAL * 4)
        .await;
    // Still the mirror's data after the live update.
    assert_eq!(topic_names(browser).await, [mirrored]);
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "mirror topics: console errors: {problems:?}"
    );
    browser.screenshot("clusters-switched").await;
}

/// The wallboard, the overview's live charts and the group heatmap, on the
/// demo plus one group whose consumer stopped on one partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallboard_charts_and_heatmap_in_a_real_browser() {
    let Some(browser) = require(Browser::start().await) else {
        return;
    };
    let mut config = test_config(None, None);
    config.demo = true;
    config.interval = INTERVAL;
    config.lag_thresholds.messages = Some(500);
    let running = app::start(config).await.expect("start kafka-pulse");
    let base = format!("http://{}", running.web_addr);
    // Regenerating the README's pictures waits for a minute of traffic.
    let budget =
        TEST_BUDGET + docs_screenshots().map_or(Duration::ZERO, |_| Duration::from_secs(90));
    let checks = tokio::time::timeout(
        budget,
        check_wallboard(&browser, &base, &running.kafka_bootstrap),
    );
    let outcome = checks.await;
    running.stop().await.expect("clean stop");
    drop(browser);
    outcome.expect("the wallboard checks finished within the budget");
}

/// Topic `heat-check`, 4 partitions: group `heat-group` read everything
/// once, then kept reading partitions 0, 1 and 3 while partition 2's
/// consumer stopped: partition 2 is 30 behind, the others 0.
const HEAT_TOPIC: &str = "heat-check";
const HEAT_GROUP: &str = "heat-group";

async fn stop_a_consumer_on_one_partition(bootstrap: &str) {
    kafka_pulse::demo::ensure_topic(bootstrap, HEAT_TOPIC, 4)
        .await
        .expect("create topic");
    let all: Vec<(i32, usize)> = (0..4).map(|p| (p, 20)).collect();
    produce_split(bootstrap, HEAT_TOPIC, &all).await;
    consume_and_commit(bootstrap, HEAT_GROUP, HEAT_TOPIC, &all).await;
    let more: Vec<(i32, usize)> = (0..4).map(|p| (p, 30)).collect();
    produce_split(bootstrap, HEAT_TOPIC, &more).await;
    consume_and_commit(
        bootstrap,
        HEAT_GROUP,
        HEAT_TOPIC,
        &[(0, 50), (1, 50), (3, 50)],
    )
    .await;
}

/// Points in the overview's flow chart (set by charts.js).
const CHART_POINTS: &str =
    "return Number(document.querySelector('section.charts').getAttribute('data-points') || 0)";

async fn check_wallboard(browser: &Browser, base: &str, bootstrap: &str) {
    stop_a_consumer_on_one_partition(bootstrap).await;
    wait_for_json(base, "/api/v1/groups", Duration::from_secs(30), |body| {
        body["groups"].as_array().is_some_and(|groups| {
            groups
                .iter()
                .any(|g| g["group"] == HEAT_GROUP && g["lag"] == 30)
                && groups.iter().any(|g| g["group"] == "order-service")
        })
    })
    .await;

    // The overview's chart gains points with each update, without a
    // reload, and nothing on the page shifts while numbers change.
    browser.resize(1280, 900).await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(&format!("{CHART_POINTS} > 0"), Duration::from_secs(10))
        .await;
    // Layout shifts from here on (the first paint and the charts' first
    // draw are done): the sum must stay 0 over three updates.
    browser
        .run(
            "window.__marker = 1; window.__shift = 0; window.__shifts = [];\
             new PerformanceObserver(list => list.getEntries().forEach(e => {\
               if (!e.hadRecentInput) { window.__shift += e.value;\
                 window.__shifts.push(e.sources.map(s => s.node && (s.node.id || s.node.className || s.node.nodeName)).join(',')); }\
             })).observe({type: 'layout-shift'}); return true",
        )
        .await;
    let points = browser.run(CHART_POINTS).await.as_f64().unwrap();
    let sequence = browser.sequence().await;
    browser
        .wait_for(
            &format!("return document.querySelector('[data-sequence]') && Number(document.querySelector('[data-sequence]').getAttribute('data-sequence')) >= {} && ({}) >= {}",
                sequence + 3.0, CHART_POINTS.trim_start_matches("return "), points + 3.0),
            INTERVAL * 8,
        )
        .await;
    assert_eq!(
        browser.run("return window.__marker").await,
        1,
        "the page was reloaded"
    );
    let shift = browser
        .run("return [window.__shift, window.__shifts]")
        .await;
    assert_eq!(
        shift[0].as_f64(),
        Some(0.0),
        "layout shifted over 3 updates: {shift}"
    );
    assert_eq!(
        browser
            .run("return document.querySelectorAll('section.charts .uplot canvas').length")
            .await,
        2,
        "the flow and lag charts"
    );
    assert!(
        browser
            .run("return document.querySelectorAll('#ov-tiles .tile').length")
            .await
            .as_u64()
            .unwrap()
            >= 4,
        "a tile per demo group"
    );
    browser.assert_clean_console("overview").await;
    if docs_screenshots().is_some() {
        // A minute of demo traffic for the picture.
        browser
            .wait_for(&format!("{CHART_POINTS} >= 70"), Duration::from_secs(90))
            .await;
    }
    browser.doc_screenshot("overview").await;

    // The wallboard at 1920×1080: no navigation, dark, totals ≥ 48 px and
    // every other visible text ≥ 28 px, "updated Xs ago", no console or
    // CSP errors.
    browser.resize(1920, 1080).await;
    browser.goto(&format!("{base}/wall")).await;
    let sequence = browser.sequence().await;
    browser
        .wait_for(
            &format!("return Number(document.querySelector('[data-sequence]').getAttribute('data-sequence')) > {sequence}"),
            INTERVAL * 4,
        )
        .await;
    browser
        .wait_for(&format!("{CHART_POINTS} > 0"), Duration::from_secs(10))
        .await;
    let width = browser
        .run("return window.innerWidth")
        .await
        .as_f64()
        .unwrap();
    assert!(width >= 1900.0, "window is {width} px wide");
    assert_eq!(
        browser
            .run("return document.querySelectorAll('nav').length")
            .await,
        0,
        "navigation on the wall"
    );
    let background = browser
        .run("return getComputedStyle(document.body).backgroundColor")
        .await;
    assert_eq!(background, "rgb(11, 15, 20)", "the wall is dark");
    let totals = browser
        .run("return Array.from(document.querySelectorAll('.totals .value'), e => parseFloat(getComputedStyle(e).fontSize))")
        .await;
    let totals: Vec<f64> = serde_json::from_value(totals).unwrap();
    assert!(
        !totals.is_empty() && totals.iter().all(|&px| px >= 48.0),
        "totals: {totals:?}"
    );
    let small = browser
        .run(
            "const small = [];\
             document.querySelectorAll('body *').forEach(e => {\
               const text = Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim() !== '');\
               if (!text || e.getClientRects().length === 0) return;\
               const px = parseFloat(getComputedStyle(e).fontSize);\
               if (px < 28) small.push(e.nodeName + '.' + e.className + ' ' + px + 'px: ' + e.textContent.trim().slice(0, 40));\
             }); return small",
        )
        .await;
    assert_eq!(small, json!([]), "text under 28 px on the wall");
    let age = browser
        .run("return document.querySelector('.status-bar .age').textContent")
        .await;
    assert!(
        age.as_str().unwrap_or("").starts_with("updated "),
        "no 'updated Xs ago': {age}"
    );
    assert!(
        browser
            .run("return document.querySelector('#ov-tiles .tile .reason') !== null")
            .await
            == true,
        "the worst groups with their reasons"
    );
    browser.assert_clean_console("/wall at 1920x1080").await;
    if docs_screenshots().is_some() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    browser.doc_screenshot("wall").await;

    // The wall at 360 px: no sideways scroll.
    browser.resize(360, 800).await;
    browser.goto(&format!("{base}/wall")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.assert_no_sideways_scroll("/wall at 360 px").await;
    browser.assert_clean_console("/wall at 360 px").await;
    browser.screenshot("wall-360").await;

    // The group heatmap: the partition whose consumer stopped is the hot row.
    browser.resize(1280, 1000).await;
    browser.goto(&format!("{base}/groups/{HEAT_GROUP}")).await;
    browser
        .wait_for(
            "return document.querySelectorAll('.heat-labels li').length === 4",
            Duration::from_secs(10),
        )
        .await;
    let hot = browser
        .run("const li = document.querySelector('.heat-labels li'); return [li.getAttribute('data-partition'), li.className, document.querySelector('section.heatmap').getAttribute('data-hot')]")
        .await;
    assert_eq!(
        hot,
        json!([format!("{HEAT_TOPIC}/2"), "hot", format!("{HEAT_TOPIC}/2")])
    );
    assert!(
        browser
            .run("return document.querySelector('.heat-summary').textContent")
            .await
            .as_str()
            .unwrap_or("")
            .contains(&format!("{HEAT_TOPIC}/2")),
        "the hot row is said in words too"
    );
    browser.assert_clean_console("group heatmap").await;
    browser
        .run("const h = document.querySelector('section.heatmap'); window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - 380); return true")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    browser.doc_screenshot("group").await;
    browser.resize(360, 800).await;
    browser.goto(&format!("{base}/groups/{HEAT_GROUP}")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .assert_no_sideways_scroll("the heatmap at 360 px")
        .await;

    // Rotation: the wall moves on to the chosen topic, then the group.
    browser.resize(1280, 900).await;
    browser
        .goto(&format!(
            "{base}/wall?rotate=5s&topic=orders&group={HEAT_GROUP}"
        ))
        .await;
    browser.run("window.__first = 1; return true").await;
    assert!(browser
        .run("return document.getElementById('wall-next').textContent")
        .await
        .as_str()
        .unwrap()
        .contains("next: topic orders"));
    browser
        .wait_for(
            "return location.pathname === '/topics/orders' && document.readyState === 'complete' && document.documentElement.classList.contains('wall')",
            Duration::from_secs(12),
        )
        .await;
    browser
        .wait_for(
            &format!("return location.pathname === '/groups/{HEAT_GROUP}' && document.readyState === 'complete'"),
            Duration::from_secs(12),
        )
        .await;
    browser.assert_clean_console("rotation").await;
}

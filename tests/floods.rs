//! Hostile request mixes on 127.0.0.1, one flood per test, each bounded in
//! count and time: the process stays responsive and its resources bounded.
//! Kafka is left unreachable (nothing listens on port 1): these tests are
//! about the HTTP side.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_pulse::app;
use kafka_pulse::demo::ensure_topic;
use kafka_pulse::web::server::ServerLimits;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// The floods run one at a time: each measures the whole process (RSS,
/// threads), which a flood running beside it would disturb.
static ONE_FLOOD_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn one_flood() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_FLOOD_AT_A_TIME.lock().await
}

/// A line of /proc/self/status, e.g. VmRSS (kB) or Threads.
fn proc_status(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
}

fn rss_mb() -> f64 {
    proc_status("VmRSS") as f64 / 1024.0
}

/// 6,000 distinct filter URLs leave memory bounded; 300 concurrent
/// message-browser reads leave the thread count bounded (each read is a
/// Kafka consumer with threads of its own); the dashboard answers in under
/// a second throughout. kafka-pulse and its embedded broker run in this
/// process, so the figures are the whole product's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filter_urls_and_message_reads_stay_bounded() {
    let _serial = one_flood().await;
    let running = app::start(test_config(None, None)).await.expect("start");
    let base = format!("http://{}", running.web_addr);
    ensure_topic(&running.kafka_bootstrap, "flood", 1)
        .await
        .unwrap();
    produce_split(&running.kafka_bootstrap, "flood", &[(0, 50)]).await;
    wait_for_json(
        &base,
        "/api/v1/topics/flood",
        Duration::from_secs(20),
        |t| t["depth"] == 50,
    )
    .await;
    let client = reqwest::Client::new();
    let dashboard = |client: reqwest::Client, base: String| async move {
        let asked = Instant::now();
        let status = client
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        asked.elapsed()
    };
    // Warm up every page kind once, then take the idle figures.
    for path in [
        "/",
        "/events",
        "/fragments/events",
        "/messages",
        "/api/v1/topics",
    ] {
        client.get(format!("{base}{path}")).send().await.unwrap();
    }
    let idle_rss = rss_mb();
    let idle_threads = proc_status("Threads");
    let mut slowest = Duration::ZERO;

    // 6,000 distinct filters, 8 at a time.
    let mut peak_rss = idle_rss;
    for chunk in (0..6_000).collect::<Vec<_>>().chunks(8) {
        let asks = chunk.iter().map(|i| {
            client
                .get(format!("{base}/fragments/events?topic=t{i}&group=g{i}"))
                .send()
        });
        for answer in futures::future::join_all(asks).await {
            assert_eq!(answer.unwrap().status(), 200);
        }
        if chunk[0] % 1_000 == 0 {
            slowest = slowest.max(dashboard(client.clone(), base.clone()).await);
            peak_rss = peak_rss.max(rss_mb());
        }
    }
    let after_filters = rss_mb();
    peak_rss = peak_rss.max(after_filters);
    assert!(
        peak_rss <= 2.0 * idle_rss + 50.0,
        "6,000 filter URLs: RSS {idle_rss:.0} MB idle, {peak_rss:.0} MB peak"
    );

    // 300 message reads at once.
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let thread_peak = {
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(proc_status("Threads"));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let reads = (0..300).map(|i| {
        client
            .get(format!(
                "{base}/api/v1/topics/flood/messages?partition=0&offset={}&limit=5",
                i % 40
            ))
            .send()
    });
    let during = {
        let (client, base) = (client.clone(), base.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for _ in 0..5 {
                slowest = slowest.max(dashboard(client.clone(), base.clone()).await);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            slowest
        })
    };
    let mut served = 0;
    let mut busy = 0;
    for answer in futures::future::join_all(reads).await {
        match answer.unwrap().status().as_u16() {
            200 => served += 1,
            503 => busy += 1,
            other => panic!("a message read answered {other}"),
        }
    }
    slowest = slowest.max(during.await.unwrap());
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let thread_peak = thread_peak.await.unwrap();
    assert!(served >= 4, "served {served}, busy {busy}");
    assert!(
        thread_peak <= idle_threads + 64,
        "300 message reads: {idle_threads} threads idle, {thread_peak} at the peak"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "the dashboard took {slowest:?}"
    );
    eprintln!(
        "floods: RSS idle {idle_rss:.0} MB, peak {peak_rss:.0} MB after 6,000 filters; \
         threads idle {idle_threads}, peak {thread_peak} with 300 reads ({served} served, \
         {busy} busy); slowest dashboard {slowest:?}"
    );
    running.stop().await.expect("clean stop");
}

/// 1,100 idle connections (more than the default 1,024 open files) do not
/// keep the dashboard from answering, and the server closes them once they
/// have sent no request for the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_neither_block_answers_nor_stay_open() {
    let _serial = one_flood().await;
    // Both ends live in this process: 2,200 descriptors.
    rlimit::increase_nofile_limit(u64::MAX).expect("raise the open-file limit");
    let mut config = test_config(Some("127.0.0.1:1".into()), None);
    config.web_limits = Some(ServerLimits {
        header_read_timeout: Duration::from_secs(2),
        ..ServerLimits::for_open_files(rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap().0)
    });
    let running = app::start(config).await.expect("start");
    let addr = running.web_addr;
    let base = format!("http://{addr}");
    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    let asked = Instant::now();
    let (status, health) = get_json(&base, "/api/v1/health").await;
    let took = asked.elapsed();
    assert_eq!(status, 200, "{health}");
    assert!(took < Duration::from_secs(1), "health took {took:?}");
    let (status, _) = get_text(&base, "/").await;
    assert_eq!(status, 200);

    // After the timeout every idle connection is closed by the server.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for stream in idle.iter_mut() {
        let mut byte = [0u8; 1];
        // A 408 answer, then end of stream: both mean the server let go.
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, idle.len(), "idle connections left open");
    running.stop().await.expect("clean stop");
}

/// More connections than the cap: the extra ones are closed at once, and
/// requests are served again as soon as connections end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_cap_are_closed_not_queued() {
    let _serial = one_flood().await;
    let mut config = test_config(Some("127.0.0.1:1".into()), None);
    config.web_limits = Some(ServerLimits {
        max_connections: 64,
        header_read_timeout: Duration::from_secs(30),
    });
    let running = app::start(config).await.expect("start");
    let addr = running.web_addr;
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(addr).await.expect("connect");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut byte))
        .await
        .expect("the extra connection is closed promptly, not left waiting");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = get_json(&format!("http://{addr}"), "/api/v1/health").await;
    assert_eq!(status, 200);
    running.stop().await.expect("clean stop");
}

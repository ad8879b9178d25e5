//! Hostile request mixes on 127.0.0.1, one flood per test, each bounded in
//! count and time: the process stays responsive and its resources bounded.
//! Kafka is left unreachable (nothing listens on port 1): these tests are
//! about the HTTP side.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kafka_pulse::app;
use kafka_pulse::web::server::ServerLimits;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// 1,100 idle connections (more than the default 1,024 open files) do not
/// keep the dashboard from answering, and the server closes them once they
/// have sent no request for the header-read timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_connections_neither_block_answers_nor_stay_open() {
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

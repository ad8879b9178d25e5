//! The HTTP server loop: axum's router on hyper connections, with the
//! bounds `axum::serve` does not set. Idle and slow connections are closed
//! (a connection that sends no complete request head within
//! [`ServerLimits::header_read_timeout`], including an idle keep-alive one),
//! connections beyond [`ServerLimits::max_connections`] are closed at once,
//! request heads are limited in size, and running out of file descriptors
//! slows accepting down instead of spinning. Before this, 1,100 idle TCP
//! connections exhausted the 1,024 open-file limit: the dashboard timed out
//! and the embedded broker could not restart until they went away.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Bounds of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once; more are closed when accepted.
    pub max_connections: usize,
    /// Time a connection has to send a complete request head; idle
    /// keep-alive connections are closed after it too. Streams (SSE) are
    /// not affected once their request is in.
    pub header_read_timeout: Duration,
}

/// Bytes a request head (request line and headers) may take.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// File descriptors kept free for everything else (the embedded broker's
/// storage and connections, Kafka clients, sinks).
const RESERVED_DESCRIPTORS: u64 = 512;

/// At most this many connections whatever the open-file limit: 2,000 live
/// viewers with room for API clients and scrapers.
const CONNECTION_CEILING: u64 = 4096;

impl ServerLimits {
    /// Limits for a process allowed `open_files` descriptors.
    pub fn for_open_files(open_files: u64) -> Self {
        let available = open_files.saturating_sub(RESERVED_DESCRIPTORS);
        ServerLimits {
            max_connections: available.clamp(64, CONNECTION_CEILING) as usize,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits::for_open_files(1024)
    }
}

/// Serves `router` on `listener` until `shutdown`; open connections then
/// finish their current request (bounded) and close.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused_logged = false;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset
                // before accept: wait a little instead of spinning.
                tracing::warn!("accepting an HTTP connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    "{} HTTP connections open: closing new ones until some end",
                    limits.max_connections
                );
                refused_logged = true;
            }
            drop(stream);
            continue;
        };
        refused_logged = false;
        stream.set_nodelay(true).ok();
        // Handlers can name the client (the audit trail of writes).
        let service = TowerToHyperService::new(
            router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        let connection_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_HEAD_BYTES);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = connection_shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_keep_descriptors_for_the_rest_and_stay_in_bounds() {
        assert_eq!(ServerLimits::for_open_files(1024).max_connections, 512);
        assert_eq!(ServerLimits::for_open_files(20_000).max_connections, 4096);
        assert_eq!(ServerLimits::for_open_files(100).max_connections, 64);
    }
}

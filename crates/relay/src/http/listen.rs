//! The connection loop: accepts TCP connections up to a limit, serves each over HTTP/1.1 with a
//! header-read timeout (which also closes idle keep-alive connections) and drains them on
//! shutdown. Replaces `axum::serve`, which has neither a header timeout nor a connection limit.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Default seconds a client has to send a complete request head; an idle keep-alive
/// connection is closed after the same time.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Upper bound of the default connection limit (see [`default_max_connections`]).
pub const MAX_DEFAULT_CONNECTIONS: usize = 1024;
/// Descriptors kept free for the database, outbound peer requests and the runtime.
const RESERVED_DESCRIPTORS: usize = 64;

/// Connection limits of the listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// The default connection limit: at most [`MAX_DEFAULT_CONNECTIONS`], and below the process's
/// open-file limit (read from `/proc/self/limits` where there is one) so that accepting never
/// fails for lack of descriptors.
pub fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| parse_open_files_limit(&t));
    match soft {
        Some(n) => {
            (n.saturating_sub(RESERVED_DESCRIPTORS) * 3 / 4).clamp(16, MAX_DEFAULT_CONNECTIONS)
        }
        None => MAX_DEFAULT_CONNECTIONS,
    }
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text.
fn parse_open_files_limit(text: &str) -> Option<usize> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    soft.parse().ok()
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop accepting, ask open
/// connections to finish their current request and wait for them.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, 1 << 20);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut accept_errors: u64 = 0;
    loop {
        // Wait for a free slot first: connections past the limit stay in the kernel's backlog
        // until one closes (the header timeout reaps idle ones).
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::warn!(error = %e, count = accept_errors, "accept error");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                req
            });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
            tokio::pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                r = stop.wait_for(|s| *s) => {
                    drop(r);
                    true
                }
            };
            if stopping {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot: all slots free means all connections are closed.
    let _ = slots.acquire_many(max as u32).await;
}

#[cfg(test)]
mod tests {
    use super::parse_open_files_limit;

    #[test]
    fn reads_the_soft_open_files_limit() {
        let t = "Limit                     Soft Limit           Hard Limit           Units     \n\
                 Max open files            256                  4096                 files     \n";
        assert_eq!(parse_open_files_limit(t), Some(256));
        assert_eq!(parse_open_files_limit("nothing"), None);
    }
}

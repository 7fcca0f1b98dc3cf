//! Serving a router with the limits a login on the internet needs, which
//! `axum::serve` does not set: a timeout on reading a request's header (a
//! client that sends half a request and waits is dropped, not kept), a
//! timeout on each request (a body sent byte by byte ends too), a cap on
//! connections in all and from one address, and a graceful shutdown that
//! stops accepting, lets the requests in flight finish within a grace
//! period, and returns.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::client_ip::TrustedProxies;

/// The limits of [`serve`].
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// How long a client may take to send a request's header (and, on a
    /// kept-alive connection, to start the next one). Default 10 s.
    pub header_read_timeout: Duration,
    /// How long one request may take, its body included. Default 30 s.
    pub request_timeout: Duration,
    /// Connections open at once; past it new ones are closed at once.
    /// Default 4,096.
    pub max_connections: usize,
    /// Connections open at once from one peer address (trusted proxies
    /// excepted: every client behind them shares their address). Default
    /// 128.
    pub max_connections_per_ip: usize,
    /// The peers exempt from the per-address cap.
    pub trusted_proxies: TrustedProxies,
    /// At shutdown, how long the requests in flight may still take.
    /// Default 10 s.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_connections_per_ip: 128,
            trusted_proxies: TrustedProxies::none(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Connections open per peer address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<IpSlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot(Arc::clone(self), ip))
    }
}

/// One connection's place under its address's cap.
struct IpSlot(Arc<PerIp>, IpAddr);

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = (self.0).0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// The most bytes hyper buffers of one connection's request head (its
/// request line and headers): a login's requests need a few KiB, cookies
/// included. Without it hyper allows about 400 KiB per connection.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// The most header fields of one request.
pub const MAX_HEADERS: usize = 64;

/// Serves `router` on `listener` under `limits` until `shutdown` completes,
/// then stops accepting, lets the connections finish their requests in
/// flight (at most [`ServerLimits::shutdown_grace`]), closes what is left
/// and returns. Every request carries its peer's `ConnectInfo<SocketAddr>`
/// (for [`crate::ClientIp`]). A request head is at most [`MAX_HEAD_BYTES`]
/// and [`MAX_HEADERS`] fields. An answer the server makes itself (`408`
/// after the request timeout) carries the default security headers.
///
/// A failure to accept (out of file descriptors, a connection reset before
/// it was accepted, a firewall's `EPERM`) is logged and the loop goes on
/// after a short pause, as accept(2) advises: one bad moment never stops
/// the service.
///
/// # Errors
/// None today; the `Result` leaves room for a listener that can fail for
/// good.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::map_response(with_default_headers));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let (stop, stopping) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; going on");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
            // Reap finished connections' tasks as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let ip_slot = if limits.trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            // An IPv6 client holds its whole /64: capped as one.
            match per_ip.enter(
                crate::limits::subscriber(peer.ip()),
                limits.max_connections_per_ip,
            ) {
                Some(slot) => Some(slot),
                None => continue, // dropped: closed at once
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                tower::Service::call(&mut router.clone(), request)
            },
        );
        let mut stopping = stopping.clone();
        let header_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(MAX_HEAD_BYTES)
                .max_headers(MAX_HEADERS);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.as_mut().await;
                }
            }
            drop(permit);
            drop(ip_slot);
        });
    }
    // Stop: no new connection; those open finish what they are doing, and
    // whatever is still open after the grace period is closed.
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.shutdown_grace, open.acquire_many(all)).await;
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// The default security headers on an answer that has none (one the server
/// made itself, outside the login's layers).
async fn with_default_headers(mut response: axum::response::Response) -> axum::response::Response {
    if !response
        .headers()
        .contains_key(axum::http::header::CONTENT_SECURITY_POLICY)
    {
        let defaults = crate::SecurityHeaders::default();
        for (name, value) in defaults.iter() {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

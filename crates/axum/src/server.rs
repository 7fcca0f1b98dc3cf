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

/// Serves `router` on `listener` under `limits` until `shutdown` completes,
/// then stops accepting, lets the connections finish their requests in
/// flight (at most [`ServerLimits::shutdown_grace`]) and returns. Every
/// request carries its peer's `ConnectInfo<SocketAddr>` (for
/// [`crate::ClientIp`]).
///
/// # Errors
/// The listener's failure to accept, other than running out of file
/// descriptors (then the loop waits a moment and goes on).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e),
            },
            () = &mut shutdown => break,
        };
        let ip_slot = if limits.trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            match per_ip.enter(peer.ip(), limits.max_connections_per_ip) {
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
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
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
    // Stop: no new connection; those open finish what they are doing.
    drop(listener);
    let _ = stop.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(limits.shutdown_grace, open.acquire_many(all)).await;
    Ok(())
}

/// Accept errors that pass: out of file descriptors, a connection reset
/// before it was accepted.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

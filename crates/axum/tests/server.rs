//! The server's limits over real sockets: slow clients, a connection cap
//! per address, the request timeout, and a graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use lockstep_axum::{ServerLimits, serve};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// Told when a request to `/slow` has reached its handler.
static SLOW_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

async fn start(
    limits: ServerLimits,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                SLOW_STARTED.notify_one();
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow ok"
            }),
        )
        .route(
            "/forever",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, app, limits, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, task)
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// A whole GET, its answer's status line.
async fn get_from(from: IpAddr, to: SocketAddr, path: &str) -> String {
    get_whole(from, to, path)
        .await
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A whole GET, its whole answer.
async fn get_whole(from: IpAddr, to: SocketAddr, path: &str) -> String {
    let mut s = connect_from(from, to).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server has closed `s` (a read sees the end, or a reset).
async fn closed(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0_u8; 256];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // an error answer (408) before the close
            Err(_) => return false,
        }
    }
}

/// 2,000 connections that send half a header and wait, from 20 addresses:
/// a normal request from another address is still answered, and every
/// slow one is dropped once the header-read timeout has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_connections_are_dropped_and_others_served() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(5),
        ..ServerLimits::default()
    };
    let (addr, _stop, _task) = start(limits).await;
    let mut slow = Vec::with_capacity(2000);
    for n in 0..2000_u32 {
        let from = IpAddr::from([127, 0, 1, u8::try_from(n % 20).unwrap() + 1]);
        let mut s = connect_from(from, addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(s);
    }
    let opened = Instant::now();
    let started = Instant::now();
    // Answered well before the slow ones are dropped (a busy machine has
    // room: the point is that they do not hold it up until then).
    let line = tokio::time::timeout(
        Duration::from_secs(4),
        get_from(IpAddr::from([127, 0, 0, 2]), addr, "/"),
    )
    .await
    .expect("a normal request is answered before the slow ones time out");
    println!("normal request answered in {:?}", started.elapsed());
    assert!(line.contains("200"), "{line}");
    let mut still_open = 0;
    for s in &mut slow {
        let left = Duration::from_secs(20).saturating_sub(opened.elapsed());
        if !closed(s, left.max(Duration::from_millis(10))).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "slow connections outlived the timeout");
    println!("all 2,000 dropped within {:?}", opened.elapsed());
}

/// Past its cap an address's new connections are closed at once; other
/// addresses are not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_past_its_connection_cap_is_closed_at_once() {
    let limits = ServerLimits {
        max_connections_per_ip: 8,
        header_read_timeout: Duration::from_secs(30),
        ..ServerLimits::default()
    };
    let (addr, _stop, _task) = start(limits).await;
    let from = IpAddr::from([127, 0, 2, 1]);
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = connect_from(from, addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(s);
    }
    // Let the server accept them all before the ninth arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ninth = connect_from(from, addr).await.unwrap();
    assert!(
        closed(&mut ninth, Duration::from_secs(2)).await,
        "the ninth is closed"
    );
    for s in &mut held {
        assert!(
            !closed(s, Duration::from_millis(50)).await,
            "the first eight stay"
        );
    }
    let line = get_from(IpAddr::from([127, 0, 2, 2]), addr, "/").await;
    assert!(line.contains("200"), "{line}");
}

/// A request that takes longer than the request timeout is answered 408,
/// with the security headers although no login layer made the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_timeout_is_answered_408() {
    let limits = ServerLimits {
        request_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let (addr, _stop, _task) = start(limits).await;
    let whole = get_whole(IpAddr::from([127, 0, 0, 1]), addr, "/forever").await;
    assert!(whole.starts_with("HTTP/1.1 408"), "{whole}");
    let lower = whole.to_ascii_lowercase();
    assert!(lower.contains("content-security-policy:"), "{whole}");
    assert!(lower.contains("x-frame-options: deny"), "{whole}");
}

/// A request head of megabytes is refused: hyper buffers at most
/// `MAX_HEAD_BYTES` of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_request_head_is_refused() {
    let (addr, _stop, _task) = start(ServerLimits::default()).await;
    let mut s = connect_from(IpAddr::from([127, 0, 0, 1]), addr)
        .await
        .unwrap();
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let mut head = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for _ in 0..200 {
        head.push_str(&filler);
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes()).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let answer = String::from_utf8_lossy(&out);
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "a 200 KB head was served: {answer}"
    );
}

/// Shutdown stops accepting, lets the request in flight finish, and
/// returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_request_in_flight_finish() {
    let (addr, stop, task) = start(ServerLimits::default()).await;
    let in_flight = tokio::spawn(get_from(IpAddr::from([127, 0, 0, 1]), addr, "/slow"));
    // In flight: its handler has started.
    SLOW_STARTED.notified().await;
    stop.send(()).unwrap();
    let line = in_flight.await.unwrap();
    assert!(line.contains("200"), "{line}");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("serve returns")
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

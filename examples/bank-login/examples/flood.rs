//! A flood against the web service over loopback, and what a customer sees
//! meanwhile:
//!
//! - 64 clients, each from its own loopback address (127.0.0.2 and up, so
//!   that per-address limits alone cannot be the answer), post wrong
//!   passwords for random user IDs as fast as they are answered, ignoring
//!   every `Retry-After`;
//! - meanwhile a customer logs in every second (password, code, 初期画面,
//!   logout; 40 customers in turn, each from an address of its own), and
//!   the login page is fetched every 100 ms;
//! - under the flood, 400 probes each time one password post, alternately
//!   for a real user ID and an unknown one (every ID probed once, each
//!   probe from an address of its own): an attacker's threshold is chosen
//!   on the first half and judged on the second;
//! - after it, 1,000 half-sent requests are opened, and counted still open
//!   after the header-read timeout.
//!
//! ```text
//! cargo run --release -p bank-login --features test-clock --example flood -- [SECONDS]
//! ```
//!
//! The service runs on its own runtime (two workers), the clients on
//! another, in one process on SQLite with Argon2id at OWASP's cost and the
//! default limits of `lockstep-axum`. Its resident memory is read from
//! `/proc/self/status` before, during (the peak) and after the flood. The
//! clock is the test's: one TOTP step per second, so that every login has a
//! fresh code. Timings are reported next to the same measures taken idle
//! in the same run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    missing_docs
)]

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bank_login::{Bank, WebOptions, open_sqlite};
use lockstep::account::Clock as _;
use lockstep::account::testing::FakeClock;
use lockstep::seal::Keyring;
use support::{PASSWORD, Session, T0, User, ms, percentile, users};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const FLOODERS: u8 = 64;
const CUSTOMERS: usize = 40;
const PROBES: usize = 400;
const HALF_SENT: usize = 1000;

fn loopback(a: u8, b: u8, c: u8) -> IpAddr {
    IpAddr::from([127, a, b, c])
}

/// The process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[derive(Default)]
struct Seen {
    password: Vec<Duration>,
    page: Vec<Duration>,
    logins: u64,
    busy: u64,
    failures: BTreeMap<String, u64>,
}

/// One customer login a second until `stop`: password step timed.
async fn customers(
    base: String,
    mut users: Vec<User>,
    clock: Arc<FakeClock>,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    let mut turn = 0_usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let n = turn % users.len();
        turn += 1;
        let u = &mut users[n];
        let mut s = Session::new(&base, Some(loopback(0, 2, n as u8 + 1)));
        s.get("/").await;
        let t = Instant::now();
        let a = s
            .post(
                "/login",
                &[
                    ("user_id", &u.id),
                    ("password", PASSWORD),
                    ("entry", "login"),
                ],
            )
            .await;
        seen.password.push(t.elapsed());
        match (a.status, a.location.as_str()) {
            (303, "/otp") => {}
            (503, _) => {
                seen.busy += 1;
                continue;
            }
            (status, to) => {
                *seen
                    .failures
                    .entry(format!("password {status} {to}"))
                    .or_default() += 1;
                continue;
            }
        }
        s.get("/otp").await;
        let now = clock.now();
        let code = u.totp.generate(now).unwrap().expose().to_string();
        let a = s.post("/otp", &[("otp", &code)]).await;
        if a.location == "/home" {
            u.last_step = now / 30;
            seen.logins += 1;
            s.get("/home").await;
            s.post("/logout", &[]).await;
        } else if a.status == 503 {
            seen.busy += 1;
        } else {
            *seen
                .failures
                .entry(format!("otp {} {}", a.status, a.location))
                .or_default() += 1;
        }
    }
    seen
}

/// The login page every 100 ms until `stop`, timed.
async fn pages(base: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut s = Session::new(&base, Some(loopback(0, 3, 1)));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let t = Instant::now();
        let r = s.get_request("/");
        if s.try_send(r).await.is_some() {
            out.push(t.elapsed());
        }
    }
    out
}

/// One flooding client until `stop`: its answers by status.
async fn flooder(
    base: String,
    n: u8,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> BTreeMap<u16, u64> {
    let mut by_status = BTreeMap::new();
    let mut s = Session::new(&base, Some(loopback(0, 0, n + 2)));
    let _ = s.try_send(s.get_request("/")).await;
    let mut i = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let user = format!("f{n}x{i}");
        let r = s.post_request("/login", &[("user_id", &user), ("password", "Guess1234")]);
        let status = s.try_send(r).await.map_or(0, |a| a.status);
        *by_status.entry(status).or_default() += 1;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    by_status
}

/// Probes alternating a real and an unknown user ID, each once, each from
/// an address of its own: (real?, time of the password post).
async fn probes(base: &str, real: &[String]) -> Vec<(bool, Duration)> {
    let mut out = Vec::new();
    for i in 0..PROBES {
        let is_real = i % 2 == 0;
        let id = if is_real {
            real[i / 2].clone()
        } else {
            format!("ghost{:04}", i / 2)
        };
        let from = loopback(10 + (i / 250) as u8, (i % 250) as u8 + 1, 1);
        let mut s = Session::new(base, Some(from));
        s.get("/").await;
        // The attacker retries a `Busy` answer until the post is judged.
        for _ in 0..100 {
            let t = Instant::now();
            let a = s
                .post("/login", &[("user_id", &id), ("password", "Wrong1234x")])
                .await;
            let took = t.elapsed();
            if a.status == 422 {
                out.push((is_real, took));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    out
}

/// How often an attacker tells real from unknown: a threshold and a side
/// chosen on the first half (the best of all), judged on the second.
fn attacker_accuracy(samples: &[(bool, Duration)]) -> (f64, usize) {
    let (train, test) = samples.split_at(samples.len() / 2);
    let accuracy = |set: &[(bool, Duration)], cut: Duration, slower_is_real: bool| {
        let right = set
            .iter()
            .filter(|(real, t)| (*t > cut) == (*real == slower_is_real))
            .count();
        right as f64 / set.len().max(1) as f64
    };
    let mut best = (0.0, Duration::ZERO, true);
    for (_, cut) in train {
        for side in [true, false] {
            let a = accuracy(train, *cut, side);
            if a > best.0 {
                best = (a, *cut, side);
            }
        }
    }
    (accuracy(test, best.1, best.2), test.len())
}

/// Opens `HALF_SENT` connections that send half a request and wait; after
/// `wait`, how many the server still holds open.
async fn half_sent(addr: SocketAddr, wait: Duration) -> usize {
    let mut held = Vec::new();
    for i in 0..HALF_SENT {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(loopback(0, 4, (i / 100) as u8 + 1), 0))
            .unwrap();
        if let Ok(mut s) = socket.connect(addr).await {
            let _ = s.write_all(b"POST /login HTTP/1.1\r\nHost: x\r\n").await;
            held.push(s);
        }
    }
    tokio::time::sleep(wait).await;
    let mut open = 0;
    for s in &mut held {
        let mut buf = [0_u8; 512];
        let gone = loop {
            match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break true,
                Ok(Ok(_)) => {} // a 408 before the close
                Err(_) => break false,
            }
        };
        if !gone {
            open += 1;
        }
    }
    open
}

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keyring =
        Keyring::parse("1:5e0c2b9f7a4d81e6c3b0f59a2d7e4c18b6a3f0d9e2c5b8a1f4d7c0e3b6a9f2d5")
            .unwrap();
    let clock = Arc::new(FakeClock::at(T0));
    let (bank, ready, real) = server_rt.block_on(async {
        let (customers, desk) = open_sqlite(dir.path(), &keyring, bank_login::Migrations::Apply)
            .await
            .unwrap();
        let bank = Arc::new(Bank::with_clock(customers, desk, clock.clone()).unwrap());
        eprintln!(
            "making {CUSTOMERS} customers and {} accounts to probe…",
            PROBES / 2
        );
        let ready = users(&bank, &clock, "cust", CUSTOMERS).await;
        let mut real = Vec::new();
        for i in 0..PROBES / 2 {
            let id = format!("real{i:04}");
            bank.customers()
                .auth
                .create_account(
                    "setup",
                    &id,
                    "実在 太郎",
                    "実在株式会社",
                    &lockstep::account::Password::from("Temp2026a"),
                )
                .await
                .unwrap();
            real.push(id);
        }
        (bank, ready, real)
    });
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let app = bank
        .router(
            &WebOptions {
                local_http: true,
                ..WebOptions::default()
            },
            lockstep_axum::MemorySessions::default(),
            lockstep_axum::MemorySessions::default(),
        )
        .unwrap();
    let limits = lockstep_axum::ServerLimits::default();
    let header_timeout = limits.header_read_timeout;
    server_rt.spawn(lockstep_axum::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    let ticking = Arc::new(AtomicBool::new(true));
    {
        let (clock, ticking) = (Arc::clone(&clock), Arc::clone(&ticking));
        clients.spawn(async move {
            while ticking.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                clock.advance(30);
            }
        });
    }

    let report = clients.block_on(async move {
        // Idle: 10 s of the customer and the login page alone.
        let rss_before_idle = rss_mib();
        let stop = Arc::new(AtomicBool::new(false));
        let (half, rest) = {
            let mut r = ready;
            let rest = r.split_off(CUSTOMERS / 2);
            (r, rest)
        };
        let c = tokio::spawn(customers(
            base.clone(),
            half,
            Arc::clone(&clock),
            Arc::clone(&stop),
        ));
        let p = tokio::spawn(pages(base.clone(), Arc::clone(&stop)));
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.store(true, Ordering::Relaxed);
        let mut idle = c.await.unwrap();
        idle.page = p.await.unwrap();
        let rss_idle = rss_mib();

        // The flood.
        eprintln!("flooding for {seconds} s from {FLOODERS} addresses…");
        let flooding = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let floods: Vec<_> = (0..FLOODERS)
            .map(|n| {
                tokio::spawn(flooder(
                    base.clone(),
                    n,
                    Arc::clone(&flooding),
                    Arc::clone(&sent),
                ))
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let c = tokio::spawn(customers(
            base.clone(),
            rest,
            Arc::clone(&clock),
            Arc::clone(&stop),
        ));
        let p = tokio::spawn(pages(base.clone(), Arc::clone(&stop)));
        let peak = Arc::new(std::sync::Mutex::new(rss_idle));
        let sampler = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let now = rss_mib();
                    {
                        let mut p = peak.lock().unwrap();
                        if now > *p {
                            *p = now;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        };
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut loaded = c.await.unwrap();
        loaded.page = p.await.unwrap();
        eprintln!("probing {PROBES} password posts under the flood…");
        let probed = probes(&base, &real).await;
        flooding.store(true, Ordering::Relaxed);
        let flood_secs = started.elapsed().as_secs_f64();
        let flood_sent = sent.load(Ordering::Relaxed);
        let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
        for f in floods {
            for (k, v) in f.await.unwrap() {
                *statuses.entry(k).or_default() += v;
            }
        }
        let _ = sampler.await;
        let rss_peak = *peak.lock().unwrap();
        let rss_after = rss_mib();
        eprintln!(
            "{HALF_SENT} half-sent requests, read back after {:?}…",
            header_timeout + Duration::from_secs(2)
        );
        let still_open = half_sent(addr, header_timeout + Duration::from_secs(2)).await;
        (
            idle,
            loaded,
            probed,
            statuses,
            flood_sent,
            flood_secs,
            rss_before_idle,
            rss_idle,
            rss_peak,
            rss_after,
            still_open,
        )
    });
    ticking.store(false, Ordering::Relaxed);
    let (
        mut idle,
        mut loaded,
        probed,
        statuses,
        sent,
        secs,
        rss0,
        rss_idle,
        rss_peak,
        rss_after,
        still_open,
    ) = report;
    let (accuracy, judged) = attacker_accuracy(&probed);
    let median = |real: bool| {
        let mut v: Vec<Duration> = probed
            .iter()
            .filter(|(r, _)| *r == real)
            .map(|(_, t)| *t)
            .collect();
        percentile(&mut v, 500)
    };
    println!(
        "\n## Flood ({FLOODERS} addresses, {seconds} s with the customer, {secs:.0} s in all with the probes; SQLite, release)\n"
    );
    println!("| measure | idle | under the flood | target |");
    println!("|---|---:|---:|---|");
    println!(
        "| customer password step p50 / p99 (ms) | {} / {} | {} / {} | p99 ≤ 1,000 or `Busy` |",
        ms(percentile(&mut idle.password, 500)),
        ms(percentile(&mut idle.password, 990)),
        ms(percentile(&mut loaded.password, 500)),
        ms(percentile(&mut loaded.password, 990)),
    );
    println!(
        "| customer logins / Busy pages / other failures | {} / {} / {} | {} / {} / {} | no other failure |",
        idle.logins,
        idle.busy,
        idle.failures.values().sum::<u64>(),
        loaded.logins,
        loaded.busy,
        loaded.failures.values().sum::<u64>(),
    );
    println!(
        "| `GET /` p50 / p99 (ms) | {} / {} | {} / {} | p99 < 50 |",
        ms(percentile(&mut idle.page, 500)),
        ms(percentile(&mut idle.page, 990)),
        ms(percentile(&mut loaded.page, 500)),
        ms(percentile(&mut loaded.page, 990)),
    );
    println!(
        "| resident memory (MiB) | {rss0:.0} → {rss_idle:.0} | peak {rss_peak:.0}, after {rss_after:.0} (+{:.0}) | growth < 100 |",
        rss_peak - rss_idle
    );
    println!(
        "| a probe tells real from unknown | | {:.1} % of {judged} (medians real {} ms, unknown {} ms) | ≤ 55 % over ≥ 200 |",
        accuracy * 100.0,
        ms(median(true)),
        ms(median(false)),
    );
    println!(
        "| half-sent requests still open after the timeout | | {still_open} of {HALF_SENT} | 0 |"
    );
    println!(
        "\nThe flood sent {sent} password posts ({:.0}/s); answers by status: {statuses:?}",
        sent as f64 / secs
    );
    for (what, n) in idle.failures.iter().chain(&loaded.failures) {
        println!("customer failure {n}×: {what}");
    }
}

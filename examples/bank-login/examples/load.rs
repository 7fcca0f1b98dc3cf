//! A load test of the web service over real HTTP on loopback: 16 clients
//! log in again and again (GET the login page, POST the password step,
//! GET the OTP page, POST the OTP step, GET 初期画面, POST logout) for a
//! bounded time, on SQLite and, when a server answers, PostgreSQL, in one
//! run. Every login's password step runs Argon2id at OWASP's cost, so OTP
//! steps are measured while password steps are in flight.
//!
//! ```text
//! cargo run --release -p bank-login --features test-clock --example load -- [SECONDS]
//! ```
//!
//! The clock is the test's: it moves one TOTP step every 100 ms of real
//! time, so that each user's next login has a fresh code. The baseline,
//! measured in the same run, is the login page (GET `/`): a request through
//! the same stack (sessions, CSRF token, template) that touches no store.
//! PostgreSQL: `LOCKSTEP_TEST_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; its schemas are dropped after.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bank_login::{Backend, Bank, WebOptions, open_postgres, open_sqlite};
use lockstep::account::Clock as _;
use lockstep::account::testing::FakeClock;
use lockstep::seal::Keyring;

#[path = "support/mod.rs"]
mod support;

use support::{PASSWORD, Session, T0, User, ms, percentile, users};

const CLIENTS: usize = 16;
const USERS_PER_CLIENT: usize = 4;

#[derive(Default)]
struct Samples {
    otp: Vec<Duration>,
    password: Vec<Duration>,
    page: Vec<Duration>,
    refused: u64,
    busy: u64,
    reasons: BTreeMap<String, u64>,
}

async fn run<S: Backend>(name: &str, bank: Bank<S>, clock: Arc<FakeClock>, seconds: u64) -> String {
    eprintln!("{name}: creating {} users…", CLIENTS * USERS_PER_CLIENT);
    let mut all = users(&bank, &clock, "load", CLIENTS * USERS_PER_CLIENT).await;
    let bank = Arc::new(bank);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // Throughput, not abuse: no per-client limits (every client is on
    // 127.0.0.1); `examples/flood.rs` measures the limits.
    let app = bank
        .router(
            &WebOptions {
                local_http: true,
                limits: lockstep_axum::Limits::unlimited(),
                ..WebOptions::default()
            },
            lockstep_axum::MemorySessions::default(),
            lockstep_axum::MemorySessions::default(),
        )
        .unwrap();
    let server = tokio::spawn(lockstep_axum::serve(
        listener,
        app,
        lockstep_axum::ServerLimits::default(),
        std::future::pending(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = {
        let (clock, stop) = (Arc::clone(&clock), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                clock.advance(30);
            }
        })
    };
    let logins = Arc::new(AtomicU64::new(0));
    eprintln!("{name}: {CLIENTS} clients for {seconds} s…");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let mine: Vec<User> = all.drain(..USERS_PER_CLIENT).collect();
        let (base, clock, logins) = (base.clone(), Arc::clone(&clock), Arc::clone(&logins));
        tasks.push(tokio::spawn(async move {
            let mut s = Session::new(&base, None);
            let mut users = mine;
            let mut samples = Samples::default();
            let mut turn = 0_usize;
            while Instant::now() < deadline {
                let u = &mut users[turn % USERS_PER_CLIENT];
                turn += 1;
                while clock.now() / 30 <= u.last_step {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let t = Instant::now();
                s.get("/").await;
                samples.page.push(t.elapsed());
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
                samples.password.push(t.elapsed());
                if a.status == 503 {
                    // `Busy`: the hash queue is full (16 clients, a bound
                    // of 5); a browser would show the busy page and the
                    // customer try again a moment later.
                    samples.busy += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if a.location != "/otp" {
                    samples.refused += 1;
                    *samples
                        .reasons
                        .entry(format!("password step -> {} {}", a.status, a.location))
                        .or_default() += 1;
                    s.cookies.clear();
                    continue;
                }
                s.get("/otp").await;
                let now = clock.now();
                let code = u.totp.generate(now).unwrap().expose().to_string();
                let t = Instant::now();
                let a = s.post("/otp", &[("otp", &code)]).await;
                samples.otp.push(t.elapsed());
                if a.location == "/home" && a.status == 303 {
                    u.last_step = now / 30;
                    logins.fetch_add(1, Ordering::Relaxed);
                    s.get("/home").await;
                    s.post("/logout", &[]).await;
                } else {
                    samples.refused += 1;
                    let late = (clock.now() / 30).saturating_sub(now / 30);
                    *samples
                        .reasons
                        .entry(format!(
                            "OTP step -> {} {} ({late} steps later)",
                            a.status, a.location
                        ))
                        .or_default() += 1;
                    s.cookies.clear();
                }
            }
            samples
        }));
    }
    let mut total = Samples::default();
    for t in tasks {
        let s = t.await.unwrap();
        total.otp.extend(s.otp);
        total.password.extend(s.password);
        total.page.extend(s.page);
        total.refused += s.refused;
        total.busy += s.busy;
        for (k, v) in s.reasons {
            *total.reasons.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    for (reason, n) in &total.reasons {
        eprintln!("{name}: refused {n}×: {reason}");
    }
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    server.abort();
    let n = logins.load(Ordering::Relaxed);
    let otp_p50 = percentile(&mut total.otp, 500);
    let otp_p99 = percentile(&mut total.otp, 990);
    let pw_p50 = percentile(&mut total.password, 500);
    let pw_p99 = percentile(&mut total.password, 990);
    let page_p99 = percentile(&mut total.page, 990);
    format!(
        "| {name} | {:.0} | {} | {} | {} | {} | {} | {:.2} | {} | {} |",
        n as f64 / elapsed,
        ms(otp_p50),
        ms(otp_p99),
        ms(pw_p50),
        ms(pw_p99),
        ms(page_p99),
        otp_p99.as_secs_f64() / page_p99.as_secs_f64().max(1e-9),
        total.busy,
        total.refused,
    )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let keyring =
        Keyring::parse("1:e6f1fd1ef0a902ab7ad3afbe7accb5eee7d724fd96e929be0ba064fa624a01bd")
            .unwrap();
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let (customers, desk) = open_sqlite(dir.path(), &keyring, bank_login::Migrations::Apply)
        .await
        .unwrap();
    let clock = Arc::new(FakeClock::at(T0));
    let bank = Bank::with_clock(customers, desk, clock.clone()).unwrap();
    rows.push(run("SQLite", bank, clock, seconds).await);

    let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let prefix = format!("load_{}", std::process::id());
    match open_postgres(&url, &prefix, &keyring, bank_login::Migrations::Apply).await {
        Ok((customers, desk)) => {
            let clock = Arc::new(FakeClock::at(T0));
            let bank = Bank::with_clock(customers, desk, clock.clone()).unwrap();
            rows.push(run("PostgreSQL", bank, clock, seconds).await);
            drop_schemas(&url, &prefix).await;
        }
        Err(e) => eprintln!("PostgreSQL skipped: no server at {url} ({e})"),
    }

    println!(
        "\n| store | OTP logins/s | OTP step p50 ms | OTP step p99 ms | password step p50 ms | password step p99 ms | login page p99 ms (baseline) | OTP p99 / baseline p99 | Busy | refused |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
}

async fn drop_schemas(url: &str, prefix: &str) {
    use sqlx::Connection as _;
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        for schema in [prefix.to_owned(), format!("{prefix}_desk")] {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&mut c)
                .await;
        }
    }
}

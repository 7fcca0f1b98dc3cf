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

use axum::body::Bytes;
use axum::http::{Request, header};
use bank_login::{Backend, Bank, WebOptions, open_postgres, open_sqlite};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lockstep::account::testing::FakeClock;
use lockstep::account::{Clock as _, Entry, Outcome, Password};
use lockstep::otp::{KeyUri, Totp};
use lockstep::seal::Keyring;

const CLIENTS: usize = 16;
const USERS_PER_CLIENT: usize = 4;
const PASSWORD: &str = "Load2026x";
const T0: u64 = 1_790_000_010;

type Http = Client<HttpConnector, Full<Bytes>>;

/// One browser stand-in: its cookies and the last page's CSRF token.
struct Session {
    http: Http,
    base: String,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

struct Answer {
    status: u16,
    location: String,
}

impl Session {
    async fn send(&mut self, request: Request<Full<Bytes>>) -> Answer {
        let response = self
            .http
            .request(request)
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        for c in response.headers().get_all(header::SET_COOKIE) {
            let text = c.to_str().unwrap_or("");
            if let Some((k, v)) = text.split(';').next().and_then(|p| p.split_once('=')) {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        let marker = "name=\"csrf\" value=\"";
        if let Some(start) = body.find(marker).map(|i| i + marker.len())
            && let Some(len) = body[start..].find('"')
        {
            self.csrf = body[start..start + len].to_owned();
        }
        Answer { status, location }
    }

    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = Request::get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie())
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(request).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("csrf", &self.csrf)
            .extend_pairs(fields)
            .finish();
        let request = Request::post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.send(request).await
    }
}

/// A user the load logs in: ID and soft token.
struct User {
    id: String,
    totp: Totp,
    last_step: u64,
}

/// Creates `n` users who have registered their token and set their password.
async fn users<S: Backend>(bank: &Bank<S>, clock: &FakeClock, n: usize) -> Vec<User> {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("load{i:04}");
        let auth = &bank.customers().auth;
        auth.create_account(
            "setup",
            &id,
            "負荷 太郎",
            "負荷試験株式会社",
            &Password::from("Temp2026a"),
        )
        .await
        .unwrap();
        let issued = bank.issue_token(false, "setup", &id).await.unwrap();
        let totp = KeyUri::parse(issued.uri.as_str())
            .unwrap()
            .to_totp()
            .unwrap();
        // Codes as the token shows them: `back` steps ago.
        let code = |back: u64| {
            totp.generate(clock.now() - 30 * back)
                .unwrap()
                .expose()
                .to_string()
        };
        let r = auth
            .login_password(&id, &Password::from("Temp2026a"), Entry::Enroll)
            .await
            .unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let r = auth
            .enroll(&id, &t, issued.credential_id.as_str(), &code(1), &code(0))
            .await
            .unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        clock.advance(30);
        let r = auth.submit_otp(&id, &t, &code(0)).await.unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let p = Password::from(PASSWORD);
        let r = auth.change_password(&id, &t, &p, &p).await.unwrap();
        assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
        out.push(User {
            id,
            totp,
            last_step: clock.now() / 30,
        });
    }
    out
}

#[derive(Default)]
struct Samples {
    otp: Vec<Duration>,
    password: Vec<Duration>,
    page: Vec<Duration>,
    refused: u64,
    reasons: BTreeMap<String, u64>,
}

fn percentile(v: &mut [Duration], p_per_mille: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    // The nearest rank: ceil(p · n), 1-based.
    let rank = (v.len() * p_per_mille).div_ceil(1000).max(1);
    v[rank.min(v.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn run<S: Backend>(name: &str, bank: Bank<S>, clock: Arc<FakeClock>, seconds: u64) -> String {
    eprintln!("{name}: creating {} users…", CLIENTS * USERS_PER_CLIENT);
    let mut all = users(&bank, &clock, CLIENTS * USERS_PER_CLIENT).await;
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
            let http: Http = Client::builder(TokioExecutor::new()).build_http();
            let mut s = Session {
                http,
                base,
                cookies: BTreeMap::new(),
                csrf: String::new(),
            };
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
        "| {name} | {:.0} | {} | {} | {} | {} | {} | {:.2} | {} |",
        n as f64 / elapsed,
        ms(otp_p50),
        ms(otp_p99),
        ms(pw_p50),
        ms(pw_p99),
        ms(page_p99),
        otp_p99.as_secs_f64() / page_p99.as_secs_f64().max(1e-9),
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
    let (customers, desk) = open_sqlite(dir.path(), &keyring).await.unwrap();
    let clock = Arc::new(FakeClock::at(T0));
    let bank = Bank::with_clock(customers, desk, clock.clone()).unwrap();
    rows.push(run("SQLite", bank, clock, seconds).await);

    let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let prefix = format!("load_{}", std::process::id());
    match open_postgres(&url, &prefix, &keyring).await {
        Ok((customers, desk)) => {
            let clock = Arc::new(FakeClock::at(T0));
            let bank = Bank::with_clock(customers, desk, clock.clone()).unwrap();
            rows.push(run("PostgreSQL", bank, clock, seconds).await);
            drop_schemas(&url, &prefix).await;
        }
        Err(e) => eprintln!("PostgreSQL skipped: no server at {url} ({e})"),
    }

    println!(
        "\n| store | OTP logins/s | OTP step p50 ms | OTP step p99 ms | password step p50 ms | password step p99 ms | login page p99 ms (baseline) | OTP p99 / baseline p99 | refused |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
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

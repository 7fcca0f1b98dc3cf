//! The durable stores under load, in one run:
//!
//! - `stores/otp-logins`: OTP-step logins per second through the
//!   `Authenticator` with 16 concurrent clients, on the in-memory store (the
//!   baseline), SQLite (a temporary file) and PostgreSQL (a fresh schema,
//!   when a server answers at `LOCKSTEP_TEST_POSTGRES_URL` or
//!   `postgres://postgres@127.0.0.1:5432/test`). The password steps are done
//!   beforehand each round, untimed (and with the test hasher), and a clock
//!   the bench moves gives every user a fresh code each round, so no code is
//!   a replay. A last, untimed round sends every user's code from two
//!   clients at once: exactly one may log in, and the bench counts any
//!   double accept.
//! - `seal/…`: one seal and one open of a token seed (AES-256-GCM), criterion.
//!
//! Run: `cargo bench --bench stores`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep_account::testing::FakeClock;
use lockstep_account::{
    AccountStore, Authenticator, Clock as _, Entry, LoginTicket, MemoryDirectory, MemoryStore,
    OsRandom, Outcome, TokenDirectory, TotpParams, provision,
};
use lockstep_otp::Totp;
use lockstep_password::{InsecureTestHasher, Password, PasswordHashing};
use lockstep_store_postgres::PostgresStore;
use lockstep_store_sqlite::SqliteStore;
use lockstep_store_sqlite::seal::{Keyring, StoreId};

const CLIENTS: usize = 16;
const USERS: usize = 128;
const ROUNDS: usize = 8;
const T0: u64 = 1_790_000_010;

fn keyring() -> Keyring {
    Keyring::parse(&format!(
        "1:{}",
        "150e98f5bd86a3726dafa0a6381cc5f7fac5e5f1f007f79f0e95cd28406e57bc"
    ))
    .unwrap()
}

struct User {
    id: String,
    totp: Totp,
}

struct Measured {
    logins: usize,
    seconds: f64,
    double_accepts: usize,
    refused: usize,
}

/// Registers `USERS` users (token inserted by `insert`), then runs the rounds.
async fn measure<S, D>(
    auth: Arc<Authenticator<S, D>>,
    clock: &FakeClock,
    insert: impl AsyncFn(&lockstep_account::Provisioned),
) -> Measured
where
    S: AccountStore + 'static,
    D: TokenDirectory + 'static,
{
    let pw = Password::from("Start2026a");
    let new = Password::from("Bench2026b");
    let mut users = Vec::new();
    for i in 0..USERS {
        let id = format!("u{i:04}");
        let mut random = [0_u8; 36];
        random[..8].copy_from_slice(&(i as u64).to_le_bytes());
        random[35] = 0xa5;
        let token = provision(&random, "Bench", TotpParams::DEFAULT).unwrap();
        insert(&token).await;
        let totp = Totp::new(&token.seed.secret, TotpParams::DEFAULT);
        let code = |back: u64| {
            totp.generate(clock.now() - 30 * back)
                .unwrap()
                .expose()
                .to_string()
        };
        auth.create_account("op", &id, "N", "C", &pw).await.unwrap();
        let r = auth.login_password(&id, &pw, Entry::Enroll).await.unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let r = auth
            .enroll(&id, &t, token.credential_id.as_str(), &code(1), &code(0))
            .await
            .unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        clock.advance(30);
        let r = auth.submit_otp(&id, &t, &code(0)).await.unwrap();
        let t = r.outcome.ticket().unwrap().clone();
        let r = auth.change_password(&id, &t, &new, &new).await.unwrap();
        assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
        users.push(User { id, totp });
    }
    let users = Arc::new(users);
    let mut total = Measured {
        logins: 0,
        seconds: 0.0,
        double_accepts: 0,
        refused: 0,
    };
    // The timed rounds send each code once; a last, untimed round sends
    // every code from two clients at once and counts double accepts.
    for round in 0..=ROUNDS {
        let race = round == ROUNDS;
        clock.advance(30);
        // The password steps, untimed.
        let mut tickets: Vec<LoginTicket> = Vec::new();
        for u in users.iter() {
            let r = auth
                .login_password(&u.id, &new, Entry::Login)
                .await
                .unwrap();
            tickets.push(r.outcome.ticket().unwrap().clone());
        }
        let tickets = Arc::new(tickets);
        let now = clock.now();
        // The OTP steps: client c takes the users i with i % 16 == c, and
        // also those of client c + 1, so every code arrives twice at once.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (auth, users, tickets) =
                (Arc::clone(&auth), Arc::clone(&users), Arc::clone(&tickets));
            tasks.push(tokio::spawn(async move {
                let mut accepted = Vec::new();
                let mine = (0..USERS)
                    .filter(|i| i % CLIENTS == c || race && i % CLIENTS == (c + 1) % CLIENTS);
                for i in mine {
                    let u = &users[i];
                    let code = u.totp.generate(now).unwrap().expose().to_string();
                    let r = auth
                        .submit_otp(&u.id, &tickets[i], code.as_str())
                        .await
                        .unwrap();
                    accepted.push((i, matches!(r.outcome, Outcome::LoggedIn(_))));
                }
                accepted
            }));
        }
        let mut per_user = vec![0_usize; USERS];
        for t in tasks {
            for (i, ok) in t.await.unwrap() {
                per_user[i] += usize::from(ok);
            }
        }
        if race {
            total.double_accepts += per_user.iter().filter(|&&n| n > 1).count();
        } else {
            total.seconds += started.elapsed().as_secs_f64();
            total.logins += per_user.iter().sum::<usize>();
        }
        total.refused += per_user.iter().filter(|&&n| n == 0).count();
    }
    total
}

fn builder<S: AccountStore, D: TokenDirectory>(
    store: S,
    directory: D,
    clock: &FakeClock,
) -> Arc<Authenticator<S, D>> {
    Arc::new(
        Authenticator::builder(store, directory)
            .hasher(Arc::new(InsecureTestHasher::new()) as Arc<dyn PasswordHashing>)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
}

fn otp_logins(_: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows: Vec<(&str, Measured)> = Vec::new();
    rt.block_on(async {
        let clock = FakeClock::at(T0);
        let directory = Arc::new(MemoryDirectory::new());
        let auth = builder(MemoryStore::new(), Arc::clone(&directory), &clock);
        let m = measure(auth, &clock, async |t| {
            directory.put(t.credential_id, t.seed.clone()).unwrap();
        })
        .await;
        rows.push(("memory", m));

        let dir = std::env::temp_dir().join(format!("lockstep-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(
            SqliteStore::connect(dir.join("bench.sqlite"), keyring())
                .await
                .unwrap(),
        );
        store.migrate().await.unwrap();
        let clock = FakeClock::at(T0);
        let auth = builder(Arc::clone(&store), Arc::clone(&store), &clock);
        let m = measure(auth, &clock, async |t| {
            store
                .insert(&t.credential_id, &t.seed, &OsRandom)
                .await
                .unwrap();
        })
        .await;
        rows.push(("SQLite", m));
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);

        let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("bench_{}", std::process::id());
        match PostgresStore::connect_schema(&url, &schema, keyring()).await {
            Ok(store) => {
                let store = Arc::new(store);
                store.migrate().await.unwrap();
                let clock = FakeClock::at(T0);
                let auth = builder(Arc::clone(&store), Arc::clone(&store), &clock);
                let m = measure(auth, &clock, async |t| {
                    store
                        .insert(&t.credential_id, &t.seed, &OsRandom)
                        .await
                        .unwrap();
                })
                .await;
                rows.push(("PostgreSQL", m));
                store.close().await;
                drop_schema(&url, &schema).await;
            }
            Err(e) => println!("PostgreSQL skipped: no server at {url} ({e})"),
        }
    });
    let base = rows
        .first()
        .map_or(1.0, |(_, m)| m.logins as f64 / m.seconds);
    println!(
        "\nstores: OTP-step logins/s, {CLIENTS} concurrent clients; double accepts in a race round ({USERS} codes sent twice at once)"
    );
    println!("| store | OTP logins/s | ratio to memory | logins | double accepts | no login |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, m) in &rows {
        let rate = m.logins as f64 / m.seconds;
        println!(
            "| {name} | {rate:.0} | {:.3} | {} | {} | {} |",
            rate / base,
            m.logins,
            m.double_accepts,
            m.refused
        );
    }
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection as _;
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&mut c)
            .await;
    }
}

fn seal(c: &mut Criterion) {
    let ring = keyring();
    let store = StoreId::new("0123456789abcdef0123456789abcdef".into());
    let token = provision(&[9; 36], "Bench", TotpParams::DEFAULT).unwrap();
    let sealed = ring
        .seal(&store, &token.credential_id, &token.seed, &OsRandom)
        .unwrap();
    let mut g = c.benchmark_group("seal");
    g.bench_function("seal one seed", |b| {
        b.iter(|| {
            ring.seal(
                &store,
                black_box(&token.credential_id),
                black_box(&token.seed),
                &OsRandom,
            )
        })
    });
    g.bench_function("open one seed", |b| {
        b.iter(|| {
            ring.open(
                &store,
                black_box(&token.credential_id),
                token.seed.kind,
                black_box(&sealed),
            )
        })
    });
    g.measurement_time(Duration::from_secs(3));
    g.finish();
}

criterion_group!(benches, seal, otp_logins);
criterion_main!(benches);

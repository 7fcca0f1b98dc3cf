//! The desk's 不審なアクセス query (`AuditLog::suspicious`) with one
//! million audit events in the store, on SQLite (a temporary file) and
//! PostgreSQL (a fresh schema, when a server answers at
//! `LOCKSTEP_TEST_POSTGRES_URL` or `postgres://postgres@127.0.0.1:5432/test`).
//!
//! The events span 23 days (one every two seconds): a fifth are failed
//! password steps (wrong passwords and unknown IDs) from 1,400 addresses
//! over 50,000 user IDs, the rest logins, OTP steps and locks. The screen's
//! windows are timed — the last hour (1,800 events), day (43,200) and week
//! (302,400, of them 60,480 failures) — against the baseline of the same
//! run: one page of one user's audit log, the desk console's query. The
//! issue's bound is 50 ms for the screen.
//!
//! Run: `cargo bench --bench suspicious`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lockstep_account::{AuditLog, Cursor};
use lockstep_store_postgres::PostgresStore;
use lockstep_store_sqlite::SqliteStore;
use lockstep_store_sqlite::seal::Keyring;

const EVENTS: i64 = 1_000_000;
const T0: i64 = 1_790_000_000;
const END: u64 = (T0 + 2 * EVENTS) as u64;

const WINDOWS: [(&str, u64); 3] = [("1h", 3_600), ("24h", 86_400), ("7d", 7 * 86_400)];

fn keyring() -> Keyring {
    Keyring::parse("1:150e98f5bd86a3726dafa0a6381cc5f7fac5e5f1f007f79f0e95cd28406e57bc").unwrap()
}

/// The rows, as one `SELECT` over `n` (1 to [`EVENTS`]) in either SQL.
fn rows(n: &str) -> String {
    format!(
        "SELECT {n}, 'user' || ({n} % 50000), {T0} + 2 * {n}, NULL, \
         '10.' || ({n} % 200) || '.' || ({n} % 7) || '.1', \
         CASE {n} % 10 \
           WHEN 0 THEN '{{\"PasswordFailed\":{{\"failures\":1}}}}' \
           WHEN 1 THEN '\"UnknownUser\"' \
           WHEN 2 THEN '\"PasswordAccepted\"' \
           WHEN 3 THEN '{{\"PasswordAttempt\":{{\"failures\":1}}}}' \
           WHEN 4 THEN '\"AttemptNoted\"' \
           WHEN 5 THEN CASE WHEN {n} % 1000 = 5 THEN '{{\"Locked\":{{\"factor\":\"Password\"}}}}' \
                       ELSE '\"LoggedIn\"' END \
           ELSE '{{\"OtpAccepted\":{{\"step\":1,\"drift\":0}}}}' END, \
         NULL"
    )
}

const COLUMNS: &str = "INSERT INTO events (id, user_id, at, operator_id, client, kind, link) ";

async fn sqlite(dir: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::connect(dir.join("million.sqlite"), keyring())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let fill = format!(
        "{COLUMNS} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {EVENTS}) {} FROM n",
        rows("i")
    );
    sqlx::raw_sql(&fill).execute(store.pool()).await.unwrap();
    sqlx::raw_sql("ANALYZE")
        .execute(store.pool())
        .await
        .unwrap();
    store
}

async fn postgres() -> Option<(PostgresStore, sqlx::PgPool, String)> {
    let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
        .ok()?;
    let schema = format!("bench_suspicious_{}", std::process::id());
    let store = PostgresStore::connect_schema(&url, &schema, keyring())
        .await
        .ok()?;
    store.migrate().await.unwrap();
    let fill = format!(
        "{COLUMNS} {} FROM generate_series(1, {EVENTS}) AS i",
        rows("i")
    );
    sqlx::raw_sql(&fill).execute(store.pool()).await.unwrap();
    sqlx::raw_sql("ANALYZE events")
        .execute(store.pool())
        .await
        .unwrap();
    Some((store, admin, schema))
}

fn screen<S: AuditLog>(c: &mut Criterion, name: &str, rt: &tokio::runtime::Runtime, store: &S) {
    let mut group = c.benchmark_group(format!("suspicious/{name}"));
    group.sample_size(20);
    group.bench_function("baseline: one user's audit page", |b| {
        b.iter(|| {
            rt.block_on(store.events("user4242", Cursor::Newest, 30))
                .unwrap()
        });
    });
    for (label, seconds) in WINDOWS {
        let seen = rt
            .block_on(store.suspicious(END - seconds, END + 1, 50))
            .unwrap();
        println!(
            "{name} {label}: {} failures, {} unknown IDs, {} locks, {} clients listed{}",
            seen.failures,
            seen.unknown_ids,
            seen.locks_set,
            seen.clients.len(),
            if seen.truncated { " (truncated)" } else { "" }
        );
        group.bench_with_input(BenchmarkId::new("screen", label), &seconds, |b, s| {
            b.iter(|| rt.block_on(store.suspicious(END - s, END + 1, 50)).unwrap());
        });
    }
    group.finish();
}

fn suspicious(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile_dir();
    let store = rt.block_on(sqlite(&dir));
    screen(c, "sqlite", &rt, &store);
    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
    match rt.block_on(postgres()) {
        Some((store, admin, schema)) => {
            screen(c, "postgres", &rt, &store);
            rt.block_on(store.close());
            rt.block_on(async {
                let _ = sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin)
                    .await;
            });
        }
        None => println!("suspicious/postgres: skipped, no PostgreSQL answers"),
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("lockstep-bench-suspicious-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

criterion_group!(benches, suspicious);
criterion_main!(benches);

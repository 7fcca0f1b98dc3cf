//! Sessions on the accounts' databases: on PostgreSQL two replicas share
//! them (a login started on one finishes on the other); on SQLite they
//! survive a restart. The PostgreSQL test skips, saying why, when no
//! server answers.
#![cfg(all(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::{Browser, World};
use lockstep_axum::{CsrfKey, Limits, Login, PlainPages};

fn replica<St: tower_sessions::SessionStore + Clone>(w: &World, sessions: St) -> Router {
    Login::new(Arc::clone(&w.auth) as _, PlainPages)
        .local_http()
        .limits(Limits::unlimited())
        .csrf_key(CsrfKey::from_bytes([7; 32]))
        .router(Router::new().route("/home", get(common::home)), sessions)
        .unwrap()
}

async fn password_then_code(
    w: &World,
    first: &mut Browser,
    second: Router,
    totp: &lockstep_otp::Totp,
) {
    first.get("/").await;
    let page = first
        .post("/login", &[("user_id", "alice"), ("password", "Alice123")])
        .await;
    assert_eq!(page.location(), Some("/otp"), "{}", page.body);
    // The next request lands on the other replica (or the restarted one).
    first.router = second;
    let page = first.get("/otp").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let code = w.fx.code(totp, 0);
    let page = first.post("/otp", &[("otp", &code)]).await;
    assert_eq!(page.location(), Some("/home"), "{}", page.body);
    assert_eq!(first.get("/home").await.status, StatusCode::OK);
}

#[tokio::test]
async fn two_replicas_on_postgresql_share_sessions() {
    let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let connect = || async {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
    };
    let (a, b) = match (connect().await, connect().await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("skipped: no PostgreSQL answers at {url} ({e})");
            return;
        }
    };
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let one = replica(
        &w,
        lockstep_axum::sessions::postgres(a, Duration::from_secs(60))
            .await
            .unwrap(),
    );
    let two = replica(
        &w,
        lockstep_axum::sessions::postgres(b, Duration::from_secs(60))
            .await
            .unwrap(),
    );
    let mut browser = w.browser();
    browser.router = one.clone();
    password_then_code(&w, &mut browser, two, &totp).await;
    browser.router = one;
    assert_eq!(
        browser.get("/home").await.status,
        StatusCode::OK,
        "and back"
    );
    // The gauge's count sees it (the table is every test's: at least it).
    let pool = connect().await.unwrap();
    assert!(
        lockstep_axum::sessions::open_in_postgres(&pool)
            .await
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn sessions_on_sqlite_survive_a_restart() {
    let mut name = [0_u8; 8];
    getrandom::fill(&mut name).unwrap();
    let path = std::env::temp_dir().join(format!("lockstep-axum-{}.db", u64::from_le_bytes(name)));
    let open = || async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .unwrap();
        let sessions = lockstep_axum::sessions::sqlite(pool.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        (pool, sessions)
    };
    let w = World::new();
    let (_, totp) = w.fx.ready("alice", 1, "Alice123").await;
    let (pool, sessions) = open().await;
    let before = replica(&w, sessions);
    let mut browser = w.browser();
    browser.router = before;
    let after = replica(&w, open().await.1);
    password_then_code(&w, &mut browser, after, &totp).await;
    // The gauge's count: the one logged-in session (the anonymous pages
    // stored none); expired, none.
    let open_now = || lockstep_axum::sessions::open_in_sqlite(&pool);
    assert_eq!(open_now().await.unwrap(), 1);
    let an_hour_ago = tower_sessions::cookie::time::OffsetDateTime::now_utc()
        - tower_sessions::cookie::time::Duration::hours(1);
    sqlx::query("UPDATE tower_sessions SET expiry_date = ?")
        .bind(an_hour_ago)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        open_now().await.unwrap(),
        0,
        "an expired session is not open"
    );
    let _ = std::fs::remove_file(&path);
}

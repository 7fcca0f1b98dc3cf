//! Two bank-login processes on one PostgreSQL database, behind no proxy,
//! share accounts and sessions: a customer's first login hops between them
//! at every step (password on one, registration on the other, …) and ends
//! logged in on both. Skips, saying why, when no PostgreSQL answers.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::remote::Browser;

const BIN: &str = env!("CARGO_BIN_EXE_bank-login");

fn url() -> String {
    std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts bank-login on a port of the system's choosing, waits until it
/// serves, and says which port.
fn start(schema: &str, data: &Path, keys: &Path, demo: bool) -> (Process, u16) {
    let mut command = Command::new(BIN);
    command
        .args(["--database-url", &url(), "--schema", schema, "--local-http"])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--data-dir", data.to_str().unwrap()])
        .args(["--key-file", keys.to_str().unwrap()])
        .env_remove("LOCKSTEP_KEYS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if !demo {
        command.arg("--no-demo");
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut printed = String::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            printed.push_str(&line);
            printed.push('\n');
            if line.starts_with("desk:") {
                return (process, common::remote::port_in(&printed, "customers:"));
            }
        }
    }
    panic!("bank-login did not start: {printed}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgresql_share_a_login_step_by_step() {
    let admin = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url())
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            println!("skipped: no PostgreSQL answers at {} ({e})", url());
            return;
        }
    };
    // Named by process and time: a failed run leaves its schemas behind,
    // and a later run with the same process ID must not find its customer.
    let schema = format!(
        "bank_replicas_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let temp = tempfile::tempdir().unwrap();
    let keys = temp.path().join("keys");
    std::fs::write(
        &keys,
        "1:8c3e5a7f9b1d2c4e6a8f0b2d4c6e8a1f3b5d7c9e1a3f5b7d9c1e3a5f7b9d1c3e\n",
    )
    .unwrap();
    std::fs::set_permissions(&keys, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let (a_dir, b_dir) = (temp.path().join("a"), temp.path().join("b"));
    let (first, a) = start(&schema, &a_dir, &keys, true);
    let (second, b) = start(&schema, &b_dir, &keys, false);
    // The demo customer the first process made.
    let credentials = std::fs::read_dir(&a_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("first-start-credentials"))
        })
        .unwrap();
    let written = std::fs::read_to_string(credentials).unwrap();
    let field = |name: &str| {
        written
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap()
    };
    let temporary = field("temporary password:");
    let token_id = field("token ID to register:");
    let soft_token = field("soft token:");
    let uri_file = soft_token.split("--uri-file ").nth(1).unwrap().trim();
    let uri = std::fs::read_to_string(uri_file).unwrap();
    let totp = lockstep::otp::KeyUri::parse(uri.trim())
        .unwrap()
        .to_totp()
        .unwrap();
    let code = |t: u64| totp.generate(t).unwrap().expose().to_string();

    let mut c = Browser::new();
    // The password on the first process…
    c.get(a, "/").await;
    let p = c
        .post(
            a,
            "/login",
            &[
                ("user_id", "taro01"),
                ("password", &temporary),
                ("entry", "enroll"),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/enroll"),
        "{}",
        p.body
    );
    // …registration on the second…
    let p = c.get(b, "/enroll").await;
    assert_eq!(
        p.status, 200,
        "the second process knows the login: {}",
        p.body
    );
    let t = now();
    let p = c
        .post(
            b,
            "/enroll",
            &[
                ("token_id", &token_id),
                ("otp1", &code(t - 30)),
                ("otp2", &code(t)),
            ],
        )
        .await;
    assert_eq!(p.location, "/otp", "{}", p.body);
    // …the code on the first, once a fresh one shows…
    let p = c.get(a, "/otp").await;
    assert!(p.body.contains(&token_id), "{}", p.body);
    let next = (t / 30 + 1) * 30;
    tokio::time::sleep(Duration::from_secs(next.saturating_sub(now()) + 1)).await;
    let p = c.post(a, "/otp", &[("otp", &code(now()))]).await;
    assert_eq!(p.location, "/change", "{}", p.body);
    // …the change on the second, and logged in on both.
    c.get(b, "/change").await;
    let p = c
        .post(
            b,
            "/change",
            &[("new", "Replica2027x"), ("confirm", "Replica2027x")],
        )
        .await;
    assert_eq!(p.location, "/home", "{}", p.body);
    for port in [a, b] {
        let p = c.get(port, "/home").await;
        assert_eq!(p.status, 200, "{port}: {}", p.body);
        assert!(p.body.contains("山田太郎"), "{}", p.body);
    }
    drop((first, second));
    for s in [schema.clone(), format!("{schema}_desk")] {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"))
            .execute(&admin)
            .await;
    }
}

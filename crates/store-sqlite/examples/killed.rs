//! A process killed with SIGKILL at random moments while it floods password
//! steps — wrong passwords on a known, a locked and unknown user IDs, and
//! the right one — on an SQLite file, again and again; then the file is
//! checked: every attempt the store counts has its audit event (a crash
//! leaves an attempt without an outcome, never a count without its event).
//!
//! ```text
//! cargo run --release -p lockstep-store-sqlite --example killed -- run /tmp/killed.db 6
//! ```
//!
//! `run FILE N` kills a flooding child N times at random moments and checks
//! after each restart; `flood FILE` and `check FILE` are its two halves.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lockstep_account::{Authenticator, Config, Entry, MemoryDirectory, OsRandom, Password, Random};
use lockstep_store_sqlite::SqliteStore;
use lockstep_store_sqlite::seal::{KeyId, Keyring, SealingKey};
use lockstep_store_tests::assert_counts_match_events;

const USERS: [&str; 3] = ["known", "locked", "right"];
const RIGHT: &str = "Right123";

async fn open(path: &str) -> Arc<SqliteStore> {
    let keys = Keyring::new(SealingKey::new(KeyId(1), [7; 32]));
    let store = SqliteStore::connect(path, keys).await.unwrap();
    store.migrate().await.unwrap();
    Arc::new(store)
}

fn auth(store: &Arc<SqliteStore>) -> Authenticator<Arc<SqliteStore>, MemoryDirectory> {
    Authenticator::builder(Arc::clone(store), MemoryDirectory::new())
        .hasher(Arc::new(lockstep_password::InsecureTestHasher::new()))
        .build()
        .unwrap()
}

async fn flood(path: &str) {
    let store = open(path).await;
    let auth = Arc::new(auth(&store));
    for user in USERS {
        let _ = auth
            .create_account("op", user, "N", "C", &Password::from(RIGHT))
            .await;
    }
    let tasks: Vec<_> = (0..8)
        .map(|client| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move {
                for n in 0_u64.. {
                    let (user, pw) = match (client + n) % 5 {
                        0 => ("known", "Wrong999"),
                        1 => ("locked", "Wrong999"),
                        2 => ("right", RIGHT),
                        _ => ("nobody", "Wrong999"),
                    };
                    let _ = auth
                        .login_password(user, &Password::from(pw), Entry::Login)
                        .await;
                    if user == "known" && n % 7 == 0 {
                        let _ = auth
                            .operator(
                                "op",
                                "known",
                                lockstep_account::OperatorAction::UnlockPassword,
                            )
                            .await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn check(path: &str) {
    let store = open(path).await;
    let config = Config::default();
    for user in USERS.iter().chain(&["nobody"]) {
        assert_counts_match_events(&*store, user, &config).await;
        let attempts = lockstep_account::AuditLog::attempts(&*store, user)
            .await
            .unwrap();
        println!(
            "  {user:<7} attempts noted {:>5}: every one with its event",
            attempts.count
        );
    }
}

fn run(path: &str, kills: u32) {
    let me = std::env::current_exe().unwrap();
    let mut random = [0_u8; 8];
    for round in 1..=kills {
        let mut child = std::process::Command::new(&me)
            .args(["flood", path])
            .spawn()
            .unwrap();
        OsRandom.fill(&mut random).unwrap();
        let wait = 300 + u64::from_le_bytes(random) % 1700;
        std::thread::sleep(Duration::from_millis(wait));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no rollback
        child.wait().unwrap();
        println!("kill {round}/{kills} after {wait} ms; checking");
        let status = std::process::Command::new(&me)
            .args(["check", path])
            .status()
            .unwrap();
        assert!(status.success(), "the check failed after kill {round}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.get(1..).unwrap_or_default() {
        [cmd, path] if cmd == "flood" => runtime.block_on(flood(path)),
        [cmd, path] if cmd == "check" => runtime.block_on(check(path)),
        [cmd, path, n] if cmd == "run" => run(path, n.parse().unwrap()),
        _ => eprintln!("usage: killed run FILE KILLS | flood FILE | check FILE"),
    }
}

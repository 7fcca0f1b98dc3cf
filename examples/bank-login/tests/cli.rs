//! The command line, run as a customer runs it: the first start writes the
//! demo credentials to a file only its owner can read and prints only its
//! path; the desk's commands create and unlock operators (with
//! `--no-demo` too); keys that are no secret are refused, and a key file
//! others can read is named in a warning; the data files are private.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use lockstep::account::{AccountStore as _, Entry, EventKind, Password};

const BIN: &str = env!("CARGO_BIN_EXE_bank-login");

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The files in `dir` whose names start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    found.sort();
    found
}

/// The service running in a data directory, its standard output read a
/// line at a time; killed when dropped.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    /// Starts `bank-login --data-dir dir args…` with `RUST_LOG=log`.
    fn start(dir: &Path, args: &[&str], log: &str) -> Self {
        let mut child = Command::new(BIN)
            .args(["--data-dir", dir.to_str().unwrap()])
            .args(args)
            .env_remove("LOCKSTEP_KEYS")
            .env("RUST_LOG", log)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// What it printed up to the first line holding `what`; panics, with
    /// what it printed, after two minutes or when its output ends.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = String::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains(what) {
                        return seen;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no {what:?} in: {seen}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the service on a free port in `dir`, waits until it serves, and
/// stops it: what it printed.
fn start_and_stop(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Running::start(dir, &args, "warn").wait_for("desk:")
}

fn run(dir: &Path, args: &[&str], keys: Option<&str>) -> std::process::Output {
    let mut command = Command::new(BIN);
    command
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(args)
        .env("RUST_LOG", "warn");
    match keys {
        Some(k) => command.env("LOCKSTEP_KEYS", k),
        None => command.env_remove("LOCKSTEP_KEYS"),
    };
    command.output().unwrap()
}

#[test]
fn the_first_start_writes_the_demo_credentials_to_a_private_file_and_prints_its_path() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let dir = data.as_path();
    let printed = start_and_stop(dir, &[]);
    let files = named(dir, "first-start-credentials");
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].clone();
    assert!(printed.contains(file.to_str().unwrap()), "{printed}");
    assert!(printed.contains("only on this first"), "{printed}");
    assert_eq!(mode(&file), 0o600);
    let written = std::fs::read_to_string(&file).unwrap();
    let temporary: Vec<&str> = written
        .lines()
        .filter_map(|l| l.trim().strip_prefix("temporary password:"))
        .map(str::trim)
        .collect();
    assert_eq!(temporary.len(), 2, "{written}");
    for secret in temporary.iter().chain(&["otpauth://"]) {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    // Each soft token's URI is in a file of its own (out of command lines),
    // private too, and the credentials say how to show it.
    let uris = named(dir, "token-");
    assert_eq!(uris.len(), 2, "{uris:?}");
    for uri in &uris {
        assert_eq!(mode(uri), 0o600);
        assert!(
            std::fs::read_to_string(uri)
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        assert!(
            written.contains(&format!("--uri-file {}", uri.display())),
            "{written}"
        );
    }
    assert!(
        !written.contains("otpauth://"),
        "no URI in the credentials file"
    );
    // The data files are their owner's only.
    for name in ["customers.sqlite", "desk.sqlite", "sealing.keys"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(dir) & 0o077, 0, "the data directory");
    // A second start makes and writes nothing.
    let before = std::fs::read_to_string(&file).unwrap();
    let printed = start_and_stop(dir, &[]);
    assert!(!printed.contains("first start"), "{printed}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    assert_eq!(named(dir, "first-start-credentials").len(), 1);
    // issue-token: for a user who exists, its URI to a private file and
    // only the file's path printed; for one who does not, an error.
    let out = run(dir, &["issue-token", "--for-user", "nobody"], None);
    assert!(!out.status.success());
    let out = run(dir, &["issue-token", "--for-user", "taro01"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("otpauth://"), "{printed}");
    assert!(printed.contains("--uri-file"), "{printed}");
    assert_eq!(named(dir, "token-").len(), 3);
    let out = run(dir, &["issue-token"], None);
    assert!(!out.status.success(), "--for-user is required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_commands_create_and_unlock_operators_without_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "--no-demo",
            "desk",
            "create-operator",
            "--user-id",
            "op02",
            "--name",
            "鈴木一郎",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let file = dir.path().join("operator-op02-credentials.txt");
    // The names the audit log gives the first start and the command line
    // are not user IDs.
    for reserved in ["setup", "command-line"] {
        let out = run(
            dir.path(),
            &[
                "--no-demo",
                "desk",
                "create-operator",
                "--user-id",
                reserved,
                "--name",
                "x",
            ],
            None,
        );
        assert!(!out.status.success(), "{reserved}");
    }
    assert!(printed.contains(file.to_str().unwrap()), "{printed}");
    assert_eq!(mode(&file), 0o600);
    let written = std::fs::read_to_string(&file).unwrap();
    let temporary = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("temporary password:"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(!printed.contains(&temporary));
    // A bad user ID is refused, and nothing is made.
    let out = run(
        dir.path(),
        &[
            "desk",
            "create-operator",
            "--user-id",
            "bad id",
            "--name",
            "x",
        ],
        None,
    );
    assert!(!out.status.success());
    // Five anonymous wrong guesses lock the operator…
    {
        let keyring = lockstep::seal::Keyring::from_file(&dir.path().join("sealing.keys")).unwrap();
        let (customers, desk) =
            bank_login::open_sqlite(dir.path(), &keyring, bank_login::Migrations::Apply)
                .await
                .unwrap();
        let bank = bank_login::Bank::new(customers, desk).unwrap();
        for _ in 0..5 {
            bank.desk()
                .auth
                .login_password("op02", &Password::from("Guess1234"), Entry::Enroll)
                .await
                .unwrap();
        }
        let op = bank.desk().store.load("op02").await.unwrap().unwrap();
        assert!(op.password.failures.locked, "locked by the guesses");
        let r = bank
            .desk()
            .auth
            .login_password("op02", &Password::from(temporary.as_str()), Entry::Enroll)
            .await
            .unwrap();
        assert!(
            r.refusal().is_some(),
            "the right password is refused while locked"
        );
    }
    // …and the command line unlocks it (no operator needed).
    let out = run(dir.path(), &["--no-demo", "desk", "unlock", "op02"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keyring = lockstep::seal::Keyring::from_file(&dir.path().join("sealing.keys")).unwrap();
    let (customers, desk) =
        bank_login::open_sqlite(dir.path(), &keyring, bank_login::Migrations::Apply)
            .await
            .unwrap();
    let bank = bank_login::Bank::new(customers, desk).unwrap();
    let r = bank
        .desk()
        .auth
        .login_password("op02", &Password::from(temporary.as_str()), Entry::Enroll)
        .await
        .unwrap();
    assert!(r.refusal().is_none(), "{r:?}");
    // An unknown operator is an error, not a silent success.
    let out = run(dir.path(), &["desk", "unlock", "nobody"], None);
    assert!(!out.status.success());
}

#[test]
fn keys_that_are_no_secret_are_refused_and_shared_key_files_named() {
    let dir = tempfile::tempdir().unwrap();
    // With PostgreSQL no demo key is made up: every process needs the same.
    let out = run(
        dir.path(),
        &[
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
            "rotate-keys",
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("give the sealing keys"), "{stderr}");
    // A key file that is not there is named.
    let out = run(
        dir.path(),
        &["--key-file", "/nonexistent/keys", "rotate-keys"],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/keys"));
    for weak in [
        format!("1:{}", "00".repeat(32)),
        format!("1:{}", "7f".repeat(32)),
        format!("1:{}", "0123456789abcdef".repeat(4)),
    ] {
        let out = run(dir.path(), &["rotate-keys"], Some(&weak));
        assert!(!out.status.success(), "{weak}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("repeated pattern"), "{stderr}");
    }
    // A key file the group can read: a warning naming it and the fix.
    let keys = dir.path().join("shared.keys");
    std::fs::write(
        &keys,
        "1:4b2f9a7c1e8d3f6a0b5c9e2d7f1a4c8e3b6d9f2a5c8e1b4d7f0a3c6e9b2d5f8a\n",
    )
    .unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(
        dir.path(),
        &[
            "--key-file",
            keys.to_str().unwrap(),
            "--no-demo",
            "rotate-keys",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("can be read by others") && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// SIGTERM stops accepting, lets the login in flight finish (its answer
/// reaches the customer, its audit event is in the log), closes the stores
/// and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_login_in_flight_finish_then_exits_0() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let mut service = Running::start(
        &dir,
        &["--local-http", "--listen", "127.0.0.1:0"],
        "warn,lockstep_axum=debug",
    );
    let port = common::remote::port_in(&service.wait_for("desk:"), "customers:");
    let file = named(&dir, "first-start-credentials")[0].clone();
    let written = std::fs::read_to_string(file).unwrap();
    let temporary = written
        .lines()
        .find_map(|l| l.trim().strip_prefix("temporary password:"))
        .unwrap()
        .trim()
        .to_owned();
    let mut c = common::remote::Browser::new();
    c.get(port, "/").await;
    let login = tokio::spawn(async move {
        c.post(
            port,
            "/login",
            &[
                ("user_id", "taro01"),
                ("password", &temporary),
                ("entry", "enroll"),
            ],
        )
        .await
    });
    // The step has begun in the service (it hashes now): SIGTERM.
    service.wait_for("password step: begun");
    let killed = Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let page = login.await.unwrap();
    assert_eq!(
        (page.status, page.location.as_str()),
        (303, "/enroll"),
        "{}",
        page.body
    );
    let rest = service.wait_for("stopped");
    let status = service.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    // The step's audit events are in the log.
    let keyring = lockstep::seal::Keyring::from_file(&dir.join("sealing.keys")).unwrap();
    let (customers, _desk) = bank_login::open_sqlite(&dir, &keyring, bank_login::Migrations::Apply)
        .await
        .unwrap();
    let events = lockstep_store_tests::all_events(&customers, "taro01").await;
    assert!(
        events.iter().any(|e| e.kind == EventKind::PasswordAccepted),
        "{events:?}"
    );
}

/// `--metrics-listen`: the Prometheus page on its own port, parsed as
/// Prometheus parses it, every counter there from the start; none on the
/// customers' port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_page_is_on_its_own_listener() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let service = Running::start(
        &dir,
        &[
            "--local-http",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        "warn",
    );
    let printed = service.wait_for("desk:");
    let port = common::remote::port_in(&printed, "customers:");
    let metrics = common::remote::port_in(&printed, "metrics:");
    assert_ne!(port, metrics, "{printed}");
    let mut c = common::remote::Browser::new();
    c.get(port, "/").await;
    c.post(
        port,
        "/login",
        &[
            ("user_id", "nobody99"),
            ("password", "Wrong1234"),
            ("entry", "login"),
        ],
    )
    .await;
    let page = c.get(metrics, "/metrics").await;
    let elsewhere = c.get(port, "/metrics").await;
    drop(service);
    assert!(
        printed.contains(&format!("metrics:   http://127.0.0.1:{metrics}/metrics\n")),
        "{printed}"
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(elsewhere.status, 404, "no /metrics on the customers' port");
    let parsed =
        prometheus_parse::Scrape::parse(page.body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sample = |name: &str, label: Option<(&str, &str)>| {
        parsed
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                _ => f64::NAN,
            })
    };
    assert_eq!(
        sample(
            "lockstep_password_steps_total",
            Some(("outcome", "unknown_user"))
        ),
        Some(1.0)
    );
    for (name, label) in [
        ("lockstep_locks_set_total", Some(("factor", "password"))),
        ("lockstep_locks_cleared_total", Some(("factor", "otp"))),
        ("lockstep_busy_total", None),
        ("lockstep_spray_flagged_total", None),
    ] {
        assert_eq!(sample(name, label), Some(0.0), "{name} from the start");
    }
}

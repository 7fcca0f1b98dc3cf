//! The audit chain's command line, as an operator runs it, on SQLite and
//! on PostgreSQL (skipped, saying why, when no server answers): an
//! untouched log verifies; an insert, a delete and an edit made with
//! `sqlite3` / `psql` are each found at their row; an export verifies on
//! its own and a changed line of it does not; a signed head catches a
//! rewrite of the whole chain that the links alone cannot.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use lockstep::chain::{ChainRow, GENESIS};

const BIN: &str = env!("CARGO_BIN_EXE_bank-login");

/// Where the desk's store is, and how SQL reaches it behind the service's
/// back.
enum Db {
    Sqlite,
    Postgres { url: String, schema: String },
}

impl Db {
    fn args(&self) -> Vec<String> {
        match self {
            Self::Sqlite => Vec::new(),
            Self::Postgres { url, schema } => vec![
                "--database-url".into(),
                url.clone(),
                "--schema".into(),
                schema.clone(),
            ],
        }
    }

    /// Runs `sql` on the desk's store with the database's own client; its
    /// output, `|`-separated.
    fn sql(&self, dir: &Path, sql: &str) -> String {
        let out = match self {
            Self::Sqlite => Command::new("sqlite3")
                .arg(dir.join("desk.sqlite"))
                .arg(sql)
                .output()
                .unwrap(),
            Self::Postgres { url, schema } => Command::new("psql")
                .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-qAt", "-c"])
                .arg(format!("SET search_path = {schema}_desk; {sql}"))
                .output()
                .unwrap(),
        };
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn run(dir: &Path, db: &Db, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap(), "--no-demo"])
        .args(["--key-file", dir.join("keys").to_str().unwrap()])
        .args(db.args())
        .args(args)
        .env_remove("LOCKSTEP_KEYS")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn verify(dir: &Path, db: &Db, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", "--desk"];
    args.extend_from_slice(extra);
    run(dir, db, &args)
}

fn setup(dir: &Path, db: &Db) {
    std::fs::write(
        dir.join("keys"),
        "1:8f2a5c0e6b9d4173a2c8e5f1b7d3094a6c2e8f5b1d7a3c9e4f0b6d2a8c5e1f73\n",
    )
    .unwrap();
    for (id, name) in [
        ("op02", "鈴木一郎"),
        ("op03", "佐藤花子"),
        ("op04", "高橋健"),
    ] {
        let (ok, text) = run(
            dir,
            db,
            &["desk", "create-operator", "--user-id", id, "--name", name],
        );
        assert!(ok, "{text}");
    }
}

/// The rows' (number, text of every column) as the database client prints
/// them.
fn rows(dir: &Path, db: &Db) -> Vec<(u64, String, i64, String, String)> {
    db.sql(
        dir,
        "SELECT id, user_id, at, kind, COALESCE(link, '') FROM events ORDER BY id",
    )
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.splitn(5, '|').collect();
        (
            f[0].parse().unwrap(),
            f[1].to_owned(),
            f[2].parse().unwrap(),
            f[3].to_owned(),
            f[4].to_owned(),
        )
    })
    .collect()
}

fn tampering_is_found_at_its_row(db: &Db) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    setup(dir, db);
    let (ok, text) = verify(dir, db, &[]);
    assert!(ok && text.contains("audit chain intact"), "{text}");
    let all = rows(dir, db);
    assert!(all.len() >= 6, "{all:?}");
    let last = all.last().unwrap().0;

    // An export verifies on its own; a line changed in it does not.
    let export = dir.join("export.jsonl");
    let (ok, text) = run(
        dir,
        db,
        &[
            "audit",
            "export",
            "--desk",
            "--since",
            "0",
            "--out",
            export.to_str().unwrap(),
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = run(
        dir,
        db,
        &["audit", "verify-export", export.to_str().unwrap()],
    );
    assert!(
        ok && text.contains(&format!("{} rows", all.len())),
        "{text}"
    );
    let exported = std::fs::read_to_string(&export).unwrap();
    // Without --out the lines go to standard output, and only they.
    let out = Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap(), "--no-demo"])
        .args(["--key-file", dir.join("keys").to_str().unwrap()])
        .args(db.args())
        .args(["audit", "export", "--desk", "--since", "0"])
        .env_remove("LOCKSTEP_KEYS")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        exported,
        "standard output holds the export and nothing else"
    );
    let forged = dir.join("forged.jsonl");
    std::fs::write(&forged, exported.replacen("op03", "op09", 1)).unwrap();
    let (ok, text) = run(
        dir,
        db,
        &["audit", "verify-export", forged.to_str().unwrap()],
    );
    let first_op03 = all.iter().find(|r| r.1 == "op03").unwrap().0;
    assert!(
        !ok && text.contains(&format!("row {first_op03} was edited")),
        "{text}"
    );

    // An insert at the end, without a link.
    db.sql(
        dir,
        &format!(
            "INSERT INTO events (id, user_id, at, kind) VALUES ({}, 'op02', 1, '\"LoggedIn\"')",
            last + 1
        ),
    );
    let (ok, text) = verify(dir, db, &[]);
    assert!(
        !ok && text.contains(&format!("row {} was inserted", last + 1)),
        "{text}"
    );
    // A delete, earlier: the first break is now there.
    let gone = all[3].0;
    db.sql(dir, &format!("DELETE FROM events WHERE id = {gone}"));
    let (ok, text) = verify(dir, db, &[]);
    assert!(
        !ok && text.contains(&format!("rows {gone} to {gone} are missing")),
        "{text}"
    );
    // An edit, earlier still.
    let edited = all[1].0;
    db.sql(
        dir,
        &format!("UPDATE events SET at = at + 1 WHERE id = {edited}"),
    );
    let (ok, text) = verify(dir, db, &[]);
    assert!(
        !ok && text.contains(&format!("row {edited} was edited")),
        "{text}"
    );
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn a_signed_head_catches_a_rewrite_of_the_whole_chain(db: &Db) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    setup(dir, db);
    let key = dir.join("audit.key");
    let (ok, text) = run(
        dir,
        db,
        &["audit", "keygen", "--out", key.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .to_owned();
    let (ok, text) = run(
        dir,
        db,
        &["audit", "seal", "--signing-key", key.to_str().unwrap()],
    );
    assert!(
        ok && text.contains("desk: signed the head at row"),
        "{text}"
    );
    let (ok, text) = verify(
        dir,
        db,
        &["--public-key", &public, "--max-seal-age", "3600"],
    );
    assert!(ok && text.contains("1 signed heads checked"), "{text}");
    // Ages are whole seconds, read by two processes: 5 s leaves a slow
    // machine room between a seal and the check of a fresh one.
    std::thread::sleep(std::time::Duration::from_millis(6_100));
    let (ok, text) = verify(dir, db, &["--public-key", &public, "--max-seal-age", "5"]);
    assert!(
        !ok && text.contains("s old"),
        "a seal too old fails: {text}"
    );
    // Signed again with nothing written since: the newer seal counts.
    let (ok, text) = run(
        dir,
        db,
        &["audit", "seal", "--signing-key", key.to_str().unwrap()],
    );
    assert!(ok, "{text}");
    let (ok, text) = verify(dir, db, &["--public-key", &public, "--max-seal-age", "5"]);
    assert!(ok, "a quiet store's fresh seal: {text}");
    // An old seal cannot be made to look new: its time is signed.
    db.sql(dir, "UPDATE audit_seals SET at = at + 60");
    let (ok, text) = verify(dir, db, &["--public-key", &public]);
    assert!(!ok && text.contains("do not verify"), "{text}");
    db.sql(dir, "UPDATE audit_seals SET at = at - 60");

    // The attacker edits row 2 and re-links every row after it, and the
    // head: the links alone cannot tell.
    let all = rows(dir, db);
    let mut prev = GENESIS.to_owned();
    let mut statements = String::new();
    for (n, (seq, user_id, at, kind, _)) in all.iter().enumerate() {
        let at = if n == 1 { at - 3600 } else { *at };
        let operator = db.sql(
            dir,
            &format!("SELECT COALESCE(operator_id, '') FROM events WHERE id = {seq}"),
        );
        let operator = operator.trim();
        let row = ChainRow {
            seq: *seq,
            user_id: user_id.clone(),
            at,
            operator_id: (!operator.is_empty()).then(|| operator.to_owned()),
            client: None,
            kind: kind.clone(),
            link: None,
        };
        prev = row.link_after(&prev);
        statements.push_str(&format!(
            "UPDATE events SET at = {at}, link = '{prev}' WHERE id = {seq}; "
        ));
    }
    statements.push_str(&format!(
        "UPDATE audit_head SET hash = '{prev}' WHERE one = 1;"
    ));
    db.sql(dir, &statements);
    let (ok, text) = verify(dir, db, &[]);
    assert!(ok, "without the key the rewrite passes: {text}");
    let (ok, text) = verify(dir, db, &["--public-key", &public]);
    let signed = all.last().unwrap().0;
    assert!(
        !ok && text.contains(&format!(
            "row {signed} does not carry the link its signed head names"
        )),
        "{text}"
    );

    // A seal forged without the key does not verify.
    db.sql(
        dir,
        &format!("UPDATE audit_seals SET hash = '{prev}', at = {}", now()),
    );
    let (ok, text) = verify(dir, db, &["--public-key", &public]);
    assert!(!ok && text.contains("do not verify"), "{text}");
    // Nor does deleting the seals pass with a key given.
    db.sql(dir, "DELETE FROM audit_seals");
    let (ok, text) = verify(dir, db, &["--public-key", &public]);
    assert!(!ok && text.contains("no signed head verifies"), "{text}");
}

#[test]
fn sqlite_tampering_is_found_at_its_row() {
    tampering_is_found_at_its_row(&Db::Sqlite);
}

/// The store's options go before `audit` or after it; a directory with no
/// store is an error (not an empty, intact log), and no key is needed or
/// written.
#[test]
fn audit_takes_its_store_anywhere_and_refuses_a_directory_without_one() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    setup(dir, &Db::Sqlite);
    std::fs::remove_file(dir.join("keys")).unwrap();
    let out = Command::new(BIN)
        .args([
            "audit",
            "verify",
            "--desk",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .env_remove("LOCKSTEP_KEYS")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("audit chain intact"),
        "{said}"
    );
    assert!(!dir.join("sealing.keys").exists(), "no key file written");
    // A store behind this version's migrations is refused, not upgraded by
    // the tool that audits it.
    let applied = "SELECT COUNT(*) FROM _sqlx_migrations";
    Db::Sqlite.sql(
        dir,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    );
    let before = Db::Sqlite.sql(dir, applied);
    let out = Command::new(BIN)
        .args(["audit", "verify", "--desk", "--data-dir"])
        .arg(dir)
        .env_remove("LOCKSTEP_KEYS")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("not this version's"),
        "{said}"
    );
    assert_eq!(Db::Sqlite.sql(dir, applied), before, "nothing applied");
    let empty = temp.path().join("nothing-here");
    let out = Command::new(BIN)
        .args(["audit", "verify", "--data-dir", empty.to_str().unwrap()])
        .env_remove("LOCKSTEP_KEYS")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("no store in"),
        "{said}"
    );
    assert!(!empty.exists(), "nothing created");
}

#[test]
fn sqlite_a_signed_head_catches_a_rewrite() {
    a_signed_head_catches_a_rewrite_of_the_whole_chain(&Db::Sqlite);
}

fn postgres(name: &str) -> Option<Db> {
    let url = std::env::var("LOCKSTEP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let up = Command::new("psql")
        .args([url.as_str(), "-qAt", "-c", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !up {
        eprintln!("skipped: no PostgreSQL answers at {url} (or no psql)");
        return None;
    }
    let schema = format!("audit_{name}_{}_{}", std::process::id(), now());
    Some(Db::Postgres { url, schema })
}

fn drop_schemas(db: &Db) {
    if let Db::Postgres { url, schema } = db {
        let _ = Command::new("psql")
            .args([url.as_str(), "-qAt", "-c"])
            .arg(format!(
                "DROP SCHEMA {schema} CASCADE; DROP SCHEMA {schema}_desk CASCADE"
            ))
            .output();
    }
}

#[test]
fn postgres_tampering_is_found_at_its_row() {
    if let Some(db) = postgres("t") {
        tampering_is_found_at_its_row(&db);
        drop_schemas(&db);
    }
}

#[test]
fn postgres_a_signed_head_catches_a_rewrite() {
    if let Some(db) = postgres("s") {
        a_signed_head_catches_a_rewrite_of_the_whole_chain(&db);
        drop_schemas(&db);
    }
}

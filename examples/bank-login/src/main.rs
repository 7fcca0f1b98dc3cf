//! `cargo run -p bank-login`: the manual's login service on 127.0.0.1:8080,
//! on an SQLite file in `./bank-login-data` (created and migrated on first
//! start), with a demo customer and a desk operator made on first start.
//! `--database-url postgres://…` (or `DATABASE_URL`) switches to PostgreSQL.
//! `--help` lists every option; `bank-login desk --help` the desk's
//! commands.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bank_login::{Backend, Bank, WebOptions, audit, open_postgres, open_sqlite, secret};
use clap::{Parser, Subcommand};
use lockstep::account::machine::Input;
use lockstep::account::{AccountStore, OperatorAction, OsRandom, Outcome, Random};
use lockstep::seal::Keyring;
use lockstep_axum::{CsrfKey, ServerLimits, TrustedProxies};
use zeroize::Zeroizing;

/// The environment variable that holds the sealing keys
/// (`ID:64 hex digits`, comma-separated, the first one active).
const KEYS_VAR: &str = "LOCKSTEP_KEYS";

/// The operator the command line acts as in the audit log.
const COMMAND_LINE: &str = bank_login::COMMAND_LINE_OPERATOR;

/// What the CSRF key is derived for from the sealing keys.
const CSRF_PURPOSE: &str = "bank-login csrf";

/// The file of the credentials made on first start, in the data directory.
const FIRST_START_FILE: &str = "first-start-credentials";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "The bank's foreign-exchange login service, on lockstep"
)]
struct Args {
    /// Where to listen (the customers' pages, and the desk's unless
    /// `--desk-listen` is given).
    #[arg(long, env = "BANK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve the support desk on this address only (say, an internal
    /// interface), not on `--listen`.
    #[arg(long, env = "BANK_DESK_LISTEN")]
    desk_listen: Option<SocketAddr>,
    /// The data directory: the SQLite files, the demo key file and the
    /// first start's credentials.
    #[arg(
        long,
        global = true,
        env = "BANK_DATA_DIR",
        default_value = "bank-login-data"
    )]
    data_dir: PathBuf,
    /// A PostgreSQL URL: use PostgreSQL (schemas `bank` and `bank_desk`,
    /// see `--schema`) instead of SQLite. Several processes on one
    /// database share accounts and sessions.
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The PostgreSQL schema of the customers (the desk's is `{schema}_desk`).
    #[arg(long, global = true, env = "BANK_SCHEMA", default_value = "bank")]
    schema: String,
    /// The sealing keys' file (one `ID:64 hex digits` per line, the first
    /// active). Without it and without `LOCKSTEP_KEYS`, a demo key file is
    /// generated in the data directory.
    #[arg(long, global = true, env = "BANK_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Plain HTTP on a developer's machine: cookies not marked `Secure`.
    /// Behind a TLS proxy leave it off, whatever address the service
    /// listens on.
    #[arg(long, env = "BANK_LOCAL_HTTP")]
    local_http: bool,
    /// Send `Strict-Transport-Security` (the service is reached over HTTPS).
    #[arg(long, env = "BANK_HSTS")]
    hsts: bool,
    /// Proxies whose `X-Forwarded-For` names the client (addresses or
    /// networks, comma-separated: `127.0.0.1,10.0.0.0/8`).
    #[arg(long, env = "BANK_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Do not create the demo customer and operator on first start.
    #[arg(long)]
    no_demo: bool,
    /// `text` for people, `json` for a log collector: one object per line
    /// with the request's ID, the client's address and the user or
    /// operator ID where there is one, never a secret.
    #[arg(long, env = "BANK_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: bank_login::logging::Format,
    /// Serve Prometheus metrics at `/metrics` on this address (a listener
    /// of its own, for the monitoring network only); off without it.
    #[arg(long, env = "BANK_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// A client address whose password steps fail on more distinct user
    /// IDs than this in
    /// `--spray-window` seconds is flagged as spraying passwords: an audit
    /// event, 不審なアクセス on the desk, and one password step a minute.
    /// 0 turns the watch off; at most 1024.
    #[arg(long, env = "BANK_SPRAY_DISTINCT_IDS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=1024))]
    spray_distinct_ids: u32,
    /// The spray watch's window, in seconds.
    #[arg(long, env = "BANK_SPRAY_WINDOW", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    spray_window: u64,
    /// Sign both audit chains' heads under this Ed25519 key (from `audit
    /// keygen`) every `--audit-seal-every` seconds and at shutdown: a
    /// rewrite of the audit tables then shows to `audit verify
    /// --public-key`. Keep the file off the database's machine's backups.
    #[arg(long, env = "BANK_AUDIT_SIGNING_KEY")]
    audit_signing_key: Option<PathBuf>,
    /// The signing key's name, recorded with each seal (change it when the
    /// key is rotated; `audit verify` takes every public key in use).
    #[arg(long, env = "BANK_AUDIT_KEY_ID", default_value = "1")]
    audit_key_id: String,
    /// Seconds between two signed heads.
    #[arg(long, env = "BANK_AUDIT_SEAL_EVERY", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    audit_seal_every: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint a soft token into the directory and print its otpauth URI (for
    /// a user whose token was revoked; the desk's console has a button too).
    IssueToken {
        /// For a desk operator instead of a customer.
        #[arg(long)]
        desk: bool,
        /// The user it is for (who must exist; recorded in the audit log).
        #[arg(long)]
        for_user: String,
    },
    /// Re-seal every token seed with the active key (after adding a key).
    RotateKeys,
    /// The support desk's operators.
    Desk {
        #[command(subcommand)]
        command: DeskCommand,
    },
    /// The audit log's hash chain: verify, export, sign its head.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk a store's chain: exit 0 when intact, 1 naming the first row
    /// edited, deleted or inserted out of place.
    Verify {
        /// The desk's store instead of the customers'.
        #[arg(long)]
        desk: bool,
        /// An Ed25519 public key of the signed heads (64 hex digits, or a
        /// file holding them; repeat it for rotated keys): their
        /// signatures and rows are checked too, and at least one must
        /// verify.
        #[arg(long)]
        public_key: Vec<String>,
        /// With `--public-key`: the newest signed head may be at most this
        /// many seconds old (a restored old backup, or seals no longer
        /// written, fail).
        #[arg(long)]
        max_seal_age: Option<u64>,
    },
    /// Write the rows written since a time as JSON Lines for a SIEM, each
    /// with the link before it and its own (`audit verify-export` checks
    /// such a file on its own).
    Export {
        /// Unix seconds, or RFC 3339 (`2026-12-01T00:00:00+09:00`).
        #[arg(long)]
        since: String,
        /// The desk's store instead of the customers'.
        #[arg(long)]
        desk: bool,
        /// The file to write (a new one); standard output without it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an export on its own (no store needed).
    VerifyExport {
        /// The export's file.
        file: PathBuf,
    },
    /// Sign both stores' chain heads under an Ed25519 key now (`serve`
    /// signs periodically with `--audit-signing-key`).
    Seal {
        /// The signing key's file (from `audit keygen`).
        #[arg(long)]
        signing_key: PathBuf,
        /// The key's name, recorded with each seal (for rotation).
        #[arg(long, default_value = "1")]
        key_id: String,
    },
    /// Make a signing key: the secret to a new file only its owner can
    /// read, the public key printed (keep it away from the database).
    Keygen {
        /// The new key file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DeskCommand {
    /// Unlock an operator's password and token (after too many wrong
    /// guesses, by anyone).
    Unlock {
        /// The operator's user ID.
        operator: String,
    },
    /// Create an operator with a temporary password and a soft token,
    /// written to a file only its owner can read.
    CreateOperator {
        /// The operator's user ID (letters, digits, `_`, `-`).
        #[arg(long)]
        user_id: String,
        /// The operator's name.
        #[arg(long)]
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    bank_login::logging::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // With its causes: "storage backend error" alone says not which.
            let mut said = format!("error: {e}");
            let mut cause = e.source();
            while let Some(c) = cause {
                said.push_str(&format!(": {c}"));
                cause = c.source();
            }
            eprintln!("{said}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), Failure> {
    // The audit tools that need no store.
    match &args.command {
        Some(Command::Audit {
            command: AuditCommand::Keygen { out },
        }) => {
            let public = audit::keygen(out)?;
            println!(
                "signing key written to {} (keep it off the database's machine)",
                out.display()
            );
            println!("public key: {public}");
            return Ok(());
        }
        Some(Command::Audit {
            command: AuditCommand::VerifyExport { file },
        }) => {
            let opened =
                std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let verified = lockstep::chain::verify_export(&mut std::io::BufReader::new(opened))??;
            println!("export intact: {} rows", verified.rows);
            // What it cannot check alone: where it starts and ends. Compare
            // these with an earlier export's last line or a signed head.
            if let (Some((first, prev)), Some((last, link))) = (&verified.anchor, &verified.last) {
                println!("starts at row {first} after link {prev}");
                println!("ends at row {last} with link {link}");
            }
            return Ok(());
        }
        _ => {}
    }
    let keyring = if matches!(args.command, Some(Command::Audit { .. })) {
        audit_keyring(&args)?
    } else {
        create_private_dir(&args.data_dir)?;
        keyring(&args)?
    };
    let csrf_key = keyring.derive(CSRF_PURPOSE);
    // Which store: on standard error for the audit commands, whose
    // standard output is theirs (`audit export` writes JSON Lines there).
    let auditing = matches!(args.command, Some(Command::Audit { .. }));
    // The audit tools change nothing in what they audit.
    let migrations = if auditing {
        bank_login::Migrations::Require
    } else {
        bank_login::Migrations::Apply
    };
    let say = |line: String| {
        if auditing {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    if let Some(url) = args.database_url.clone() {
        let (customers, desk) = open_postgres(&url, &args.schema, &keyring, migrations).await?;
        say(format!(
            "store: PostgreSQL (schemas {}, {}_desk)",
            args.schema, args.schema
        ));
        let sweep = Duration::from_secs(60);
        let sessions = (
            lockstep_axum::sessions::postgres(customers.pool().clone(), sweep).await?,
            lockstep_axum::sessions::postgres(desk.pool().clone(), sweep).await?,
        );
        start(args, Bank::new(customers, desk)?, sessions, csrf_key).await
    } else {
        let (customers, desk) = open_sqlite(&args.data_dir, &keyring, migrations).await?;
        say(format!("store: SQLite in {}", args.data_dir.display()));
        let sweep = Duration::from_secs(60);
        let sessions = (
            lockstep_axum::sessions::sqlite(customers.pool().clone(), sweep).await?,
            lockstep_axum::sessions::sqlite(desk.pool().clone(), sweep).await?,
        );
        start(args, Bank::new(customers, desk)?, sessions, csrf_key).await
    }
}

/// The keys of an `audit` command, which reads no token seed: the
/// service's when given, else a throwaway one (nothing is sealed with it,
/// no key file is written). On SQLite the stores must exist: an audit of a
/// directory that holds none is a mistake, not an empty log.
fn audit_keyring(args: &Args) -> Result<Keyring, Failure> {
    if args.database_url.is_none() {
        let file = args.data_dir.join("customers.sqlite");
        if !file.exists() {
            return Err(format!(
                "no store in {}: give the service's --data-dir (or --database-url)",
                args.data_dir.display()
            )
            .into());
        }
    }
    if std::env::var_os(KEYS_VAR).is_some_and(|v| !v.is_empty()) || args.key_file.is_some() {
        return keyring(args);
    }
    let mut key = Zeroizing::new([0_u8; 32]);
    OsRandom.fill(&mut *key)?;
    let line = Zeroizing::new(format!("1:{}", data_encoding::HEXLOWER.encode(&*key)));
    Ok(Keyring::parse(&line)?)
}

/// The data directory, readable by its owner only when it is new.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The sealing keys: `LOCKSTEP_KEYS`, else `--key-file`, else the demo key
/// file in the data directory, generated on first start with a warning.
/// A key file others can read is named in a warning.
fn keyring(args: &Args) -> Result<Keyring, Failure> {
    if std::env::var_os(KEYS_VAR).is_some_and(|v| !v.is_empty()) {
        return Ok(Keyring::from_env(KEYS_VAR)?);
    }
    let path = match &args.key_file {
        Some(path) => {
            if let Err(e) = std::fs::metadata(path) {
                return Err(format!("key file {}: {e}", path.display()).into());
            }
            path.clone()
        }
        None if args.database_url.is_some() => {
            // Every process on the database must hold the same keys: a
            // key made up here would seal seeds the others cannot open.
            return Err(format!(
                "with --database-url, give the sealing keys ({KEYS_VAR} or --key-file): \
                 every process on the database needs the same ones"
            )
            .into());
        }
        None => {
            let path = args.data_dir.join("sealing.keys");
            if !path.exists() {
                write_demo_key(&path)?;
                eprintln!(
                    "WARNING: no sealing key given ({KEYS_VAR} or --key-file): generated a demo key in {}.\n\
                     Token seeds are sealed with it; keep it apart from the database in production.",
                    path.display()
                );
            }
            path
        }
    };
    warn_if_shared(&path);
    Keyring::from_file(&path).map_err(|e| format!("key file {}: {e}", path.display()).into())
}

/// Warns when the group or others may read `path` (a key file).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            eprintln!(
                "WARNING: the key file {} can be read by others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
}

fn write_demo_key(path: &Path) -> Result<(), Failure> {
    let mut key = Zeroizing::new([0_u8; 32]);
    OsRandom.fill(&mut *key)?;
    let line = Zeroizing::new(format!("1:{}\n", data_encoding::HEXLOWER.encode(&*key)));
    write_private(path, line.as_bytes())?;
    Ok(())
}

/// Writes a new file only its owner can read (0600); never overwrites.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    open_private(path)?.write_all(bytes)
}

/// A new file only its owner can read (0600); an existing one is an error.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

async fn start<S, A, B>(
    args: Args,
    bank: Bank<S>,
    sessions: (A, B),
    csrf_key: Zeroizing<[u8; 32]>,
) -> Result<(), Failure>
where
    S: Backend,
    Bank<S>: Rotate,
    A: tower_sessions::SessionStore + Clone,
    B: tower_sessions::SessionStore + Clone,
{
    let bank = Arc::new(bank);
    match &args.command {
        Some(Command::IssueToken { desk, for_user }) => {
            let portal = if *desk { bank.desk() } else { bank.customers() };
            if portal.store.load(for_user).await?.is_none() {
                return Err(format!("no user {for_user:?}").into());
            }
            let token = bank.issue_token(*desk, COMMAND_LINE, for_user).await?;
            let file = write_token_uri(&args.data_dir, &token)?;
            println!("token ID: {} (for {for_user})", token.credential_id);
            println!(
                "its soft token: cargo run --example soft_token -- show --uri-file {}",
                file.display()
            );
            return Ok(());
        }
        Some(Command::RotateKeys) => {
            let moved = bank.rotate().await?;
            println!("re-sealed {moved} token seeds with the active key");
            return Ok(());
        }
        Some(Command::Desk { command }) => return desk(&bank, command, &args.data_dir).await,
        Some(Command::Audit { command }) => return audit_command(&bank, command).await,
        None => {}
    }
    if !args.no_demo {
        demo(&bank, &args.data_dir).await?;
    }
    if args.local_http {
        println!("cookies: not marked Secure (--local-http); serve over HTTPS in production");
    }
    let proxies = TrustedProxies::parse(&args.trusted_proxies)?;
    let options = WebOptions {
        local_http: args.local_http,
        hsts: args.hsts,
        trusted_proxies: proxies.clone(),
        // Derived from the sealing key, so that every process sharing the
        // keyring (replicas on one PostgreSQL) accepts the others' forms.
        csrf_key: Some(CsrfKey::from_bytes(*csrf_key)),
        limits: lockstep_axum::Limits {
            spray: lockstep_axum::spray::SprayLimits {
                distinct_ids: args.spray_distinct_ids,
                window: Duration::from_secs(args.spray_window),
                ..lockstep_axum::spray::SprayLimits::default()
            },
            ..lockstep_axum::Limits::default()
        },
        ..WebOptions::default()
    };
    let limits = ServerLimits {
        trusted_proxies: proxies,
        ..ServerLimits::default()
    };
    let (customer_sessions, desk_sessions) = sessions;
    let stop = shutdown_signal();
    if let Some(addr) = args.metrics_listen {
        let handle = bank_login::metrics::install()?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counted = Arc::clone(&bank);
        let refreshing = bank_login::metrics::refresh(handle.clone(), move || {
            let bank = Arc::clone(&counted);
            async move { bank.sessions_open().await }
        });
        // Until shutdown: no count of a store being closed.
        let stopped = stop.clone().wait();
        tokio::spawn(async move {
            tokio::select! {
                () = refreshing => {}
                () = stopped => {}
            }
        });
        tokio::spawn(lockstep_axum::serve(
            listener,
            bank_login::metrics::router(handle),
            limits.clone(),
            stop.clone().wait(),
        ));
        println!("metrics:   http://{addr}/metrics");
        if !addr.ip().is_loopback() {
            eprintln!(
                "WARNING: the metrics page on {addr} has no login: keep that address on the \
                 monitoring network (its counts show, moment by moment, how logins fare)"
            );
        }
    }
    let signer = match &args.audit_signing_key {
        Some(path) => {
            let key = Arc::new((audit::signing_key(path)?, args.audit_key_id.clone()));
            tokio::spawn(seal_periodically(
                Arc::clone(&bank),
                Arc::clone(&key),
                Duration::from_secs(args.audit_seal_every),
                stop.clone(),
            ));
            println!(
                "audit: signing the chains' heads every {} s",
                args.audit_seal_every
            );
            Some(key)
        }
        None => None,
    };
    match args.desk_listen {
        Some(desk_addr) => {
            let customers = bank.customer_router(&options, customer_sessions)?;
            let desk = bank.desk_router(&options, desk_sessions, true)?;
            let (a, b) = (
                tokio::net::TcpListener::bind(args.listen).await?,
                tokio::net::TcpListener::bind(desk_addr).await?,
            );
            // The addresses bound (a port 0 shows the one given).
            println!("customers: http://{}/", a.local_addr()?);
            println!("desk:      http://{}/desk", b.local_addr()?);
            let (one, two) = tokio::join!(
                lockstep_axum::serve(a, customers, limits.clone(), stop.clone().wait()),
                lockstep_axum::serve(b, desk, limits, stop.wait()),
            );
            one?;
            two?;
        }
        None => {
            let app = bank.router(&options, customer_sessions, desk_sessions)?;
            let listener = tokio::net::TcpListener::bind(args.listen).await?;
            let bound = listener.local_addr()?;
            println!("customers: http://{bound}/");
            println!("desk:      http://{bound}/desk");
            lockstep_axum::serve(listener, app, limits, stop.wait()).await?;
        }
    }
    // Every request in flight has finished (or the grace has run out):
    // sign the heads as they end, close the stores, so that what was
    // written is on disk.
    if let Some(key) = signer {
        seal_both(&bank, &key).await;
    }
    bank.close().await;
    println!("stopped");
    Ok(())
}

/// Signs both chains' heads every `every` until `stop`.
async fn seal_periodically<S: Backend>(
    bank: Arc<Bank<S>>,
    key: Arc<(ed25519_dalek::SigningKey, String)>,
    every: Duration,
    stop: Shutdown,
) {
    let mut ticks = tokio::time::interval(every);
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            _ = ticks.tick() => seal_both(&bank, &key).await,
        }
    }
}

async fn seal_both<S: Backend>(bank: &Bank<S>, key: &(ed25519_dalek::SigningKey, String)) {
    let (key, key_id) = key;
    for (name, store) in [
        ("customers", &bank.customers().store),
        ("desk", &bank.desk().store),
    ] {
        match audit::seal(&**store, key, key_id, now()).await {
            Ok(Some(seal)) => tracing::debug!(store = name, row = seal.seq, "audit head signed"),
            Ok(None) => {}
            Err(e) => tracing::warn!(store = name, error = %e, "audit head not signed"),
        }
    }
}

/// Ctrl-C or SIGTERM, for every server to wait on.
#[derive(Clone)]
struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

fn shutdown_signal() -> Shutdown {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // A signal whose handler cannot be installed never fires (it
            // does not stop the service at once).
            let interrupt = async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        () = interrupt => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => interrupt.await,
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        println!("shutting down: finishing the requests in flight");
        let _ = tx.send(true);
    });
    Shutdown(rx)
}

/// `bank-login desk …`.
async fn desk<S: Backend>(
    bank: &Arc<Bank<S>>,
    command: &DeskCommand,
    data_dir: &Path,
) -> Result<(), Failure> {
    let auth = &bank.desk().auth;
    match command {
        DeskCommand::Unlock { operator } => {
            for (action, what) in [
                (OperatorAction::UnlockPassword, "password"),
                (OperatorAction::UnlockToken, "token"),
            ] {
                let input = Input::Operator {
                    operator_id: COMMAND_LINE,
                    action,
                };
                let r = auth.step(operator, input).await?;
                match r.outcome {
                    Outcome::Done => println!("{operator}: {what} unlocked"),
                    other => {
                        let why = other
                            .refusal()
                            .map_or_else(|| "refused".to_owned(), |r| r.message_en(auth.config()));
                        return Err(format!("{operator}: {why}").into());
                    }
                }
            }
            Ok(())
        }
        DeskCommand::CreateOperator { user_id, name } => {
            if !bank_login::valid_user_id(user_id) || !bank_login::valid_name(name) {
                return Err("a user ID of letters, digits, '_' and '-' (at most 64) and a name of at most 64 characters".into());
            }
            let path = data_dir.join(format!("operator-{user_id}-credentials.txt"));
            // The file first: if it cannot be made, no account is made
            // whose password nobody could read.
            let mut file = open_private(&path)?;
            if !make_user(
                bank,
                true,
                user_id,
                name,
                "サポートデスク",
                &mut file,
                data_dir,
            )
            .await?
            {
                let _ = std::fs::remove_file(&path);
                return Err(format!("{user_id}: the user ID is taken").into());
            }
            println!(
                "operator {user_id} created; the temporary password and the soft token are in {} \
                 (readable by its owner only; hand it over, then delete it)",
                path.display()
            );
            Ok(())
        }
    }
}

/// Key rotation for either store.
trait Rotate {
    async fn rotate(&self) -> Result<usize, Failure>;
}

impl Rotate for Bank<lockstep::sqlite::SqliteStore> {
    async fn rotate(&self) -> Result<usize, Failure> {
        let a = self.customers().store.rotate(&OsRandom).await?;
        let b = self.desk().store.rotate(&OsRandom).await?;
        Ok(a.saturating_add(b))
    }
}

impl Rotate for Bank<lockstep::postgres::PostgresStore> {
    async fn rotate(&self) -> Result<usize, Failure> {
        let a = self.customers().store.rotate(&OsRandom).await?;
        let b = self.desk().store.rotate(&OsRandom).await?;
        Ok(a.saturating_add(b))
    }
}

/// The demo customer and operator, made once.
const DEMO_USER: (&str, &str, &str) = ("taro01", "山田太郎", "山田商事株式会社");
const DEMO_OPERATOR: (&str, &str, &str) = ("desk01", "佐藤花子", "サポートデスク");

/// Makes the demo customer and operator on first start and writes their
/// temporary passwords (and where their soft tokens' URIs are) to a new
/// file only its owner can read, each as soon as it is made; only the
/// file's path is printed (stdout ends up in service logs). A demo user
/// another process made meanwhile (replicas starting together) is left
/// to it.
async fn demo<S: Backend>(bank: &Arc<Bank<S>>, data_dir: &Path) -> Result<(), Failure> {
    let mut missing = Vec::new();
    for (desk, user) in [(false, DEMO_USER), (true, DEMO_OPERATOR)] {
        let portal = if desk { bank.desk() } else { bank.customers() };
        if portal.store.load(user.0).await?.is_none() {
            missing.push((desk, user));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = data_dir.join(format!("{FIRST_START_FILE}-{stamp}.txt"));
    let mut file = open_private(&path)?;
    file.write_all(
        "# bank-login: the demo accounts made on first start. Shown only this once:\n\
         # the accounts exist now, and a later start makes none. Delete this file\n\
         # (and the token-*.uri files) once read.\n"
            .as_bytes(),
    )?;
    let mut made = 0;
    for (desk, (user_id, user_name, customer_name)) in missing {
        if make_user(
            bank,
            desk,
            user_id,
            user_name,
            customer_name,
            &mut file,
            data_dir,
        )
        .await?
        {
            made += 1;
        }
    }
    if made == 0 {
        let _ = std::fs::remove_file(&path);
        return Ok(());
    }
    println!(
        "first start: the demo customer's and operator's temporary passwords and soft tokens \
         are in {} (readable by its owner only). They are made and shown only on this first \
         start; delete the file once read.",
        path.display()
    );
    Ok(())
}

/// Makes an account with a temporary password and a soft token, and
/// writes what its user needs to `file` at once (the token's URI to a file
/// of its own, kept out of command lines). `false` when the user ID was
/// taken meanwhile (nothing made, nothing written).
async fn make_user<S: Backend>(
    bank: &Arc<Bank<S>>,
    desk: bool,
    user_id: &str,
    user_name: &str,
    customer_name: &str,
    file: &mut std::fs::File,
    data_dir: &Path,
) -> Result<bool, Failure> {
    let portal = if desk { bank.desk() } else { bank.customers() };
    let temporary = secret::temporary_password(bank.policy(), user_id, user_name)?;
    let r = portal
        .auth
        .create_account(
            bank_login::SETUP_OPERATOR,
            user_id,
            user_name,
            customer_name,
            &temporary,
        )
        .await?;
    match r.refusal() {
        None => {}
        Some(lockstep::account::Refusal::UserIdTaken) => return Ok(false),
        Some(refusal) => {
            return Err(format!("{user_id}: {}", refusal.message_en(portal.auth.config())).into());
        }
    }
    let token = bank
        .issue_token(desk, bank_login::SETUP_OPERATOR, user_id)
        .await?;
    let uri_file = write_token_uri(data_dir, &token)?;
    let who = if desk {
        "desk operator (log in at /desk)"
    } else {
        "customer (log in at /)"
    };
    let text = Zeroizing::new(format!(
        "\n{who}\n  user ID:              {user_id}\n  temporary password:   {}\n  token ID to register: {}\n  soft token:           cargo run --example soft_token -- show --uri-file {}\n",
        temporary.expose(),
        token.credential_id,
        uri_file.display()
    ));
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(true)
}

/// Writes a token's otpauth URI to `token-<ID>.uri` (0600) in `data_dir`.
fn write_token_uri(data_dir: &Path, token: &bank_login::IssuedToken) -> Result<PathBuf, Failure> {
    let path = data_dir.join(format!("token-{}.uri", token.credential_id));
    let line = Zeroizing::new(format!("{}\n", token.uri.as_str()));
    write_private(&path, line.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

async fn audit_command<S: Backend>(bank: &Bank<S>, command: &AuditCommand) -> Result<(), Failure> {
    let side = |desk: bool| {
        if desk {
            ("desk", &*bank.desk().store)
        } else {
            ("customers", &*bank.customers().store)
        }
    };
    match command {
        AuditCommand::Verify {
            desk,
            public_key,
            max_seal_age,
        } => {
            let keys = public_key
                .iter()
                .map(|k| audit::verifying_key(k))
                .collect::<Result<Vec<_>, _>>()?;
            let (name, store) = side(*desk);
            let report = audit::verify(store, &keys).await?;
            if !report.bad_signatures.is_empty() {
                return Err(format!(
                    "{name}: the signatures of the signed heads at rows {:?} do not verify",
                    report.bad_signatures
                )
                .into());
            }
            let verified = report
                .result
                .map_err(|broken| format!("{name}: {broken}"))?;
            let last = verified.last.as_ref().map_or(0, |(seq, _)| *seq);
            println!(
                "{name}: audit chain intact: {} rows up to row {last} ({} from before the chain), {} signed heads checked",
                verified.rows, verified.legacy, verified.seals
            );
            if keys.is_empty() {
                return Ok(());
            }
            let Some((seq, at)) = report.newest_seal else {
                return Err(format!(
                    "{name}: no signed head verifies under the key given: a rewrite of the chain would not show"
                )
                .into());
            };
            println!(
                "{name}: newest signed head: row {seq}, signed {} ({} rows after it not yet signed)",
                audit::japan_time(at),
                last.saturating_sub(seq)
            );
            if let Some(limit) = max_seal_age {
                let age = now().saturating_sub(at);
                if u64::try_from(age).unwrap_or(0) > *limit {
                    return Err(format!(
                        "{name}: the newest signed head is {age} s old (more than {limit} s): seals stopped, or an old copy of the database was restored"
                    )
                    .into());
                }
            }
            Ok(())
        }
        AuditCommand::Export { since, desk, out } => {
            let since = audit::parse_since(since)?;
            let (_, store) = side(*desk);
            let written = match out {
                Some(path) => {
                    let mut file = std::io::BufWriter::new(
                        open_private(path).map_err(|e| format!("{}: {e}", path.display()))?,
                    );
                    audit::export(store, since, &mut file).await?
                }
                None => audit::export(store, since, &mut std::io::stdout().lock()).await?,
            };
            eprintln!("exported {written} rows");
            Ok(())
        }
        AuditCommand::Seal {
            signing_key,
            key_id,
        } => {
            let key = audit::signing_key(signing_key)?;
            for desk in [false, true] {
                let (name, store) = side(desk);
                match audit::seal(store, &key, key_id, now()).await? {
                    Some(seal) => println!("{name}: signed the head at row {}", seal.seq),
                    None => println!("{name}: no row to sign yet"),
                }
            }
            Ok(())
        }
        AuditCommand::Keygen { .. } | AuditCommand::VerifyExport { .. } => Ok(()),
    }
}

/// The system's unix time.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

//! `cargo run -p bank-login`: the manual's login service on 127.0.0.1:8080,
//! on an SQLite file in `./bank-login-data` (created and migrated on first
//! start), with a demo customer and a desk operator made on first start.
//! `--database-url postgres://…` (or `DATABASE_URL`) switches to PostgreSQL.
//! `--help` lists every option.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bank_login::{Backend, Bank, WebOptions, open_postgres, open_sqlite, secret};
use clap::{Parser, Subcommand};
use lockstep::account::{AccountStore, OsRandom, Random};
use lockstep::seal::Keyring;
use zeroize::Zeroizing;

/// The environment variable that holds the sealing keys
/// (`ID:64 hex digits`, comma-separated, the first one active).
const KEYS_VAR: &str = "LOCKSTEP_KEYS";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "The bank's foreign-exchange login service, on lockstep"
)]
struct Args {
    /// Where to listen.
    #[arg(long, env = "BANK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The data directory: the SQLite files and, in demo mode, the key file.
    #[arg(long, env = "BANK_DATA_DIR", default_value = "bank-login-data")]
    data_dir: PathBuf,
    /// A PostgreSQL URL: use PostgreSQL (schemas `bank` and `bank_desk`)
    /// instead of SQLite.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The sealing keys' file (one `ID:64 hex digits` per line, the first
    /// active). Without it and without `LOCKSTEP_KEYS`, a demo key file is
    /// generated in the data directory.
    #[arg(long, env = "BANK_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Serve plain HTTP with cookies not marked `Secure`. On by default only
    /// for a loopback address; behind a TLS proxy leave it off.
    #[arg(long)]
    local_http: bool,
    /// Do not create the demo customer and operator on first start.
    #[arg(long)]
    no_demo: bool,
    /// The most sessions each side keeps in memory; past it the
    /// longest-idle one makes room.
    #[arg(long, env = "BANK_MAX_SESSIONS", default_value_t = bank_login::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint a soft token into the directory and print its otpauth URI (for
    /// a user whose token was revoked).
    IssueToken {
        /// For a desk operator instead of a customer.
        #[arg(long)]
        desk: bool,
    },
    /// Re-seal every token seed with the active key (after adding a key).
    RotateKeys,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
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
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), Failure> {
    std::fs::create_dir_all(&args.data_dir)?;
    let keyring = keyring(&args)?;
    if let Some(url) = args.database_url.clone() {
        let (customers, desk) = open_postgres(&url, "bank", &keyring).await?;
        println!("store: PostgreSQL (schemas bank, bank_desk)");
        serve(args, Bank::new(customers, desk)?).await
    } else {
        let (customers, desk) = open_sqlite(&args.data_dir, &keyring).await?;
        println!("store: SQLite in {}", args.data_dir.display());
        serve(args, Bank::new(customers, desk)?).await
    }
}

/// The sealing keys: `LOCKSTEP_KEYS`, else `--key-file`, else the demo key
/// file in the data directory, generated on first start with a warning.
fn keyring(args: &Args) -> Result<Keyring, Failure> {
    if std::env::var_os(KEYS_VAR).is_some() {
        return Ok(Keyring::from_env(KEYS_VAR)?);
    }
    if let Some(path) = &args.key_file {
        return Ok(Keyring::from_file(path)?);
    }
    let path = args.data_dir.join("sealing.keys");
    if !path.exists() {
        write_demo_key(&path)?;
        eprintln!(
            "WARNING: no sealing key given ({KEYS_VAR} or --key-file): generated a demo key in {}.\n\
             Token seeds are sealed with it; keep it apart from the database in production.",
            path.display()
        );
    }
    Ok(Keyring::from_file(&path)?)
}

fn write_demo_key(path: &Path) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut key = Zeroizing::new([0_u8; 32]);
    OsRandom.fill(&mut *key)?;
    let line = Zeroizing::new(format!("1:{}\n", data_encoding::HEXLOWER.encode(&*key)));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(line.as_bytes())?;
    Ok(())
}

async fn serve<S: Backend>(args: Args, bank: Bank<S>) -> Result<(), Failure>
where
    Bank<S>: Rotate,
{
    let bank = Arc::new(bank);
    match args.command {
        Some(Command::IssueToken { desk }) => {
            let token = bank.issue_token(desk).await?;
            println!("token ID: {}", token.credential_id);
            println!(
                "soft token: cargo run --example soft_token -- show --uri '{}'",
                token.uri.as_str()
            );
            return Ok(());
        }
        Some(Command::RotateKeys) => {
            let moved = bank.rotate().await?;
            println!("re-sealed {moved} token seeds with the active key");
            return Ok(());
        }
        None => {}
    }
    if !args.no_demo {
        demo(&bank).await?;
    }
    let local_http = args.local_http || args.listen.ip().is_loopback();
    if local_http {
        println!("cookies: not marked Secure (local HTTP); serve over HTTPS in production");
    }
    let options = WebOptions {
        secure_cookies: !local_http,
        max_sessions: args.max_sessions,
        ..WebOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let app = Arc::clone(&bank).router(&options);
    println!("customers: http://{}/", args.listen);
    println!("desk:      http://{}/desk", args.listen);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
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

/// The demo customer and operator, made once: their user IDs, temporary
/// passwords and soft tokens are printed at that first start only.
const DEMO_USER: (&str, &str, &str) = ("taro01", "山田太郎", "山田商事株式会社");
const DEMO_OPERATOR: (&str, &str, &str) = ("desk01", "佐藤花子", "サポートデスク");

async fn demo<S: Backend>(bank: &Bank<S>) -> Result<(), Failure> {
    for (desk, (user_id, user_name, customer_name)) in [(false, DEMO_USER), (true, DEMO_OPERATOR)] {
        let portal = if desk { bank.desk() } else { bank.customers() };
        if portal.store.load(user_id).await?.is_some() {
            continue;
        }
        let temporary = secret::temporary_password(bank.policy(), user_id, user_name)?;
        portal
            .auth
            .create_account("setup", user_id, user_name, customer_name, &temporary)
            .await?;
        let token = bank.issue_token(desk).await?;
        let who = if desk {
            "desk operator"
        } else {
            "demo customer"
        };
        println!(
            "\n{who}: user ID {user_id}, temporary password {}",
            temporary.expose()
        );
        println!("  token ID to register: {}", token.credential_id);
        println!(
            "  its soft token:       cargo run --example soft_token -- show --uri '{}'",
            token.uri.as_str()
        );
    }
    Ok(())
}

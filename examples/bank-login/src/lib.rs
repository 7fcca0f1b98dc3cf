//! `bank-login`: the manual's foreign-exchange login service on lockstep —
//! the customer's pages in Japanese, the software keyboard, and the
//! support-desk console — on `lockstep-axum`'s login router, over the
//! SQLite store (or PostgreSQL). The binary (`cargo run -p bank-login`) is
//! `src/main.rs`; this library is the service, so that tests can serve it
//! in-process.
//!
//! What is the bank's own here: the pages (`pages.rs`, askama templates),
//! the customer's initial screen (`customer.rs`), the desk's console
//! (`desk.rs`) and the command line. The login itself — every stage, CSRF,
//! sessions, limits, the client's address — is `lockstep-axum`'s.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use lockstep::account::offload::TokioHashPool;
use lockstep::account::{Authenticator, Clock, PasswordPolicy, SystemClock, TotpParams};
use lockstep_axum::{CsrfKey, Limits, Login, SecurityHeaders, TrustedProxies};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::SessionStore;
use zeroize::Zeroizing;

pub mod audit;
pub mod backend;
mod customer;
mod desk;
pub mod logging;
pub mod metrics;
pub mod pages;
pub mod secret;

pub use backend::{Backend, Migrations, open_postgres, open_sqlite};
pub use desk::{valid_id as valid_user_id, valid_name};

/// The operator ID the first start's demo accounts are made under.
pub const SETUP_OPERATOR: &str = "setup";

/// The operator ID the command line acts under.
pub const COMMAND_LINE_OPERATOR: &str = "command-line";

/// The driver of one side, as the web layer and the desk share it.
pub type Driver<S> = Authenticator<Arc<S>, Arc<S>>;

/// One side's authenticator and the store under it.
#[derive(Debug)]
pub struct Portal<S> {
    /// The driver.
    pub auth: Arc<Driver<S>>,
    /// The store (the desk reads accounts and audit events from it).
    pub store: Arc<S>,
}

/// The service: the customers' side and the desk's, each on its own store.
#[derive(Debug)]
pub struct Bank<S> {
    customers: Portal<S>,
    desk: Portal<S>,
    policy: PasswordPolicy,
    clock: TheClock,
}

/// The service's clock (the system's, or a test's).
struct TheClock(Arc<dyn Clock>);

impl core::fmt::Debug for TheClock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Clock")
    }
}

/// What the service failed at (the desk's pages and the command line);
/// logged without any secret (lockstep's errors carry none).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// lockstep failed.
    #[error("authentication driver: {0}")]
    Lockstep(#[from] lockstep::account::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] lockstep::account::StoreError),
    /// The OS's randomness failed.
    #[error("random: {0}")]
    Random(#[from] lockstep::account::RandomError),
    /// The session store failed.
    #[error("session: {0}")]
    Session(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "request failed");
        let page = pages::ErrorPage::failed("/desk");
        (StatusCode::INTERNAL_SERVER_ERROR, pages::html(&page)).into_response()
    }
}

/// Why a router could not be made: the OS had no randomness for a CSRF
/// key, or a path was not one.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// How the web layer is served.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Plain HTTP on a developer's machine: cookies without `Secure`. Off
    /// by default, whatever the listening address: behind a TLS proxy on
    /// the same host cookies stay `Secure`.
    pub local_http: bool,
    /// Send `Strict-Transport-Security` (a year): only when the service is
    /// reached over HTTPS.
    pub hsts: bool,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The abuse limits of each side.
    pub limits: Limits,
    /// The CSRF key (replicas share one); a fresh one when `None`.
    pub csrf_key: Option<CsrfKey>,
    /// Where `/static` is served from.
    pub static_dir: PathBuf,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            local_http: false,
            hsts: false,
            trusted_proxies: TrustedProxies::none(),
            limits: Limits::default(),
            csrf_key: None,
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        }
    }
}

/// A token minted for a user to register: its credential ID and the otpauth
/// URI a soft token (VIP Access's role) loads.
pub struct IssuedToken {
    /// The credential ID (トークン ID).
    pub credential_id: lockstep::account::CredentialId,
    /// The otpauth URI: contains the secret.
    pub uri: Zeroizing<String>,
}

impl core::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("credential_id", &self.credential_id)
            .finish_non_exhaustive()
    }
}

impl<S: Backend> Bank<S> {
    /// The service over the customers' and the desk's stores, with the
    /// system clock, Argon2id at OWASP's cost hashed off the async workers,
    /// and the manual's settings and password rules.
    ///
    /// # Errors
    /// As [`lockstep::account::AuthenticatorBuilder::build`].
    pub fn new(customers: S, desk: S) -> Result<Self, lockstep::account::Error> {
        Self::with(customers, desk, Arc::new(SystemClock))
    }

    /// [`Bank::new`] with a clock the caller moves: for tests only.
    ///
    /// # Errors
    /// As [`Bank::new`].
    #[cfg(feature = "test-clock")]
    pub fn with_clock(
        customers: S,
        desk: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, lockstep::account::Error> {
        Self::with(customers, desk, clock)
    }

    fn with(
        customers: S,
        desk: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, lockstep::account::Error> {
        // One pool for both sides: at most cores − 1 hashes at a time, so a
        // core stays free for the OTP steps.
        let pool: Arc<dyn lockstep::account::offload::Offload> =
            Arc::new(TokioHashPool::for_this_machine());
        let portal = |store: S| -> Result<Portal<S>, lockstep::account::Error> {
            let store = Arc::new(store);
            let auth = Authenticator::builder(Arc::clone(&store), Arc::clone(&store))
                .clock(Arc::clone(&clock))
                .offload(Arc::clone(&pool))
                .build()?;
            Ok(Portal {
                auth: Arc::new(auth),
                store,
            })
        };
        Ok(Self {
            customers: portal(customers)?,
            desk: portal(desk)?,
            policy: PasswordPolicy::bank_default(),
            clock: TheClock(clock),
        })
    }

    /// The customers' side.
    pub const fn customers(&self) -> &Portal<S> {
        &self.customers
    }

    /// The desk's side.
    pub const fn desk(&self) -> &Portal<S> {
        &self.desk
    }

    /// The service's unix time (its clock's).
    pub fn now(&self) -> u64 {
        self.clock.0.now()
    }

    /// The password rules (temporary passwords keep them too).
    pub const fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Mints a soft token into one side's token directory (`desk`: the
    /// operators'), as VIP's provisioning does, audited under `for_user`
    /// and `operator`: the user loads the URI into a soft token and
    /// registers the credential ID on 利用開始登録.
    ///
    /// # Errors
    /// The OS's randomness, or the store.
    pub async fn issue_token(
        &self,
        desk: bool,
        operator: &str,
        for_user: &str,
    ) -> Result<IssuedToken, AppError> {
        let (issuer, portal) = if desk {
            ("FX Desk", &self.desk)
        } else {
            ("FX Bank", &self.customers)
        };
        let minted = portal
            .auth
            .issue_token(operator, for_user, issuer, TotpParams::DEFAULT)
            .await?;
        Ok(IssuedToken {
            credential_id: minted.credential_id,
            uri: minted.uri,
        })
    }

    /// Whether both stores answer and are migrated (`/readyz`).
    pub async fn ready(&self) -> bool {
        self.customers.store.ready().await && self.desk.store.ready().await
    }

    /// The web sessions open on both sides (`None`: a store did not
    /// answer).
    pub async fn sessions_open(&self) -> Option<u64> {
        let customers = self.customers.store.sessions_open().await?;
        if S::SHARED_SESSIONS {
            return Some(customers);
        }
        Some(customers + self.desk.store.sessions_open().await?)
    }

    /// Closes both stores (at shutdown, once no request is in flight).
    pub async fn close(&self) {
        self.customers.store.close().await;
        self.desk.store.close().await;
    }

    /// The customers' service: the login at `/`, 初期画面 at `/home`, the
    /// static files, `/favicon.ico`, `/robots.txt`, and `/healthz` and
    /// `/readyz`, with sessions in `sessions`.
    ///
    /// # Errors
    /// The OS has no randomness for a CSRF key.
    pub fn customer_router<St: SessionStore + Clone>(
        self: &Arc<Self>,
        options: &WebOptions,
        sessions: St,
    ) -> Result<Router, SetupError> {
        let bank = Arc::clone(self);
        let health = lockstep_axum::health::routes(move || {
            let bank = Arc::clone(&bank);
            async move { bank.ready().await }
        });
        let app = Router::new()
            .route("/home", get(customer::home))
            .merge(files(options))
            .with_state(Arc::clone(self))
            .merge(health);
        let login = Login::new(
            Arc::clone(&self.customers.auth) as _,
            pages::BankPages::customers(),
        )
        .cookie_name("bank_session")?;
        let login = self.configure(login, options);
        Ok(login.router(app, sessions)?.layer(noindex()))
    }

    /// The desk's console at `/desk`, with sessions in `sessions`.
    /// `standalone`: served on a listener of its own (`--desk-listen`), so
    /// with the static files, a not-found page and `/` leading to `/desk`;
    /// otherwise it is merged with [`Bank::customer_router`].
    ///
    /// # Errors
    /// The OS has no randomness for a CSRF key.
    pub fn desk_router<St: SessionStore + Clone>(
        self: &Arc<Self>,
        options: &WebOptions,
        sessions: St,
        standalone: bool,
    ) -> Result<Router, SetupError> {
        let mut app = desk::routes::<S>();
        if standalone {
            app = app
                .merge(files(options))
                .route("/", get(|| async { Redirect::to("/desk") }));
        }
        let app = app.with_state(Arc::clone(self));
        let login = Login::new(Arc::clone(&self.desk.auth) as _, pages::BankPages::desk())
            .at("/desk")?
            .home("/desk/home")?;
        let mut login = self.configure(login.cookie_name("desk_session")?, options);
        if !standalone {
            login = login.without_fallback();
        }
        Ok(login.router(app, sessions)?.layer(noindex()))
    }

    /// Both sides on one listener.
    ///
    /// # Errors
    /// The OS has no randomness for a CSRF key.
    pub fn router<A, B>(
        self: &Arc<Self>,
        options: &WebOptions,
        customer_sessions: A,
        desk_sessions: B,
    ) -> Result<Router, SetupError>
    where
        A: SessionStore + Clone,
        B: SessionStore + Clone,
    {
        Ok(self
            .customer_router(options, customer_sessions)?
            .merge(self.desk_router(options, desk_sessions, false)?))
    }

    fn configure(&self, mut login: Login, options: &WebOptions) -> Login {
        if options.local_http {
            login = login.local_http();
        }
        let mut headers = SecurityHeaders::default();
        if options.hsts {
            headers = headers.with_hsts(31_536_000);
        }
        login = login
            .security_headers(headers)
            .trusted_proxies(options.trusted_proxies.clone())
            .limits(options.limits);
        match &options.csrf_key {
            Some(key) => login.csrf_key(key.clone()),
            None => login,
        }
    }
}

/// `/static`, `/favicon.ico` and `/robots.txt`.
fn files<St: Clone + Send + Sync + 'static>(options: &WebOptions) -> Router<St> {
    Router::new()
        .nest_service("/static", ServeDir::new(&options.static_dir))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/static/favicon.svg") }),
        )
        .route(
            "/robots.txt",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "User-agent: *\nDisallow: /\n",
                )
            }),
        )
}

/// No page of a bank's login belongs in a search engine.
fn noindex() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex, nofollow"),
    )
}

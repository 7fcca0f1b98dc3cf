//! `bank-login`: the manual's foreign-exchange login service on lockstep —
//! the customer's pages in Japanese, the software keyboard, and the
//! support-desk console — served by axum on the SQLite store (or
//! PostgreSQL). The binary (`cargo run -p bank-login`) is `src/main.rs`;
//! this library is the service, so that tests can serve it in-process.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lockstep::account::offload::TokioHashPool;
use lockstep::account::{
    Authenticator, Clock, OsRandom, PasswordPolicy, Random, SystemClock, TokenKind, TotpParams,
    provision,
};
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use zeroize::Zeroizing;

pub mod backend;
mod customer;
mod desk;
mod flow;
mod pages;
pub mod secret;
pub mod security;
pub mod session_store;

pub use backend::{Backend, open_postgres, open_sqlite};
use flow::{Customer, Desk, Side};
pub use session_store::{BoundedSessions, DEFAULT_MAX_SESSIONS};

/// One side's authenticator and the store under it.
#[derive(Debug)]
pub struct Portal<S> {
    /// The driver.
    pub auth: Authenticator<Arc<S>, Arc<S>>,
    /// The store (the desk reads accounts and audit events from it).
    pub store: Arc<S>,
}

/// The service: the customers' side and the desk's, each on its own store.
#[derive(Debug)]
pub struct Bank<S> {
    customers: Portal<S>,
    desk: Portal<S>,
    policy: PasswordPolicy,
}

/// What the service failed at; shown as a generic error page, logged without
/// any secret (lockstep's errors carry none).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// lockstep failed.
    #[error("authentication driver: {0}")]
    Lockstep(#[from] lockstep::account::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] lockstep::account::StoreError),
    /// The session store failed.
    #[error("session: {0}")]
    Session(#[from] tower_sessions::session::Error),
    /// The OS's randomness failed.
    #[error("random: {0}")]
    Random(#[from] lockstep::account::RandomError),
    /// A token could not be minted.
    #[error("token: {0}")]
    Token(#[from] lockstep::otp::UriError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let transient = matches!(&self, Self::Lockstep(lockstep::account::Error::Contention))
            || matches!(&self, Self::Lockstep(lockstep::account::Error::Store(e)) if e.is_transient());
        tracing::error!(error = %self, source = ?std::error::Error::source(&self).map(ToString::to_string), "request failed");
        let (status, message) = if transient {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "ただいま混み合っています。しばらくしてから、もう一度お試しください。",
            )
        } else {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "システムエラーが発生しました。お手数ですが、最初からやり直してください。",
            )
        };
        let page = pages::ErrorPage {
            title: "エラー",
            message,
            back: "/",
        };
        (status, pages::render(&page)).into_response()
    }
}

/// A form field holding a secret (a password or a code): wiped on drop,
/// never shown by `Debug`.
pub struct Field(Zeroizing<String>);

impl Field {
    /// The value. The name is the warning: never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Field(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(Zeroizing::new(s)))
    }
}

/// How the web layer is served.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Mark the session cookies `Secure` (served over HTTPS, directly or
    /// behind a TLS proxy). Off only for local HTTP.
    pub secure_cookies: bool,
    /// Where `/static` is served from.
    pub static_dir: PathBuf,
    /// The most sessions each side keeps in memory (see
    /// [`BoundedSessions`]).
    pub max_sessions: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
            max_sessions: DEFAULT_MAX_SESSIONS,
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
            Ok(Portal { auth, store })
        };
        Ok(Self {
            customers: portal(customers)?,
            desk: portal(desk)?,
            policy: PasswordPolicy::bank_default(),
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

    /// The password rules (temporary passwords keep them too).
    pub const fn policy(&self) -> &PasswordPolicy {
        &self.policy
    }

    /// Mints a soft token into one side's token directory (`desk`: the
    /// operators'), as VIP's provisioning does: the user loads the URI into
    /// a soft token and registers the credential ID on 利用開始登録.
    ///
    /// # Errors
    /// The OS's randomness, or the store.
    pub async fn issue_token(&self, desk: bool) -> Result<IssuedToken, AppError> {
        let mut random = Zeroizing::new([0_u8; 36]);
        OsRandom.fill(&mut *random)?;
        let issuer = if desk { "FX Desk" } else { "FX Bank" };
        let minted = provision(&random, issuer, TotpParams::DEFAULT)?;
        debug_assert!(matches!(minted.seed.kind, TokenKind::Totp(_)));
        let store = if desk {
            &self.desk.store
        } else {
            &self.customers.store
        };
        lockstep::account::TokenDirectory::insert(
            &**store,
            &minted.credential_id,
            &minted.seed,
            &OsRandom,
        )
        .await?;
        Ok(IssuedToken {
            credential_id: minted.credential_id,
            uri: minted.uri,
        })
    }

    /// The web service: the customers' pages at `/`, the desk at `/desk`,
    /// the static files at `/static`, each side with its own session cookie.
    pub fn router(self: Arc<Self>, options: &WebOptions) -> Router {
        let customers = side_routes::<S, Customer>()
            .route("/home", get(customer::home::<S>))
            .route(
                "/password",
                get(customer::password_page::<S>).post(customer::password_post::<S>),
            )
            .layer(axum::middleware::from_fn(security::csrf))
            .layer(sessions("bank_session", "/", options));
        let desk = side_routes::<S, Desk>()
            .route("/desk/home", get(desk::console::<S>))
            .route("/desk/action", post(desk::action::<S>))
            .route("/desk/create", post(desk::create::<S>))
            .layer(axum::middleware::from_fn(security::csrf))
            .layer(sessions("desk_session", "/desk", options));
        let mut router = Router::new()
            .merge(customers)
            .merge(desk)
            .nest_service("/static", ServeDir::new(&options.static_dir))
            .layer(RequestBodyLimitLayer::new(security::BODY_LIMIT));
        for (name, value) in security::headers() {
            router = router.layer(SetResponseHeaderLayer::overriding(name, value));
        }
        router.with_state(self)
    }
}

/// The session layer of one side: a bounded in-memory store of its own,
/// `HttpOnly`, `SameSite=Strict`, `Secure` unless serving local HTTP, ten
/// minutes of inactivity.
fn sessions(
    name: &'static str,
    path: &'static str,
    options: &WebOptions,
) -> SessionManagerLayer<BoundedSessions> {
    SessionManagerLayer::new(BoundedSessions::new(options.max_sessions))
        .with_name(name)
        .with_path(path)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(options.secure_cookies)
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(10)))
}

/// The login flow's routes of one side.
fn side_routes<S: Backend, P: Side>() -> Router<Arc<Bank<S>>> {
    let at = |path: &str| {
        if P::PREFIX.is_empty() {
            path.to_owned()
        } else if path == "/" {
            P::PREFIX.to_owned()
        } else {
            format!("{}{path}", P::PREFIX)
        }
    };
    Router::new()
        .route(&at("/"), get(flow::login_page::<P>))
        .route(&at("/login"), post(flow::login_post::<S, P>))
        .route(
            &at("/enroll"),
            get(flow::enroll_page::<P>).post(flow::enroll_post::<S, P>),
        )
        .route(
            &at("/otp"),
            get(flow::otp_page::<P>).post(flow::otp_post::<S, P>),
        )
        .route(
            &at("/resync"),
            get(flow::resync_page::<P>).post(flow::resync_post::<S, P>),
        )
        .route(&at("/resync/done"), get(flow::resynced_page::<P>))
        .route(
            &at("/change"),
            get(flow::change_page::<P>).post(flow::change_post::<S, P>),
        )
        .route(&at("/logout"), post(flow::logout::<S, P>))
}

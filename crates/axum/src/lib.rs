#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use lockstep_account::machine::Input;
use lockstep_account::{AccountStore, Authenticator, Config, Error, Reply, TokenDirectory};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer, SessionStore};

pub mod client_ip;
pub mod csrf;
mod flow;
pub mod headers;
pub mod health;
mod held;
mod input;
pub mod limits;
mod plain;
pub mod server;
pub mod sessions;
pub mod spray;
mod view;

pub use client_ip::{ClientIp, RequestId, TrustedProxies};
pub use csrf::{CsrfKey, CsrfToken};
pub use headers::SecurityHeaders;
pub use held::{LoggedIn, LoginRejection, Pending, Stage};
pub use input::{Input as FormOrJson, Secret};
pub use limits::Limits;
pub use plain::PlainPages;
pub use server::{ServerLimits, serve};
pub use sessions::MemorySessions;
pub use view::{Notice, Pages, Place, Problem, View, escape};

/// The driver's steps, as the web layer takes them: an object over any
/// [`Authenticator`], so that handlers are not generic over its store.
pub trait Steps: Send + Sync + 'static {
    /// [`Authenticator::step_from`].
    ///
    /// # Errors
    /// As [`Authenticator::step`].
    fn step<'a>(
        &'a self,
        client: Option<IpAddr>,
        user_id: &'a str,
        input: Input<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>>;

    /// The driver's settings (the lock thresholds its messages name).
    fn config(&self) -> &Config;

    /// [`Authenticator::flag_spray`].
    ///
    /// # Errors
    /// As [`Authenticator::flag_spray`].
    fn flag_spray(
        &self,
        client: IpAddr,
        distinct_ids: u32,
        window_secs: u64,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>>;
}

impl<S, D> Steps for Authenticator<S, D>
where
    S: AccountStore + Send + Sync + 'static,
    D: TokenDirectory + Send + Sync + 'static,
{
    fn step<'a>(
        &'a self,
        client: Option<IpAddr>,
        user_id: &'a str,
        input: Input<'a>,
    ) -> Pin<Box<dyn Future<Output = Result<Reply, Error>> + Send + 'a>> {
        Box::pin(self.step_from(client, user_id, input))
    }

    fn config(&self) -> &Config {
        Self::config(self)
    }

    fn flag_spray(
        &self,
        client: IpAddr,
        distinct_ids: u32,
        window_secs: u64,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send + '_>> {
        Box::pin(Self::flag_spray(self, client, distinct_ids, window_secs))
    }
}

/// What the handlers and extractors share (in every request's extensions).
pub(crate) struct Shared {
    pub(crate) auth: Arc<dyn Steps>,
    pub(crate) limiter: limits::Limiter,
}

/// The login as a router: configure, then [`Login::router`].
pub struct Login {
    auth: Arc<dyn Steps>,
    pages: Arc<dyn Pages>,
    base: String,
    home: String,
    cookie: String,
    secure: bool,
    csrf_key: Option<CsrfKey>,
    limits: Limits,
    idle: Duration,
    headers: SecurityHeaders,
    proxies: TrustedProxies,
    fallback: bool,
}

impl core::fmt::Debug for Login {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Login")
            .field("base", &self.base)
            .field("home", &self.home)
            .field("cookie", &self.cookie)
            .field("secure", &self.secure)
            .field("limits", &self.limits)
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

/// A path (or cookie name) that cannot be one.
#[derive(Debug, thiserror::Error)]
#[error(
    "a path must be ASCII, start with '/' (not '//'), not end with one, and hold no \
     '?', '#', space, quote, '<', '>' or '\\'; a cookie name is 1-64 letters, digits, \
     '_' and '-': {0:?}"
)]
pub struct PathError(String);

impl Login {
    /// The login of `auth` (an `Arc<Authenticator<_, _>>`), its pages drawn
    /// by `pages`. By default: at `/`, home at `/home`, session cookie
    /// `__Host-lockstep` on `/`, `Secure`, ten minutes of inactivity,
    /// [`Limits::default`], a fresh CSRF key, no trusted proxy.
    pub fn new(auth: Arc<dyn Steps>, pages: impl Pages) -> Self {
        Self {
            auth,
            pages: Arc::new(pages),
            base: String::new(),
            home: "/home".into(),
            cookie: "lockstep".into(),
            secure: true,
            csrf_key: None,
            limits: Limits::default(),
            idle: Duration::from_secs(600),
            headers: SecurityHeaders::default(),
            proxies: TrustedProxies::none(),
            fallback: true,
        }
    }

    /// Serves the login under `prefix` (say, `/desk`): its pages at
    /// `{prefix}/`, `{prefix}/otp`… (its cookies stay on `/`: give it a
    /// [`Login::cookie_name`] of its own).
    ///
    /// # Errors
    /// [`PathError`] for a prefix that is not a path.
    pub fn at(mut self, prefix: &str) -> Result<Self, PathError> {
        if prefix != "/" && !prefix.is_empty() {
            check_path(prefix)?;
            if prefix.ends_with('/') {
                return Err(PathError(prefix.to_owned()));
            }
            self.base = prefix.to_owned();
        }
        Ok(self)
    }

    /// Where a login ends: the service's page for a logged-in user.
    ///
    /// # Errors
    /// [`PathError`] for something that is not a path.
    pub fn home(mut self, path: &str) -> Result<Self, PathError> {
        check_path(path)?;
        self.home = path.to_owned();
        Ok(self)
    }

    /// The session cookie's name (the CSRF cookie is `{name}_csrf`); with
    /// `Secure` cookies both get the `__Host-` prefix. Two logins on one
    /// host (customers and a desk) need two names.
    ///
    /// # Errors
    /// [`PathError`] for a name that is not a cookie name: 1–64 ASCII
    /// letters, digits, `_` and `-`.
    pub fn cookie_name(mut self, name: &str) -> Result<Self, PathError> {
        let ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(PathError(name.to_owned()));
        }
        name.clone_into(&mut self.cookie);
        Ok(self)
    }

    /// Cookies without `Secure`, for a service reached over plain HTTP on
    /// a developer's machine. Behind a TLS proxy keep them `Secure` (the
    /// default): the browser speaks HTTPS to the proxy. The listening
    /// address is never consulted.
    #[must_use]
    pub const fn local_http(mut self) -> Self {
        self.secure = false;
        self
    }

    /// The CSRF key (replicas behind one name share one; see
    /// [`CsrfKey::generate`]).
    #[must_use]
    pub fn csrf_key(mut self, key: CsrfKey) -> Self {
        self.csrf_key = Some(key);
        self
    }

    /// The abuse limits.
    #[must_use]
    pub const fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long a server session lasts without a request (the driver's
    /// own session expiry applies as well: [`LoggedIn`] asks it every
    /// time).
    #[must_use]
    pub const fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The security headers (add HSTS with [`SecurityHeaders::with_hsts`]).
    #[must_use]
    pub fn security_headers(mut self, headers: SecurityHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The proxies whose `X-Forwarded-For` names the client.
    #[must_use]
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Leaves unknown paths to the embedder's router (by default they get
    /// the not-found page). Needed when `app` has a fallback of its own,
    /// or when two logins are merged into one router (one of them keeps
    /// the fallback).
    #[must_use]
    pub const fn without_fallback(mut self) -> Self {
        self.fallback = false;
        self
    }

    /// The login's routes merged with `app` (the service's pages, which
    /// take [`LoggedIn`]), under every layer the login needs: security
    /// headers, the client's address, the pages, server sessions in
    /// `sessions`, CSRF protection.
    ///
    /// # Errors
    /// When no CSRF key was given and the OS has no randomness for one.
    pub fn router<St>(self, app: Router, sessions: St) -> Result<Router, getrandom::Error>
    where
        St: SessionStore + Clone,
    {
        let key = match self.csrf_key {
            Some(k) => k,
            None => CsrfKey::generate()?,
        };
        // The cookies are on `/` whatever the prefix, so that `Secure`
        // ones carry the `__Host-` prefix: no other host of the domain can
        // plant them (a sibling's `Domain=` cookie would swap sessions).
        // Two logins on one host tell theirs apart by name.
        let session_cookie = if self.secure {
            format!("__Host-{}", self.cookie)
        } else {
            self.cookie.clone()
        };
        let csrf = Arc::new(csrf::Csrf::new(
            key,
            &format!("{}_csrf", self.cookie),
            "/",
            self.secure,
        ));
        let session_layer = SessionManagerLayer::new(sessions)
            .with_name(session_cookie)
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Strict)
            .with_secure(self.secure)
            .with_expiry(Expiry::OnInactivity(
                time::Duration::try_from(self.idle).unwrap_or(time::Duration::minutes(10)),
            ));
        let shared = Arc::new(Shared {
            auth: self.auth,
            limiter: limits::Limiter::new(self.limits),
        });
        let presenter = Arc::new(view::Presenter {
            pages: self.pages,
            paths: view::Paths {
                base: self.base.clone(),
                home: self.home,
            },
        });
        let mut router = app.merge(flow::routes(&self.base));
        if self.fallback {
            router = router.fallback(flow::not_found);
        }
        Ok(router
            .layer(axum::Extension(shared))
            .layer(from_fn_with_state(csrf, csrf::protect))
            .layer(session_layer)
            .layer(from_fn_with_state(
                Arc::new(self.proxies),
                client_ip::resolve,
            ))
            .layer(from_fn_with_state(presenter, view::present))
            .layer(from_fn_with_state(Arc::new(self.headers), headers::apply)))
    }
}

fn check_path(path: &str) -> Result<(), PathError> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.is_ascii()
        && !path.contains(['?', '#', ' ', '\\', '"', '\'', '<', '>'])
        && path.chars().all(|c| !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(PathError(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths_are_local_paths() {
        for good in ["/home", "/desk/home", "/a-b_c"] {
            assert!(check_path(good).is_ok(), "{good}");
        }
        for bad in [
            "home",
            "//evil.example",
            "/x?y",
            "/x#y",
            "/a b",
            "/\\evil",
            "/\n",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }
}

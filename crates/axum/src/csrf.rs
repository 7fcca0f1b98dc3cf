//! Cross-site request forgery, refused without any server state: a signed
//! double submit.
//!
//! Every visitor gets a random nonce in a cookie; every form carries the
//! token `HMAC-SHA256(key, nonce)`, and a JSON client sends it in the
//! `x-csrf-token` header. A state-changing request passes only when the
//! token matches its own cookie's nonce under the server's key (compared in
//! constant time) and the browser does not say it comes from another site
//! (`Sec-Fetch-Site`, `Origin`). Nothing is stored: an anonymous visit to
//! the login page costs the server no session, so a flood of them can evict
//! nobody. The nonce is renewed at every privilege change (a factor passed,
//! logged in, logged out), so a token seen before a login is worthless
//! after it.

use std::sync::{Arc, Mutex, PoisonError};

use crate::view::View;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// The header that carries the token for a JSON client.
pub const HEADER: &str = "x-csrf-token";

/// The most bytes of a request body read to find the token: every form of
/// the login fits in a few hundred.
pub const BODY_LIMIT: usize = 8 * 1024;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The server's CSRF key: 32 bytes, wiped on drop, never shown.
#[derive(Clone)]
pub struct CsrfKey(Zeroizing<[u8; 32]>);

impl CsrfKey {
    /// A key from 32 bytes (say, derived from the service's key file).
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random key: tokens then last as long as the process (a
    /// restart asks every open form to be loaded again). Replicas behind
    /// one name must share a key: give them one with [`CsrfKey::from_bytes`].
    ///
    /// # Errors
    /// When the operating system has no randomness.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0_u8; 32]);
        getrandom::fill(&mut *bytes)?;
        Ok(Self(bytes))
    }

    fn token(&self, nonce: &str) -> String {
        // A key of any length is accepted by HMAC: this cannot fail.
        let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(&*self.0) else {
            return String::new();
        };
        mac.update(b"lockstep csrf v1\0");
        mac.update(nonce.as_bytes());
        data_encoding::BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
    }
}

impl core::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CsrfKey").finish_non_exhaustive()
    }
}

/// How the nonce cookie is set.
#[derive(Clone, Debug)]
pub struct Csrf {
    key: CsrfKey,
    cookie: String,
    path: String,
    secure: bool,
}

impl Csrf {
    /// CSRF protection with `key`, its nonce in a cookie named after
    /// `name` on `path`. With `secure` (the default of a deployment) the
    /// cookie is `Secure` and named `__Host-<name>` when its path is `/`,
    /// so that no other host of the domain can plant one.
    #[must_use]
    pub fn new(key: CsrfKey, name: &str, path: &str, secure: bool) -> Self {
        let cookie = if secure && path == "/" {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        };
        Self {
            key,
            cookie,
            path: path.to_owned(),
            secure,
        }
    }

    /// The nonce a request's cookie carries, if it is one of ours.
    fn nonce(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .map(|(_, value)| value.to_owned())
            .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// The nonce cookie. `SameSite=Lax`: a link from another site must not
    /// arrive without it (a fresh nonce would then replace it and break the
    /// forms open in other tabs); it is no credential, and the token's HMAC
    /// and the cross-site check refuse forged posts.
    fn set_cookie(&self, nonce: &str) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={nonce}; Path={}; HttpOnly; SameSite=Lax{secure}",
            self.cookie, self.path
        ))
        .ok()
    }
}

/// The token of this request's nonce, for the page to put in its forms (or
/// the client in its header). The nonce cookie is set on the response when
/// the request came without one, or when a handler renewed it.
#[derive(Clone)]
pub struct CsrfToken(Arc<Mutex<Current>>);

struct Current {
    csrf: Arc<Csrf>,
    nonce: String,
    token: String,
    set_cookie: bool,
}

impl CsrfToken {
    fn new(csrf: Arc<Csrf>, nonce: String, set_cookie: bool) -> Self {
        let token = csrf.key.token(&nonce);
        Self(Arc::new(Mutex::new(Current {
            csrf,
            nonce,
            token,
            set_cookie,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token. The name is the warning: it is not a secret of the user's,
    /// but it is one of the page's; never log it.
    #[must_use]
    pub fn expose(&self) -> String {
        self.lock().token.clone()
    }

    /// A new nonce, at a privilege change (a factor passed, logged in,
    /// logged out): the response sets its cookie, and from now on
    /// [`CsrfToken::expose`] is the new token. A token seen before is
    /// worthless after it.
    pub fn renew(&self) {
        let mut current = self.lock();
        let nonce = fresh_nonce();
        current.token = current.csrf.key.token(&nonce);
        current.nonce = nonce;
        current.set_cookie = true;
    }

    /// The cookie to set on the response, if any.
    fn cookie(&self) -> Option<HeaderValue> {
        let current = self.lock();
        if current.set_cookie {
            current.csrf.set_cookie(&current.nonce)
        } else {
            None
        }
    }
}

impl core::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

/// The extractor of [`CsrfToken`]: the [`protect`] middleware put it in
/// the request's extensions.
impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

fn fresh_nonce() -> String {
    let mut bytes = [0_u8; 16];
    // No randomness: an empty nonce is refused by `Csrf::nonce`, so the
    // next state-changing request fails closed.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    data_encoding::HEXLOWER.encode(&bytes)
}

/// The middleware: a state-changing request without its token, with a
/// wrong one, or from another site is refused with `403` before any
/// handler runs; every request has its [`CsrfToken`] in its extensions
/// (and the response carries it too, for a JSON client's next request),
/// and the nonce cookie is set when the request came without one or a
/// handler renewed it.
///
/// Use it with `axum::middleware::from_fn_with_state(Arc<Csrf>, protect)`;
/// [`crate::Login::router`] does.
pub async fn protect(
    axum::extract::State(csrf): axum::extract::State<Arc<Csrf>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let nonce = csrf.nonce(request.headers());
    if !safe {
        return checked(csrf, nonce, request, next).await;
    }
    let token = match nonce {
        Some(n) => CsrfToken::new(csrf, n, false),
        None => CsrfToken::new(csrf, fresh_nonce(), true),
    };
    let mut request = request;
    request.extensions_mut().insert(token.clone());
    let response = next.run(request).await;
    finish(response, &token)
}

/// Sets the nonce cookie when due, and hands the token to the response.
fn finish(mut response: Response, token: &CsrfToken) -> Response {
    if let Some(cookie) = token.cookie() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response.extensions_mut().insert(token.clone());
    response
}

async fn checked(csrf: Arc<Csrf>, nonce: Option<String>, request: Request, next: Next) -> Response {
    if cross_site(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "cross-site request: refused");
        return View::Forbidden.into_response();
    }
    if nonce.is_none() {
        // No cookie, no token can match: refused before the body is read.
        tracing::warn!(path = %request.uri().path(), "no CSRF cookie: refused");
        return View::Forbidden.into_response();
    }
    let header_token = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        // Too large, or the client left half-way: nothing reaches a
        // handler either way.
        return View::PayloadTooLarge.into_response();
    };
    let sent = header_token.or_else(|| field(&bytes));
    let valid = match (&nonce, sent) {
        (Some(nonce), Some(sent)) => {
            let expected = csrf.key.token(nonce);
            bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    };
    let (Some(nonce), true) = (nonce, valid) else {
        tracing::warn!(path = %parts.uri.path(), "CSRF token missing or wrong: refused");
        drop(wiped(bytes));
        return View::Forbidden.into_response();
    };
    let token = CsrfToken::new(csrf, nonce, false);
    parts.extensions.insert(token.clone());
    // The handler reads the same buffer (no copy); once it is done the
    // buffer is ours alone again and is wiped: it held a password.
    let ours = bytes.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(wiped(ours));
    finish(response, &token)
}

/// The form's token field, decoded. No other field is decoded: a decoded
/// copy of a password field would be a `String` nobody wipes.
fn field(body: &[u8]) -> Option<String> {
    body.split(|&b| b == b'&')
        .filter(|pair| {
            pair.strip_prefix(FIELD.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
        .find_map(|pair| form_urlencoded::parse(pair).next())
        .map(|(_, v)| v.into_owned())
}

/// The request body wiped, when no one else holds it any more (`None`
/// when someone does: then it cannot be written to).
fn wiped(body: Bytes) -> Option<bytes::BytesMut> {
    let mut owned = body.try_into_mut().ok()?;
    owned.as_mut().zeroize();
    Some(owned)
}

/// Whether the browser says the request comes from another site.
/// `Sec-Fetch-Site` decides when the browser sends it (all current ones
/// do): `same-origin` and `none` (typed or bookmarked) pass, `same-site`
/// and `cross-site` do not. Only without it is `Origin` compared with
/// `Host` (behind a proxy that rewrites `Host`, a browser old enough to
/// lack `Sec-Fetch-Site` is then refused; the token still decides for the
/// rest).
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or_default();
        return !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"));
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null`
        // with their own forms: it tells nothing, and the token decides.
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            !authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
        }
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Csrf, CsrfKey, field, wiped};

    #[test]
    fn only_the_token_field_is_read_wherever_it_stands() {
        assert_eq!(field(b"csrf=ab12&user_id=x").as_deref(), Some("ab12"));
        assert_eq!(
            field(b"password=p%21w&csrf=cd34&entry=login").as_deref(),
            Some("cd34")
        );
        assert_eq!(field(b"csrfx=1&xcsrf=2&csrf").as_deref(), None);
        assert_eq!(field(b"user_id=csrf%3D1").as_deref(), None);
        assert_eq!(field(b"").as_deref(), None);
    }

    #[test]
    fn a_body_held_by_no_one_else_is_wiped() {
        let body = bytes::Bytes::from(b"csrf=ab&password=Secret123".to_vec());
        let shared = body.clone();
        assert!(wiped(body).is_none(), "another handle still reads it");
        assert!(wiped(shared).unwrap().iter().all(|&b| b == 0));
    }

    #[test]
    fn tokens_differ_by_nonce_and_by_key() {
        let (a, b) = (CsrfKey::from_bytes([1; 32]), CsrfKey::from_bytes([2; 32]));
        let n = "0123456789abcdef0123456789abcdef";
        assert_eq!(a.token(n), a.token(n));
        assert_ne!(a.token(n), b.token(n));
        assert_ne!(a.token(n), a.token("fedcba9876543210fedcba9876543210"));
        assert!(!format!("{a:?}").contains("01"));
    }

    #[test]
    fn sec_fetch_site_decides_when_sent() {
        use axum::http::{HeaderMap, HeaderValue};
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        // Behind a proxy that rewrites Host, a same-origin post passes.
        let proxied = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://bank.example"),
            ("host", "127.0.0.1:8080"),
        ]);
        assert!(!super::cross_site(&proxied));
        for site in ["cross-site", "same-site", "whatever"] {
            let h = headers(&[("sec-fetch-site", site)]);
            assert!(super::cross_site(&h), "{site}");
        }
        // Without it, Origin against Host, case aside.
        let old = headers(&[("origin", "https://Bank.Example"), ("host", "bank.example")]);
        assert!(!super::cross_site(&old));
        let evil = headers(&[("origin", "https://evil.example"), ("host", "bank.example")]);
        assert!(super::cross_site(&evil));
    }

    #[test]
    fn a_secure_root_cookie_is_host_prefixed() {
        let key = CsrfKey::from_bytes([1; 32]);
        assert_eq!(Csrf::new(key.clone(), "c", "/", true).cookie, "__Host-c");
        assert_eq!(Csrf::new(key.clone(), "c", "/desk", true).cookie, "c");
        assert_eq!(Csrf::new(key, "c", "/", false).cookie, "c");
    }
}

//! What a bank's reviewer expects of every response and every form: the
//! security headers, the body limit, and CSRF protection (a per-session
//! synchronizer token in every form, checked in constant time before any
//! handler runs, plus a refusal of cross-site requests by `Sec-Fetch-Site`
//! and `Origin`).

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use crate::pages::{ErrorPage, render};
use crate::secret;

/// The largest request body accepted: every form of the service fits in a
/// few hundred bytes.
pub const BODY_LIMIT: usize = 8 * 1024;

/// The session key of the CSRF token.
const CSRF_KEY: &str = "csrf";

/// The Content-Security-Policy: nothing but this origin's own files, no
/// inline script or style, never in a frame.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// The headers every response carries.
pub fn headers() -> [(header::HeaderName, HeaderValue); 7] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ),
    ]
}

/// The session's CSRF token, made on first use.
///
/// # Errors
/// The session store's failure.
pub async fn csrf_token(session: &Session) -> Result<String, tower_sessions::session::Error> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    renew_csrf(session).await
}

/// A new CSRF token for the session: at login and at every privilege
/// change, with the session ID.
///
/// # Errors
/// The session store's failure.
pub async fn renew_csrf(session: &Session) -> Result<String, tower_sessions::session::Error> {
    let token = secret::random_hex();
    session.insert(CSRF_KEY, &token).await?;
    Ok(token)
}

/// Refuses a state-changing request from another site, or without the
/// session's CSRF token in its form; passes reads through.
pub async fn csrf(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    if cross_site(request.headers()) {
        return refuse(StatusCode::FORBIDDEN);
    }
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        return refuse(StatusCode::FORBIDDEN);
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let sent = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_KEY)
        .map(|(_, v)| v.into_owned());
    let expected = session.get::<String>(CSRF_KEY).await.ok().flatten();
    let valid = match (sent, expected) {
        (Some(sent), Some(expected)) => bool::from(sent.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    };
    if !valid {
        tracing::warn!(path = %parts.uri.path(), "CSRF token missing or wrong: refused");
        return refuse(StatusCode::FORBIDDEN);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether the browser says the request comes from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some(site) if site != "same-origin" && site != "none") {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null`
        // with their own forms: it tells nothing, and `Sec-Fetch-Site` and
        // the token decide.
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority != Some(host)
        }
        _ => false,
    }
}

fn refuse(status: StatusCode) -> Response {
    let page = ErrorPage {
        title: "エラー",
        message: "この操作は受け付けられませんでした。画面を開き直して、もう一度お試しください。",
        back: "/",
    };
    (status, render(&page)).into_response()
}

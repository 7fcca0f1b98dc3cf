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
    let sent = csrf_field(&bytes);
    let expected = session.get::<String>(CSRF_KEY).await.ok().flatten();
    let valid = match (sent, expected) {
        (Some(sent), Some(expected)) => bool::from(sent.as_bytes().ct_eq(expected.as_bytes())),
        _ => false,
    };
    if !valid {
        tracing::warn!(path = %parts.uri.path(), "CSRF token missing or wrong: refused");
        drop(wiped(bytes));
        return refuse(StatusCode::FORBIDDEN);
    }
    // The handler reads the same buffer (no copy); once it is done the
    // buffer is ours alone again and is wiped: it held the password.
    let ours = bytes.clone();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(wiped(ours));
    response
}

/// The form's CSRF field, decoded. No other field is decoded: a decoded
/// copy of a password field would be a `String` nobody wipes.
fn csrf_field(body: &[u8]) -> Option<String> {
    body.split(|&b| b == b'&')
        .filter(|pair| {
            pair.strip_prefix(CSRF_KEY.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'='))
        })
        .find_map(|pair| form_urlencoded::parse(pair).next())
        .map(|(_, v)| v.into_owned())
}

/// The request body wiped, when no one else holds it any more (`None`
/// when someone does: then it cannot be written to).
fn wiped(body: axum::body::Bytes) -> Option<bytes::BytesMut> {
    let mut owned = body.try_into_mut().ok()?;
    zeroize::Zeroize::zeroize(owned.as_mut());
    Some(owned)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Bytes;

    use super::{csrf_field, wiped};

    #[test]
    fn only_the_csrf_field_is_read_wherever_it_stands() {
        assert_eq!(csrf_field(b"csrf=ab12&user_id=x").as_deref(), Some("ab12"));
        assert_eq!(
            csrf_field(b"password=p%21w&csrf=cd34&entry=login").as_deref(),
            Some("cd34")
        );
        assert_eq!(csrf_field(b"csrfx=1&xcsrf=2&csrf").as_deref(), None);
        assert_eq!(csrf_field(b"user_id=csrf%3D1").as_deref(), None);
        assert_eq!(csrf_field(b"csrf=a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(csrf_field(b"").as_deref(), None);
    }

    #[test]
    fn a_body_held_by_no_one_else_is_wiped_and_a_shared_one_is_left() {
        let body = Bytes::from(b"csrf=ab&password=Secret123".to_vec());
        let shared = body.clone();
        assert!(wiped(body).is_none(), "another handle still reads it");
        let out = wiped(shared).unwrap();
        assert_eq!(out.len(), 26);
        assert!(out.iter().all(|&b| b == 0));
    }
}

//! The headers every response of a login carries: a strict Content Security
//! Policy (nothing but the origin's own files, never in a frame), no
//! caching, no sniffing, no referrer, and HSTS when the service is served
//! over HTTPS (directly or behind a TLS proxy) and says so.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy by default: nothing but this origin's own
/// scripts, styles and images, no inline script or style, forms only to
/// this origin, never in a frame.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// The security headers, set on every response (a handler's own value of
/// the same header is replaced).
#[derive(Clone, Debug)]
pub struct SecurityHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self::new(CSP)
    }
}

impl SecurityHeaders {
    /// The headers with `csp` as the Content-Security-Policy (keep
    /// `frame-ancestors 'none'` in it: the login must never be framed).
    /// A policy that is not a valid header value falls back to [`CSP`].
    #[must_use]
    pub fn new(csp: &str) -> Self {
        let csp = HeaderValue::from_str(csp).unwrap_or(HeaderValue::from_static(CSP));
        Self {
            headers: vec![
                (header::CONTENT_SECURITY_POLICY, csp),
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
                    HeaderName::from_static("cross-origin-opener-policy"),
                    HeaderValue::from_static("same-origin"),
                ),
                (
                    HeaderName::from_static("permissions-policy"),
                    HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
                ),
            ],
        }
    }

    /// Adds `Strict-Transport-Security` for `max_age_seconds` (a year is
    /// usual), with `includeSubDomains`: only for a service reached over
    /// HTTPS, which is then the only way a browser reaches it again.
    #[must_use]
    pub fn with_hsts(mut self, max_age_seconds: u64) -> Self {
        if let Ok(v) =
            HeaderValue::from_str(&format!("max-age={max_age_seconds}; includeSubDomains"))
        {
            self.headers.push((header::STRICT_TRANSPORT_SECURITY, v));
        }
        self
    }

    /// The headers, for a test or another server.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(n, v)| (n, v))
    }
}

/// The middleware: `axum::middleware::from_fn_with_state(headers, apply)`.
pub async fn apply(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let map = response.headers_mut();
    for (name, value) in &headers.headers {
        map.insert(name.clone(), value.clone());
    }
    response
}

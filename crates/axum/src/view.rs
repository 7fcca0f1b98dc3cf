//! What the login shows, as data: a [`View`] the embedder's [`Pages`] turn
//! into HTML, or the JSON a single-page or mobile client reads, from the
//! same handlers. (Over 450 lines because every view is spelled out three
//! times — its fields, its status and name, its JSON — which belong
//! together.) Handlers, extractors and layers never write a body: they
//! answer a [`View`] or a [`Place`] to go to, and one middleware
//! ([`present`]) renders it for the request — HTML or JSON, whichever the
//! client asked for.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockstep_account::{Config, Refusal};
use serde_json::{Value, json};

use crate::csrf::CsrfToken;
use crate::held::Stage;

/// A refusal, with its messages in both languages (the caps of the
/// driver's [`Config`] already in them).
#[derive(Clone, Debug)]
pub struct Problem {
    /// Why.
    pub refusal: Refusal,
    /// The message in Japanese ([`Refusal::message_ja`]).
    pub message_ja: String,
    /// The message in English ([`Refusal::message_en`]).
    pub message_en: String,
    /// For a new password that breaks the rules: one line per rule broken,
    /// in Japanese (the password itself is never in them).
    pub details_ja: Vec<String>,
    /// The same lines in English.
    pub details_en: Vec<String>,
}

impl Problem {
    /// The problem of `refusal` under `config`.
    #[must_use]
    pub fn new(refusal: Refusal, config: &Config) -> Self {
        let (details_ja, details_en) = match &refusal {
            Refusal::PasswordRejected(violations) => (
                violations.iter().map(|v| v.message_ja()).collect(),
                violations.iter().map(ToString::to_string).collect(),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        Self {
            message_ja: refusal.message_ja(config),
            message_en: refusal.message_en(config),
            refusal,
            details_ja,
            details_en,
        }
    }

    /// The refusal's stable code ([`Refusal::code`]).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        self.refusal.code()
    }
}

/// A notice shown once, on the page a finished step leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notice {
    /// The token was registered; log in with a fresh code.
    Enrolled,
    /// The token's drift was corrected; log in with a fresh code.
    Resynced,
    /// The password was changed.
    PasswordChanged,
    /// The user logged out.
    LoggedOut,
    /// The session ended (timed out, or ended by a lock, a reset, a revoke
    /// or a password change elsewhere).
    SessionEnded,
}

impl Notice {
    /// Its stable code (the login page's `?done=` value).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Enrolled => "enrolled",
            Self::Resynced => "resynced",
            Self::PasswordChanged => "password_changed",
            Self::LoggedOut => "logged_out",
            Self::SessionEnded => "session_ended",
        }
    }

    /// The notice of a code, if it is one.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Enrolled,
            Self::Resynced,
            Self::PasswordChanged,
            Self::LoggedOut,
            Self::SessionEnded,
        ]
        .into_iter()
        .find(|n| n.code() == code)
    }
}

/// One screen of the login. Every form's `csrf` goes into a hidden field
/// named [`crate::csrf::FIELD`] (or, for a JSON client, the
/// [`crate::csrf::HEADER`] header). `Debug` shows its name only: never the
/// CSRF token, nor what the user typed.
#[derive(Clone)]
#[non_exhaustive]
pub enum View {
    /// The password step (R-LOG-1, R-ENR-1): user ID, password, and the two
    /// entry buttons (`entry=login`, `entry=enroll`). After a refusal the
    /// user ID typed is kept (never the password).
    Login {
        /// The form's CSRF token.
        csrf: String,
        /// The user ID to show in the field again.
        user_id: String,
        /// Why the last attempt was refused.
        problem: Option<Problem>,
        /// What just finished (logged out, password changed…).
        notice: Option<Notice>,
    },
    /// Token registration (R-ENR-2): token ID and two consecutive codes.
    Enroll {
        /// The form's CSRF token.
        csrf: String,
        /// The token ID typed, kept after a refusal.
        token_id: String,
        /// Why the last attempt was refused.
        problem: Option<Problem>,
    },
    /// The OTP step (R-LOG-2), with the registered token ID shown.
    Otp {
        /// The form's CSRF token.
        csrf: String,
        /// The registered token ID.
        token_id: String,
        /// Why the last attempt was refused.
        problem: Option<Problem>,
        /// Registered or resynced just now.
        notice: Option<Notice>,
    },
    /// Drift correction (R-SYN-2): two consecutive codes.
    Resync {
        /// The form's CSRF token.
        csrf: String,
        /// The registered token ID.
        token_id: String,
        /// Why the last attempt was refused.
        problem: Option<Problem>,
    },
    /// Drift corrected (manual 2.6 (4)): go on to the OTP step.
    Resynced {
        /// The registered token ID.
        token_id: String,
    },
    /// A password change: required before logging in (R-LOG-4,
    /// `voluntary: false`), or asked for by a logged-in user (`true`, with
    /// the current password).
    Change {
        /// The form's CSRF token.
        csrf: String,
        /// Whether the current password is asked for too.
        voluntary: bool,
        /// Why the last attempt was refused.
        problem: Option<Problem>,
    },
    /// The login (or the session) ended before this request: timed out,
    /// or ended elsewhere. Start again from the login page.
    Expired,
    /// No such page.
    NotFound,
    /// A request that does not read as the form it was sent to.
    BadRequest,
    /// A request body over [`crate::csrf::BODY_LIMIT`] (or one the client
    /// stopped sending half-way).
    PayloadTooLarge,
    /// A form without its CSRF token, with a wrong one, or sent from
    /// another site.
    Forbidden,
    /// Too many requests from this client or for this user ID: wait
    /// `retry_after` seconds.
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The service is at its bound of password steps in flight
    /// ([`Refusal::Busy`]): try again in `retry_after` seconds. Nothing
    /// was counted.
    Busy {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The service failed (its store, its randomness); nothing secret is
    /// in the log line it wrote.
    Failed,
}

impl core::fmt::Debug for View {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("View").field(&self.name()).finish()
    }
}

impl View {
    /// The HTTP status the view is answered with.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::Login {
                problem: Some(_), ..
            }
            | Self::Enroll {
                problem: Some(_), ..
            }
            | Self::Otp {
                problem: Some(_), ..
            }
            | Self::Resync {
                problem: Some(_), ..
            }
            | Self::Change {
                problem: Some(_), ..
            } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Expired => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        }
    }

    /// Its stable name (`"login"`, `"otp"`…), the `view` of its JSON.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Login { .. } => "login",
            Self::Enroll { .. } => "enroll",
            Self::Otp { .. } => "otp",
            Self::Resync { .. } => "resync",
            Self::Resynced { .. } => "resynced",
            Self::Change {
                voluntary: false, ..
            } => "change",
            Self::Change {
                voluntary: true, ..
            } => "password",
            Self::Expired => "expired",
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Forbidden => "forbidden",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Busy { .. } => "busy",
            Self::Failed => "failed",
        }
    }

    const fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after } | Self::Busy { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// The view as JSON: `{"view": name, …its fields}`; a problem is
    /// `{"code", "message_ja", "message_en", "details_ja", "details_en"}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let problem = |p: &Option<Problem>| {
            p.as_ref().map(|p| {
                json!({
                    "code": p.code(),
                    "message_ja": p.message_ja,
                    "message_en": p.message_en,
                    "details_ja": p.details_ja,
                    "details_en": p.details_en,
                })
            })
        };
        let notice = |n: &Option<Notice>| n.map(Notice::code);
        let mut out = match self {
            Self::Login {
                csrf,
                user_id,
                problem: p,
                notice: n,
            } => {
                json!({"csrf": csrf, "user_id": user_id, "problem": problem(p), "notice": notice(n)})
            }
            Self::Enroll {
                csrf,
                token_id,
                problem: p,
            } => json!({"csrf": csrf, "token_id": token_id, "problem": problem(p)}),
            Self::Otp {
                csrf,
                token_id,
                problem: p,
                notice: n,
            } => {
                json!({"csrf": csrf, "token_id": token_id, "problem": problem(p), "notice": notice(n)})
            }
            Self::Resync {
                csrf,
                token_id,
                problem: p,
            } => json!({"csrf": csrf, "token_id": token_id, "problem": problem(p)}),
            Self::Resynced { token_id } => json!({ "token_id": token_id }),
            Self::Change {
                csrf, problem: p, ..
            } => json!({"csrf": csrf, "problem": problem(p)}),
            Self::TooManyRequests { retry_after } | Self::Busy { retry_after } => {
                json!({ "retry_after": retry_after })
            }
            Self::Expired
            | Self::NotFound
            | Self::BadRequest
            | Self::PayloadTooLarge
            | Self::Forbidden
            | Self::Failed => json!({}),
        };
        if let Some(map) = out.as_object_mut() {
            map.insert("view".into(), Value::from(self.name()));
        }
        out
    }
}

/// The embedder's pages: the HTML of every [`View`], in the service's own
/// language and look. [`crate::PlainPages`] is a plain English set, for tests and
/// a first start.
pub trait Pages: Send + Sync + 'static {
    /// The whole HTML document of `view`. `base` is the login's path prefix
    /// (`""` or, say, `"/desk"`): forms post to `{base}/login`,
    /// `{base}/otp`… Everything put into the page must be HTML-escaped
    /// ([`escape`]).
    fn render(&self, view: &View, base: &str) -> String;
}

/// `text` with `& < > " '` escaped, for HTML text and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a step leads (answered with `303 See Other`, or for a JSON client
/// `{"next": …, "path": …, "csrf": …}`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Place {
    /// The login page, with a notice.
    Login(Option<Notice>),
    /// A stage of the login.
    Stage(Stage),
    /// The resync's completion page.
    Resynced,
    /// The service's page for a logged-in user.
    Home,
    /// The logged-in user's password change.
    Password,
}

impl Place {
    fn name(&self) -> &'static str {
        match self {
            Self::Login(_) => "login",
            Self::Stage(s) => s.name(),
            Self::Resynced => "resynced",
            Self::Home => "home",
            Self::Password => "password",
        }
    }
}

/// What a handler answered: rendered by [`present`].
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    Show(View),
    Go(Place),
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Show(v) => v.status(),
            Self::Go(_) => StatusCode::SEE_OTHER,
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl IntoResponse for View {
    fn into_response(self) -> Response {
        Answer::Show(self).into_response()
    }
}

/// Where the login lives: its path prefix and the service's home.
#[derive(Clone, Debug)]
pub(crate) struct Paths {
    pub(crate) base: String,
    pub(crate) home: String,
}

impl Paths {
    pub(crate) fn of(&self, place: &Place) -> String {
        match place {
            Place::Login(None) => format!("{}/", self.base),
            Place::Login(Some(n)) => format!("{}/?done={}", self.base, n.code()),
            Place::Stage(s) => format!("{}/{}", self.base, s.name()),
            Place::Resynced => format!("{}/resync/done", self.base),
            Place::Home => self.home.clone(),
            Place::Password => format!("{}/password", self.base),
        }
    }
}

/// What [`present`] needs.
pub(crate) struct Presenter {
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) paths: Paths,
}

/// Whether the client asked for JSON: a JSON body, or `Accept` naming
/// `application/json`.
pub(crate) fn wants_json(headers: &axum::http::HeaderMap) -> bool {
    let names_json = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    names_json(header::ACCEPT) || names_json(header::CONTENT_TYPE)
}

/// The middleware that renders every [`View`] and [`Place`] answered
/// inside it: HTML through the [`Pages`], or JSON.
pub(crate) async fn present(
    State(presenter): State<Arc<Presenter>>,
    request: Request,
    next: Next,
) -> Response {
    let json = wants_json(request.headers());
    let mut response = next.run(request).await;
    let Some(answer) = response.extensions_mut().remove::<Answer>() else {
        return response;
    };
    let csrf = response
        .extensions()
        .get::<CsrfToken>()
        .map(CsrfToken::expose);
    let (mut parts, _) = response.into_parts();
    let body = match (&answer, json) {
        (Answer::Go(place), false) => {
            let to = presenter.paths.of(place);
            match HeaderValue::from_str(&to) {
                Ok(v) => {
                    parts.headers.insert(header::LOCATION, v);
                }
                Err(_) => parts.status = StatusCode::INTERNAL_SERVER_ERROR,
            }
            String::new()
        }
        (Answer::Go(place), true) => {
            parts.status = StatusCode::OK;
            json!({"next": place.name(), "path": presenter.paths.of(place), "csrf": csrf})
                .to_string()
        }
        (Answer::Show(view), false) => presenter.pages.render(view, &presenter.paths.base),
        (Answer::Show(view), true) => view.to_json().to_string(),
    };
    if let Answer::Show(view) = &answer
        && let Some(seconds) = view.retry_after()
    {
        parts.headers.insert(header::RETRY_AFTER, seconds.into());
    }
    let content_type = match (&answer, json) {
        (_, true) => Some("application/json"),
        (Answer::Show(_), false) => Some("text/html; charset=utf-8"),
        (Answer::Go(_), false) => None,
    };
    if let Some(ct) = content_type {
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Notice, Pages, View, escape};
    use crate::PlainPages;

    #[test]
    fn notices_read_back_from_their_codes_only() {
        for n in [
            Notice::Enrolled,
            Notice::Resynced,
            Notice::PasswordChanged,
            Notice::LoggedOut,
            Notice::SessionEnded,
        ] {
            assert_eq!(Notice::from_code(n.code()), Some(n));
        }
        assert_eq!(Notice::from_code("<script>"), None);
    }

    #[test]
    fn what_a_page_shows_again_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        let page = PlainPages.render(
            &View::Login {
                csrf: "t".into(),
                user_id: "\"><script>alert(1)</script>".into(),
                problem: None,
                notice: None,
            },
            "",
        );
        assert!(!page.contains("<script>"), "{page}");
    }
}

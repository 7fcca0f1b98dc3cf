//! The pages, as askama templates checked at compile time and escaped by
//! default. Customer pages are in Japanese, screen for screen as in the
//! manual (2.2–2.7).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Renders a page; a template that fails to render (it cannot, short of a
/// formatting error in a value) becomes a plain 500.
pub(crate) fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// What a page reports after a redirect: an error, a notice, the broken
/// password rules, or a value shown once.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Flash {
    /// An error message.
    pub(crate) error: Option<String>,
    /// A notice.
    pub(crate) notice: Option<String>,
    /// Every broken password rule, in Japanese (R-PWD-7).
    pub(crate) violations: Vec<String>,
    /// A value the desk shows once (a temporary password).
    pub(crate) once: Option<ShownOnce>,
}

/// A value shown once, with what it is.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ShownOnce {
    /// What it is, e.g. 「仮パスワード（ユーザ ID taro01）」.
    pub(crate) label: String,
    /// The value.
    pub(crate) value: String,
}

impl core::fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShownOnce")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// ログイン画面 (2.2, 2.4), for customers and, with `desk`, for operators.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) csrf: String,
    pub(crate) flash: Flash,
}

/// 利用開始登録 (2.2 (5), 2.3).
#[derive(Template)]
#[template(path = "enroll.html")]
pub(crate) struct EnrollPage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) csrf: String,
    pub(crate) flash: Flash,
}

/// OTP 認証 (2.4 (4), 2.5): the registered token ID, also on an error.
#[derive(Template)]
#[template(path = "otp.html")]
pub(crate) struct OtpPage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) csrf: String,
    pub(crate) token_id: String,
    pub(crate) flash: Flash,
}

/// 同期ズレ補正 (2.6).
#[derive(Template)]
#[template(path = "resync.html")]
pub(crate) struct ResyncPage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) csrf: String,
    pub(crate) token_id: String,
    pub(crate) flash: Flash,
}

/// 同期ズレ補正 完了 (2.6 (4)).
#[derive(Template)]
#[template(path = "resynced.html")]
pub(crate) struct ResyncedPage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) token_id: String,
}

/// パスワード変更 (2.4 (8)): forced, or (with `voluntary`) from the initial
/// screen with the current password.
#[derive(Template)]
#[template(path = "change.html")]
pub(crate) struct ChangePage<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) desk: bool,
    pub(crate) csrf: String,
    pub(crate) voluntary: bool,
    pub(crate) flash: Flash,
}

/// 初期画面 (2.4 (9)).
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) csrf: String,
    pub(crate) customer_name: String,
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) flash: Flash,
}

/// One audit event as the desk sees it.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub(crate) at: String,
    pub(crate) what: String,
    pub(crate) operator: String,
}

/// What the desk sees of one user.
#[derive(Debug)]
pub(crate) struct UserView {
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) customer_name: String,
    pub(crate) password_locked: bool,
    pub(crate) password_failures: u32,
    /// Password attempts made while it was locked (count, last).
    pub(crate) locked_attempts: String,
    pub(crate) must_change: String,
    pub(crate) token_id: String,
    pub(crate) otp_locked: bool,
    pub(crate) otp_failures: u32,
    pub(crate) revoked: String,
    pub(crate) last_login: String,
    pub(crate) events: Vec<EventRow>,
}

/// The support-desk console: find a user, see and act; create a user.
#[derive(Template)]
#[template(path = "desk.html")]
pub(crate) struct DeskPage {
    pub(crate) csrf: String,
    pub(crate) operator_id: String,
    pub(crate) query: String,
    pub(crate) user: Option<UserView>,
    pub(crate) flash: Flash,
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) title: &'a str,
    pub(crate) message: &'a str,
    pub(crate) back: &'a str,
}

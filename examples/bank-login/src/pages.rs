//! The pages, as askama templates checked at compile time and escaped by
//! default: every view of the login (`lockstep_axum::View`) in the
//! manual's Japanese, screen for screen (2.2–2.7), with the manual's
//! spelling and button labels, and what to do after each error.

use askama::Template;
use lockstep::account::Refusal;
use lockstep_axum::{Notice, Pages, Problem, View};

/// Renders a page; a template that fails to render (it cannot, short of a
/// formatting error in a value) becomes a plain error text.
pub(crate) fn html(page: &impl Template) -> axum::response::Html<String> {
    axum::response::Html(page.html())
}

/// What a page reports: an error, the broken password rules, what to do,
/// a notice, and a value the desk shows once.
#[derive(Debug, Default, Clone)]
pub struct Messages {
    /// An error message.
    pub error: Option<String>,
    /// Every broken password rule (R-PWD-7).
    pub violations: Vec<String>,
    /// What to do now (the manual's conditions).
    pub hints: Vec<String>,
    /// A notice.
    pub notice: Option<String>,
}

/// The manual's conditions on OTP1 and OTP2 (2.3.2, 2.6.3).
const CONSECUTIVE: [&str; 3] = [
    "OTP1、OTP2 は、トークンに続けて表示された2つのワンタイムパスワードを入力してください。",
    "OTP2 は、表示されてから30秒以内に入力してください。一度使用したワンタイムパスワードは使えません。",
    "一度エラーとなった場合は、OTP1、OTP2 とも新しいワンタイムパスワードを入力し直してください。",
];

impl Messages {
    fn problem(problem: Option<&Problem>) -> Self {
        let Some(p) = problem else {
            return Self::default();
        };
        match &p.refusal {
            Refusal::PasswordRejected(_) => Self {
                error: Some("新しいパスワードが条件を満たしていません。".into()),
                violations: p.details_ja.clone(),
                ..Self::default()
            },
            _ => Self {
                error: Some(p.message_ja.clone()),
                ..Self::default()
            },
        }
    }

    fn notice(notice: Option<Notice>, token_id: &str) -> Option<String> {
        Some(match notice? {
            Notice::Enrolled => format!(
                "トークン ID {token_id} を登録しました。続けて、新しいワンタイムパスワードを入力して［OTP ログイン］を押してください。"
            ),
            // The completion page has said so already.
            Notice::Resynced => return None,
            Notice::PasswordChanged => "ログインパスワードを変更しました。".into(),
            Notice::LoggedOut => "ログアウトしました。".into(),
            Notice::SessionEnded => {
                "ログインの有効期限が切れました。もう一度ログインしてください。".into()
            }
            _ => return None,
        })
    }
}

/// Whether a refusal on the enrollment or resync page is about the two
/// codes (the manual's conditions then say what to do); a lock is not.
fn about_the_codes(problem: Option<&Problem>, failed: &Refusal) -> bool {
    problem.is_some_and(|p| {
        &p.refusal == failed
            || matches!(p.refusal, Refusal::InvalidCode | Refusal::MalformedCode(_))
    })
}

/// ログイン画面 (2.2, 2.4).
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    prefix: &'a str,
    desk: bool,
    csrf: &'a str,
    user_id: &'a str,
    messages: Messages,
}

/// 利用開始登録 (2.2 (5), 2.3).
#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage<'a> {
    prefix: &'a str,
    desk: bool,
    csrf: &'a str,
    token_id: &'a str,
    messages: Messages,
}

/// OTP 認証 (2.4 (4), 2.5): the registered token ID, also on an error.
#[derive(Template)]
#[template(path = "otp.html")]
struct OtpPage<'a> {
    prefix: &'a str,
    desk: bool,
    csrf: &'a str,
    token_id: &'a str,
    messages: Messages,
}

/// 同期ズレ補正 (2.6).
#[derive(Template)]
#[template(path = "resync.html")]
struct ResyncPage<'a> {
    prefix: &'a str,
    desk: bool,
    csrf: &'a str,
    token_id: &'a str,
    messages: Messages,
}

/// 同期ズレ補正 完了 (2.6 (4)).
#[derive(Template)]
#[template(path = "resynced.html")]
struct ResyncedPage<'a> {
    prefix: &'a str,
    desk: bool,
    token_id: &'a str,
}

/// パスワード変更 (2.4 (8)): required, or (with `voluntary`) from the
/// initial screen with the current password.
#[derive(Template)]
#[template(path = "change.html")]
struct ChangePage<'a> {
    prefix: &'a str,
    desk: bool,
    csrf: &'a str,
    voluntary: bool,
    messages: Messages,
}

/// 初期画面 (2.4 (9)).
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) csrf: String,
    pub(crate) customer_name: String,
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) messages: Messages,
}

/// A page that only says something and leads back.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) desk: bool,
    pub(crate) title: &'a str,
    pub(crate) message: String,
    pub(crate) back: String,
    pub(crate) back_label: &'a str,
}

impl ErrorPage<'_> {
    pub(crate) fn failed(prefix: &str) -> Self {
        ErrorPage {
            desk: !prefix.is_empty(),
            title: "システムエラー",
            message: "システムエラーが発生しました。お手数ですが、最初からやり直してください。"
                .into(),
            back: format!("{prefix}/"),
            back_label: "ログイン画面へ",
        }
    }
}

/// The bank's pages of one side.
#[derive(Debug, Clone, Copy)]
pub struct BankPages {
    desk: bool,
}

impl BankPages {
    /// The customers' pages.
    #[must_use]
    pub const fn customers() -> Self {
        Self { desk: false }
    }

    /// The support desk's pages.
    #[must_use]
    pub const fn desk() -> Self {
        Self { desk: true }
    }
}

impl Pages for BankPages {
    fn render(&self, view: &View, base: &str) -> String {
        let desk = self.desk;
        let prefix = base;
        let page = |p: &dyn DynPage| p.html();
        match view {
            View::Login {
                csrf,
                user_id,
                problem,
                notice,
            } => {
                let mut messages = Messages::problem(problem.as_ref());
                messages.notice = Messages::notice(*notice, "");
                page(&LoginPage {
                    prefix,
                    desk,
                    csrf,
                    user_id,
                    messages,
                })
            }
            View::Enroll {
                csrf,
                token_id,
                problem,
            } => {
                let mut messages = Messages::problem(problem.as_ref());
                if about_the_codes(problem.as_ref(), &Refusal::EnrollmentFailed) {
                    messages.hints = CONSECUTIVE.iter().map(|s| (*s).to_owned()).collect();
                }
                page(&EnrollPage {
                    prefix,
                    desk,
                    csrf,
                    token_id,
                    messages,
                })
            }
            View::Otp {
                csrf,
                token_id,
                problem,
                notice,
            } => {
                let mut messages = Messages::problem(problem.as_ref());
                messages.notice = Messages::notice(*notice, token_id);
                if let Some(p) = problem
                    && matches!(p.refusal, Refusal::InvalidCode | Refusal::ResyncRequired)
                {
                    messages.hints = vec![
                        "［トークン ID］欄の表示が、ソフトトークンの「トークン ID」と同じであることをご確認ください。".into(),
                        "一度使用したワンタイムパスワード、生成後30秒を過ぎたワンタイムパスワードは使えません。".into(),
                    ];
                }
                page(&OtpPage {
                    prefix,
                    desk,
                    csrf,
                    token_id,
                    messages,
                })
            }
            View::Resync {
                csrf,
                token_id,
                problem,
            } => {
                let mut messages = Messages::problem(problem.as_ref());
                if about_the_codes(problem.as_ref(), &Refusal::ResyncFailed) {
                    messages.hints = CONSECUTIVE.iter().map(|s| (*s).to_owned()).collect();
                }
                page(&ResyncPage {
                    prefix,
                    desk,
                    csrf,
                    token_id,
                    messages,
                })
            }
            View::Resynced { token_id } => page(&ResyncedPage {
                prefix,
                desk,
                token_id,
            }),
            View::Change {
                csrf,
                voluntary,
                problem,
            } => page(&ChangePage {
                prefix,
                desk,
                csrf,
                voluntary: *voluntary,
                messages: Messages::problem(problem.as_ref()),
            }),
            other => page(&said(other, prefix, desk)),
        }
    }
}

/// The page of a view that only says something.
fn said<'a>(view: &View, prefix: &str, desk: bool) -> ErrorPage<'a> {
    let login = format!("{prefix}/");
    let (title, message, back, back_label) = match view {
        View::Expired => (
            "ログインの有効期限切れ",
            "一定時間操作がなかったか、ほかの操作によりログインが終了しました。お手数ですが、もう一度ログインしてください。".to_owned(),
            login,
            "ログイン画面へ",
        ),
        View::NotFound => (
            "ページが見つかりません",
            "お探しのページは見つかりませんでした。アドレスをご確認ください。".to_owned(),
            login,
            "ログイン画面へ",
        ),
        View::Forbidden => (
            "操作を受け付けられません",
            "画面の有効期限が切れたか、ほかのサイトからの操作のため受け付けられませんでした。画面を開き直して、もう一度お試しください。".to_owned(),
            login,
            "ログイン画面へ",
        ),
        View::BadRequest => (
            "入力内容を受け付けられません",
            "入力内容を確認できませんでした。画面を開き直して、もう一度お試しください。".to_owned(),
            login,
            "ログイン画面へ",
        ),
        View::PayloadTooLarge => (
            "入力内容を受け付けられません",
            "送信された内容が大きすぎるため受け付けられませんでした。画面を開き直して、もう一度お試しください。".to_owned(),
            login,
            "ログイン画面へ",
        ),
        View::TooManyRequests { retry_after } => (
            "アクセスが集中しています",
            format!("短い間に多くの操作が行われたため、受付を一時停止しています。{retry_after}秒ほど待ってから、もう一度お試しください。"),
            login,
            "ログイン画面へ",
        ),
        View::Busy { retry_after } => (
            "ただいま混み合っています",
            format!("ただいま混み合っています。入力された内容は受け付けていません。{retry_after}秒ほど待ってから、もう一度お試しください。"),
            login,
            "ログイン画面へ",
        ),
        _ => return ErrorPage::failed(prefix),
    };
    ErrorPage {
        desk,
        title,
        message,
        back,
        back_label,
    }
}

/// A template, whatever its type.
trait DynPage {
    fn html(&self) -> String;
}

impl<T: Template> DynPage for T {
    fn html(&self) -> String {
        self.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "a page did not render");
            "システムエラーが発生しました。".to_owned()
        })
    }
}

//! Why an input was refused, with a stable code, English and Japanese.

use core::fmt;

use lockstep_otp::{CodeError, CredentialIdError};
use lockstep_password::Violations;

/// Why an input was refused. [`Refusal::InvalidCredentials`] is the one
/// public answer for an unknown user ID, a wrong password and a locked user
/// ID (R-LOG-5): the audit event records which it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Unknown user ID, wrong password or locked user ID: one answer for all.
    InvalidCredentials,
    /// The temporary password has expired (only with an opt-in expiry).
    TemporaryPasswordExpired,
    /// The token is locked (or, before one is bound, enrollment is): the
    /// support desk must unlock it (R-LCK-2).
    TokenLocked,
    /// No valid ticket or session for this input: missing, wrong, expired,
    /// used, for another stage, or voided. Not counted.
    InvalidTicket,
    /// The code is wrong or already used. Counted.
    InvalidCode,
    /// The code is not N ASCII digits (not counted at login and resync).
    MalformedCode(CodeError),
    /// The token ID is not 4 letters and 8 digits (counted at enrollment).
    MalformedTokenId(CredentialIdError),
    /// The token ID is unknown, bound to another user or revoked. Counted.
    TokenUnavailable,
    /// The stored drift lies beyond the configured bound (the bound was
    /// lowered): resynchronise first. Not counted.
    ResyncRequired,
    /// ［利用開始登録］ was chosen, but a token is registered: use
    /// ［ワンタイムパスワードログイン］ (R-LOG-6, R-TOK-1).
    AlreadyEnrolled,
    /// ［ワンタイムパスワードログイン］ was chosen, but no token is registered:
    /// use ［利用開始登録］ (R-LOG-6, R-ENR-1).
    NotEnrolled,
    /// A voluntary change while a required change is pending: the login
    /// must finish it first (R-LOG-4).
    ChangeRequired,
    /// The new password breaks rules; every broken rule is listed (R-PWD-7).
    PasswordRejected(Violations),
    /// No token is bound (revoke of nothing).
    NoToken,
    /// The account does not exist (operator actions only).
    UnknownAccount,
}

impl Refusal {
    /// A stable machine-readable identifier, for logs and metrics.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::TemporaryPasswordExpired => "temporary_password_expired",
            Self::TokenLocked => "token_locked",
            Self::InvalidTicket => "invalid_ticket",
            Self::InvalidCode => "invalid_code",
            Self::MalformedCode(_) => "malformed_code",
            Self::MalformedTokenId(_) => "malformed_token_id",
            Self::TokenUnavailable => "token_unavailable",
            Self::ResyncRequired => "resync_required",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::NotEnrolled => "not_enrolled",
            Self::ChangeRequired => "change_required",
            Self::PasswordRejected(_) => "password_rejected",
            Self::NoToken => "no_token",
            Self::UnknownAccount => "unknown_account",
        }
    }

    /// The message in Japanese, for the manual's pages. An unknown user ID,
    /// a wrong password and a locked user ID read the same (R-LOG-5), and
    /// the text says what the manual says: five failures lock the ID, and
    /// the branch or the support desk unlocks it.
    #[must_use]
    pub fn message_ja(&self) -> String {
        match self {
            Self::InvalidCredentials => "ユーザIDまたはログインパスワードが正しくありません。\
                 ログインパスワードを5回続けて誤るとユーザIDがロックされます。\
                 ロックされた場合は、お取引店またはサポートデスクへご連絡ください。"
                .into(),
            Self::TemporaryPasswordExpired => {
                "仮パスワードの有効期限が切れています。お取引店またはサポートデスクへご連絡ください。"
                    .into()
            }
            Self::TokenLocked => "このトークンIDは使用できません（ワンタイムパスワードがロックされています）。\
                 お取引店またはサポートデスクへご連絡ください。"
                .into(),
            Self::InvalidTicket => {
                "操作の有効期限が切れました。最初からやり直してください。".into()
            }
            Self::InvalidCode => "ワンタイムパスワードが正しくありません。\
                 10回続けて誤るとトークンIDが使用できなくなります。"
                .into(),
            Self::MalformedCode(CodeError::FullWidthDigit { position }) => format!(
                "ワンタイムパスワードの{position}文字目が全角です。半角数字で入力してください。"
            ),
            Self::MalformedCode(_) => {
                "ワンタイムパスワードは半角数字で、表示されている桁数をそのまま入力してください。"
                    .into()
            }
            Self::MalformedTokenId(_) => {
                "トークンIDは英字4文字と数字8桁で入力してください。".into()
            }
            Self::TokenUnavailable => "このトークンIDは登録できません。".into(),
            Self::ResyncRequired => {
                "トークンの時刻がずれています。同期ズレ補正を行ってください。".into()
            }
            Self::AlreadyEnrolled => "トークンは登録済みです。\
                 ［ワンタイムパスワードログイン］からログインしてください。"
                .into(),
            Self::NotEnrolled => "トークンが登録されていません。\
                 ［利用開始登録］から登録してください。"
                .into(),
            Self::ChangeRequired => {
                "パスワードの変更が必要です。ログインからやり直してください。".into()
            }
            Self::PasswordRejected(v) => v
                .iter()
                .map(lockstep_password::Violation::message_ja)
                .collect::<Vec<_>>()
                .join("\n"),
            Self::NoToken => "トークンが登録されていません。".into(),
            Self::UnknownAccount => "該当するユーザIDがありません。".into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str(
                "the user ID or password is incorrect; five wrong passwords in a row lock the \
                 user ID, after which contact your branch or the support desk",
            ),
            Self::TemporaryPasswordExpired => f.write_str(
                "the temporary password has expired; contact your branch or the support desk",
            ),
            Self::TokenLocked => f.write_str(
                "this token ID cannot be used (the one-time password is locked); contact your \
                 branch or the support desk",
            ),
            Self::InvalidTicket => f.write_str("the login has expired; start again"),
            Self::InvalidCode => f.write_str(
                "the one-time password is incorrect; ten in a row make the token ID unusable",
            ),
            Self::MalformedCode(e) => fmt::Display::fmt(e, f),
            Self::MalformedTokenId(e) => fmt::Display::fmt(e, f),
            Self::TokenUnavailable => f.write_str("this token ID cannot be registered"),
            Self::ResyncRequired => {
                f.write_str("the token's clock is off; correct the drift (resync) first")
            }
            Self::AlreadyEnrolled => {
                f.write_str("a token is registered already; use the one-time-password login")
            }
            Self::NotEnrolled => {
                f.write_str("no token is registered yet; use first-use registration")
            }
            Self::ChangeRequired => f.write_str("the password must be changed first; log in again"),
            Self::PasswordRejected(v) => fmt::Display::fmt(v, f),
            Self::NoToken => f.write_str("no token is registered"),
            Self::UnknownAccount => f.write_str("no such account"),
        }
    }
}

//! Why an input was refused, with a stable code, and its text in English
//! and Japanese with the caps of the configuration in use.

use core::fmt;

use lockstep_otp::{CodeError, CredentialIdError};
use lockstep_password::Violations;

use crate::config::Config;

/// Why an input was refused. [`Refusal::InvalidCredentials`] is the one
/// public answer for an unknown user ID, a wrong password and a locked user
/// ID (R-LOG-5): the audit event records which it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Unknown user ID, wrong password or locked user ID: one answer for all.
    InvalidCredentials,
    /// Too many password steps are waiting for a hash already: try again
    /// shortly. The same for every user ID, not counted, nothing written.
    Busy,
    /// The temporary password has expired (only with an opt-in expiry).
    TemporaryPasswordExpired,
    /// The token is locked (or, before one is bound, enrollment is): the
    /// support desk must unlock it (R-LCK-2).
    TokenLocked,
    /// No valid ticket or session for this input: missing, wrong, expired,
    /// used, for another stage, or voided. Not counted.
    InvalidTicket,
    /// The login's code is wrong or already used. Counted.
    InvalidCode,
    /// Enrollment failed: the token ID cannot be registered (unknown,
    /// another user's, revoked) or the two codes are not two consecutive
    /// current codes of it — one answer for all, so that enrollment tells
    /// nobody which token IDs exist (R-ENR-3, R-ENR-5). Counted.
    EnrollmentFailed,
    /// Resync failed: the two codes are not two consecutive fresh codes of
    /// the token (R-SYN-2). Counted.
    ResyncFailed,
    /// The code is not N ASCII digits (not counted at login and resync).
    MalformedCode(CodeError),
    /// The token ID is not 4 letters and 8 digits (counted at enrollment).
    MalformedTokenId(CredentialIdError),
    /// The token's seed is missing from the directory or its kind changed:
    /// a fault of the service, not counted.
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
    /// The current password given for a voluntary change is wrong (counted
    /// as a password failure, R-LCK-1). Only a logged-in user sees it.
    WrongCurrentPassword,
    /// The new password breaks rules; every broken rule is listed (R-PWD-7).
    PasswordRejected(Violations),
    /// No token is bound (revoke of nothing).
    NoToken,
    /// The account does not exist (operator actions only).
    UnknownAccount,
    /// Account creation: the user ID is taken.
    UserIdTaken,
    /// Account creation: the user ID is empty, longer than
    /// [`crate::machine::MAX_USER_ID_BYTES`], or holds control characters.
    UserIdRejected,
}

impl Refusal {
    /// A stable machine-readable identifier, for logs and metrics.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Busy => "busy",
            Self::TemporaryPasswordExpired => "temporary_password_expired",
            Self::TokenLocked => "token_locked",
            Self::InvalidTicket => "invalid_ticket",
            Self::InvalidCode => "invalid_code",
            Self::EnrollmentFailed => "enrollment_failed",
            Self::ResyncFailed => "resync_failed",
            Self::MalformedCode(_) => "malformed_code",
            Self::MalformedTokenId(_) => "malformed_token_id",
            Self::TokenUnavailable => "token_unavailable",
            Self::ResyncRequired => "resync_required",
            Self::AlreadyEnrolled => "already_enrolled",
            Self::NotEnrolled => "not_enrolled",
            Self::ChangeRequired => "change_required",
            Self::WrongCurrentPassword => "wrong_current_password",
            Self::PasswordRejected(_) => "password_rejected",
            Self::NoToken => "no_token",
            Self::UnknownAccount => "unknown_account",
            Self::UserIdTaken => "user_id_taken",
            Self::UserIdRejected => "user_id_rejected",
        }
    }

    /// The message in Japanese, for the manual's pages, with the lock
    /// thresholds of `config`. An unknown user ID, a wrong password and a
    /// locked user ID read the same (R-LOG-5), and the text says what the
    /// manual says: that many failures lock the ID, and the branch or the
    /// support desk unlocks it.
    #[must_use]
    pub fn message_ja(&self, config: &Config) -> String {
        let (pw, otp) = (config.password_lock_after(), config.otp_lock_after());
        match self {
            Self::InvalidCredentials => format!(
                "ユーザ ID またはログインパスワードが正しくありません。\
                 ログインパスワードを{pw}回続けて誤るとユーザ ID がロックされます。\
                 ロックされた場合は、お取引店またはサポートデスクへご連絡ください。"
            ),
            Self::Busy => "ただいま混み合っています。しばらく待ってから、もう一度お試しください。"
                .into(),
            Self::TemporaryPasswordExpired => {
                "仮パスワードの有効期限が切れています。お取引店またはサポートデスクへご連絡ください。"
                    .into()
            }
            Self::TokenLocked => "このトークン ID は使用できません（ワンタイムパスワードがロックされています）。\
                 お取引店またはサポートデスクへご連絡ください。"
                .into(),
            Self::InvalidTicket => {
                "操作の有効期限が切れました。最初からやり直してください。".into()
            }
            Self::InvalidCode => format!(
                "ワンタイムパスワードが正しくないか、すでに使用されています。\
                 トークンに表示されている新しいワンタイムパスワードを入力してください。\
                 正しく入力しても認証できない場合は、トークンの時刻がずれている可能性がありますので、\
                 ［同期ズレ補正］を行ってください。\
                 {otp}回続けて誤るとトークン ID が使用できなくなります。"
            ),
            Self::EnrollmentFailed => format!(
                "トークン ID、OTP1、OTP2のいずれかが正しくありません。\
                 トークン ID を確かめ、トークンに続けて表示された2つのワンタイムパスワードを、\
                 OTP2が表示されてから30秒以内に、両方とも入力し直してください。\
                 {otp}回続けて誤るとご利用いただけなくなります。"
            ),
            Self::ResyncFailed => format!(
                "OTP1、OTP2が正しくありません。\
                 トークンに続けて表示された2つのワンタイムパスワードを、\
                 OTP2が表示されてから30秒以内に、両方とも入力し直してください。\
                 {otp}回続けて誤るとトークン ID が使用できなくなります。"
            ),
            Self::MalformedCode(CodeError::FullWidthDigit { position }) => format!(
                "ワンタイムパスワードの{position}文字目が全角です。半角数字で入力してください。"
            ),
            Self::MalformedCode(_) => {
                "ワンタイムパスワードは半角数字で、表示されている桁数をそのまま入力してください。"
                    .into()
            }
            Self::MalformedTokenId(_) => {
                "トークン ID は英字4文字と数字8桁で入力してください。".into()
            }
            Self::TokenUnavailable => {
                "トークンを確認できませんでした。サポートデスクへご連絡ください。".into()
            }
            Self::ResyncRequired => {
                "トークンの時刻がずれています。［同期ズレ補正］を行ってください。".into()
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
            Self::WrongCurrentPassword => format!(
                "現在のログインパスワードが正しくありません。\
                 {pw}回続けて誤るとユーザ ID がロックされます。"
            ),
            Self::PasswordRejected(v) => v
                .iter()
                .map(lockstep_password::Violation::message_ja)
                .collect::<Vec<_>>()
                .join("\n"),
            Self::NoToken => "トークンが登録されていません。".into(),
            Self::UnknownAccount => "該当するユーザ ID がありません。".into(),
            Self::UserIdTaken => "このユーザ ID はすでに使われています。".into(),
            Self::UserIdRejected => {
                "ユーザ ID は1〜64バイトで、制御文字を含めずに指定してください。".into()
            }
        }
    }

    /// The message in English, with the lock thresholds of `config`.
    #[must_use]
    pub fn message_en(&self, config: &Config) -> String {
        let (pw, otp) = (config.password_lock_after(), config.otp_lock_after());
        match self {
            Self::InvalidCredentials => format!(
                "the user ID or password is incorrect; {pw} wrong passwords in a row lock the \
                 user ID, after which contact your branch or the support desk"
            ),
            Self::InvalidCode => format!(
                "the one-time password is incorrect or used already; {otp} in a row make the \
                 token ID unusable"
            ),
            Self::EnrollmentFailed => format!(
                "the token ID or the two codes are incorrect: enter two consecutive codes of \
                 the token, the second within 30 s of its appearing, both again; {otp} failures \
                 in a row lock registration"
            ),
            Self::ResyncFailed => format!(
                "the two codes are not two consecutive fresh codes of the token: enter both \
                 again, the second within 30 s of its appearing; {otp} failures in a row make \
                 the token ID unusable"
            ),
            Self::WrongCurrentPassword => format!(
                "the current password is incorrect; {pw} wrong passwords in a row lock the user ID"
            ),
            other => other.to_string(),
        }
    }
}

/// The English text without the configured caps; see
/// [`Refusal::message_en`] for the text with them.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCredentials => f.write_str(
                "the user ID or password is incorrect; repeated wrong passwords lock the user \
                 ID, after which contact your branch or the support desk",
            ),
            Self::Busy => f.write_str("the service is busy; try again in a moment"),
            Self::TemporaryPasswordExpired => f.write_str(
                "the temporary password has expired; contact your branch or the support desk",
            ),
            Self::TokenLocked => f.write_str(
                "this token ID cannot be used (the one-time password is locked); contact your \
                 branch or the support desk",
            ),
            Self::InvalidTicket => f.write_str("the login has expired; start again"),
            Self::InvalidCode => f.write_str(
                "the one-time password is incorrect or used already; repeated failures make \
                 the token ID unusable",
            ),
            Self::EnrollmentFailed => f.write_str(
                "the token ID or the two codes are incorrect: enter two consecutive codes of \
                 the token, the second within 30 s of its appearing, both again",
            ),
            Self::ResyncFailed => f.write_str(
                "the two codes are not two consecutive fresh codes of the token: enter both \
                 again, the second within 30 s of its appearing",
            ),
            Self::MalformedCode(e) => fmt::Display::fmt(e, f),
            Self::MalformedTokenId(e) => fmt::Display::fmt(e, f),
            Self::TokenUnavailable => {
                f.write_str("the token cannot be checked now; contact the support desk")
            }
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
            Self::WrongCurrentPassword => f.write_str("the current password is incorrect"),
            Self::PasswordRejected(v) => fmt::Display::fmt(v, f),
            Self::NoToken => f.write_str("no token is registered"),
            Self::UnknownAccount => f.write_str("no such account"),
            Self::UserIdTaken => f.write_str("the user ID is taken"),
            Self::UserIdRejected => {
                f.write_str("a user ID is 1 to 64 bytes without control characters")
            }
        }
    }
}

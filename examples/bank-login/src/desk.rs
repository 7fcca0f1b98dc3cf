//! The support-desk console (R-OPS-1, R-OPS-2, R-OPS-3, R-ACC-2): find a
//! user; see the locks, counters, the bound token, the last login and the
//! audit events; unlock, reset, revoke, create. Operators log in through
//! the same flow as customers (password, their own token, a required
//! change), on the desk's own store, path prefix and session cookie; every
//! action records the operator's ID.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use lockstep::account::{
    AccountStore, AuditEvent, AuditLog, Cursor, EventKind, Factor, MustChange, OperatorAction,
    Outcome, Refusal,
};
use serde::Deserialize;
use tower_sessions::Session;

use crate::flow::{Desk, flash_error, logged_in, set_flash, take_flash, to};
use crate::pages::{DeskPage, EventRow, Flash, ShownOnce, UserView, render};
use crate::security::csrf_token;
use crate::{AppError, Backend, Bank, secret};

/// How many of a user's latest audit events the console lists.
const EVENTS_SHOWN: usize = 50;

/// The search box.
#[derive(Deserialize)]
pub(crate) struct Find {
    #[serde(default)]
    user_id: String,
}

/// GET `/desk/home`: the console, with the user found, if any.
pub(crate) async fn console<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Query(find): Query<Find>,
) -> Result<Response, AppError> {
    let me = match logged_in::<S, Desk>(&bank, &session).await? {
        Ok(me) => me,
        Err(r) => return Ok(r),
    };
    let mut flash = take_flash(&session).await?;
    let query = find.user_id.trim().to_owned();
    let user = if query.is_empty() {
        None
    } else {
        let found = view(&bank, &query).await?;
        if found.is_none() && flash.error.is_none() {
            flash.error = Some(format!("ユーザ ID {query} は見つかりません。"));
        }
        found
    };
    let page = DeskPage {
        csrf: csrf_token(&session).await?,
        operator_id: me.user_id,
        query,
        user,
        flash,
    };
    Ok(render(&page))
}

/// What the console shows of `user_id`.
async fn view<S: Backend>(bank: &Bank<S>, user_id: &str) -> Result<Option<UserView>, AppError> {
    let store = &bank.customers.store;
    let Some(account) = store.load(user_id).await? else {
        return Ok(None);
    };
    // The newest page only: the log is never read whole (anyone can grow it).
    let events = store.events(user_id, Cursor::Newest, EVENTS_SHOWN).await?;
    let last_login = events
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::LoggedIn))
        .map_or_else(|| "なし".to_owned(), |e| jst(e.event.at));
    let rows = events.iter().map(|e| row(&e.event)).collect();
    let (otp_locked, otp_failures) = account
        .token
        .as_ref()
        .map_or((account.enrollment.locked, account.enrollment.count), |t| {
            (t.failures.locked, t.failures.count)
        });
    let must_change = match account.password.must_change {
        Some(MustChange::FirstLogin) => "・初回ログイン時に変更が必要",
        Some(MustChange::Reset) => "・初期化済み（次回ログイン時に変更が必要）",
        Some(MustChange::Expired) => "・有効期限切れ",
        Some(_) => "・変更が必要",
        None => "",
    };
    // Attempts the record does not count: those made while the password
    // was locked (lockstep notes them where it reserves a known attempt).
    let tries = store.attempts(user_id).await?;
    let locked_attempts = match tries.last_at {
        Some(last) if tries.count > 0 => format!("累計 {} 回（最終 {}）", tries.count, jst(last)),
        _ => "なし".to_owned(),
    };
    let revoked: Vec<String> = account
        .revoked_tokens
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Some(UserView {
        user_id: account.user_id.clone(),
        user_name: account.user_name.clone(),
        customer_name: account.customer_name.clone(),
        password_locked: account.password.failures.locked,
        password_failures: account.password.failures.count,
        locked_attempts,
        must_change: must_change.to_owned(),
        token_id: account
            .token
            .as_ref()
            .map_or_else(|| "未登録".to_owned(), |t| t.credential_id.to_string()),
        otp_locked,
        otp_failures,
        revoked: if revoked.is_empty() {
            "なし".to_owned()
        } else {
            revoked.join(", ")
        },
        last_login,
        events: rows,
    }))
}

fn row(e: &AuditEvent) -> EventRow {
    EventRow {
        at: jst(e.at),
        what: describe(&e.kind),
        operator: e.operator_id.clone().unwrap_or_default(),
    }
}

/// An audit event in the desk's words (the kinds carry no secret: the audit
/// log's own rule).
fn describe(kind: &EventKind) -> String {
    let factor = |f: &Factor| match f {
        Factor::Password => "パスワード",
        Factor::Otp => "ワンタイムパスワード",
    };
    match kind {
        EventKind::UnknownUser => "存在しないユーザ ID でのログイン".into(),
        EventKind::PasswordAccepted => "パスワード認証 成功".into(),
        EventKind::PasswordRehashed => "パスワードハッシュ更新".into(),
        EventKind::PasswordFailed { failures } => format!("パスワード誤り（連続 {failures} 回）"),
        EventKind::LockedAttempt { factor: f } => format!("ロック中の{}での試行", factor(f)),
        EventKind::Locked { factor: f } => format!("{}をロック", factor(f)),
        EventKind::OtpAccepted { .. } => "ワンタイムパスワード認証 成功".into(),
        EventKind::OtpFailed { failures } => {
            format!("ワンタイムパスワード誤り（連続 {failures} 回）")
        }
        EventKind::OtpReplayed { failures } => {
            format!("使用済みワンタイムパスワード（連続 {failures} 回）")
        }
        EventKind::TicketRejected => "無効な操作（期限切れ・順序違い）".into(),
        EventKind::TemporaryPasswordExpired => "仮パスワード期限切れ".into(),
        EventKind::PasswordChangeRequired { .. } => "パスワード変更が必要".into(),
        EventKind::Refused { reason } => format!("受付不可（{reason}）"),
        EventKind::Enrolled { token_id, drift } => {
            format!("利用開始登録 トークン ID {token_id}（ズレ {drift} ステップ）")
        }
        EventKind::EnrollmentFailed { failures } => {
            format!("利用開始登録 失敗（連続 {failures} 回）")
        }
        EventKind::Resynced { token_id, drift } => {
            format!("同期ズレ補正 トークン ID {token_id}（ズレ {drift} ステップ）")
        }
        EventKind::ResyncFailed { failures } => format!("同期ズレ補正 失敗（連続 {failures} 回）"),
        EventKind::PasswordChanged => "パスワード変更".into(),
        EventKind::PasswordChangeRejected { codes } => {
            format!("パスワード変更 不可（{}）", codes.join(", "))
        }
        EventKind::LoggedIn => "ログイン".into(),
        EventKind::LoggedOut => "ログアウト".into(),
        EventKind::AccountCreated => "ユーザ作成".into(),
        EventKind::Unlocked { factor: f } => format!("{}のロック解除", factor(f)),
        EventKind::PasswordReset => "パスワード初期化".into(),
        EventKind::TokenRevoked { token_id } => format!("トークン失効 トークン ID {token_id}"),
        other => format!("{other:?}"),
    }
}

/// Unix seconds as Japan time, `2026-11-26 09:30:00`.
pub(crate) fn jst(at: u64) -> String {
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    let offset = time::UtcOffset::from_hms(9, 0, 0).unwrap_or(time::UtcOffset::UTC);
    match time::OffsetDateTime::from_unix_timestamp(at) {
        Ok(t) => {
            let t = t.to_offset(offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => at.to_string(),
    }
}

/// An action on a user.
#[derive(Deserialize)]
pub(crate) struct ActionForm {
    user_id: String,
    action: String,
}

/// POST `/desk/action`: unlock the password or the token, reset the
/// password, revoke the token.
pub(crate) async fn action<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<ActionForm>,
) -> Result<Response, AppError> {
    let me = match logged_in::<S, Desk>(&bank, &session).await? {
        Ok(me) => me,
        Err(r) => return Ok(r),
    };
    let back = format!("/home?user_id={}", encode(&form.user_id));
    let auth = &bank.customers.auth;
    let operator = me.user_id.as_str();
    let user_id = form.user_id.as_str();
    let (outcome, done, once) = match form.action.as_str() {
        "unlock_password" => (
            auth.operator(operator, user_id, OperatorAction::UnlockPassword)
                .await?
                .outcome,
            "パスワードのロックを解除しました。",
            None,
        ),
        "unlock_token" => (
            auth.operator(operator, user_id, OperatorAction::UnlockToken)
                .await?
                .outcome,
            "ワンタイムパスワードのロックを解除しました。",
            None,
        ),
        "revoke_token" => (
            auth.operator(operator, user_id, OperatorAction::RevokeToken)
                .await?
                .outcome,
            "トークンを失効させました。お客様は新しいトークンで利用開始登録ができます。",
            None,
        ),
        "reset_password" => {
            let Some(account) = bank.customers.store.load(user_id).await? else {
                flash_error(&session, format!("ユーザ ID {user_id} は見つかりません。")).await?;
                return Ok(to::<Desk>(&back));
            };
            let temporary = secret::temporary_password(&bank.policy, user_id, &account.user_name)?;
            let outcome = auth
                .operator(
                    operator,
                    user_id,
                    OperatorAction::ResetPassword {
                        temporary: &temporary,
                    },
                )
                .await?
                .outcome;
            let once = ShownOnce {
                label: format!("仮パスワード（ユーザ ID {user_id}）"),
                value: temporary.expose().to_owned(),
            };
            (
                outcome,
                "パスワードを初期化しました。次回ログイン時に変更が必要です。",
                Some(once),
            )
        }
        _ => {
            flash_error(&session, "操作が正しくありません。".into()).await?;
            return Ok(to::<Desk>(&back));
        }
    };
    let flash = match outcome {
        Outcome::Done => Flash {
            notice: Some(done.to_owned()),
            once,
            ..Flash::default()
        },
        other => Flash {
            error: Some(other.refusal().map_or_else(
                || "操作できませんでした。".to_owned(),
                |r| r.message_ja(bank.customers.auth.config()),
            )),
            ..Flash::default()
        },
    };
    set_flash(&session, flash).await?;
    Ok(to::<Desk>(&back))
}

/// A new user.
#[derive(Deserialize)]
pub(crate) struct CreateForm {
    user_id: String,
    user_name: String,
    customer_name: String,
}

/// The longest user ID or name the desk accepts.
const MAX_NAME: usize = 64;

/// POST `/desk/create`: a user with a generated temporary password, shown once.
pub(crate) async fn create<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<CreateForm>,
) -> Result<Response, AppError> {
    let me = match logged_in::<S, Desk>(&bank, &session).await? {
        Ok(me) => me,
        Err(r) => return Ok(r),
    };
    let user_id = form.user_id.trim();
    let user_name = form.user_name.trim();
    let customer_name = form.customer_name.trim();
    let valid_id = !user_id.is_empty()
        && user_id.len() <= MAX_NAME
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let valid_names = [user_name, customer_name].iter().all(|n| {
        !n.is_empty() && n.chars().count() <= MAX_NAME && !n.chars().any(char::is_control)
    });
    if !valid_id || !valid_names {
        flash_error(
            &session,
            "ユーザ ID は半角英数字・「_」・「-」で64文字まで、ユーザ名とお客様名は64文字までで入力してください。"
                .into(),
        )
        .await?;
        return Ok(to::<Desk>("/home"));
    }
    let temporary = secret::temporary_password(&bank.policy, user_id, user_name)?;
    let created = bank
        .customers
        .auth
        .create_account(&me.user_id, user_id, user_name, customer_name, &temporary)
        .await;
    let flash = match created {
        Ok(r) if matches!(r.outcome, Outcome::Done) => Flash {
            notice: Some(format!("ユーザ {user_id} を作成しました。")),
            once: Some(ShownOnce {
                label: format!("仮パスワード（ユーザ ID {user_id}）"),
                value: temporary.expose().to_owned(),
            }),
            ..Flash::default()
        },
        Ok(r) if r.refusal() == Some(&Refusal::UserIdTaken) => Flash {
            error: Some(format!("ユーザ ID {user_id} は既に使われています。")),
            ..Flash::default()
        },
        Ok(r) => Flash {
            error: r
                .outcome
                .refusal()
                .map(|r| r.message_ja(bank.customers.auth.config())),
            ..Flash::default()
        },
        Err(e) => return Err(e.into()),
    };
    set_flash(&session, flash).await?;
    Ok(to::<Desk>(&format!("/home?user_id={}", encode(user_id))))
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

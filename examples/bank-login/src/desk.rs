//! The support-desk console (R-OPS-1, R-OPS-2, R-OPS-3, R-ACC-2): find a
//! user; see the locks, counters, the bound token, the last login and the
//! audit log a page at a time, in Japanese; unlock, reset (confirmed),
//! revoke (confirmed), issue a new token after a revoke, create a user.
//! Operators log in through the same flow as customers, on the desk's own
//! store, path prefix and session cookie; every action records the
//! operator's ID and address.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, Redirect};
use axum::routing::get;
use lockstep::account::machine::Input;
use lockstep::account::{
    AccountStore, AuditEvent, AuditLog, Cursor, EventKind, Factor, MustChange, OperatorAction,
    Outcome, Refusal,
};
use lockstep_axum::limits::subscriber;
use lockstep_axum::{ClientIp, CsrfToken, FormOrJson, LoggedIn};
use serde::Deserialize;
use tower_sessions::Session;

use crate::pages::{Messages, html};
use crate::{AppError, Backend, Bank, secret};

/// How many audit events one page of the console lists.
const EVENTS_PER_PAGE: usize = 30;

/// The longest user ID or name the desk accepts.
const MAX_NAME: usize = 64;

/// The desk's own routes (the login's are `lockstep-axum`'s).
pub(crate) fn routes<S: Backend>() -> Router<Arc<Bank<S>>> {
    // A GET of a page a POST answered (a reload, the address bar) goes
    // back to the console: it repeats nothing.
    Router::new()
        .route("/desk/home", get(console::<S>))
        .route("/desk/action", get(to_console).post(action::<S>))
        .route("/desk/create", get(to_console).post(create::<S>))
        .route("/desk/suspicious", get(suspicious::<S>))
}

/// The windows 不審なアクセス offers: the query's word, its label, seconds.
const WINDOWS: [(&str, &str, u64); 3] = [
    ("1h", "直近 1 時間", 3_600),
    ("24h", "直近 24 時間", 86_400),
    ("7d", "直近 7 日間", 7 * 86_400),
];

/// How many clients and flags 不審なアクセス lists.
const SUSPICIOUS_ROWS: usize = 50;

/// One client on 不審なアクセス.
struct ClientRow {
    client: String,
    failures: u64,
    distinct_ids: u64,
    unknown_ids: u64,
    flagged: bool,
}

/// One spray flag on 不審なアクセス.
struct FlagRow {
    at: String,
    client: String,
    distinct_ids: u32,
}

/// 不審なアクセス: the customers' failed password steps over a window, by
/// client.
#[derive(askama::Template)]
#[template(path = "suspicious.html")]
struct SuspiciousPage {
    operator_id: String,
    /// Each window's query word, label, and whether it is the one shown.
    windows: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    failures: u64,
    unknown_ids: u64,
    locks_set: u64,
    truncated: bool,
    scan: usize,
    flags: Vec<FlagRow>,
    clients: Vec<ClientRow>,
}

fn address(client: Option<std::net::IpAddr>) -> String {
    client.map_or_else(|| "（不明）".to_owned(), |ip| ip.to_string())
}

/// A flagged client as the spray watch counts it: an IPv4 address, or an
/// IPv6 client's whole /64 (written `…::/64`).
fn flagged_address(client: Option<std::net::IpAddr>) -> String {
    match client.map(subscriber) {
        Some(ip @ std::net::IpAddr::V6(_)) => format!("{ip}/64"),
        other => address(other),
    }
}

/// GET `/desk/suspicious?window=1h|24h|7d`: 不審なアクセス — over the chosen
/// window (an hour when the query does not read), the customers' failed
/// password steps by client address, how many distinct user IDs each
/// tried and how many did not exist, the locks set, and the clients the
/// spray watch flagged (an IPv6 client by its /64; the rows of every
/// address in a flagged /64 marked). Read through the audit log's
/// bounded query ([`AuditLog::suspicious`]).
async fn suspicious<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    me: LoggedIn,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, AppError> {
    let asked = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "window")
        .map(|(_, v)| v.into_owned());
    let (window, _, seconds) = WINDOWS
        .iter()
        .find(|(key, _, _)| Some(*key) == asked.as_deref())
        .copied()
        .unwrap_or(WINDOWS[0]);
    let to = bank.now().saturating_add(1);
    let from = to.saturating_sub(seconds);
    let seen = bank
        .customers()
        .store
        .suspicious(from, to, SUSPICIOUS_ROWS)
        .await?;
    // A flag names what the watch counts (an IPv6 client's /64): every
    // address of a flagged /64 is marked, one sprayer moving about its
    // /64 as much as one staying put.
    let flagged: std::collections::HashSet<_> = seen
        .flags
        .iter()
        .filter_map(|f| f.client.map(subscriber))
        .collect();
    Ok(html(&SuspiciousPage {
        operator_id: me.user.user_id,
        windows: WINDOWS
            .iter()
            .map(|(k, l, _)| (*k, *l, *k == window))
            .collect(),
        from: jst(from),
        to: jst(to),
        failures: seen.failures,
        unknown_ids: seen.unknown_ids,
        locks_set: seen.locks_set,
        truncated: seen.truncated,
        scan: lockstep::account::MAX_SUSPICIOUS_SCAN,
        flags: seen
            .flags
            .iter()
            .map(|f| FlagRow {
                at: jst(f.at),
                client: flagged_address(f.client),
                distinct_ids: f.distinct_ids,
            })
            .collect(),
        clients: seen
            .clients
            .iter()
            .map(|c| ClientRow {
                client: address(c.client),
                failures: c.failures,
                distinct_ids: c.distinct_ids,
                unknown_ids: c.unknown_ids,
                flagged: c.client.is_some_and(|ip| flagged.contains(&subscriber(ip))),
            })
            .collect(),
    }))
}

/// One audit event as the desk sees it.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub(crate) at: String,
    pub(crate) what: String,
    pub(crate) operator: String,
    pub(crate) client: String,
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
    pub(crate) has_token: bool,
    pub(crate) otp_locked: bool,
    pub(crate) otp_failures: u32,
    pub(crate) revoked: String,
    pub(crate) last_login: String,
    pub(crate) events: Vec<EventRow>,
    /// The cursor of the next older page, if there is one.
    pub(crate) older: Option<u64>,
    /// Whether this page is not the newest.
    pub(crate) paged: bool,
}

/// A value the desk shows once (a temporary password, a token's URI).
pub(crate) struct ShownOnce {
    pub(crate) label: String,
    pub(crate) value: String,
}

impl core::fmt::Debug for ShownOnce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShownOnce")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// An action awaiting the operator's confirmation, bound to the token it
/// was asked about (a revoke of a token that changed since is refused).
#[derive(Debug)]
pub(crate) struct Confirm {
    pub(crate) action: &'static str,
    pub(crate) question: String,
    pub(crate) button: &'static str,
    pub(crate) token_id: String,
}

/// What the create form showed, kept after an error.
#[derive(Debug, Default)]
pub(crate) struct Typed {
    pub(crate) user_id: String,
    pub(crate) user_name: String,
    pub(crate) customer_name: String,
}

/// The session key of the console's one-use action nonce.
const NONCE: &str = "desk.nonce";

/// The support-desk console.
#[derive(askama::Template)]
#[template(path = "desk.html")]
struct DeskPage {
    csrf: String,
    nonce: String,
    operator_id: String,
    query: String,
    user: Option<UserView>,
    messages: Messages,
    once: Option<ShownOnce>,
    confirm: Option<Confirm>,
    typed: Typed,
}

/// GET of a page a POST answered: the console.
async fn to_console() -> Redirect {
    Redirect::to("/desk/home")
}

/// GET `/desk/home?user_id=…&before=…`: the console, with the user found,
/// if any, and the audit log's page before `before`. A query that does not
/// read is taken as far as it does (no English error page).
async fn console<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    me: LoggedIn,
    csrf: CsrfToken,
    session: Session,
    RawQuery(raw): RawQuery,
) -> Result<Html<String>, AppError> {
    let (mut user_id, mut before) = (String::new(), None);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "user_id" if user_id.is_empty() => v.trim().clone_into(&mut user_id),
            "before" => before = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    let query = user_id;
    let mut messages = Messages {
        notice: me
            .notice
            .map(|_| "ログインパスワードを変更しました。".to_owned()),
        ..Messages::default()
    };
    let user = if query.is_empty() {
        None
    } else {
        let found = view(&bank, &query, before).await?;
        if found.is_none() {
            messages.error = Some(format!("ユーザ ID {query} は見つかりません。"));
        }
        found
    };
    let shown = Shown {
        query,
        user,
        messages,
        ..Shown::default()
    };
    page(me, &csrf, &session, shown).await
}

/// What one rendering of the console shows.
#[derive(Default)]
struct Shown {
    query: String,
    user: Option<UserView>,
    messages: Messages,
    once: Option<ShownOnce>,
    confirm: Option<Confirm>,
    typed: Typed,
}

/// The console, with a fresh one-use nonce in every form: a POST of this
/// page is carried out once; sent again (a reload, the back button) it is
/// refused.
async fn page(
    me: LoggedIn,
    csrf: &CsrfToken,
    session: &Session,
    shown: Shown,
) -> Result<Html<String>, AppError> {
    let mut bytes = [0_u8; 16];
    lockstep::account::Random::fill(&lockstep::account::OsRandom, &mut bytes)?;
    let nonce = data_encoding::HEXLOWER.encode(&bytes);
    session
        .insert(NONCE, &nonce)
        .await
        .map_err(|e| AppError::Session(e.to_string()))?;
    Ok(html(&DeskPage {
        csrf: csrf.expose(),
        nonce,
        operator_id: me.user.user_id,
        query: shown.query,
        user: shown.user,
        messages: shown.messages,
        once: shown.once,
        confirm: shown.confirm,
        typed: shown.typed,
    }))
}

/// Whether `sent` is the nonce of the page last shown; it is used up
/// either way.
async fn fresh(session: &Session, sent: &str) -> Result<bool, AppError> {
    let kept: Option<String> = session
        .remove(NONCE)
        .await
        .map_err(|e| AppError::Session(e.to_string()))?;
    Ok(kept.is_some_and(|k| subtle::ConstantTimeEq::ct_eq(k.as_bytes(), sent.as_bytes()).into()))
}

/// The answer to a form sent again.
const SENT_AGAIN: &str = "この操作はすでに行われたか、画面が古くなっています。画面の内容を確認してから、もう一度操作してください。";

/// What the console shows of `user_id`, its audit log from `before`.
async fn view<S: Backend>(
    bank: &Bank<S>,
    user_id: &str,
    before: Option<u64>,
) -> Result<Option<UserView>, AppError> {
    let store = &bank.customers().store;
    let Some(account) = store.load(user_id).await? else {
        return Ok(None);
    };
    // One page at a time: the log is never read whole (anyone can grow it).
    let cursor = before.map_or(Cursor::Newest, Cursor::Before);
    // One more than a page: whether an older page exists.
    let mut events = store.events(user_id, cursor, EVENTS_PER_PAGE + 1).await?;
    let older = (events.len() > EVENTS_PER_PAGE)
        .then(|| events.get(EVENTS_PER_PAGE - 1).map(|e| e.seq))
        .flatten();
    events.truncate(EVENTS_PER_PAGE);
    // The last login among the newest 500 events (a store's largest page):
    // failed guesses do not push it off the console.
    let newest = store
        .events(user_id, Cursor::Newest, lockstep::account::MAX_EVENTS_PAGE)
        .await?;
    let last_login = newest
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::LoggedIn))
        .map_or_else(|| "直近500件の記録になし".to_owned(), |e| jst(e.event.at));
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
        has_token: account.token.is_some(),
        otp_locked,
        otp_failures,
        revoked: if revoked.is_empty() {
            "なし".to_owned()
        } else {
            revoked.join(", ")
        },
        last_login,
        events: rows,
        older,
        paged: before.is_some(),
    }))
}

fn row(e: &AuditEvent) -> EventRow {
    EventRow {
        at: jst(e.at),
        what: describe(&e.kind),
        operator: e.operator_id.clone().unwrap_or_default(),
        client: e.client.map(|c| c.to_string()).unwrap_or_default(),
    }
}

/// An audit event in the desk's words (the kinds carry no secret: the audit
/// log's own rule). Every kind has Japanese words; a kind a newer lockstep
/// adds reads as 「その他の記録」 until this list names it.
pub(crate) fn describe(kind: &EventKind) -> String {
    let factor = |f: &Factor| match f {
        Factor::Password => "ログインパスワード",
        Factor::Otp => "ワンタイムパスワード",
    };
    match kind {
        EventKind::UnknownUser => "存在しないユーザ ID でのログイン".into(),
        EventKind::PasswordAttempt { failures } => {
            format!("ログインパスワード認証の受付（それまでの連続誤り {failures} 回）")
        }
        EventKind::AttemptNoted => "ロック中・存在しないユーザ ID での試行を記録".into(),
        EventKind::PasswordAccepted => "ログインパスワード認証 成功".into(),
        EventKind::PasswordRehashed => "パスワードの保存形式を更新".into(),
        EventKind::PasswordFailed { failures } => {
            format!("ログインパスワード誤り（連続 {failures} 回）")
        }
        EventKind::LockedAttempt { factor: f } => format!("ロック中の{}での試行", factor(f)),
        EventKind::Locked { factor: f } => format!("{}をロック", factor(f)),
        EventKind::OtpAccepted { .. } => "ワンタイムパスワード認証 成功".into(),
        EventKind::OtpFailed { failures } => {
            format!("ワンタイムパスワード誤り（連続 {failures} 回）")
        }
        EventKind::OtpReplayed { failures } => {
            format!("使用済みワンタイムパスワードの入力（連続 {failures} 回）")
        }
        EventKind::TicketRejected => "無効な操作（有効期限切れ・順序違い）".into(),
        EventKind::TemporaryPasswordExpired => "仮パスワードの有効期限切れ".into(),
        EventKind::PasswordChangeRequired { reason } => match reason {
            MustChange::FirstLogin => "初回ログインのためパスワード変更が必要".into(),
            MustChange::Reset => "初期化後のためパスワード変更が必要".into(),
            MustChange::Expired => "有効期限切れのためパスワード変更が必要".into(),
            _ => "パスワード変更が必要".into(),
        },
        EventKind::Refused { reason } => format!("受付不可（{}）", refusal_ja(reason)),
        EventKind::Enrolled { token_id, drift } => {
            format!("利用開始登録 トークン ID {token_id}（時刻のずれ {drift} ステップ）")
        }
        EventKind::EnrollmentFailed { failures } => {
            format!("利用開始登録 失敗（連続 {failures} 回）")
        }
        EventKind::Resynced { token_id, drift } => {
            format!("同期ズレ補正 トークン ID {token_id}（時刻のずれ {drift} ステップ）")
        }
        EventKind::ResyncFailed { failures } => format!("同期ズレ補正 失敗（連続 {failures} 回）"),
        EventKind::PasswordChanged => "ログインパスワード変更".into(),
        EventKind::PasswordChangeRejected { codes } => format!(
            "パスワード変更 不可（{}）",
            codes
                .iter()
                .map(|c| violation_ja(c))
                .collect::<Vec<_>>()
                .join("・")
        ),
        EventKind::LoggedIn => "ログイン".into(),
        EventKind::LoggedOut => "ログアウト".into(),
        EventKind::AccountCreated => "ユーザ作成".into(),
        EventKind::Unlocked { factor: f } => format!("{}のロック解除", factor(f)),
        EventKind::PasswordReset => "ログインパスワード初期化".into(),
        EventKind::TokenRevoked { token_id } => format!("トークン失効 トークン ID {token_id}"),
        EventKind::TokenIssued { token_id } => format!("トークン発行 トークン ID {token_id}"),
        _ => "その他の記録".into(),
    }
}

/// A refusal's code in the desk's words.
fn refusal_ja(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "ユーザ ID またはパスワード誤り",
        "busy" => "混雑",
        "temporary_password_expired" => "仮パスワード期限切れ",
        "token_locked" => "トークンのロック中",
        "invalid_ticket" => "操作の有効期限切れ・順序違い",
        "invalid_code" => "ワンタイムパスワード誤り",
        "enrollment_failed" => "利用開始登録の誤り",
        "resync_failed" => "同期ズレ補正の誤り",
        "malformed_code" => "ワンタイムパスワードの形式誤り",
        "malformed_token_id" => "トークン ID の形式誤り",
        "token_unavailable" => "トークンを確認できない",
        "resync_required" => "同期ズレ補正が必要",
        "already_enrolled" => "トークン登録済みで利用開始登録",
        "not_enrolled" => "トークン未登録でログイン",
        "change_required" => "パスワード変更が必要",
        "wrong_current_password" => "現在のパスワード誤り",
        "password_rejected" => "パスワードの条件違反",
        "no_token" => "トークン未登録",
        "unknown_account" => "該当ユーザなし",
        "user_id_taken" => "ユーザ ID 使用済み",
        "user_id_rejected" => "ユーザ ID の形式誤り",
        _ => "その他",
    }
}

/// A password rule's code in the desk's words.
fn violation_ja(code: &str) -> &'static str {
    match code {
        "too_short" => "文字数不足",
        "too_long" => "文字数超過",
        "no_letter" => "英字なし",
        "no_digit" => "数字なし",
        "no_uppercase" => "英大文字なし",
        "no_lowercase" => "英小文字なし",
        "no_symbol" => "記号なし",
        "disallowed_character" => "使用できない文字",
        "full_width" => "全角文字",
        "same_as_user_name" => "ユーザ名と同じ",
        "same_as_user_id" => "ユーザ ID と同じ",
        "reused" => "最近使用したパスワード",
        "blocklisted" => "推測されやすい",
        "confirmation_mismatch" => "確認用と不一致",
        _ => "その他",
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

/// An action on a user; `confirm=yes` carries out one that asks first.
#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    token_id: String,
}

/// POST `/desk/action`: unlock the password or the token; reset the
/// password and revoke the token, each after a confirmation; issue a new
/// token to a user without one (after a revoke). The result is shown on
/// the console at once (a temporary password or a token's URI only there,
/// never stored).
async fn action<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    me: LoggedIn,
    csrf: CsrfToken,
    session: Session,
    ClientIp(client): ClientIp,
    FormOrJson(form): FormOrJson<ActionForm>,
) -> Result<Html<String>, AppError> {
    let user_id = form.user_id.trim().to_owned();
    tracing::info!(operator = %me.user.user_id, user_id = %user_id, action = %form.action, "desk action");
    if !fresh(&session, &form.nonce).await? {
        let shown = Shown {
            user: view(&bank, &user_id, None).await?,
            query: user_id,
            messages: Messages {
                error: Some(SENT_AGAIN.into()),
                ..Messages::default()
            },
            ..Shown::default()
        };
        return page(me, &csrf, &session, shown).await;
    }
    let bound = bank
        .customers()
        .store
        .load(&user_id)
        .await?
        .and_then(|a| a.token.map(|t| t.credential_id.to_string()))
        .unwrap_or_default();
    let confirmed = form.confirm.as_deref() == Some("yes");
    let operator = me.user.user_id.clone();
    let auth = &bank.customers().auth;
    let ask = |action, question: String, button| {
        Some(Confirm {
            action,
            question,
            button,
            token_id: bound.clone(),
        })
    };
    let operate = |action| operate(&bank, client, &operator, &user_id, action);
    let mut messages = Messages::default();
    let mut once = None;
    let mut confirm = None;
    let done = |outcome: &Outcome, ok: &str, messages: &mut Messages| match outcome {
        Outcome::Done => messages.notice = Some(ok.to_owned()),
        other => {
            messages.error = Some(other.refusal().map_or_else(
                || "操作できませんでした。".to_owned(),
                |r| r.message_ja(auth.config()),
            ));
        }
    };
    match form.action.as_str() {
        "unlock_password" => {
            let r = operate(OperatorAction::UnlockPassword).await?;
            done(
                &r.outcome,
                "ログインパスワードのロックを解除しました。",
                &mut messages,
            );
        }
        "unlock_token" => {
            let r = operate(OperatorAction::UnlockToken).await?;
            done(
                &r.outcome,
                "ワンタイムパスワードのロックを解除しました。",
                &mut messages,
            );
        }
        "revoke_token" if !confirmed => {
            confirm = ask(
                "revoke_token",
                format!(
                    "ユーザ ID {user_id} のトークン（トークン ID {bound}）を失効させます。失効したトークンは直ちに使えなくなり、元に戻せません。よろしいですか。"
                ),
                "失効させる",
            );
        }
        "revoke_token" if form.token_id != bound => {
            messages.error = Some(format!(
                "確認した後にトークンが変わっています（現在のトークン ID {}）。もう一度確認してください。",
                if bound.is_empty() { "なし" } else { &bound }
            ));
        }
        "revoke_token" => {
            let r = operate(OperatorAction::RevokeToken).await?;
            done(
                &r.outcome,
                "トークンを失効させました。［新しいトークンを発行］で新しいトークンを発行できます。",
                &mut messages,
            );
        }
        "reset_password" if !confirmed => {
            confirm = ask(
                "reset_password",
                format!(
                    "ユーザ ID {user_id} のログインパスワードを初期化し、仮パスワードを発行します。ログイン中のセッションは終了します。よろしいですか。"
                ),
                "初期化する",
            );
        }
        "reset_password" => {
            if let Some(account) = bank.customers().store.load(&user_id).await? {
                let temporary =
                    secret::temporary_password(bank.policy(), &user_id, &account.user_name)?;
                let r = operate(OperatorAction::ResetPassword {
                    temporary: &temporary,
                })
                .await?;
                done(
                    &r.outcome,
                    "ログインパスワードを初期化しました。次回ログイン時に変更が必要です。",
                    &mut messages,
                );
                if matches!(r.outcome, Outcome::Done) {
                    once = Some(ShownOnce {
                        label: format!("仮パスワード（ユーザ ID {user_id}）"),
                        value: temporary.expose().to_owned(),
                    });
                }
            } else {
                messages.error = Some(format!("ユーザ ID {user_id} は見つかりません。"));
            }
        }
        "issue_token" => match bank.customers().store.load(&user_id).await? {
            Some(account) if account.token.is_none() => {
                let token = bank.issue_token(false, &operator, &user_id).await?;
                messages.notice = Some(format!(
                    "トークン ID {} を発行しました。お客様がソフトトークンに読み込み、利用開始登録を行います。",
                    token.credential_id
                ));
                once = Some(ShownOnce {
                    label: format!(
                        "ソフトトークンの設定 URI（トークン ID {}）",
                        token.credential_id
                    ),
                    value: token.uri.as_str().to_owned(),
                });
            }
            Some(_) => {
                messages.error = Some(
                    "トークンが登録されています。新しいトークンは、先に［トークン失効］を行ってから発行してください。"
                        .into(),
                );
            }
            None => messages.error = Some(format!("ユーザ ID {user_id} は見つかりません。")),
        },
        _ => messages.error = Some("操作が正しくありません。".into()),
    }
    let user = view(&bank, &user_id, None).await?;
    let shown = Shown {
        query: user_id,
        user,
        messages,
        once,
        confirm,
        ..Shown::default()
    };
    page(me, &csrf, &session, shown).await
}

/// One desk action on `user_id` by `operator` from `client`.
async fn operate<S: Backend>(
    bank: &Bank<S>,
    client: std::net::IpAddr,
    operator: &str,
    user_id: &str,
    action: OperatorAction<'_>,
) -> Result<lockstep::account::Reply, lockstep::account::Error> {
    let input = Input::Operator {
        operator_id: operator,
        action,
    };
    bank.customers()
        .auth
        .step_from(Some(client), user_id, input)
        .await
}

/// A new user.
#[derive(Deserialize)]
pub(crate) struct CreateForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    nonce: String,
}

/// POST `/desk/create`: a user with a generated temporary password, shown
/// once.
async fn create<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    me: LoggedIn,
    csrf: CsrfToken,
    session: Session,
    ClientIp(client): ClientIp,
    FormOrJson(form): FormOrJson<CreateForm>,
) -> Result<Html<String>, AppError> {
    let user_id = form.user_id.trim().to_owned();
    let user_name = form.user_name.trim();
    let customer_name = form.customer_name.trim();
    let typed = Typed {
        user_id: user_id.clone(),
        user_name: user_name.to_owned(),
        customer_name: customer_name.to_owned(),
    };
    let refused = |error: String, typed: Typed| Shown {
        messages: Messages {
            error: Some(error),
            ..Messages::default()
        },
        typed,
        ..Shown::default()
    };
    if !fresh(&session, &form.nonce).await? {
        return page(me, &csrf, &session, refused(SENT_AGAIN.into(), typed)).await;
    }
    if !valid_id(&user_id) || !valid_name(user_name) || !valid_name(customer_name) {
        let error = "ユーザ ID は半角英数字・「_」・「-」で64文字まで、ユーザ名とお客様名は64文字までで入力してください。"
            .to_owned();
        return page(me, &csrf, &session, refused(error, typed)).await;
    }
    let temporary = secret::temporary_password(bank.policy(), &user_id, user_name)?;
    let input = Input::Create {
        operator_id: &me.user.user_id,
        user_name,
        customer_name,
        temporary: &temporary,
    };
    let r = bank
        .customers()
        .auth
        .step_from(Some(client), &user_id, input)
        .await?;
    let (messages, once) = match r.outcome {
        Outcome::Done => (
            Messages {
                notice: Some(format!(
                    "ユーザ {user_id} を作成しました。続けて［新しいトークンを発行］でトークンを発行し、仮パスワードとあわせてお客様へお渡しください。"
                )),
                ..Messages::default()
            },
            Some(ShownOnce {
                label: format!("仮パスワード（ユーザ ID {user_id}）"),
                value: temporary.expose().to_owned(),
            }),
        ),
        Outcome::Refused {
            refusal: Refusal::UserIdTaken,
            ..
        } => {
            let error = format!("ユーザ ID {user_id} は既に使われています。");
            return page(me, &csrf, &session, refused(error, typed)).await;
        }
        other => {
            let error = other.refusal().map_or_else(
                || "作成できませんでした。".to_owned(),
                |r| r.message_ja(bank.customers().auth.config()),
            );
            return page(me, &csrf, &session, refused(error, typed)).await;
        }
    };
    let user = view(&bank, &user_id, None).await?;
    let shown = Shown {
        query: user_id,
        user,
        messages,
        once,
        ..Shown::default()
    };
    page(me, &csrf, &session, shown).await
}

/// A user ID the desk makes: ASCII letters, digits, `_` and `-`, at most
/// 64, and not one of the names the audit log gives the first start and
/// the command line.
pub fn valid_id(user_id: &str) -> bool {
    ![crate::SETUP_OPERATOR, crate::COMMAND_LINE_OPERATOR].contains(&user_id)
        && !user_id.is_empty()
        && user_id.len() <= MAX_NAME
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A name: not empty, at most 64 characters, no control character.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_NAME && !name.chars().any(char::is_control)
}

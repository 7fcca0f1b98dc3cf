//! The login flow of the manual, the same for customers and for desk
//! operators: password (2.2, 2.4) → registration (2.3) or OTP (2.5), resync
//! (2.6) → a required password change (2.4 (8)) → logged in.
//!
//! Where the flow stands lives in the server-side session, never in the
//! page: the ticket of the next stage is a bearer secret the browser never
//! sees. Every POST answers with a redirect (post/redirect/get), so the
//! back button and reload only ever repeat a GET, and a stage once consumed
//! has no ticket left in the session to be posted again.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use lockstep::account::{Config, Entry, LoginTicket, Outcome, Password, Refusal, SessionToken};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::pages::{
    ChangePage, EnrollPage, Flash, LoginPage, OtpPage, ResyncPage, ResyncedPage, render,
};
use crate::security::{csrf_token, renew_csrf};
use crate::{AppError, Backend, Bank, Field, Portal};

/// The session key of the flow.
const FLOW: &str = "flow";
/// The session key of the flash.
const FLASH: &str = "flash";

/// Which side of the service a route serves: the customers' pages or the
/// support desk's, each with its own path prefix, session cookie and store.
pub(crate) trait Side: Send + Sync + 'static {
    /// The path prefix: `""` or `"/desk"`.
    const PREFIX: &'static str;
    /// Whether this is the desk.
    const DESK: bool;
    /// This side's authenticator and store.
    fn portal<S: Backend>(bank: &Bank<S>) -> &Portal<S>;
}

/// The customers' side.
#[derive(Debug)]
pub(crate) enum Customer {}

/// The support desk's side.
#[derive(Debug)]
pub(crate) enum Desk {}

impl Side for Customer {
    const PREFIX: &'static str = "";
    const DESK: bool = false;
    fn portal<S: Backend>(bank: &Bank<S>) -> &Portal<S> {
        &bank.customers
    }
}

impl Side for Desk {
    const PREFIX: &'static str = "/desk";
    const DESK: bool = true;
    fn portal<S: Backend>(bank: &Bank<S>) -> &Portal<S> {
        &bank.desk
    }
}

/// Where a login stands. Tickets and session tokens are kept as their hex
/// form and parsed back on use.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "stage")]
pub(crate) enum Flow {
    /// Enter an OTP, or resync.
    Otp {
        user_id: String,
        ticket: String,
        token_id: String,
    },
    /// Register a token.
    Enroll { user_id: String, ticket: String },
    /// Change the password first.
    Change { user_id: String, ticket: String },
    /// Logged in.
    LoggedIn { user_id: String, session: String },
}

impl core::fmt::Debug for Flow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Otp { .. } => "Flow::Otp",
            Self::Enroll { .. } => "Flow::Enroll",
            Self::Change { .. } => "Flow::Change",
            Self::LoggedIn { .. } => "Flow::LoggedIn",
        })
    }
}

/// The flow, if any.
pub(crate) async fn flow(session: &Session) -> Result<Option<Flow>, AppError> {
    Ok(session.get::<Flow>(FLOW).await?)
}

/// Sets the flow.
async fn set_flow(session: &Session, flow: &Flow) -> Result<(), AppError> {
    Ok(session.insert(FLOW, flow).await?)
}

/// Takes the flash (shown once).
pub(crate) async fn take_flash(session: &Session) -> Result<Flash, AppError> {
    Ok(session.remove::<Flash>(FLASH).await?.unwrap_or_default())
}

/// Sets the flash for the next page.
pub(crate) async fn set_flash(session: &Session, flash: Flash) -> Result<(), AppError> {
    Ok(session.insert(FLASH, flash).await?)
}

/// An error for the next page.
pub(crate) async fn flash_error(session: &Session, message: String) -> Result<(), AppError> {
    set_flash(
        session,
        Flash {
            error: Some(message),
            ..Flash::default()
        },
    )
    .await
}

/// A privilege change (a factor passed, logged in, password changed,
/// logged out): a new session ID and a new CSRF token, the flow kept.
pub(crate) async fn rotate(session: &Session) -> Result<(), AppError> {
    session.cycle_id().await?;
    renew_csrf(session).await?;
    Ok(())
}

/// Ends the flow and reports `message` on the login page.
async fn restart<P: Side>(session: &Session, message: String) -> Result<Response, AppError> {
    session.remove::<Flow>(FLOW).await?;
    rotate(session).await?;
    flash_error(session, message).await?;
    Ok(to::<P>("/"))
}

/// A redirect within the side.
pub(crate) fn to<P: Side>(path: &str) -> Response {
    if path == "/" && !P::PREFIX.is_empty() {
        return Redirect::to(P::PREFIX).into_response();
    }
    Redirect::to(&format!("{}{path}", P::PREFIX)).into_response()
}

/// The login form: user ID, password, and the entry button pressed (R-LOG-6).
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    user_id: String,
    password: Field,
    entry: String,
}

/// GET `/`: the login screen, or the page the flow is at.
pub(crate) async fn login_page<P: Side>(session: Session) -> Result<Response, AppError> {
    if let Some(flow) = flow(&session).await? {
        return Ok(resume::<P>(&flow));
    }
    let page = LoginPage {
        prefix: P::PREFIX,
        desk: P::DESK,
        csrf: csrf_token(&session).await?,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// Where an unfinished flow resumes.
fn resume<P: Side>(flow: &Flow) -> Response {
    match flow {
        Flow::Otp { .. } => to::<P>("/otp"),
        Flow::Enroll { .. } => to::<P>("/enroll"),
        Flow::Change { .. } => to::<P>("/change"),
        Flow::LoggedIn { .. } => to::<P>("/home"),
    }
}

/// POST `/login`: the password step. A new login replaces any unfinished one.
pub(crate) async fn login_post<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let entry = match form.entry.as_str() {
        "enroll" => Entry::Enroll,
        "login" => Entry::Login,
        _ => return restart::<P>(&session, "操作が正しくありません。".into()).await,
    };
    if let Some(Flow::LoggedIn { .. }) = flow(&session).await? {
        return Ok(to::<P>("/home"));
    }
    let password = Password::from(form.password.expose());
    let portal = P::portal(&bank);
    let response = portal
        .auth
        .login_password(&form.user_id, &password, entry)
        .await?;
    let user_id = form.user_id;
    let next = match response.outcome {
        Outcome::OtpRequired { ticket, token_id } => Flow::Otp {
            user_id,
            ticket: ticket.expose_hex(),
            token_id: token_id.to_string(),
        },
        Outcome::EnrollmentRequired { ticket } => Flow::Enroll {
            user_id,
            ticket: ticket.expose_hex(),
        },
        other => return refused_here::<P>(&session, portal.auth.config(), &other, "/").await,
    };
    rotate(&session).await?;
    set_flow(&session, &next).await?;
    Ok(resume::<P>(&next))
}

/// The answer to a refusal: a ticket that no longer opens anything, a lock,
/// or the user ID / password answer end the flow; anything else is shown on
/// the same stage.
pub(crate) async fn refused_here<P: Side>(
    session: &Session,
    config: &Config,
    outcome: &Outcome,
    stage: &str,
) -> Result<Response, AppError> {
    let Some(refusal) = outcome.refusal() else {
        tracing::error!("unexpected outcome for the stage");
        return restart::<P>(session, "操作が正しくありません。".into()).await;
    };
    tracing::info!(refusal = refusal.code(), side = P::PREFIX, "refused");
    // The machine says whether what was presented still opens its stage.
    let ends = !outcome.stage_open();
    if ends || stage == "/" {
        return restart::<P>(session, refusal.message_ja(config)).await;
    }
    let flash = match refusal {
        Refusal::PasswordRejected(violations) => Flash {
            violations: violations.iter().map(|v| v.message_ja()).collect(),
            ..Flash::default()
        },
        other => Flash {
            error: Some(other.message_ja(config)),
            ..Flash::default()
        },
    };
    set_flash(session, flash).await?;
    Ok(to::<P>(stage))
}

/// A stage's outcome: the next stage, logged in, or a refusal.
async fn advance<P: Side>(
    session: &Session,
    config: &Config,
    user_id: String,
    outcome: Outcome,
    stage: &str,
) -> Result<Response, AppError> {
    let (next, target, notice) = match outcome {
        Outcome::Enrolled { ticket, token_id } => (
            Flow::Otp {
                user_id,
                ticket: ticket.expose_hex(),
                token_id: token_id.to_string(),
            },
            "/otp",
            Some(format!(
                "トークン ID {token_id} を登録しました。続けて、新しいワンタイムパスワードでログインしてください。"
            )),
        ),
        Outcome::Resynced { ticket, token_id } => (
            Flow::Otp {
                user_id,
                ticket: ticket.expose_hex(),
                token_id: token_id.to_string(),
            },
            "/resync/done",
            None,
        ),
        Outcome::PasswordChangeRequired { ticket, .. } => (
            Flow::Change {
                user_id,
                ticket: ticket.expose_hex(),
            },
            "/change",
            None,
        ),
        Outcome::LoggedIn(s) | Outcome::PasswordChanged(s) => (
            Flow::LoggedIn {
                user_id,
                session: s.token.expose_hex(),
            },
            "/home",
            None,
        ),
        other => return refused_here::<P>(session, config, &other, stage).await,
    };
    rotate(session).await?;
    set_flow(session, &next).await?;
    if let Some(notice) = notice {
        set_flash(
            session,
            Flash {
                notice: Some(notice),
                ..Flash::default()
            },
        )
        .await?;
    }
    Ok(to::<P>(target))
}

/// The flow's ticket for `stage`, or the restart that answers its absence.
enum Open {
    Ticket {
        user_id: String,
        ticket: LoginTicket,
        token_id: String,
    },
    Elsewhere(Response),
}

async fn open<P: Side>(session: &Session, want: &str) -> Result<Open, AppError> {
    let (user_id, ticket, token_id) = match flow(session).await? {
        Some(Flow::Otp {
            user_id,
            ticket,
            token_id,
        }) if want == "otp" => (user_id, ticket, token_id),
        Some(Flow::Enroll { user_id, ticket }) if want == "enroll" => {
            (user_id, ticket, String::new())
        }
        Some(Flow::Change { user_id, ticket }) if want == "change" => {
            (user_id, ticket, String::new())
        }
        Some(other) => return Ok(Open::Elsewhere(resume::<P>(&other))),
        None => return Ok(Open::Elsewhere(to::<P>("/"))),
    };
    match LoginTicket::parse_hex(&ticket) {
        Some(ticket) => Ok(Open::Ticket {
            user_id,
            ticket,
            token_id,
        }),
        None => Ok(Open::Elsewhere(
            // The text of an expired ticket names no configured cap.
            restart::<P>(
                session,
                Refusal::InvalidTicket.message_ja(&Config::default()),
            )
            .await?,
        )),
    }
}

/// GET `/enroll`: 利用開始登録.
pub(crate) async fn enroll_page<P: Side>(session: Session) -> Result<Response, AppError> {
    if let Open::Elsewhere(r) = open::<P>(&session, "enroll").await? {
        return Ok(r);
    }
    let page = EnrollPage {
        prefix: P::PREFIX,
        desk: P::DESK,
        csrf: csrf_token(&session).await?,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// The registration form (R-ENR-2).
#[derive(Deserialize)]
pub(crate) struct EnrollForm {
    token_id: String,
    otp1: Field,
    otp2: Field,
}

/// POST `/enroll`.
pub(crate) async fn enroll_post<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<EnrollForm>,
) -> Result<Response, AppError> {
    let (user_id, ticket) = match open::<P>(&session, "enroll").await? {
        Open::Ticket {
            user_id, ticket, ..
        } => (user_id, ticket),
        Open::Elsewhere(r) => return Ok(r),
    };
    let token_id = form.token_id.trim();
    let response = P::portal(&bank)
        .auth
        .enroll(
            &user_id,
            &ticket,
            token_id,
            form.otp1.expose(),
            form.otp2.expose(),
        )
        .await?;
    advance::<P>(
        &session,
        P::portal(&bank).auth.config(),
        user_id,
        response.outcome,
        "/enroll",
    )
    .await
}

/// GET `/otp`: OTP 認証, with the registered token ID.
pub(crate) async fn otp_page<P: Side>(session: Session) -> Result<Response, AppError> {
    let token_id = match open::<P>(&session, "otp").await? {
        Open::Ticket { token_id, .. } => token_id,
        Open::Elsewhere(r) => return Ok(r),
    };
    let page = OtpPage {
        prefix: P::PREFIX,
        desk: P::DESK,
        csrf: csrf_token(&session).await?,
        token_id,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// The OTP form (R-LOG-3).
#[derive(Deserialize)]
pub(crate) struct OtpForm {
    otp: Field,
}

/// POST `/otp`.
pub(crate) async fn otp_post<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<OtpForm>,
) -> Result<Response, AppError> {
    let (user_id, ticket) = match open::<P>(&session, "otp").await? {
        Open::Ticket {
            user_id, ticket, ..
        } => (user_id, ticket),
        Open::Elsewhere(r) => return Ok(r),
    };
    let response = P::portal(&bank)
        .auth
        .submit_otp(&user_id, &ticket, form.otp.expose())
        .await?;
    advance::<P>(
        &session,
        P::portal(&bank).auth.config(),
        user_id,
        response.outcome,
        "/otp",
    )
    .await
}

/// GET `/resync`: 同期ズレ補正.
pub(crate) async fn resync_page<P: Side>(session: Session) -> Result<Response, AppError> {
    let token_id = match open::<P>(&session, "otp").await? {
        Open::Ticket { token_id, .. } => token_id,
        Open::Elsewhere(r) => return Ok(r),
    };
    let page = ResyncPage {
        prefix: P::PREFIX,
        desk: P::DESK,
        csrf: csrf_token(&session).await?,
        token_id,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// The resync form (R-SYN-2).
#[derive(Deserialize)]
pub(crate) struct ResyncForm {
    otp1: Field,
    otp2: Field,
}

/// POST `/resync`.
pub(crate) async fn resync_post<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<ResyncForm>,
) -> Result<Response, AppError> {
    let (user_id, ticket) = match open::<P>(&session, "otp").await? {
        Open::Ticket {
            user_id, ticket, ..
        } => (user_id, ticket),
        Open::Elsewhere(r) => return Ok(r),
    };
    let response = P::portal(&bank)
        .auth
        .resync(&user_id, &ticket, form.otp1.expose(), form.otp2.expose())
        .await?;
    advance::<P>(
        &session,
        P::portal(&bank).auth.config(),
        user_id,
        response.outcome,
        "/resync",
    )
    .await
}

/// GET `/resync/done`: the completion message and [OTP 認証画面へ] (2.6 (4)).
pub(crate) async fn resynced_page<P: Side>(session: Session) -> Result<Response, AppError> {
    let token_id = match open::<P>(&session, "otp").await? {
        Open::Ticket { token_id, .. } => token_id,
        Open::Elsewhere(r) => return Ok(r),
    };
    Ok(render(&ResyncedPage {
        prefix: P::PREFIX,
        desk: P::DESK,
        token_id,
    }))
}

/// GET `/change`: the required password change (R-LOG-4).
pub(crate) async fn change_page<P: Side>(session: Session) -> Result<Response, AppError> {
    if let Open::Elsewhere(r) = open::<P>(&session, "change").await? {
        return Ok(r);
    }
    let page = ChangePage {
        prefix: P::PREFIX,
        desk: P::DESK,
        csrf: csrf_token(&session).await?,
        voluntary: false,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// The password change form (R-PWD-5: twice).
#[derive(Deserialize)]
pub(crate) struct ChangeForm {
    new: Field,
    confirm: Field,
}

/// POST `/change`.
pub(crate) async fn change_post<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let (user_id, ticket) = match open::<P>(&session, "change").await? {
        Open::Ticket {
            user_id, ticket, ..
        } => (user_id, ticket),
        Open::Elsewhere(r) => return Ok(r),
    };
    let new = Password::from(form.new.expose());
    let confirmation = Password::from(form.confirm.expose());
    let response = P::portal(&bank)
        .auth
        .change_password(&user_id, &ticket, &new, &confirmation)
        .await?;
    advance::<P>(
        &session,
        P::portal(&bank).auth.config(),
        user_id,
        response.outcome,
        "/change",
    )
    .await
}

/// The logged-in user and the session, checked against the store on every
/// request: a lock, a reset, a revoke or a password change elsewhere ends
/// it at once. `Err(response)`: not logged in (any stale flow is cleared).
pub(crate) async fn logged_in<S: Backend, P: Side>(
    bank: &Bank<S>,
    session: &Session,
) -> Result<Result<lockstep::account::UserSession, Response>, AppError> {
    let Some(Flow::LoggedIn {
        user_id,
        session: token,
    }) = flow(session).await?
    else {
        return Ok(Err(to::<P>("/")));
    };
    let open = match SessionToken::parse_hex(&token) {
        Some(token) => P::portal(bank).auth.session(&user_id, &token).await?,
        None => None,
    };
    match open {
        Some(s) => Ok(Ok(s)),
        None => Ok(Err(restart::<P>(
            session,
            "ログインの有効期限が切れました。もう一度ログインしてください。".into(),
        )
        .await?)),
    }
}

/// POST `/logout`: ends the lockstep session and the web session.
pub(crate) async fn logout<S: Backend, P: Side>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
) -> Result<Response, AppError> {
    if let Some(Flow::LoggedIn {
        user_id,
        session: token,
    }) = flow(&session).await?
        && let Some(token) = SessionToken::parse_hex(&token)
    {
        P::portal(&bank).auth.logout(&user_id, &token).await?;
    }
    session.flush().await?;
    Ok(to::<P>("/"))
}

/// Stores a new session token after a voluntary password change.
pub(crate) async fn continue_as<P: Side>(
    session: &Session,
    user_id: String,
    token: &SessionToken,
) -> Result<(), AppError> {
    rotate(session).await?;
    set_flow(
        session,
        &Flow::LoggedIn {
            user_id,
            session: token.expose_hex(),
        },
    )
    .await
}

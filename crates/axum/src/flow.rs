//! The login's handlers: the password step with its two entries, token
//! registration, the OTP step, drift correction, the required and the
//! voluntary password change, and logout — the manual's flow (2.2–2.6),
//! the same for HTML forms and JSON clients.
//!
//! What the login stands at lives in the server session (see
//! [`crate::held`]); a step that advances answers with a redirect
//! (post/redirect/get), a refused one shows its page again with the
//! problem and what was typed (never a secret). The machine decides every
//! step; a handler only maps its outcome to a session change and a view.
//! (Over 450 lines because it is the whole flow, one short handler per page
//! and post, read top to bottom in the manual's order.)

use std::net::IpAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::extract::RawQuery;
use axum::routing::get;
use lockstep_account::machine::Input as Step;
use lockstep_account::{CodeInput, Entry, Error, Outcome, Password, Refusal, Reply, SessionToken};
use serde::Deserialize;
use tower_sessions::Session;

use crate::Shared;
use crate::client_ip::ClientIp;
use crate::csrf::CsrfToken;
use crate::held::{Held, KEY, LoggedIn, LoginRejection, Pending, Stage, held};
use crate::input::{Input, Secret};
use crate::view::{Answer, Notice, Place, Problem, View};

/// How long a client is asked to wait after [`Refusal::Busy`].
const BUSY_RETRY_AFTER: u64 = 2;

/// The routes of the login under `base`.
pub(crate) fn routes(base: &str) -> Router {
    let at = |path: &str| format!("{base}{path}");
    let mut router = Router::new()
        .route(&at("/"), get(login_page))
        .route(&at("/login"), get(to_login).post(login_post))
        .route(&at("/enroll"), get(enroll_page).post(enroll_post))
        .route(&at("/otp"), get(otp_page).post(otp_post))
        .route(&at("/resync"), get(resync_page).post(resync_post))
        .route(&at("/resync/done"), get(resynced_page))
        .route(&at("/change"), get(change_page).post(change_post))
        .route(&at("/password"), get(password_page).post(password_post))
        .route(&at("/logout"), get(to_login).post(logout));
    if !base.is_empty() {
        // `/desk` as well as `/desk/`.
        router = router.route(base, get(login_page));
    }
    router
}

/// The answer to a failure of the driver: `503` for a transient one (the
/// client may try again), `500` otherwise. Nothing secret is in a
/// lockstep error.
pub(crate) fn failed(e: &Error) -> Answer {
    let transient =
        matches!(e, Error::Contention) || matches!(e, Error::Store(s) if s.is_transient());
    tracing::error!(error = %e, transient, "login step failed");
    Answer::Show(if transient {
        View::Busy {
            retry_after: BUSY_RETRY_AFTER,
        }
    } else {
        View::Failed
    })
}

fn session_failed(e: &tower_sessions::session::Error) -> Answer {
    LoginRejection::failed(e).answer()
}

/// The per-client budget of every POST.
async fn admit(shared: &Shared, client: ClientIp) -> Result<(), LoginRejection> {
    match shared.limiter.client(client.0) {
        Ok(()) => Ok(()),
        Err(retry_after) => {
            tracing::warn!(client = %client.0, "client over its budget: 429");
            Err(too_many(shared, retry_after).await.into())
        }
    }
}

/// The spray watch before a password step: a flagged client keeps to the
/// flagged budget (`Err(seconds to wait)` past it), and a flag's event the
/// store did not take is written again when due.
async fn spray_before(shared: &Arc<Shared>, client: IpAddr) -> Result<(), u64> {
    use crate::spray::Seen;
    let now = std::time::Instant::now();
    match shared.limiter.spray.password_step(client, None, now) {
        Seen::Fine => return Ok(()),
        Seen::Flagged { distinct } => record_flag(shared, client, distinct).await,
        Seen::StillFlagged => {}
    }
    shared.limiter.flagged_password(client)
}

/// The spray watch after a password step refused as invalid credentials:
/// the user ID it named counts, and past the threshold the client is
/// flagged, recorded in the audit log (once a window), and this step is
/// the first of its flagged budget.
async fn spray_after(shared: &Arc<Shared>, client: IpAddr, user_id: &str) {
    let now = std::time::Instant::now();
    let seen = shared
        .limiter
        .spray
        .password_step(client, Some(user_id), now);
    if let crate::spray::Seen::Flagged { distinct } = seen {
        record_flag(shared, client, distinct).await;
        let _first = shared.limiter.flagged_password(client);
    }
}

/// Writes a flag's audit event, and settles it with the watch, in a task
/// of its own: a request cut off (the client gone, its timeout, a
/// shutdown) does not cut the event short or lose its failure.
async fn record_flag(shared: &Arc<Shared>, client: IpAddr, distinct: u32) {
    let window = shared.limiter.spray.limits.window.as_secs();
    tracing::warn!(%client, distinct, window, "client flagged: many user IDs");
    // The address as the watch counts it: an IPv6 client's /64.
    let counted = crate::limits::subscriber(client);
    let task = Arc::clone(shared);
    let write = tokio::spawn(async move {
        let watch = &task.limiter.spray;
        match task.auth.flag_spray(counted, distinct, window).await {
            Ok(()) => watch.recorded(counted),
            Err(e) => {
                tracing::error!(client = %counted, error = %e, "spray flag not recorded; owed, written again later");
                watch.not_recorded(counted, std::time::Instant::now());
            }
        }
    });
    if let Err(e) = write.await {
        tracing::error!(%client, error = %e, "spray flag's write stopped");
    }
}

/// The `429` of a request past a budget, after the limits' refusal delay
/// (at most its `Retry-After`).
async fn too_many(shared: &Shared, retry_after: u64) -> Answer {
    let delay = shared
        .limiter
        .refusal_delay
        .min(std::time::Duration::from_secs(retry_after));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Answer::Show(View::TooManyRequests { retry_after })
}

/// What every step's answer is made with.
struct Ctx<'a> {
    shared: &'a Shared,
    client: ClientIp,
    csrf: &'a CsrfToken,
    session: &'a Session,
}

/// A privilege change: a new session ID, what the session holds, a new CSRF
/// token; then on to `place`.
async fn begin(session: &Session, csrf: &CsrfToken, held: &Held, place: Place) -> Answer {
    if let Err(e) = session.cycle_id().await {
        return session_failed(&e);
    }
    if let Err(e) = session.insert(KEY, held).await {
        return session_failed(&e);
    }
    csrf.renew();
    Answer::Go(place)
}

/// GET `/login` and `/logout` (a reload or a bookmark of the page a POST
/// answered): the login page.
async fn to_login() -> Answer {
    Answer::Go(Place::Login(None))
}

/// GET `/`: the login page, or the page a login in progress is at.
async fn login_page(session: Session, csrf: CsrfToken, RawQuery(query): RawQuery) -> Answer {
    match held(&session).await {
        Ok(Some(h)) => return Answer::Go(h.place()),
        Ok(None) => {}
        Err(e) => return session_failed(&e),
    }
    let notice = query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "done")
            .and_then(|(_, v)| Notice::from_code(&v))
    });
    Answer::Show(View::Login {
        csrf: csrf.expose(),
        user_id: String::new(),
        problem: None,
        notice,
    })
}

/// The password step's form (R-LOG-1, R-ENR-1): `entry` is the button
/// pressed, `enroll` for ［利用開始登録］; anything else (Enter in a
/// field submits no button in some browsers) logs in.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    password: Secret,
    #[serde(default)]
    entry: Option<String>,
}

/// POST `/login`: the password step. A refused password renders the login
/// page again, keeping the user ID, and stores nothing; an accepted one
/// starts the server session at its stage. A new login replaces one in
/// progress.
async fn login_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    session: Session,
    Input(form): Input<LoginForm>,
) -> Answer {
    tracing::debug!(client = %client.0, "password step: begun");
    if let Err(refused) = admit(&shared, client).await {
        return refused.answer();
    }
    let before = match held(&session).await {
        Ok(h) => h,
        Err(e) => return session_failed(&e),
    };
    if let Some(Held::LoggedIn { .. }) = before {
        return Answer::Go(Place::Home);
    }
    if let Err(retry_after) = shared.limiter.password_from(client.0) {
        tracing::warn!(client = %client.0, "client over its password budget: 429");
        return too_many(&shared, retry_after).await;
    }
    if let Err(retry_after) = shared.limiter.user_id(&form.user_id) {
        tracing::warn!(client = %client.0, "user ID over its budget: 429");
        return too_many(&shared, retry_after).await;
    }
    if let Err(retry_after) = spray_before(&shared, client.0).await {
        tracing::warn!(client = %client.0, "flagged client over its password budget: 429");
        return too_many(&shared, retry_after).await;
    }
    let entry = match form.entry.as_deref() {
        Some("enroll") => Entry::Enroll,
        _ => Entry::Login,
    };
    let password = Password::from(form.password.expose());
    let step = Step::Password {
        password: &password,
        entry,
    };
    let reply = match shared.auth.step(Some(client.0), &form.user_id, step).await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let user_id = form.user_id;
    let next = match &reply.outcome {
        Outcome::OtpRequired { ticket, token_id } => {
            Held::pending(Stage::Otp, &user_id, ticket, Some(token_id), None)
        }
        Outcome::EnrollmentRequired { ticket } => {
            Held::pending(Stage::Enroll, &user_id, ticket, None, None)
        }
        _ => {
            let refusal = reply
                .refusal()
                .cloned()
                .unwrap_or(Refusal::InvalidCredentials);
            tracing::info!(client = %client.0, refusal = refusal.code(), "password step refused");
            if refusal == Refusal::Busy {
                return Answer::Show(View::Busy {
                    retry_after: BUSY_RETRY_AFTER,
                });
            }
            if reply.refusal() == Some(&Refusal::InvalidCredentials) {
                spray_after(&shared, client.0, &user_id).await;
            }
            if before.is_some() {
                // The login in progress ends with this attempt.
                let _ = session.flush().await;
            }
            return Answer::Show(View::Login {
                csrf: csrf.expose(),
                user_id,
                problem: Some(Problem::new(refusal, shared.auth.config())),
                notice: None,
            });
        }
    };
    tracing::info!(client = %client.0, user_id = %user_id, stage = ?next.place(), "password step passed");
    let place = next.place();
    begin(&session, &csrf, &next, place).await
}

/// The page of a stage, to show again with a problem.
enum Here {
    Enroll { token_id: String },
    Otp,
    Resync,
    Change { voluntary: bool },
}

impl Here {
    fn view(self, csrf: String, token_id: Option<&str>, problem: Option<Problem>) -> View {
        let token_id = token_id.unwrap_or_default().to_owned();
        match self {
            Self::Enroll { token_id } => View::Enroll {
                csrf,
                token_id,
                problem,
            },
            Self::Otp => View::Otp {
                csrf,
                token_id,
                problem,
                notice: None,
            },
            Self::Resync => View::Resync {
                csrf,
                token_id,
                problem,
            },
            Self::Change { voluntary } => View::Change {
                csrf,
                voluntary,
                problem,
            },
        }
    }
}

/// A stage step's outcome: on to the next stage or logged in, or the
/// refusal shown where the user can act on it.
async fn advance(
    cx: Ctx<'_>,
    user_id: &str,
    token_id: Option<&str>,
    reply: Reply,
    here: Here,
) -> Answer {
    let Ctx {
        shared,
        client,
        csrf,
        session,
    } = cx;
    let (next, place) = match reply.outcome {
        Outcome::Enrolled { ticket, token_id } => (
            Held::pending(
                Stage::Otp,
                user_id,
                &ticket,
                Some(&token_id),
                Some(Notice::Enrolled),
            ),
            Place::Stage(Stage::Otp),
        ),
        Outcome::Resynced { ticket, token_id } => (
            Held::pending(
                Stage::Otp,
                user_id,
                &ticket,
                Some(&token_id),
                Some(Notice::Resynced),
            ),
            Place::Resynced,
        ),
        Outcome::PasswordChangeRequired { ticket, .. } => (
            Held::pending(Stage::Change, user_id, &ticket, None, None),
            Place::Stage(Stage::Change),
        ),
        Outcome::LoggedIn(s) => {
            // After the required change, home says the password changed.
            let notice = matches!(here, Here::Change { .. }).then_some(Notice::PasswordChanged);
            (Held::logged_in(&s, notice), Place::Home)
        }
        Outcome::PasswordChanged(s) => (
            Held::logged_in(&s, Some(Notice::PasswordChanged)),
            Place::Home,
        ),
        Outcome::Refused {
            refusal,
            stage_open,
            ..
        } => {
            tracing::info!(client = %client.0, user_id = %user_id, refusal = refusal.code(), stage_open, "step refused");
            if refusal == Refusal::Busy {
                return Answer::Show(View::Busy {
                    retry_after: BUSY_RETRY_AFTER,
                });
            }
            let problem = Some(Problem::new(refusal, shared.auth.config()));
            if stage_open {
                return Answer::Show(here.view(csrf.expose(), token_id, problem));
            }
            // The login (or the session) has ended: start again.
            let _ = session.flush().await;
            csrf.renew();
            return Answer::Show(View::Login {
                csrf: csrf.expose(),
                user_id: user_id.to_owned(),
                problem,
                notice: None,
            });
        }
        other => {
            tracing::error!(outcome = ?other, "an outcome this stage cannot have");
            return Answer::Show(View::Failed);
        }
    };
    tracing::info!(client = %client.0, user_id = %user_id, to = ?place, "step passed");
    begin(session, csrf, &next, place).await
}

/// The notice a stage's page shows once, taken out of the session.
async fn take_notice(pending: &Pending) -> Option<Notice> {
    let notice = pending.notice?;
    let again = Held::Pending {
        stage: pending.stage,
        user_id: pending.user_id.clone(),
        ticket: pending.ticket().expose_hex(),
        token_id: pending.token_id.clone(),
        notice: None,
    };
    let _ = pending.session.insert(KEY, &again).await;
    Some(notice)
}

/// GET `/enroll`: 利用開始登録.
async fn enroll_page(pending: Pending, csrf: CsrfToken) -> Result<Answer, LoginRejection> {
    pending.at(Stage::Enroll)?;
    Ok(Answer::Show(View::Enroll {
        csrf: csrf.expose(),
        token_id: String::new(),
        problem: None,
    }))
}

/// The registration form (R-ENR-2): the token ID and two consecutive codes.
#[derive(Deserialize)]
struct EnrollForm {
    #[serde(default)]
    token_id: String,
    #[serde(default)]
    otp1: Secret,
    #[serde(default)]
    otp2: Secret,
}

/// POST `/enroll`.
async fn enroll_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    pending: Pending,
    Input(form): Input<EnrollForm>,
) -> Result<Answer, LoginRejection> {
    admit(&shared, client).await?;
    let pending = pending.at(Stage::Enroll)?;
    let token_id = form.token_id.trim();
    let step = Step::Enroll {
        ticket: pending.ticket(),
        credential_id: token_id,
        otp1: CodeInput::from(form.otp1.expose()),
        otp2: CodeInput::from(form.otp2.expose()),
    };
    let reply = match shared
        .auth
        .step(Some(client.0), &pending.user_id, step)
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let here = Here::Enroll {
        token_id: token_id.to_owned(),
    };
    Ok(advance(
        Ctx {
            shared: &shared,
            client,
            csrf: &csrf,
            session: &pending.session,
        },
        &pending.user_id,
        None,
        reply,
        here,
    )
    .await)
}

/// GET `/otp`: OTP 認証, with the registered token ID.
async fn otp_page(pending: Pending, csrf: CsrfToken) -> Result<Answer, LoginRejection> {
    let pending = pending.at(Stage::Otp)?;
    let notice = take_notice(&pending).await;
    Ok(Answer::Show(View::Otp {
        csrf: csrf.expose(),
        token_id: pending.token_id.unwrap_or_default(),
        problem: None,
        notice,
    }))
}

/// The OTP form (R-LOG-3).
#[derive(Deserialize)]
struct OtpForm {
    #[serde(default)]
    otp: Secret,
}

/// POST `/otp`.
async fn otp_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    pending: Pending,
    Input(form): Input<OtpForm>,
) -> Result<Answer, LoginRejection> {
    admit(&shared, client).await?;
    let pending = pending.at(Stage::Otp)?;
    let step = Step::Otp {
        ticket: pending.ticket(),
        code: CodeInput::from(form.otp.expose()),
    };
    let reply = match shared
        .auth
        .step(Some(client.0), &pending.user_id, step)
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let token_id = pending.token_id.as_deref();
    Ok(advance(
        Ctx {
            shared: &shared,
            client,
            csrf: &csrf,
            session: &pending.session,
        },
        &pending.user_id,
        token_id,
        reply,
        Here::Otp,
    )
    .await)
}

/// GET `/resync`: 同期ズレ補正 (opens with the OTP stage's ticket).
async fn resync_page(pending: Pending, csrf: CsrfToken) -> Result<Answer, LoginRejection> {
    let pending = pending.at(Stage::Otp)?;
    Ok(Answer::Show(View::Resync {
        csrf: csrf.expose(),
        token_id: pending.token_id.unwrap_or_default(),
        problem: None,
    }))
}

/// The resync form (R-SYN-2): two consecutive codes.
#[derive(Deserialize)]
struct ResyncForm {
    #[serde(default)]
    otp1: Secret,
    #[serde(default)]
    otp2: Secret,
}

/// POST `/resync`.
async fn resync_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    pending: Pending,
    Input(form): Input<ResyncForm>,
) -> Result<Answer, LoginRejection> {
    admit(&shared, client).await?;
    let pending = pending.at(Stage::Otp)?;
    let step = Step::Resync {
        ticket: pending.ticket(),
        otp1: CodeInput::from(form.otp1.expose()),
        otp2: CodeInput::from(form.otp2.expose()),
    };
    let reply = match shared
        .auth
        .step(Some(client.0), &pending.user_id, step)
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let token_id = pending.token_id.as_deref();
    Ok(advance(
        Ctx {
            shared: &shared,
            client,
            csrf: &csrf,
            session: &pending.session,
        },
        &pending.user_id,
        token_id,
        reply,
        Here::Resync,
    )
    .await)
}

/// GET `/resync/done`: the completion message and the way on to the OTP
/// step (manual 2.6 (4)).
async fn resynced_page(pending: Pending) -> Result<Answer, LoginRejection> {
    let pending = pending.at(Stage::Otp)?;
    Ok(Answer::Show(View::Resynced {
        token_id: pending.token_id.unwrap_or_default(),
    }))
}

/// GET `/change`: the password change required before logging in
/// (R-LOG-4).
async fn change_page(pending: Pending, csrf: CsrfToken) -> Result<Answer, LoginRejection> {
    pending.at(Stage::Change)?;
    Ok(Answer::Show(View::Change {
        csrf: csrf.expose(),
        voluntary: false,
        problem: None,
    }))
}

/// The password change form (R-PWD-5: the new password twice; the current
/// one for a logged-in user's own change).
#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    current: Secret,
    #[serde(default)]
    new: Secret,
    #[serde(default)]
    confirm: Secret,
}

/// POST `/change`.
async fn change_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    pending: Pending,
    Input(form): Input<ChangeForm>,
) -> Result<Answer, LoginRejection> {
    admit(&shared, client).await?;
    let pending = pending.at(Stage::Change)?;
    let new = Password::from(form.new.expose());
    let confirmation = Password::from(form.confirm.expose());
    let step = Step::ChangePassword {
        ticket: pending.ticket(),
        new: &new,
        confirmation: &confirmation,
    };
    let reply = match shared
        .auth
        .step(Some(client.0), &pending.user_id, step)
        .await
    {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e)),
    };
    let here = Here::Change { voluntary: false };
    Ok(advance(
        Ctx {
            shared: &shared,
            client,
            csrf: &csrf,
            session: &pending.session,
        },
        &pending.user_id,
        None,
        reply,
        here,
    )
    .await)
}

/// GET `/password`: a logged-in user's own password change.
async fn password_page(_: LoggedIn, csrf: CsrfToken) -> Answer {
    Answer::Show(View::Change {
        csrf: csrf.expose(),
        voluntary: true,
        problem: None,
    })
}

/// POST `/password`: the current password and the new one twice. Every
/// other session of the account ends; this one goes on with a new token.
async fn password_post(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    session: Session,
    logged_in: LoggedIn,
    Input(form): Input<ChangeForm>,
) -> Answer {
    if let Err(refused) = admit(&shared, client).await {
        return refused.answer();
    }
    let current = Password::from(form.current.expose());
    let new = Password::from(form.new.expose());
    let confirmation = Password::from(form.confirm.expose());
    let user = logged_in.user;
    let step = Step::ChangePasswordLoggedIn {
        session: &user.token,
        current: &current,
        new: &new,
        confirmation: &confirmation,
    };
    let reply = match shared.auth.step(Some(client.0), &user.user_id, step).await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let here = Here::Change { voluntary: true };
    advance(
        Ctx {
            shared: &shared,
            client,
            csrf: &csrf,
            session: &session,
        },
        &user.user_id,
        None,
        reply,
        here,
    )
    .await
}

/// POST `/logout`: ends the driver's session and the server session, then
/// the login page says so. Without a login it only goes there.
async fn logout(
    Extension(shared): Extension<Arc<Shared>>,
    client: ClientIp,
    csrf: CsrfToken,
    session: Session,
) -> Answer {
    let before = match held(&session).await {
        Ok(h) => h,
        Err(e) => return session_failed(&e),
    };
    let Some(before) = before else {
        return Answer::Go(Place::Login(None));
    };
    if let Held::LoggedIn {
        user_id,
        session: token,
        ..
    } = &before
        && let Some(token) = SessionToken::parse_hex(token)
    {
        let step = Step::Logout { session: &token };
        if let Err(e) = shared.auth.step(Some(client.0), user_id, step).await {
            return failed(&e);
        }
    }
    if let Err(e) = session.flush().await {
        return session_failed(&e);
    }
    csrf.renew();
    Answer::Go(Place::Login(Some(Notice::LoggedOut)))
}

/// Any other path: the not-found page.
pub(crate) async fn not_found() -> Answer {
    Answer::Show(View::NotFound)
}

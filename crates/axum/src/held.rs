//! What the server session holds of a login, and the extractors that read
//! it: [`Pending`] (a login between its password and its last step, at a
//! typed [`Stage`]) and [`LoggedIn`] (checked against the driver on every
//! request).
//!
//! A server session exists only after a correct password: the login page
//! and a refused password store nothing. Tickets and session tokens are
//! kept in their hex form and parsed back on use; the browser only ever
//! holds the session's cookie.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use lockstep_account::machine::Input;
use lockstep_account::{CredentialId, LoginTicket, Outcome, SessionToken, UserSession};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::Shared;
use crate::client_ip::ClientIp;
use crate::view::{Answer, Notice, Place, View};

/// The session key of the login.
pub(crate) const KEY: &str = "lockstep";

/// A stage of a login after its password (R-LOG-2, R-ENR-2, R-LOG-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Register a token (利用開始登録).
    Enroll,
    /// Enter a one-time password, or correct the token's drift (OTP 認証,
    /// 同期ズレ補正: both open with the same ticket).
    Otp,
    /// Change the password before logging in.
    Change,
}

impl Stage {
    /// Its stable name, which is also its path under the login's prefix.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Enroll => "enroll",
            Self::Otp => "otp",
            Self::Change => "change",
        }
    }
}

/// What the session holds.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "held", rename_all = "snake_case")]
pub(crate) enum Held {
    Pending {
        stage: Stage,
        user_id: String,
        ticket: String,
        token_id: Option<String>,
        notice: Option<Notice>,
    },
    LoggedIn {
        user_id: String,
        session: String,
        notice: Option<Notice>,
    },
}

/// Never the ticket or the session token.
impl core::fmt::Debug for Held {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Pending { stage, .. } => write!(f, "Held::Pending({stage:?})"),
            Self::LoggedIn { .. } => f.write_str("Held::LoggedIn"),
        }
    }
}

impl Held {
    /// Where a session holding this resumes.
    pub(crate) const fn place(&self) -> Place {
        match self {
            Self::Pending { stage, .. } => Place::Stage(*stage),
            Self::LoggedIn { .. } => Place::Home,
        }
    }

    pub(crate) fn pending(
        stage: Stage,
        user_id: &str,
        ticket: &LoginTicket,
        token_id: Option<&CredentialId>,
        notice: Option<Notice>,
    ) -> Self {
        Self::Pending {
            stage,
            user_id: user_id.to_owned(),
            ticket: ticket.expose_hex(),
            token_id: token_id.map(ToString::to_string),
            notice,
        }
    }

    pub(crate) fn logged_in(s: &UserSession, notice: Option<Notice>) -> Self {
        Self::LoggedIn {
            user_id: s.user_id.clone(),
            session: s.token.expose_hex(),
            notice,
        }
    }
}

/// What the session holds, if anything (a record that does not read as
/// ours counts as nothing).
pub(crate) async fn held(
    session: &Session,
) -> Result<Option<Held>, tower_sessions::session::Error> {
    match session.get::<Held>(KEY).await {
        Ok(h) => Ok(h),
        Err(tower_sessions::session::Error::SerdeJson(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why an extractor of this crate did not yield: rendered by the login's
/// pages (a redirect to where the login stands, the expired page, or the
/// failure page).
#[derive(Debug)]
pub struct LoginRejection(pub(crate) Box<Answer>);

impl IntoResponse for LoginRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<Answer> for LoginRejection {
    fn from(answer: Answer) -> Self {
        Self(Box::new(answer))
    }
}

impl LoginRejection {
    pub(crate) fn failed(e: &dyn std::error::Error) -> Self {
        tracing::error!(error = %e, "session store failed");
        Answer::Show(View::Failed).into()
    }

    /// The answer, to render.
    pub(crate) fn answer(self) -> Answer {
        *self.0
    }
}

fn shared(parts: &Parts) -> Result<Arc<Shared>, LoginRejection> {
    parts
        .extensions
        .get::<Arc<Shared>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("a lockstep extractor outside the login's router");
            LoginRejection::from(Answer::Show(View::Failed))
        })
}

async fn session(parts: &mut Parts) -> Result<Session, LoginRejection> {
    Session::from_request_parts(parts, &()).await.map_err(|_| {
        tracing::error!("a lockstep extractor without the session layer");
        LoginRejection::from(Answer::Show(View::Failed))
    })
}

/// A login between its password and its last step: the extractor of the
/// stage handlers. It rejects a request without one with the expired page
/// (the login timed out or ended), and a logged-in session with a redirect
/// home. Which stage it is at is [`Pending::stage`]; [`Pending::at`]
/// turns away a request for another stage.
pub struct Pending {
    /// Where the login stands.
    pub stage: Stage,
    /// The user ID of the login.
    pub user_id: String,
    /// The registered token ID (at [`Stage::Otp`]).
    pub token_id: Option<String>,
    pub(crate) ticket: LoginTicket,
    pub(crate) notice: Option<Notice>,
    pub(crate) session: Session,
}

impl core::fmt::Debug for Pending {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pending")
            .field("stage", &self.stage)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// `self` if the login is at `stage`; otherwise the redirect to the
    /// stage it is at.
    ///
    /// # Errors
    /// The redirect, as a [`LoginRejection`].
    pub fn at(self, stage: Stage) -> Result<Self, LoginRejection> {
        if self.stage == stage {
            Ok(self)
        } else {
            Err(LoginRejection::from(Answer::Go(Place::Stage(self.stage))))
        }
    }

    /// The ticket that opens the stage (a bearer secret: it never leaves
    /// the server).
    pub(crate) const fn ticket(&self) -> &LoginTicket {
        &self.ticket
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Pending {
    type Rejection = LoginRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let session = session(parts).await?;
        let held = held(&session)
            .await
            .map_err(|e| LoginRejection::failed(&e))?;
        match held {
            Some(Held::Pending {
                stage,
                user_id,
                ticket,
                token_id,
                notice,
            }) => match LoginTicket::parse_hex(&ticket) {
                Some(ticket) => Ok(Self {
                    stage,
                    user_id,
                    token_id,
                    ticket,
                    notice,
                    session,
                }),
                None => Err(LoginRejection::from(Answer::Show(View::Expired))),
            },
            Some(other) => Err(LoginRejection::from(Answer::Go(other.place()))),
            None => Err(LoginRejection::from(Answer::Show(View::Expired))),
        }
    }
}

/// The logged-in user: the extractor of every page behind the login. The
/// session is checked against the driver ([`lockstep_account::Authenticator::session`])
/// on every request, so that a lock, a reset, a revoke, a password change
/// or a logout elsewhere ends it at once: the request is then answered
/// with the expired page and the server session is deleted. A request
/// without a login is sent to the login page; one in the middle of a login
/// to its stage.
pub struct LoggedIn {
    /// What the service shows of the user (R-ACC-1).
    pub user: UserSession,
    /// What just finished (logged in after a password change…), shown
    /// once.
    pub notice: Option<Notice>,
}

impl core::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("user_id", &self.user.user_id)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for LoggedIn {
    type Rejection = LoginRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let shared = shared(parts)?;
        let client = parts.extensions.get::<ClientIp>().map(|c| c.0);
        let session = session(parts).await?;
        let held = held(&session)
            .await
            .map_err(|e| LoginRejection::failed(&e))?;
        let (user_id, token, notice) = match held {
            Some(Held::LoggedIn {
                user_id,
                session,
                notice,
            }) => (user_id, session, notice),
            Some(other) => return Err(LoginRejection::from(Answer::Go(other.place()))),
            None => return Err(LoginRejection::from(Answer::Go(Place::Login(None)))),
        };
        let open = match SessionToken::parse_hex(&token) {
            Some(token) => {
                let input = Input::Session { session: &token };
                match shared.auth.step(client, &user_id, input).await {
                    Ok(reply) => match reply.outcome {
                        Outcome::SessionOpen(user) => Some(user),
                        _ => None,
                    },
                    Err(e) => return Err(crate::flow::failed(&e).into()),
                }
            }
            None => None,
        };
        let Some(user) = open else {
            let _ = session.flush().await;
            return Err(LoginRejection::from(Answer::Show(View::Expired)));
        };
        if notice.is_some() {
            let again = Held::logged_in(&user, None);
            session
                .insert(KEY, &again)
                .await
                .map_err(|e| LoginRejection::failed(&e))?;
        }
        Ok(Self { user, notice })
    }
}

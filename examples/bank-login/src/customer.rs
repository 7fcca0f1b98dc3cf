//! The customer's pages after login: 初期画面 (2.4 (9)) and a voluntary
//! password change.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use lockstep::account::{Outcome, Password, SessionToken};
use serde::Deserialize;
use tower_sessions::Session;

use crate::flow::{Customer, continue_as, logged_in, refused_here, set_flash, take_flash, to};
use crate::pages::{ChangePage, Flash, HomePage, render};
use crate::security::csrf_token;
use crate::{AppError, Backend, Bank, Field};

/// GET `/home`: お客様名, ユーザ ID, ユーザ名 (R-ACC-1).
pub(crate) async fn home<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
) -> Result<Response, AppError> {
    let me = match logged_in::<S, Customer>(&bank, &session).await? {
        Ok(me) => me,
        Err(r) => return Ok(r),
    };
    let page = HomePage {
        csrf: csrf_token(&session).await?,
        customer_name: me.customer_name,
        user_id: me.user_id,
        user_name: me.user_name,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// GET `/password`: the voluntary change.
pub(crate) async fn password_page<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
) -> Result<Response, AppError> {
    if let Err(r) = logged_in::<S, Customer>(&bank, &session).await? {
        return Ok(r);
    }
    let page = ChangePage {
        prefix: "",
        desk: false,
        csrf: csrf_token(&session).await?,
        voluntary: true,
        flash: take_flash(&session).await?,
    };
    Ok(render(&page))
}

/// The voluntary change: the current password, and the new one twice.
#[derive(Deserialize)]
pub(crate) struct VoluntaryForm {
    current: Field,
    new: Field,
    confirm: Field,
}

/// POST `/password`.
pub(crate) async fn password_post<S: Backend>(
    State(bank): State<Arc<Bank<S>>>,
    session: Session,
    Form(form): Form<VoluntaryForm>,
) -> Result<Response, AppError> {
    let me = match logged_in::<S, Customer>(&bank, &session).await? {
        Ok(me) => me,
        Err(r) => return Ok(r),
    };
    let current = Password::from(form.current.expose());
    let new = Password::from(form.new.expose());
    let confirmation = Password::from(form.confirm.expose());
    let response = bank
        .customers
        .auth
        .change_password_logged_in(&me.user_id, &me.token, &current, &new, &confirmation)
        .await?;
    match response.outcome {
        Outcome::PasswordChanged(s) => {
            let token: &SessionToken = &s.token;
            continue_as::<Customer>(&session, me.user_id, token).await?;
            set_flash(
                &session,
                Flash {
                    notice: Some("パスワードを変更しました。".into()),
                    ..Flash::default()
                },
            )
            .await?;
            Ok(to::<Customer>("/home"))
        }
        other => {
            let config = bank.customers.auth.config();
            refused_here::<Customer>(&session, config, &other, "/password").await
        }
    }
}

//! The customer's page after login: 初期画面 (2.4 (9)), with お客様名,
//! ユーザ ID and ユーザ名 (R-ACC-1). The password change from it and the
//! logout are the login router's (`/password`, `/logout`).

use axum::response::Html;
use lockstep_axum::{CsrfToken, LoggedIn};

use crate::pages::{HomePage, Messages, html};

/// GET `/home`.
pub(crate) async fn home(me: LoggedIn, csrf: CsrfToken) -> Html<String> {
    let notice = match me.notice {
        Some(lockstep_axum::Notice::PasswordChanged) => {
            Some("ログインパスワードを変更しました。".to_owned())
        }
        _ => None,
    };
    html(&HomePage {
        csrf: csrf.expose(),
        customer_name: me.user.customer_name,
        user_id: me.user.user_id,
        user_name: me.user.user_name,
        messages: Messages {
            notice,
            ..Messages::default()
        },
    })
}

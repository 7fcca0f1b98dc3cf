//! the takeover through the logged-in password change; sessions.

use crate::common::{Fx, TEMP, refusal};
use lockstep_account::{Config, OperatorAction, Outcome, Refusal, SessionToken};
use lockstep_password::Password;

/// the logged-in change needed only the current password, so a
/// mailed temporary password (even one the login refused), a desk reset's
/// password, or a locked token was enough to set a permanent password and
/// clear the forced change. Now it needs the session of a completed login.
#[tokio::test]
async fn a_voluntary_change_needs_a_completed_login() {
    let fx = Fx::new();
    fx.create("victim").await;
    let stolen = Password::from(TEMP); // the mailed temporary password
    let mine = Password::from("Attack123");
    for session in [
        SessionToken::from_bytes([0; 16]),
        SessionToken::from_bytes([9; 16]),
    ] {
        let r = fx
            .auth
            .change_password_logged_in("victim", &session, &stolen, &mine, &mine)
            .await
            .unwrap();
        assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    }
    let a = fx.load("victim").await;
    assert_eq!(
        a.password.must_change,
        Some(lockstep_account::MustChange::FirstLogin)
    );
    assert_eq!(
        a.password.failures.count, 0,
        "nothing evaluated without a session"
    );

    // A real session dies with the desk's reset: the reset password alone
    // does not reach the voluntary change.
    let fx = Fx::new();
    let (_, totp) = fx.ready("victim", 1, "Owner123").await;
    let session = fx.session("victim", "Owner123", &totp).await;
    fx.reset("victim", "Reset123").await;
    let r = fx
        .auth
        .change_password_logged_in("victim", &session.token, &"Reset123".into(), &mine, &mine)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    assert_eq!(
        fx.load("victim").await.password.must_change,
        Some(lockstep_account::MustChange::Reset)
    );
}

/// Every lock, reset, revoke and password change voids every session; the
/// sessions of two devices both work until then; sessions expire.
#[tokio::test]
async fn sessions_work_on_two_devices_and_every_void_ends_them() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let phone = fx.session("u1", "Owner123", &totp).await;
    fx.clock.advance(30);
    let desk_pc = fx.session("u1", "Owner123", &totp).await;
    let bad = Password::from("x");
    let current = Password::from("Owner123");
    for s in [&phone, &desk_pc] {
        let r = fx
            .auth
            .change_password_logged_in("u1", &s.token, &current, &bad, &bad)
            .await
            .unwrap();
        assert!(
            matches!(refusal(&r), Some(Refusal::PasswordRejected(_))),
            "both devices pass the session gate: {:?}",
            r.outcome
        );
    }
    // A pending login elsewhere, then a change from the phone.
    let pending = fx.login("u1", "Owner123").await;
    let new = Password::from("Owner456");
    let r = fx
        .auth
        .change_password_logged_in("u1", &phone.token, &current, &new, &new)
        .await
        .unwrap();
    let Outcome::PasswordChanged(phone) = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    let r = fx
        .auth
        .change_password_logged_in("u1", &desk_pc.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidTicket),
        "the other device is out"
    );
    let r = fx.otp("u1", &pending, &totp, 0).await;
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidTicket),
        "the pending login is void"
    );

    // The phone's new session ends with a token lock…
    let t = fx.login("u1", "Owner456").await;
    fx.wrong_codes("u1", &t, &totp, 10).await;
    let r = fx
        .auth
        .change_password_logged_in("u1", &phone.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    fx.desk("u1", OperatorAction::UnlockToken).await;
    // …and every session expires.
    fx.clock.advance(30);
    let s = fx.session("u1", "Owner456", &totp).await;
    fx.clock
        .advance(u64::from(Config::default().session_ttl_seconds()) + 1);
    let r = fx
        .auth
        .change_password_logged_in("u1", &s.token, &new, &bad, &bad)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
}

// ------------------------------------------------------------ 2. enumeration

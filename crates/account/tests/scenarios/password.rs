//! パスワード変更 (manual §2.2, §2.4 条件): R-PWD-4, R-PWD-5, R-PWD-6, R-PWD-7 (R-PWD-1,
//! R-PWD-2, R-PWD-3 are the password crate's, `crates/password/tests/rules.rs`),
//! and the voluntary change behind a completed login.

use lockstep_account::{Config, EventKind, MustChange, Outcome, Refusal, UserSession};
use lockstep_password::{Password, Violation};

use crate::common::{Fx, T, ticket};

/// A voluntary change with `session`.
async fn change(fx: &Fx, session: &UserSession, cur: &str, new: &str) -> Outcome {
    fx.auth
        .change_password_logged_in(
            "u1",
            &session.token,
            &Password::from(cur),
            &Password::from(new),
            &Password::from(new),
        )
        .await
        .unwrap()
        .outcome
}

#[tokio::test]
async fn r_pwd_4_change_refuses_the_last_two_passwords() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let s = fx.session("u1", "First111", &totp).await;
    let Outcome::PasswordChanged(s) = change(&fx, &s, "First111", "Second22").await else {
        panic!()
    };
    // Current and previous are refused, without saying which one matched…
    for again in ["Second22", "First111"] {
        match change(&fx, &s, "Second22", again).await {
            Outcome::Refused {
                refusal: Refusal::PasswordRejected(v),
                ..
            } => {
                assert_eq!(v.as_slice(), [Violation::Reused]);
            }
            other => panic!("{other:?}"),
        }
    }
    let Outcome::PasswordChanged(s) = change(&fx, &s, "Second22", "Third333").await else {
        panic!()
    };
    // …and the 2nd-previous is allowed again.
    assert!(matches!(
        change(&fx, &s, "Third333", "First111").await,
        Outcome::PasswordChanged(_)
    ));
}

#[tokio::test]
async fn r_pwd_5_confirmation_must_match_and_every_rule_is_reported() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let s = fx.session("u1", "First111", &totp).await;
    let r = fx
        .auth
        .change_password_logged_in(
            "u1",
            &s.token,
            &Password::from("First111"),
            &Password::from("u1"),
            &Password::from("u2"),
        )
        .await
        .unwrap();
    match r.outcome {
        Outcome::Refused {
            refusal: Refusal::PasswordRejected(v),
            ..
        } => {
            assert_eq!(
                v.codes().collect::<Vec<_>>(),
                ["too_short", "same_as_user_id", "confirmation_mismatch"]
            );
        }
        other => panic!("{other:?}"),
    }
    // A wrong current password counts as a password failure.
    let r = change(&fx, &s, "nope1234", "Other123").await;
    assert_eq!(r.refusal(), Some(&Refusal::WrongCurrentPassword));
    assert_eq!(fx.load("u1").await.password.failures.count, 1);
}

#[tokio::test]
async fn r_pwd_6_expiry_counts_calendar_days_in_jst_not_counting_the_first() {
    // Set at 2025-06-15 21:00 JST (day D). Valid through 2025-09-13 23:59:59 JST
    // (D + 90); from 2025-09-14 00:00 JST the change is required.
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let set_at = fx.load("u1").await.password.set_at;
    assert_eq!(set_at, T + 30, "set one step after enrollment");
    let end_of_d90 = 1_757_775_599; // 2025-09-13 14:59:59 UTC = 23:59:59 JST
    for (now, expired) in [(end_of_d90, false), (end_of_d90 + 1, true)] {
        fx.clock.set(now);
        let t = fx.login("u1", "First111").await;
        let r = fx.otp("u1", &t, &totp, 0).await;
        if expired {
            assert!(
                matches!(
                    r.outcome,
                    Outcome::PasswordChangeRequired {
                        reason: MustChange::Expired,
                        ..
                    }
                ),
                "{:?}",
                r.outcome
            );
        } else {
            assert!(r.outcome.is_logged_in(), "{:?}", r.outcome);
        }
        fx.clock.advance(30);
    }
    // In UTC the same instant is still day D+90 for another 9 hours.
    let utc = Fx::with_config(Config::builder().utc_offset_seconds(0).build().unwrap());
    let (_, totp) = utc.ready("u1", 1, "First111").await;
    utc.clock.set(end_of_d90 + 1);
    let t = ticket(utc.password("u1", "First111").await.outcome);
    let r = utc.otp("u1", &t, &totp, 0).await;
    assert!(r.outcome.is_logged_in(), "{:?}", r.outcome);
}

/// A correct password whose stored hash has other (here: more expensive,
/// within range) parameters is rehashed by its own write after the login's,
/// keeping its age and history.
#[tokio::test]
async fn a_hash_with_other_parameters_is_replaced_at_the_next_login() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    let a = fx.load("u1").await;
    let (set_at, previous) = (a.password.set_at, a.password.previous.clone());
    fx.plant_older_hash("u1", "First111").await;

    let r = fx.password("u1", "First111").await;
    assert!(matches!(r.outcome, Outcome::OtpRequired { .. }));
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::PasswordRehashed)
    );
    let a = fx.load("u1").await;
    assert!(
        a.password
            .hash
            .as_str()
            .starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "{}",
        a.password.hash.as_str()
    );
    assert_eq!(
        (a.password.set_at, a.password.previous),
        (set_at, previous),
        "age and history kept"
    );
    let r = fx.password("u1", "First111").await;
    assert!(
        !r.events
            .iter()
            .any(|e| e.kind == EventKind::PasswordRehashed),
        "once only"
    );
}

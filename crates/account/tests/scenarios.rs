//! One scenario per rule of `../shared/SPEC.md`, named after it, and one walk
//! through the whole manual.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::Ordering;

use common::{Fx, T, TEMP, ticket};
use lockstep_account::{
    Config, EventKind, Factor, MustChange, OperatorAction, Outcome, Refusal, Session,
};
use lockstep_password::{Password, Violation};

fn refusal(o: &Outcome) -> Option<&Refusal> {
    match o {
        Outcome::Refused(r) => Some(r),
        _ => None,
    }
}

// ------------------------------------------------------------------ accounts

#[tokio::test]
async fn r_acc_1_logged_in_outcome_shows_customer_user_id_and_name() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.otp("u1", &t, &totp, 0).await;
    match r.outcome {
        Outcome::LoggedIn(Session {
            customer_name,
            user_id,
            user_name,
        }) => {
            assert_eq!(
                (customer_name.as_str(), user_id.as_str(), user_name.as_str()),
                ("Yamada Trading", "u1", "u1-name")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn r_acc_2_new_users_start_with_a_temporary_password_that_must_change() {
    let fx = Fx::new();
    let (_, totp) = fx.enrolled("u1", 1).await;
    let t = fx.login("u1", TEMP).await;
    let r = fx.otp("u1", &t, &totp, 0).await;
    assert!(matches!(
        r.outcome,
        Outcome::PasswordChangeRequired {
            reason: MustChange::FirstLogin,
            ..
        }
    ));
}

// ------------------------------------------------------------------ tokens

#[tokio::test]
async fn r_tok_1_one_token_per_user_no_second_enrollment() {
    let fx = Fx::new();
    let (id, _) = fx.enrolled("u1", 1).await;
    match fx.password("u1", TEMP).await.outcome {
        Outcome::OtpRequired { token_id, ticket } => {
            assert_eq!(token_id, id);
            // The OTP-stage ticket cannot open enrollment of a second token.
            let (id2, totp2) = fx.token(2);
            let r = fx
                .auth
                .enroll(
                    "u1",
                    &ticket,
                    id2.as_str(),
                    &fx.code(&totp2, -1),
                    &fx.code(&totp2, 0),
                )
                .await
                .unwrap();
            assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn r_tok_2_a_token_used_elsewhere_registers_as_is() {
    // The same credential ID and secret, known to two separate services.
    let bank = Fx::new();
    let other = Fx::new();
    let (id, _) = bank.enrolled("u1", 7).await;
    let (id2, _) = other.enrolled("someone", 7).await;
    // Each service bound the one generator as it is.
    assert_eq!(id, id2, "the same generator");
    let bound = |fx: &Fx, user: &str| fx.store.load_now(user).token.map(|t| t.credential_id);
    assert_eq!(bound(&bank, "u1"), Some(id));
    assert_eq!(bound(&other, "someone"), Some(id));
}

#[tokio::test]
async fn r_tok_3_a_code_is_valid_once_and_only_for_a_limited_time() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let code = fx.code(&totp, 0);
    let t = fx.login("u1", "Newpass1").await;
    assert!(matches!(
        fx.auth.submit_otp("u1", &t, &code).await.unwrap().outcome,
        Outcome::LoggedIn(_)
    ));
    // Once: the same code in a new login is refused.
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.auth.submit_otp("u1", &t, &code).await.unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode));
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::OtpReplayed { .. }))
    );
    // Limited time: a code from 5 minutes ago is refused.
    let old = fx.code(&totp, -10);
    let r = fx.auth.submit_otp("u1", &t, &old).await.unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode));
}

#[tokio::test]
async fn r_tok_4_revoked_token_stops_at_once_and_a_new_one_can_be_enrolled() {
    let fx = Fx::new();
    let (old_id, old_totp) = fx.ready("u1", 1, "Newpass1").await;
    let pending = fx.login("u1", "Newpass1").await;
    fx.auth
        .operator("op-9", "u1", OperatorAction::RevokeToken)
        .await
        .unwrap();
    // The pending login dies with it.
    let r = fx.otp("u1", &pending, &old_totp, 0).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    // The user enrolls a new token.
    let t = fx.login("u1", "Newpass1").await;
    let r = fx
        .auth
        .enroll(
            "u1",
            &t,
            old_id.as_str(),
            &fx.code(&old_totp, -1),
            &fx.code(&old_totp, 0),
        )
        .await
        .unwrap();
    assert_eq!(
        refusal(&r.outcome),
        Some(&Refusal::TokenUnavailable),
        "the revoked ID never again"
    );
    // One monotonic last-used step guards every token of the account
    // (semantics 4), so the new token's pair starts at the current step.
    let (new_id, new_totp) = fx.token(2);
    let r = fx
        .auth
        .enroll(
            "u1",
            &t,
            new_id.as_str(),
            &fx.code(&new_totp, 0),
            &fx.code(&new_totp, 1),
        )
        .await
        .unwrap();
    assert!(
        matches!(r.outcome, Outcome::Enrolled { token_id, .. } if token_id == new_id),
        "{:?}",
        r.outcome
    );
}

// ------------------------------------------------------------------ enrollment

#[tokio::test]
async fn r_enr_1_first_step_is_user_id_and_temporary_password() {
    let fx = Fx::new();
    fx.create("u1").await;
    assert!(matches!(
        fx.password("u1", TEMP).await.outcome,
        Outcome::EnrollmentRequired { .. }
    ));
}

#[tokio::test]
async fn r_enr_2_enrollment_needs_the_ticket_of_step_one() {
    let fx = Fx::new();
    fx.create("u1").await;
    let _real = fx.login("u1", TEMP).await;
    let forged = lockstep_account::LoginTicket::from_bytes([7; 16]);
    let (id, totp) = fx.token(1);
    let r = fx
        .auth
        .enroll(
            "u1",
            &forged,
            id.as_str(),
            &fx.code(&totp, -1),
            &fx.code(&totp, 0),
        )
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    assert_eq!(
        fx.store.load_now("u1").otp.failures,
        0,
        "a bad ticket is not an OTP attempt"
    );
}

#[tokio::test]
async fn r_enr_3_codes_must_be_consecutive_and_the_second_current() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    for (a, b) in [(-2, 0), (0, -1), (-20, -19), (5, 6)] {
        let r = fx
            .auth
            .enroll(
                "u1",
                &t,
                id.as_str(),
                &fx.code(&totp, a),
                &fx.code(&totp, b),
            )
            .await
            .unwrap();
        assert_eq!(
            refusal(&r.outcome),
            Some(&Refusal::InvalidCode),
            "pair ({a}, {b})"
        );
    }
    let r = fx
        .auth
        .enroll(
            "u1",
            &t,
            id.as_str(),
            &fx.code(&totp, 0),
            &fx.code(&totp, 1),
        )
        .await
        .unwrap();
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
}

#[tokio::test]
async fn r_enr_4_enrollment_code_cannot_log_in() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    let otp2 = fx.code(&totp, 0);
    let r = fx
        .auth
        .enroll("u1", &t, id.as_str(), &fx.code(&totp, -1), &otp2)
        .await
        .unwrap();
    let t = ticket(r.outcome);
    for code in [otp2, fx.code(&totp, -1)] {
        let r = fx.auth.submit_otp("u1", &t, &code).await.unwrap();
        assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode));
    }
}

#[tokio::test]
async fn r_enr_5_any_error_stores_nothing_and_counts() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    let before = fx.store.load_now("u1");
    let attempts = [
        ("VSST-bad", fx.code(&totp, -1), fx.code(&totp, 0)),
        ("ZZZZ00000000", fx.code(&totp, -1), fx.code(&totp, 0)),
        (id.as_str(), fx.code(&totp, -1), "12345".into()),
        (id.as_str(), fx.code(&totp, -1), fx.code(&totp, 1)),
    ];
    for (n, (tid, a, b)) in attempts.iter().enumerate() {
        let r = fx.auth.enroll("u1", &t, tid, a, b).await.unwrap();
        assert!(refusal(&r.outcome).is_some(), "{:?}", r.outcome);
        let after = fx.store.load_now("u1");
        assert_eq!(after.token, None);
        assert_eq!(
            after.otp.last_used_step, before.otp.last_used_step,
            "no code consumed"
        );
        assert_eq!(after.otp.failures, u32::try_from(n + 1).unwrap());
    }
    // Both codes again, right this time: it works with the same ticket.
    let r = fx
        .auth
        .enroll(
            "u1",
            &t,
            id.as_str(),
            &fx.code(&totp, -1),
            &fx.code(&totp, 0),
        )
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::Enrolled { .. }));
    assert_eq!(fx.store.load_now("u1").otp.failures, 0);
}

#[tokio::test]
async fn r_enr_6_success_shows_the_registered_token_id() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    let r = fx
        .auth
        .enroll(
            "u1",
            &t,
            &id.as_str().to_lowercase(),
            &fx.code(&totp, -1),
            &fx.code(&totp, 0),
        )
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::Enrolled { token_id, .. } if token_id == id));
}

#[tokio::test]
async fn r_enr_7_wrong_password_at_enrollment_counts_toward_the_lock() {
    let fx = Fx::new();
    fx.create("u1").await;
    for _ in 0..4 {
        fx.password("u1", "wrong1").await;
    }
    assert_eq!(fx.store.load_now("u1").password.failures, 4);
    let r = fx.password("u1", "wrong1").await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCredentials));
    assert!(fx.store.load_now("u1").password.locked);
}

// ------------------------------------------------------------------ login

#[tokio::test]
async fn r_log_1_and_2_password_then_the_registered_token_id_is_shown() {
    let fx = Fx::new();
    let (id, _) = fx.ready("u1", 1, "Newpass1").await;
    assert!(
        matches!(fx.password("u1", "Newpass1").await.outcome, Outcome::OtpRequired { token_id, .. } if token_id == id)
    );
}

#[tokio::test]
async fn r_log_3_a_correct_unused_current_code_logs_in_and_stages_cannot_be_skipped() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    // Without the password step there is no ticket.
    let forged = lockstep_account::LoginTicket::from_bytes([0; 16]);
    let r = fx.otp("u1", &forged, &totp, 0).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    let t = fx.login("u1", "Newpass1").await;
    // Expired ticket (5 minutes).
    fx.clock.advance(301);
    let r = fx.otp("u1", &t, &totp, 0).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    let t = fx.login("u1", "Newpass1").await;
    assert!(matches!(
        fx.otp("u1", &t, &totp, 0).await.outcome,
        Outcome::LoggedIn(_)
    ));
    // Single use: the ticket is spent.
    let r = fx.otp("u1", &t, &totp, 1).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
}

#[tokio::test]
async fn r_log_4_password_change_comes_first_after_reset_and_cannot_be_skipped() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    fx.auth
        .operator(
            "op",
            "u1",
            OperatorAction::ResetPassword {
                temporary: &Password::from("Reset123"),
            },
        )
        .await
        .unwrap();
    let t = fx.login("u1", "Reset123").await;
    let r = fx.otp("u1", &t, &totp, 0).await;
    let Outcome::PasswordChangeRequired {
        ticket: change,
        reason,
    } = r.outcome
    else {
        panic!()
    };
    assert_eq!(reason, MustChange::Reset);
    // The OTP ticket does not open the change stage, nor the change ticket the OTP stage.
    let r = fx
        .auth
        .change_password(
            "u1",
            &t,
            &Password::from("Fresh123"),
            &Password::from("Fresh123"),
        )
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    let r = fx.otp("u1", &change, &totp, 1).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
    let r = fx
        .auth
        .change_password(
            "u1",
            &change,
            &Password::from("Fresh123"),
            &Password::from("Fresh123"),
        )
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::LoggedIn(_)));
}

#[tokio::test]
async fn r_log_5_unknown_user_and_wrong_password_look_the_same_and_cost_the_same() {
    let fx = Fx::new();
    fx.ready("u1", 1, "Newpass1").await;
    let v0 = fx.hasher.verifies.load(Ordering::SeqCst);
    let wrong = fx.password("u1", "Wrong999").await;
    let v1 = fx.hasher.verifies.load(Ordering::SeqCst);
    let unknown = fx.password("nobody", "Wrong999").await;
    let v2 = fx.hasher.verifies.load(Ordering::SeqCst);
    assert_eq!(v1 - v0, v2 - v1, "same number of hash verifications");
    assert_eq!(v1 - v0, 1);
    assert_eq!(refusal(&wrong.outcome), Some(&Refusal::InvalidCredentials));
    assert_eq!(refusal(&unknown.outcome), refusal(&wrong.outcome));
    assert_eq!(
        format!("{:?}", wrong.outcome),
        format!("{:?}", unknown.outcome)
    );
}

// ------------------------------------------------------------------ passwords

#[tokio::test]
async fn r_pwd_4_change_refuses_the_last_two_passwords() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    let change = |cur: &'static str, new: &'static str| {
        let fx = &fx;
        async move {
            fx.auth
                .change_password_logged_in(
                    "u1",
                    &Password::from(cur),
                    &Password::from(new),
                    &Password::from(new),
                )
                .await
                .unwrap()
                .outcome
        }
    };
    assert!(matches!(
        change("First111", "Second22").await,
        Outcome::PasswordChanged
    ));
    // Current and previous are refused…
    for (again, generation) in [("Second22", 0), ("First111", 1)] {
        match change("Second22", again).await {
            Outcome::Refused(Refusal::PasswordRejected(v)) => {
                assert_eq!(v.as_slice(), [Violation::Reused { generation }])
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        change("Second22", "Third333").await,
        Outcome::PasswordChanged
    ));
    // …and the 2nd-previous is allowed again.
    assert!(matches!(
        change("Third333", "First111").await,
        Outcome::PasswordChanged
    ));
}

#[tokio::test]
async fn r_pwd_5_confirmation_must_match_and_every_rule_is_reported() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    let r = fx
        .auth
        .change_password_logged_in(
            "u1",
            &Password::from("First111"),
            &Password::from("u1"),
            &Password::from("u2"),
        )
        .await
        .unwrap();
    match r.outcome {
        Outcome::Refused(Refusal::PasswordRejected(v)) => {
            assert_eq!(
                v.codes().collect::<Vec<_>>(),
                ["too_short", "same_as_user_id", "confirmation_mismatch"]
            );
        }
        other => panic!("{other:?}"),
    }
    // A wrong current password counts as a password failure.
    let r = fx
        .auth
        .change_password_logged_in(
            "u1",
            &Password::from("nope1234"),
            &Password::from("Other123"),
            &Password::from("Other123"),
        )
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCredentials));
    assert_eq!(fx.store.load_now("u1").password.failures, 1);
}

#[tokio::test]
async fn r_pwd_6_expiry_counts_calendar_days_in_jst_not_counting_the_first() {
    // Set at 2025-06-15 21:00 JST (day D). Valid through 2025-09-13 23:59:59 JST
    // (D + 90); from 2025-09-14 00:00 JST the change is required.
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let set_at = fx.store.load_now("u1").password.set_at;
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
            assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
        }
        fx.clock.advance(30);
    }
    // In UTC the same instant is still day D+90 for another 9 hours.
    let utc = Fx::with_config(Config::builder().utc_offset_seconds(0).build().unwrap());
    let (_, totp) = utc.ready("u1", 1, "First111").await;
    utc.clock.set(end_of_d90 + 1);
    let t = ticket(utc.password("u1", "First111").await.outcome);
    let r = utc
        .auth
        .submit_otp("u1", &t, &utc.code(&totp, 0))
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
}

#[tokio::test]
async fn expired_temporary_password_ends_the_login_at_the_password_step() {
    let fx = Fx::new();
    fx.create("u1").await;
    fx.clock.advance(31 * 86_400);
    let r = fx.password("u1", TEMP).await;
    assert_eq!(
        refusal(&r.outcome),
        Some(&Refusal::TemporaryPasswordExpired)
    );
    fx.auth
        .operator(
            "op",
            "u1",
            OperatorAction::ResetPassword {
                temporary: &Password::from("Again123"),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        fx.password("u1", "Again123").await.outcome,
        Outcome::EnrollmentRequired { .. }
    ));
}

#[tokio::test]
async fn a_hash_with_other_parameters_is_replaced_at_the_next_login() {
    use lockstep_account::AccountStore;
    use lockstep_password::{Argon2Params, Argon2idHasher, PasswordHasher};
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    // A record from an older deployment, hashed with other costs.
    let older = Argon2idHasher::new(Argon2Params {
        memory_kib: 7168,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let mut a = fx.store.load_now("u1");
    a.password.hash = older
        .hash(&Password::from("First111"))
        .unwrap()
        .as_str()
        .into();
    let (set_at, previous) = (a.password.set_at, a.password.previous.clone());
    fx.store.replace(&a, a.version).await.unwrap();

    let r = fx.password("u1", "First111").await;
    assert!(matches!(r.outcome, Outcome::OtpRequired { .. }));
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::PasswordRehashed)
    );
    let a = fx.store.load_now("u1");
    assert!(
        a.password.hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
        "{}",
        a.password.hash
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

// ------------------------------------------------------------------ lockout

#[tokio::test]
async fn r_lck_1_fifth_password_failure_locks_and_locked_is_not_evaluated() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    for n in 1..=5 {
        let r = fx.password("u1", "Wrong999").await;
        assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCredentials));
        assert_eq!(fx.store.load_now("u1").password.locked, n == 5);
    }
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx.password("u1", "First111").await;
    assert_eq!(
        refusal(&r.outcome),
        Some(&Refusal::PasswordLocked),
        "even the right password"
    );
    assert_eq!(
        fx.hasher.verifies.load(Ordering::SeqCst),
        before,
        "not evaluated"
    );
    assert_eq!(
        fx.store.load_now("u1").password.failures,
        5,
        "not counted, capped"
    );
    fx.auth
        .operator("op", "u1", OperatorAction::UnlockPassword)
        .await
        .unwrap();
    assert!(matches!(
        fx.password("u1", "First111").await.outcome,
        Outcome::OtpRequired { .. }
    ));
}

#[tokio::test]
async fn r_lck_2_tenth_otp_failure_locks_the_token_and_voids_the_ticket() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let bad = fx.wrong_code(&totp);
    for n in 1..=10 {
        let r = fx.auth.submit_otp("u1", &t, bad).await.unwrap();
        let want = if n == 10 {
            Refusal::TokenLocked
        } else {
            Refusal::InvalidCode
        };
        assert_eq!(refusal(&r.outcome), Some(&want), "attempt {n}");
    }
    let r = fx.otp("u1", &t, &totp, 0).await;
    assert_eq!(
        refusal(&r.outcome),
        Some(&Refusal::InvalidTicket),
        "ticket voided"
    );
    let r = fx.password("u1", "First111").await;
    assert_eq!(
        refusal(&r.outcome),
        Some(&Refusal::TokenLocked),
        "login ends at the password step"
    );
    let a = fx.store.load_now("u1");
    assert!(a.otp.locked && a.otp.failures == 10 && !a.password.locked && a.password.failures == 0);
}

#[tokio::test]
async fn r_lck_3_a_success_resets_only_its_own_counter() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    for _ in 0..4 {
        fx.password("u1", "Wrong999").await;
    }
    let t = fx.login("u1", "First111").await;
    assert_eq!(fx.store.load_now("u1").password.failures, 0);
    let bad = fx.wrong_code(&totp);
    for _ in 0..9 {
        fx.auth.submit_otp("u1", &t, bad).await.unwrap();
    }
    fx.password("u1", "Wrong999").await; // a password failure does not touch the OTP counter
    assert_eq!(fx.store.load_now("u1").otp.failures, 9);
    let t = fx.login("u1", "First111").await;
    assert!(matches!(
        fx.otp("u1", &t, &totp, 0).await.outcome,
        Outcome::LoggedIn(_)
    ));
    assert_eq!(fx.store.load_now("u1").otp.failures, 0);
}

// ------------------------------------------------------------------ resync

#[tokio::test]
async fn r_syn_1_to_3_a_drifted_token_fails_until_resynchronised() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    // The token's clock runs 20 steps (10 minutes) fast.
    let r = fx.otp("u1", &t, &totp, 20).await;
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode), "R-SYN-1");
    let r = fx
        .auth
        .resync("u1", &t, &fx.code(&totp, 20), &fx.code(&totp, 21))
        .await
        .unwrap();
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::Resynced { drift: 21 }),
        "{:?}",
        r.events
    );
    let t = ticket(r.outcome);
    let a = fx.store.load_now("u1");
    assert_eq!(
        (a.otp.failures, a.token.unwrap().drift),
        (0, 21),
        "R-SYN-3: counter reset, drift adopted"
    );
    fx.clock.advance(30);
    let r = fx.otp("u1", &t, &totp, 21).await;
    assert!(matches!(r.outcome, Outcome::LoggedIn(_)), "{:?}", r.outcome);
}

#[tokio::test]
async fn r_syn_2_resync_rules_consecutive_counted_and_refused_while_locked() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let r = fx
        .auth
        .resync("u1", &t, &fx.code(&totp, 20), &fx.code(&totp, 22))
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode));
    assert_eq!(
        fx.store.load_now("u1").otp.failures,
        1,
        "a failed resync counts"
    );
    // Replaying the enrollment's (consumed) codes as a resync pair fails too.
    let r = fx
        .auth
        .resync("u1", &t, &fx.code(&totp, -3), &fx.code(&totp, -2))
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidCode));
    let bad = fx.wrong_code(&totp);
    for _ in 0..8 {
        fx.auth.submit_otp("u1", &t, bad).await.unwrap();
    }
    let locked = fx.store.load_now("u1");
    assert!(locked.otp.locked);
    // A lock voids the ticket, so no resync can reach a locked token through
    // the driver; the machine refuses it anyway, without counting. Give it a
    // locked record that still holds a valid OTP-stage ticket.
    let t = ticket(
        fx.password("u1", "First111")
            .await
            .outcome_or_unlocked(&fx)
            .await,
    );
    let mut record = fx.store.load_now("u1");
    record.otp.locked = true;
    record.otp.failures = 10;
    let (id, seed_totp) = (record.token.as_ref().unwrap().credential_id, &totp);
    let seed = fx.seed(id).await;
    let config = Config::default();
    let policy = lockstep_password::PasswordPolicy::bank_default();
    let env = lockstep_account::Env {
        config: &config,
        policy: &policy,
        hasher: &*fx.hasher,
        now: fx.now(),
        random: [5; 32],
        token: Some(&seed),
        token_status: lockstep_account::TokenStatus::BoundTo,
    };
    let (a, b) = (fx.code(seed_totp, 0), fx.code(seed_totp, 1));
    let d = lockstep_account::decide(
        &record,
        &lockstep_account::Input::Resync {
            ticket: &t,
            otp1: &a,
            otp2: &b,
        },
        &env,
    )
    .unwrap();
    assert_eq!(refusal(&d.outcome), Some(&Refusal::TokenLocked));
    assert!(d.account.is_none(), "nothing counted, nothing changed");
    // Resync needs the OTP-stage ticket of the password step.
    let r = fx
        .auth
        .resync(
            "u1",
            &lockstep_account::LoginTicket::from_bytes([1; 16]),
            &fx.code(&totp, 0),
            &fx.code(&totp, 1),
        )
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::InvalidTicket));
}

trait OrUnlocked {
    async fn outcome_or_unlocked(self, fx: &Fx) -> Outcome;
}
impl OrUnlocked for lockstep_account::Response {
    /// A locked token ends the login at the password step: unlock it at the
    /// desk and log in again, to get a real OTP-stage ticket.
    async fn outcome_or_unlocked(self, fx: &Fx) -> Outcome {
        match self.outcome {
            Outcome::Refused(Refusal::TokenLocked) => {
                fx.auth
                    .operator("op", "u1", lockstep_account::OperatorAction::UnlockToken)
                    .await
                    .unwrap();
                fx.password("u1", "First111").await.outcome
            }
            other => other,
        }
    }
}

// ------------------------------------------------------------------ support desk

#[tokio::test]
async fn r_ops_1_unlocks_clear_only_their_own_factor() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let bad = fx.wrong_code(&totp);
    for _ in 0..10 {
        fx.auth.submit_otp("u1", &t, bad).await.unwrap();
    }
    for _ in 0..5 {
        fx.password("u1", "Wrong999").await;
    }
    let r = fx
        .auth
        .operator("op-7", "u1", OperatorAction::UnlockToken)
        .await
        .unwrap();
    assert_eq!(r.events[0].operator_id.as_deref(), Some("op-7"));
    assert_eq!(
        r.events[0].kind,
        EventKind::Unlocked {
            factor: Factor::Otp
        }
    );
    let a = fx.store.load_now("u1");
    assert!(!a.otp.locked && a.otp.failures == 0 && a.password.locked && a.password.failures == 5);
    fx.auth
        .operator("op-7", "u1", OperatorAction::UnlockPassword)
        .await
        .unwrap();
    let a = fx.store.load_now("u1");
    assert!(!a.password.locked && a.password.failures == 0);
    let r = fx
        .auth
        .operator("op-7", "ghost", OperatorAction::UnlockPassword)
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::UnknownAccount));
}

#[tokio::test]
async fn r_ops_2_reset_sets_a_temporary_password_and_clears_the_password_lock() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    for _ in 0..5 {
        fx.password("u1", "Wrong999").await;
    }
    fx.auth
        .operator(
            "op",
            "u1",
            OperatorAction::ResetPassword {
                temporary: &Password::from("Reset123"),
            },
        )
        .await
        .unwrap();
    let a = fx.store.load_now("u1");
    assert!(!a.password.locked && a.password.failures == 0);
    assert_eq!(a.password.must_change, Some(MustChange::Reset));
    assert_eq!(
        refusal(&fx.password("u1", "First111").await.outcome),
        Some(&Refusal::InvalidCredentials)
    );
    assert!(matches!(
        fx.password("u1", "Reset123").await.outcome,
        Outcome::OtpRequired { .. }
    ));
}

#[tokio::test]
async fn r_ops_3_revoke_then_the_user_enrolls_again() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    let r = fx
        .auth
        .operator("op", "u1", OperatorAction::RevokeToken)
        .await
        .unwrap();
    assert!(matches!(r.events[0].kind, EventKind::TokenRevoked { .. }));
    assert!(matches!(
        fx.password("u1", "First111").await.outcome,
        Outcome::EnrollmentRequired { .. }
    ));
    let r = fx
        .auth
        .operator("op", "u1", OperatorAction::RevokeToken)
        .await
        .unwrap();
    assert_eq!(refusal(&r.outcome), Some(&Refusal::NoToken));
}

// ------------------------------------------------------------------ the manual

/// The seed manual end to end: application form → first use (enrollment) →
/// first login with forced change → daily login → drift → resync → device
/// change through the support desk → enrollment of the new token.
#[tokio::test]
async fn the_manual_end_to_end() {
    let fx = Fx::new();
    // The bank opens the account with the temporary password of the form (R-ACC-2).
    fx.create("fx-0001").await;
    // 利用開始登録: user ID + temporary password, then token ID + OTP1 + OTP2.
    let t = fx.login("fx-0001", TEMP).await;
    let (id, totp) = fx.token(42);
    let r = fx
        .auth
        .enroll(
            "fx-0001",
            &t,
            id.as_str(),
            &fx.code(&totp, -1),
            &fx.code(&totp, 0),
        )
        .await
        .unwrap();
    let Outcome::Enrolled {
        ticket: t,
        token_id,
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(token_id, id);
    // The seed asks for a fresh code after enrollment, then the forced change.
    fx.clock.advance(30);
    let r = fx.otp("fx-0001", &t, &totp, 0).await;
    let Outcome::PasswordChangeRequired {
        ticket: t,
        reason: MustChange::FirstLogin,
    } = r.outcome
    else {
        panic!()
    };
    let r = fx
        .auth
        .change_password(
            "fx-0001",
            &t,
            &Password::from("Sakura2025"),
            &Password::from("Sakura2025"),
        )
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::LoggedIn(_)));
    // A normal day: password, token ID shown, one code.
    fx.clock.advance(86_400);
    let r = fx.password("fx-0001", "Sakura2025").await;
    let Outcome::OtpRequired {
        ticket: t,
        token_id,
    } = r.outcome
    else {
        panic!()
    };
    assert_eq!(token_id, id);
    assert!(matches!(
        fx.otp("fx-0001", &t, &totp, 0).await.outcome,
        Outcome::LoggedIn(_)
    ));
    // The phone's clock drifts 15 minutes slow: resync from the OTP screen.
    fx.clock.advance(86_400);
    let t = fx.login("fx-0001", "Sakura2025").await;
    assert_eq!(
        refusal(&fx.otp("fx-0001", &t, &totp, -30).await.outcome),
        Some(&Refusal::InvalidCode)
    );
    let t = ticket(
        fx.auth
            .resync("fx-0001", &t, &fx.code(&totp, -31), &fx.code(&totp, -30))
            .await
            .unwrap()
            .outcome,
    );
    fx.clock.advance(30);
    assert!(matches!(
        fx.otp("fx-0001", &t, &totp, -30).await.outcome,
        Outcome::LoggedIn(_)
    ));
    // A new phone: the support desk revokes the old token; the user enrolls the new one.
    fx.auth
        .operator("desk-3", "fx-0001", OperatorAction::RevokeToken)
        .await
        .unwrap();
    let t = fx.login("fx-0001", "Sakura2025").await;
    let (new_id, new_totp) = fx.token(43);
    let r = fx
        .auth
        .enroll(
            "fx-0001",
            &t,
            new_id.as_str(),
            &fx.code(&new_totp, -1),
            &fx.code(&new_totp, 0),
        )
        .await
        .unwrap();
    let t = ticket(r.outcome);
    fx.clock.advance(30);
    assert!(matches!(
        fx.otp("fx-0001", &t, &new_totp, 0).await.outcome,
        Outcome::LoggedIn(_)
    ));
}

trait LoadNow {
    fn load_now(&self, user: &str) -> lockstep_account::Account;
}
impl LoadNow for std::sync::Arc<lockstep_account::MemoryStore> {
    fn load_now(&self, user: &str) -> lockstep_account::Account {
        use lockstep_account::AccountStore;
        let fut = self.load(user);
        futures_lite_block_on(fut).unwrap().unwrap()
    }
}

/// The in-memory store's futures complete immediately; poll once.
fn futures_lite_block_on<F: std::future::Future>(fut: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the memory store never waits"),
    }
}

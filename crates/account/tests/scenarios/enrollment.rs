//! 利用開始登録 — first use (manual §2.2, §2.3): the R-ENR rules, R-TOK-1, R-TOK-2, R-LOG-6.

use lockstep_account::{Entry, EventKind, Outcome, Refusal};

use crate::common::{Fx, TEMP, refusal, ticket};

#[tokio::test]
async fn r_enr_1_first_step_is_user_id_and_temporary_password() {
    let fx = Fx::new();
    fx.create("u1").await;
    let r = fx.password_with("u1", TEMP, Entry::Enroll).await;
    assert!(matches!(r.outcome, Outcome::EnrollmentRequired { .. }));
}

#[tokio::test]
async fn r_enr_2_enrollment_needs_the_ticket_of_step_one() {
    let fx = Fx::new();
    fx.create("u1").await;
    let _real = fx.login("u1", TEMP).await;
    let forged = lockstep_account::LoginTicket::from_bytes([7; 16]);
    let (id, totp) = fx.token(1);
    let r = fx.enroll("u1", &forged, id, &totp, -1, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    assert_eq!(
        fx.load("u1").await.enrollment.count,
        0,
        "a bad ticket is not an OTP attempt"
    );
}

/// Manual 2.3.2: OTP1 and OTP2 are consecutive, and OTP2 was generated
/// within the last 30 seconds (plus the transmission allowance right after
/// a step boundary). The old default window registered the pair (c−2, c−1).
#[tokio::test]
async fn r_enr_3_codes_must_be_consecutive_and_the_second_current() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    // 15 s into the step: OTP2 from the previous step is more than 30 s old.
    fx.seconds_into_step(15);
    for (a, b) in [(-2, -1), (-2, 0), (0, -1), (-20, -19), (5, 6), (1, 2)] {
        let r = fx.enroll("u1", &t, id, &totp, a, b).await;
        assert_eq!(
            refusal(&r),
            Some(&Refusal::EnrollmentFailed),
            "pair ({a}, {b})"
        );
    }
    // Within the allowance after the boundary the previous step still counts.
    fx.clock.advance(20); // 5 s into the next step
    let r = fx.enroll("u1", &t, id, &totp, -2, -1).await;
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(fx.load("u1").await.token.unwrap().drift, -1);
}

#[tokio::test]
async fn r_enr_3_a_token_one_step_fast_enrolls_with_that_drift() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    fx.seconds_into_step(15);
    let r = fx.enroll("u1", &t, id, &totp, 0, 1).await;
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
    assert_eq!(fx.load("u1").await.token.unwrap().drift, 1);
}

#[tokio::test]
async fn r_enr_4_enrollment_code_cannot_log_in() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    let r = fx.enroll("u1", &t, id, &totp, -1, 0).await;
    let t = ticket(r.outcome);
    for offset in [0, -1] {
        let r = fx.otp("u1", &t, &totp, offset).await;
        assert_eq!(refusal(&r), Some(&Refusal::InvalidCode), "offset {offset}");
    }
}

#[tokio::test]
async fn r_enr_5_any_error_stores_nothing_and_counts() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    let attempts = [
        ("VSST-bad", fx.code(&totp, -1), fx.code(&totp, 0)),
        ("ZZZZ00000000", fx.code(&totp, -1), fx.code(&totp, 0)),
        (id.as_str(), fx.code(&totp, -1), "12345".into()),
        (id.as_str(), fx.code(&totp, -1), fx.code(&totp, 1)),
    ];
    for (n, (tid, a, b)) in attempts.iter().enumerate() {
        let r = fx.auth.enroll("u1", &t, tid, a, b).await.unwrap();
        assert!(refusal(&r).is_some(), "{:?}", r.outcome);
        let after = fx.load("u1").await;
        assert_eq!(after.token, None, "nothing bound, no code consumed");
        assert_eq!(after.enrollment.count, u32::try_from(n + 1).unwrap());
    }
    // Both codes again, right this time: it works with the same ticket.
    let r = fx.enroll("u1", &t, id, &totp, -1, 0).await;
    assert!(matches!(r.outcome, Outcome::Enrolled { .. }));
    let a = fx.load("u1").await;
    assert_eq!(a.enrollment.count, 0, "a success resets the counter");
    assert_eq!(
        a.token.unwrap().failures.count,
        0,
        "the new token starts at 0"
    );
}

#[tokio::test]
async fn r_enr_5_ten_failed_enrollments_lock_until_the_desk_unlocks() {
    let fx = Fx::new();
    fx.create("u1").await;
    let t = fx.login("u1", TEMP).await;
    let (id, totp) = fx.token(1);
    for n in 1..=10 {
        let r = fx.enroll("u1", &t, id, &totp, -1, 1).await;
        let want = if n == 10 {
            Refusal::TokenLocked
        } else {
            Refusal::EnrollmentFailed
        };
        assert_eq!(refusal(&r), Some(&want), "attempt {n}");
    }
    let r = fx.password("u1", TEMP).await;
    assert_eq!(refusal(&r), Some(&Refusal::TokenLocked));
    fx.auth
        .operator("op", "u1", lockstep_account::OperatorAction::UnlockToken)
        .await
        .unwrap();
    let t = fx.login("u1", TEMP).await;
    let r = fx.enroll("u1", &t, id, &totp, -1, 0).await;
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
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
    assert_eq!(r.outcome.token_id(), Some(id));
}

#[tokio::test]
async fn r_enr_7_wrong_password_at_enrollment_counts_toward_the_lock() {
    let fx = Fx::new();
    fx.create("u1").await;
    for _ in 0..4 {
        fx.password_with("u1", "wrong1", Entry::Enroll).await;
    }
    assert_eq!(fx.load("u1").await.password.failures.count, 4);
    let r = fx.password_with("u1", "wrong1", Entry::Enroll).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
    assert!(fx.load("u1").await.password.failures.locked);
}

#[tokio::test]
async fn r_tok_1_one_token_per_user_no_second_enrollment() {
    let fx = Fx::new();
    let (id, _) = fx.enrolled("u1", 1).await;
    let r = fx.password_with("u1", TEMP, Entry::Login).await;
    let Outcome::OtpRequired { token_id, ticket } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(token_id, id);
    // The OTP-stage ticket cannot open enrollment of a second token.
    let (id2, totp2) = fx.token(2);
    let r = fx.enroll("u1", &ticket, id2, &totp2, -1, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    // Nor does the first-use button while a token is bound (R-LOG-6).
    let r = fx.password_with("u1", TEMP, Entry::Enroll).await;
    assert_eq!(refusal(&r), Some(&Refusal::AlreadyEnrolled));
}

#[tokio::test]
async fn r_tok_2_a_token_used_elsewhere_registers_as_is() {
    // The same credential ID and secret, known to two separate services.
    let bank = Fx::new();
    let other = Fx::new();
    let (id, _) = bank.enrolled("u1", 7).await;
    let (id2, _) = other.enrolled("someone", 7).await;
    assert_eq!(id, id2, "the same generator");
    assert_eq!(
        bank.load("u1").await.token.map(|t| t.credential_id),
        Some(id)
    );
    assert_eq!(
        other.load("someone").await.token.map(|t| t.credential_id),
        Some(id)
    );
}

/// R-LOG-6: the login screen's two buttons. Registering with a token bound,
/// or logging in with none, is refused with a message naming the right one;
/// the password was right, so the counter is reset, and nothing opens.
#[tokio::test]
async fn r_log_6_the_wrong_entry_button_says_which_to_use() {
    let fx = Fx::new();
    fx.create("u1").await;
    let r = fx.password_with("u1", TEMP, Entry::Login).await;
    assert_eq!(refusal(&r), Some(&Refusal::NotEnrolled));
    assert!(
        r.outcome
            .refusal()
            .unwrap()
            .message_ja(&lockstep_account::Config::default())
            .contains("［利用開始登録］")
    );
    assert!(fx.load("u1").await.ticket.is_none());
    fx.password_with("u1", "Wrong999", Entry::Enroll).await;
    let (_, _) = {
        let t = fx.login("u1", TEMP).await;
        let (id, totp) = fx.token(1);
        fx.enroll("u1", &t, id, &totp, -1, 0).await;
        (id, totp)
    };
    let r = fx.password_with("u1", TEMP, Entry::Enroll).await;
    assert_eq!(refusal(&r), Some(&Refusal::AlreadyEnrolled));
    assert!(
        r.outcome
            .refusal()
            .unwrap()
            .message_ja(&lockstep_account::Config::default())
            .contains("［ワンタイムパスワードログイン］")
    );
    assert_eq!(fx.load("u1").await.password.failures.count, 0);
    assert!(
        r.events
            .iter()
            .any(|e| e.kind == EventKind::PasswordAccepted)
    );
}

//! ロック (manual §2.3.1, §2.5.1, §2.5.2): R-LCK-1, R-LCK-2, R-LCK-3.

use std::sync::atomic::Ordering;

use lockstep_account::{EventKind, Factor, OperatorAction, Outcome, Refusal};

use crate::common::{Fx, refusal};

#[tokio::test]
async fn r_lck_1_fifth_password_failure_locks_and_locked_is_not_evaluated() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    for n in 1..=5 {
        let r = fx.password("u1", "Wrong999").await;
        assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
        assert_eq!(fx.load("u1").await.password.failures.locked, n == 5);
    }
    let stored = fx.load("u1").await.password.hash;
    let before = fx.hasher.verifications_of(stored.as_str());
    let total = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx.password("u1", "First111").await;
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidCredentials),
        "even the right password, and the same answer as a wrong one"
    );
    assert_eq!(
        r.events[1].kind,
        EventKind::LockedAttempt {
            factor: Factor::Password
        },
        "the audit log knows"
    );
    assert_eq!(
        fx.hasher.verifications_of(stored.as_str()),
        before,
        "not evaluated"
    );
    assert_eq!(
        fx.hasher.verifies.load(Ordering::SeqCst),
        total + 1,
        "but a dummy verification costs the same work"
    );
    assert_eq!(
        fx.load("u1").await.password.failures.count,
        5,
        "not counted, capped"
    );
    fx.desk("u1", OperatorAction::UnlockPassword).await;
    assert!(matches!(
        fx.password("u1", "First111").await.outcome,
        Outcome::OtpRequired { .. }
    ));
}

#[tokio::test]
async fn r_lck_2_tenth_otp_failure_locks_the_token_and_voids_the_ticket() {
    let fx = Fx::new();
    let (id, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let bad = fx.wrong_code(&totp);
    for n in 1..=10 {
        let r = fx.auth.submit_otp("u1", &t, bad).await.unwrap();
        let want = if n == 10 {
            Refusal::TokenLocked
        } else {
            Refusal::InvalidCode
        };
        assert_eq!(refusal(&r), Some(&want), "attempt {n}");
    }
    let r = fx.otp("u1", &t, &totp, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket), "ticket voided");
    let r = fx.password("u1", "First111").await;
    assert!(
        matches!(r.outcome, Outcome::Refused { refusal: Refusal::TokenLocked, token_id: Some(token_id), .. } if token_id == id),
        "login ends at the password step, naming the token: {:?}",
        r.outcome
    );
    let a = fx.load("u1").await;
    let f = a.token.unwrap().failures;
    assert!(f.locked && f.count == 10);
    assert!(!a.password.failures.locked && a.password.failures.count == 0);
}

/// Manual 2.5.2: 「そのトークン ID は使用不能」— the lock belongs to the
/// token. A revoked locked token does not leave the account locked: the new
/// token starts unlocked.
#[tokio::test]
async fn r_lck_2_the_lock_belongs_to_the_token_and_goes_with_its_revoke() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    fx.wrong_codes("u1", &t, &totp, 10).await;
    fx.desk("u1", OperatorAction::RevokeToken).await;
    let t = fx.login("u1", "First111").await;
    let (id2, totp2) = fx.token(2);
    let r = fx.enroll("u1", &t, id2, &totp2, -1, 0).await;
    assert!(
        matches!(r.outcome, Outcome::Enrolled { .. }),
        "{:?}",
        r.outcome
    );
    fx.clock.advance(30);
    let t = fx.login("u1", "First111").await;
    assert!(fx.otp("u1", &t, &totp2, 0).await.outcome.is_logged_in());
}

#[tokio::test]
async fn r_lck_3_a_success_resets_only_its_own_counter() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    for _ in 0..4 {
        fx.password("u1", "Wrong999").await;
    }
    let t = fx.login("u1", "First111").await;
    assert_eq!(fx.load("u1").await.password.failures.count, 0);
    fx.wrong_codes("u1", &t, &totp, 9).await;
    fx.password("u1", "Wrong999").await; // a password failure does not touch the OTP counter
    assert_eq!(fx.load("u1").await.token.unwrap().failures.count, 9);
    let t = fx.login("u1", "First111").await;
    assert!(fx.otp("u1", &t, &totp, 0).await.outcome.is_logged_in());
    assert_eq!(fx.load("u1").await.token.unwrap().failures.count, 0);
}

//! The support desk (manual §2.3.1, §2.5, §2.8: R-OPS-1, R-OPS-2, R-OPS-3, R-TOK-4).

use lockstep_account::{EventKind, Factor, MustChange, OperatorAction, Outcome, Refusal};
use lockstep_password::Password;

use crate::common::{Fx, refusal};

#[tokio::test]
async fn r_ops_1_unlocks_clear_only_their_own_factor() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    fx.wrong_codes("u1", &t, &totp, 10).await;
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
    let a = fx.load("u1").await;
    let token = a.token.unwrap().failures;
    assert!(!token.locked && token.count == 0);
    assert!(a.password.failures.locked && a.password.failures.count == 5);
    fx.desk("u1", OperatorAction::UnlockPassword).await;
    let a = fx.load("u1").await;
    assert!(!a.password.failures.locked && a.password.failures.count == 0);
    let r = fx
        .auth
        .operator("op-7", "ghost", OperatorAction::UnlockPassword)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::UnknownAccount));
}

#[tokio::test]
async fn r_ops_2_reset_sets_a_temporary_password_and_clears_the_password_lock() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    for _ in 0..5 {
        fx.password("u1", "Wrong999").await;
    }
    fx.reset("u1", "Reset123").await;
    let a = fx.load("u1").await;
    assert!(!a.password.failures.locked && a.password.failures.count == 0);
    assert_eq!(a.password.must_change, Some(MustChange::Reset));
    assert_eq!(
        refusal(&fx.password("u1", "First111").await),
        Some(&Refusal::InvalidCredentials)
    );
    assert!(matches!(
        fx.password("u1", "Reset123").await.outcome,
        Outcome::OtpRequired { .. }
    ));
}

/// R-OPS-2: the desk's temporary password must itself satisfy the rules
/// (length, letters and digits, not the user name or ID). A refused one
/// changes nothing.
#[tokio::test]
async fn r_ops_2_a_temporary_password_must_satisfy_the_rules() {
    let fx = Fx::new();
    fx.ready("u1", 1, "First111").await;
    let before = fx.load("u1").await;
    for (temp, code) in [
        ("abc", "too_short"),
        ("abcdefgh", "no_digit"),
        ("12345678", "no_letter"),
        ("U1", "too_short"),
        ("u1-name", "same_as_user_name"),
        ("ｒｅｓｅｔ１２", "full_width"),
    ] {
        let r = fx
            .auth
            .operator(
                "op",
                "u1",
                OperatorAction::ResetPassword {
                    temporary: &Password::from(temp),
                },
            )
            .await
            .unwrap();
        match r.outcome.refusal() {
            Some(Refusal::PasswordRejected(v)) => {
                assert!(
                    v.codes().any(|c| c == code),
                    "{temp}: {:?}",
                    v.codes().collect::<Vec<_>>()
                );
            }
            other => panic!("{temp}: {other:?}"),
        }
        assert_eq!(fx.load("u1").await, before, "{temp}: nothing changed");
    }
    // The same rules hold when the desk opens an account.
    let r = fx
        .auth
        .create_account("op", "u2", "u2-name", "Customer", &Password::from("short"))
        .await
        .unwrap();
    assert!(matches!(
        r.outcome.refusal(),
        Some(Refusal::PasswordRejected(_))
    ));
    assert!(!r.events.is_empty(), "the refusal is audited");
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
    assert_eq!(refusal(&r), Some(&Refusal::NoToken));
}

//! 同期ズレ補正 (manual §2.6): R-SYN-1, R-SYN-2, R-SYN-3.

use lockstep_account::machine::{CodeInput, Input};
use lockstep_account::{Config, EventKind, LoginTicket, Outcome, Refusal};

use crate::common::{Fx, refusal, ticket};

#[tokio::test]
async fn r_syn_1_r_syn_3_a_drifted_token_fails_until_resynchronised() {
    let fx = Fx::new();
    let (id, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    // The token's clock runs 10 steps (5 minutes) fast.
    let r = fx.otp("u1", &t, &totp, 10).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode), "R-SYN-1");
    let r = fx.resync("u1", &t, &totp, 10, 11).await;
    assert!(
        r.events.iter().any(|e| e.kind
            == EventKind::Resynced {
                token_id: id,
                drift: 11
            }),
        "{:?}",
        r.events
    );
    let t = ticket(r.outcome);
    let a = fx.load("u1").await.token.unwrap();
    assert_eq!(
        (a.failures.count, a.drift),
        (0, 11),
        "R-SYN-3: counter reset, drift adopted"
    );
    fx.clock.advance(30);
    let r = fx.otp("u1", &t, &totp, 11).await;
    assert!(r.outcome.is_logged_in(), "{:?}", r.outcome);
}

#[tokio::test]
async fn r_syn_2_resync_rules_consecutive_counted_and_refused_while_locked() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let r = fx.resync("u1", &t, &totp, 10, 12).await;
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    assert_eq!(
        fx.load("u1").await.token.unwrap().failures.count,
        1,
        "a failed resync counts"
    );
    // Replaying consumed codes as a resync pair fails too (R-ENR-4).
    let r = fx.resync("u1", &t, &totp, -3, -2).await;
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    // Resync needs the OTP-stage ticket of the password step.
    let forged = LoginTicket::from_bytes([1; 16]);
    let r = fx.resync("u1", &forged, &totp, 0, 1).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));

    // A lock voids the ticket, so no resync reaches a locked token through
    // the driver; the machine refuses it anyway, without counting. Give it a
    // locked record that still holds a valid OTP-stage ticket.
    let t = fx.login("u1", "First111").await;
    let mut record = fx.load("u1").await;
    let binding = record.token.as_mut().unwrap();
    binding.failures.locked = true;
    binding.failures.count = 10;
    let (a, b) = (fx.code(&totp, 0), fx.code(&totp, 1));
    let d = fx
        .decide(
            &record,
            Input::Resync {
                ticket: &t,
                otp1: CodeInput::Text(&a),
                otp2: CodeInput::Text(&b),
            },
        )
        .unwrap();
    assert_eq!(d.outcome.refusal(), Some(&Refusal::TokenLocked));
    assert!(d.account.is_none(), "nothing counted, nothing changed");
}

/// The resync window is centred on the stored drift (R-SYN-3): a token that
/// keeps running off is followed, while a pair near the real clock but far
/// from the token's own time is not found.
#[tokio::test]
async fn r_syn_2_the_resync_window_is_centred_on_the_stored_drift() {
    let config = Config::builder().resync(20, 60).build().unwrap();
    let fx = Fx::with_config(config);
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    // A token whose clock keeps falling behind is followed, 20 steps at a
    // time. (Each time, wait until its slow codes are past the steps used
    // already: the replay guard is in absolute steps.)
    for drift in [-20, -40, -55] {
        fx.clock.advance(30 * 60);
        let t = fx.login("u1", "First111").await;
        let r = fx.resync("u1", &t, &totp, drift - 1, drift).await;
        assert!(
            matches!(r.outcome, Outcome::Resynced { .. }),
            "{drift}: {:?}",
            r.outcome
        );
        assert_eq!(fx.load("u1").await.token.unwrap().drift, drift);
    }
    // A fresh pair near the real clock is outside −55 ± 20.
    fx.clock.advance(30 * 60);
    let t = fx.login("u1", "First111").await;
    let r = fx.resync("u1", &t, &totp, -5, -4).await;
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ResyncFailed { .. }))
    );
    // Centred on the real clock it would have been found.
    let centred = Fx::with_config(Config::builder().resync(20, 60).build().unwrap());
    let (_, totp) = centred.ready("u1", 1, "First111").await;
    centred.clock.advance(30 * 60);
    let t = centred.login("u1", "First111").await;
    let r = centred.resync("u1", &t, &totp, -5, -4).await;
    assert!(
        matches!(r.outcome, Outcome::Resynced { .. }),
        "{:?}",
        r.outcome
    );
}

/// The search never reaches past the drift bound, whatever the window.
#[tokio::test]
async fn r_syn_3_no_drift_past_the_bound() {
    let fx = Fx::with_config(Config::builder().resync(20, 10).build().unwrap());
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    let r = fx.resync("u1", &t, &totp, 14, 15).await;
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    let r = fx.resync("u1", &t, &totp, 9, 10).await;
    assert!(
        matches!(r.outcome, Outcome::Resynced { .. }),
        "{:?}",
        r.outcome
    );
}

/// lowering the drift bound below a token's stored drift
/// made its valid codes count as failures. Now the login asks for a resync
/// instead, uncounted.
#[tokio::test]
async fn a_drift_beyond_a_lowered_bound_asks_for_a_resync_uncounted() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "First111").await;
    let t = fx.login("u1", "First111").await;
    fx.resync("u1", &t, &totp, 14, 15).await;
    fx.clock.advance(30);
    // The service restarts with a tighter bound.
    let tight = fx.sibling(Config::builder().resync(10, 10).build().unwrap());
    let t = ticket(
        tight
            .login_password("u1", &"First111".into(), lockstep_account::Entry::Login)
            .await
            .unwrap()
            .outcome,
    );
    for _ in 0..12 {
        let r = tight
            .submit_otp("u1", &t, &fx.code(&totp, 15))
            .await
            .unwrap();
        assert_eq!(r.outcome.refusal(), Some(&Refusal::ResyncRequired));
    }
    let token = fx.load("u1").await.token.unwrap();
    assert_eq!((token.failures.count, token.failures.locked), (0, false));
    // Its clock mended (and its used steps behind it), the token resyncs
    // within the new bound and logs in.
    fx.clock.advance(330);
    let t = ticket(
        tight
            .login_password("u1", &"First111".into(), lockstep_account::Entry::Login)
            .await
            .unwrap()
            .outcome,
    );
    let r = tight
        .resync("u1", &t, &fx.code(&totp, 4), &fx.code(&totp, 5))
        .await
        .unwrap();
    let t = ticket(r.outcome);
    fx.clock.advance(30);
    let r = tight
        .submit_otp("u1", &t, &fx.code(&totp, 5))
        .await
        .unwrap();
    assert!(r.outcome.is_logged_in(), "{:?}", r.outcome);
}

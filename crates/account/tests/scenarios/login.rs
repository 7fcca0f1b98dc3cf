//! ワンタイムパスワードログイン (manual §2.4, §2.5): the R-LOG rules, R-ACC-1, R-ACC-2, R-TOK-3,
//! R-TOK-4.

use std::sync::atomic::Ordering;

use lockstep_account::{
    CodeAcceptance, Config, Entry, EventKind, MustChange, OperatorAction, Outcome, Refusal,
};
use lockstep_password::Password;

use crate::common::{Fx, TEMP, all_events, refusal};

#[tokio::test]
async fn r_acc_1_logged_in_outcome_shows_customer_user_id_and_name() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let session = fx.session("u1", "Newpass1", &totp).await;
    assert_eq!(
        (
            session.customer_name.as_str(),
            session.user_id.as_str(),
            session.user_name.as_str()
        ),
        ("Yamada Trading", "u1", "u1-name")
    );
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

/// Manual 2.2: the temporary password of the form has no expiry of its
/// own. A first login 31 days after the account was opened still reaches
/// enrollment (the old default expired it after 30 days).
#[tokio::test]
async fn r_acc_2_a_temporary_password_does_not_expire_by_default() {
    let fx = Fx::new();
    fx.create("u1").await;
    fx.clock.advance(31 * 86_400);
    let r = fx.password("u1", TEMP).await;
    assert!(
        matches!(r.outcome, Outcome::EnrollmentRequired { .. }),
        "{:?}",
        r.outcome
    );
}

/// The expiry stays available as an opt-in setting.
#[tokio::test]
async fn an_opted_in_temporary_password_expiry_ends_the_login_at_the_password_step() {
    let config = Config::builder()
        .temporary_password_days(Some(30))
        .build()
        .unwrap();
    let fx = Fx::with_config(config);
    fx.create("u1").await;
    fx.clock.advance(31 * 86_400);
    let r = fx.password("u1", TEMP).await;
    assert_eq!(refusal(&r), Some(&Refusal::TemporaryPasswordExpired));
    fx.reset("u1", "Again123").await;
    assert!(matches!(
        fx.password("u1", "Again123").await.outcome,
        Outcome::EnrollmentRequired { .. }
    ));
}

#[tokio::test]
async fn r_log_1_and_2_password_then_the_registered_token_id_is_shown() {
    let fx = Fx::new();
    let (id, _) = fx.ready("u1", 1, "Newpass1").await;
    let r = fx.password_with("u1", "Newpass1", Entry::Login).await;
    assert!(matches!(r.outcome, Outcome::OtpRequired { token_id, .. } if token_id == id));
}

/// Manual 2.5.2: the OTP error screen keeps showing the registered token ID.
#[tokio::test]
async fn r_log_2_otp_refusals_carry_the_token_id() {
    let fx = Fx::new();
    let (id, totp) = fx.ready("u1", 1, "Newpass1").await;
    let t = fx.login("u1", "Newpass1").await;
    let bad = fx.wrong_code(&totp);
    let wrong = fx.auth.submit_otp("u1", &t, bad).await.unwrap();
    let malformed = fx.auth.submit_otp("u1", &t, "１２３４５６").await.unwrap();
    let resync = fx.resync("u1", &t, &totp, 3, 5).await;
    for r in [wrong, malformed, resync] {
        assert!(
            matches!(r.outcome, Outcome::Refused { token_id: Some(token_id), .. } if token_id == id),
            "{:?}",
            r.outcome
        );
    }
}

#[tokio::test]
async fn r_log_3_a_correct_unused_current_code_logs_in_and_stages_cannot_be_skipped() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    // Without the password step there is no ticket.
    let forged = lockstep_account::LoginTicket::from_bytes([0; 16]);
    let r = fx.otp("u1", &forged, &totp, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    let t = fx.login("u1", "Newpass1").await;
    // Expired ticket (5 minutes).
    fx.clock.advance(301);
    let r = fx.otp("u1", &t, &totp, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    let t = fx.login("u1", "Newpass1").await;
    assert!(fx.otp("u1", &t, &totp, 0).await.outcome.is_logged_in());
    // Single use: the ticket is spent.
    let r = fx.otp("u1", &t, &totp, 1).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
}

#[tokio::test]
async fn r_log_4_password_change_comes_first_after_reset_and_cannot_be_skipped() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    fx.reset("u1", "Reset123").await;
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
    let fresh = Password::from("Fresh123");
    let r = fx
        .auth
        .change_password("u1", &t, &fresh, &fresh)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    let r = fx.otp("u1", &change, &totp, 1).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    let r = fx
        .auth
        .change_password("u1", &change, &fresh, &fresh)
        .await
        .unwrap();
    assert!(r.outcome.is_logged_in());
}

/// R-LOG-5: an unknown user ID, a wrong password and a locked user ID get
/// the same refusal — code, English and Japanese — after the same work (one
/// verification at the configured cost). The audit event tells them apart.
#[tokio::test]
async fn r_log_5_unknown_wrong_and_locked_look_the_same_and_cost_the_same() {
    let fx = Fx::new();
    fx.ready("u1", 1, "Newpass1").await;
    fx.ready("locked", 2, "Newpass1").await;
    for _ in 0..5 {
        fx.password("locked", "Wrong999").await;
    }
    let mut answers = Vec::new();
    for (user, pw) in [
        ("u1", "Wrong999"),
        ("nobody", "Wrong999"),
        ("locked", "Newpass1"),
    ] {
        let before = fx.hasher.verifies.load(Ordering::SeqCst);
        let r = fx.password(user, pw).await;
        let work = fx.hasher.verifies.load(Ordering::SeqCst) - before;
        assert_eq!(work, 1, "{user}: one verification");
        let refusal = r.outcome.refusal().unwrap().clone();
        answers.push((
            refusal.code(),
            refusal.message_en(fx.auth.config()),
            refusal.message_ja(fx.auth.config()),
            format!("{:?}", r.outcome),
        ));
        let truth = &r.events.last().unwrap().kind;
        match user {
            "u1" => assert!(matches!(truth, EventKind::PasswordFailed { .. })),
            "nobody" => assert_eq!(truth, &EventKind::UnknownUser),
            _ => assert!(matches!(truth, EventKind::LockedAttempt { .. })),
        }
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let wrong = fx.password("u1", "Wrong999").await;
    let unknown = fx.password("nobody", "Wrong999").await;
    assert_eq!(wrong.outcome, unknown.outcome, "outcomes compare equal");
    let (_, en, ja, _) = &answers[0];
    assert!(
        en.contains("5 wrong") && en.contains("support desk"),
        "{en}"
    );
    assert!(
        ja.contains("5回") && ja.contains("お取引店またはサポートデスク"),
        "{ja}"
    );
    // The text states the configured caps, not the manual's defaults.
    let three = Config::builder().lock_after(3, 7).build().unwrap();
    let ja = Refusal::InvalidCredentials.message_ja(&three);
    assert!(ja.contains("3回") && !ja.contains("5回"), "{ja}");
    let ja = Refusal::InvalidCode.message_ja(&three);
    assert!(ja.contains("7回") && !ja.contains("10回"), "{ja}");
}

#[tokio::test]
async fn r_tok_3_a_code_is_valid_once_and_only_for_a_limited_time() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let code = fx.code(&totp, 0);
    let t = fx.login("u1", "Newpass1").await;
    assert!(fx.logs_in("u1", &t, &code).await);
    // Once: the same code in a new login is refused.
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.auth.submit_otp("u1", &t, &code).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    assert!(
        r.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::OtpReplayed { .. }))
    );
    // Limited time: a code from 5 minutes ago is refused.
    let r = fx.otp("u1", &t, &totp, -10).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
}

/// Manual 2.3.2, 2.6.3: 「生成後 30 秒を経過すると無効」. The code of the
/// previous step passes only within the transmission allowance (10 s) after
/// the step boundary; the RFC 6238 ±1 window, which let a code live 59 s,
/// is a named preset.
#[tokio::test]
async fn r_tok_3_a_code_lives_30_seconds_plus_the_transmission_allowance() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    fx.seconds_into_step(12);
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.otp("u1", &t, &totp, -1).await;
    assert_eq!(
        refusal(&r),
        Some(&Refusal::InvalidCode),
        "42 s old at least"
    );
    fx.clock.advance(30);
    fx.seconds_into_step(9);
    let r = fx.otp("u1", &t, &totp, -1).await;
    assert!(
        r.outcome.is_logged_in(),
        "within 10 s of the boundary: {:?}",
        r.outcome
    );
    // One step ahead (a token clock a little fast) passes.
    fx.clock.advance(30);
    fx.seconds_into_step(25);
    let t = fx.login("u1", "Newpass1").await;
    assert!(fx.otp("u1", &t, &totp, 1).await.outcome.is_logged_in());

    let rfc = Fx::with_config(
        Config::builder()
            .acceptance(CodeAcceptance::RFC6238)
            .build()
            .unwrap(),
    );
    let (_, totp) = rfc.ready("u1", 1, "Newpass1").await;
    rfc.clock.advance(30);
    rfc.seconds_into_step(25);
    let t = rfc.login("u1", "Newpass1").await;
    assert!(
        rfc.otp("u1", &t, &totp, -1).await.outcome.is_logged_in(),
        "±1 preset"
    );
}

/// A login never moves the drift (R-TOK-3). Before, each accepted code
/// became the new drift: after one slow login a code two steps old passed,
/// and after two an exact token failed (the window walked backwards).
#[tokio::test]
async fn r_tok_3_the_drift_changes_only_through_enrollment_and_resync() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    for _ in 0..3 {
        fx.clock.advance(30);
        fx.seconds_into_step(5);
        let t = fx.login("u1", "Newpass1").await;
        assert!(fx.otp("u1", &t, &totp, -1).await.outcome.is_logged_in());
        assert_eq!(fx.load("u1").await.token.unwrap().drift, 0);
    }
    fx.clock.advance(30);
    fx.seconds_into_step(5);
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.otp("u1", &t, &totp, -2).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode), "two steps old");
    fx.seconds_into_step(20);
    let t = fx.login("u1", "Newpass1").await;
    assert!(
        fx.otp("u1", &t, &totp, 0).await.outcome.is_logged_in(),
        "exact token"
    );
}

#[tokio::test]
async fn r_tok_4_revoked_token_stops_at_once_and_a_new_one_starts_afresh() {
    let fx = Fx::new();
    let (old_id, old_totp) = fx.ready("u1", 1, "Newpass1").await;
    // The old token ran one step fast for a while: its last used step is ahead.
    let t = fx.login("u1", "Newpass1").await;
    assert!(fx.otp("u1", &t, &old_totp, 1).await.outcome.is_logged_in());
    let pending = fx.login("u1", "Newpass1").await;
    fx.desk("u1", OperatorAction::RevokeToken).await;
    // The pending login dies with it.
    let r = fx.otp("u1", &pending, &old_totp, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::InvalidTicket));
    // The revoked ID never again.
    let t = fx.login("u1", "Newpass1").await;
    let r = fx.enroll("u1", &t, old_id, &old_totp, -1, 0).await;
    assert_eq!(refusal(&r), Some(&Refusal::EnrollmentFailed));
    // The new token's replay guard is its own: an exact new token enrolls
    // and logs in at the current step, behind the old token's last step.
    let (new_id, new_totp) = fx.token(2);
    let r = fx.enroll("u1", &t, new_id, &new_totp, -1, 0).await;
    assert!(
        matches!(r.outcome, Outcome::Enrolled { token_id, .. } if token_id == new_id),
        "{:?}",
        r.outcome
    );
    let a = fx.load("u1").await.token.unwrap();
    assert_eq!(a.failures.count, 0);
}

/// `session` answers for an open session only; `logout` ends exactly the one
/// presented, and a copy of its token dies with it (R-ACC-1: what the
/// initial screen shows comes from it).
#[tokio::test]
async fn r_acc_1_session_is_open_until_logout_and_a_copied_token_dies_with_it() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let first = fx.session("u1", "Newpass1", &totp).await;
    fx.clock.advance(30);
    let second = fx.session("u1", "Newpass1", &totp).await;
    let open = fx.auth.session("u1", &first.token).await.unwrap().unwrap();
    assert_eq!(
        (
            open.customer_name.as_str(),
            open.user_id.as_str(),
            open.user_name.as_str()
        ),
        ("Yamada Trading", "u1", "u1-name")
    );
    // Someone else's user ID with a valid token of u1 opens nothing.
    fx.ready("u2", 2, "Newpass2").await;
    assert!(fx.auth.session("u2", &first.token).await.unwrap().is_none());
    assert!(
        fx.auth
            .session("nobody", &first.token)
            .await
            .unwrap()
            .is_none()
    );
    // Logout ends the first, not the second; a second logout writes nothing.
    let version = fx.load("u1").await.version;
    assert!(fx.auth.logout("u1", &first.token).await.unwrap());
    assert!(fx.auth.session("u1", &first.token).await.unwrap().is_none());
    assert!(
        fx.auth
            .session("u1", &second.token)
            .await
            .unwrap()
            .is_some()
    );
    let after = fx.load("u1").await.version;
    assert_eq!(after, version + 1);
    assert!(!fx.auth.logout("u1", &first.token).await.unwrap());
    assert!(
        !fx.auth.logout("u2", &second.token).await.unwrap(),
        "not u2's session"
    );
    assert_eq!(fx.load("u1").await.version, after, "nothing written");
    let events = all_events(&*fx.store, "u1").await;
    let logouts = events
        .iter()
        .filter(|e| e.kind == EventKind::LoggedOut)
        .count();
    assert_eq!(logouts, 1);
}

/// A session ends at its expiry and at a lock, a reset or a revoke, without
/// the client doing anything.
#[tokio::test]
async fn r_acc_1_session_ends_at_expiry_and_at_every_desk_action_that_voids_logins() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let s = fx.session("u1", "Newpass1", &totp).await;
    fx.clock.set(s.expires_at + 1);
    assert!(
        fx.auth.session("u1", &s.token).await.unwrap().is_none(),
        "expired"
    );
    fx.clock.advance(60);
    let s = fx.session("u1", "Newpass1", &totp).await;
    fx.desk("u1", OperatorAction::RevokeToken).await;
    assert!(
        fx.auth.session("u1", &s.token).await.unwrap().is_none(),
        "revoked"
    );
}

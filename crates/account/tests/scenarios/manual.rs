//! The manual end to end, with a time token and with an event token.

use lockstep_account::{
    Entry, MustChange, OperatorAction, Outcome, Refusal, TokenDirectory, TokenKind, TokenSeed,
};
use lockstep_otp::{Algorithm, CredentialId, Digits, Hotp, Secret};
use lockstep_password::Password;

use crate::common::{Fx, TEMP, refusal, ticket};

/// The manual end to end: application form → first use (enrollment) →
/// first login with forced change → daily login → drift → resync → device
/// change through the support desk → enrollment of the new token.
#[tokio::test]
async fn the_manual_end_to_end() {
    let fx = Fx::new();
    // The bank opens the account with the temporary password of the form (R-ACC-2).
    fx.create("fx-0001").await;
    // 利用開始登録: user ID + temporary password, then token ID + OTP1 + OTP2.
    let t = ticket(
        fx.password_with("fx-0001", TEMP, Entry::Enroll)
            .await
            .outcome,
    );
    let (id, totp) = fx.token(42);
    let r = fx.enroll("fx-0001", &t, id, &totp, -1, 0).await;
    let Outcome::Enrolled {
        ticket: t,
        token_id,
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(token_id, id);
    // The manual asks for a fresh code after enrollment, then the forced change.
    fx.clock.advance(30);
    let r = fx.otp("fx-0001", &t, &totp, 0).await;
    let Outcome::PasswordChangeRequired {
        ticket: t,
        reason: MustChange::FirstLogin,
    } = r.outcome
    else {
        panic!()
    };
    let new = Password::from("Sakura2025");
    let r = fx
        .auth
        .change_password("fx-0001", &t, &new, &new)
        .await
        .unwrap();
    assert!(r.outcome.is_logged_in());
    // A normal day: password, token ID shown, one code.
    fx.clock.advance(86_400);
    let r = fx
        .password_with("fx-0001", "Sakura2025", Entry::Login)
        .await;
    let Outcome::OtpRequired {
        ticket: t,
        token_id,
    } = r.outcome
    else {
        panic!()
    };
    assert_eq!(token_id, id);
    assert!(fx.otp("fx-0001", &t, &totp, 0).await.outcome.is_logged_in());
    // The phone's clock drifts 5 minutes slow: resync from the OTP screen.
    fx.clock.advance(86_400);
    let t = fx.login("fx-0001", "Sakura2025").await;
    assert_eq!(
        refusal(&fx.otp("fx-0001", &t, &totp, -10).await),
        Some(&Refusal::InvalidCode)
    );
    let t = ticket(fx.resync("fx-0001", &t, &totp, -11, -10).await.outcome);
    fx.clock.advance(30);
    assert!(
        fx.otp("fx-0001", &t, &totp, -10)
            .await
            .outcome
            .is_logged_in()
    );
    // A new phone: the support desk revokes the old token; the user enrolls the new one.
    fx.desk("fx-0001", OperatorAction::RevokeToken).await;
    let t = ticket(
        fx.password_with("fx-0001", "Sakura2025", Entry::Enroll)
            .await
            .outcome,
    );
    let (new_id, new_totp) = fx.token(43);
    let t = ticket(
        fx.enroll("fx-0001", &t, new_id, &new_totp, -1, 0)
            .await
            .outcome,
    );
    fx.clock.advance(30);
    assert!(
        fx.otp("fx-0001", &t, &new_totp, 0)
            .await
            .outcome
            .is_logged_in()
    );
}

/// An event token (HOTP) in the directory: manual 2.6.1 explains drift as a
/// mismatch in the number of codes generated, which is this kind's drift.
fn event_token(fx: &Fx, n: u8) -> (CredentialId, Hotp) {
    let id = CredentialId::from_random([n; 16]);
    let secret = Secret::from_bytes(&[n; 20]).unwrap();
    let hotp = Hotp::new(&secret, Algorithm::Sha1, Digits::SIX);
    fx.directory
        .put(id, TokenSeed::hotp(secret, Algorithm::Sha1, Digits::SIX))
        .unwrap();
    (id, hotp)
}

fn press(hotp: &Hotp, counter: &mut u64) -> String {
    let code = hotp.generate(*counter).expose().to_string();
    *counter += 1;
    code
}

/// R-SYN-1, R-SYN-2, R-SYN-3 for an event token: enrollment finds two
/// consecutive codes, login looks a bounded number of presses ahead, the
/// counter moves past each accepted code (no replay), and a token pressed
/// too often outside the service is resynchronised with two consecutive
/// codes in a larger bounded look-ahead. Same locks and tickets.
#[tokio::test]
async fn r_syn_1_event_tokens_enroll_log_in_and_resync_by_counter() {
    let fx = Fx::new();
    fx.create("u1").await;
    let (id, hotp) = event_token(&fx, 9);
    assert!(matches!(fx.seed(id).await.kind, TokenKind::Hotp { .. }));
    let mut counter = 3; // pressed three times before enrollment
    let t = fx.login("u1", TEMP).await;
    let (a, b) = (press(&hotp, &mut counter), press(&hotp, &mut counter));
    let r = fx.auth.enroll("u1", &t, id.as_str(), &a, &b).await.unwrap();
    let t = ticket(r.outcome);
    assert_eq!(fx.load("u1").await.token.unwrap().last_used, 4);
    // Replaying the enrollment codes fails; the next press logs in.
    let r = fx.auth.submit_otp("u1", &t, &b).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    let code = press(&hotp, &mut counter);
    let r = fx.auth.submit_otp("u1", &t, &code).await.unwrap();
    let Outcome::PasswordChangeRequired { ticket: t, .. } = r.outcome else {
        panic!("{:?}", r.outcome)
    };
    let new = Password::from("Event123");
    assert!(
        fx.auth
            .change_password("u1", &t, &new, &new)
            .await
            .unwrap()
            .outcome
            .is_logged_in()
    );
    // Five presses lost (within the look-ahead of 10): still fine.
    counter += 5;
    let t = fx.login("u1", "Event123").await;
    let code = press(&hotp, &mut counter);
    assert!(fx.logs_in("u1", &t, &code).await);
    // Fifty presses lost: login fails (R-SYN-1), resync finds the counter.
    counter += 50;
    let t = fx.login("u1", "Event123").await;
    let code = press(&hotp, &mut counter);
    let r = fx.auth.submit_otp("u1", &t, &code).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    let (a, b) = (press(&hotp, &mut counter), press(&hotp, &mut counter));
    let r = fx.auth.resync("u1", &t, &a, &b).await.unwrap();
    let Outcome::Resynced {
        ticket: t,
        token_id,
    } = r.outcome
    else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(token_id, id);
    assert_eq!(fx.load("u1").await.token.unwrap().last_used, counter - 1);
    let code = press(&hotp, &mut counter);
    assert!(fx.logs_in("u1", &t, &code).await);
    // Beyond the resync look-ahead (100) nothing is found.
    counter += 500;
    let t = fx.login("u1", "Event123").await;
    let (a, b) = (press(&hotp, &mut counter), press(&hotp, &mut counter));
    let r = fx.auth.resync("u1", &t, &a, &b).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
}

#[tokio::test]
async fn event_token_directory_lookup_is_by_credential_id() {
    let fx = Fx::new();
    let (id, _) = event_token(&fx, 3);
    assert!(fx.directory.seed(&id).await.unwrap().is_some());
}

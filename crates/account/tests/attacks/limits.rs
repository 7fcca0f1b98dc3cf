//! Items 4, 5, 6 and 8: the resync reach, sizes and costs, and the smaller findings.

use std::sync::atomic::Ordering;

use crate::common::{Fx, TEMP, refusal};
use lockstep_account::{
    AccountStore, Config, ConfigError, Entry, Error, LoginTicket, Refusal, SessionToken,
};
use lockstep_password::{HashError, Password};

/// a ±2880-step resync window centred on the real clock let three
/// phished codes log in 23 hours later. The window is now minutes, centred
/// on the stored drift, and capped.
#[tokio::test]
async fn phished_codes_cannot_resync_hours_later() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let phished: Vec<String> = (0..3).map(|o| fx.code(&totp, o)).collect();
    fx.clock.advance(23 * 3600);
    let t = fx.login("u1", "Owner123").await; // the attacker also has the password
    let r = fx
        .auth
        .resync("u1", &t, &phished[0], &phished[1])
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    let r = fx.auth.submit_otp("u1", &t, &phished[2]).await.unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCode));
    // Nor can a password holder push the drift far: a pair a day back fails.
    let r = fx.resync("u1", &t, &totp, -2760, -2759).await;
    assert_eq!(refusal(&r), Some(&Refusal::ResyncFailed));
    assert_eq!(fx.load("u1").await.token.unwrap().drift, 0);
}

#[test]
fn windows_and_bounds_have_hard_caps() {
    for built in [
        Config::builder().resync(u32::MAX, 20).build(),
        Config::builder().resync(20, u32::MAX).build(),
        Config::builder()
            .resync(Config::MAX_RESYNC_WINDOW + 1, 20)
            .build(),
        Config::builder().hotp_look_ahead(u32::MAX, 100).build(),
        Config::builder().max_password_bytes(usize::MAX).build(),
    ] {
        assert!(
            matches!(built, Err(ConfigError::OverCap { .. })),
            "{built:?}"
        );
    }
}

// ------------------------------------------------------------ 5, 6. sizes

/// Items 5 and 6: megabytes of password cost no hashing: a login counts a
/// wrong password after a dummy verification of nothing, and a change
/// refuses the new password as too long before any history verification.
#[tokio::test]
async fn megabytes_of_password_cost_no_hashing() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Owner123").await;
    let stored = fx.load("u1").await.password.hash;
    let huge = Password::new("Aa1".repeat(1 << 20));
    let r = fx
        .auth
        .login_password("u1", &huge, Entry::Login)
        .await
        .unwrap();
    assert_eq!(refusal(&r), Some(&Refusal::InvalidCredentials));
    assert_eq!(
        fx.load("u1").await.password.failures.count,
        1,
        "counted like a wrong password"
    );
    assert_eq!(
        fx.hasher.verifications_of(stored.as_str()),
        0,
        "never hashed"
    );

    let s = fx.session("u1", "Owner123", &totp).await;
    let before = fx.hasher.verifies.load(Ordering::SeqCst);
    let r = fx
        .auth
        .change_password_logged_in("u1", &s.token, &"Owner123".into(), &huge, &huge)
        .await
        .unwrap();
    match refusal(&r) {
        Some(Refusal::PasswordRejected(v)) => {
            assert_eq!(v.codes().collect::<Vec<_>>(), ["too_long"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fx.hasher.verifies.load(Ordering::SeqCst) - before,
        1,
        "the current password only, no history check of the huge one"
    );
}

/// a stored PHC string chose its own cost (m = 1 GiB took 2.4 s and
/// 1 GiB of memory). Out-of-range parameters are a malformed hash, refused
/// before any verification (this test would take seconds otherwise).
#[tokio::test]
async fn a_planted_hash_cannot_choose_its_cost() {
    let fx = Fx::new();
    fx.create("u1").await;
    let mut a = fx.load("u1").await;
    a.password.hash = lockstep_account::PasswordHash::parse(
        "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    )
    .unwrap();
    let version = a.version;
    fx.store
        .write(lockstep_account::Write::replace(a, version, Vec::new()))
        .await
        .unwrap();
    let r = fx
        .auth
        .login_password("u1", &TEMP.into(), Entry::Enroll)
        .await;
    assert!(
        matches!(r, Err(Error::Hash(HashError::CostOutOfRange))),
        "{r:?}"
    );
}

// ------------------------------------------------------------ 8. smaller

#[test]
fn tickets_parse_only_in_their_canonical_spelling() {
    let t = LoginTicket::from_bytes([0xab; 16]);
    assert_eq!(
        t,
        LoginTicket::from_bytes([0xab; 16]),
        "equal values compare equal"
    );
    assert_ne!(t, LoginTicket::from_bytes([0xac; 16]));
    let hex = t.expose_hex();
    assert_eq!(hex, "ab".repeat(16));
    assert!(LoginTicket::parse_hex(&hex).is_some());
    for bad in [
        hex.to_uppercase(),
        format!("+{}", &hex[1..]),
        format!("{}+b", &hex[..30]),
        format!(" {}", &hex[1..]),
        format!("{hex}0"),
        hex[..31].to_owned(),
        String::new(),
    ] {
        assert!(LoginTicket::parse_hex(&bad).is_none(), "{bad:?}");
        assert!(SessionToken::parse_hex(&bad).is_none(), "{bad:?}");
    }
}

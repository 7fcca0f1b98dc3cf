//! Model-based property test: random operation sequences (password, OTP,
//! enrollment, resync, change, support desk, time) run through the pure
//! machine beside a small reference model, with a fake clock. See
//! `lockstep_store_tests::model` for the invariants checked at every step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arbitrary::{Arbitrary, Unstructured};
use lockstep_store_tests::model::{CodeKind, Op, run};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn machine_agrees_with_the_model(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ops = Vec::<Op>::arbitrary(&mut Unstructured::new(&bytes)).unwrap_or_default();
        let _ = run(&ops);
    }
}

/// A sequence that reaches every stage, so the model test is known to cover
/// the whole life cycle and not only refusals.
#[test]
fn a_full_life_cycle_agrees_with_the_model() {
    use Op::*;
    let seen = run(&[
        Password(false),
        WrongButton,
        Password(true),
        Enroll(false),
        Enroll(true),
        Advance(30),
        Otp(CodeKind::Current),
        Change(false),
        Change(true),
        ChangeLoggedIn {
            session: 0,
            right: true,
            valid: true,
        },
        ChangeLoggedIn {
            session: 0,
            right: true,
            valid: true,
        },
        Advance(30),
        Password(true),
        Otp(CodeKind::Replay),
        Otp(CodeKind::Old),
        Otp(CodeKind::Malformed),
        Otp(CodeKind::Next),
        WrongButton,
        Password(true),
        Advance(40),
        Resync(false),
        Resync(true),
        Advance(35),
        Otp(CodeKind::Current),
        Password(true),
        Advance(2),
        Otp(CodeKind::Previous),
        Password(true),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        Otp(CodeKind::Wrong),
        UnlockToken,
        Password(false),
        Password(false),
        Password(false),
        Password(false),
        Password(false),
        Password(true),
        UnlockPassword,
        Reset,
        Password(true),
        Advance(30),
        Otp(CodeKind::Current),
        Change(true),
        Revoke,
        Revoke,
        WrongButton,
        Password(true),
        Advance(400),
        Enroll(true),
    ]);
    for outcome in [
        "ticket:Otp",
        "ticket:Enroll",
        "ticket:ChangePassword",
        "logged_in",
        "changed",
        "done",
        "refused:invalid_credentials",
        "refused:not_enrolled",
        "refused:already_enrolled",
        "refused:invalid_code",
        "refused:token_locked",
        "refused:malformed_code",
        "refused:password_rejected",
        "refused:invalid_ticket",
        "refused:no_token",
    ] {
        assert!(
            seen.contains_key(outcome),
            "{outcome} not reached: {seen:?}"
        );
    }
}

/// Sessions and logout (R-ACC-1) beside the model: two logins hold two
/// sessions; a page sees each open; logout ends one and leaves the other;
/// a second logout and a made-up token end nothing; a voluntary change
/// ends the rest, and expiry ends its own.
#[test]
fn sessions_and_logout_agree_with_the_model() {
    use Op::*;
    let seen = run(&[
        Session(0),
        Logout(0),
        Password(true),
        Enroll(true),
        Advance(30),
        Otp(CodeKind::Current),
        Change(true),
        Advance(31),
        Password(true),
        Advance(30),
        Otp(CodeKind::Current),
        Session(0),
        Session(1),
        Logout(0),
        Session(0),
        Session(1),
        Logout(0),
        ChangeLoggedIn {
            session: 1,
            right: true,
            valid: true,
        },
        Session(1),
        Session(2),
        Advance(511),
        Advance(511),
        Advance(511),
        Advance(511),
        Session(2),
        Logout(2),
    ]);
    assert_eq!(seen.get("logged_in"), Some(&2), "{seen:?}");
    assert_eq!(seen.get("session:open"), Some(&4), "{seen:?}");
    assert_eq!(seen.get("session:none"), Some(&4), "{seen:?}");
    assert_eq!(seen.get("logout:ended"), Some(&1), "{seen:?}");
    assert_eq!(seen.get("logout:none"), Some(&3), "{seen:?}");
}

/// The same life cycle must also hold under other caps and the RFC 6238
/// acceptance: the model reads them from the configuration.
#[test]
fn the_model_follows_the_configuration() {
    use lockstep_account::{CodeAcceptance, Config};
    let config = Config::builder()
        .lock_after(3, 4)
        .acceptance(CodeAcceptance::RFC6238)
        .build()
        .unwrap();
    proptest!(ProptestConfig::with_cases(64), |(bytes in proptest::collection::vec(any::<u8>(), 0..400))| {
        let ops = Vec::<Op>::arbitrary(&mut Unstructured::new(&bytes)).unwrap_or_default();
        let _ = lockstep_store_tests::model::run_with(&ops, config.clone());
    });
}

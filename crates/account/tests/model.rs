//! Model-based property test: random operation sequences (password, OTP,
//! enrollment, resync, change, support desk, time) run through the pure
//! machine beside a small reference model, with a fake clock. See
//! `lockstep_store_tests::model` for the invariants checked at every step.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use arbitrary::{Arbitrary, Unstructured};
use lockstep_store_tests::model::{CodeKind, Op, run};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn machine_agrees_with_the_model(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ops = Vec::<Op>::arbitrary(&mut Unstructured::new(&bytes)).unwrap_or_default();
        run(&ops);
    }
}

/// A sequence that reaches every stage, so the model test is known to cover
/// the whole life cycle and not only refusals.
#[test]
fn a_full_life_cycle_agrees_with_the_model() {
    use Op::*;
    run(&[
        Password(false),
        Password(true),
        Enroll(false),
        Enroll(true),
        Advance(30),
        Otp(CodeKind::Current),
        Change(false),
        Change(true),
        Advance(30),
        Password(true),
        Otp(CodeKind::Replay),
        Otp(CodeKind::Malformed),
        Resync(false),
        Resync(true),
        Advance(30),
        Otp(CodeKind::Current),
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
        Password(true),
        Advance(400),
        Enroll(true),
    ]);
}

//! Verification, replay, window and resync behaviour, with fixed examples and
//! property tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_otp::{
    Algorithm, Code, Digits, Error, Hotp, KeyUri, Limits, OtpKind, Period, Secret, T0, Totp,
    TotpParams, Window,
};
use proptest::prelude::*;

fn rfc_totp() -> Totp {
    Totp::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        TotpParams::DEFAULT,
    )
}

const NOW: u64 = 1_111_111_111; // step 37037037

#[test]
fn accepts_the_current_code_and_refuses_its_replay() {
    let totp = rfc_totp();
    let code = totp.generate(NOW).unwrap();
    let v = totp
        .verify(&code, NOW, Window::symmetric(1), 0, None)
        .unwrap();
    assert_eq!(v.step, 37_037_037);
    assert_eq!(v.offset, 0);
    let again = totp.verify(&code, NOW, Window::symmetric(1), 0, Some(v.step));
    assert_eq!(again, Err(Error::Replay { step: v.step }));
    let wrong = Code::parse("000000", Digits::SIX).unwrap();
    if wrong != code {
        assert_eq!(
            totp.verify(&wrong, NOW, Window::symmetric(1), 0, None),
            Err(Error::NoMatch)
        );
    }
}

#[test]
fn window_and_drift_move_the_accepted_steps() {
    let totp = rfc_totp();
    let cur = totp.step_at(NOW).unwrap();
    let ahead = totp.generate_at_step(cur + 5);
    assert_eq!(
        totp.verify(&ahead, NOW, Window::symmetric(1), 0, None),
        Err(Error::NoMatch)
    );
    let v = totp
        .verify(&ahead, NOW, Window::symmetric(1), 5, None)
        .unwrap();
    assert_eq!((v.step, v.offset), (cur + 5, 5));
    let v = totp
        .verify(&ahead, NOW, Window::new(0, 5), 0, None)
        .unwrap();
    assert_eq!(v.step, cur + 5);
}

#[test]
fn time_before_t0_is_an_error_not_a_wrap() {
    let totp = Totp::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        TotpParams {
            t0: T0(1000),
            ..TotpParams::DEFAULT
        },
    );
    assert_eq!(
        totp.step_at(999),
        Err(Error::TimeBeforeT0 { now: 999, t0: 1000 })
    );
    assert_eq!(totp.step_at(1000), Ok(0));
    assert!(totp.generate(0).is_err());
    let code = totp.generate_at_step(0);
    assert!(matches!(
        totp.verify(&code, 5, Window::symmetric(1), 0, None),
        Err(Error::TimeBeforeT0 { .. })
    ));
}

#[test]
fn extreme_times_neither_panic_nor_wrap() {
    let totp = rfc_totp();
    let code = totp.generate_at_step(0);
    // Step 0 with a window reaching below zero.
    assert_eq!(
        totp.verify(&code, 0, Window::symmetric(3), 0, None)
            .unwrap()
            .step,
        0
    );
    assert_eq!(
        totp.verify(&code, 0, Window::symmetric(3), -3, None)
            .unwrap()
            .step,
        0
    );
    // The whole window below step 0: nothing to match, no wrap to u64::MAX.
    assert_eq!(
        totp.verify(&code, 0, Window::symmetric(1), -10, None),
        Err(Error::NoMatch)
    );
    // The last representable step.
    let last = totp.step_at(u64::MAX).unwrap();
    let code = totp.generate_at_step(last);
    let v = totp
        .verify(&code, u64::MAX, Window::symmetric(10), 10, None)
        .unwrap();
    assert_eq!(v.step, last);
    // Year 2603.
    assert_eq!(totp.step_at(20_000_000_000).unwrap(), 666_666_666);
}

#[test]
fn oversized_windows_and_drift_are_refused() {
    let totp = rfc_totp();
    let code = totp.generate(NOW).unwrap();
    assert_eq!(
        totp.verify(&code, NOW, Window::new(11, 0), 0, None),
        Err(Error::WindowTooLarge {
            requested: 11,
            max: 10
        })
    );
    assert_eq!(
        totp.verify(&code, NOW, Window::symmetric(1), -2881, None),
        Err(Error::DriftTooLarge {
            drift: -2881,
            max: 2880
        })
    );
    assert!(matches!(
        totp.resync(&code, &code, NOW, Window::symmetric(2881), None),
        Err(Error::WindowTooLarge { .. })
    ));
    let wide = totp.clone().with_limits(Limits {
        max_window: 20,
        ..Limits::DEFAULT
    });
    assert!(wide.verify(&code, NOW, Window::new(11, 0), 0, None).is_ok());
}

#[test]
fn codes_of_another_length_are_refused() {
    let totp = rfc_totp();
    let eight = Code::parse("12345678", Digits::EIGHT).unwrap();
    assert_eq!(
        totp.verify(&eight, NOW, Window::symmetric(1), 0, None),
        Err(Error::DigitsMismatch {
            code: 8,
            expected: 6
        })
    );
}

#[test]
fn resync_finds_the_pair_and_reports_drift() {
    let totp = rfc_totp();
    let cur = totp.step_at(NOW).unwrap();
    let (a, b) = (
        totp.generate_at_step(cur - 100),
        totp.generate_at_step(cur - 99),
    );
    let r = totp
        .resync(&a, &b, NOW, Window::symmetric(2880), None)
        .unwrap();
    assert_eq!((r.step, r.drift), (cur - 99, -99));
    // Both codes are consumed: the pair cannot be replayed.
    assert_eq!(
        totp.resync(&a, &b, NOW, Window::symmetric(2880), Some(r.step)),
        Err(Error::Replay { step: r.step })
    );
    // Reversed order is not consecutive.
    assert_eq!(
        totp.resync(&b, &a, NOW, Window::symmetric(2880), None),
        Err(Error::NoMatch)
    );
    // A pair outside the search window is not found.
    assert_eq!(
        totp.resync(&a, &b, NOW, Window::symmetric(50), None),
        Err(Error::NoMatch)
    );
}

#[test]
fn hotp_verify_and_resync_move_the_counter() {
    let hotp = Hotp::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        Algorithm::Sha1,
        Digits::SIX,
    );
    // RFC 4226 Appendix D: counter 3 is 969429.
    let code = Code::parse("969429", Digits::SIX).unwrap();
    assert_eq!(hotp.verify(&code, 0, 5), Ok(4));
    assert_eq!(hotp.verify(&code, 4, 5), Err(Error::NoMatch));
    assert_eq!(hotp.verify(&code, 0, 2), Err(Error::NoMatch));
    let (c7, c8) = (
        Code::parse("162583", Digits::SIX).unwrap(),
        Code::parse("399871", Digits::SIX).unwrap(),
    );
    assert_eq!(hotp.resync(&c7, &c8, 0, 100), Ok(9));
    assert_eq!(hotp.resync(&c8, &c7, 0, 100), Err(Error::NoMatch));
    assert_eq!(
        hotp.verify(&code, 0, 11),
        Err(Error::WindowTooLarge {
            requested: 11,
            max: 10
        })
    );
    let last = hotp.generate(u64::MAX);
    assert_eq!(
        hotp.verify(&last, u64::MAX, 0),
        Err(Error::CounterExhausted)
    );
}

/// When one code belongs to two steps of the window, the higher step is the
/// one accepted, so that storing it as `last_used` refuses the code for good.
#[test]
fn the_highest_matching_step_is_taken_so_a_code_is_accepted_once() {
    let totp = rfc_totp().with_limits(Limits {
        max_window: 5000,
        ..Limits::DEFAULT
    });
    // Find two steps below 5000 with the same code (a birthday collision).
    let mut seen = std::collections::HashMap::new();
    let (low, high) = (0_u64..5000)
        .find_map(|s| {
            let text = totp.generate_at_step(s).expose().to_string();
            seen.insert(text, s).map(|earlier| (earlier, s))
        })
        .expect("5000 six-digit codes contain a collision with this key");
    let code = totp.generate_at_step(low);
    let now = 2500 * 30;
    let v = totp
        .verify(&code, now, Window::symmetric(2500), 0, None)
        .unwrap();
    assert_eq!(v.step, high, "not the lower step {low}");
    assert_eq!(
        totp.verify(&code, now, Window::symmetric(2500), 0, Some(v.step)),
        Err(Error::Replay { step: high })
    );
    // With only the lower step above last_used, that one is accepted.
    let v = totp.verify(&code, now, Window::symmetric(2500), 0, Some(low - 1));
    assert_eq!(v.map(|v| v.step), Ok(high));
    let only_low = totp.verify(
        &code,
        now,
        Window::new(2500, 0),
        -(2500 - i64::try_from(high).unwrap() + 1),
        None,
    );
    assert_eq!(only_low.map(|v| v.step), Ok(low));
}

// ---------------------------------------------------------------- properties

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn digits() -> impl Strategy<Value = Digits> {
    (6_u8..=8).prop_map(|d| Digits::new(d).unwrap())
}

fn params() -> impl Strategy<Value = TotpParams> {
    (algorithm(), digits(), 1_u32..=300, 0_u64..1_000_000).prop_map(|(a, d, p, t0)| TotpParams {
        algorithm: a,
        digits: d,
        period: Period::new(p).unwrap(),
        t0: T0(t0),
    })
}

fn secret() -> impl Strategy<Value = Secret> {
    prop::collection::vec(any::<u8>(), 16..=64).prop_map(|b| Secret::from_bytes(&b).unwrap())
}

/// A TOTP, a time at or after its T0 (up to year ~36000), a window and a drift.
fn setup() -> impl Strategy<Value = (Totp, u64, Window, i64)> {
    (
        secret(),
        params(),
        0_u64..1 << 40,
        0_u32..=10,
        0_u32..=10,
        -50_i64..=50,
    )
        .prop_map(|(s, p, t, behind, ahead, drift)| {
            let totp = Totp::new(&s, p);
            (totp, p.t0.0 + t, Window::new(behind, ahead), drift)
        })
}

/// The window's steps computed independently of the engine's range logic.
fn window_steps(totp: &Totp, now: u64, w: Window, drift: i64) -> Vec<u64> {
    let center = i128::from(totp.step_at(now).unwrap()) + i128::from(drift);
    (center - i128::from(w.behind)..=center + i128::from(w.ahead))
        .filter_map(|s| u64::try_from(s).ok())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any code generated inside the window verifies, at its own step or a
    /// higher one with the same code (a collision), never outside the window.
    #[test]
    fn generated_codes_verify((totp, now, w, drift) in setup(), pick in any::<prop::sample::Index>()) {
        let steps = window_steps(&totp, now, w, drift);
        prop_assume!(!steps.is_empty());
        let target = steps[pick.index(steps.len())];
        let code = totp.generate_at_step(target);
        let v = totp.verify(&code, now, w, drift, None).unwrap();
        prop_assert!(v.step >= target);
        prop_assert!(steps.contains(&v.step));
        prop_assert_eq!(totp.generate_at_step(v.step), code);
        prop_assert_eq!(i128::from(v.offset), i128::from(v.step) - i128::from(totp.step_at(now).unwrap()));
    }

    /// Whatever the code and last_used, an accepted step is above last_used
    /// and inside the window; a replay names a step at or below last_used.
    #[test]
    fn never_accepts_at_or_below_last_used(
        (totp, now, w, drift) in setup(),
        back in 0_u64..30,
        random_code in any::<u32>(),
        use_real in any::<bool>(),
    ) {
        let steps = window_steps(&totp, now, w, drift);
        prop_assume!(!steps.is_empty());
        let last_used = steps[steps.len() / 2].saturating_sub(back % 3);
        let digits = totp.params().digits;
        let code = if use_real {
            totp.generate_at_step(steps[0])
        } else {
            let text = format!("{:0w$}", random_code % 10_u32.pow(u32::from(digits.get())), w = usize::from(digits.get()));
            Code::parse(&text, digits).unwrap()
        };
        match totp.verify(&code, now, w, drift, Some(last_used)) {
            Ok(v) => {
                prop_assert!(v.step > last_used);
                prop_assert!(steps.contains(&v.step));
            }
            Err(Error::Replay { step }) => {
                prop_assert!(step <= last_used);
                prop_assert!(steps.contains(&step));
                prop_assert_eq!(totp.generate_at_step(step), code);
            }
            Err(e) => prop_assert_eq!(e, Error::NoMatch),
        }
    }

    /// The code of the step just outside either edge is refused (unless the
    /// same code happens to belong to a step inside the window).
    #[test]
    fn window_edges_are_exact((totp, now, w, drift) in setup()) {
        let steps = window_steps(&totp, now, w, drift);
        let center = i128::from(totp.step_at(now).unwrap()) + i128::from(drift);
        for outside in [center - i128::from(w.behind) - 1, center + i128::from(w.ahead) + 1] {
            let Ok(outside) = u64::try_from(outside) else { continue };
            let code = totp.generate_at_step(outside);
            let collides = steps.iter().any(|&s| totp.generate_at_step(s) == code);
            let result = totp.verify(&code, now, w, drift, None);
            if collides {
                prop_assert!(result.is_ok());
            } else {
                prop_assert_eq!(result, Err(Error::NoMatch));
            }
        }
    }

    /// A planted consecutive pair is found; the drift is the second code's
    /// offset from the current step. A non-adjacent pair is refused.
    #[test]
    fn resync_finds_planted_pairs(
        s in secret(),
        p in params(),
        t in 0_u64..1 << 40,
        offset in -300_i64..300,
        gap in 2_u64..5,
    ) {
        let totp = Totp::new(&s, p);
        let now = p.t0.0 + t;
        let cur = totp.step_at(now).unwrap();
        let search = Window::symmetric(301);
        let first = u64::try_from(i128::from(cur) + i128::from(offset)).unwrap_or(0);
        let (a, b) = (totp.generate_at_step(first), totp.generate_at_step(first + 1));
        let r = totp.resync(&a, &b, now, search, None).unwrap();
        prop_assert!(r.step > first);
        prop_assert_eq!(totp.generate_at_step(r.step), b.clone());
        prop_assert_eq!(totp.generate_at_step(r.step - 1), a.clone());
        prop_assert_eq!(i128::from(r.drift), i128::from(r.step) - i128::from(cur));

        let far = totp.generate_at_step(first + gap);
        let lo = cur.saturating_sub(301);
        let adjacent_somewhere = (lo..=cur + 301)
            .any(|s| totp.generate_at_step(s) == a && totp.generate_at_step(s + 1) == far);
        let result = totp.resync(&a, &far, now, search, None);
        if adjacent_somewhere {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result, Err(Error::NoMatch));
        }
    }

    /// HOTP: a code within the look-ahead verifies and moves the counter past it.
    #[test]
    fn hotp_round_trip(s in secret(), a in algorithm(), d in digits(), counter in any::<u64>(), k in 0_u64..=10) {
        let hotp = Hotp::new(&s, a, d);
        let target = counter.saturating_add(k);
        prop_assume!(target < u64::MAX);
        let code = hotp.generate(target);
        let next = hotp.verify(&code, counter, 10).unwrap();
        prop_assert!(next > target);
        prop_assert_eq!(hotp.generate(next - 1), code);
    }

    /// format → parse gives back every field.
    #[test]
    fn key_uri_round_trip(
        s in secret(),
        p in params(),
        issuer in proptest::option::of("[^\u{0}-\u{1f}:]{1,20}"),
        account in "[^\u{0}-\u{20}:][^\u{0}-\u{1f}:]{0,30}",
        counter in proptest::option::of(any::<u64>()),
    ) {
        let mut k = KeyUri::totp(s.clone(), p, issuer.clone(), account.clone());
        if let Some(c) = counter {
            k.kind = OtpKind::Hotp { counter: c };
        }
        let back = KeyUri::parse(&k.to_uri().unwrap()).unwrap();
        prop_assert_eq!(back.kind, k.kind);
        prop_assert_eq!(back.secret.expose_bytes(), s.expose_bytes());
        prop_assert_eq!(back.issuer, issuer);
        prop_assert_eq!(back.account, account);
        prop_assert_eq!(back.algorithm, p.algorithm);
        prop_assert_eq!(back.digits, p.digits);
    }
}

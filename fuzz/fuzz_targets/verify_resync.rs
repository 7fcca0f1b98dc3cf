//! Verify and resync with arbitrary keys, parameters, times, windows, drift
//! and `last_used`: never panic; an accepted step is always inside the window
//! and above `last_used`, and its code is the code given.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_otp::{Algorithm, Code, Digits, Error, Period, Secret, T0, Totp, TotpParams, Window};

#[derive(Debug, Arbitrary)]
struct Input {
    key: Vec<u8>,
    algorithm: u8,
    digits: u8,
    period: u32,
    t0: u64,
    now: u64,
    behind: u8,
    ahead: u8,
    drift: i16,
    last_used: Option<u64>,
    /// Use a real code of a step near now (so matches happen), or a raw value.
    planted: Option<i8>,
    raw: u32,
    second_raw: u32,
    resync_side: u16,
}

fuzz_target!(|i: Input| {
    let Ok(secret) = Secret::from_bytes(&i.key) else {
        return;
    };
    let (Ok(digits), Ok(period)) = (Digits::new(6 + i.digits % 3), Period::new(i.period)) else {
        return;
    };
    let algorithm =
        [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512][usize::from(i.algorithm % 3)];
    let totp = Totp::new(
        &secret,
        TotpParams {
            algorithm,
            digits,
            period,
            t0: T0(i.t0),
        },
    );
    let window = Window::new(u32::from(i.behind % 12), u32::from(i.ahead % 12));
    let drift = i64::from(i.drift);
    let modulus = 10_u32.pow(u32::from(digits.get()));
    let raw_code = |v: u32| {
        let text = format!("{:0w$}", v % modulus, w = usize::from(digits.get()));
        Code::parse(&text, digits).expect("formatted digits parse")
    };
    let current = totp.step_at(i.now).ok();
    let planted = match (i.planted, current) {
        (Some(k), Some(cur)) => {
            let step = i128::from(cur) + i128::from(drift) + i128::from(k);
            Some(u64::try_from(step.clamp(0, i128::from(u64::MAX))).unwrap_or(0))
        }
        _ => None,
    };
    let code = planted.map_or_else(|| raw_code(i.raw), |s| totp.generate_at_step(s));
    // When planted, the code of the next step, so that resync finds a pair.
    let second = planted
        .and_then(|s| s.checked_add(1))
        .map_or_else(|| raw_code(i.second_raw), |s| totp.generate_at_step(s));

    match totp.verify(&code, i.now, window, drift, i.last_used) {
        Ok(v) => {
            let cur = current.expect("verify succeeded, so now >= T0");
            let center = i128::from(cur) + i128::from(drift);
            let step = i128::from(v.step);
            assert!(step >= center - i128::from(window.behind));
            assert!(step <= center + i128::from(window.ahead));
            assert!(i.last_used.is_none_or(|l| v.step > l));
            assert_eq!(totp.generate_at_step(v.step), code);
        }
        Err(Error::Replay { step }) => {
            assert!(i.last_used.is_some_and(|l| step <= l));
            assert_eq!(totp.generate_at_step(step), code);
        }
        Err(_) => {}
    }

    let search = Window::symmetric(u32::from(i.resync_side % 64));
    if let Ok(r) = totp.resync(&code, &second, i.now, search, i.last_used) {
        let cur = current.expect("resync succeeded, so now >= T0");
        assert!(r.step >= 1);
        assert!(i.last_used.is_none_or(|l| r.step - 1 > l));
        assert!(
            i128::from(r.step).abs_diff(i128::from(cur))
                <= u128::from(search.ahead.max(search.behind))
        );
        assert_eq!(totp.generate_at_step(r.step - 1), code);
        assert_eq!(totp.generate_at_step(r.step), second);
        assert_eq!(i128::from(r.drift), i128::from(r.step) - i128::from(cur));
    }
});

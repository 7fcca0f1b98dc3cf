//! HOTP verification and resynchronisation with arbitrary keys, counters,
//! look-aheads and planted codes: never panics; an accepted counter lies in
//! the look-ahead, never below the counter given, and its code is the one
//! submitted; a planted code or pair within the look-ahead is always found.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_otp::{Algorithm, Code, Digits, Error, Hotp, Secret};

#[derive(Debug, Arbitrary)]
struct Input {
    key: Vec<u8>,
    algorithm: u8,
    digits: u8,
    counter: u64,
    look_ahead: u8,
    planted: Option<u8>,
    raw: u32,
}

fuzz_target!(|i: Input| {
    let Ok(secret) = Secret::from_bytes(&i.key) else {
        return;
    };
    let algorithm = match i.algorithm % 3 {
        0 => Algorithm::Sha1,
        1 => Algorithm::Sha256,
        _ => Algorithm::Sha512,
    };
    let Ok(digits) = Digits::new(6 + i.digits % 3) else {
        return;
    };
    let hotp = Hotp::new(&secret, algorithm, digits);
    let look_ahead = u32::from(i.look_ahead % 11);
    let code = match i.planted {
        Some(o) => hotp.generate(i.counter.saturating_add(u64::from(o))),
        None => {
            let modulus = 10_u32.pow(u32::from(digits.get()));
            let text = format!(
                "{:0width$}",
                i.raw % modulus,
                width = usize::from(digits.get())
            );
            let Ok(code) = Code::parse(&text, digits) else {
                return;
            };
            code
        }
    };
    match hotp.verify(&code, i.counter, look_ahead) {
        Ok(next) => {
            let matched = next - 1;
            assert!(
                matched >= i.counter && matched <= i.counter.saturating_add(u64::from(look_ahead))
            );
            assert_eq!(hotp.generate(matched), code);
        }
        Err(Error::NoMatch) => {
            if let Some(o) = i.planted {
                assert!(u32::from(o) > look_ahead || i.counter.checked_add(u64::from(o)).is_none());
            }
        }
        Err(_) => {}
    }
    // A planted pair within the look-ahead is found, and nothing below it.
    if let Some(o) = i.planted {
        let first = i.counter.saturating_add(u64::from(o));
        let (a, b) = (hotp.generate(first), hotp.generate(first.saturating_add(1)));
        match hotp.resync(&a, &b, i.counter, look_ahead) {
            Ok(next) => assert!(next >= i.counter.saturating_add(2)),
            Err(Error::NoMatch) => {
                assert!(u32::from(o) > look_ahead || first.checked_add(1).is_none())
            }
            Err(_) => {}
        }
    }
});

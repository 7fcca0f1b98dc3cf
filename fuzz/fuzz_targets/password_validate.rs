//! `validate` on arbitrary bytes-as-UTF-8 (repeated up to a megabyte when
//! asked) with an arbitrary context and policy: never panics, is
//! deterministic, reports each violation once and at most
//! `MAX_REPORTED_CHARACTERS` characters, and refuses input longer than four
//! bytes per allowed character as too long and nothing else.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_password::{AllowedChars, Composition, Context, NistUse, Password, PasswordPolicy};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    candidate: &'a [u8],
    user_name: Option<&'a str>,
    user_id: Option<&'a str>,
    confirmation: Option<&'a str>,
    profile: u8,
    min: u8,
    max: u16,
    classes: [bool; 5],
    blocklist: Vec<&'a str>,
    /// Repeat the candidate this many times (capped at 1 MiB in all).
    repeat: u16,
}

fuzz_target!(|i: Input<'_>| {
    let text = String::from_utf8_lossy(i.candidate).into_owned();
    let times = usize::from(i.repeat)
        .min((1 << 20) / text.len().max(1))
        .max(1);
    let candidate = Password::from(text.repeat(times));
    let policy = match i.profile % 4 {
        0 => PasswordPolicy::bank_default(),
        1 => PasswordPolicy::nist_800_63b(NistUse::MultiFactor),
        2 => PasswordPolicy::nist_800_63b(NistUse::SingleFactor),
        _ => {
            let [letter, digit, uppercase, lowercase, symbol] = i.classes;
            let built = PasswordPolicy::builder()
                .length(usize::from(i.min), usize::from(i.max))
                .allowed(AllowedChars::Unicode)
                .composition(Composition {
                    letter,
                    digit,
                    uppercase,
                    lowercase,
                    symbol,
                })
                .blocklist(i.blocklist.iter().copied())
                .build();
            match built {
                Ok(p) => p,
                Err(_) => return,
            }
        }
    };
    let confirmation = i.confirmation.map(Password::from);
    let context = Context {
        user_name: i.user_name,
        user_id: i.user_id,
        confirmation: confirmation.as_ref(),
        history: None,
    };
    let first = policy.validate(&candidate, &context);
    let second = policy.validate(&candidate, &context);
    assert_eq!(first, second, "validation is deterministic");
    let oversized = candidate.expose().len() > policy.max_len() * 4;
    assert!(!(oversized && first.is_ok()), "oversized input accepted");
    if let Err(violations) = first {
        let all = violations.as_slice();
        assert!(!all.is_empty());
        if oversized {
            assert_eq!(violations.codes().collect::<Vec<_>>(), ["too_long"]);
        }
        let reported = all
            .iter()
            .filter(|v| matches!(v, lockstep_password::Violation::DisallowedCharacter { .. }))
            .count();
        assert!(reported <= PasswordPolicy::MAX_REPORTED_CHARACTERS);
        for (n, v) in all.iter().enumerate() {
            assert!(!all[..n].contains(v), "{v:?} reported twice");
        }
    }
});

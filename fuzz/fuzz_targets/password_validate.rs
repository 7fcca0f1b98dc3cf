//! `validate` on arbitrary bytes-as-UTF-8 with an arbitrary context and
//! policy: never panics, is deterministic, and reports each violation once.
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
}

fuzz_target!(|i: Input<'_>| {
    let candidate = Password::from(String::from_utf8_lossy(i.candidate).into_owned());
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
    if let Err(violations) = first {
        let all = violations.as_slice();
        assert!(!all.is_empty());
        for (n, v) in all.iter().enumerate() {
            assert!(!all[..n].contains(v), "{v:?} reported twice");
        }
    }
});

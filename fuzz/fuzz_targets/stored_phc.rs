//! Stored PHC strings, as a database might hold them after tampering:
//! parsing, verifying, the rehash decision and the cost padding never
//! panic; a hash whose costs lie outside the hasher's range is refused
//! before any work; one within range verifies its own password.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_password::{
    Argon2Params, HashError, InsecureTestHasher, Password, PasswordHash, PasswordHashing,
};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    phc: &'a str,
    password: &'a str,
    /// Build a well-formed string around fuzzed costs instead.
    costs: Option<(u32, u32, u32)>,
}

fuzz_target!(|i: Input<'_>| {
    // The test hasher: m = 8 KiB, t = 1, so in-range hashes cost microseconds.
    let hasher = InsecureTestHasher::new();
    let password = Password::from(i.password);
    let text = match i.costs {
        Some((m, t, p)) => format!(
            "$argon2id$v=19$m={m},t={t},p={p}$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ),
        None => i.phc.to_owned(),
    };
    let Ok(stored) = PasswordHash::parse(&text) else {
        return;
    };
    let _ = format!("{stored:?}");
    let _ = hasher.needs_rehash(&stored);
    hasher.pad_to_cost(&password, &stored);
    match hasher.verify(&password, &stored) {
        Ok(_) | Err(_) => {}
    }
    if let Some((m, t, p)) = i.costs {
        // Out of range: refused as malformed, never computed.
        if u64::from(m) * u64::from(t) > 32 || p > 4 {
            assert!(matches!(
                hasher.verify(&password, &stored),
                Err(HashError::CostOutOfRange | HashError::Malformed)
            ));
        }
    }
    // A hash made by a cheap hasher within range verifies its own password.
    let own = InsecureTestHasher::with_params(Argon2Params {
        memory_kib: 16,
        iterations: 1,
        parallelism: 1,
    });
    if let Ok(h) = own.hash_with_salt(&password, b"saltsalt") {
        assert_eq!(hasher.verify(&password, &h), Ok(true));
    }
});

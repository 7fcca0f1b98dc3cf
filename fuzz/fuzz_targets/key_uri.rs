//! `KeyUri::parse` on any string: never panics; whatever parses formats to a
//! URI that parses back to the same token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_otp::{KeyStrength, KeyUri};

fuzz_target!(|text: &str| {
    let Ok(key) = KeyUri::parse_with(text, KeyStrength::AllowLegacy80) else {
        return;
    };
    let uri = key.to_uri().expect("whatever parses can be formatted");
    let again =
        KeyUri::parse_with(&uri, KeyStrength::AllowLegacy80).expect("a formatted URI parses");
    assert_eq!(again.kind, key.kind);
    assert_eq!(again.secret.expose_bytes(), key.secret.expose_bytes());
    assert_eq!(again.algorithm, key.algorithm);
    assert_eq!(again.digits, key.digits);
    assert_eq!(again.issuer, key.issuer);
    assert_eq!(again.account, key.account);
});

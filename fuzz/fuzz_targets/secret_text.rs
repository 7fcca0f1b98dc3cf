//! Base32 and hex secrets and credential IDs from any string: never panic;
//! an accepted secret re-encodes to base32 that decodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_otp::{CredentialId, KeyStrength, Secret};

fuzz_target!(|text: &str| {
    for secret in [
        Secret::from_base32_with(text, KeyStrength::AllowLegacy80),
        Secret::from_hex_with(text, KeyStrength::AllowLegacy80),
    ]
    .into_iter()
    .flatten()
    {
        assert!((10..=Secret::MAX_LEN).contains(&secret.len()));
        let back = Secret::from_base32_with(&secret.to_base32(), KeyStrength::AllowLegacy80)
            .expect("canonical base32 decodes");
        assert_eq!(back.expose_bytes(), secret.expose_bytes());
    }
    if let Ok(id) = CredentialId::parse(text) {
        assert_eq!(CredentialId::parse(id.as_str()), Ok(id));
    }
});

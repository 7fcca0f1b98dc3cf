//! Keyring descriptions, as an environment variable or a key file might
//! hold them (`ID:64 hex digits`, by commas or lines, comments): parsing
//! never panics; a keyring it accepts seals and opens with its active key,
//! lists each ID once, and its `Debug` never shows a key's hex.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_account::{OsRandom, TokenSeed};
use lockstep_otp::{CredentialId, Secret, TotpParams};
use lockstep_store_sql::seal::{Keyring, StoreId};

fuzz_target!(|text: &str| {
    let Ok(ring) = Keyring::parse(text) else {
        return;
    };
    let ids: Vec<_> = ring.key_ids().collect();
    assert!(ids.contains(&ring.active()), "the active key opens");
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "an ID twice");
    let shown = format!("{ring:?}");
    for entry in text.split([',', '\n']) {
        if let Some((_, hex)) = entry.trim().split_once(':') {
            let hex = hex.trim();
            if hex.len() == 64 {
                assert!(
                    !shown
                        .to_ascii_lowercase()
                        .contains(&hex.to_ascii_lowercase()),
                    "a key in Debug"
                );
            }
        }
    }
    let store = StoreId::new("fuzz".into());
    let id = CredentialId::from_random([1; 16]);
    let seed = TokenSeed::totp(Secret::from_bytes(&[2; 20]).unwrap(), TotpParams::DEFAULT);
    let sealed = ring.seal(&store, &id, &seed, &OsRandom).unwrap();
    assert_eq!(sealed.key_id(), ring.active());
    let opened = ring.open(&store, &id, seed.kind, &sealed).unwrap();
    assert_eq!(opened.secret.expose_bytes(), seed.secret.expose_bytes());
});

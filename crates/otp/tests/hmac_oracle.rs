//! The engine's precomputed-state HMAC against RustCrypto's `hmac` crate, for
//! random keys of every supported length, random counters and all three hashes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hmac::{Hmac, KeyInit, Mac};
use lockstep_otp::{Algorithm, Digits, Hotp, Secret};
use proptest::prelude::*;

/// RFC 4226 §5.3 HOTP from a full HMAC output, written out independently.
fn reference<M: Mac + KeyInit>(key: &[u8], counter: u64, digits: u8) -> String {
    let mut mac = <M as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes(hash[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    let code = bin % 10_u32.pow(u32::from(digits));
    format!("{code:0width$}", width = usize::from(digits))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn matches_the_hmac_crate(
        key in prop::collection::vec(any::<u8>(), 16..=64),
        counter in any::<u64>(),
        digits in 6_u8..=8,
        which in 0_usize..3,
    ) {
        let secret = Secret::from_bytes(&key).unwrap();
        let d = Digits::new(digits).unwrap();
        let (algorithm, want) = match which {
            0 => (Algorithm::Sha1, reference::<Hmac<sha1::Sha1>>(&key, counter, digits)),
            1 => (Algorithm::Sha256, reference::<Hmac<sha2::Sha256>>(&key, counter, digits)),
            _ => (Algorithm::Sha512, reference::<Hmac<sha2::Sha512>>(&key, counter, digits)),
        };
        let got = Hotp::new(&secret, algorithm, d).generate(counter);
        prop_assert_eq!(got.expose().to_string(), want);
    }
}

//! The hot path allocates nothing: generation, verification and resync are
//! measured through `allocation-counter`'s counting global allocator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use lockstep_otp::{Algorithm, Code, Digits, Hotp, Secret, Totp, TotpParams, Window};

#[test]
fn generate_verify_and_resync_do_not_allocate() {
    let secret = Secret::from_bytes(&[7; 32]).unwrap();
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let totp = Totp::new(
            &secret,
            TotpParams {
                algorithm,
                ..TotpParams::DEFAULT
            },
        );
        let hotp = Hotp::new(&secret, algorithm, Digits::SIX);
        let now = 1_700_000_000;
        let good = totp.generate(now).unwrap();
        let next = totp.generate(now + 30).unwrap();
        let bad = Code::parse("000000", Digits::SIX).unwrap();
        // Warm-up outside the measurement (lazy CPU feature detection and the like).
        let _ = totp.verify(&good, now, Window::symmetric(1), 0, None);

        let info = allocation_counter::measure(|| {
            let code = totp.generate(now).unwrap();
            assert!(
                totp.verify(&code, now, Window::symmetric(1), 0, None)
                    .is_ok()
            );
            let _ = totp.verify(&bad, now, Window::symmetric(10), 3, Some(1));
            assert!(
                totp.resync(&good, &next, now, Window::symmetric(100), None)
                    .is_ok()
            );
            let h = hotp.generate(5);
            assert!(hotp.verify(&h, 0, 10).is_ok());
            let _ = Code::parse("123456", Digits::SIX);
        });
        assert_eq!(info.count_total, 0, "{algorithm}: {info:?}");
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let info = allocation_counter::measure(|| {
        let _ = Secret::from_bytes(&[7; 32]);
    });
    assert!(info.count_total > 0);
}

//! The OTP verify hot path, measured against two yardsticks in the same run:
//! one raw SHA-1 block compression (the hardware floor: a keyed HMAC-SHA-1
//! costs two), and `totp-rs`'s `check` at skew 1.
//!
//! Run: `cargo bench --bench otp`. Ratios, not nanoseconds, are what compare
//! across machines.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep_otp::{Code, Digits, Secret, Totp, TotpParams, Window};

const KEY: &[u8; 20] = b"12345678901234567890";
const NOW: u64 = 1_111_111_111;

fn yardsticks(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    let block = [0x5a_u8; 64];
    g.bench_function("sha1_compress_1_block", |b| {
        let mut state = [
            0x6745_2301,
            0xEFCD_AB89,
            0x98BA_DCFE,
            0x1032_5476,
            0xC3D2_E1F0,
        ];
        b.iter(|| {
            sha1::block_api::compress(black_box(&mut state), black_box(&[block]));
        });
    });
    g.finish();

    let theirs = totp_rs::Builder::new()
        .with_secret(KEY.to_vec())
        .with_skew(1)
        .build()
        .unwrap();
    let valid = theirs.generate(NOW).to_string();
    let mut g = c.benchmark_group("totp_rs");
    g.bench_function("check_skew1_valid", |b| {
        b.iter(|| theirs.check(black_box(&valid), black_box(NOW)));
    });
    g.bench_function("check_skew1_invalid", |b| {
        b.iter(|| theirs.check(black_box("000000"), black_box(NOW)));
    });
    g.finish();
}

fn lockstep(c: &mut Criterion) {
    let totp = Totp::new(&Secret::from_bytes(KEY).unwrap(), TotpParams::DEFAULT);
    let valid = totp.generate(NOW).unwrap().expose().to_string();
    assert_ne!(valid, "000000", "the invalid code must be invalid");
    let mut g = c.benchmark_group("lockstep");
    g.bench_function("generate", |b| {
        b.iter(|| totp.generate(black_box(NOW)));
    });
    for side in [1, 10] {
        for (label, text) in [("valid", valid.as_str()), ("invalid", "000000")] {
            // Parsing is included, as totp-rs's check parses its string too.
            g.bench_function(format!("verify_pm{side}_{label}"), |b| {
                b.iter(|| {
                    let code = Code::parse(black_box(text), Digits::SIX).unwrap();
                    totp.verify(&code, black_box(NOW), Window::symmetric(side), 0, None)
                });
            });
        }
    }
    let cur = totp.step_at(NOW).unwrap();
    let (a, b2) = (
        totp.generate_at_step(cur - 1000),
        totp.generate_at_step(cur - 999),
    );
    g.bench_function("resync_pm2880", |b| {
        b.iter(|| {
            totp.resync(
                black_box(&a),
                black_box(&b2),
                NOW,
                Window::symmetric(2880),
                None,
            )
        });
    });
    g.finish();
}

criterion_group!(benches, yardsticks, lockstep);
criterion_main!(benches);

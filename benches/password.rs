//! Password validation (no hashing) and one Argon2id hash at the default
//! (OWASP) cost, with the insecure test hasher beside it for scale.
//!
//! Run: `cargo bench --bench password`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lockstep_password::{
    Argon2idHasher, Context, InsecureTestHasher, NistUse, Password, PasswordHashing, PasswordPolicy,
};

fn validate(c: &mut Criterion) {
    let bank = PasswordPolicy::bank_default();
    let nist = PasswordPolicy::nist_800_63b(NistUse::MultiFactor);
    let confirmation = Password::from("Tanaka2024x");
    let ctx = Context {
        user_name: Some("tanaka"),
        user_id: Some("fx00012345"),
        confirmation: Some(&confirmation),
        history: None,
    };
    let good = Password::from("Tanaka2024x");
    let bad = Password::from("ｔａｎａｋａ 1");
    let mut g = c.benchmark_group("password");
    g.bench_function("validate_bank_valid", |b| {
        b.iter(|| bank.validate(black_box(&good), black_box(&ctx)));
    });
    g.bench_function("validate_bank_many_violations", |b| {
        b.iter(|| bank.validate(black_box(&bad), black_box(&ctx)));
    });
    g.bench_function("validate_nist_blocklist", |b| {
        b.iter(|| nist.validate(black_box(&good), black_box(&Context::default())));
    });
    // 320,000 distinct characters took 16 s (O(n²) dedup).
    // Refused as too long after one pass; a 4,000-character paste within the
    // byte bound of a 4,096-character policy is scanned once, with a set.
    let huge = Password::new(('\u{100}'..).take(320_000).collect());
    let long_policy = PasswordPolicy::builder().length(6, 4096).build().unwrap();
    let paste = Password::new(('\u{3041}'..).take(4_000).collect());
    g.bench_function("validate_bank_320k_distinct_characters", |b| {
        b.iter(|| bank.validate(black_box(&huge), black_box(&Context::default())));
    });
    g.bench_function("validate_4096_policy_4000_disallowed_characters", |b| {
        b.iter(|| long_policy.validate(black_box(&paste), black_box(&Context::default())));
    });
    g.finish();
}

fn hash(c: &mut Criterion) {
    let pw = Password::from("Tanaka2024x");
    let salt = *b"0123456789abcdef";
    let owasp = Argon2idHasher::default();
    let fast = InsecureTestHasher::new();
    let mut g = c.benchmark_group("argon2id");
    g.sample_size(10);
    g.bench_function("hash_owasp_m19456_t2_p1", |b| {
        b.iter(|| owasp.hash_with_salt(black_box(&pw), &salt).unwrap());
    });
    g.bench_function("hash_insecure_test_m8_t1_p1", |b| {
        b.iter(|| fast.hash_with_salt(black_box(&pw), &salt).unwrap());
    });
    g.finish();
}

criterion_group!(benches, validate, hash);
criterion_main!(benches);

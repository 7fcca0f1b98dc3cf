//! Known-answer tests: RFC 4226 Appendix D and RFC 6238 Appendix B.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//!
//! The vectors live in `tests/data/`, copied from the RFCs (RFC 6238 with its
//! errata: one seed length per algorithm) and checked against `oathtool`.

use lockstep_otp::{Algorithm, Digits, Hotp, Period, Secret, T0, Totp, TotpParams};

const RFC4226: &str = include_str!("data/rfc4226-appendix-d.tsv");
const RFC6238: &str = include_str!("data/rfc6238-appendix-b.tsv");

/// Data rows of a TSV file: comments and blank lines dropped, fields split.
fn rows(tsv: &str) -> impl Iterator<Item = Vec<&str>> {
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
}

fn seed(len: usize) -> Secret {
    let ascii: Vec<u8> = b"1234567890".iter().copied().cycle().take(len).collect();
    Secret::from_bytes(&ascii).unwrap()
}

#[test]
fn rfc4226_appendix_d() {
    let hotp = Hotp::new(&seed(20), Algorithm::Sha1, Digits::SIX);
    let mut n = 0;
    for row in rows(RFC4226) {
        let counter: u64 = row[0].parse().unwrap();
        assert_eq!(
            hotp.generate(counter).expose().to_string(),
            row[2],
            "counter {counter}"
        );
        n += 1;
    }
    assert_eq!(n, 10, "all ten Appendix D rows were read");
}

#[test]
fn rfc6238_appendix_b() {
    let algorithms = [
        (Algorithm::Sha1, 20, 2),
        (Algorithm::Sha256, 32, 3),
        (Algorithm::Sha512, 64, 4),
    ];
    let mut n = 0;
    for row in rows(RFC6238) {
        let time: u64 = row[0].parse().unwrap();
        let step = u64::from_str_radix(row[1], 16).unwrap();
        for (algorithm, seed_len, column) in algorithms {
            let totp = Totp::new(
                &seed(seed_len),
                TotpParams {
                    algorithm,
                    digits: Digits::EIGHT,
                    period: Period::new(30).unwrap(),
                    t0: T0(0),
                },
            );
            assert_eq!(totp.step_at(time).unwrap(), step, "T at {time}");
            let code = totp.generate(time).unwrap();
            assert_eq!(
                code.expose().to_string(),
                row[column],
                "{algorithm} at {time}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 18, "six times x three algorithms");
}

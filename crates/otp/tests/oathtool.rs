//! Differential test against OATH Toolkit's `oathtool`: a few hundred random
//! secrets, times, counters, digit counts and algorithms must give identical
//! codes. Skipped, with a printed reason, when `oathtool` is not on PATH
//! (`.ci/run` installs it, so CI always runs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::process::Command;

use lockstep_otp::{Algorithm, Digits, Hotp, Period, Secret, T0, Totp, TotpParams};

/// SplitMix64: a tiny deterministic generator, so a failure reproduces exactly.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn oathtool(args: &[String]) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .expect("run oathtool");
    assert!(
        out.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn codes_match_oathtool() {
    if Command::new("oathtool").arg("--version").output().is_err() {
        println!(
            "SKIPPED codes_match_oathtool: oathtool is not on PATH (apt-get install oathtool)"
        );
        return;
    }
    let mut rng = SplitMix(0x6c6f_636b_7374_6570);
    let algorithms = [
        (Algorithm::Sha1, "sha1"),
        (Algorithm::Sha256, "sha256"),
        (Algorithm::Sha512, "sha512"),
    ];
    let mut compared = 0;
    for round in 0..300 {
        let len = 16 + usize::try_from(rng.below(49)).unwrap();
        let key: Vec<u8> = (0..len).map(|_| rng.next().to_le_bytes()[0]).collect();
        let secret = Secret::from_bytes(&key).unwrap();
        let (algorithm, name) = algorithms[usize::try_from(rng.below(3)).unwrap()];
        let digits = Digits::new(6 + u8::try_from(rng.below(3)).unwrap()).unwrap();
        let d = digits.get().to_string();

        if round % 3 == 0 {
            // HOTP (oathtool supports HOTP with SHA-1 only).
            let counter = rng.next() >> rng.below(64);
            let ours = Hotp::new(&secret, Algorithm::Sha1, digits).generate(counter);
            let theirs = oathtool(&[
                "--hotp".into(),
                "-c".into(),
                counter.to_string(),
                "-d".into(),
                d,
                hex(&key),
            ]);
            assert_eq!(ours.expose().to_string(), theirs, "HOTP round {round}");
        } else {
            let period = [30, 60, 1, 45, 3600][usize::try_from(rng.below(5)).unwrap()];
            let t0 = if rng.below(4) == 0 {
                rng.below(1 << 30)
            } else {
                0
            };
            let now = t0 + rng.below(1 << 34);
            let totp = Totp::new(
                &secret,
                TotpParams {
                    algorithm,
                    digits,
                    period: Period::new(period).unwrap(),
                    t0: T0(t0),
                },
            );
            let ours = totp.generate(now).unwrap();
            let theirs = oathtool(&[
                format!("--totp={name}"),
                "-d".into(),
                d,
                "-s".into(),
                format!("{period}s"),
                "-S".into(),
                format!("@{t0}"),
                "-N".into(),
                format!("@{now}"),
                hex(&key),
            ]);
            assert_eq!(
                ours.expose().to_string(),
                theirs,
                "TOTP round {round}: {name} period {period} t0 {t0} now {now}"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 300);
}

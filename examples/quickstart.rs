//! Generate, verify, refuse a replay, resynchronise: the OTP engine in brief.
//!
//! `cargo run --example quickstart`

use lockstep::otp::{Code, Digits, Error, Secret, Totp, TotpParams, Window};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
    let totp = Totp::new(&secret, TotpParams::DEFAULT);
    let now = 1_700_000_000;

    // The token shows a code; the user types it; the server verifies it.
    let shown = totp.generate(now)?.expose().to_string();
    let typed = Code::parse(&shown, Digits::SIX)?;
    let ok = totp.verify(&typed, now, Window::symmetric(1), 0, None)?;
    println!("code {shown} accepted at step {}", ok.step);

    // The same code again is refused: the step is stored as last used.
    match totp.verify(&typed, now, Window::symmetric(1), 0, Some(ok.step)) {
        Err(e @ Error::Replay { .. }) => println!("the same code again: {e}"),
        other => return Err(format!("a replay must be refused, got {other:?}").into()),
    }

    // The token's clock runs 40 steps (20 minutes) fast: login fails...
    let fast = totp.generate(now + 40 * 30)?;
    if let Err(e) = totp.verify(&fast, now, Window::symmetric(1), 0, Some(ok.step)) {
        println!("a code from a clock 20 minutes fast: {e}");
    }

    // ...until two consecutive codes resynchronise it.
    let (otp1, otp2) = (totp.generate(now + 41 * 30)?, totp.generate(now + 42 * 30)?);
    let sync = totp.resync(
        &otp1,
        &otp2,
        now + 30,
        Window::symmetric(2880),
        Some(ok.step),
    )?;
    println!("resynchronised: drift {} steps", sync.drift);

    // Now the fast token's next code verifies with the stored drift.
    let next = totp.generate(now + 43 * 30)?;
    let ok = totp.verify(
        &next,
        now + 30,
        Window::symmetric(1),
        sync.drift,
        Some(sync.step),
    )?;
    println!(
        "next code accepted at step {} (offset {})",
        ok.step, ok.offset
    );
    Ok(())
}

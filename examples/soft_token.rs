//! An authenticator in the terminal: the role VIP Access plays in the manual.
//!
//! ```text
//! soft_token code --secret BASE32 [--algorithm sha1|sha256|sha512] [--digits N]
//!                 [--period S] [--time UNIX] [--counter N]
//! soft_token code --uri 'otpauth://…' [--time UNIX]
//! soft_token new  [--issuer I] [--account A]
//! soft_token show --uri 'otpauth://…'
//! ```
//!
//! `code` prints only the code (the same as `oathtool`); `--counter` makes it
//! HOTP. `new` mints a credential ID and a 160-bit secret and prints them, the
//! otpauth URI and a QR code. `show` displays the credential, the current
//! code and the seconds left, every second until Ctrl-C.
//!
//! Bad input prints what is wrong and exits with status 2.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lockstep::otp::{
    Algorithm, CredentialId, Digits, Hotp, KeyStrength, KeyUri, OtpKind, Period, Secret, T0, Totp,
    TotpParams,
};

const USAGE: &str = "usage:
  soft_token code --secret BASE32 [--algorithm sha1|sha256|sha512] [--digits 6|7|8]
                  [--period SECONDS] [--time UNIX] [--counter N]
  soft_token code --uri 'otpauth://...' [--time UNIX] [--counter N]
  (code also takes --t0 UNIX, the TOTP epoch, default 0)
  soft_token new  [--issuer NAME] [--account NAME]
  soft_token show --uri 'otpauth://...'
  soft_token show --uri-file FILE   (the URI read from FILE, kept out of ps and history)";

/// An authenticator must accept the keys that services issue, 80-bit ones
/// included; it warns about them instead.
const STRENGTH: KeyStrength = KeyStrength::AllowLegacy80;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("soft_token: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("no command given")?;
    let options = Options::parse(rest)?;
    match command.as_str() {
        "code" => code(&options),
        "new" => new(&options),
        "show" => show(&options),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}

/// `--name value` pairs; each option at most once.
#[derive(Default)]
struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    const KNOWN: [&'static str; 11] = [
        "--secret",
        "--algorithm",
        "--digits",
        "--period",
        "--time",
        "--counter",
        "--uri",
        "--uri-file",
        "--issuer",
        "--account",
        "--t0",
    ];

    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            if !Self::KNOWN.contains(&name.as_str()) {
                return Err(format!("unknown option {name:?}"));
            }
            let value = it.next().ok_or(format!("{name} needs a value"))?;
            if options.get(name).is_some() {
                return Err(format!("{name} given twice"));
            }
            options.pairs.push((name.clone(), value.clone()));
        }
        Ok(options)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{name} must be a whole number, not {v:?}"))
            })
            .transpose()
    }

    fn refuse(&self, names: &[&str], because: &str) -> Result<(), String> {
        match names.iter().find(|n| self.get(n).is_some()) {
            Some(n) => Err(format!("{n} cannot be used {because}")),
            None => Ok(()),
        }
    }
}

fn now() -> Result<u64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "the system clock is before 1970".into())
}

fn warn_if_weak(secret: &Secret) {
    if secret.len() < KeyStrength::Rfc4226.min_len() {
        eprintln!(
            "soft_token: warning: this key has only {} bits; RFC 4226 asks for at least 128",
            secret.len() * 8
        );
    }
}

/// The URI given by `--uri`, or read from `--uri-file` (its first line
/// that starts with `otpauth://`): a file keeps the secret out of the
/// command line, where `ps` and the shell's history would show it.
fn uri(o: &Options) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    match (o.get("--uri"), o.get("--uri-file")) {
        (Some(_), Some(_)) => Err("give --uri or --uri-file, not both".into()),
        (Some(uri), None) => Ok(Some(zeroize::Zeroizing::new(uri.to_owned()))),
        (None, Some(path)) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| format!("--uri-file {path}: {e}"))?,
            );
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with("otpauth://"))
                .map(|l| Some(zeroize::Zeroizing::new(l.to_owned())))
                .ok_or_else(|| format!("--uri-file {path}: no otpauth:// line"))
        }
        (None, None) => Ok(None),
    }
}

/// The token described by `--uri` (or `--uri-file`), or by `--secret` and
/// the parameter options.
fn token(o: &Options) -> Result<KeyUri, String> {
    if let Some(uri) = uri(o)? {
        let uri = uri.as_str();
        o.refuse(
            &["--secret", "--algorithm", "--digits", "--period"],
            "with --uri (the URI carries it)",
        )?;
        let key = KeyUri::parse_with(uri, STRENGTH).map_err(|e| format!("--uri: {e}"))?;
        warn_if_weak(&key.secret);
        return Ok(key);
    }
    let secret = o.get("--secret").ok_or("give --secret BASE32 or --uri")?;
    let secret =
        Secret::from_base32_with(secret, STRENGTH).map_err(|e| format!("--secret: {e}"))?;
    warn_if_weak(&secret);
    let algorithm = match o.get("--algorithm") {
        None => Algorithm::Sha1,
        Some(name) => Algorithm::from_name(name).ok_or(format!(
            "--algorithm must be sha1, sha256 or sha512, not {name:?}"
        ))?,
    };
    let digits = match o.number::<u8>("--digits")? {
        None => Digits::SIX,
        Some(d) => Digits::new(d).map_err(|e| format!("--digits: {e}"))?,
    };
    let period = match o.number::<u32>("--period")? {
        None => Period::THIRTY_SECONDS,
        Some(p) => Period::new(p).map_err(|e| format!("--period: {e}"))?,
    };
    let params = TotpParams {
        algorithm,
        digits,
        period,
        t0: T0::UNIX_EPOCH,
    };
    Ok(KeyUri::totp(secret, params, None, String::new()))
}

fn code(o: &Options) -> Result<(), String> {
    o.refuse(&["--issuer", "--account"], "with code")?;
    let key = token(o)?;
    let counter = o.number::<u64>("--counter")?;
    let uri_counter = match key.kind {
        OtpKind::Hotp { counter } => Some(counter),
        OtpKind::Totp { .. } => None,
    };
    if let Some(counter) = counter.or(uri_counter) {
        o.refuse(&["--time"], "for an HOTP code")?;
        let hotp = Hotp::new(&key.secret, key.algorithm, key.digits);
        println!("{}", hotp.generate(counter).expose());
        return Ok(());
    }
    let params = key.totp_params().ok_or("no TOTP parameters")?;
    let t0 = o.number::<u64>("--t0")?.unwrap_or(0);
    let totp = Totp::new(
        &key.secret,
        TotpParams {
            t0: T0(t0),
            ..params
        },
    );
    let time = match o.number::<u64>("--time")? {
        Some(t) => t,
        None => now()?,
    };
    let code = totp.generate(time).map_err(|e| format!("--time: {e}"))?;
    println!("{}", code.expose());
    Ok(())
}

fn new(o: &Options) -> Result<(), String> {
    o.refuse(
        &[
            "--secret",
            "--uri",
            "--algorithm",
            "--digits",
            "--period",
            "--time",
            "--counter",
        ],
        "with new",
    )?;
    let mut random = [0_u8; 16 + 20];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let (id_bytes, key_bytes) = random.split_at(16);
    let id_bytes: [u8; 16] = id_bytes.try_into().map_err(|_| "internal: id bytes")?;
    let id = CredentialId::from_random(id_bytes);
    let secret = Secret::from_bytes(key_bytes).map_err(|e| e.to_string())?;
    random.fill(0);

    let issuer = o.get("--issuer").unwrap_or("lockstep").to_owned();
    let account = o
        .get("--account")
        .map_or_else(|| id.to_string(), str::to_owned);
    let key = KeyUri::totp(secret, TotpParams::DEFAULT, Some(issuer), account);
    let uri = key.to_uri().map_err(|e| format!("otpauth URI: {e}"))?;

    println!("credential ID: {id}");
    println!("secret:        {}", key.secret.to_base32().as_str());
    println!("otpauth URI:   {}", uri.as_str());
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let picture = qr
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build();
    println!("\n{picture}");
    Ok(())
}

fn show(o: &Options) -> Result<(), String> {
    o.refuse(
        &["--time", "--counter", "--issuer", "--account"],
        "with show",
    )?;
    if o.get("--uri").is_none() && o.get("--uri-file").is_none() {
        return Err("show needs --uri or --uri-file".into());
    }
    let key = token(o)?;
    let totp = key
        .to_totp()
        .ok_or("show needs a totp URI (an hotp token has no clock)")?;
    let name = match &key.issuer {
        Some(issuer) => format!("{issuer}: {}", key.account),
        None => key.account.clone(),
    };
    println!("credential: {name}   (Ctrl-C to stop)");
    let mut out = std::io::stdout();
    loop {
        let t = now()?;
        let code = totp.generate(t).map_err(|e| e.to_string())?;
        let left = totp.seconds_left(t).map_err(|e| e.to_string())?;
        // \r rewrites the line in place; the padding clears a longer old line.
        print!("\rsecurity code: {}   {left:>2} s left ", code.expose());
        out.flush().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs(1));
    }
}

//! Random values the service makes: temporary passwords.

use lockstep::account::{OsRandom, Random};
use lockstep::password::{Context, Password, PasswordPolicy};
use zeroize::Zeroizing;

/// The alphabet of temporary passwords: letters and digits without the
/// ones read alike (0/O, 1/l/I), since the desk reads them out.
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A temporary password of 10 characters that satisfies `policy` for this
/// user (R-OPS-2: the temporary password itself keeps the rules), shown
/// once to the operator.
///
/// # Errors
/// The OS's randomness failed.
pub fn temporary_password(
    policy: &PasswordPolicy,
    user_id: &str,
    user_name: &str,
) -> Result<Password, lockstep::account::RandomError> {
    loop {
        let mut bytes = Zeroizing::new([0_u8; 10]);
        OsRandom.fill(&mut *bytes)?;
        // 56 symbols; the modulo's bias (256 = 4·56 + 32) is immaterial for a
        // one-time password of 58 bits that must be changed at first login.
        let text: Zeroizing<String> = Zeroizing::new(
            bytes
                .iter()
                .map(|b| {
                    let i = usize::from(*b) % ALPHABET.len();
                    char::from(ALPHABET.get(i).copied().unwrap_or(b'a'))
                })
                .collect(),
        );
        let password = Password::from(text.as_str());
        let context = Context {
            user_id: Some(user_id),
            user_name: Some(user_name),
            ..Context::default()
        };
        if policy.validate(&password, &context).is_ok() {
            return Ok(password);
        }
    }
}

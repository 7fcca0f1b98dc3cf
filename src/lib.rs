//! # lockstep
//!
//! The facade over lockstep's crates: each is re-exported here behind a
//! feature of the same name, all on by default. Depend on the member crates
//! directly if you want only one.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`otp`] | `lockstep-otp` | HOTP/TOTP engine (RFC 4226/6238), resync, otpauth URIs |
#![forbid(unsafe_code)]

#[cfg(feature = "otp")]
pub use lockstep_otp as otp;

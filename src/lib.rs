#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[cfg(feature = "otp")]
pub use lockstep_otp as otp;

#[cfg(feature = "password")]
pub use lockstep_password as password;

#[cfg(feature = "account")]
pub use lockstep_account as account;

#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod blocklist;
mod hasher;
mod password;
mod policy;
mod violation;

pub use blocklist::BUILT_IN as BUILT_IN_BLOCKLIST;
#[cfg(feature = "insecure-test-hasher")]
pub use hasher::InsecureTestHasher;
pub use hasher::{
    Argon2Params, Argon2idHasher, HashError, MAX_COST_MULTIPLE, MAX_PASSWORD_BYTES, PasswordHash,
    PasswordHashing,
};
pub use password::Password;
pub use policy::{
    AllowedChars, Composition, Context, History, NistUse, PasswordPolicy, PolicyBuilder,
    PolicyError,
};
pub use violation::{Violation, Violations};

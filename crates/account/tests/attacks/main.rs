//! Attacker-style regression tests, one per finding of the review in issue
//! #5 (security items 1–8), each of which failed before its fix, and the
//! attacker's tests of the entry points added since (sessions, logout).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod count_first;
mod enumeration;
mod flood;
mod limits;
mod sessions;
mod takeover;

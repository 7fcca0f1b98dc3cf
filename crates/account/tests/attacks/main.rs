//! Attacker-style regression tests: each reproduces a way in that was
//! found open (a takeover through the logged-in change, user-ID
//! enumeration by answer, cost, writes or queue, burst guesses, an
//! unbounded resync window, unbounded sizes and costs, attempts counted
//! without their hash, floods) and failed before its fix; and the
//! attacker's tests of every entry point (sessions, logout, admission).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod attribution;
mod count_first;
mod enumeration;
mod flood;
mod limits;
mod sessions;
mod takeover;

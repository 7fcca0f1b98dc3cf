//! One scenario per rule of the manual (`docs/RULES.md` lists them), named
//! after the rule, grouped by the manual's sections, and one walk through
//! the whole manual.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "../common/mod.rs"]
mod common;

mod desk;
mod enrollment;
mod lockout;
mod login;
mod manual;
mod password;
mod resync;

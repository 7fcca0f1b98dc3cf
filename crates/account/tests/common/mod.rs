//! The shared fixture (`lockstep_store_tests::fixture`) over the in-memory store.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub use lockstep_store_tests::expect_ticket as ticket;
pub use lockstep_store_tests::fixture::{Fx, T, TEMP};
pub use lockstep_store_tests::{all_events, assert_counts_match_events};

/// The refusal of a reply, if it is one.
pub fn refusal(r: &lockstep_account::Reply) -> Option<&lockstep_account::Refusal> {
    r.outcome.refusal()
}

//! The conformance suite every lockstep store must pass — yours too. It
//! checks the [`AccountStore`] contract (create, compare-and-swap, token
//! bindings and revocation, a write all or nothing, attempt notes), the
//! [`AuditLog`]'s bounded pages, the login races (one valid code submitted
//! 64 times at once, 64 wrong passwords at once, one token ID enrolled by
//! two users at once), writes cut off half-way, and that every counted
//! attempt has its audit event when a step stops between any two phases or
//! its caller goes away.
//!
//! Instantiate it for a store with [`store_conformance!`], in a test file of
//! a crate that has `tokio` (with `rt-multi-thread` and `macros`) as a
//! dev-dependency:
//!
//! ```ignore
//! lockstep_store_tests::store_conformance!(async { Some(lockstep_account::MemoryStore::new()) });
//! ```
//!
//! Each generated test gets a fresh store from the expression; `None`
//! skips it (say, when the store's server is not there — print why). A
//! durable store also passes `torn: expression`, an async function of a
//! store and a user ID that starts a transaction of its own, changes that
//! user's row and adds an event, and then loses the connection without a
//! commit; the suite checks that nothing of it shows.

#![forbid(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::indexing_slicing
)]

use lockstep_account::{
    Account, AccountStore, AuditEvent, AuditLog, Cursor, EventKind, Failures, LoginTicket,
    MAX_EVENTS_PAGE, Outcome,
};

pub use tokio;

mod chain;
mod contract;
pub mod fixture;
pub mod hashers;
pub mod model;
mod races;
mod stops;

pub use chain::*;
pub use contract::*;
pub use fixture::{Fx, T, TEMP};
pub use hashers::{CountingHasher, StubHasher};
pub use races::*;
pub use stops::*;

/// What the suite asks of a store: the account store and its audit log.
pub trait Store: AccountStore + AuditLog + 'static {}

impl<S: AccountStore + AuditLog + 'static> Store for S {}

/// Generates one `#[tokio::test]` per conformance check. `$make` is a
/// future (evaluated once per test) that yields `Some(store)`, or `None`
/// when the store's server is not there (the maker prints why, and the
/// test passes without running).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr, torn: $tear:expr) => {
        $crate::store_conformance!($make);
        #[tokio::test]
        async fn conformance_a_write_cut_off_half_way_leaves_the_old_record() {
            if let Some(store) = $make.await {
                $crate::a_write_cut_off_half_way_leaves_the_old_record(
                    std::sync::Arc::new(store),
                    $tear,
                )
                .await;
            }
        }
    };
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            current_thread: create_and_load, replace_is_compare_and_swap,
                token_ids_are_unique_and_revocation_is_final, a_refused_write_writes_nothing,
                attempts_are_counted_per_user_id, audit_log_is_written_with_the_record,
                audit_events_keep_their_client,
                audit_log_pages_are_bounded, suspicious_counts_failures_by_client,
                suspicious_is_bounded,
                counts_equal_events_when_a_step_stops_between_phases;
            multi_thread: writes_dropped_half_way_leave_no_part_behind,
                concurrent_replaces_lose_no_update, race_one_valid_code_one_success,
                race_wrong_passwords_lock_at_exactly_five, race_one_token_two_users,
                audit_rows_match_the_decisions, cancelled_password_steps_hash_what_they_count
        );
    };
    (@cases $make:expr; current_thread: $($one:ident),*; multi_thread: $($many:ident),*) => {
        $(
            #[tokio::test]
            async fn $one() {
                if let Some(store) = $make.await {
                    $crate::$one(std::sync::Arc::new(store)).await;
                }
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $many() {
                if let Some(store) = $make.await {
                    $crate::$many(std::sync::Arc::new(store)).await;
                }
            }
        )*
    };
}

/// A record for `user_id` with a placeholder hash.
#[must_use]
pub fn sample(user_id: &str) -> Account {
    Account {
        user_id: user_id.into(),
        user_name: format!("{user_id} name"),
        customer_name: "Customer".into(),
        password: lockstep_account::PasswordState {
            hash: lockstep_password::PasswordHash::parse(
                "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )
            .unwrap(),
            previous: Vec::new(),
            set_at: 0,
            must_change: None,
            failures: Failures::default(),
        },
        enrollment: Failures::default(),
        token: None,
        revoked_tokens: Vec::new(),
        ticket: None,
        sessions: Vec::new(),
        version: 0,
    }
}

/// An event of `user` at `at`.
#[must_use]
pub fn event(user: &str, at: u64, kind: EventKind) -> AuditEvent {
    AuditEvent {
        at,
        user_id: user.into(),
        operator_id: None,
        client: None,
        kind,
    }
}

/// Every audit event of `user_id`, oldest first, read a page at a time.
pub async fn all_events<S: AuditLog>(store: &S, user_id: &str) -> Vec<AuditEvent> {
    let mut all = Vec::new();
    let mut from = Cursor::Oldest;
    loop {
        let page = store.events(user_id, from, MAX_EVENTS_PAGE).await.unwrap();
        let Some(last) = page.last() else {
            return all;
        };
        from = Cursor::After(last.seq);
        all.extend(page.into_iter().map(|l| l.event));
    }
}

/// The ticket in an outcome that carries one.
///
/// # Panics
/// When the outcome carries no ticket.
pub fn expect_ticket(outcome: Outcome) -> LoginTicket {
    match outcome.ticket() {
        Some(ticket) => ticket.clone(),
        None => panic!("expected a ticket, got {outcome:?}"),
    }
}

//! The in-memory store passes the store conformance suite, races included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

lockstep_store_tests::store_conformance!(async { Some(lockstep_account::MemoryStore::new()) });

//! Stored rows changed behind the store's back — an account's JSON with
//! its version column, a token seed row, an audit event row: decoding never
//! panics, and what decodes is what was meant (an account round-trips
//! through its stored form with the version column's version; a seed row
//! keeps its ID, kind and sealed bytes).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_store_sql::{decode_account, decode_event, decode_seed_row, encode_account};

#[derive(Debug, Arbitrary)]
struct Rows {
    version: i64,
    record: String,
    id: String,
    kind: String,
    sealed: Vec<u8>,
    at: i64,
    operator: Option<String>,
    client: Option<String>,
    event_kind: String,
}

/// A real record, for the fuzzer to start from and change.
const SEED_RECORD: &str = include_str!("../data/account.json");

fuzz_target!(|r: Rows| {
    for text in [r.record.as_str(), SEED_RECORD] {
        if let Ok(account) = decode_account(r.version, text) {
            assert_eq!(i64::try_from(account.version).ok(), Some(r.version));
            let stored = encode_account(&account).unwrap();
            let again = decode_account(r.version, &stored).unwrap();
            assert_eq!(again, account, "a record changed through its stored form");
            let _ = format!("{account:?}");
        }
    }
    if let Ok((id, kind, sealed)) = decode_seed_row(&r.id, &r.kind, &r.sealed) {
        assert_eq!(id.as_str(), r.id);
        assert_eq!(sealed.as_bytes(), &r.sealed[..]);
        let _ = kind;
    }
    let client = r.client.as_deref();
    if let Ok(event) = decode_event("u1".into(), r.at, r.operator.clone(), client, &r.event_kind) {
        assert_eq!(i64::try_from(event.at).ok(), Some(r.at));
        assert_eq!(event.operator_id, r.operator);
        // A client decodes only from an address, and names that address.
        if let Some(ip) = event.client {
            assert_eq!(client.map(str::parse), Some(Ok(ip)));
        }
    }
});

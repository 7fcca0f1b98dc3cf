//! The audit chain's conformance cases, for a store that keeps one
//! ([`AuditChain`]): every event linked, no fork under concurrent writers,
//! and tampering made behind the store's back found at the right row.

use std::future::Future;
use std::sync::Arc;

use lockstep_account::{EventKind, Write};
use lockstep_store_sql::chain::{AuditChain, ChainBreak};

use crate::{Store, event, sample};

/// Every event a write adds is a link of the chain, in the order written,
/// numbered without a gap; the head names the last.
pub async fn audit_chain_links_every_event<S: Store + AuditChain>(store: Arc<S>) {
    let before = store.chain_head().await.unwrap();
    store
        .write(Write::create(
            sample("chain"),
            vec![event("chain", 1, EventKind::AccountCreated)],
        ))
        .await
        .unwrap();
    store
        .write(Write::events(vec![
            event("chain", 2, EventKind::LoggedIn),
            event("other", 3, EventKind::UnknownUser),
        ]))
        .await
        .unwrap();
    let head = store.chain_head().await.unwrap();
    assert_eq!(head.seq, before.seq + 3, "three events, three links");
    let rows = store.chain_rows(before.seq, 100).await.unwrap();
    let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [before.seq + 1, before.seq + 2, before.seq + 3]);
    let mut prev = before.hash.clone();
    for row in &rows {
        let link = row.link.clone().expect("every new row is linked");
        assert_eq!(link, row.link_after(&prev), "row {} follows", row.seq);
        prev = link;
    }
    assert_eq!(head.hash, prev);
    let verified = store.verify_chain(Vec::new()).await.unwrap().unwrap();
    assert_eq!(verified.rows, head.seq + 1 - head.since);
}

/// Sixteen writers appending at once, a hundred events each (alone and
/// with records): one chain, no fork — every number once, every link
/// after the one before, the head at the last.
pub async fn audit_chain_does_not_fork_under_16_writers<S: Store + AuditChain>(store: Arc<S>) {
    let before = store.chain_head().await.unwrap();
    let writers: Vec<_> = (0..16u64)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let user = format!("writer{w}");
                store
                    .write(Write::create(
                        sample(&user),
                        vec![event(&user, 0, EventKind::AccountCreated)],
                    ))
                    .await
                    .unwrap();
                for n in 1..50 {
                    store
                        .write(Write::events(vec![
                            event(&user, n, EventKind::LoggedIn),
                            event(&user, n, EventKind::LoggedOut),
                        ]))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let head = store.chain_head().await.unwrap();
    assert_eq!(head.seq, before.seq + 16 * 99, "every event numbered once");
    let verified = store.verify_chain(Vec::new()).await.unwrap();
    assert!(verified.is_ok(), "no fork: {verified:?}");
}

/// An edit, a delete and an insert made behind the store's back (by
/// `exec`, which runs one SQL statement on the store's database) are each
/// found at their row, and undoing each verifies again.
pub async fn audit_chain_shows_tampering<S, F, Fut>(store: Arc<S>, exec: F)
where
    S: Store + AuditChain,
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    for at in 1..=10 {
        store
            .write(Write::events(vec![event(
                "victim",
                at,
                EventKind::LoggedIn,
            )]))
            .await
            .unwrap();
    }
    assert!(store.verify_chain(Vec::new()).await.unwrap().is_ok());
    let head = store.chain_head().await.unwrap();
    let row = head.seq - 5;
    let original = store.chain_rows(row - 1, 1).await.unwrap().remove(0);

    exec(format!(
        "UPDATE events SET kind = '\"LoggedOut\"' WHERE id = {row}"
    ))
    .await;
    assert_eq!(
        store.verify_chain(Vec::new()).await.unwrap(),
        Err(ChainBreak::Edited { seq: row })
    );
    exec(format!(
        "UPDATE events SET kind = '{}' WHERE id = {row}",
        original.kind
    ))
    .await;
    assert!(store.verify_chain(Vec::new()).await.unwrap().is_ok());

    exec(format!("DELETE FROM events WHERE id = {row}")).await;
    assert_eq!(
        store.verify_chain(Vec::new()).await.unwrap(),
        Err(ChainBreak::Missing { from: row, to: row })
    );
    exec(format!(
        "INSERT INTO events (id, user_id, at, kind, link) VALUES ({row}, '{}', {}, '{}', '{}')",
        original.user_id,
        original.at,
        original.kind,
        original.link.clone().unwrap()
    ))
    .await;
    assert!(store.verify_chain(Vec::new()).await.unwrap().is_ok());

    exec(format!(
        "INSERT INTO events (id, user_id, at, kind) VALUES ({}, 'victim', 11, '\"LoggedIn\"')",
        head.seq + 1
    ))
    .await;
    assert_eq!(
        store.verify_chain(Vec::new()).await.unwrap(),
        Err(ChainBreak::Inserted { seq: head.seq + 1 })
    );
    // The store writes no event after it (it would collide with or hide
    // the stray row) and says why.
    let refused = store
        .write(Write::events(vec![event(
            "victim",
            12,
            EventKind::LoggedIn,
        )]))
        .await
        .unwrap_err();
    let mut said = refused.to_string();
    let mut source = std::error::Error::source(&refused);
    while let Some(e) = source {
        said.push_str(": ");
        said.push_str(&e.to_string());
        source = e.source();
    }
    assert!(said.contains("past the chain's head"), "{said}");
    exec(format!("DELETE FROM events WHERE id = {}", head.seq + 1)).await;
    // A row numbered below 1 is never read as a link: it is found.
    exec(
        "INSERT INTO events (id, user_id, at, kind) VALUES (0, 'victim', 1, '\"LoggedIn\"')".into(),
    )
    .await;
    assert_eq!(
        store.verify_chain(Vec::new()).await.unwrap(),
        Err(ChainBreak::Numbered { id: 0 })
    );
    exec("DELETE FROM events WHERE id = 0".into()).await;
    assert!(store.verify_chain(Vec::new()).await.unwrap().is_ok());

    exec(format!("DELETE FROM events WHERE id = {}", head.seq)).await;
    assert_eq!(
        store.verify_chain(Vec::new()).await.unwrap(),
        Err(ChainBreak::Head {
            head: head.seq,
            last: head.seq - 1
        }),
        "a cut tail shows against the head"
    );
}

/// Generates the chain's conformance tests; `$make` as for
/// [`crate::store_conformance!`], `$exec` an async function of the store
/// and one SQL statement that runs it behind the store's back.
#[macro_export]
macro_rules! chain_conformance {
    ($make:expr, tamper: $exec:expr) => {
        #[tokio::test]
        async fn chain_links_every_event() {
            if let Some(store) = $make.await {
                $crate::audit_chain_links_every_event(std::sync::Arc::new(store)).await;
            }
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn chain_does_not_fork_under_16_writers() {
            if let Some(store) = $make.await {
                $crate::audit_chain_does_not_fork_under_16_writers(std::sync::Arc::new(store))
                    .await;
            }
        }
        #[tokio::test]
        async fn chain_shows_tampering() {
            if let Some(store) = $make.await {
                let store = std::sync::Arc::new(store);
                let exec = $exec;
                let target = std::sync::Arc::clone(&store);
                $crate::audit_chain_shows_tampering(store, move |sql: String| {
                    exec(std::sync::Arc::clone(&target), sql)
                })
                .await;
            }
        }
    };
}

//! The store contract, case by case (see [`lockstep_account::AccountStore`]
//! for its rules).

use std::sync::Arc;

use lockstep_account::{
    AttemptNote, Attempts, AuditLog, ClientFailures, Cursor, EventKind, Factor, MAX_EVENTS_PAGE,
    SprayFlag, StoreError, TokenBinding, TokenChange, TokenKind, TokenStatus, Write,
};
use lockstep_otp::{CredentialId, TotpParams};

use crate::{Store, all_events, event, sample};

fn binding(id: CredentialId) -> TokenBinding {
    TokenBinding {
        credential_id: id,
        kind: TokenKind::Totp(TotpParams::DEFAULT),
        drift: 0,
        last_used: 0,
        failures: lockstep_account::Failures::default(),
        bound_at: 0,
    }
}

fn bind(id: CredentialId, owner: &str) -> TokenChange {
    TokenChange::Bind {
        id,
        owner: owner.into(),
    }
}

fn note(user: &str, at: u64) -> Write {
    Write::events(vec![event(user, at, EventKind::AttemptNoted)]).with_attempt(AttemptNote {
        user_id: user.into(),
        at,
    })
}

/// Rules 1 and 2: create, load, duplicate create, a compare-and-swap of
/// nobody.
pub async fn create_and_load<S: Store>(store: Arc<S>) {
    assert_eq!(store.load("alice").await.unwrap(), None);
    let mut a = sample("alice");
    a.version = 41; // create stores version 0 whatever it is given
    store
        .write(Write::create(a.clone(), Vec::new()))
        .await
        .unwrap();
    let loaded = store.load("alice").await.unwrap().unwrap();
    assert_eq!(loaded.version, 0);
    assert_eq!(loaded.user_name, "alice name");
    assert_eq!(
        store.write(Write::create(a, Vec::new())).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store
            .write(Write::replace(sample("nobody"), 0, Vec::new()))
            .await,
        Err(StoreError::NotFound)
    );
}

/// Rule 2: a replace writes only at the expected version, and bumps it.
pub async fn replace_is_compare_and_swap<S: Store>(store: Arc<S>) {
    store
        .write(Write::create(sample("bob"), Vec::new()))
        .await
        .unwrap();
    let mut b = store.load("bob").await.unwrap().unwrap();
    b.user_name = "Bob".into();
    store
        .write(Write::replace(b.clone(), 0, Vec::new()))
        .await
        .unwrap();
    let after = store.load("bob").await.unwrap().unwrap();
    assert_eq!((after.version, after.user_name.as_str()), (1, "Bob"));
    b.user_name = "stale".into();
    assert_eq!(
        store.write(Write::replace(b, 0, Vec::new())).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        store.load("bob").await.unwrap().unwrap().user_name,
        "Bob",
        "nothing written"
    );
}

/// Rule 2's token changes: one account per token ID; a revoked ID never
/// binds again, not even to its last owner.
pub async fn token_ids_are_unique_and_revocation_is_final<S: Store>(store: Arc<S>) {
    let id = CredentialId::parse("VSST12345678").unwrap();
    for user in ["carol", "dave"] {
        store
            .write(Write::create(sample(user), Vec::new()))
            .await
            .unwrap();
    }
    assert_eq!(
        store.token_status(&id, "carol").await.unwrap(),
        TokenStatus::Free
    );
    let mut c = store.load("carol").await.unwrap().unwrap();
    c.token = Some(binding(id));
    store
        .write(Write::replace(c, 0, Vec::new()).with_token(bind(id, "carol")))
        .await
        .unwrap();
    assert_eq!(
        store.token_status(&id, "carol").await.unwrap(),
        TokenStatus::BoundTo
    );
    assert_eq!(
        store.token_status(&id, "dave").await.unwrap(),
        TokenStatus::BoundToOther
    );
    let mut d = store.load("dave").await.unwrap().unwrap();
    d.token = Some(binding(id));
    let steal = Write::replace(d.clone(), 0, Vec::new()).with_token(bind(id, "dave"));
    assert_eq!(store.write(steal).await, Err(StoreError::TokenTaken));

    // Revoke from carol: then nobody, carol included, may bind it.
    let mut c = store.load("carol").await.unwrap().unwrap();
    c.token = None;
    c.revoked_tokens.push(id);
    let revoke = TokenChange::Revoke {
        id,
        owner: "carol".into(),
    };
    store
        .write(Write::replace(c, 1, Vec::new()).with_token(revoke))
        .await
        .unwrap();
    assert_eq!(
        store.token_status(&id, "dave").await.unwrap(),
        TokenStatus::Revoked
    );
    assert_eq!(
        store.token_status(&id, "carol").await.unwrap(),
        TokenStatus::Revoked
    );
    let again = Write::replace(d.clone(), 0, Vec::new()).with_token(bind(id, "dave"));
    assert_eq!(store.write(again).await, Err(StoreError::TokenTaken));
    let c = store.load("carol").await.unwrap().unwrap();
    let back = Write::replace(c, 2, Vec::new()).with_token(bind(id, "carol"));
    assert_eq!(store.write(back).await, Err(StoreError::TokenTaken));
    // A revoke of a token another account holds is refused; one of a token
    // no row names (written before the tokens table knew it) marks it.
    let held = CredentialId::parse("VSST55556666").unwrap();
    let d2 = store.load("dave").await.unwrap().unwrap();
    let v = d2.version;
    store
        .write(Write::replace(d2, v, Vec::new()).with_token(bind(held, "dave")))
        .await
        .unwrap();
    let c = store.load("carol").await.unwrap().unwrap();
    let v = c.version;
    let not_hers = TokenChange::Revoke {
        id: held,
        owner: "carol".into(),
    };
    assert_eq!(
        store
            .write(Write::replace(c.clone(), v, Vec::new()).with_token(not_hers))
            .await,
        Err(StoreError::TokenTaken)
    );
    assert_eq!(
        store.token_status(&held, "dave").await.unwrap(),
        TokenStatus::BoundTo
    );
    let unknown = CredentialId::parse("VSST77778888").unwrap();
    let forgotten = TokenChange::Revoke {
        id: unknown,
        owner: "carol".into(),
    };
    store
        .write(Write::replace(c, v, Vec::new()).with_token(forgotten))
        .await
        .unwrap();
    assert_eq!(
        store.token_status(&unknown, "carol").await.unwrap(),
        TokenStatus::Revoked
    );
    let d = store.load("dave").await.unwrap().unwrap();
    // Another ID is fine.
    let other = CredentialId::parse("VSST87654321").unwrap();
    let mut d = d;
    let v = d.version;
    d.token = Some(binding(other));
    store
        .write(Write::replace(d, v, Vec::new()).with_token(bind(other, "dave")))
        .await
        .unwrap();
}

/// Rule 2: a write is all or nothing. A refused token change, a lost
/// compare-and-swap or a duplicate create leaves no record change, no
/// event, no attempt and no other token change of the same write.
pub async fn a_refused_write_writes_nothing<S: Store>(store: Arc<S>) {
    let (taken, free) = (
        CredentialId::parse("VSST11112222").unwrap(),
        CredentialId::parse("VSST33334444").unwrap(),
    );
    for user in ["erin", "frank"] {
        store
            .write(Write::create(sample(user), Vec::new()))
            .await
            .unwrap();
    }
    let e = store.load("erin").await.unwrap().unwrap();
    store
        .write(Write::replace(e, 0, Vec::new()).with_token(bind(taken, "erin")))
        .await
        .unwrap();
    let mut f = store.load("frank").await.unwrap().unwrap();
    f.user_name = "changed".into();
    let refused = Write::replace(f.clone(), 0, vec![event("frank", 5, EventKind::LoggedIn)])
        .with_token(bind(free, "frank"))
        .with_token(bind(taken, "frank"))
        .with_attempt(AttemptNote {
            user_id: "frank".into(),
            at: 5,
        });
    assert_eq!(store.write(refused).await, Err(StoreError::TokenTaken));
    let lost = Write::replace(f, 7, vec![event("frank", 6, EventKind::LoggedIn)])
        .with_token(bind(free, "frank"));
    assert_eq!(store.write(lost).await, Err(StoreError::Conflict));
    let dup = Write::create(
        sample("frank"),
        vec![event("frank", 7, EventKind::LoggedIn)],
    );
    assert_eq!(store.write(dup).await, Err(StoreError::AlreadyExists));
    let after = store.load("frank").await.unwrap().unwrap();
    assert_eq!((after.version, after.user_name.as_str()), (0, "frank name"));
    assert!(all_events(&*store, "frank").await.is_empty());
    assert_eq!(store.attempts("frank").await.unwrap(), Attempts::default());
    assert_eq!(
        store.token_status(&free, "frank").await.unwrap(),
        TokenStatus::Free,
        "the other bind of the refused write"
    );
}

/// Attempt notes count per user ID (any text, as typed) and keep the time
/// of the last; IDs never noted read as none; concurrent notes are all
/// counted; creating an account starts its count afresh (attempts typed
/// before the account existed are not its attempts).
pub async fn attempts_are_counted_per_user_id<S: Store>(store: Arc<S>) {
    for at in [10, 20, 30] {
        store.write(note("nobody", at)).await.unwrap();
    }
    store.write(note("ユーザー'; --", 5)).await.unwrap();
    let counted = |count, last| Attempts {
        count,
        last_at: Some(last),
    };
    assert_eq!(store.attempts("nobody").await.unwrap(), counted(3, 30));
    assert_eq!(
        store.attempts("ユーザー'; --").await.unwrap(),
        counted(1, 5)
    );
    assert_eq!(store.attempts("never").await.unwrap(), Attempts::default());
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.write(note("raced", n)).await.unwrap() })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.attempts("raced").await.unwrap().count, 16);
    store
        .write(Write::create(sample("nobody"), Vec::new()))
        .await
        .unwrap();
    assert_eq!(
        store.attempts("nobody").await.unwrap(),
        Attempts::default(),
        "the new account's attempts start afresh"
    );
    store.write(note("nobody", 40)).await.unwrap();
    assert_eq!(store.attempts("nobody").await.unwrap(), counted(1, 40));
}

/// Rule 2: events go in with the record they belong to, and nowhere else;
/// a lost compare-and-swap writes none of its events.
pub async fn audit_log_is_written_with_the_record<S: Store>(store: Arc<S>) {
    let ev = |user: &str, at| event(user, at, EventKind::LoggedIn);
    store
        .write(Write::create(sample("erin"), vec![ev("erin", 10)]))
        .await
        .unwrap();
    let mut e = store.load("erin").await.unwrap().unwrap();
    e.user_name = "Erin".into();
    store
        .write(Write::replace(
            e.clone(),
            0,
            vec![ev("erin", 20), ev("erin", 30)],
        ))
        .await
        .unwrap();
    assert_eq!(
        store
            .write(Write::replace(e, 0, vec![ev("erin", 40)]))
            .await,
        Err(StoreError::Conflict)
    );
    store
        .write(Write::events(vec![ev("erin", 50), ev("frank", 50)]))
        .await
        .unwrap();
    let all = all_events(&*store, "erin").await;
    assert_eq!(
        all.iter().map(|e| e.at).collect::<Vec<_>>(),
        [10, 20, 30, 50],
        "in order, the lost write's event absent"
    );
    assert_eq!(all_events(&*store, "frank").await.len(), 1);
}

/// An event's client address comes back as written: IPv4, IPv6, or none.
pub async fn audit_events_keep_their_client<S: Store>(store: Arc<S>) {
    let with = |at, client: Option<&str>| {
        let mut e = event("origin", at, EventKind::UnknownUser);
        e.client = client.map(|c| c.parse().unwrap());
        e
    };
    let written = vec![
        with(1, Some("203.0.113.7")),
        with(2, Some("2001:db8::5")),
        with(3, None),
        with(4, Some("::ffff:192.0.2.1")),
    ];
    store.write(Write::events(written.clone())).await.unwrap();
    assert_eq!(all_events(&*store, "origin").await, written);
}

/// Pages of the audit log, in both directions, never longer than asked
/// nor than [`MAX_EVENTS_PAGE`], and together the whole log once.
pub async fn audit_log_pages_are_bounded<S: Store>(store: Arc<S>) {
    let n = u64::try_from(MAX_EVENTS_PAGE).unwrap() + 37;
    let events: Vec<_> = (0..n)
        .map(|at| event("paged", at, EventKind::LoggedIn))
        .collect();
    store.write(Write::events(events)).await.unwrap();
    store
        .write(Write::events(vec![event("other", 0, EventKind::LoggedIn)]))
        .await
        .unwrap();
    let oldest = store
        .events("paged", Cursor::Oldest, usize::MAX)
        .await
        .unwrap();
    assert_eq!(oldest.len(), MAX_EVENTS_PAGE, "capped, whatever was asked");
    assert!(oldest.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(oldest.first().map(|l| l.event.at), Some(0));
    let newest = store.events("paged", Cursor::Newest, 10).await.unwrap();
    assert_eq!(
        newest.iter().map(|l| l.event.at).collect::<Vec<_>>(),
        (n - 10..n).rev().collect::<Vec<_>>()
    );
    let before = store
        .events("paged", Cursor::Before(newest[9].seq), 5)
        .await
        .unwrap();
    assert_eq!(
        before.iter().map(|l| l.event.at).collect::<Vec<_>>(),
        (n - 15..n - 10).rev().collect::<Vec<_>>()
    );
    let after = store
        .events("paged", Cursor::After(oldest[2].seq), 3)
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|l| l.event.at).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    let whole = all_events(&*store, "paged").await;
    assert_eq!(
        whole.iter().map(|e| e.at).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert!(
        store
            .events("nobody", Cursor::Newest, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A durable store's transaction cut off half-way — `tear` changes the
/// record and adds an event in a transaction of its own and loses its
/// connection before the commit — leaves the old record and events, and
/// the store writes on.
pub async fn a_write_cut_off_half_way_leaves_the_old_record<S, F, Fut>(store: Arc<S>, tear: F)
where
    S: Store,
    F: FnOnce(Arc<S>, &'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let fx = crate::Fx::over(Arc::clone(&store), lockstep_account::Config::default());
    fx.create("u1").await;
    let before = fx.load("u1").await;
    let events = all_events(&*store, "u1").await;
    tear(Arc::clone(&store), "u1").await;
    assert_eq!(fx.load("u1").await, before);
    assert_eq!(all_events(&*store, "u1").await, events);
    let r = fx.reset("u1", "Reset123").await;
    assert_eq!(r.outcome, lockstep_account::Outcome::Done, "{r:?}");
    assert_eq!(fx.load("u1").await.version, before.version + 1);
}

/// Whether the log holds an event `kind` for `user`.
pub async fn logged<S: AuditLog>(store: &S, user: &str, kind: &EventKind) -> bool {
    all_events(store, user)
        .await
        .iter()
        .any(|e| e.kind == *kind)
}

/// The desk's view of an attack: failed password steps in the window by
/// client, distinct user IDs and unknown IDs each, the locks set and the
/// spray flags; nothing outside the window, no other kind counted, at
/// most `limit` clients, most distinct IDs first.
pub async fn suspicious_counts_failures_by_client<S: Store>(store: Arc<S>) {
    let at = |user: &str, at, client: Option<&str>, kind| {
        let mut e = event(user, at, kind);
        e.client = client.map(|c| c.parse().unwrap());
        e
    };
    let a = Some("203.0.113.1");
    let b = Some("2001:db8::7");
    let failed = || EventKind::PasswordFailed { failures: 1 };
    let mut events = vec![
        at("u1", 100, a, failed()),
        at("u2", 101, a, failed()),
        at("u3", 102, a, failed()),
        at("x1", 103, a, EventKind::UnknownUser),
        at("x2", 104, a, EventKind::UnknownUser),
        at("u1", 105, a, EventKind::PasswordAccepted),
        at("u1", 100, b, failed()),
        at("u1", 110, b, failed()),
        at("y", 100, None, EventKind::UnknownUser),
        at("u9", 59, Some("192.0.2.9"), failed()),
        at("u9", 200, Some("192.0.2.9"), failed()),
        at(
            "u1",
            150,
            None,
            EventKind::Locked {
                factor: Factor::Password,
            },
        ),
        at(
            "u1",
            10,
            None,
            EventKind::Locked {
                factor: Factor::Otp,
            },
        ),
        at(
            "",
            120,
            a,
            EventKind::SprayFlagged {
                distinct_ids: 21,
                window_secs: 600,
            },
        ),
    ];
    events.push(at(
        "u2",
        130,
        b,
        EventKind::LockedAttempt {
            factor: Factor::Password,
        },
    ));
    store.write(Write::events(events)).await.unwrap();

    let seen = store.suspicious(60, 200, 10).await.unwrap();
    let client = |c: Option<&str>| c.map(|c| c.parse().unwrap());
    assert_eq!(
        seen.clients,
        [
            ClientFailures {
                client: client(a),
                failures: 5,
                distinct_ids: 5,
                unknown_ids: 2
            },
            ClientFailures {
                client: client(b),
                failures: 2,
                distinct_ids: 1,
                unknown_ids: 0
            },
            ClientFailures {
                client: None,
                failures: 1,
                distinct_ids: 1,
                unknown_ids: 1
            },
        ]
    );
    assert_eq!((seen.failures, seen.unknown_ids, seen.locks_set), (8, 3, 1));
    assert_eq!(
        seen.flags,
        [SprayFlag {
            at: 120,
            client: client(a),
            distinct_ids: 21
        }]
    );
    assert!(!seen.truncated);
    let top = store.suspicious(60, 200, 2).await.unwrap();
    assert_eq!(top.clients, seen.clients[..2]);
    assert_eq!(top.failures, 8, "the totals are of the whole window");
    let empty = store.suspicious(300, 400, 10).await.unwrap();
    assert_eq!(empty, lockstep_account::Suspicious::default());
}

/// [`AuditLog::suspicious`] counts at most the newest
/// [`lockstep_account::MAX_SUSPICIOUS_SCAN`] failures of a window and says
/// when there were more; exactly that many is not "more".
pub async fn suspicious_is_bounded<S: Store>(store: Arc<S>) {
    let bound = lockstep_account::MAX_SUSPICIOUS_SCAN as u64;
    let failed = |n: u64| {
        let mut e = event(&format!("u{}", n % 7), 1_000 + n, EventKind::UnknownUser);
        e.client = Some("198.51.100.1".parse().unwrap());
        e
    };
    store
        .write(Write::events((0..bound).map(failed).collect()))
        .await
        .unwrap();
    let seen = store.suspicious(0, u64::MAX / 2, 10).await.unwrap();
    assert_eq!((seen.failures, seen.truncated), (bound, false));
    store
        .write(Write::events(vec![failed(bound)]))
        .await
        .unwrap();
    let seen = store.suspicious(0, u64::MAX / 2, 10).await.unwrap();
    assert_eq!((seen.failures, seen.truncated), (bound, true));
    assert_eq!(seen.unknown_ids, bound);
    assert_eq!(seen.clients[0].failures, bound);
}

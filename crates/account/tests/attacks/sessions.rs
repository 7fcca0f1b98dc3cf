//! Sessions and logout as an attacker uses them: racing logouts, stale and
//! made-up tokens, logout as a way to write.

use std::sync::Arc;

use crate::common::{Fx, all_events};
use lockstep_account::{EventKind, SessionToken};

/// Eight logouts of one session at once (a double-click, a replayed
/// request): exactly one ends it and one `LoggedOut` is written; the
/// other session stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_logouts_of_one_session_end_it_once() {
    let fx = Arc::new(Fx::new());
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let target = fx.session("u1", "Newpass1", &totp).await;
    fx.clock.advance(30);
    let other = fx.session("u1", "Newpass1", &totp).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (fx, token) = (Arc::clone(&fx), target.token.clone());
        racers.push(tokio::spawn(
            async move { fx.auth.logout("u1", &token).await },
        ));
    }
    let mut ended = 0;
    for r in racers {
        ended += usize::from(r.await.unwrap().unwrap());
    }
    assert_eq!(ended, 1, "one logout ends the session");
    let events = all_events(&*fx.store, "u1").await;
    let logouts = events
        .iter()
        .filter(|e| e.kind == EventKind::LoggedOut)
        .count();
    assert_eq!(logouts, 1, "one LoggedOut event");
    assert!(
        fx.auth
            .session("u1", &target.token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(fx.auth.session("u1", &other.token).await.unwrap().is_some());
}

/// Logout is no way to write: an expired session, a made-up token and an
/// unknown user ID change nothing and leave no event.
#[tokio::test]
async fn logout_with_a_token_that_opens_nothing_writes_nothing() {
    let fx = Fx::new();
    let (_, totp) = fx.ready("u1", 1, "Newpass1").await;
    let s = fx.session("u1", "Newpass1", &totp).await;
    fx.clock
        .advance(u64::from(lockstep_account::Config::default().session_ttl_seconds()) + 1);
    let before = fx.load("u1").await;
    let events = all_events(&*fx.store, "u1").await.len();
    assert!(!fx.auth.logout("u1", &s.token).await.unwrap(), "expired");
    let made_up = SessionToken::from_bytes([0x42; 16]);
    assert!(!fx.auth.logout("u1", &made_up).await.unwrap(), "made up");
    assert!(
        !fx.auth.logout("nobody", &s.token).await.unwrap(),
        "unknown ID"
    );
    assert_eq!(
        fx.load("u1").await.version,
        before.version,
        "nothing written"
    );
    assert_eq!(all_events(&*fx.store, "u1").await.len(), events, "no event");
    assert!(all_events(&*fx.store, "nobody").await.is_empty());
}

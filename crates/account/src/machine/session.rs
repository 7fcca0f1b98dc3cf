//! Sessions after a completed login (R-ACC-1): whether one is open — every
//! authenticated request of a service asks — and logout.

use crate::event::{AuditEvent, EventKind, Session};
use crate::record::{Account, SessionRecord, SessionToken};

/// The stored session `token` opens at `now`, if any.
fn open<'a>(account: &'a Account, token: &SessionToken, now: u64) -> Option<&'a SessionRecord> {
    account.sessions.iter().find(|s| {
        let live = now <= s.expires_at;
        // Both tests always run: the digest comparison is constant time.
        live & token.matches(&s.digest)
    })
}

/// The session `token` opens on `account` at `now`, with what the initial
/// screen shows (R-ACC-1); `None` when the token names no session, or one
/// that expired or was ended (logout, a lock, a reset, a revoke, a password
/// change).
#[must_use]
pub fn session(account: &Account, token: &SessionToken, now: u64) -> Option<Session> {
    open(account, token, now).map(|s| Session {
        customer_name: account.customer_name.clone(),
        user_id: account.user_id.clone(),
        user_name: account.user_name.clone(),
        token: token.clone(),
        expires_at: s.expires_at,
    })
}

/// Logout: `account` without the session `token` opens at `now`, and the
/// audit event ([`EventKind::LoggedOut`]) to write with it; `None` when the
/// token opens no session (nothing to write). Other sessions stay open.
#[must_use]
pub fn logout(account: &Account, token: &SessionToken, now: u64) -> Option<(Account, AuditEvent)> {
    let ended = open(account, token, now)?.digest;
    let mut after = account.clone();
    after.sessions.retain(|s| s.digest != ended);
    let event = AuditEvent {
        at: now,
        user_id: account.user_id.clone(),
        operator_id: None,
        kind: EventKind::LoggedOut,
    };
    Some((after, event))
}

//! Sessions after a completed login (R-ACC-1): the one test of whether a
//! session is open — the session check of every authenticated page,
//! logout and the voluntary change's gate all use it — and logout.

use subtle::ConstantTimeEq;

use crate::event::{AuditEvent, EventKind, UserSession};
use crate::record::{Account, SessionRecord, SessionToken};

/// The stored session `token` opens at `now`, if any. Every stored session
/// is compared, in constant time, with no early exit: how long it takes
/// says nothing of which one matched, or whether one did.
pub(super) fn open<'a>(
    account: &'a Account,
    token: &SessionToken,
    now: u64,
) -> Option<&'a SessionRecord> {
    let digest = token.digest();
    account.sessions.iter().fold(None, |found, s| {
        let live = subtle::Choice::from(u8::from(now <= s.expires_at));
        let hit: bool = (live & digest.ct_eq(&s.digest)).into();
        found.or(hit.then_some(s))
    })
}

/// The session `token` opens on `account` at `now`, with what the initial
/// screen shows (R-ACC-1); `None` when the token names no session, or one
/// that expired or was ended (logout, a lock, a reset, a revoke, a password
/// change).
pub(super) fn check(account: &Account, token: &SessionToken, now: u64) -> Option<UserSession> {
    open(account, token, now).map(|s| UserSession {
        customer_name: account.customer_name.clone(),
        user_id: account.user_id.clone(),
        user_name: account.user_name.clone(),
        token: token.clone(),
        expires_at: s.expires_at,
    })
}

/// Logout: `account` without the session `token` opens at `now`, and its
/// audit event ([`EventKind::LoggedOut`]); `None` when the token opens no
/// session (nothing to write). Other sessions stay open.
pub(super) fn logout(
    account: &Account,
    token: &SessionToken,
    now: u64,
    client: Option<core::net::IpAddr>,
) -> Option<(Account, AuditEvent)> {
    let ended = open(account, token, now)?.digest;
    let mut after = account.clone();
    after.sessions.retain(|s| s.digest != ended);
    let event = AuditEvent {
        at: now,
        user_id: account.user_id.clone(),
        operator_id: None,
        client,
        kind: EventKind::LoggedOut,
    };
    Some((after, event))
}

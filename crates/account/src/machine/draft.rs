//! One decision in progress on a loaded record: the record being changed,
//! the audit trail, and the helpers every stage shares (tickets, sessions,
//! voiding, failure counting).

use crate::config::Config;
use crate::event::{AuditEvent, EventKind, Factor, Outcome, Refusal, UserSession};
use crate::record::{
    Account, LoginTicket, MustChange, PendingTicket, SessionRecord, SessionToken, Stage,
};
use crate::write::TokenChange;

use super::{Deps, Facts, Input, session};

/// A decision in progress.
pub(super) struct Draft<'e, 'a> {
    pub(super) acc: Account,
    pub(super) deps: &'e Deps<'a>,
    pub(super) facts: &'e Facts,
    pub(super) events: Vec<AuditEvent>,
    pub(super) tokens: Vec<TokenChange>,
    operator: Option<String>,
}

/// A finished decision: the record if it changed, the answer, what to
/// write with it.
pub(super) struct Drafted {
    pub(super) account: Option<Account>,
    pub(super) outcome: Outcome,
    pub(super) events: Vec<AuditEvent>,
    pub(super) tokens: Vec<TokenChange>,
}

impl<'e, 'a> Draft<'e, 'a> {
    pub(super) fn new(
        account: &Account,
        input: &Input<'_>,
        deps: &'e Deps<'a>,
        facts: &'e Facts,
    ) -> Self {
        Self {
            acc: account.clone(),
            deps,
            facts,
            events: Vec::new(),
            tokens: Vec::new(),
            operator: input.operator().map(super::bounded),
        }
    }

    pub(super) fn config(&self) -> &Config {
        self.deps.config
    }

    pub(super) fn event(&mut self, kind: EventKind) {
        self.events.push(AuditEvent {
            at: self.facts.now,
            user_id: self.acc.user_id.clone(),
            operator_id: self.operator.clone(),
            client: self.facts.client,
            kind,
        });
    }

    /// Closes the decision: every decision leaves a trace (refusals without
    /// an event of their own are recorded by their reason); the record is
    /// kept only if it changed; a refusal says whether what `input`
    /// presented still opens its stage.
    pub(super) fn finish(
        mut self,
        before: &Account,
        input: &Input<'_>,
        outcome: Outcome,
    ) -> Drafted {
        if self.events.is_empty() {
            let reason = outcome.refusal().map_or("none", Refusal::code);
            self.event(EventKind::Refused {
                reason: reason.to_owned(),
            });
        }
        let outcome = match outcome {
            Outcome::Refused {
                refusal, token_id, ..
            } => Outcome::Refused {
                refusal,
                token_id,
                stage_open: self.still_open(input),
            },
            other => other,
        };
        let changed = self.acc != *before;
        Drafted {
            account: changed.then_some(self.acc),
            outcome,
            events: self.events,
            tokens: self.tokens,
        }
    }

    /// Whether the ticket or session `input` presented still opens its
    /// stage on the record as drafted.
    fn still_open(&self, input: &Input<'_>) -> bool {
        let now = self.facts.now;
        match *input {
            Input::Otp { ticket, .. } | Input::Resync { ticket, .. } => {
                super::ticket_opens(&self.acc, ticket, Stage::Otp, now)
            }
            Input::Enroll { ticket, .. } => {
                super::ticket_opens(&self.acc, ticket, Stage::Enroll, now)
            }
            Input::ChangePassword { ticket, .. } => {
                super::ticket_opens(&self.acc, ticket, Stage::ChangePassword, now)
            }
            Input::ChangePasswordLoggedIn { session, .. } => {
                session::open(&self.acc, session, now).is_some()
            }
            _ => false,
        }
    }

    /// A fresh ticket for `stage`, replacing any pending one.
    pub(super) fn issue_ticket(&mut self, stage: Stage) -> LoginTicket {
        let ticket = LoginTicket::from_bytes(self.facts.ticket_random);
        self.acc.ticket = Some(PendingTicket {
            digest: ticket.digest(),
            stage,
            expires_at: self
                .facts
                .now
                .saturating_add(u64::from(self.config().ticket_ttl_seconds)),
        });
        ticket
    }

    /// A ticket or session that opens nothing: refused, not counted.
    pub(super) fn ticket_rejected(&mut self) -> Outcome {
        self.event(EventKind::TicketRejected);
        Outcome::refused(Refusal::InvalidTicket)
    }

    /// Ends the pending login and every session: a lock, a reset, a revoke
    /// or a password change.
    pub(super) fn void_logins(&mut self) {
        self.acc.ticket = None;
        self.acc.sessions.clear();
    }

    /// Counts a failure of `factor` on `failures` (the password's, a
    /// token's or enrollment's), with its event; the Nth locks, with its
    /// event, and ends the pending login and every session (R-LCK-1,
    /// R-LCK-2). The one place failures are counted. `true`: it locked.
    pub(super) fn count_failure(
        &mut self,
        factor: Factor,
        event: impl FnOnce(u32) -> EventKind,
    ) -> bool {
        let cap = match factor {
            Factor::Password => self.config().password_lock_after,
            Factor::Otp => self.config().otp_lock_after,
        };
        let failures = match factor {
            Factor::Password => &mut self.acc.password.failures,
            Factor::Otp => match self.acc.token.as_mut() {
                Some(t) => &mut t.failures,
                None => &mut self.acc.enrollment,
            },
        };
        let (count, locks) = failures.count_one(cap);
        self.event(event(count));
        if locks {
            self.void_logins();
        }
        locks
    }

    /// A completed login: the pending ticket ends and a new session opens
    /// (the oldest ends beyond [`Config::MAX_SESSIONS`]; expired ones are
    /// dropped).
    pub(super) fn open_session(&mut self) -> UserSession {
        let now = self.facts.now;
        self.acc.ticket = None;
        self.acc.sessions.retain(|s| now <= s.expires_at);
        while self.acc.sessions.len() >= Config::MAX_SESSIONS {
            self.acc.sessions.remove(0);
        }
        let token = SessionToken::from_bytes(self.facts.ticket_random);
        let expires_at = now.saturating_add(u64::from(self.config().session_ttl_seconds));
        self.acc.sessions.push(SessionRecord {
            digest: token.digest(),
            expires_at,
        });
        UserSession {
            customer_name: self.acc.customer_name.clone(),
            user_id: self.acc.user_id.clone(),
            user_name: self.acc.user_name.clone(),
            token,
            expires_at,
        }
    }

    /// Whether the temporary password has passed an opt-in expiry.
    pub(super) fn temporary_expired(&self) -> bool {
        let p = &self.acc.password;
        let temporary = matches!(
            p.must_change,
            Some(MustChange::FirstLogin | MustChange::Reset)
        );
        temporary
            && self
                .config()
                .temporary_password_days
                .is_some_and(|days| self.config().expired(p.set_at, days, self.facts.now))
    }

    /// An attempt on a locked factor: refused without evaluation, not
    /// counted (semantics 1), with its event.
    pub(super) fn locked_attempt(&mut self, factor: Factor) {
        self.event(EventKind::LockedAttempt { factor });
    }
}

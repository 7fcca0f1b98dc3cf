//! One decision in progress: the record being changed, the audit trail,
//! and the helpers every stage shares (tickets, sessions, voiding).

use crate::config::Config;
use crate::event::{AuditEvent, EventKind, Outcome, Refusal, Session};
use crate::record::{
    Account, LoginTicket, MustChange, PendingTicket, SessionRecord, SessionToken, Stage,
};

use super::{Decision, Deps, Facts, ticket_ok};

/// One decision in progress.
pub(super) struct Run<'e, 'a> {
    pub(super) acc: Account,
    pub(super) deps: &'e Deps<'a>,
    pub(super) facts: Facts,
    pub(super) events: Vec<AuditEvent>,
    pub(super) operator: Option<String>,
}

impl<'e, 'a> Run<'e, 'a> {
    pub(super) fn new(account: &Account, deps: &'e Deps<'a>, facts: &Facts) -> Self {
        Self {
            acc: account.clone(),
            deps,
            facts: *facts,
            events: Vec::new(),
            operator: None,
        }
    }

    /// Closes the run: every decision leaves a trace (refusals without an
    /// event of their own are recorded by their reason), and the record is
    /// returned only if it changed.
    pub(super) fn done(mut self, before: &Account, outcome: Outcome) -> Decision {
        if self.events.is_empty() {
            let reason = outcome.refusal().map_or("none", Refusal::code);
            self.event(EventKind::Refused {
                reason: reason.to_owned(),
            });
        }
        let changed = self.acc != *before;
        Decision {
            account: changed.then_some(self.acc),
            outcome,
            events: self.events,
        }
    }

    pub(super) fn event(&mut self, kind: EventKind) {
        self.events.push(AuditEvent {
            at: self.facts.now,
            user_id: self.acc.user_id.clone(),
            operator_id: self.operator.clone(),
            kind,
        });
    }

    pub(super) fn config(&self) -> &Config {
        self.deps.config
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

    pub(super) fn ticket_ok(&self, ticket: &LoginTicket, stage: Stage) -> bool {
        ticket_ok(&self.acc, ticket, stage, self.facts.now)
    }

    pub(super) fn ticket_rejected(&mut self) -> Outcome {
        self.event(EventKind::TicketRejected);
        Outcome::Refused(Refusal::InvalidTicket)
    }

    /// Ends the pending login and every session: a lock, a reset, a revoke
    /// or a password change.
    pub(super) fn void_logins(&mut self) {
        self.acc.ticket = None;
        self.acc.sessions.clear();
    }

    /// Whether `token` is an open session of this account.
    pub(super) fn session_ok(&self, token: &SessionToken) -> bool {
        let now = self.facts.now;
        // Every stored session is compared (no early exit).
        self.acc.sessions.iter().fold(false, |found, s| {
            found | (now <= s.expires_at && token.matches(&s.digest))
        })
    }

    /// A completed login: the pending ticket ends and a new session opens
    /// (the oldest ends beyond [`Config::MAX_SESSIONS`]; expired ones are
    /// dropped).
    pub(super) fn open_session(&mut self) -> Session {
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
        Session {
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
}

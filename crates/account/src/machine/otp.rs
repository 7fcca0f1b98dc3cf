//! The OTP stage: login with one code (R-LOG-2, R-LOG-3, R-TOK-3), token
//! enrollment (R-ENR-2, R-ENR-3, R-ENR-4, R-ENR-5, R-ENR-6, R-TOK-1,
//! R-TOK-2) and resync (R-SYN-1, R-SYN-2, R-SYN-3), with the OTP lock
//! (R-LCK-2, R-LCK-3). The ticket was checked before any of this runs (in
//! the flow's gate, the one place tickets are checked).
//!
//! Everything here belongs to the token: its replay guard (`last_used`),
//! its drift and its failure counter. A login never moves the drift; only
//! enrollment and resync set it.

use lockstep_otp::{
    Code, CodeError, CredentialId, CredentialIdError, Error as OtpError, Secret, Totp, TotpParams,
    Window,
};

use super::{CodeInput, Draft};
use crate::event::{EventKind, Factor, Outcome, Refusal};
use crate::record::{Failures, MustChange, Stage, TokenBinding};
use crate::token::{Generator, TokenKind, TokenSeed, TokenStatus};
use crate::write::TokenChange;

/// Where a pair of codes is looked for.
#[derive(Clone, Copy)]
enum PairSearch {
    /// Enrollment: OTP2 must be current at drift 0 (R-ENR-3), nothing used yet.
    Enroll,
    /// Resync: around the stored drift, above the token's last used step.
    Resync { drift: i64, last_used: u64 },
}

/// Parses two codes of the token's length; the first error wins.
fn parse_pair(
    otp1: CodeInput<'_>,
    otp2: CodeInput<'_>,
    kind: TokenKind,
) -> Result<(Code, Code), CodeError> {
    Ok((otp1.parse(kind.digits())?, otp2.parse(kind.digits())?))
}

/// A seed no token has, searched in place of an enrollment's unusable
/// token ID so that an unknown ID costs what a known one does.
fn stand_in(kind: Option<TokenKind>) -> Option<TokenSeed> {
    let secret = Secret::from_bytes(&[0x5a; 20]).ok()?;
    Some(TokenSeed {
        secret,
        kind: kind.unwrap_or(TokenKind::Totp(TotpParams::DEFAULT)),
    })
}

impl Draft<'_, '_> {
    /// The window for the code a login expects at `now` (R-TOK-3): the
    /// current step, `ahead` more, and the previous one only within the
    /// grace after the boundary.
    fn acceptance_window(&self, totp: &Totp) -> Window {
        let period = totp.params().period.seconds();
        let left = totp.seconds_left(self.facts.now).unwrap_or(period);
        self.config().acceptance.window(period.saturating_sub(left))
    }

    /// Counts an OTP failure against the bound token, or the enrollment
    /// counter when none is bound (R-ENR-5, R-LCK-2); the Nth locks. The
    /// refusal names the token (R-LOG-2).
    fn otp_failure(&mut self, kind: fn(u32) -> EventKind, refusal: Refusal) -> Outcome {
        let token_id = self.acc.token.as_ref().map(|t| t.credential_id);
        let refusal = if self.count_failure(Factor::Otp, kind) {
            self.event(EventKind::Locked {
                factor: Factor::Otp,
            });
            Refusal::TokenLocked
        } else {
            refusal
        };
        Outcome::Refused {
            refusal,
            token_id,
            stage_open: false,
        }
    }

    /// The checks every input on a bound token shares: a bound token, not
    /// locked (a locked factor is neither evaluated nor counted), and its
    /// seed. `Err` is the refusal.
    fn bound_token<'s>(
        &mut self,
        seed: Option<&'s TokenSeed>,
    ) -> Result<(TokenBinding, &'s TokenSeed), Outcome> {
        // The OTP stage is opened only with a token bound; revoke voids it.
        let Some(binding) = self.acc.token.clone() else {
            return Err(self.ticket_rejected());
        };
        let token_id = Some(binding.credential_id);
        if binding.failures.locked {
            self.locked_attempt(Factor::Otp);
            return Err(Outcome::Refused {
                refusal: Refusal::TokenLocked,
                token_id,
                stage_open: false,
            });
        }
        match seed {
            Some(seed) if seed.kind == binding.kind => Ok((binding, seed)),
            // The directory lost the token or changed its kind: a fault of
            // the service, not of the user; not counted.
            _ => Err(Outcome::Refused {
                refusal: Refusal::TokenUnavailable,
                token_id,
                stage_open: false,
            }),
        }
    }

    /// One code at login (R-LOG-3, R-TOK-3). The drift is not touched.
    pub(super) fn otp(&mut self, typed: CodeInput<'_>, seed: Option<&TokenSeed>) -> Outcome {
        let (binding, seed) = match self.bound_token(seed) {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let uncounted = |refusal| Outcome::Refused {
            refusal,
            token_id: Some(binding.credential_id),
            stage_open: false,
        };
        if !self.config().drift_within_bound(binding.drift) {
            // The bound was lowered below this token's drift: a resync
            // must come first; valid codes are not failures.
            return uncounted(Refusal::ResyncRequired);
        }
        let code = match typed.parse(binding.kind.digits()) {
            Ok(code) => code,
            Err(e) => return uncounted(Refusal::MalformedCode(e)),
        };
        let limits = self.config().otp_limits();
        let verified = match seed.generator() {
            Generator::Totp(totp) => {
                let totp = totp.with_limits(limits);
                let window = self.acceptance_window(&totp);
                totp.verify(
                    &code,
                    self.facts.now,
                    window,
                    binding.drift,
                    Some(binding.last_used),
                )
                .map(|v| v.step)
            }
            Generator::Hotp(hotp) => {
                let next = binding.last_used.saturating_add(1);
                hotp.with_limits(limits)
                    .verify(&code, next, self.config().hotp_look_ahead)
                    .map(|after| after.saturating_sub(1))
            }
        };
        match verified {
            Ok(step) => {
                if let Some(t) = self.acc.token.as_mut() {
                    t.last_used = step;
                    t.failures = Failures::default();
                }
                self.event(EventKind::OtpAccepted {
                    step,
                    drift: binding.drift,
                });
                self.after_both_factors()
            }
            Err(OtpError::Replay { .. }) => self.otp_failure(
                |failures| EventKind::OtpReplayed { failures },
                Refusal::InvalidCode,
            ),
            Err(OtpError::NoMatch) => self.otp_failure(
                |failures| EventKind::OtpFailed { failures },
                Refusal::InvalidCode,
            ),
            // A fault of the token's parameters or the service's clock
            // (time before T0, a counter at its end), not the user's guess:
            // not counted.
            Err(_) => uncounted(Refusal::TokenUnavailable),
        }
    }

    /// After a valid OTP: a required password change (R-LOG-4, R-PWD-6), or
    /// logged in with a session (R-ACC-1).
    fn after_both_factors(&mut self) -> Outcome {
        let p = &self.acc.password;
        let c = self.config();
        let expired = c.expired(p.set_at, c.password_max_age_days, self.facts.now);
        match p.must_change.or(expired.then_some(MustChange::Expired)) {
            Some(reason) => {
                self.event(EventKind::PasswordChangeRequired { reason });
                Outcome::PasswordChangeRequired {
                    ticket: self.issue_ticket(Stage::ChangePassword),
                    reason,
                }
            }
            None => {
                self.event(EventKind::LoggedIn);
                Outcome::LoggedIn(self.open_session())
            }
        }
    }

    /// Two consecutive codes of `seed` (R-ENR-3, R-SYN-2): the second one's
    /// step (or counter) and the drift it implies, or why not.
    fn verify_pair(
        &self,
        seed: &TokenSeed,
        first: &Code,
        second: &Code,
        search: PairSearch,
    ) -> Result<(u64, i64), OtpError> {
        let c = self.config();
        let limits = c.otp_limits();
        match seed.generator() {
            Generator::Totp(totp) => {
                let totp = totp.with_limits(limits);
                let (window, drift, last_used) = match search {
                    PairSearch::Enroll => {
                        // OTP2 within the login's acceptance at drift 0; the
                        // scan starts one step earlier for OTP1 (R-ENR-3).
                        let w = self.acceptance_window(&totp);
                        (Window::new(w.behind.saturating_add(1), w.ahead), 0, None)
                    }
                    PairSearch::Resync { drift, last_used } => {
                        // OTP2 within ±window of the stored drift; the scan
                        // starts one step earlier for OTP1.
                        let w = c.resync_window;
                        (
                            Window::new(w.saturating_add(1), w),
                            c.bounded_drift(drift),
                            Some(last_used),
                        )
                    }
                };
                totp.resync_around(first, second, self.facts.now, window, drift, last_used)
                    .map(|r| (r.step, r.drift))
            }
            Generator::Hotp(hotp) => {
                let next = match search {
                    PairSearch::Enroll => 0,
                    PairSearch::Resync { last_used, .. } => last_used.saturating_add(1),
                };
                hotp.with_limits(limits)
                    .resync(first, second, next, c.hotp_resync_look_ahead)
                    .map(|after| (after.saturating_sub(1), 0))
            }
        }
    }

    /// Token registration (R-ENR-2, R-ENR-3, R-ENR-5, R-ENR-6, R-TOK-1,
    /// R-TOK-2): every failure counts against the enrollment counter. A
    /// token ID that cannot be registered (unknown to the directory, bound,
    /// ever revoked — the store's status decides) answers like wrong codes,
    /// after the same search, so that enrollment is no way to learn which
    /// token IDs exist.
    pub(super) fn enroll(
        &mut self,
        typed_id: Result<CredentialId, CredentialIdError>,
        otp1: CodeInput<'_>,
        otp2: CodeInput<'_>,
        seed: Option<&TokenSeed>,
        status: TokenStatus,
    ) -> Outcome {
        if self.acc.token.is_some() {
            // R-TOK-1: one token; the Enroll stage is never opened with one
            // bound, so this is a race with another enrollment, which
            // finished the stage: its ticket ends here.
            self.acc.ticket = None;
            return Outcome::refused(Refusal::AlreadyEnrolled);
        }
        if self.acc.enrollment.locked {
            self.locked_attempt(Factor::Otp);
            return Outcome::refused(Refusal::TokenLocked);
        }
        let failed = |failures| EventKind::EnrollmentFailed { failures };
        let id = match typed_id {
            Ok(id) => id,
            Err(e) => return self.otp_failure(failed, Refusal::MalformedTokenId(e)),
        };
        let usable = seed.filter(|_| status == TokenStatus::Free);
        let searched = match usable {
            Some(seed) => Some(seed.clone()),
            None => stand_in(seed.map(|s| s.kind)),
        };
        let Some(searched) = searched else {
            return self.otp_failure(failed, Refusal::EnrollmentFailed);
        };
        // R-ENR-5: a failure of any kind counts, a malformed code included.
        let Ok((first, second)) = parse_pair(otp1, otp2, searched.kind) else {
            return self.otp_failure(failed, Refusal::EnrollmentFailed);
        };
        let found = self.verify_pair(&searched, &first, &second, PairSearch::Enroll);
        match (found, usable) {
            (Ok((step, drift)), Some(seed)) => {
                // Both codes are consumed: the second's step is the last
                // used (R-ENR-4). The new token starts with its own counter.
                self.acc.enrollment = Failures::default();
                self.acc.token = Some(TokenBinding {
                    credential_id: id,
                    kind: seed.kind,
                    drift,
                    last_used: step,
                    failures: Failures::default(),
                    bound_at: self.facts.now,
                });
                self.tokens.push(TokenChange::Bind {
                    id,
                    owner: self.acc.user_id.clone(),
                });
                self.event(EventKind::Enrolled {
                    token_id: id,
                    drift,
                });
                Outcome::Enrolled {
                    ticket: self.issue_ticket(Stage::Otp),
                    token_id: id,
                }
            }
            _ => self.otp_failure(failed, Refusal::EnrollmentFailed),
        }
    }

    /// Drift correction from the OTP stage (R-SYN-2, R-SYN-3): two
    /// consecutive fresh codes around the stored drift; the drift found is
    /// adopted and both codes are consumed.
    pub(super) fn resync(
        &mut self,
        otp1: CodeInput<'_>,
        otp2: CodeInput<'_>,
        seed: Option<&TokenSeed>,
    ) -> Outcome {
        let (binding, seed) = match self.bound_token(seed) {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let token_id = binding.credential_id;
        let (first, second) = match parse_pair(otp1, otp2, binding.kind) {
            Ok(pair) => pair,
            Err(e) => {
                return Outcome::Refused {
                    refusal: Refusal::MalformedCode(e),
                    token_id: Some(token_id),
                    stage_open: false,
                };
            }
        };
        let search = PairSearch::Resync {
            drift: binding.drift,
            last_used: binding.last_used,
        };
        match self.verify_pair(seed, &first, &second, search) {
            Ok((step, drift)) => {
                if let Some(t) = self.acc.token.as_mut() {
                    t.last_used = step;
                    t.drift = drift;
                    t.failures = Failures::default();
                }
                self.event(EventKind::Resynced { token_id, drift });
                Outcome::Resynced {
                    ticket: self.issue_ticket(Stage::Otp),
                    token_id,
                }
            }
            Err(_) => self.otp_failure(
                |failures| EventKind::ResyncFailed { failures },
                Refusal::ResyncFailed,
            ),
        }
    }
}

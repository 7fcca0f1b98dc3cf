//! What the driver takes (a code as text or parsed) and gives (a response).

use core::fmt;

use lockstep_otp::Code;
use zeroize::Zeroizing;

use crate::event::{AuditEvent, Outcome, Refusal};
use crate::machine::Decision;

/// A one-time password as the driver takes it: the text as typed, or a
/// code already parsed by the OTP engine. `Debug` shows neither.
#[derive(Clone, Copy)]
pub enum CodeInput<'a> {
    /// As typed (checked against the token's length and digits).
    Text(&'a str),
    /// Parsed already.
    Code(&'a Code),
}

impl CodeInput<'_> {
    pub(crate) fn text(self) -> Zeroizing<String> {
        Zeroizing::new(match self {
            Self::Text(t) => t.to_owned(),
            Self::Code(c) => c.expose().to_string(),
        })
    }
}

impl fmt::Debug for CodeInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeInput(..)")
    }
}

impl<'a> From<&'a str> for CodeInput<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a String> for CodeInput<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a Code> for CodeInput<'a> {
    fn from(code: &'a Code) -> Self {
        Self::Code(code)
    }
}

/// The answer to one request: the outcome and its audit events.
#[derive(Debug)]
pub struct Response {
    /// For the caller.
    pub outcome: Outcome,
    /// For the audit log.
    pub events: Vec<AuditEvent>,
}

impl Response {
    /// The refusal, if the outcome is one.
    #[must_use]
    pub const fn refusal(&self) -> Option<&Refusal> {
        self.outcome.refusal()
    }
}

impl From<Decision> for Response {
    fn from(d: Decision) -> Self {
        Self {
            outcome: d.outcome,
            events: d.events,
        }
    }
}

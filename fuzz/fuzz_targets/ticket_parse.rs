//! Ticket and session-token parsing on any string: never panics; accepts
//! exactly 32 lower-case hex digits, and what it accepts formats back to
//! the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_account::{LoginTicket, SessionToken};

fuzz_target!(|text: &str| {
    let canonical = text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ticket = LoginTicket::parse_hex(text);
    let session = SessionToken::parse_hex(text);
    assert_eq!(ticket.is_some(), canonical, "{text:?}");
    assert_eq!(session.is_some(), canonical, "{text:?}");
    if let (Some(t), Some(s)) = (ticket, session) {
        assert_eq!(t.expose_hex(), text);
        assert_eq!(s.expose_hex(), text);
    }
});

//! Hostile audit exports: any bytes verified as an export never panic,
//! and a line refused is named by its number. An export written from a
//! chain the fuzzer shapes verifies; the same export with one byte of one
//! line's values changed does not verify as it was (either a line no
//! longer reads, or the chain breaks).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use lockstep_store_sql::chain::{ChainRow, GENESIS, MAX_EXPORT_LINE, export_line, verify_export};

#[derive(Debug, Arbitrary)]
struct Input {
    raw: Vec<u8>,
    rows: Vec<(String, i64, Option<String>, Option<String>, String)>,
    first: u16,
    flip: (u8, u16),
}

fuzz_target!(|input: Input| {
    // Any bytes: no panic; a refused line has a number.
    if let Err(e) = verify_export(&mut input.raw.as_slice()) {
        assert!(e.line >= 1);
    }

    let mut prev = GENESIS.to_owned();
    let mut lines = Vec::new();
    for (n, (user_id, at, operator_id, client, kind)) in input.rows.into_iter().take(32).enumerate()
    {
        let mut row = ChainRow {
            seq: u64::from(input.first) + n as u64 + 1,
            user_id,
            at,
            operator_id,
            client,
            kind,
            link: None,
        };
        let link = row.link_after(&prev);
        row.link = Some(link.clone());
        lines.push(export_line(&row, &prev));
        prev = link;
    }
    if lines.is_empty() || lines.iter().any(|l| l.len() > MAX_EXPORT_LINE) {
        return;
    }
    let text = lines.join("\n");
    let verified = verify_export(&mut text.as_bytes()).expect("an export reads");
    assert_eq!(
        verified.expect("an export verifies").rows,
        lines.len() as u64
    );

    // One value byte changed: not the same verified export.
    let (which, at) = input.flip;
    let line = &lines[usize::from(which) % lines.len()];
    let Some(value_at) = line.find("\"user_id\":\"") else {
        return;
    };
    let start = value_at + "\"user_id\":\"".len();
    let bytes = line.as_bytes();
    let pos = start + usize::from(at) % 4;
    if pos >= bytes.len() || !bytes[pos].is_ascii_alphanumeric() {
        return;
    }
    let mut changed = bytes.to_vec();
    changed[pos] = if changed[pos] == b'a' { b'b' } else { b'a' };
    let Ok(changed) = String::from_utf8(changed) else {
        return;
    };
    let text = text.replacen(line.as_str(), &changed, 1);
    if let Ok(result) = verify_export(&mut text.as_bytes()) {
        assert!(result.is_err(), "a changed user ID verified");
    }
});

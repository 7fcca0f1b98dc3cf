//! `docs/RULES.md` stays true: every rule id used in the code or the tests
//! is listed there; every rule listed is enforced in the code and tested
//! (or marked pending with the reason); every file, function and test the
//! table names exists; and no range of ids (two dots, a slash or a dash
//! between the numbers) hides an id from a search.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` and `.md` file under the repository's own folders.
fn files(under: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "target" | "corpus" | "artifacts" | ".git") {
                    walk(&path, out);
                }
            } else if [".rs", ".md", ".js", ".html"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    for dir in under {
        let path = Path::new(ROOT).join(dir);
        if path.is_file() {
            out.push(path);
        } else {
            walk(&path, &mut out);
        }
    }
    out
}

/// The rule ids in `text`, with what follows each (to spot ranges).
fn ids(text: &str) -> Vec<(String, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text.get(i..).and_then(|t| t.find("R-")) {
        let start = i + at;
        let area = bytes.get(start + 2..start + 5).unwrap_or_default();
        let dash = bytes.get(start + 5) == Some(&b'-');
        let digits: String = text
            .get(start + 6..)
            .unwrap_or_default()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        if before_ok && area.iter().all(u8::is_ascii_uppercase) && dash && !digits.is_empty() {
            let id = format!("R-{}-{digits}", String::from_utf8_lossy(area));
            let end = start + 6 + digits.len();
            let after: String = text
                .get(end..)
                .unwrap_or_default()
                .chars()
                .take(4)
                .collect();
            out.push((id, after));
        }
        i = start + 2;
    }
    out
}

/// Test function names that name a rule: `r_enr_3_…` → `R-ENR-3`.
fn ids_in_test_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line
            .trim_start()
            .strip_prefix("async fn ")
            .or_else(|| line.trim_start().strip_prefix("fn "))
        else {
            continue;
        };
        let mut parts = rest.split('_');
        while let Some(part) = parts.next() {
            if part != "r" {
                break;
            }
            let (Some(area), Some(n)) = (parts.next(), parts.next()) else {
                break;
            };
            if area.len() == 3 && n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() {
                out.insert(format!("R-{}-{n}", area.to_ascii_uppercase()));
            } else {
                break;
            }
        }
    }
    out
}

struct Row {
    enforced: String,
    tests: String,
}

fn table() -> BTreeMap<String, Row> {
    let text = fs::read_to_string(Path::new(ROOT).join("docs/RULES.md")).expect("docs/RULES.md");
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 7 && cells[1].starts_with("R-") {
            let previous = rows.insert(
                cells[1].to_owned(),
                Row {
                    enforced: cells[4].to_owned(),
                    tests: cells[5].to_owned(),
                },
            );
            assert!(previous.is_none(), "{} listed twice", cells[1]);
        }
    }
    assert!(
        rows.len() > 30,
        "the table was not read: {} rows",
        rows.len()
    );
    rows
}

/// The `code` spans of a cell.
fn spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn every_rule_id_in_the_code_and_tests_is_in_rules_md() {
    let rows = table();
    let mut missing = BTreeSet::new();
    for path in files(&[
        "crates",
        "src",
        "tests",
        "examples",
        "benches",
        "fuzz/fuzz_targets",
        "README.md",
    ]) {
        let text = read(&path);
        for (id, _) in ids(&text) {
            if !rows.contains_key(&id) {
                missing.insert(format!("{id} in {}", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "not in docs/RULES.md: {missing:#?}");
}

#[test]
fn no_ranges_of_rule_ids() {
    let mut ranges = Vec::new();
    for path in files(&[
        "crates",
        "src",
        "tests",
        "examples",
        "benches",
        "fuzz/fuzz_targets",
        "docs",
        "README.md",
    ]) {
        let text = read(&path);
        for (id, after) in ids(&text) {
            let range = after.starts_with("..")
                || after.starts_with('/')
                    && after.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
                || after.starts_with('–')
                || after.starts_with('-')
                    && after.chars().nth(1).is_some_and(|c| c.is_ascii_digit());
            if range {
                ranges.push(format!("{id}{after} in {}", path.display()));
            }
        }
        for line in text.lines().filter(|l| l.contains("fn r_")) {
            let parts: Vec<&str> = line.split(['_', '(']).collect();
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if parts.windows(5).any(|w| {
                w[0].ends_with('r')
                    && w[1].len() == 3
                    && digits(w[2])
                    && w[3] == "to"
                    && digits(w[4])
            }) {
                ranges.push(format!("test name {} in {}", line.trim(), path.display()));
            }
        }
    }
    assert!(ranges.is_empty(), "write each id: {ranges:#?}");
}

#[test]
fn every_listed_rule_is_enforced_and_tested() {
    let rows = table();
    let sources = files(&[
        "crates/otp/src",
        "crates/password/src",
        "crates/account/src",
        "crates/axum/src",
        "examples/bank-login/src",
        "examples/bank-login/static",
        "examples/bank-login/templates",
    ]);
    let tests = files(&[
        "examples/bank-login/tests",
        "crates/axum/tests",
        "crates/otp/tests",
        "crates/password/tests",
        "crates/account/tests",
        "crates/store-tests/src",
    ]);
    let source_text: Vec<(PathBuf, String)> =
        sources.iter().map(|p| (p.clone(), read(p))).collect();
    let test_text: String = tests.iter().map(|p| read(p)).collect::<Vec<_>>().join("\n");
    let named_in_tests = ids_in_test_names(&test_text);
    let mut problems = Vec::new();
    for (id, row) in &rows {
        if row.enforced.starts_with("pending") {
            assert!(
                row.tests.starts_with("pending"),
                "{id}: pending enforcement but tests named"
            );
            continue;
        }
        // Enforced: each named file exists and holds each named function,
        // and the id is cited in the code.
        let mut file: Option<PathBuf> = None;
        for span in spans(&row.enforced) {
            if span.contains('/') {
                let path = Path::new(ROOT).join(span);
                if !path.is_file() {
                    problems.push(format!("{id}: no file {span}"));
                }
                file = Some(path);
            } else if let Some(path) = &file {
                let text = read(path);
                let defined = [
                    format!("fn {span}"),
                    format!("struct {span}"),
                    format!("enum {span}"),
                    format!("{span}:"),
                ]
                .iter()
                .any(|d| text.contains(d.as_str()));
                if !defined {
                    problems.push(format!("{id}: nothing named {span} in {}", path.display()));
                }
            }
        }
        if !source_text.iter().any(|(_, t)| t.contains(id.as_str())) {
            problems.push(format!("{id}: cited in no source file"));
        }
        // Tested: each named test exists, and some test names the id.
        for name in spans(&row.tests) {
            if !test_text.contains(&format!("fn {name}("))
                && !test_text.contains(&format!("fn {name}<"))
            {
                problems.push(format!("{id}: no test fn {name}"));
            }
        }
        if !named_in_tests.contains(id) && !test_text.contains(id.as_str()) {
            problems.push(format!("{id}: no test names it"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/RULES.md is out of date: {problems:#?}"
    );
}

#[test]
fn the_checker_sees_ids_and_ranges() {
    let found = ids(concat!(
        "see R-ENR-3, R-LCK-1",
        "/2 and xR-NOT-1 or R-PWD-1",
        "..5"
    ));
    let names: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(names, ["R-ENR-3", "R-LCK-1", "R-PWD-1"]);
    assert!(found[1].1.starts_with("/2"));
    let tests = ids_in_test_names("async fn r_log_1_and_2_x() {}\nfn r_syn_1_r_syn_3_y() {}");
    assert_eq!(
        tests.into_iter().collect::<Vec<_>>(),
        ["R-LOG-1", "R-SYN-1", "R-SYN-3"]
    );
}

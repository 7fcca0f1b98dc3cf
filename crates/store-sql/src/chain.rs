//! The audit log's hash chain: every event row carries a link, SHA-256
//! over a canonical encoding of the row (its sequence number included) and
//! the link of the row before it, written in the same transaction as the
//! event. The chain's head (the last row's number and link) is one row of
//! its own, `audit_head`, updated in that transaction too; on PostgreSQL
//! its row lock is what orders the writers of several replicas, so that
//! the chain never forks: a writer locks the head (`SELECT … FOR UPDATE`
//! on PostgreSQL), numbers its events after it, links them, and moves the
//! head, and the next writer waits for the commit. Its lock is the last one a write takes, so no writer
//! holding it waits for another's lock.
//!
//! What the chain shows: an edited, deleted or inserted row, made by
//! anyone who changed rows without recomputing the chain after them. What
//! it cannot show by itself: a rewrite of the whole chain from some row
//! on, by someone who knows this encoding (it has no secret). Against that,
//! keep exports elsewhere ([`ChainWalk::resume`] verifies one on its own)
//! or sign the head under a key the database never sees
//! ([`Seal`], `insert_seal`).

use std::collections::BTreeMap;
use std::future::Future;

use data_encoding::HEXLOWER;
use sha2::{Digest, Sha256};

use crate::{Arg, Cell, Kind, Sql, Statement, encoding, signed, unsigned};
use lockstep_account::StoreError;

/// A link: SHA-256, as 64 lowercase hex digits.
pub type Link = String;

/// The link before the first row of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Rows read per query while a chain is walked.
pub const WALK_PAGE: usize = 1_000;

/// One audit row as stored: what its link covers, and its link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainRow {
    /// The row's sequence number (`events.id`).
    pub seq: u64,
    /// The user ID concerned.
    pub user_id: String,
    /// Unix time.
    pub at: i64,
    /// The operator, for desk actions.
    pub operator_id: Option<String>,
    /// The client address, as stored.
    pub client: Option<String>,
    /// The event's kind, as the stored JSON text.
    pub kind: String,
    /// The stored link; `None` for rows written before the chain began
    /// (or inserted by hand).
    pub link: Option<Link>,
}

impl ChainRow {
    /// The link this row must carry after `prev`: SHA-256 over a domain
    /// label, `prev`'s 32 bytes (after a 0 byte; a `prev` that is not 64
    /// hex digits counts as its text, after a 1 byte), the sequence number and time as big-endian 64-bit integers,
    /// and each text field length-prefixed (an absent one as a single 0
    /// byte, a present one as 1 and then the text), so that no two rows
    /// encode alike.
    #[must_use]
    pub fn link_after(&self, prev: &str) -> Link {
        let mut h = Sha256::new();
        h.update(b"lockstep-audit-v1\0");
        match HEXLOWER.decode(prev.as_bytes()) {
            Ok(bytes) if bytes.len() == 32 => {
                h.update([0]);
                h.update(&bytes);
            }
            // Never a stored link (those are checked as hex): kept apart.
            _ => {
                h.update([1]);
                text(&mut h, prev);
            }
        }
        h.update(self.seq.to_be_bytes());
        text(&mut h, &self.user_id);
        h.update(self.at.to_be_bytes());
        optional(&mut h, self.operator_id.as_deref());
        optional(&mut h, self.client.as_deref());
        text(&mut h, &self.kind);
        HEXLOWER.encode(&h.finalize())
    }
}

fn text(h: &mut Sha256, t: &str) {
    h.update(u64::try_from(t.len()).unwrap_or(u64::MAX).to_be_bytes());
    h.update(t.as_bytes());
}

fn optional(h: &mut Sha256, t: Option<&str>) {
    match t {
        None => h.update([0]),
        Some(t) => {
            h.update([1]);
            text(h, t);
        }
    }
}

/// The chain's head, as `audit_head` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The first chained row's number (rows before it predate the chain).
    pub since: u64,
    /// How many rows predate the chain (counted when it began: a row
    /// added or removed among them shows, an edit does not).
    pub legacy: u64,
    /// The last chained row's number (`since - 1` while there is none).
    pub seq: u64,
    /// Its link ([`GENESIS`] while there is none).
    pub hash: Link,
}

/// A signed head: the chain's link at `seq`, signed by the embedder under
/// a key of its own (the store keeps the signature, not the key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The row signed.
    pub seq: u64,
    /// Its link when signed.
    pub hash: Link,
    /// Unix time of signing.
    pub at: i64,
    /// The signing key's name.
    pub key_id: String,
    /// The signature, as the signer encoded it.
    pub signature: String,
}

impl Seal {
    /// The bytes this seal's signature covers: a domain label, the
    /// store's ID, the row's number, its link, the time of signing and the
    /// key's name — so that an old seal cannot be passed off as a new one.
    #[must_use]
    pub fn message(&self, store_id: &str) -> Vec<u8> {
        format!(
            "lockstep-audit-seal-v1\n{store_id}\n{}\n{}\n{}\n{}\n",
            self.seq, self.hash, self.at, self.key_id
        )
        .into_bytes()
    }
}

/// Where and how a chain is broken: the first row that does not follow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainBreak {
    /// The row's link does not match its contents after the row before it:
    /// this row was edited (or the one before it, with its link rewritten).
    #[error("row {seq} was edited: its link does not match its contents")]
    Edited {
        /// The row.
        seq: u64,
    },
    /// Rows are missing between two that are there.
    #[error("rows {from} to {to} are missing (deleted)")]
    Missing {
        /// The first missing row.
        from: u64,
        /// The last missing row.
        to: u64,
    },
    /// A row with no link, or one past the head: not written by the store.
    #[error("row {seq} was inserted out of place")]
    Inserted {
        /// The row.
        seq: u64,
    },
    /// The rows end before the head says they do, or at another link.
    #[error("the chain's head names row {head} but the rows end at {last}")]
    Head {
        /// The head's row.
        head: u64,
        /// The last row found (the head's `since - 1` when none).
        last: u64,
    },
    /// Rows from before the chain were added or removed: the head counted
    /// `expected` when the chain began.
    #[error("the rows from before the chain are {found}, not the {expected} counted when it began")]
    Legacy {
        /// Counted when the chain began.
        expected: u64,
        /// Found now.
        found: u64,
    },
    /// A row numbered below 1: none is written so.
    #[error("a row numbered {id} was inserted (rows are numbered from 1)")]
    Numbered {
        /// Its number.
        id: i64,
    },
    /// A signed head does not match the row it signed: the chain was
    /// rewritten up to it.
    #[error("row {seq} does not carry the link its signed head names")]
    Seal {
        /// The signed row.
        seq: u64,
    },
}

/// What a walk that found no break saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    /// Chained rows checked.
    pub rows: u64,
    /// Rows before the chain began (not covered).
    pub legacy: u64,
    /// The last row's number and link, if any row was checked.
    pub last: Option<(u64, Link)>,
    /// Signed heads checked against their rows.
    pub seals: usize,
    /// Where the walk began: its first row's number and the link before
    /// it (an export's anchor, to compare with an earlier export or a
    /// signed head).
    pub anchor: Option<(u64, Link)>,
}

/// A chain walked a row at a time, in ascending order.
#[derive(Debug)]
pub struct ChainWalk {
    since: u64,
    next: u64,
    prev: Link,
    /// The store's head, for a walk of a whole store (none for a resumed
    /// one, an export's).
    head: Option<ChainHead>,
    seals: BTreeMap<u64, Link>,
    seen: Verified,
}

impl ChainWalk {
    /// A walk of a whole store's rows against its head.
    #[must_use]
    pub fn new(head: &ChainHead) -> Self {
        Self {
            since: head.since,
            next: head.since,
            prev: GENESIS.to_owned(),
            head: Some(head.clone()),
            seals: BTreeMap::new(),
            seen: Verified {
                anchor: Some((head.since, GENESIS.to_owned())),
                ..Verified::default()
            },
        }
    }

    /// A walk from row `seq`, whose predecessor's link is `prev` (an
    /// export's first line says both): rows before `seq` are not expected.
    #[must_use]
    pub fn resume(seq: u64, prev: &str) -> Self {
        Self {
            since: seq,
            next: seq,
            prev: prev.to_owned(),
            head: None,
            seals: BTreeMap::new(),
            seen: Verified {
                anchor: Some((seq, prev.to_owned())),
                ..Verified::default()
            },
        }
    }

    /// Checks, as the walk passes them, that the rows signed heads name
    /// carry the links the heads do (verify the signatures first).
    #[must_use]
    pub fn with_seals(mut self, seals: impl IntoIterator<Item = (u64, Link)>) -> Self {
        self.seals.extend(seals);
        self
    }

    /// The next row, in ascending order of number.
    ///
    /// # Errors
    /// The break this row shows.
    pub fn push(&mut self, row: &ChainRow) -> Result<(), ChainBreak> {
        if row.seq < self.since {
            return match row.link {
                None => {
                    self.seen.legacy += 1;
                    Ok(())
                }
                Some(_) => Err(ChainBreak::Inserted { seq: row.seq }),
            };
        }
        if self.head.as_ref().is_some_and(|head| row.seq > head.seq) {
            return Err(ChainBreak::Inserted { seq: row.seq });
        }
        if row.seq > self.next {
            return Err(ChainBreak::Missing {
                from: self.next,
                to: row.seq - 1,
            });
        }
        if row.seq < self.next {
            // Rows come in ascending order with unique numbers.
            return Err(ChainBreak::Inserted { seq: row.seq });
        }
        let Some(stored) = &row.link else {
            return Err(ChainBreak::Inserted { seq: row.seq });
        };
        if row.link_after(&self.prev) != *stored {
            return Err(ChainBreak::Edited { seq: row.seq });
        }
        if let Some(signed) = self.seals.remove(&row.seq) {
            if signed != *stored {
                return Err(ChainBreak::Seal { seq: row.seq });
            }
            self.seen.seals += 1;
        }
        self.prev.clone_from(stored);
        self.next = row.seq.saturating_add(1);
        self.seen.rows += 1;
        self.seen.last = Some((row.seq, stored.clone()));
        Ok(())
    }

    /// Ends the walk: for a store's walk, the rows before the chain are
    /// as many as its head counted and the rows reached the head; every
    /// signed head was met.
    ///
    /// # Errors
    /// [`ChainBreak::Legacy`] for rows added or removed before the chain,
    /// [`ChainBreak::Head`] when the rows stop short of the head,
    /// [`ChainBreak::Seal`] for a signed row that is not there.
    pub fn finish(self) -> Result<Verified, ChainBreak> {
        let last = self.next.saturating_sub(1);
        if let Some(head) = &self.head {
            if head.legacy != self.seen.legacy {
                return Err(ChainBreak::Legacy {
                    expected: head.legacy,
                    found: self.seen.legacy,
                });
            }
            let ends_at = self.seen.last.as_ref().map_or(GENESIS, |(_, l)| l.as_str());
            if last != head.seq || ends_at != head.hash {
                return Err(ChainBreak::Head {
                    head: head.seq,
                    last,
                });
            }
        }
        if let Some((&seq, _)) = self.seals.iter().next() {
            return Err(ChainBreak::Seal { seq });
        }
        Ok(self.seen)
    }
}

/// Locks the chain's head for this transaction (a row lock on PostgreSQL;
/// SQLite's one writer holds it anyway) and reads it, with the highest row
/// number in the log (one round trip: the lock is held until the commit,
/// so every statement under it counts).
pub(crate) async fn lock_head<S: Sql>(sql: &mut S) -> Result<(u64, Link, i64), StoreError> {
    // Where the database has row locks for reading (PostgreSQL), `FOR
    // UPDATE` takes the lock without writing a row version; elsewhere an
    // update of nothing takes it.
    let statement = if sql.writable_with() {
        "SELECT seq, hash, (SELECT COALESCE(MAX(id), 0) FROM events) FROM audit_head \
         WHERE one = 1 FOR UPDATE"
    } else {
        "UPDATE audit_head SET seq = seq WHERE one = 1 \
         RETURNING seq, hash, (SELECT COALESCE(MAX(id), 0) FROM events)"
    };
    let rows = sql
        .fetch(
            Statement::new(statement, Vec::new()),
            &[Kind::Int, Kind::Text, Kind::Int],
        )
        .await?;
    match rows.into_iter().next().as_deref() {
        Some([Cell::Int(seq), Cell::Text(hash), Cell::Int(last)]) => {
            Ok((unsigned(*seq)?, hash.clone(), *last))
        }
        _ => Err(encoding("no audit chain head: run the store's migrations")),
    }
}

/// The statement that moves the head, its number and link in parameters
/// `$seq` and `$hash`.
pub(crate) fn move_head_sql(seq: usize, hash: usize) -> String {
    format!("UPDATE audit_head SET seq = ${seq}, hash = ${hash} WHERE one = 1")
}

/// Moves the head after the rows just linked.
pub(crate) async fn move_head<S: Sql>(sql: &mut S, seq: u64, hash: &str) -> Result<(), StoreError> {
    sql.execute(Statement::new(
        &move_head_sql(1, 2),
        vec![Arg::Int(signed(seq)), Arg::Text(hash)],
    ))
    .await?;
    Ok(())
}

/// The chain's head.
///
/// # Errors
/// The backend's; an encoding error before the migrations ran.
pub async fn chain_head<S: Sql>(sql: &mut S) -> Result<ChainHead, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT since, legacy, seq, hash FROM audit_head WHERE one = 1",
                Vec::new(),
            ),
            &[Kind::Int, Kind::Int, Kind::Int, Kind::Text],
        )
        .await?;
    match rows.into_iter().next().as_deref() {
        Some(
            [
                Cell::Int(since),
                Cell::Int(legacy),
                Cell::Int(seq),
                Cell::Text(hash),
            ],
        ) => Ok(ChainHead {
            since: unsigned(*since)?,
            legacy: unsigned(*legacy)?,
            seq: unsigned(*seq)?,
            hash: hash.clone(),
        }),
        _ => Err(encoding("no audit chain head: run the store's migrations")),
    }
}

/// Up to `limit` rows (at most [`WALK_PAGE`]) numbered above `after`, in
/// ascending order.
///
/// # Errors
/// The backend's, or an encoding error for a row that does not read.
pub async fn chain_rows<S: Sql>(
    sql: &mut S,
    after: u64,
    limit: usize,
) -> Result<Vec<ChainRow>, StoreError> {
    let limit = i64::try_from(limit.min(WALK_PAGE)).unwrap_or(0);
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT id, user_id, at, operator_id, client, kind, link FROM events \
                 WHERE id > $1 ORDER BY id ASC LIMIT $2",
                vec![Arg::Int(signed(after)), Arg::Int(limit)],
            ),
            &[
                Kind::Int,
                Kind::Text,
                Kind::Int,
                Kind::OptText,
                Kind::OptText,
                Kind::Text,
                Kind::OptText,
            ],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            let [
                Cell::Int(seq),
                Cell::Text(user_id),
                Cell::Int(at),
                operator_id,
                client,
                Cell::Text(kind),
                link,
            ] = <[Cell; 7]>::try_from(row).map_err(|_| encoding("an audit row"))?
            else {
                return Err(encoding("an audit row"));
            };
            Ok(ChainRow {
                seq: unsigned(seq)?,
                user_id,
                at,
                operator_id: optional_text(operator_id),
                client: optional_text(client),
                kind,
                link: optional_text(link),
            })
        })
        .collect()
}

fn optional_text(cell: Cell) -> Option<String> {
    match cell {
        Cell::Text(t) => Some(t),
        _ => None,
    }
}

/// The number of the first row written at or after `at` (unix time), if
/// any: where an export from `at` starts.
///
/// # Errors
/// The backend's.
pub async fn first_row_since<S: Sql>(sql: &mut S, at: i64) -> Result<Option<u64>, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT id FROM events WHERE at >= $1 ORDER BY id ASC LIMIT 1",
                vec![Arg::Int(at)],
            ),
            &[Kind::Int],
        )
        .await?;
    match rows.into_iter().next().as_deref() {
        Some([Cell::Int(id)]) => Ok(Some(unsigned(*id)?)),
        _ => Ok(None),
    }
}

/// The link of row `seq`, if it is there and linked.
///
/// # Errors
/// The backend's.
pub async fn link_of<S: Sql>(sql: &mut S, seq: u64) -> Result<Option<Link>, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT link FROM events WHERE id = $1",
                vec![Arg::Int(signed(seq))],
            ),
            &[Kind::OptText],
        )
        .await?;
    Ok(match rows.into_iter().next().as_deref() {
        Some([Cell::Text(link)]) => Some(link.clone()),
        _ => None,
    })
}

/// Walks the whole chain against its head (and `seals`, already checked
/// for their signatures). Run it in a read transaction, so that writes
/// during the walk are not seen half.
///
/// # Errors
/// The backend's; the break is the inner result.
pub async fn verify_chain<S: Sql>(
    sql: &mut S,
    seals: impl IntoIterator<Item = (u64, Link)>,
) -> Result<Result<Verified, ChainBreak>, StoreError> {
    let head = chain_head(sql).await?;
    let lowest = sql
        .fetch(
            Statement::new("SELECT COALESCE(MIN(id), 1) FROM events", Vec::new()),
            &[Kind::Int],
        )
        .await?;
    if let Some(Cell::Int(id)) = lowest.first().and_then(|r| r.first())
        && *id < 1
    {
        return Ok(Err(ChainBreak::Numbered { id: *id }));
    }
    let mut walk = ChainWalk::new(&head).with_seals(seals);
    let mut after = 0;
    loop {
        let rows = chain_rows(sql, after, WALK_PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            if let Err(broken) = walk.push(row) {
                return Ok(Err(broken));
            }
        }
    }
    Ok(walk.finish())
}

/// Stores a signed head; a newer one for the same row replaces the older.
///
/// # Errors
/// The backend's.
pub async fn insert_seal<S: Sql>(sql: &mut S, seal: &Seal) -> Result<(), StoreError> {
    sql.execute(Statement::new(
        "INSERT INTO audit_seals (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash, at = excluded.at, \
         key_id = excluded.key_id, signature = excluded.signature \
         WHERE audit_seals.at < excluded.at",
        vec![
            Arg::Int(signed(seal.seq)),
            Arg::Text(&seal.hash),
            Arg::Int(seal.at),
            Arg::Text(&seal.key_id),
            Arg::Text(&seal.signature),
        ],
    ))
    .await?;
    Ok(())
}

/// The stored signed heads, oldest first.
///
/// # Errors
/// The backend's.
pub async fn seals<S: Sql>(sql: &mut S) -> Result<Vec<Seal>, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT seq, hash, at, key_id, signature FROM audit_seals ORDER BY seq ASC",
                Vec::new(),
            ),
            &[Kind::Int, Kind::Text, Kind::Int, Kind::Text, Kind::Text],
        )
        .await?;
    rows.into_iter()
        .map(|row| match row.as_slice() {
            [
                Cell::Int(seq),
                Cell::Text(hash),
                Cell::Int(at),
                Cell::Text(key_id),
                Cell::Text(signature),
            ] => Ok(Seal {
                seq: unsigned(*seq)?,
                hash: hash.clone(),
                at: *at,
                key_id: key_id.clone(),
                signature: signature.clone(),
            }),
            _ => Err(encoding("an audit seal row")),
        })
        .collect()
}

/// A line of an export that is not an exported row.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ExportError {
    /// The line's number, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub why: String,
}

/// The longest line an export may have (a row is far smaller).
pub const MAX_EXPORT_LINE: usize = 64 * 1024;

/// `row` as one line of an export (JSON, no newline): its columns, the
/// link before it (`prev`) and its own (`link`); `kind` is the stored JSON
/// text, which the link covers byte for byte.
#[must_use]
pub fn export_line(row: &ChainRow, prev: &str) -> String {
    serde_json::json!({
        "seq": row.seq,
        "at": row.at,
        "user_id": row.user_id,
        "operator_id": row.operator_id,
        "client": row.client,
        "kind": row.kind,
        "prev": prev,
        "link": row.link,
    })
    .to_string()
}

/// One line of an export, read strictly: every field once, no other.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedRow {
    seq: u64,
    at: i64,
    user_id: String,
    operator_id: Option<String>,
    client: Option<String>,
    kind: String,
    prev: String,
    link: Option<String>,
}

/// Whether `link` is a link's form: 64 lowercase hex digits.
#[must_use]
fn is_link(link: &str) -> bool {
    link.len() == 64
        && link
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Reads one export line back: the row and the `prev` it names. Every
/// field must be there once (`operator_id`, `client` and `link` may be
/// `null`), no other, and `prev` and `link` must be links' form.
///
/// # Errors
/// What is wrong (line number 0: the caller knows it).
fn parse_export_line(text: &str) -> Result<(ChainRow, Link), ExportError> {
    let fail = |why: String| ExportError { line: 0, why };
    if text.len() > MAX_EXPORT_LINE {
        return Err(fail("longer than 64 KiB".into()));
    }
    let line: ExportedRow = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
    if !is_link(&line.prev) || line.link.as_deref().is_some_and(|l| !is_link(l)) {
        return Err(fail(
            "`prev` and `link` must be 64 lowercase hex digits".into(),
        ));
    }
    let row = ChainRow {
        seq: line.seq,
        user_id: line.user_id,
        at: line.at,
        operator_id: line.operator_id,
        client: line.client,
        kind: line.kind,
        link: line.link,
    };
    Ok((row, line.prev))
}

/// Verifies an export on its own: from its first line's `prev`, every line
/// must follow the one before it (blank lines are skipped).
///
/// # Errors
/// An [`ExportError`] for a line that is not an exported row, or that
/// cannot be read; the chain's break is the inner result.
pub fn verify_export(
    input: &mut dyn std::io::BufRead,
) -> Result<Result<Verified, ChainBreak>, ExportError> {
    let mut walk: Option<ChainWalk> = None;
    let mut number = 0_u64;
    let limit = u64::try_from(MAX_EXPORT_LINE).unwrap_or(u64::MAX);
    loop {
        number += 1;
        let mut bytes = Vec::new();
        let read = std::io::BufRead::read_until(
            &mut std::io::Read::take(&mut *input, limit + 1),
            b'\n',
            &mut bytes,
        )
        .map_err(|e| ExportError {
            line: number,
            why: e.to_string(),
        })?;
        if read == 0 {
            break;
        }
        let at = |mut e: ExportError| {
            e.line = number;
            e
        };
        if read > MAX_EXPORT_LINE {
            return Err(at(ExportError {
                line: 0,
                why: "longer than 64 KiB".into(),
            }));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| ExportError {
            line: number,
            why: "not UTF-8".into(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let (row, prev) = parse_export_line(text).map_err(at)?;
        let walk = walk.get_or_insert_with(|| ChainWalk::resume(row.seq, &prev));
        if let Err(broken) = walk.push(&row) {
            return Ok(Err(broken));
        }
    }
    Ok(walk.map_or_else(|| Ok(Verified::default()), ChainWalk::finish))
}

/// A store whose audit log is a hash chain: what an operator's tools
/// (verify, export, sign) read and write. The SQL stores implement it over
/// the functions of this module.
pub trait AuditChain: Sync {
    /// Walks the whole chain against its head and `seals` (already checked
    /// for their signatures), in one read transaction.
    ///
    /// # Errors
    /// The backend's; the break is the inner result.
    fn verify_chain(
        &self,
        seals: Vec<(u64, Link)>,
    ) -> impl Future<Output = Result<Result<Verified, ChainBreak>, StoreError>> + Send;

    /// The chain's head.
    ///
    /// # Errors
    /// The backend's.
    fn chain_head(&self) -> impl Future<Output = Result<ChainHead, StoreError>> + Send;

    /// Up to `limit` rows (at most [`WALK_PAGE`]) numbered above `after`.
    ///
    /// # Errors
    /// The backend's.
    fn chain_rows(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChainRow>, StoreError>> + Send;

    /// The first row written at or after unix time `at`.
    ///
    /// # Errors
    /// The backend's.
    fn first_row_since(
        &self,
        at: i64,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// The link of row `seq`.
    ///
    /// # Errors
    /// The backend's.
    fn link_of(&self, seq: u64) -> impl Future<Output = Result<Option<Link>, StoreError>> + Send;

    /// The stored signed heads, oldest first.
    ///
    /// # Errors
    /// The backend's.
    fn seals(&self) -> impl Future<Output = Result<Vec<Seal>, StoreError>> + Send;

    /// Stores a signed head; a newer one for the same row (the chain did
    /// not move since) replaces the older, so that the newest seal's time
    /// says when the head was last signed.
    ///
    /// # Errors
    /// The backend's.
    fn insert_seal(&self, seal: &Seal) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The store's own ID (bound into every seal's message).
    ///
    /// # Errors
    /// The backend's.
    fn chain_store_id(&self) -> impl Future<Output = Result<String, StoreError>> + Send;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn chain(n: u64, since: u64) -> (Vec<ChainRow>, ChainHead) {
        let mut prev = GENESIS.to_owned();
        let rows: Vec<ChainRow> = (since..since + n)
            .map(|seq| {
                let mut row = ChainRow {
                    seq,
                    user_id: format!("user{}", seq % 3),
                    at: i64::try_from(seq).unwrap() * 7,
                    operator_id: (seq % 4 == 0).then(|| "desk".to_owned()),
                    client: (seq % 2 == 0).then(|| "192.0.2.1".to_owned()),
                    kind: "\"LoggedIn\"".to_owned(),
                    link: None,
                };
                let link = row.link_after(&prev);
                prev.clone_from(&link);
                row.link = Some(link);
                row
            })
            .collect();
        let head = ChainHead {
            since,
            legacy: 0,
            seq: since + n - 1,
            hash: prev,
        };
        (rows, head)
    }

    fn walk(rows: &[ChainRow], head: &ChainHead) -> Result<Verified, ChainBreak> {
        let mut w = ChainWalk::new(head);
        for row in rows {
            w.push(row)?;
        }
        w.finish()
    }

    #[test]
    fn the_encoding_separates_fields() {
        let (rows, _) = chain(1, 1);
        let mut a = rows[0].clone();
        let mut b = rows[0].clone();
        a.user_id = "ab".into();
        a.operator_id = Some("c".into());
        b.user_id = "a".into();
        b.operator_id = Some("bc".into());
        assert_ne!(a.link_after(GENESIS), b.link_after(GENESIS));
        a.operator_id = None;
        b.operator_id = Some(String::new());
        assert_ne!(a.link_after(GENESIS), b.link_after(GENESIS));
    }

    proptest! {
        /// Any one field of any one row changed: the walk stops at that
        /// row, and an untouched chain verifies.
        #[test]
        fn one_changed_field_is_found_at_its_row(
            n in 1u64..40, pick in any::<prop::sample::Index>(), field in 0usize..6,
        ) {
            let (mut rows, head) = chain(n, 5);
            prop_assert_eq!(walk(&rows, &head).unwrap().rows, n);
            let i = pick.index(rows.len());
            let seq = rows[i].seq;
            let row = &mut rows[i];
            match field {
                0 => row.user_id.push('x'),
                1 => row.at += 1,
                2 => row.operator_id = Some("mallory".into()),
                3 => row.client = Some("198.51.100.9".into()),
                4 => row.kind = "\"LoggedOut\"".into(),
                _ => row.link = Some(GENESIS.into()),
            }
            prop_assert_eq!(walk(&rows, &head), Err(ChainBreak::Edited { seq }));
        }

        /// A deleted row is missing at its number; a cut tail misses the
        /// head; an export resumed at any row verifies on its own.
        #[test]
        fn deletes_and_resumes(n in 2u64..40, pick in any::<prop::sample::Index>()) {
            let (rows, head) = chain(n, 1);
            let i = pick.index(rows.len());
            let mut cut = rows.clone();
            let gone = cut.remove(i);
            let found = walk(&cut, &head);
            if i + 1 == rows.len() {
                prop_assert_eq!(found, Err(ChainBreak::Head { head: head.seq, last: gone.seq - 1 }));
            } else {
                prop_assert_eq!(found, Err(ChainBreak::Missing { from: gone.seq, to: gone.seq }));
            }
            let prev = if i == 0 { GENESIS.to_owned() } else { rows[i - 1].link.clone().unwrap() };
            let mut resumed = ChainWalk::resume(rows[i].seq, &prev);
            for row in &rows[i..] {
                prop_assert!(resumed.push(row).is_ok());
            }
            prop_assert!(resumed.finish().is_ok());
        }
    }

    #[test]
    fn an_export_verifies_on_its_own_and_names_a_bad_line() {
        let (rows, _) = chain(6, 3);
        let mut text = String::new();
        let mut prev = rows[1].link.clone().unwrap();
        for row in &rows[2..] {
            text.push_str(&export_line(row, &prev));
            text.push('\n');
            prev = row.link.clone().unwrap();
        }
        let verified = verify_export(&mut text.as_bytes()).unwrap().unwrap();
        assert_eq!(verified.rows, 4);
        // Resumed from its first line's `prev`: the row before's link.
        assert_eq!(
            verified.anchor,
            Some((rows[2].seq, rows[1].link.clone().unwrap()))
        );
        assert_eq!(
            verified.last,
            Some((rows[5].seq, rows[5].link.clone().unwrap()))
        );
        let forged = text.replacen("\"user0\"", "\"userX\"", 1);
        assert_eq!(
            verify_export(&mut forged.as_bytes()).unwrap(),
            Err(ChainBreak::Edited { seq: 6 }),
            "the second line's user changed"
        );
        let bad = format!("{text}\n{{\"seq\":1}}\n");
        assert_eq!(verify_export(&mut bad.as_bytes()).unwrap_err().line, 6);
        let long = vec![b'x'; MAX_EXPORT_LINE + 10];
        let e = verify_export(&mut long.as_slice()).unwrap_err();
        assert_eq!((e.line, e.why.as_str()), (1, "longer than 64 KiB"));
    }

    #[test]
    fn rows_from_before_the_chain_are_counted() {
        let (rows, mut head) = chain(3, 4);
        head.legacy = 2;
        let legacy = |seq| ChainRow {
            seq,
            user_id: "old".into(),
            at: 1,
            operator_id: None,
            client: None,
            kind: "\"LoggedIn\"".into(),
            link: None,
        };
        let mut all = vec![legacy(1), legacy(3)];
        all.extend(rows.iter().cloned());
        assert_eq!(walk(&all, &head).unwrap().legacy, 2);
        let mut added = vec![legacy(1), legacy(2), legacy(3)];
        added.extend(rows.iter().cloned());
        assert_eq!(
            walk(&added, &head),
            Err(ChainBreak::Legacy {
                expected: 2,
                found: 3
            })
        );
        let mut linked = all.clone();
        linked[1].link = Some(GENESIS.into());
        assert_eq!(walk(&linked, &head), Err(ChainBreak::Inserted { seq: 3 }));
    }

    #[test]
    fn a_prev_that_is_not_a_link_is_kept_apart() {
        let (rows, _) = chain(1, 1);
        // Untagged, a 24-byte text (hashed as its length and bytes) and the
        // link whose 32 bytes are that length and those bytes would chain
        // alike.
        let text = "z".repeat(24);
        let link = HEXLOWER.encode(&[&24_u64.to_be_bytes()[..], text.as_bytes()].concat());
        assert!(is_link(&link));
        assert_ne!(rows[0].link_after(&text), rows[0].link_after(&link));
        let text = "A".repeat(64);
        let line = export_line(&rows[0], &text);
        assert!(
            parse_export_line(&line).is_err(),
            "a prev in capitals is refused"
        );
        let doubled = export_line(&rows[0], GENESIS).replacen('{', "{\"user_id\":\"FORGED\",", 1);
        assert!(
            parse_export_line(&doubled).is_err(),
            "a field twice is refused"
        );
        let extra = export_line(&rows[0], GENESIS).replacen('{', "{\"note\":1,", 1);
        assert!(
            parse_export_line(&extra).is_err(),
            "an unknown field is refused"
        );
    }

    #[test]
    fn a_seal_that_does_not_match_is_found() {
        let (rows, head) = chain(5, 1);
        let good = rows[2].link.clone().unwrap();
        let mut w = ChainWalk::new(&head).with_seals([(3, good)]);
        for row in &rows {
            w.push(row).unwrap();
        }
        assert_eq!(w.finish().unwrap().seals, 1);
        let mut w = ChainWalk::new(&head).with_seals([(3, GENESIS.to_owned())]);
        let broken = rows.iter().try_for_each(|r| w.push(r));
        assert_eq!(broken, Err(ChainBreak::Seal { seq: 3 }));
        let mut w = ChainWalk::new(&head).with_seals([(9, GENESIS.to_owned())]);
        rows.iter().try_for_each(|r| w.push(r)).unwrap();
        assert_eq!(w.finish(), Err(ChainBreak::Seal { seq: 9 }));
    }
}

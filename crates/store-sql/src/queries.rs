//! The account store's and the audit log's queries.

use lockstep_account::{
    Account, Attempts, AuditEvent, ClientFailures, CredentialId, Cursor, EventKind, Logged,
    MAX_EVENTS_PAGE, MAX_SUSPICIOUS_CLIENTS, MAX_SUSPICIOUS_SCAN, RecordWrite, SprayFlag,
    StoreError, Suspicious, TokenChange, TokenStatus, Write,
};

use crate::chain::{self, ChainRow};
use crate::codec::{decode_account, decode_event, encode_account};
use crate::seal::StoreId;
use crate::{Arg, Cell, Kind, Sql, Statement, encoding, signed, unsigned};

fn int(cell: Option<&Cell>) -> Result<i64, StoreError> {
    match cell {
        Some(Cell::Int(n)) => Ok(*n),
        _ => Err(encoding("an integer column")),
    }
}

fn text(cell: Option<Cell>) -> Result<String, StoreError> {
    match cell {
        Some(Cell::Text(t)) => Ok(t),
        _ => Err(encoding("a text column")),
    }
}

/// A client address column: none, or an address (anything else was
/// changed behind the store's back).
fn address(cell: Option<&Cell>) -> Result<Option<core::net::IpAddr>, StoreError> {
    match cell {
        Some(Cell::Text(t)) => t.parse().map(Some).map_err(encoding),
        _ => Ok(None),
    }
}

/// Applies `write` in the transaction `sql` is in (the store contract's
/// rule 2): the record's create or compare-and-swap, the token changes in
/// order, the events, the attempt note. The first refusal returns at once;
/// the caller rolls the transaction (or its savepoint) back.
///
/// # Errors
/// [`StoreError::AlreadyExists`], [`StoreError::Conflict`],
/// [`StoreError::NotFound`], [`StoreError::TokenTaken`], or the backend's.
pub async fn apply<S: Sql>(sql: &mut S, write: &Write) -> Result<(), StoreError> {
    match &write.record {
        Some(RecordWrite::Create(account)) => create(sql, account).await?,
        Some(RecordWrite::Replace { account, expected }) => {
            replace(sql, account, *expected).await?;
        }
        _ => {}
    }
    for change in &write.tokens {
        token(sql, change).await?;
    }
    if let Some(note) = &write.attempt {
        sql.execute(Statement::new(
            "INSERT INTO attempts (user_id, count, last_at) VALUES ($1, 1, $2) \
             ON CONFLICT (user_id) DO UPDATE \
             SET count = attempts.count + 1, last_at = excluded.last_at",
            vec![Arg::Text(&note.user_id), Arg::Int(signed(note.at))],
        ))
        .await?;
    }
    // Last: the chain's head is the last lock a write takes (see `chain`).
    insert_events(sql, &write.events).await
}

async fn create<S: Sql>(sql: &mut S, account: &Account) -> Result<(), StoreError> {
    let record = encode_account(account)?;
    let done = sql
        .execute(Statement::new(
            "INSERT INTO accounts (user_id, version, record) VALUES ($1, 0, $2) \
             ON CONFLICT (user_id) DO NOTHING",
            vec![Arg::Text(&account.user_id), Arg::Text(&record)],
        ))
        .await?;
    if done == 0 {
        return Err(StoreError::AlreadyExists);
    }
    // Attempts typed before the account existed are not its attempts.
    sql.execute(Statement::new(
        "DELETE FROM attempts WHERE user_id = $1",
        vec![Arg::Text(&account.user_id)],
    ))
    .await?;
    Ok(())
}

async fn replace<S: Sql>(sql: &mut S, account: &Account, expected: u64) -> Result<(), StoreError> {
    let record = encode_account(account)?;
    let done = sql
        .execute(Statement::new(
            "UPDATE accounts SET version = $1, record = $2 WHERE user_id = $3 AND version = $4",
            vec![
                Arg::Int(signed(expected.saturating_add(1))),
                Arg::Text(&record),
                Arg::Text(&account.user_id),
                Arg::Int(signed(expected)),
            ],
        ))
        .await?;
    if done == 1 {
        return Ok(());
    }
    let exists = sql
        .fetch(
            Statement::new(
                "SELECT version FROM accounts WHERE user_id = $1",
                vec![Arg::Text(&account.user_id)],
            ),
            &[Kind::Int],
        )
        .await?;
    Err(if exists.is_empty() {
        StoreError::NotFound
    } else {
        StoreError::Conflict
    })
}

/// A token change. Every token ID ever bound has one row of `tokens`, whose
/// primary key makes a second binding impossible (R-TOK-1); a revoked row
/// stays, so its ID is never bound again (R-TOK-4).
async fn token<S: Sql>(sql: &mut S, change: &TokenChange) -> Result<(), StoreError> {
    match change {
        TokenChange::Bind { id, owner } => {
            let done = sql
                .execute(Statement::new(
                    "INSERT INTO tokens (credential_id, owner, revoked) VALUES ($1, $2, 0) \
                     ON CONFLICT (credential_id) DO NOTHING",
                    vec![Arg::Text(id.as_str()), Arg::Text(owner)],
                ))
                .await?;
            if done == 0 {
                return Err(StoreError::TokenTaken);
            }
        }
        TokenChange::Revoke { id, owner } => {
            // Its owner's row is marked; a missing row is made, revoked; a
            // row another account owns is not this account's to revoke.
            let done = sql
                .execute(Statement::new(
                    "INSERT INTO tokens (credential_id, owner, revoked) VALUES ($1, $2, 1) \
                     ON CONFLICT (credential_id) DO UPDATE SET revoked = 1 \
                     WHERE tokens.owner = excluded.owner",
                    vec![Arg::Text(id.as_str()), Arg::Text(owner)],
                ))
                .await?;
            if done == 0 {
                return Err(StoreError::TokenTaken);
            }
        }
        _ => return Err(encoding("a token change this store does not know")),
    }
    Ok(())
}

async fn insert_events<S: Sql>(sql: &mut S, events: &[AuditEvent]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // Numbered after the chain's head and linked to it, under its lock;
    // one statement per 16 events (a step writes one to three).
    const COLUMNS: usize = 7;
    let (mut seq, mut prev, last) = chain::lock_head(sql).await?;
    // A row past the head was not written by a store: numbering after it
    // would collide with it (and hide it). Refuse, naming it.
    if last > signed(seq) {
        return Err(encoding(format_args!(
            "audit row {last} lies past the chain's head (row {seq}): it was inserted behind \
             the store's back; run the audit chain's verification"
        )));
    }
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        seq = seq.saturating_add(1);
        let mut row = ChainRow {
            seq,
            user_id: e.user_id.clone(),
            at: signed(e.at),
            operator_id: e.operator_id.clone(),
            client: e.client.map(|ip| ip.to_string()),
            kind: serde_json::to_string(&e.kind).map_err(encoding)?,
            link: None,
        };
        let link = row.link_after(&prev);
        prev.clone_from(&link);
        row.link = Some(link);
        rows.push(row);
    }
    let chunks = rows.len().div_ceil(16);
    // Where the database runs a data-modifying WITH, the head moves in the
    // last insert's statement: one round trip fewer under its lock.
    let with_head = sql.writable_with();
    for (n, chunk) in rows.chunks(16).enumerate() {
        let moves_head = with_head && n + 1 == chunks;
        let mut text = String::new();
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS + 2);
        if moves_head {
            let at = chunk.len() * COLUMNS;
            text.push_str(&format!(
                "WITH moved AS ({}) ",
                chain::move_head_sql(at + 1, at + 2)
            ));
        }
        text.push_str(
            "INSERT INTO events (id, user_id, at, operator_id, client, kind, link) VALUES ",
        );
        for i in 0..chunk.len() {
            let p = i * COLUMNS;
            if i > 0 {
                text.push_str(", ");
            }
            let params: Vec<String> = (1..=COLUMNS).map(|k| format!("${}", p + k)).collect();
            text.push_str(&format!("({})", params.join(", ")));
        }
        for row in chunk {
            args.push(Arg::Int(signed(row.seq)));
            args.push(Arg::Text(&row.user_id));
            args.push(Arg::Int(row.at));
            args.push(row.operator_id.as_deref().map_or(Arg::Null, Arg::Text));
            args.push(row.client.as_deref().map_or(Arg::Null, Arg::Text));
            args.push(Arg::Text(&row.kind));
            args.push(row.link.as_deref().map_or(Arg::Null, Arg::Text));
        }
        if moves_head {
            args.push(Arg::Int(signed(seq)));
            args.push(Arg::Text(&prev));
        }
        sql.execute(Statement::new(&text, args)).await?;
    }
    if with_head {
        Ok(())
    } else {
        chain::move_head(sql, seq, &prev).await
    }
}

/// The record of `user_id`, if any.
///
/// # Errors
/// The backend's, or an encoding error for a row that does not decode.
pub async fn load<S: Sql>(sql: &mut S, user_id: &str) -> Result<Option<Account>, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT version, record FROM accounts WHERE user_id = $1",
                vec![Arg::Text(user_id)],
            ),
            &[Kind::Int, Kind::Text],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let version = int(row.first())?;
    let record = text(row.into_iter().nth(1))?;
    decode_account(version, &record).map(Some)
}

/// What the tokens table says of `id`, as seen from `user_id`.
///
/// # Errors
/// The backend's.
pub async fn token_status<S: Sql>(
    sql: &mut S,
    id: &CredentialId,
    user_id: &str,
) -> Result<TokenStatus, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT owner, revoked FROM tokens WHERE credential_id = $1",
                vec![Arg::Text(id.as_str())],
            ),
            &[Kind::Text, Kind::Int],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(TokenStatus::Free);
    };
    let revoked = int(row.get(1))?;
    let owner = text(row.into_iter().next())?;
    Ok(if revoked != 0 {
        TokenStatus::Revoked
    } else if owner == user_id {
        TokenStatus::BoundTo
    } else {
        TokenStatus::BoundToOther
    })
}

/// A page of `user_id`'s audit events (at most [`MAX_EVENTS_PAGE`]).
///
/// # Errors
/// The backend's, or an encoding error for a row that does not decode.
pub async fn events<S: Sql>(
    sql: &mut S,
    user_id: &str,
    from: Cursor,
    limit: usize,
) -> Result<Vec<Logged>, StoreError> {
    let limit = i64::try_from(limit.min(MAX_EVENTS_PAGE)).unwrap_or(0);
    let (query, seq) = match from {
        Cursor::After(seq) => (
            "SELECT id, at, operator_id, client, kind FROM events \
             WHERE user_id = $1 AND id > $2 ORDER BY id ASC LIMIT $3",
            Some(seq),
        ),
        Cursor::Before(seq) => (
            "SELECT id, at, operator_id, client, kind FROM events \
             WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            Some(seq),
        ),
        Cursor::Newest => (
            "SELECT id, at, operator_id, client, kind FROM events \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            None,
        ),
        _ => (
            "SELECT id, at, operator_id, client, kind FROM events \
             WHERE user_id = $1 ORDER BY id ASC LIMIT $2",
            None,
        ),
    };
    let mut args = vec![Arg::Text(user_id)];
    if let Some(seq) = seq {
        args.push(Arg::Int(signed(seq)));
    }
    args.push(Arg::Int(limit));
    let rows = sql
        .fetch(
            Statement::new(query, args),
            &[
                Kind::Int,
                Kind::Int,
                Kind::OptText,
                Kind::OptText,
                Kind::Text,
            ],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            let seq = unsigned(int(row.first())?)?;
            let at = int(row.get(1))?;
            let mut cells = row.into_iter().skip(2);
            let mut optional = || match cells.next() {
                Some(Cell::Text(t)) => Some(t),
                _ => None,
            };
            let operator_id = optional();
            let client = optional();
            let kind = text(cells.next())?;
            let event = decode_event(
                user_id.to_owned(),
                at,
                operator_id,
                client.as_deref(),
                &kind,
            )?;
            Ok(Logged { seq, event })
        })
        .collect()
}

/// The attempts noted for `user_id`.
///
/// # Errors
/// The backend's.
pub async fn attempts<S: Sql>(sql: &mut S, user_id: &str) -> Result<Attempts, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT count, last_at FROM attempts WHERE user_id = $1",
                vec![Arg::Text(user_id)],
            ),
            &[Kind::Int, Kind::Int],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(Attempts::default());
    };
    Ok(Attempts {
        count: unsigned(int(row.first())?)?,
        last_at: Some(unsigned(int(row.get(1))?)?),
    })
}

/// The store's own ID, made by its migrations: bound into every secret it
/// seals.
///
/// # Errors
/// The backend's; an encoding error when the migrations have not run.
pub async fn store_id<S: Sql>(sql: &mut S) -> Result<StoreId, StoreError> {
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT value FROM store_meta WHERE name = 'store_id'",
                Vec::new(),
            ),
            &[Kind::Text],
        )
        .await?;
    let id = text(rows.into_iter().next().and_then(|r| r.into_iter().next()))
        .map_err(|_| encoding("no store ID: run the store's migrations"))?;
    Ok(StoreId::new(id))
}

/// The failed password steps of a window `[$1, $2)` (the partial index
/// `events_failed_password_by_at` covers exactly these rows).
const FAILED_IN_WINDOW: &str = "FROM events WHERE at >= $1 AND at < $2 \
     AND (kind = '\"UnknownUser\"' OR kind LIKE '{\"PasswordFailed\":%')";

/// The desk's view of an attack over `[from, to)`: see
/// [`lockstep_account::AuditLog::suspicious`]. Four bounded queries, each
/// on a partial index of its own.
///
/// # Errors
/// The backend's, or an encoding error for a row that does not read.
pub async fn suspicious<S: Sql>(
    sql: &mut S,
    from: u64,
    to: u64,
    limit: usize,
) -> Result<Suspicious, StoreError> {
    let limit = i64::try_from(limit.min(MAX_SUSPICIOUS_CLIENTS)).unwrap_or(0);
    let scan = i64::try_from(MAX_SUSPICIOUS_SCAN).unwrap_or(i64::MAX);
    let window = || vec![Arg::Int(signed(from)), Arg::Int(signed(to))];
    let count = |cell: Option<&Cell>| -> Result<u64, StoreError> {
        match cell {
            Some(Cell::Int(n)) => unsigned(*n),
            Some(Cell::Null) | None => Ok(0),
            _ => Err(encoding("a count")),
        }
    };
    let unknown = "COALESCE(SUM(CASE WHEN kind = '\"UnknownUser\"' THEN 1 ELSE 0 END), 0)";

    // One scan: the clients' rows, and (window functions over every group,
    // before the limit) the totals of the window.
    // The newest `MAX_SUSPICIOUS_SCAN` failures of the window.
    let by_client = format!(
        "SELECT client, COUNT(*), COUNT(DISTINCT user_id), {unknown}, \
         CAST(SUM(COUNT(*)) OVER () AS BIGINT), CAST(SUM({unknown}) OVER () AS BIGINT) \
         FROM (SELECT client, user_id, kind {FAILED_IN_WINDOW} ORDER BY at DESC LIMIT $3) AS w \
         GROUP BY client ORDER BY 3 DESC, 2 DESC, 1 LIMIT $4"
    );
    let mut args = window();
    args.extend([Arg::Int(scan), Arg::Int(limit)]);
    let rows = sql
        .fetch(
            Statement::new(&by_client, args),
            &[
                Kind::OptText,
                Kind::Int,
                Kind::Int,
                Kind::Int,
                Kind::Int,
                Kind::Int,
            ],
        )
        .await?;
    let failures = count(rows.first().and_then(|r| r.get(4)))?;
    let unknown_ids = count(rows.first().and_then(|r| r.get(5)))?;
    let clients = rows
        .iter()
        .map(|row| {
            Ok(ClientFailures {
                client: address(row.first())?,
                failures: count(row.get(1))?,
                distinct_ids: count(row.get(2))?,
                unknown_ids: count(row.get(3))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // The scan full: were there more? One index probe past it.
    let truncated = if failures >= u64::try_from(MAX_SUSPICIOUS_SCAN).unwrap_or(u64::MAX) {
        let past = format!(
            "SELECT COUNT(*) FROM (SELECT at {FAILED_IN_WINDOW} ORDER BY at DESC LIMIT 1 OFFSET $3) AS p"
        );
        let mut args = window();
        args.push(Arg::Int(scan));
        let rows = sql.fetch(Statement::new(&past, args), &[Kind::Int]).await?;
        count(rows.first().and_then(|r| r.first()))? > 0
    } else {
        false
    };

    let locks = sql
        .fetch(
            Statement::new(
                "SELECT COUNT(*) FROM events WHERE at >= $1 AND at < $2 \
                 AND kind LIKE '{\"Locked\":%'",
                window(),
            ),
            &[Kind::Int],
        )
        .await?;
    let locks_set = count(locks.first().and_then(|r| r.first()))?;

    let mut args = window();
    args.push(Arg::Int(limit));
    let rows = sql
        .fetch(
            Statement::new(
                "SELECT at, client, kind FROM events WHERE at >= $1 AND at < $2 \
                 AND kind LIKE '{\"SprayFlagged\":%' ORDER BY at DESC, id DESC LIMIT $3",
                args,
            ),
            &[Kind::Int, Kind::OptText, Kind::Text],
        )
        .await?;
    let flags = rows
        .into_iter()
        .map(|row| {
            let at = int(row.first())?;
            let client = match row.get(1) {
                Some(Cell::Text(t)) => Some(t.as_str()),
                _ => None,
            };
            let kind = text(row.get(2).cloned())?;
            let event = decode_event(String::new(), at, None, client, &kind)?;
            let EventKind::SprayFlagged { distinct_ids, .. } = event.kind else {
                return Err(encoding("a spray flag's row holds another kind"));
            };
            Ok(SprayFlag {
                at: event.at,
                client: event.client,
                distinct_ids,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    Ok(Suspicious {
        clients,
        failures,
        unknown_ids,
        locks_set,
        flags,
        truncated,
    })
}

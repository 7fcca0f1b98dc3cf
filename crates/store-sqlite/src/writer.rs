//! The one writer of a process: group commit.
//!
//! SQLite has one writer at a time and, with `synchronous = FULL`, an fsync
//! per commit. Writers that take turns one transaction each queue behind
//! one another: a burst of sixteen logins makes the last one wait for
//! fifteen commits. Here every write goes to one task, which takes all the
//! writes waiting at that moment (up to [`MAX_BATCH`]) into one
//! `BEGIN IMMEDIATE` transaction, each in a savepoint of its own, and
//! commits them with one fsync; each caller hears back only after that
//! commit, so what a caller is told was written is as durable as before.
//!
//! - A write refused on its data (conflict, not found, exists, token taken)
//!   is rolled back to its savepoint; the others stand.
//! - A write that fails in the backend takes the transaction down: it
//!   hears its error, and the writes that ran before it in the batch are
//!   run again in a new one.
//! - A failed commit is every caller's error (transient ones are decided
//!   again by the driver; nothing of the batch was written).
//! - A caller that stops waiting (its request cancelled) cannot leave a
//!   transaction half done: the task, not the caller, runs the statements.
//!   A write whose caller is gone before its turn in the batch is skipped,
//!   as if the caller had been cancelled a moment earlier; one whose turn
//!   had come may still be committed after the caller has gone, as a
//!   database server commits what a client sent before it disconnected.
//!   Every write is a compare-and-swap on the version it read, so a late
//!   one lands only if nothing was written in between.
//!
//! Long because the proofs sit beside the code they prove: half of the
//! file is the property test that a batch is the same as one write at a
//! time, and the batch and runtime tests, which need the writer's private
//! parts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lockstep_account::{BackendError, StoreError, Write};
use lockstep_store_sql::{apply, connection_out_of_transaction, is_refusal};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::{Target, backend};

/// The most writes in one transaction.
pub(crate) const MAX_BATCH: usize = 64;

/// The most writes waiting for the task; past it callers wait to queue.
const QUEUE: usize = 1024;

/// How a write transaction begins: `BEGIN IMMEDIATE` takes the write lock
/// at once, so a database busy with another process waits the busy
/// timeout instead of failing when a deferred transaction would upgrade.
const BEGIN: &str = "BEGIN IMMEDIATE";

/// What a caller waits for.
type Answer = Result<(), StoreError>;

/// A write and where its answer goes.
struct Job {
    op: Write,
    done: oneshot::Sender<Answer>,
}

impl Job {
    fn answer(self, answer: Answer) {
        // A caller that stopped waiting does not need to hear.
        let _ = self.done.send(answer);
    }
}

/// The writing task could not be reached or stopped before answering (its
/// runtime shut down, say): nothing is known to be written, and the next
/// attempt starts a new task.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite writer task stopped before answering")]
struct Stopped;

/// No tokio runtime to run the writing task on.
#[derive(Debug, thiserror::Error)]
#[error("the SQLite store writes from a task on a tokio runtime, and there is none here")]
struct NoRuntime;

/// The queue to the writing task, started on first use and again if its
/// runtime has gone.
pub(crate) struct Writer {
    /// The pool of the one connection that writes.
    pool: SqlitePool,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    /// Transactions committed, batches and single writes alike.
    commits: Arc<AtomicU64>,
}

impl Writer {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            queue: Mutex::new(None),
            commits: Arc::default(),
        }
    }

    /// Transactions committed so far.
    #[cfg(test)]
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `op` in the next batch and waits for its commit.
    pub(crate) async fn write(&self, op: Write) -> Answer {
        let (done, answer) = oneshot::channel();
        let mut job = Job { op, done };
        // A second try only when the first task is found gone.
        for _ in 0..2 {
            let queue = self.queue()?;
            match queue.send(job).await {
                Ok(()) => {
                    return answer.await.unwrap_or_else(|_| {
                        Err(StoreError::Backend(BackendError::transient(Stopped)))
                    });
                }
                Err(mpsc::error::SendError(back)) => job = back,
            }
        }
        Err(StoreError::Backend(BackendError::transient(Stopped)))
    }

    /// The running task's queue; starts a task if there is none or it has
    /// stopped.
    fn queue(&self) -> Result<mpsc::Sender<Job>, StoreError> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(q) = queue.as_ref().filter(|q| !q.is_closed()) {
            return Ok(q.clone());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Backend(BackendError::permanent(NoRuntime)))?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        runtime.spawn(run(self.pool.clone(), receiver, Arc::clone(&self.commits)));
        *queue = Some(sender.clone());
        Ok(sender)
    }
}

/// The metric of the writes each group commit carries (a histogram; see
/// `lockstep_account::metrics` for the others).
pub const BATCH_SIZE: &str = "lockstep_sqlite_group_commit_writes";

/// The task: batch after batch until every sender is gone (the store was
/// dropped).
async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<Job>, commits: Arc<AtomicU64>) {
    let mut taken = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut taken, MAX_BATCH).await > 0 {
        let batch: VecDeque<Job> = taken.drain(..).filter(|j| !j.done.is_closed()).collect();
        #[allow(clippy::cast_precision_loss)] // a batch is far below 2^52
        metrics::histogram!(BATCH_SIZE).record(batch.len() as f64);
        let n = run_batch(&pool, batch).await;
        commits.fetch_add(n, Ordering::Relaxed);
    }
}

/// Runs and commits `pending`, answering each job exactly once; returns
/// how many transactions it committed.
async fn run_batch(pool: &SqlitePool, mut pending: VecDeque<Job>) -> u64 {
    let mut commits = 0;
    while !pending.is_empty() {
        let mut conn = match connection_out_of_transaction(pool).await {
            Ok(conn) => conn,
            Err(e) => {
                answer_all(pending, &backend(e));
                break;
            }
        };
        if pending.len() == 1 {
            // No savepoint needed: the transaction is the write's own.
            if let Some(job) = pending.pop_front() {
                let answer = write_alone(&mut conn, &job.op).await;
                commits += u64::from(answer.is_ok());
                job.answer(answer);
            }
            break;
        }
        let mut tx = match sqlx::Connection::begin_with(&mut *conn, BEGIN).await {
            Ok(tx) => tx,
            Err(e) => {
                answer_all(pending, &backend(e));
                break;
            }
        };
        let mut ran: Vec<(Job, Answer)> = Vec::with_capacity(pending.len());
        let mut broke = None;
        while let Some(job) = pending.pop_front() {
            if job.done.is_closed() {
                // Its caller is gone: as if cancelled a moment earlier.
                continue;
            }
            match in_savepoint(&mut tx, &job.op).await {
                Ok(answer) => ran.push((job, answer)),
                Err(e) => {
                    broke = Some((job, e));
                    break;
                }
            }
        }
        if let Some((job, e)) = broke {
            let _ = tx.rollback().await;
            job.answer(Err(e));
            // Rolled back with it: again, in their order, before the rest.
            for (job, _) in ran.into_iter().rev() {
                pending.push_front(job);
            }
            continue;
        }
        match tx.commit().await {
            Ok(()) => {
                commits += 1;
                for (job, answer) in ran {
                    job.answer(answer);
                }
            }
            Err(e) => {
                let e = backend(e);
                for (job, _) in ran {
                    job.answer(Err(e.clone()));
                }
            }
        }
    }
    commits
}

fn answer_all(jobs: VecDeque<Job>, e: &StoreError) {
    for job in jobs {
        job.answer(Err(e.clone()));
    }
}

/// `op` in a transaction of its own: committed when it succeeds, rolled
/// back at once (releasing the write lock) when it fails.
pub(crate) async fn write_alone(conn: &mut SqliteConnection, op: &Write) -> Answer {
    let mut tx = sqlx::Connection::begin_with(conn, BEGIN)
        .await
        .map_err(backend)?;
    match apply(&mut Target::Conn(&mut tx), op).await {
        Ok(()) => tx.commit().await.map_err(backend),
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// `op` in a savepoint: `Ok(Ok)` kept, `Ok(Err(refusal))` rolled back to
/// the savepoint (the transaction goes on), `Err` a backend failure after
/// which the transaction must be rolled back.
async fn in_savepoint(tx: &mut Transaction<'_, Sqlite>, op: &Write) -> Result<Answer, StoreError> {
    let mut savepoint = sqlx::Connection::begin(&mut **tx).await.map_err(backend)?;
    match apply(&mut Target::Conn(&mut savepoint), op).await {
        Ok(()) => {
            savepoint.commit().await.map_err(backend)?;
            Ok(Ok(()))
        }
        Err(e) if is_refusal(&e) => {
            savepoint.rollback().await.map_err(backend)?;
            Ok(Err(e))
        }
        Err(e) => {
            let _ = savepoint.rollback().await;
            Err(e)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use lockstep_account::{
        Account, AccountStore, AttemptNote, AuditEvent, EventKind, OsRandom, Random, Write,
    };
    use lockstep_store_sql::seal::{KeyId, Keyring, SealingKey};
    use proptest::prelude::*;
    use sqlx::Row as _;

    use super::{Job, run_batch, write_alone};
    use crate::SqliteStore;

    /// A database file removed (with its WAL) when dropped.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new() -> Self {
            let mut bytes = [0_u8; 8];
            OsRandom.fill(&mut bytes).unwrap();
            let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Self(std::env::temp_dir().join(format!("lockstep-writer-{name}.db")))
        }

        async fn open(&self) -> SqliteStore {
            let ring = Keyring::new(SealingKey::new(KeyId(1), [7; 32]));
            let store = SqliteStore::connect(&self.0, ring).await.unwrap();
            store.migrate().await.unwrap();
            // A backend failure on demand: events of user "boom" abort.
            sqlx::query(
                "CREATE TRIGGER IF NOT EXISTS boom BEFORE INSERT ON events \
                 WHEN NEW.user_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
            )
            .execute(&store.pool)
            .await
            .unwrap();
            store
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = self.0.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// What the generator picks: a kind, a user (0–2) and, for replace,
    /// the expected version (0–3).
    #[derive(Clone, Debug)]
    enum Op {
        Create(u8),
        Replace(u8, u64),
        Append(u8),
        /// Events the trigger refuses: a backend failure.
        Boom,
        /// A counted attempt.
        Note(u8),
    }

    fn event(user: &str, n: usize) -> AuditEvent {
        AuditEvent {
            at: u64::try_from(n).unwrap(),
            user_id: user.into(),
            operator_id: None,
            client: None,
            kind: EventKind::UnknownUser,
        }
    }

    /// The write for the `n`th op: records carry `n` in their user name,
    /// events in their time, so the final state tells which writes stood.
    fn write(op: &Op, n: usize) -> Write {
        let account = |user: u8, version: u64| {
            let mut a: Account = lockstep_store_tests::sample(&format!("u{user}"));
            a.user_name = format!("written by {n}");
            a.version = version;
            a
        };
        match *op {
            Op::Create(u) => Write::create(account(u, 0), vec![event(&format!("u{u}"), n)]),
            Op::Replace(u, expected) => Write::replace(
                account(u, expected + 1),
                expected,
                vec![event(&format!("u{u}"), n), event(&format!("u{u}"), n)],
            ),
            Op::Append(u) => Write::events(vec![event(&format!("u{u}"), n)]),
            Op::Boom => Write::events(vec![event("boom", n)]),
            Op::Note(u) => {
                Write::events(vec![event(&format!("u{u}"), n)]).with_attempt(AttemptNote {
                    user_id: format!("u{u}"),
                    at: u64::try_from(n).unwrap(),
                })
            }
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0_u8..3).prop_map(Op::Create),
            (0_u8..3, 0_u64..4).prop_map(|(u, v)| Op::Replace(u, v)),
            (0_u8..3).prop_map(Op::Append),
            Just(Op::Boom),
            (0_u8..3).prop_map(Op::Note),
        ]
    }

    fn kind(answer: &super::Answer) -> String {
        match answer {
            Ok(()) => "ok".into(),
            Err(lockstep_account::StoreError::Backend(_)) => "backend".into(),
            Err(e) => format!("{e:?}"),
        }
    }

    /// Accounts (user, version, user name), events (user, time, kind) in
    /// the order written, and counted attempts (user, count, last).
    async fn state(
        store: &SqliteStore,
    ) -> (
        Vec<(String, i64, String)>,
        Vec<(String, i64, String)>,
        Vec<(String, i64, i64)>,
    ) {
        let accounts =
            sqlx::query("SELECT user_id, version, record FROM accounts ORDER BY user_id")
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    let record: Account = serde_json::from_str(r.get::<&str, _>("record")).unwrap();
                    (r.get("user_id"), r.get("version"), record.user_name)
                })
                .collect();
        let events = sqlx::query("SELECT user_id, at, kind FROM events ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("user_id"), r.get("at"), r.get("kind")))
            .collect();
        let attempts = sqlx::query("SELECT user_id, count, last_at FROM attempts ORDER BY user_id")
            .fetch_all(&store.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("user_id"), r.get("count"), r.get("last_at")))
            .collect();
        (accounts, events, attempts)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// The invariant of group commit: a batch answers every write as
        /// running them one at a time, in order, each in its own
        /// transaction, would, and leaves the same records and the same
        /// audit log — refusals (conflict, exists, not found) and backend
        /// failures in the middle of a batch included.
        #[test]
        fn a_batch_is_the_same_as_one_write_at_a_time(ops in prop::collection::vec(op(), 1..12)) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (a, b) = (TempDb::new(), TempDb::new());
                let (batched, alone) = (a.open().await, b.open().await);

                let mut answers = Vec::new();
                let mut jobs = std::collections::VecDeque::new();
                for (n, op) in ops.iter().enumerate() {
                    let (done, answer) = tokio::sync::oneshot::channel();
                    jobs.push_back(Job { op: write(op, n), done });
                    answers.push(answer);
                }
                run_batch(&batched.writes, jobs).await;
                let mut got = Vec::new();
                for answer in answers {
                    got.push(kind(&answer.await.unwrap()));
                }

                let mut want = Vec::new();
                let mut conn = alone.writes.acquire().await.unwrap();
                for (n, op) in ops.iter().enumerate() {
                    want.push(kind(&write_alone(&mut conn, &write(op, n)).await));
                }
                drop(conn);

                prop_assert_eq!(got, want);
                prop_assert_eq!(state(&batched).await, state(&alone).await);
                Ok(())
            })?;
        }
    }

    /// Writes that arrive together share commits: 64 at once take fewer
    /// transactions than writes, and every one is answered and stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn writes_that_arrive_together_share_a_commit() {
        let db = TempDb::new();
        let store = Arc::new(db.open().await);
        let start = Arc::new(tokio::sync::Barrier::new(64));
        let mut tasks = Vec::new();
        for n in 0..64 {
            let (store, start) = (Arc::clone(&store), Arc::clone(&start));
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                store
                    .write(Write::events(vec![event(&format!("u{}", n % 3), n)]))
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (_, events, _) = state(&store).await;
        assert_eq!(events.len(), 64);
        let commits = store.writer.commits();
        assert!(commits < 64, "{commits} commits for 64 writes");
    }

    /// The writing task lives on the runtime that first wrote; when that
    /// runtime is gone, the next write starts a new task on its own.
    #[test]
    fn a_store_outlives_the_runtime_its_writer_started_on() {
        let db = TempDb::new();
        let first = tokio::runtime::Runtime::new().unwrap();
        let store = first.block_on(async {
            let store = db.open().await;
            store
                .write(Write::events(vec![event("u0", 1)]))
                .await
                .unwrap();
            store
        });
        drop(first);
        let second = tokio::runtime::Runtime::new().unwrap();
        second.block_on(async {
            store
                .write(Write::events(vec![event("u0", 2)]))
                .await
                .unwrap();
            let (_, events, _) = state(&store).await;
            assert_eq!(events.len(), 2);
        });
    }
}

//! The store's database: one writer thread with group commit, and readers,
//! over either backend.
//!
//! Every write is a closure run by the single writer thread inside a
//! savepoint of the current batch; the thread commits the batch (one fsync)
//! and only then answers each caller. So "the hub has it" always means "it
//! is on disk", and a storm of alarms costs one fsync per batch, not one per
//! alarm. Readers use their own connections and never wait for the writer.
//!
//! On PostgreSQL another hub may write at the same time: a batch runs at
//! SERIALIZABLE, and when the database refuses it (serialization failure,
//! deadlock) every write of the batch runs again, each in its own
//! transaction, until it commits (at most [`CONFLICT_RETRIES_MAX`] times).
//! This is why a write must be a function of the database and its
//! arguments (`Fn`, no side effects): see `tx.rs`.

use super::StoreError;
use super::backend::postgres::PgConnector;
use super::backend::sqlite::SqliteConnector;
use super::tx::{Dialect, Tx};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot, watch};

/// Writes waiting for the writer thread; callers wait past this.
const WRITE_QUEUE_MAX: usize = 8_192;
/// Writes committed together at most (bounds a batch's latency).
const WRITE_BATCH_MAX: usize = 512;
/// Reads running at once, each on its own connection; a read past them
/// waits for one to end. The connections stay open for the next reads:
/// opening one costs a PostgreSQL server a process (milliseconds of CPU),
/// and a storm's reads, opened and closed by the thousand, cost it more
/// than its writes.
const READERS_MAX: usize = 16;
/// Times one write is run again after a serialization failure before its
/// caller gets the error.
pub const CONFLICT_RETRIES_MAX: u32 = 16;
/// The first pause before running a conflicting write again; doubles.
const CONFLICT_BACKOFF_MS_FIRST: u64 = 2;

/// A connection of a backend, as the writer and readers drive it.
pub(super) trait Connection: Send + 'static {
    fn tx(&self) -> &dyn Tx;
    /// Run statements that return nothing (BEGIN, COMMIT, SAVEPOINT…).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Begin a transaction with `sql` (from `begin_write` or `begin_read`).
    /// A backend on a server may send it without waiting: its error is
    /// then the first statement's.
    fn begin(&mut self, sql: &str) -> Result<(), StoreError> {
        self.batch(sql)
    }
    /// The statement that begins a write transaction.
    fn begin_write(&self) -> &'static str;
    /// The statement that begins a read transaction (one snapshot).
    fn begin_read(&self) -> &'static str;
    /// Whether a savepoint costs next to nothing (an embedded database),
    /// so each write of a batch gets its own. Where it costs a round trip
    /// to a server, a batch runs without them and only a batch in which a
    /// write failed runs again with them (see [`run_batch`]).
    fn savepoints_are_cheap(&self) -> bool {
        true
    }
    /// Whether the connection is lost and must be opened again.
    fn is_broken(&self) -> bool {
        false
    }
    /// Tell the other hubs on this database, when the open write
    /// transaction commits, that it did (nothing where no other hub can
    /// share the database). Sent with the batch's settling: an error is
    /// the batch's.
    fn announce_commit(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Opens connections of one backend.
pub(super) trait Connector: Send + Sync + 'static {
    type Conn: Connection;
    fn connect(&self) -> Result<Self::Conn, StoreError>;
}

/// A write in the queue: run (perhaps more than once), then told whether
/// its batch committed.
trait Job: Send {
    /// Run the write in the open transaction. `Ok(true)`: keep what it
    /// wrote; `Ok(false)`: it failed, roll its savepoint back;
    /// `Err`: the whole transaction must be run again. `settle`: wait for
    /// what it sent without waiting ([`Tx::execute_later`]) before it ends,
    /// so that an error there is this write's, not the next one's.
    fn run(&mut self, tx: &dyn Tx, settle: bool) -> Result<bool, StoreError>;
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct WriteJob<R, F> {
    f: F,
    result: Option<Result<R, StoreError>>,
    reply: oneshot::Sender<Result<R, StoreError>>,
    writable: Arc<AtomicBool>,
}

impl<R, F> Job for WriteJob<R, F>
where
    R: Send + 'static,
    F: Fn(&dyn Tx) -> Result<R, StoreError> + Send + 'static,
{
    fn run(&mut self, tx: &dyn Tx, settle: bool) -> Result<bool, StoreError> {
        let result = (self.f)(tx);
        let settled = if settle { tx.settle() } else { Ok(()) };
        let result = match (result, settled) {
            (Ok(r), Ok(())) => Ok(r),
            (Ok(_), Err(e)) | (Err(e), _) => Err(e),
        };
        match result {
            Err(e @ StoreError::Conflict(_)) => Err(e),
            result => {
                if let Err(e) = &result
                    && e.cannot_write()
                {
                    self.writable.store(false, Ordering::Relaxed);
                }
                let ok = result.is_ok();
                self.result = Some(result);
                Ok(ok)
            }
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = match self.result {
            Some(r) => committed.and(r),
            None => committed.and(Err(StoreError::Unexpected("the write did not run".into()))),
        };
        let _ = self.reply.send(result);
    }
}

enum Backend {
    Sqlite(Arc<SqliteConnector>),
    Postgres(Arc<PgConnector>),
}

pub struct Db {
    jobs: mpsc::Sender<Box<dyn Job>>,
    /// False since a write failed because the disk could not take it
    /// (full, read-only, I/O error); true again after the next commit.
    writable: Arc<AtomicBool>,
    /// Bumped after every committed batch: live views re-read when it moves.
    committed: watch::Sender<u64>,
    /// Bumped when another hub on the same database committed (PostgreSQL's
    /// notifications), and when the listening connection is made again.
    foreign: watch::Sender<u64>,
    /// The listener's thread ends once this is gone.
    open: Arc<()>,
    /// Writes run again because another writer got in the way.
    conflicts: Arc<std::sync::atomic::AtomicU64>,
    backend: Backend,
    sqlite_readers: Readers<SqliteConnector>,
    pg_readers: Readers<PgConnector>,
    /// One permit per read running ([`READERS_MAX`]).
    reading: Arc<tokio::sync::Semaphore>,
}

/// Reader connections kept for reuse.
type Readers<K> = Arc<Mutex<Vec<<K as Connector>::Conn>>>;

impl Drop for Db {
    /// A PostgreSQL client runs a small runtime of its own, which must not
    /// be dropped on an async thread: the kept readers go on a plain one.
    fn drop(&mut self) {
        let kept = self
            .pg_readers
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        if !kept.is_empty() {
            let _ = std::thread::Builder::new()
                .name("vigie-store-close".into())
                .spawn(move || drop(kept));
        }
    }
}

impl Db {
    /// Open (creating if needed) the SQLite database at `path` and migrate it.
    pub fn open_sqlite(path: &std::path::Path) -> Result<Self, StoreError> {
        let connector = Arc::new(SqliteConnector::new(path));
        let writer = connector.connect()?;
        let mut writer = writer;
        super::migrations::migrate(&mut writer, Dialect::Sqlite)?;
        Self::start(writer, connector.clone(), Backend::Sqlite(connector))
    }

    /// Connect to the PostgreSQL database at `url` and migrate it. May be
    /// called from async code: the blocking client connects on its own thread.
    pub fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let connector = Arc::new(PgConnector::new(url)?);
        let opening = connector.clone();
        let writer = std::thread::scope(|s| {
            s.spawn(move || {
                let mut writer = opening.connect()?;
                super::migrations::migrate(&mut writer, Dialect::Postgres)?;
                Ok::<_, StoreError>(writer)
            })
            .join()
            .map_err(|_| StoreError::Unexpected("opening the store panicked".into()))?
        })?;
        Self::start(writer, connector.clone(), Backend::Postgres(connector))
    }

    /// Listen for the commits of other hubs on the same database, for as
    /// long as this store is open: each one moves [`Db::commits`] and
    /// [`Db::foreign_commits`]. Only PostgreSQL can be shared; on SQLite
    /// nothing happens. A running hub calls it; a command-line tool need not.
    pub fn listen_for_other_hubs(&self) -> Result<(), StoreError> {
        let Backend::Postgres(connector) = &self.backend else {
            return Ok(());
        };
        let committed = self.committed.clone();
        let foreign = self.foreign.clone();
        let open = Arc::downgrade(&self.open);
        connector.listen(
            move || {
                foreign.send_modify(|n| *n = n.wrapping_add(1));
                committed.send_modify(|n| *n = n.wrapping_add(1));
            },
            move || open.strong_count() > 0,
        )
    }

    fn start<K: Connector>(
        writer: K::Conn,
        connector: Arc<K>,
        backend: Backend,
    ) -> Result<Self, StoreError> {
        let (jobs, rx) = mpsc::channel::<Box<dyn Job>>(WRITE_QUEUE_MAX);
        let (committed, _) = watch::channel(0u64);
        let signal = committed.clone();
        let writable = Arc::new(AtomicBool::new(true));
        let health = writable.clone();
        let conflicts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = conflicts.clone();
        std::thread::Builder::new()
            .name("vigie-store-writer".into())
            .spawn(move || writer_loop(writer, &*connector, rx, signal, health, counted))
            .map_err(|e| StoreError::Unexpected(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs,
            writable,
            committed,
            foreign: watch::channel(0u64).0,
            open: Arc::new(()),
            conflicts,
            backend,
            sqlite_readers: Arc::default(),
            pg_readers: Arc::default(),
            reading: Arc::new(tokio::sync::Semaphore::new(READERS_MAX)),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Run `f` in the writer's transaction; returns once it is committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&dyn Tx) -> Result<R, StoreError> + Send + 'static,
    {
        self.write_then(f, || {}).await
    }

    /// [`Db::write`], running `enqueued` once the write has its place in
    /// the queue: every write queued before it runs before it, every write
    /// queued after it runs after it.
    pub async fn write_then<R, F>(
        &self,
        f: F,
        enqueued: impl FnOnce() + Send,
    ) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: Fn(&dyn Tx) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<R, StoreError>>();
        let job = Box::new(WriteJob {
            f,
            result: None,
            reply,
            writable: self.writable.clone(),
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        enqueued();
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the last write could be kept (false after a disk-full or
    /// I/O failure, until a write commits again).
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::Relaxed)
    }

    /// How many times a write ran again after a conflict with another
    /// writer (PostgreSQL; always 0 on SQLite).
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    /// A receiver that sees a new value after each committed write batch.
    pub fn commits(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// A receiver that sees a new value when another hub committed (only on
    /// PostgreSQL; a wake-up: the database says what changed).
    pub fn foreign_commits(&self) -> watch::Receiver<u64> {
        self.foreign.subscribe()
    }

    /// Run `f` on a reader connection, on a blocking thread, inside one read
    /// transaction (a consistent snapshot of the database).
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<R, StoreError> + Send + 'static,
    {
        let permit = self
            .reading
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        match &self.backend {
            Backend::Sqlite(c) => read_on(c, &self.sqlite_readers, permit, f).await,
            Backend::Postgres(c) => read_on(c, &self.pg_readers, permit, f).await,
        }
    }
}

/// Run a read on a blocking thread, where connections are also opened,
/// kept and closed (a PostgreSQL client must not be dropped on an async thread).
/// `permit` is held until the connection is back in `pool`, so the pool
/// never holds more than [`READERS_MAX`] connections and a read finds one.
async fn read_on<K, R, F>(
    connector: &Arc<K>,
    pool: &Readers<K>,
    permit: tokio::sync::OwnedSemaphorePermit,
    f: F,
) -> Result<R, StoreError>
where
    K: Connector,
    R: Send + 'static,
    F: FnOnce(&dyn Tx) -> Result<R, StoreError> + Send + 'static,
{
    let connector = connector.clone();
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let kept = pool.lock().ok().and_then(|mut r| r.pop());
        let (conn, result) = read_with(&*connector, kept, f);
        if let Some(conn) = conn
            && let Ok(mut readers) = pool.lock()
            && readers.len() < READERS_MAX
        {
            readers.push(conn);
        }
        drop(permit);
        result
    })
    .await
    .map_err(|e| StoreError::Unexpected(format!("reader task failed: {e}")))?
}

fn read_with<K: Connector, R>(
    connector: &K,
    kept: Option<K::Conn>,
    f: impl FnOnce(&dyn Tx) -> Result<R, StoreError>,
) -> (Option<K::Conn>, Result<R, StoreError>) {
    let mut conn = match kept {
        Some(c) => c,
        None => match connector.connect() {
            Ok(c) => c,
            Err(e) => return (None, Err(e)),
        },
    };
    // One snapshot for all the statements of a read: an alarm's
    // events, SMS and answers are seen as of the same commit.
    let begin = conn.begin_read();
    let r = match conn.begin(begin) {
        Ok(()) => {
            let r = f(conn.tx());
            match conn.batch("COMMIT") {
                Ok(()) => r,
                // A connection that cannot end its read is not reused.
                Err(_) => return (None, r),
            }
        }
        Err(e) => return (None, Err(e)),
    };
    (Some(conn), r)
}

/// Run `job` inside a savepoint of the open transaction.
fn in_savepoint(conn: &mut impl Connection, job: &mut Box<dyn Job>) -> Result<(), StoreError> {
    conn.batch("SAVEPOINT job")?;
    let keep = job.run(conn.tx(), true)?;
    conn.batch(if keep {
        "RELEASE SAVEPOINT job"
    } else {
        "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job"
    })
}

/// A failed begin or commit, as callers see it.
fn write_failure(e: &StoreError) -> StoreError {
    match e {
        StoreError::CannotWrite(m) => StoreError::CannotWrite(m.clone()),
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        other => StoreError::Unexpected(other.to_string()),
    }
}

/// Run a batch in one transaction, then commit. A write that fails
/// (`Ok(false)`) must leave nothing behind while the others are kept: each
/// write runs in its own savepoint. Where savepoints cost a round trip
/// (PostgreSQL: two per write, a third of a storm's statements), the batch
/// first runs without them; if a write fails, that transaction is rolled
/// back and the whole batch runs again with savepoints, which every write
/// allows (a write is a function of the database and its arguments).
fn run_batch(conn: &mut impl Connection, jobs: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    if !conn.savepoints_are_cheap() {
        match run_in_transaction(conn, jobs, Isolation::Shared)? {
            Ran::Committed => return Ok(()),
            Ran::AWriteFailed => {}
        }
    }
    match run_in_transaction(conn, jobs, Isolation::PerWrite)? {
        Ran::Committed | Ran::AWriteFailed => Ok(()),
    }
}

/// How the writes of one transaction are kept apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// Each write in its own savepoint: a failed one is rolled back alone.
    PerWrite,
    /// No savepoints: a failed write makes the whole transaction roll back.
    Shared,
}

enum Ran {
    Committed,
    /// Only with [`Isolation::Shared`]: a write failed, nothing was kept.
    AWriteFailed,
}

fn run_in_transaction(
    conn: &mut impl Connection,
    jobs: &mut [Box<dyn Job>],
    isolation: Isolation,
) -> Result<Ran, StoreError> {
    let begin = conn.begin_write();
    conn.begin(begin)?;
    let ran = jobs.iter_mut().try_fold(true, |all_kept, job| {
        if !all_kept {
            return Ok(false);
        }
        match isolation {
            Isolation::PerWrite => in_savepoint(conn, job).map(|()| true),
            // Not waited for write by write: the first error, wherever it
            // shows, sends the batch back to run with savepoints, where
            // each write waits for its own.
            Isolation::Shared => job.run(conn.tx(), false),
        }
    });
    let ran = match ran {
        // The announcement goes with the settling: an error of either (the
        // transaction aborted by a write that went on) is a failed write.
        Ok(true) => match conn.announce_commit().and_then(|()| conn.tx().settle()) {
            Ok(()) => Ok(true),
            Err(e @ StoreError::Conflict(_)) => Err(e),
            Err(_) => Ok(false),
        },
        other => other,
    };
    let outcome = match ran {
        Ok(true) => conn.batch("COMMIT").map(|()| Ran::Committed).map_err(Some),
        Ok(false) => Err(None),
        Err(e) => Err(Some(e)),
    };
    match outcome {
        Ok(ran) => Ok(ran),
        Err(failure) => {
            let _ = conn.batch("ROLLBACK");
            match failure {
                None => Ok(Ran::AWriteFailed),
                Some(e) => Err(e),
            }
        }
    }
}

fn writer_loop<K: Connector>(
    mut conn: K::Conn,
    connector: &K,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    committed_signal: watch::Sender<u64>,
    writable: Arc<AtomicBool>,
    conflicts: Arc<std::sync::atomic::AtomicU64>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = Vec::with_capacity(16);
        jobs.push(first);
        while jobs.len() < WRITE_BATCH_MAX {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match run_batch(&mut conn, &mut jobs) {
            Ok(()) => {
                writable.store(true, Ordering::Relaxed);
                committed_signal.send_modify(|n| *n = n.wrapping_add(1));
                for job in jobs {
                    job.finish(Ok(()));
                }
            }
            Err(StoreError::Conflict(why)) => {
                // Another hub wrote what this batch read: run each write
                // again on its own, so one conflict does not hold back the rest.
                tracing::debug!(%why, writes = jobs.len(), "store: a batch conflicted with another writer; running its writes again");
                conflicts.fetch_add(1, Ordering::Relaxed);
                for mut job in jobs {
                    let committed = run_alone(&mut conn, &mut job, &conflicts);
                    if committed.is_ok() {
                        writable.store(true, Ordering::Relaxed);
                        committed_signal.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    job.finish(committed);
                }
            }
            Err(e) => {
                if e.cannot_write() {
                    writable.store(false, Ordering::Relaxed);
                    tracing::error!(error = %e, "store: the disk cannot take the write; nothing of this batch was kept");
                } else {
                    tracing::error!(error = %e, "store: a write batch failed; nothing of it was kept");
                }
                let failure = write_failure(&e);
                for job in jobs {
                    job.finish(Err(write_failure(&failure)));
                }
            }
        }
        if conn.is_broken() {
            conn = reconnect(connector);
        }
    }
}

/// Open the writer's connection again, waiting as long as it takes: the
/// callers meanwhile get errors, and the box sends its direct SMS.
fn reconnect<K: Connector>(connector: &K) -> K::Conn {
    let mut pause_ms = 100;
    loop {
        match connector.connect() {
            Ok(c) => {
                tracing::info!("store: the writer's connection is open again");
                return c;
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: the writer cannot reach the database; trying again");
                std::thread::sleep(std::time::Duration::from_millis(pause_ms));
                pause_ms = (pause_ms * 2).min(2_000);
            }
        }
    }
}

/// Run one write in its own transaction, again after each conflict.
fn run_alone(
    conn: &mut impl Connection,
    job: &mut Box<dyn Job>,
    conflicts: &std::sync::atomic::AtomicU64,
) -> Result<(), StoreError> {
    let mut backoff_ms = CONFLICT_BACKOFF_MS_FIRST;
    let mut tries = 0;
    loop {
        match run_batch(conn, std::slice::from_mut(job)) {
            Err(StoreError::Conflict(why)) if tries < CONFLICT_RETRIES_MAX => {
                tries += 1;
                conflicts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%why, tries, "store: a write conflicted with another writer; running it again");
                // Jittered, so two hubs that conflicted do not meet again.
                let jitter = rand::random::<u64>() % backoff_ms.max(1);
                std::thread::sleep(std::time::Duration::from_millis(backoff_ms + jitter));
                backoff_ms = (backoff_ms * 2).min(200);
            }
            other => return other.map_err(|e| write_failure(&e)),
        }
    }
}

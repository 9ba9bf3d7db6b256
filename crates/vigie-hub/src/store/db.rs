//! SQLite connections: one writer thread with group commit, and readers.
//!
//! Every write is a closure run by the single writer thread inside a
//! savepoint of the current batch; the thread commits the batch (one fsync,
//! `synchronous = FULL` in WAL mode) and only then answers each caller. So
//! "the hub has it" always means "it is on disk", and a storm of alarms
//! costs one fsync per batch, not one per alarm. Readers use their own WAL
//! connections and never wait for the writer.

use super::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Writes waiting for the writer thread; callers wait past this.
const WRITE_QUEUE_MAX: usize = 8_192;
/// Writes committed together at most (bounds a batch's latency).
const WRITE_BATCH_MAX: usize = 512;
/// Reader connections kept open for reuse.
const READERS_KEPT_MAX: usize = 8;
/// How long a connection waits on a lock held by another process (the
/// admin CLI) before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A write: run on the connection (`Some`), or told it cannot run (`None`).
type Job = Box<dyn FnOnce(Option<&Connection>) -> Reply + Send>;

pub struct Db {
    jobs: mpsc::Sender<Job>,
    /// False since a write failed because the disk could not take it
    /// (full, read-only, I/O error); true again after the next commit.
    writable: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Bumped after every committed batch: live views re-read when it moves.
    committed: tokio::sync::watch::Sender<u64>,
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

impl Db {
    /// Open (creating if needed) the database at `path` and migrate it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = open_connection(path)?;
        conn.execute_batch(include_str!("schema.sql"))?;
        add_missing_columns(&conn)?;
        let (tx, rx) = mpsc::channel::<Job>(WRITE_QUEUE_MAX);
        let (committed, _) = tokio::sync::watch::channel(0u64);
        let signal = committed.clone();
        let writable = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let health = writable.clone();
        std::thread::Builder::new()
            .name("vigie-store-writer".into())
            .spawn(move || writer_loop(conn, rx, signal, health))
            .map_err(|e| StoreError::Unexpected(format!("cannot start the writer thread: {e}")))?;
        Ok(Self {
            jobs: tx,
            writable,
            committed,
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Run `f` in the writer's transaction; returns once it is committed.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
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
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<R, StoreError>>();
        let writable = self.writable.clone();
        let job: Job = Box::new(move |conn: Option<&Connection>| -> Reply {
            let result = match conn {
                Some(conn) => in_savepoint(conn, f).inspect_err(|e| {
                    if e.cannot_write() {
                        writable.store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                }),
                None => Err(StoreError::Unexpected(
                    "the database could not begin a transaction".into(),
                )),
            };
            Box::new(move |committed: Result<(), StoreError>| {
                let _ = tx.send(committed.and(result));
            })
        });
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        enqueued();
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the last write could be kept (false after a disk-full or
    /// I/O failure, until a write commits again).
    pub fn writable(&self) -> bool {
        self.writable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A receiver that sees a new value after each committed write batch.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Run `f` on a reader connection, on a blocking thread, inside one read
    /// transaction (a consistent snapshot of the database).
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let conn = match self.readers.lock().ok().and_then(|mut r| r.pop()) {
            Some(c) => c,
            None => open_connection(&self.path)?,
        };
        let (conn, result) = tokio::task::spawn_blocking(move || {
            // One snapshot for all the statements of a read: an alarm's
            // events, SMS and answers are seen as of the same commit.
            let r = match conn.execute_batch("BEGIN DEFERRED") {
                Ok(()) => {
                    let r = f(&conn);
                    let _ = conn.execute_batch("COMMIT");
                    r
                }
                Err(e) => Err(StoreError::from(e)),
            };
            (conn, r)
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("reader task failed: {e}")))?;
        if let Ok(mut readers) = self.readers.lock()
            && readers.len() < READERS_KEPT_MAX
        {
            readers.push(conn);
        }
        result
    }
}

/// Columns added to a table after it was first shipped: `schema.sql`
/// creates new databases with them, this adds them to older ones.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    (
        "device_health",
        "clock_offset_ms",
        "INTEGER NOT NULL DEFAULT 0",
    ),
    (
        "device_health",
        "signed_created_s",
        "INTEGER NOT NULL DEFAULT 0",
    ),
];

fn add_missing_columns(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, declaration) in ADDED_COLUMNS {
        let present = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists([column])?;
        if !present {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
            ))?;
        }
    }
    Ok(())
}

fn in_savepoint<R>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end)?;
    result
}

/// Whether a database error says the disk cannot take writes.
pub(crate) fn is_cannot_write(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode;
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
        )
    )
}

/// A failed commit or begin, as callers see it.
fn write_failure(e: &StoreError) -> StoreError {
    match e {
        StoreError::Database(d) if is_cannot_write(d) => StoreError::CannotWrite(d.to_string()),
        other => StoreError::Unexpected(other.to_string()),
    }
}

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    committed_signal: tokio::sync::watch::Sender<u64>,
    writable: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    while let Some(first) = rx.blocking_recv() {
        let mut replies = Vec::with_capacity(16);
        let began = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from);
        if let Err(e) = began {
            // Answer everyone waiting in this batch with the error; nothing was written.
            tracing::error!(error = %e, "store: cannot begin a write transaction");
            if e.cannot_write() {
                writable.store(false, Ordering::Relaxed);
            }
            first(None)(Err(write_failure(&e)));
            continue;
        }
        replies.push(first(Some(&conn)));
        while replies.len() < WRITE_BATCH_MAX {
            match rx.try_recv() {
                Ok(job) => replies.push(job(Some(&conn))),
                Err(_) => break,
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        match &committed {
            Err(e) => {
                if e.cannot_write() {
                    writable.store(false, Ordering::Relaxed);
                    tracing::error!(error = %e, "store: the disk cannot take the write; nothing of this batch was kept");
                }
                let _ = conn.execute_batch("ROLLBACK");
            }
            Ok(()) => {
                writable.store(true, Ordering::Relaxed);
                committed_signal.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
        for reply in replies {
            reply(committed.as_ref().map(|_| ()).map_err(write_failure));
        }
    }
}

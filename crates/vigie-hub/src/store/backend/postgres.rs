//! PostgreSQL: the store shared by several hubs.
//!
//! The only code that knows the PostgreSQL client. Each connection is a
//! `tokio_postgres` client driven by the one thread that owns it (the
//! writer, or a reader on a blocking thread), on a runtime of its own, like
//! rusqlite's blocking calls. Statements are written with `?N` and
//! rewritten to `$N` when first prepared, then cached per connection.
//!
//! A statement whose answer the write does not need
//! ([`Tx::execute_later`]: an event appended, an SMS queued) is sent at once
//! and not waited for: the next statement that answers, or the end of the
//! write, waits for it and reports its error. The server runs them in
//! order; the hub spares a round trip each, which is what a write costs on
//! a server (a storm's alarm is some forty statements).
//!
//! Writes run at SERIALIZABLE; a serialization failure or a deadlock is
//! [`StoreError::Conflict`], which makes the writer run the write again
//! (see `db.rs`).

use crate::store::StoreError;
use crate::store::db::{Connection, Connector};
use crate::store::tx::{Columns, Dialect, Row, Tx, Value, dollar_params};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Socket};

/// How long a connection attempt may take before it is an error.
const CONNECT_TIMEOUT_S: u64 = 10;
/// Prepared statements kept per connection: more than the store has.
const STATEMENTS_KEPT_MAX: usize = 512;

pub struct PgConnector {
    config: tokio_postgres::Config,
    /// Announced with each commit of this store's writer, so that its own
    /// listener passes over its own commits.
    store_id: Arc<str>,
}

impl PgConnector {
    /// `url`: a libpq URL or key=value string, several hosts and
    /// `target_session_attrs=read-write` included.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Unexpected(format!(
                "the store's PostgreSQL address cannot be read ({e}); expected e.g. postgres://user@host/db"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(CONNECT_TIMEOUT_S));
        }
        config.application_name("vigie-hub");
        Ok(Self {
            config,
            store_id: format!("{:016x}", rand::random::<u64>()).into(),
        })
    }
}

/// The channel every committed write batch is announced on
/// (`pg_notify`, sent in the batch's transaction, so delivered only if it
/// commits), with the committing store's id as its payload.
pub const COMMIT_CHANNEL: &str = "vigie_commit";
/// A lost listening connection is made again after this pause.
const LISTEN_RETRY_MS: u64 = 1_000;
/// The listener looks this often whether its store is still open.
const LISTEN_ALIVE_CHECK_MS: u64 = 1_000;

impl PgConnector {
    /// Listen for the commits of other stores on the same database (other
    /// hubs), on a connection and a thread of their own: `seen` is called
    /// for each commit announced by another store, and once each time the
    /// connection is made (what was announced while it was down is not
    /// known: a full re-read). A notification is only a wake-up; whoever
    /// is woken reads the database. Ends once `alive` returns false.
    pub fn listen(
        &self,
        seen: impl Fn() + Send + 'static,
        alive: impl Fn() -> bool + Send + 'static,
    ) -> Result<(), StoreError> {
        let config = self.config.clone();
        let own = self.store_id.to_string();
        std::thread::Builder::new()
            .name("vigie-store-listener".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    tracing::error!("store: cannot start the listener's runtime; other hubs' commits are seen by polling only");
                    return;
                };
                runtime.block_on(listen_loop(config, own, seen, alive));
            })
            .map(|_| ())
            .map_err(|e| StoreError::Unexpected(format!("cannot start the listener thread: {e}")))
    }
}

async fn listen_loop(
    config: tokio_postgres::Config,
    own: String,
    seen: impl Fn(),
    alive: impl Fn() -> bool,
) {
    use futures::StreamExt as _;
    while alive() {
        match config.connect(NoTls).await {
            Ok((client, mut link)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    let mut messages = futures::stream::poll_fn(move |cx| link.poll_message(cx));
                    while let Some(m) = messages.next().await {
                        match m {
                            Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                                if tx.send(n.payload().to_string()).is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "store: the listening connection broke; making it again");
                                return;
                            }
                        }
                    }
                });
                if let Err(e) = client
                    .batch_execute(&format!("LISTEN {COMMIT_CHANNEL}"))
                    .await
                {
                    tracing::warn!(error = %e, "store: cannot listen for other hubs' commits; trying again");
                } else {
                    seen();
                    loop {
                        tokio::select! {
                            payload = rx.recv() => match payload {
                                Some(p) if p == own => {}
                                Some(_) => seen(),
                                None => break,
                            },
                            _ = tokio::time::sleep(std::time::Duration::from_millis(LISTEN_ALIVE_CHECK_MS)) => {
                                if !alive() {
                                    driver.abort();
                                    return;
                                }
                            }
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %e, "store: the listener cannot reach the database; trying again");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(LISTEN_RETRY_MS)).await;
    }
}

/// A statement sent and not yet answered.
type Unanswered = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

pub struct PgConn {
    runtime: tokio::runtime::Runtime,
    /// The socket's side of the client: reads answers, writes requests.
    /// Polled whenever the owning thread waits for an answer.
    link: RefCell<tokio_postgres::Connection<Socket, NoTlsStream>>,
    /// True once `link` has ended (the server closed it or it broke).
    closed: std::cell::Cell<bool>,
    client: Arc<tokio_postgres::Client>,
    /// Each statement prepared, with its columns (shared by its rows).
    statements: RefCell<HashMap<String, (tokio_postgres::Statement, Arc<Columns>)>>,
    /// Statements of [`Tx::execute_later`], in the order they were sent.
    unanswered: RefCell<Vec<Unanswered>>,
    /// Its store's id, announced with each commit.
    store_id: Arc<str>,
}

impl Connector for PgConnector {
    type Conn = PgConn;

    fn connect(&self) -> Result<PgConn, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unexpected(format!("cannot start the PostgreSQL client's runtime: {e}"))
            })?;
        let (client, link) = runtime.block_on(self.config.connect(NoTls))?;
        Ok(PgConn {
            store_id: self.store_id.clone(),
            runtime,
            link: RefCell::new(link),
            closed: std::cell::Cell::new(false),
            client: Arc::new(client),
            statements: RefCell::new(HashMap::new()),
            unanswered: RefCell::new(Vec::new()),
        })
    }
}

impl PgConn {
    /// Wait for `future`, driving the socket meanwhile.
    fn wait<T>(
        &self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        let mut future = std::pin::pin!(future);
        let mut link = self.link.borrow_mut();
        let closed = &self.closed;
        self.runtime.block_on(std::future::poll_fn(|cx| {
            if !closed.get() {
                // The link ends with the connection; the requests still
                // waiting then fail with the client's "connection closed".
                if let Poll::Ready(ended) = Pin::new(&mut *link).poll(cx) {
                    if let Err(e) = ended {
                        tracing::warn!(error = %e, "store: the PostgreSQL connection broke");
                    }
                    closed.set(true);
                }
            }
            future.as_mut().poll(cx)
        }))
    }

    /// Send `request` behind the statements not yet answered and wait for
    /// them all: one round trip. An error among those sent before is the
    /// answer (the server refuses what follows an error in a transaction).
    fn answer<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        let sent = std::mem::take(&mut *self.unanswered.borrow_mut());
        if sent.is_empty() {
            return Ok(self.wait(request)?);
        }
        let (before, answer) = self
            .wait(async move {
                // `join` polls the sent ones first, then sends `request`.
                Ok(futures::join!(settle_all(sent), request))
            })
            .map_err(StoreError::from)?;
        before?;
        Ok(answer?)
    }

    /// Wait for every statement sent and not yet answered; the first error
    /// among them, if any.
    fn settle_sent(&self) -> Result<(), StoreError> {
        let sent = std::mem::take(&mut *self.unanswered.borrow_mut());
        if sent.is_empty() {
            return Ok(());
        }
        self.wait(settle_all(sent)).map_err(StoreError::from)
    }

    /// Send a request without waiting for its answer. Polled once here, it
    /// is encoded and queued for the socket in this order; its answer is
    /// read when the next statement waits (`settle_sent`).
    fn send(&self, mut answer: Unanswered) -> Result<(), StoreError> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match answer.as_mut().poll(&mut cx) {
            Poll::Ready(Err(e)) => Err(e.into()),
            Poll::Ready(Ok(())) => Ok(()),
            Poll::Pending => {
                self.unanswered.borrow_mut().push(answer);
                Ok(())
            }
        }
    }

    fn statement(&self, sql: &str) -> Result<tokio_postgres::Statement, StoreError> {
        self.prepared(sql).map(|(st, _)| st)
    }

    fn prepared(&self, sql: &str) -> Result<(tokio_postgres::Statement, Arc<Columns>), StoreError> {
        if let Some(known) = self.statements.borrow().get(sql) {
            return Ok(known.clone());
        }
        let text = dollar_params(sql);
        let st = self
            .wait(self.client.prepare(&text))
            .map_err(|e| in_statement(e, sql))?;
        let names = st.columns().iter().map(|c| c.name().to_string()).collect();
        let known = (st, Columns::new(sql, names));
        let mut cache = self.statements.borrow_mut();
        // Lists make a statement per length; a bound keeps the server's
        // prepared statements few (dropped ones are closed).
        if cache.len() >= STATEMENTS_KEPT_MAX {
            cache.clear();
        }
        cache.insert(sql.to_string(), known.clone());
        Ok(known)
    }
}

/// Every answer of `sent`, in order; the first error among them.
async fn settle_all(sent: Vec<Unanswered>) -> Result<(), tokio_postgres::Error> {
    let mut first_error = None;
    for answer in sent {
        if let Err(e) = answer.await
            && first_error.is_none()
        {
            first_error = Some(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// A statement that PostgreSQL refused to prepare names its SQL: it is
/// always a bug of this version, never bad input.
fn in_statement(e: tokio_postgres::Error, sql: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Database(m) => StoreError::Database(format!(
            "{m} in: {}",
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        )),
        other => other,
    }
}

fn params(args: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Connection for PgConn {
    fn tx(&self) -> &dyn Tx {
        self
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // A rollback is why a write's errors no longer matter.
        if sql.starts_with("ROLLBACK") {
            let _ = self.settle_sent();
            return Ok(self.wait(self.client.batch_execute(sql))?);
        }
        self.answer(self.client.batch_execute(sql))
    }

    fn begin(&mut self, sql: &str) -> Result<(), StoreError> {
        self.settle_sent()?;
        let client = self.client.clone();
        let sql = sql.to_string();
        self.send(Box::pin(async move { client.batch_execute(&sql).await }))
    }

    fn begin_write(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL SERIALIZABLE"
    }

    fn begin_read(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    }

    fn savepoints_are_cheap(&self) -> bool {
        false
    }

    /// `pg_notify`, which PostgreSQL delivers only if the transaction
    /// commits; sent without waiting, its answer comes with the settling.
    fn announce_commit(&self) -> Result<(), StoreError> {
        self.execute_later(
            "SELECT pg_notify(?1, ?2)",
            &[
                Value::Text(COMMIT_CHANNEL.to_string()),
                Value::Text(self.store_id.to_string()),
            ],
        )
    }

    fn is_broken(&self) -> bool {
        self.closed.get() || self.client.is_closed()
    }
}

impl Tx for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&self, sql: &str, args: &[Value]) -> Result<usize, StoreError> {
        let st = self.statement(sql)?;
        let n = self.answer(self.client.execute(&st, &params(args)))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn execute_later(&self, sql: &str, args: &[Value]) -> Result<(), StoreError> {
        let st = self.statement(sql)?;
        let client = self.client.clone();
        let args = args.to_vec();
        self.send(Box::pin(async move {
            client.execute(&st, &params(&args)).await.map(|_| ())
        }))
    }

    /// Also asks the server whether the transaction still stands: after an
    /// error that a write caught and went past, PostgreSQL ignores every
    /// statement and turns COMMIT into a silent ROLLBACK; this statement
    /// then fails instead, and the write with it.
    fn settle(&self) -> Result<(), StoreError> {
        self.execute("SELECT 1", &[]).map(|_| ())
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let (st, columns) = self.prepared(sql)?;
        let rows = self.answer(self.client.query(&st, &params(args)))?;
        rows.iter()
            .map(|r| decode_row(r, &columns).map(|values| Row::new(columns.clone(), values)))
            .collect()
    }
}

fn decode_row(r: &tokio_postgres::Row, columns: &Arc<Columns>) -> Result<Vec<Value>, StoreError> {
    let corrupt = |i: usize, why: String| StoreError::Corrupt {
        table: columns.table.clone(),
        column: columns.names.get(i).cloned().unwrap_or_default(),
        why,
    };
    (0..r.len())
        .map(|i| {
            let ty = r.columns()[i].type_().clone();
            let got = match ty {
                Type::INT8 => r.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
                Type::INT4 => r
                    .try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|n| Value::Int(i64::from(n)))),
                Type::INT2 => r
                    .try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|n| Value::Int(i64::from(n)))),
                Type::BOOL => r
                    .try_get::<_, Option<bool>>(i)
                    .map(|v| v.map(|b| Value::Int(i64::from(b)))),
                Type::FLOAT8 => r.try_get::<_, Option<f64>>(i).map(|v| v.map(Value::Real)),
                Type::FLOAT4 => r
                    .try_get::<_, Option<f32>>(i)
                    .map(|v| v.map(|x| Value::Real(f64::from(x)))),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => r
                    .try_get::<_, Option<String>>(i)
                    .map(|v| v.map(Value::Text)),
                Type::BYTEA => r
                    .try_get::<_, Option<Vec<u8>>>(i)
                    .map(|v| v.map(Value::Blob)),
                other => {
                    return Err(corrupt(
                        i,
                        format!("PostgreSQL type {other} is not one the store reads (cast it)"),
                    ));
                }
            };
            got.map(|v| v.unwrap_or(Value::Null))
                .map_err(|e| corrupt(i, e.to_string()))
        })
        .collect()
}

/// Arguments take the type the statement expects: the store's SQL is
/// written once for both backends, and SQLite does not type parameters.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::UNKNOWN => n.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be passed as {ty}").into()),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT8 => x.to_sql(ty, out),
                Type::FLOAT4 => (*x as f32).to_sql(ty, out),
                _ => Err(format!("a real cannot be passed as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::BYTEA | Type::INT8 | Type::INT4 | Type::INT2 | Type::FLOAT8 | Type::BOOL => {
                    Err(format!("text cannot be passed as {ty}").into())
                }
                _ => s.as_str().to_sql(&Type::TEXT, out),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("a blob cannot be passed as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let text = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        match e.code() {
            Some(c)
                if *c == SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED =>
            {
                StoreError::Conflict(text)
            }
            Some(c)
                if *c == SqlState::DISK_FULL
                    || *c == SqlState::IO_ERROR
                    || *c == SqlState::READ_ONLY_SQL_TRANSACTION
                    || *c == SqlState::INSUFFICIENT_RESOURCES =>
            {
                StoreError::CannotWrite(text)
            }
            _ if e.is_closed() => {
                StoreError::CannotWrite(format!("the connection to PostgreSQL is closed: {text}"))
            }
            _ => StoreError::Database(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The addresses a Region gives: several hosts with the primary found by
    /// `target_session_attrs`, a unix socket, key=value; a bad one is an
    /// error that says what is expected (and never echoes a password).
    #[test]
    fn libpq_addresses_are_read_and_a_bad_one_is_refused_plainly() {
        for url in [
            "postgres://vigie:secret@db1:5432,db2:5433/vigie?target_session_attrs=read-write",
            "postgresql://vigie@/vigie?host=/run/postgresql",
            "host=db1,db2 port=5432,5433 user=vigie dbname=vigie target_session_attrs=read-write",
        ] {
            let c = PgConnector::new(url).expect(url);
            assert_eq!(c.config.get_application_name(), Some("vigie-hub"));
            assert!(c.config.get_connect_timeout().is_some());
        }
        let multi = PgConnector::new(
            "postgres://vigie:secret@db1:5432,db2:5433/vigie?target_session_attrs=read-write",
        )
        .expect("multi-host");
        assert_eq!(multi.config.get_hosts().len(), 2);
        assert_eq!(multi.config.get_ports(), &[5432, 5433]);
        let e = PgConnector::new("postgres://vigie:secret@db1:notaport/vigie")
            .err()
            .expect("a bad port");
        let text = e.to_string();
        assert!(text.contains("postgres://user@host/db"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}

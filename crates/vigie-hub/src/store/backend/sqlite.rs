//! SQLite, embedded: WAL, `synchronous = FULL`, one writer and readers.
//!
//! The only code that knows rusqlite. Statements are prepared once per
//! connection and cached.

use crate::store::StoreError;
use crate::store::db::{Connection, Connector};
use crate::store::tx::{Columns, Dialect, Row, Tx, Value};
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How long a connection waits on a lock held by another process (the
/// admin CLI) before giving up.
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Prepared statements kept per connection: more than the store has.
const STATEMENT_CACHE_MAX: usize = 512;

pub struct SqliteConnector {
    path: PathBuf,
}

impl SqliteConnector {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }
}

pub struct SqliteConn {
    conn: rusqlite::Connection,
    /// Each query's columns, made once per statement text and shared by
    /// its rows.
    columns: std::cell::RefCell<std::collections::HashMap<String, Arc<Columns>>>,
}

impl Connector for SqliteConnector {
    type Conn = SqliteConn;

    fn connect(&self) -> Result<SqliteConn, StoreError> {
        let conn = rusqlite::Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_MAX);
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )?;
        Ok(SqliteConn {
            conn,
            columns: Default::default(),
        })
    }
}

impl Connection for SqliteConn {
    fn tx(&self) -> &dyn Tx {
        self
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch(sql)?)
    }

    fn begin_write(&self) -> &'static str {
        "BEGIN IMMEDIATE"
    }

    fn begin_read(&self) -> &'static str {
        "BEGIN DEFERRED"
    }
}

impl Tx for SqliteConn {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&self, sql: &str, args: &[Value]) -> Result<usize, StoreError> {
        let mut st = self.conn.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(args.iter()))?)
    }

    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut st = self.conn.prepare_cached(sql)?;
        let known = self.columns.borrow().get(sql).cloned();
        let columns = match known {
            Some(c) => c,
            None => {
                let names = st.column_names().iter().map(|n| n.to_string()).collect();
                let c = Columns::new(sql, names);
                let mut cache = self.columns.borrow_mut();
                if cache.len() >= STATEMENT_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(sql.to_string(), c.clone());
                c
            }
        };
        let width = columns.names.len();
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row::new(columns.clone(), values));
        }
        Ok(out)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Value::Real(x) => ToSqlOutput::Borrowed(ValueRef::Real(*x)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let cannot_write = matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::DiskFull
                    | ErrorCode::ReadOnly
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::CannotOpen
            )
        );
        if cannot_write {
            StoreError::CannotWrite(e.to_string())
        } else {
            StoreError::Database(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::migrations::MIGRATIONS;

    /// The plan SQLite picks for `sql` on the hub's schema, one line a step.
    fn plan(sql: &str) -> Vec<String> {
        let c = rusqlite::Connection::open_in_memory().expect("in-memory database");
        for m in MIGRATIONS {
            c.execute_batch(m.sqlite).expect("schema");
        }
        let mut st = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("plan");
        st.query_map([1], |r| r.get::<_, String>(3))
            .expect("plan rows")
            .collect::<Result<_, _>>()
            .expect("plan rows")
    }

    /// The contacts an alarm may reach are searched by shop, never read in
    /// full (a full read made the regional storm 1.5× slower).
    #[test]
    fn reachable_contacts_are_searched_not_scanned() {
        let steps = plan(crate::store::tables::contacts::REACHABLE);
        assert!(steps.iter().all(|s| !s.starts_with("SCAN")), "{steps:?}");
        assert_eq!(
            steps
                .iter()
                .filter(|s| s.contains("contacts_shop_phone (shop_id=?)"))
                .count(),
            2,
            "{steps:?}"
        );
    }
}

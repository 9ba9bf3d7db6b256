//! The seam between the store's SQL and the databases that run it.
//!
//! Every table module writes its SQL once, against [`Tx`], in the dialect
//! both backends accept (numbered parameters `?N`, `ON CONFLICT`,
//! `RETURNING`); the PostgreSQL backend rewrites `?N` to `$N` when it
//! prepares a statement. The few statements that really differ ask
//! [`Tx::dialect`], in the table modules and nowhere else. No backend type
//! crosses this seam: arguments and rows are plain [`Value`]s.
//!
//! The write contract: a write is a function of the database and its
//! arguments. It runs as if alone, and it may run more than once (the
//! PostgreSQL backend runs it again after a serialization failure), so
//! side effects — wake-ups, channel sends — stay outside it.

use super::StoreError;
use std::sync::Arc;

/// Which SQL a backend speaks, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value going into or coming out of the database.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One transaction on one backend.
pub trait Tx {
    fn dialect(&self) -> Dialect;
    /// Run a statement; returns how many rows it changed.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<usize, StoreError>;
    /// Run a query; returns every row.
    fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Run a statement whose answer the write does not need. A backend on
    /// a server sends it and goes on without waiting; its error, if any, is
    /// the error of the next statement that answers, or of [`Tx::settle`].
    /// Statements still run in the order they were given.
    fn execute_later(&self, sql: &str, args: &[Value]) -> Result<(), StoreError> {
        self.execute(sql, args).map(|_| ())
    }
    /// Wait for every statement of [`Tx::execute_later`]: the first error
    /// among them, or that the transaction no longer stands. The writer
    /// calls it before each commit and, when a batch must tell its writes
    /// apart, at the end of each write, so that a write's errors are its own.
    fn settle(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl dyn Tx + '_ {
    /// The first row of a query, or [`StoreError::NoRow`].
    pub fn query_row<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.query(sql, args)?.first() {
            Some(row) => f(row),
            None => Err(StoreError::NoRow {
                table: table_of(sql).into(),
            }),
        }
    }

    /// Every row of a query, each decoded by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        args: &[Value],
        f: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, args)?.iter().map(f).collect()
    }

    /// Whether a query returns at least one row.
    pub fn exists(&self, sql: &str, args: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.query(sql, args)?.is_empty())
    }

    /// A statement to run several times (backends cache what they prepare).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>, StoreError> {
        Ok(Statement {
            tx: self,
            sql: sql.to_string(),
        })
    }
}

/// A statement of one transaction, run with different arguments.
pub struct Statement<'a> {
    tx: &'a (dyn Tx + 'a),
    sql: String,
}

impl Statement<'_> {
    pub fn execute(&mut self, args: &[Value]) -> Result<usize, StoreError> {
        self.tx.execute(&self.sql, args)
    }

    /// Every row, each decoded by `f`, as an iterator of results.
    pub fn query_map<T>(
        &mut self,
        args: &[Value],
        f: impl FnMut(&Row) -> Result<T, StoreError>,
    ) -> Result<std::vec::IntoIter<Result<T, StoreError>>, StoreError> {
        let rows = self.tx.query(&self.sql, args)?;
        Ok(rows.iter().map(f).collect::<Vec<_>>().into_iter())
    }

    pub fn query_row<T>(
        &mut self,
        args: &[Value],
        f: impl FnOnce(&Row) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.tx.query_row(&self.sql, args, f)
    }

    pub fn exists(&mut self, args: &[Value]) -> Result<bool, StoreError> {
        self.tx.exists(&self.sql, args)
    }

    /// The rows, read one by one with [`Rows::next_row`].
    pub fn query(&mut self, args: &[Value]) -> Result<Rows, StoreError> {
        Ok(Rows {
            rows: self.tx.query(&self.sql, args)?.into_iter(),
            current: None,
        })
    }
}

/// The rows of a query, in order.
pub struct Rows {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Rows {
    pub fn next_row(&mut self) -> Result<Option<&Row>, StoreError> {
        self.current = self.rows.next();
        Ok(self.current.as_ref())
    }
}

/// The arguments of a list, for `IN (?1, ?2, …)` (see [`placeholders`]).
pub fn list<T: ToArg>(items: impl IntoIterator<Item = T>) -> Vec<Value> {
    items.into_iter().map(|x| x.to_arg()).collect()
}

/// `Option` for a query that may find nothing: [`StoreError::NoRow`]
/// becomes `None`, every other error stays one.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>, StoreError>;
}

impl<T> OptionalExtension<T> for Result<T, StoreError> {
    fn optional(self) -> Result<Option<T>, StoreError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(StoreError::NoRow { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What a row's columns are called, shared by the rows of one query.
#[derive(Debug)]
pub struct Columns {
    /// The query's main table, for errors.
    pub table: String,
    pub names: Vec<String>,
}

impl Columns {
    pub fn new(sql: &str, names: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            table: table_of(sql).to_string(),
            names,
        })
    }
}

/// One row of a result, decoded column by column: a value that does not
/// decode is an error naming the table and column, never a default.
#[derive(Debug)]
pub struct Row {
    columns: Arc<Columns>,
    values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Arc<Columns>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// Column `i`, decoded as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let value = self.values.get(i).unwrap_or(&Value::Null);
        T::from_value(value).map_err(|why| self.corrupt(i, why))
    }

    /// Column `i` read as text and parsed by `parse` (a domain enum's
    /// `parse`): an unknown spelling is an error, not a default.
    pub fn parse<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, StoreError> {
        let text: String = self.get(i)?;
        parse(&text).ok_or_else(|| self.corrupt(i, format!("unknown value {text:?}")))
    }

    /// [`Row::parse`] for a column that may be NULL.
    pub fn parse_opt<T>(
        &self,
        i: usize,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        match self.get::<Option<String>>(i)? {
            None => Ok(None),
            Some(text) => parse(&text)
                .map(Some)
                .ok_or_else(|| self.corrupt(i, format!("unknown value {text:?}"))),
        }
    }

    /// Column `i`, a JSON document.
    pub fn json(&self, i: usize) -> Result<serde_json::Value, StoreError> {
        let text: String = self.get(i)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(i, format!("not JSON: {e}")))
    }

    /// The raw values, in column order (for copying whole tables).
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    fn corrupt(&self, i: usize, why: String) -> StoreError {
        StoreError::Corrupt {
            table: self.columns.table.clone(),
            column: self
                .columns
                .names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("#{i}")),
            why,
        }
    }
}

/// A Rust value that can be read from a column.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self, String>;
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    }
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(n) => Ok(*n),
            other => Err(format!("expected an integer, found {}", kind(other))),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self, String> {
                let n = i64::from_value(v)?;
                <$t>::try_from(n).map_err(|_| format!("{n} does not fit in {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i32, u8, u16, u32, u64, usize);

impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, String> {
        match i64::from_value(v)? {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(format!("expected 0 or 1, found {n}")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            other => Err(format!("expected a number, found {}", kind(other))),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {}", kind(other))),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected a blob, found {}", kind(other))),
        }
    }
}

impl FromValue for uuid::Uuid {
    fn from_value(v: &Value) -> Result<Self, String> {
        let text = String::from_value(v)?;
        uuid::Uuid::parse_str(&text).map_err(|e| format!("{text:?} is not a UUID: {e}"))
    }
}

impl FromValue for vigie_core::PhoneNumber {
    fn from_value(v: &Value) -> Result<Self, String> {
        let text = String::from_value(v)?;
        vigie_core::PhoneNumber::parse(&text)
            .map_err(|e| format!("{text:?} is not a phone number: {e}"))
    }
}

impl FromValue for vigie_core::Timestamp {
    fn from_value(v: &Value) -> Result<Self, String> {
        i64::from_value(v).map(vigie_core::Timestamp)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// A Rust value that can be an argument of a statement.
pub trait ToArg {
    fn to_arg(&self) -> Value;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Value {
        (**self).to_arg()
    }
}

macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Value {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_arg!(i64, i32, u8, u16, u32);

impl ToArg for u64 {
    fn to_arg(&self) -> Value {
        // Counts and sizes the hub stores stay far below 2^63.
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToArg for usize {
    fn to_arg(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToArg for bool {
    fn to_arg(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToArg for f64 {
    fn to_arg(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<const N: usize> ToArg for [u8; N] {
    fn to_arg(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToArg for uuid::Uuid {
    fn to_arg(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToArg for vigie_core::Timestamp {
    fn to_arg(&self) -> Value {
        Value::Int(self.as_ms())
    }
}

impl ToArg for Value {
    fn to_arg(&self) -> Value {
        self.clone()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn to_arg(&self) -> Value {
        match self {
            Some(v) => v.to_arg(),
            None => Value::Null,
        }
    }
}

/// The arguments of a statement, in order: `args![id, now.as_ms()]`.
macro_rules! args {
    () => {
        &[] as &[$crate::store::tx::Value]
    };
    ($($x:expr),+ $(,)?) => {
        &[$($crate::store::tx::ToArg::to_arg(&$x)),+] as &[$crate::store::tx::Value]
    };
}
pub(crate) use args;

/// `?1, ?2, …, ?n`, for a list in `IN (…)`, starting after `first - 1`
/// other parameters.
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The main table of a statement (after FROM, INTO or UPDATE), for errors.
pub fn table_of(sql: &str) -> &str {
    let mut words = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ',');
    while let Some(w) = words.next() {
        if (w.eq_ignore_ascii_case("from")
            || w.eq_ignore_ascii_case("into")
            || w.eq_ignore_ascii_case("update"))
            && let Some(t) = words.find(|t| !t.is_empty())
        {
            return t;
        }
    }
    "?"
}

/// `?N` → `$N` outside string literals: PostgreSQL's spelling of the
/// numbered parameters every statement is written with.
pub fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_strings() {
        assert_eq!(
            dollar_params("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d IN (?2, ?10)"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d IN ($2, $10)"
        );
    }

    #[test]
    fn a_statement_names_its_table() {
        assert_eq!(
            table_of("SELECT id, name FROM shops WHERE id = ?1"),
            "shops"
        );
        assert_eq!(
            table_of("INSERT INTO events (alarm_id) VALUES (?1)"),
            "events"
        );
        assert_eq!(table_of("UPDATE alarms SET step = ?1"), "alarms");
        assert_eq!(table_of("SELECT 1"), "?");
    }

    #[test]
    fn a_value_that_does_not_decode_names_its_table_and_column() {
        let columns = Columns::new(
            "SELECT id, state FROM alarms",
            vec!["id".into(), "state".into()],
        );
        let row = Row::new(
            columns,
            vec![
                Value::Text("not-a-uuid".into()),
                Value::Text("burning".into()),
            ],
        );
        let e = row.get::<uuid::Uuid>(0).expect_err("a bad UUID");
        assert!(
            matches!(&e, StoreError::Corrupt { table, column, .. } if table == "alarms" && column == "id"),
            "{e}"
        );
        let e = row
            .parse(1, vigie_core::AlarmState::parse)
            .expect_err("an unknown state");
        assert!(e.to_string().contains("alarms.state"), "{e}");
        assert!(e.to_string().contains("burning"), "{e}");
        assert!(row.get::<i64>(1).is_err(), "text is not an integer");
        assert!(
            row.get::<Option<i64>>(1).is_err(),
            "text is not an optional integer"
        );
    }

    #[test]
    fn booleans_are_zero_or_one() {
        assert_eq!(bool::from_value(&Value::Int(1)), Ok(true));
        assert_eq!(bool::from_value(&Value::Int(0)), Ok(false));
        assert!(bool::from_value(&Value::Int(2)).is_err());
        assert_eq!(true.to_arg(), Value::Int(1));
    }
}

//! Moving a Region: a whole hub copied from one store to another (SQLite
//! to PostgreSQL, or back), table by table, then verified.
//!
//! The copy reads every row of every table of the schema, in the order the
//! migrations create them (so a row's references exist before it), and
//! writes them unchanged, ids included. It refuses a target that already
//! holds data. The verification reads both stores again and compares, per
//! table, the row count and a digest of the rows (SHA-256 over each row's
//! values, the row hashes sorted, so neither backend's text ordering
//! matters).

use super::tx::{Dialect, Row, Value, args, placeholders};
use super::{Store, StoreError};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// Rows written per write transaction.
const COPY_ROWS_PER_WRITE_MAX: usize = 1_000;

/// What was copied of one table, and what verification found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
    /// SHA-256 (hex) of the table's sorted row hashes, on the source.
    pub digest: String,
    /// Whether the target has the same rows (count and digest).
    pub verified: bool,
}

/// The schema's tables in the order migrations create them.
pub fn tables() -> Vec<&'static str> {
    let mut tables = Vec::new();
    for m in super::migrations::MIGRATIONS {
        for line in m.sqlite.lines() {
            if let Some(rest) = line.trim().strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                let name = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                if !name.is_empty() && !tables.contains(&name) {
                    tables.push(name);
                }
            }
        }
    }
    tables
}

/// The columns of `table`, in their declared order.
fn columns(c: &dyn super::tx::Tx, table: &str) -> Result<Vec<String>, StoreError> {
    match c.dialect() {
        Dialect::Sqlite => c.query_map(
            "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            args![table],
            |r| r.get(0),
        ),
        Dialect::Postgres => c.query_map(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
            args![table],
            |r| r.get(0),
        ),
    }
}

/// One table's columns, as each backend declares them: `(table, column,
/// type, not null)`, the type folded to the store's four kinds (integer,
/// real, text, blob) so both backends can be compared.
pub type ColumnShape = (String, String, &'static str, bool);

fn kind_of(declared: &str) -> &'static str {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        "integer"
    } else if t.contains("real") || t.contains("double") {
        "real"
    } else if t.contains("blob") || t.contains("bytea") {
        "blob"
    } else if t.contains("text") || t.contains("char") {
        "text"
    } else {
        "other"
    }
}

impl Store {
    /// Every table and column of the schema, as this backend has them.
    pub async fn schema(&self) -> Result<Vec<ColumnShape>, StoreError> {
        self.db
            .read(|c| {
                let mut shape = Vec::new();
                for table in tables() {
                    let rows: Vec<(String, String, bool)> = match c.dialect() {
                        Dialect::Sqlite => c.query_map(
                            "SELECT name, type, \"notnull\" OR pk FROM pragma_table_info(?1) ORDER BY cid",
                            args![table],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )?,
                        Dialect::Postgres => c.query_map(
                            "SELECT column_name::text, data_type::text, is_nullable = 'NO' FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
                            args![table],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )?,
                    };
                    if rows.is_empty() {
                        return Err(StoreError::Unexpected(format!(
                            "table {table} is missing from the database"
                        )));
                    }
                    for (column, declared, not_null) in rows {
                        shape.push((table.to_string(), column, kind_of(&declared), not_null));
                    }
                }
                Ok(shape)
            })
            .await
    }

    /// Rows of every table, for the copy's emptiness check.
    async fn row_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.db
            .read(|c| {
                tables()
                    .into_iter()
                    .map(|t| {
                        let n: i64 =
                            c.query_row(&format!("SELECT COUNT(*) FROM {t}"), args![], |r| {
                                r.get(0)
                            })?;
                        Ok((t.to_string(), n.max(0) as u64))
                    })
                    .collect()
            })
            .await
    }

    /// Every row of `table`, with its column names.
    async fn table_rows(&self, table: &'static str) -> Result<(Vec<String>, Vec<Row>), StoreError> {
        self.db
            .read(move |c| {
                let names = columns(c, table)?;
                let rows = c.query(
                    &format!("SELECT {} FROM {table}", names.join(", ")),
                    args![],
                )?;
                Ok((names, rows))
            })
            .await
    }

    /// The digest and row count of `table`.
    async fn table_digest(&self, table: &'static str) -> Result<(u64, String), StoreError> {
        let (_, rows) = self.table_rows(table).await?;
        Ok(digest(&rows))
    }
}

fn digest(rows: &[Row]) -> (u64, String) {
    let mut hashes: Vec<[u8; 32]> = rows
        .iter()
        .map(|row| {
            let mut h = Sha256::new();
            for v in row.values() {
                match v {
                    Value::Null => h.update([0u8]),
                    Value::Int(n) => {
                        h.update([1u8]);
                        h.update(n.to_be_bytes());
                    }
                    Value::Real(x) => {
                        h.update([2u8]);
                        h.update(x.to_bits().to_be_bytes());
                    }
                    Value::Text(s) => {
                        h.update([3u8]);
                        h.update((s.len() as u64).to_be_bytes());
                        h.update(s.as_bytes());
                    }
                    Value::Blob(b) => {
                        h.update([4u8]);
                        h.update((b.len() as u64).to_be_bytes());
                        h.update(b);
                    }
                }
            }
            h.finalize().into()
        })
        .collect();
    hashes.sort_unstable();
    let mut all = Sha256::new();
    for h in &hashes {
        all.update(h);
    }
    let hex = all
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    (hashes.len() as u64, hex)
}

/// Copy every table of `from` into `to` (which must hold no data), then
/// verify. `progress` is told each table as it is done.
pub async fn copy_store(
    from: &Store,
    to: &Store,
    mut progress: impl FnMut(&TableCopy),
) -> Result<Vec<TableCopy>, StoreError> {
    let occupied: Vec<String> = to
        .row_counts()
        .await?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| format!("{t} ({n})"))
        .collect();
    if !occupied.is_empty() {
        return Err(StoreError::refused(
            "target_not_empty",
            format!(
                "la base cible contient déjà des données / the target store already holds data: {}",
                occupied.join(", ")
            ),
        ));
    }
    let mut report = Vec::new();
    for table in tables() {
        let (names, rows) = from.table_rows(table).await?;
        let (count, source_digest) = digest(&rows);
        let insert = Arc::new(format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            placeholders(1, names.len())
        ));
        let rows: Vec<Vec<Value>> = rows.iter().map(|r| r.values().to_vec()).collect();
        for chunk in rows.chunks(COPY_ROWS_PER_WRITE_MAX) {
            let chunk = Arc::new(chunk.to_vec());
            let insert = insert.clone();
            to.db
                .write(move |c| {
                    for row in chunk.iter() {
                        c.execute(&insert, row)?;
                    }
                    Ok(())
                })
                .await?;
        }
        if to.dialect() == Dialect::Postgres && names.iter().any(|n| n == "id") {
            // Rows keep their ids: the identity goes on after the largest.
            to.db
                .write(move |c| {
                    let sequence: Option<String> = c.query_row(
                        "SELECT pg_get_serial_sequence(?1, 'id')",
                        args![table],
                        |r| r.get(0),
                    )?;
                    if let Some(sequence) = sequence {
                        c.query(
                            &format!(
                                "SELECT setval(CAST(CAST(?1 AS TEXT) AS regclass), (SELECT COALESCE(MAX(id), 1) FROM {table}), (SELECT COUNT(*) > 0 FROM {table}))"
                            ),
                            args![sequence],
                        )?;
                    }
                    Ok(())
                })
                .await?;
        }
        let (target_count, target_digest) = to.table_digest(table).await?;
        let copied = TableCopy {
            table: table.to_string(),
            rows: count,
            verified: target_count == count && target_digest == source_digest,
            digest: source_digest,
        };
        progress(&copied);
        report.push(copied);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_come_in_the_order_the_schema_creates_them() {
        let t = tables();
        let at = |name: &str| t.iter().position(|x| *x == name).expect(name);
        assert!(at("shops") < at("contacts"));
        assert!(at("alarms") < at("answers"));
        assert!(at("recordings") < at("log_entries"));
        assert!(t.contains(&"request_nonces") && t.contains(&"clock_steps"));
    }

    #[test]
    fn the_digest_ignores_row_order_but_not_values() {
        let cols = super::super::tx::Columns::new("SELECT a FROM t", vec!["a".into()]);
        let row = |v: Value| Row::new(cols.clone(), vec![v]);
        let a = digest(&[row(Value::Int(1)), row(Value::Text("x".into()))]);
        let b = digest(&[row(Value::Text("x".into())), row(Value::Int(1))]);
        let c = digest(&[row(Value::Text("1".into())), row(Value::Text("x".into()))]);
        assert_eq!(a, b);
        assert_ne!(a.1, c.1, "an integer and its text differ");
    }
}

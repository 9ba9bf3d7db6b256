//! Numbered schema migrations, one SQL file per backend and number,
//! recorded in `schema_migrations` and applied at start under a lock, so
//! that of several hubs starting together only one migrates.
//!
//! A database written before migrations were numbered (no
//! `schema_migrations` table, but `shops` present) is at version 1 once
//! the columns added to its tables since they first shipped are there:
//! migration 1 is written with `IF NOT EXISTS` for exactly that.

use super::StoreError;
use super::db::Connection;
use super::tx::{Dialect, OptionalExtension as _, args};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Every migration, in order. Both SQL files of a number create the same
/// tables and columns (a test compares them).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "dc09",
        sqlite: include_str!("migrations/sqlite/0002_dc09.sql"),
        postgres: include_str!("migrations/postgres/0002_dc09.sql"),
    },
    Migration {
        version: 3,
        name: "pendants",
        sqlite: include_str!("migrations/sqlite/0003_pendants.sql"),
        postgres: include_str!("migrations/postgres/0003_pendants.sql"),
    },
    Migration {
        version: 4,
        name: "hubs",
        sqlite: include_str!("migrations/sqlite/0004_hubs.sql"),
        postgres: include_str!("migrations/postgres/0004_hubs.sql"),
    },
];

/// Columns added to a table after it first shipped and before migrations
/// were numbered: an old SQLite database gets them when it is adopted.
const ADDED_BEFORE_NUMBERING: &[(&str, &str, &str)] = &[
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

/// An arbitrary key for PostgreSQL's advisory lock held while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x5649_4749_4530_3031;

/// The schema version a database is at (0: empty).
pub(super) fn version(conn: &impl Connection) -> Result<i64, StoreError> {
    let tx = conn.tx();
    let recorded = tx
        .query_row("SELECT MAX(version) FROM schema_migrations", args![], |r| {
            r.get::<Option<i64>>(0)
        })
        .optional()?;
    Ok(recorded.flatten().unwrap_or(0))
}

/// Bring the database to the last migration.
pub(super) fn migrate(conn: &mut impl Connection, dialect: Dialect) -> Result<(), StoreError> {
    match dialect {
        // BEGIN IMMEDIATE takes SQLite's write lock: another process
        // opening the same file waits for the migration to end.
        Dialect::Sqlite => {
            conn.batch("BEGIN IMMEDIATE")?;
            let done = apply(conn, dialect);
            finish(conn, done)
        }
        Dialect::Postgres => {
            conn.batch(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            conn.batch("BEGIN")?;
            let done = apply(conn, dialect);
            let finished = finish(conn, done);
            let unlocked = conn.batch(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            finished.and(unlocked)
        }
    }
}

fn finish(conn: &mut impl Connection, done: Result<(), StoreError>) -> Result<(), StoreError> {
    match done {
        Ok(()) => conn.batch("COMMIT"),
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn apply(conn: &mut impl Connection, dialect: Dialect) -> Result<(), StoreError> {
    conn.batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    let mut at = version(conn)?;
    if at == 0 && dialect == Dialect::Sqlite && table_exists(conn, "shops")? {
        adopt_unnumbered_sqlite(conn)?;
        record(conn, &MIGRATIONS[0])?;
        at = 1;
        tracing::info!(
            "store: a database from before numbered migrations was adopted as version 1"
        );
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > at) {
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        conn.batch(sql).map_err(|e| {
            StoreError::Unexpected(format!("migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        record(conn, m)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "store: migration applied"
        );
    }
    Ok(())
}

fn record(conn: &impl Connection, m: &Migration) -> Result<(), StoreError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    conn.tx().execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
        args![m.version, m.name, now],
    )?;
    Ok(())
}

fn table_exists(conn: &impl Connection, table: &str) -> Result<bool, StoreError> {
    conn.tx().exists(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        args![table],
    )
}

fn adopt_unnumbered_sqlite(conn: &mut impl Connection) -> Result<(), StoreError> {
    conn.batch(MIGRATIONS[0].sqlite)?;
    for (table, column, declaration) in ADDED_BEFORE_NUMBERING {
        let present = conn.tx().exists(
            &format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"),
            args![column],
        )?;
        if !present {
            conn.batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {declaration}"
            ))?;
        }
    }
    Ok(())
}

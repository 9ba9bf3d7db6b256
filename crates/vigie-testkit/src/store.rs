//! The store a test's hub runs on: SQLite by default, PostgreSQL when
//! `VIGIE_TEST_BACKEND=postgres` (see [`crate::postgres::Backend`]). Every
//! test that starts a hub or opens a store asks here, so the same tests
//! run on both backends and no test is written twice.

use crate::postgres::{Backend, fresh_database};
use std::path::Path;

/// The file in a test's folder that remembers its PostgreSQL database, so
/// that a hub restarted on the same folder finds the same data.
const URL_FILE: &str = "postgres-url";

/// The PostgreSQL database of the test folder `dir` (made on first call),
/// or `None` when the tests run on SQLite.
pub fn postgres_url(dir: &Path) -> anyhow::Result<Option<String>> {
    match Backend::from_env()? {
        Backend::Sqlite => Ok(None),
        Backend::Postgres => {
            let file = dir.join(URL_FILE);
            if let Ok(url) = std::fs::read_to_string(&file) {
                return Ok(Some(url));
            }
            let url = fresh_database()?;
            std::fs::write(&file, &url)?;
            Ok(Some(url))
        }
    }
}

/// The `[store]` section of a test hub's configuration: the SQLite file
/// `sqlite_file` in `dir` (which also places the vault beside it), and the
/// PostgreSQL database when the tests run on PostgreSQL.
pub fn toml(dir: &Path, sqlite_file: &str) -> anyhow::Result<String> {
    let mut section = format!(
        "[store]\nsqlite_path = \"{}\"\n",
        dir.join(sqlite_file).display()
    );
    if let Some(url) = postgres_url(dir)? {
        section.push_str(&format!("url = \"{url}\"\n"));
    }
    Ok(section)
}

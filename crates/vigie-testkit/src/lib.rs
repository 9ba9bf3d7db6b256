//! The test kit: real peers started on loopback for tests and benchmarks.
//!
//! Each peer is a child process owned by a guard that kills it on drop,
//! except PostgreSQL (`postgres`): one server per test process, which goes
//! away with the process however it ends, and a fresh database per test.
//! Nothing here skips: if a peer cannot start (not installed), the caller
//! gets an error that says how to install it.

pub mod kannel;
pub mod moto;
pub mod postgres;
pub mod smsc;
pub mod store;
pub mod tsa;

/// The repository's root, where `tests/peers/` lives.
pub fn repo_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).unwrap_or(here).to_path_buf()
}

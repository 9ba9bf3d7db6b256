//! Module leases: with several hubs on one database, each engine module
//! runs its passes on the one hub that holds its lease (ADR 0007).
//!
//! A lease is a row: its holder, a token that grows by one at each change
//! of holder, and an expiry on the holder's clock. The holder renews it
//! well before it expires; another hub takes it only once it has expired,
//! so a dead hub's modules move within one lease time. On SQLite the one
//! hub always takes every lease at once (one process owns the file, and a
//! hub restarted after a crash must not wait for its own old lease).

use super::tx::{Dialect, OptionalExtension as _, args};
use super::{Store, StoreError};
use vigie_core::Timestamp;

/// The engine modules that run on one hub at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// Escalation steps and clock steps (`Engine::tick`).
    Escalation,
    /// Submitting the outbox to the gateways.
    Dispatch,
    /// Judging silent boxes and transmitters, forgetting old nonces.
    Supervision,
    /// The evidence log's checkpoints, time-stamps and retention.
    Vault,
}

impl Module {
    pub const ALL: [Module; 4] = [
        Module::Escalation,
        Module::Dispatch,
        Module::Supervision,
        Module::Vault,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Escalation => "escalation",
            Module::Dispatch => "dispatch",
            Module::Supervision => "supervision",
            Module::Vault => "vault",
        }
    }
}

/// A lease as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub module: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: Timestamp,
}

impl Store {
    /// Take or renew each of `modules`' leases for `hub` until `until`, in
    /// one write: a lease is taken when `hub` already holds it or when it
    /// expired before `now`. Returns, module by module, the lease's token,
    /// or `None` where another hub holds it.
    pub async fn hold_leases(
        &self,
        modules: &[Module],
        hub: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let hub = hub.to_string();
        let modules = modules.to_vec();
        self.db
            .write(move |c| {
                // The one SQLite hub takes a lease whatever its expiry.
                let expired_before = match c.dialect() {
                    Dialect::Sqlite => i64::MAX,
                    Dialect::Postgres => now.as_ms(),
                };
                modules
                    .iter()
                    .map(|m| {
                        c.query_row(
                            "INSERT INTO leases (module, holder, token, expires_at) VALUES (?1, ?2, 1, ?3) \
                             ON CONFLICT (module) DO UPDATE SET \
                               token = CASE WHEN leases.holder = excluded.holder THEN leases.token ELSE leases.token + 1 END, \
                               holder = excluded.holder, \
                               expires_at = excluded.expires_at \
                             WHERE leases.holder = excluded.holder OR leases.expires_at < ?4 \
                             RETURNING token",
                            args![m.as_str(), hub.as_str(), until.as_ms(), expired_before],
                            |r| r.get::<i64>(0),
                        )
                        .optional()
                    })
                    .collect()
            })
            .await
    }

    /// Give up `hub`'s leases (a hub that stops): another hub takes them at
    /// its next try instead of waiting for them to expire.
    pub async fn release_leases(&self, hub: &str) -> Result<usize, StoreError> {
        let hub = hub.to_string();
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE leases SET expires_at = 0 WHERE holder = ?1",
                    args![hub.as_str()],
                )
            })
            .await
    }

    /// Listen for other hubs' commits on the same database (PostgreSQL; a
    /// connection of its own while the store is open): they move
    /// [`Store::commits`] and [`Store::foreign_commits`].
    pub fn listen_for_other_hubs(&self) -> Result<(), StoreError> {
        self.db.listen_for_other_hubs()
    }

    /// A receiver that moves when another hub on the same database
    /// committed (PostgreSQL only): a wake-up for the modules this hub runs.
    pub fn foreign_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.db.foreign_commits()
    }

    /// Every lease, by module (the readiness page and the tests).
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.db
            .read(|c| {
                c.query_map(
                    "SELECT module, holder, token, expires_at FROM leases ORDER BY module",
                    args![],
                    |r| {
                        Ok(LeaseRow {
                            module: r.get(0)?,
                            holder: r.get(1)?,
                            token: r.get(2)?,
                            expires_at: Timestamp(r.get(3)?),
                        })
                    },
                )
            })
            .await
    }
}

//! The store: everything the hub knows, behind one interface.
//!
//! SQLite (embedded, WAL, group commit) is the default backend, PostgreSQL
//! the one several hubs share. Both run the same code: the SQL is written
//! once against the transaction seam (`tx.rs`) in the dialect both accept
//! (numbered parameters, `ON CONFLICT`, `RETURNING`), and only
//! `backend/` knows a database client. Each
//! operation that changes an alarm is one transaction that loads the state,
//! asks `vigie_core` what to do, and writes the outcome, the SMS to send and
//! the event log together: there is no moment where an alarm is stored
//! without its next step.

mod alarms;
mod backend;
mod clock;
mod console;
mod contacts;
pub mod copy;
pub mod db;
mod desk;
mod effects;
mod fleet;
mod inventory;
mod leases;
pub mod migrations;
mod model;
mod outbox;
mod stats;
mod supervision;
mod tables;
pub mod tx;
pub mod vault;

pub use alarms::panels::{
    EVENTS_PER_FRAME_MAX, FRAME_REPEAT_WINDOW_MS, NewTransmitter, PANEL_EVENTS_LIST_MAX,
    PanelEvent, PanelEventRow, PanelFrame, PanelKind, PanelReceipt, Transmitter,
    transmitter_device_id,
};
pub use alarms::pendants::{
    NewPendant, PENDANT_FLOOD_SMS_MIN, PENDANT_FLOOD_WINDOW_MS, PENDANT_MESSAGES_LIST_MAX,
    PENDANT_REPEAT_WINDOW_MS, PENDANT_TEXT_CHARS_ON_TIMELINE_MAX, PendantReceipt,
    pendant_device_id,
};
pub use alarms::{
    AnswerResult, BOX_MODEM_GATEWAY, DIRECT_SMS_PER_REPORT_MAX, DUE_ALARMS_PER_PASS_MAX,
    SmsReceived, short_name,
};
pub use clock::{AdoptedStep, StepSeen};
pub use console::{
    AUDIT_LINES_MAX, Account, AccountChange, Audit, AuditLine, BOARD_LIVE_MAX, Board, BoardAlarm,
    BoardContact, DeskAction, NOTE_CHARS_MAX, NewAccount, Role, Session,
};
pub use contacts::{CONTACT_NAME_CHARS_MAX, CONTACT_TIER_MAX, ContactEdit, OPT_IN_RESEND_MS_MIN};
pub use desk::{SHOP_TEXT_CHARS_MAX, ShopEdit};
pub use inventory::{
    Deployment, EnrolmentCode, HARDWARE_BATCH_MAX, HARDWARE_NOTE_CHARS_MAX, HardwareRow,
    HardwareState, SERIAL_CHARS_MAX, normalize_serial,
};
pub use leases::{LeaseRow, Module};
pub use model::*;
pub use outbox::{DeliveredReceipt, SubmitOutcome};
pub use stats::STATS_FACTS_MAX;
pub use supervision::{DeviceHealth, FleetEvent, Readiness};
pub use tables::notifications::{
    PRIORITY_ADMIN, PRIORITY_ALERT, PRIORITY_FIRST_ALERT, PRIORITY_NOTICE,
};
pub use tables::pendants::{Pendant, PendantMessage};

use db::Db;
use std::path::Path;
use std::sync::Arc;
use vigie_core::escalation::Policy;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    /// A query that must find a row found none.
    #[error("no such row in {table}")]
    NoRow { table: String },
    /// A stored value that does not decode: the database holds something
    /// this version never writes.
    #[error("{table}.{column} cannot be read: {why}")]
    Corrupt {
        table: String,
        column: String,
        why: String,
    },
    /// Another writer got in the way (PostgreSQL serialization failure or
    /// deadlock); the writer runs the write again.
    #[error("the write conflicted with another: {0}")]
    Conflict(String),
    /// A request the domain refuses, with a stable code for the API.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("the store is shut down")]
    Closed,
    /// The database cannot be written (disk full, read-only, I/O error):
    /// nothing of the request was kept.
    #[error("the database cannot be written: {0}")]
    CannotWrite(String),
    #[error("unexpected store error: {0}")]
    Unexpected(String),
}

impl StoreError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Refused {
            code,
            message: message.into(),
        }
    }

    /// Whether the error says the disk cannot take writes (rather than a
    /// bug or a refusal).
    pub fn cannot_write(&self) -> bool {
        matches!(self, StoreError::CannotWrite(_))
    }
}

/// The rules a Region runs by, needed to decide and to render texts.
#[derive(Debug, Clone)]
pub struct Rules {
    pub policy: Policy,
    pub cancel_window_ms: i64,
    /// Base of the links in SMS, e.g. `https://vigie.example.fr`.
    pub public_url: String,
    /// Whether the sending gateway lets contacts reply by SMS.
    pub replies_accepted: bool,
    /// How long an enrolment code stays valid.
    pub enrolment_code_ttl_ms: i64,
    /// How many attempts an alert gets (each on the next gateway).
    pub attempts_max: u32,
    /// Heartbeat interval, offline threshold, battery and test limits.
    pub supervision: vigie_core::supervision::Limits,
    /// Where silent test presses send their SMS; `None`: the holder.
    pub test_sink_phone: Option<vigie_core::PhoneNumber>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            cancel_window_ms: vigie_core::alarm::CANCEL_WINDOW_MS_DEFAULT,
            public_url: "http://127.0.0.1:8080".into(),
            replies_accepted: true,
            enrolment_code_ttl_ms: 30 * 24 * 3_600_000,
            attempts_max: 3,
            supervision: vigie_core::supervision::Limits::default(),
            test_sink_phone: None,
        }
    }
}

/// The hub's store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Db>,
    rules: Arc<Rules>,
    health: Arc<supervision::HealthBoard>,
    config_generations: Arc<supervision::ConfigGenerations>,
    watching_since: Arc<supervision::WatchingSince>,
}

/// Where the store lives: an SQLite file, or a PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    /// A libpq URL or key=value string (several hosts and
    /// `target_session_attrs=read-write` accepted).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    /// Never prints a password that may be in the URL.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Location::Postgres(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = String;

    /// `sqlite:PATH`, or a `postgres://` (`postgresql://`) URL.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(
                    "sqlite: needs the database file's path, e.g. sqlite:/var/lib/vigie/vigie.db"
                        .into(),
                );
            }
            return Ok(Location::Sqlite(path.into()));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Location::Postgres(s.to_string()));
        }
        Err(format!(
            "{:?} is not a store: write sqlite:PATH or postgres://user@host/database",
            redact_url(s)
        ))
    }
}

/// A PostgreSQL URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
        if let Some((user_pass, hosts)) = authority.rsplit_once('@')
            && let Some((user, _)) = user_pass.split_once(':')
        {
            let slash = if rest.contains('/') { "/" } else { "" };
            return format!("{scheme}://{user}:***@{hosts}{slash}{tail}");
        }
        return url.to_string();
    }
    // key=value form: hide password=…
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***"
            } else {
                kv
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Store {
    /// Open the store where `location` says, migrating it to this version.
    pub fn open(location: &Location, rules: Rules) -> Result<Self, StoreError> {
        let db = match location {
            Location::Sqlite(path) => Db::open_sqlite(path)?,
            Location::Postgres(url) => Db::open_postgres(url)?,
        };
        Ok(Self::with_db(db, rules))
    }

    pub fn open_sqlite(path: &Path, rules: Rules) -> Result<Self, StoreError> {
        Self::open(&Location::Sqlite(path.to_path_buf()), rules)
    }

    fn with_db(db: Db, rules: Rules) -> Self {
        Self {
            db: Arc::new(db),
            rules: Arc::new(rules),
            health: Arc::default(),
            config_generations: Arc::default(),
            watching_since: Arc::default(),
        }
    }

    /// How many times a write ran again after a conflict with another
    /// hub's write (PostgreSQL; 0 on SQLite).
    pub fn write_conflicts(&self) -> u64 {
        self.db.conflicts()
    }

    /// Which database this store runs on.
    pub fn dialect(&self) -> tx::Dialect {
        self.db.dialect()
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Whether the database takes writes (false since a write failed for
    /// a full disk or an I/O error, until one commits again).
    pub fn can_write(&self) -> bool {
        self.db.writable()
    }
}

/// A random token from an unambiguous base-62 alphabet.
pub(crate) fn random_token(chars: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..chars)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tidy {
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Only `store/backend/` knows a database client: everything else of
    /// the hub speaks to the transaction seam.
    #[test]
    fn database_clients_appear_only_in_their_backend() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        assert!(files.len() > 20, "{} files", files.len());
        for file in files {
            let relative = file
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&file).expect("read");
            // Spelt in two halves, so this test does not find itself.
            let clients = [
                (concat!("rus", "qlite"), "store/backend/sqlite.rs"),
                (concat!("post", "gres::"), "store/backend/postgres.rs"),
                (concat!("tokio_post", "gres"), "store/backend/postgres.rs"),
            ];
            for (client, home) in clients {
                // `backend::postgres::…` is this crate's module, not the client.
                let uses = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .any(|l| {
                        l.match_indices(client)
                            .any(|(i, _)| !l[..i].ends_with("::"))
                    });
                assert!(
                    !uses || relative == home,
                    "{relative} uses {client}: only {home} may"
                );
            }
        }
    }

    /// The store's layers point one way: the table modules are leaves (the
    /// seam, the model and outside crates only, never another table or an
    /// operation), `effects` is built from tables, and no operation imports
    /// another (the shared pieces live below them).
    #[test]
    fn the_store_layers_point_one_way() {
        let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        const OPERATIONS: &[&str] = &[
            "alarms",
            "clock",
            "console",
            "contacts",
            "copy",
            "desk",
            "fleet",
            "inventory",
            "outbox",
            "stats",
            "supervision",
            "vault",
        ];
        let uses = |file: &Path| -> Vec<String> {
            std::fs::read_to_string(file)
                .expect("read")
                .lines()
                .filter(|l| l.trim_start().starts_with("use ") || l.contains("super::"))
                .map(str::to_string)
                .collect()
        };
        let mut tables = Vec::new();
        rust_files(&store.join("tables"), &mut tables);
        assert!(tables.len() >= 8, "{tables:?}");
        for file in &tables {
            for line in uses(file) {
                let allowed = [
                    "crate::store::StoreError",
                    "crate::store::model",
                    "crate::store::tx",
                ];
                let internal = line.contains("crate::") || line.contains("super::");
                let ok = !internal || allowed.iter().any(|a| line.contains(a));
                assert!(
                    ok || file.ends_with("tables/mod.rs"),
                    "{}: {line}: a table module imports only the seam and the model",
                    file.display()
                );
            }
        }
        for line in uses(&store.join("effects.rs")) {
            for op in OPERATIONS {
                assert!(
                    !line.contains(&format!("super::{op}::"))
                        && !line.contains(&format!("super::{op};")),
                    "effects.rs: {line}: effects are built from tables, not operations"
                );
            }
        }
        for from in OPERATIONS {
            // An operation's file, and the files of its own folder (alarms/panels.rs).
            let mut files = vec![store.join(format!("{from}.rs"))];
            if store.join(from).is_dir() {
                rust_files(&store.join(from), &mut files);
            }
            for line in files.iter().flat_map(|f| uses(f)) {
                for to in OPERATIONS.iter().filter(|o| *o != from) {
                    assert!(
                        !line.contains(&format!("super::{to}::"))
                            && !line.contains(&format!("crate::store::{to}::")),
                        "{from}.rs: {line}: operations share tables and effects, never each other"
                    );
                }
            }
        }
    }

    /// Each migration number has one file per backend, and every file is listed.
    #[test]
    fn every_migration_has_both_backends_and_is_listed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        let names = |backend: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir.join(backend))
                .expect("migrations folder")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect();
            v.sort();
            v
        };
        let (sqlite, postgres) = (names("sqlite"), names("postgres"));
        assert_eq!(sqlite, postgres, "the same migrations for both backends");
        assert_eq!(sqlite.len(), super::migrations::MIGRATIONS.len());
        for (file, m) in sqlite.iter().zip(super::migrations::MIGRATIONS) {
            assert_eq!(file, &format!("{:04}_{}.sql", m.version, m.name));
        }
    }
}

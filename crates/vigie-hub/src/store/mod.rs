//! The store: everything the hub knows, behind one interface.
//!
//! SQLite (embedded, WAL, group commit) is the default backend; the SQL is
//! kept portable (numbered parameters, `ON CONFLICT DO NOTHING`,
//! `RETURNING`) so a PostgreSQL backend can pass the same tests. Each
//! operation that changes an alarm is one transaction that loads the state,
//! asks `vigie_core` what to do, and writes the outcome, the SMS to send and
//! the event log together: there is no moment where an alarm is stored
//! without its next step.

mod alarms;
mod clock;
mod console;
mod contacts;
pub mod db;
mod desk;
mod fleet;
mod inventory;
mod model;
mod outbox;
mod stats;
mod supervision;
pub mod vault;

pub use alarms::{
    AnswerResult, BOX_MODEM_GATEWAY, DIRECT_SMS_PER_REPORT_MAX, DUE_ALARMS_PER_PASS_MAX,
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
pub use model::*;
pub use outbox::SubmitOutcome;
pub use stats::STATS_FACTS_MAX;
pub use supervision::{DeviceHealth, FleetEvent, Readiness};

use db::Db;
use std::path::Path;
use std::sync::Arc;
use vigie_core::escalation::Policy;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
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
        match self {
            StoreError::CannotWrite(_) => true,
            StoreError::Database(e) => db::is_cannot_write(e),
            _ => false,
        }
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

impl Store {
    pub fn open_sqlite(path: &Path, rules: Rules) -> Result<Self, StoreError> {
        Ok(Self {
            db: Arc::new(Db::open(path)?),
            rules: Arc::new(rules),
            health: Arc::default(),
            config_generations: Arc::default(),
            watching_since: Arc::default(),
        })
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

//! What the web console keeps: accounts, sessions, the audit log, the
//! desk's actions on alarms, and the board's one-query view of live alarms.
//!
//! Passwords arrive here already hashed (Argon2id, by the console) and
//! sessions by the SHA-256 of their cookie: the store never sees a secret
//! a person types or a browser holds.

use super::model::*;
use super::tables::alarms::COLUMNS as ALARM_COLUMNS;
use super::tables::alarms::from_row as alarm_from_row;
use super::tables::events::record as record_event;
use super::tables::notifications::COLUMNS as NOTIFICATION_COLUMNS;
use super::tables::notifications::from_row as notification_from_row;
use super::tables::shops::COLUMNS as SHOP_COLUMNS;
use super::tables::shops::from_row as shop_from_row;
use super::tx::{OptionalExtension as _, Row, Tx, args};
use super::{Store, StoreError};
use serde::Serialize;
use uuid::Uuid;
use vigie_core::{Answer, Timestamp};

/// A desk note's length at most, in characters.
pub const NOTE_CHARS_MAX: usize = 2_000;
/// Audit lines shown at most on one page.
pub const AUDIT_LINES_MAX: usize = 500;
/// Closed alarms kept on the board this long after they closed.
pub const BOARD_CLOSED_KEPT_MS: i64 = 24 * 3_600_000;
/// Closed alarms shown on the board at most.
pub const BOARD_CLOSED_MAX: usize = 20;
/// Live alarms shown on the board at most (newest first): in a regional
/// storm the board stays readable and cheap to re-render; the count says
/// how many more there are and the alarms list has them all.
pub const BOARD_LIVE_MAX: usize = 100;

/// The board: the alarms it shows and how many are live in all.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub alarms: Vec<BoardAlarm>,
    pub live_total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including accounts and the audit log.
    Admin,
    /// The security desk: alarms, fleet, contacts, statistics; no evidence audio.
    Operator,
    /// Their own shop only.
    Shopkeeper,
    /// Evidence only, each access with a reason.
    Investigator,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Operator,
        Role::Shopkeeper,
        Role::Investigator,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Shopkeeper => "shopkeeper",
            Role::Investigator => "investigator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Role::Admin,
            "operator" => Role::Operator,
            "shopkeeper" => Role::Shopkeeper,
            "investigator" => Role::Investigator,
            _ => return None,
        })
    }
    /// Roles that may not sign in without a second factor.
    pub fn second_factor_required(self) -> bool {
        matches!(self, Role::Admin | Role::Investigator)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub shop_id: Option<i64>,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(skip)]
    pub totp_secret: Option<String>,
    pub created_at: Timestamp,
    pub disabled: bool,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub shop_id: Option<i64>,
    pub password_hash: String,
    pub totp_secret: Option<String>,
}

/// What an administrator does to an account (console or CLI). Every change
/// ends the account's sessions: a disabled person, or someone who had the
/// old password or the old phone, is out at once.
#[derive(Debug, Clone)]
pub enum AccountChange {
    /// No sign-in until enabled again; the account stays in the audit log.
    Disable,
    Enable,
    /// Gone for good (its audit lines keep its name).
    Delete,
    /// A new password (its Argon2id hash), e.g. a forgotten one.
    SetPassword(String),
    /// The second factor forgotten: set up again at the next sign-in (a lost phone).
    ResetSecondFactor,
}

impl AccountChange {
    /// The audit log's name for it.
    pub fn action(&self) -> &'static str {
        match self {
            AccountChange::Disable => "account_disabled",
            AccountChange::Enable => "account_enabled",
            AccountChange::Delete => "account_deleted",
            AccountChange::SetPassword(_) => "account_password_reset",
            AccountChange::ResetSecondFactor => "account_second_factor_reset",
        }
    }
}

/// A signed-in browser, found by the hash of its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf: String,
    pub second_factor_ok: bool,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditLine {
    pub id: i64,
    pub at: Timestamp,
    pub username: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
}

/// One line of the audit log to write.
#[derive(Debug, Clone)]
pub struct Audit {
    pub account_id: Option<i64>,
    pub username: String,
    pub action: &'static str,
    pub target: String,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
}

/// What the board shows of one alarm.
#[derive(Debug, Clone, Serialize)]
pub struct BoardAlarm {
    pub alarm: Alarm,
    pub shop: Shop,
    /// One line per alerted contact: their latest alert SMS and answer.
    pub contacts: Vec<BoardContact>,
    /// Who at the desk took it, if someone did.
    pub taken_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BoardContact {
    pub contact_id: Option<i64>,
    pub name: String,
    pub phone: String,
    /// The contact's tier (1 first); 0 when not known.
    pub tier: u8,
    pub tier_step: u32,
    /// pending | submitted | delivered | failed | withdrawn
    pub delivery: String,
    pub answer: Option<Answer>,
}

const ACCOUNT_COLUMNS: &str = "id, username, display_name, role, shop_id, password_hash, totp_secret, created_at, disabled_at";

fn account_from_row(r: &Row) -> Result<Account, StoreError> {
    let role: String = r.get(3)?;
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::Shopkeeper),
        shop_id: r.get(4)?,
        password_hash: r.get(5)?,
        totp_secret: r.get(6)?,
        created_at: Timestamp(r.get(7)?),
        disabled: r.get::<Option<i64>>(8)?.is_some(),
    })
}

fn insert_audit(c: &dyn Tx, a: &Audit, now: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit_log (at, account_id, username, action, target, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            now.as_ms(),
            a.account_id,
            a.username,
            a.action,
            a.target,
            a.reason,
            a.detail.to_string()
        ],
    )?;
    Ok(())
}

impl Store {
    /// A receiver that moves after every committed write: live views re-read then.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.db.commits()
    }

    pub async fn create_account(
        &self,
        a: NewAccount,
        now: Timestamp,
    ) -> Result<Account, StoreError> {
        let username = a.username.trim().to_lowercase();
        if username.is_empty()
            || username.len() > 64
            || !username
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "._-@".contains(ch))
        {
            return Err(StoreError::refused(
                "bad_username",
                "identifiant invalide : lettres, chiffres, « . _ - @ », 64 caractères au plus / invalid username",
            ));
        }
        if a.role == Role::Shopkeeper && a.shop_id.is_none() {
            return Err(StoreError::refused(
                "shop_required",
                "un compte commerçant doit être rattaché à une boutique / a shopkeeper account needs a shop",
            ));
        }
        self.db
            .write(move |c| {
                let taken: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM accounts WHERE username = ?1)",
                    args![username],
                    |r| r.get(0),
                )?;
                if taken {
                    return Err(StoreError::refused(
                        "username_taken",
                        format!("l'identifiant « {username} » existe déjà / username already taken"),
                    ));
                }
                let id: i64 = c.query_row(
                    "INSERT INTO accounts (username, display_name, role, shop_id, password_hash, totp_secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                    args![username, a.display_name, a.role.as_str(), a.shop_id, a.password_hash, a.totp_secret, now.as_ms()],
                    |r| r.get(0),
                )?;
                insert_audit(
                    c,
                    &Audit {
                        account_id: Some(id),
                        username: username.clone(),
                        action: "account_created",
                        target: format!("account:{id}"),
                        reason: None,
                        detail: serde_json::json!({ "role": a.role.as_str(), "shop_id": a.shop_id }),
                    },
                    now,
                )?;
                c.query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
                    args![id],
                    account_from_row,
                )})
            .await
    }

    pub async fn account_by_username(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let username = username.trim().to_lowercase();
        self.db
            .read(move |c| {
                c.query_row(
                    &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = ?1"),
                    args![username],
                    account_from_row,
                )
                .optional()
            })
            .await
    }

    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY username"
                ))?;
                let rows = st
                    .query_map(args![], account_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// Change an account as an administrator: in one transaction with its
    /// audit line, every session of it ended. Refused for the last enabled
    /// administrator (nobody could manage accounts any more).
    pub async fn change_account(
        &self,
        account_id: i64,
        change: AccountChange,
        audit: Audit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                let target = c
                    .query_row(
                        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
                        args![account_id],
                        account_from_row,
                    )
                    .optional()?
                    .ok_or_else(|| StoreError::refused("unknown_account", "compte inconnu / unknown account"))?;
                if target.role == Role::Admin
                    && !target.disabled
                    && matches!(change, AccountChange::Disable | AccountChange::Delete)
                {
                    let others: i64 = c.query_row(
                        "SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled_at IS NULL AND id <> ?1",
                        args![account_id],
                        |r| r.get(0),
                    )?;
                    if others == 0 {
                        return Err(StoreError::refused(
                            "last_admin",
                            "c'est le dernier administrateur actif : créez-en un autre d'abord / this is the last enabled administrator: create another one first",
                        ));
                    }
                }
                c.execute("DELETE FROM sessions WHERE account_id = ?1", args![account_id])?;
                match &change {
                    AccountChange::Disable => c.execute(
                        "UPDATE accounts SET disabled_at = ?1 WHERE id = ?2 AND disabled_at IS NULL",
                        args![now.as_ms(), account_id],
                    )?,
                    AccountChange::Enable => c.execute(
                        "UPDATE accounts SET disabled_at = NULL WHERE id = ?1",
                        args![account_id],
                    )?,
                    AccountChange::Delete => {
                        c.execute("DELETE FROM accounts WHERE id = ?1", args![account_id])?
                    }
                    AccountChange::SetPassword(hash) => c.execute(
                        "UPDATE accounts SET password_hash = ?1 WHERE id = ?2",
                        args![hash, account_id],
                    )?,
                    AccountChange::ResetSecondFactor => c.execute(
                        "UPDATE accounts SET totp_secret = NULL WHERE id = ?1",
                        args![account_id],
                    )?,
                };
                let mut audit = audit.clone();
                audit.action = change.action();
                audit.target = format!("account:{account_id}");
                audit.detail = serde_json::json!({ "username": target.username });
                insert_audit(c, &audit, now)
            })
            .await
    }

    /// Set (or clear) an account's TOTP secret; every other session of it ends.
    pub async fn set_totp_secret(
        &self,
        account_id: i64,
        secret: Option<String>,
        keep_session: Option<String>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE accounts SET totp_secret = ?1 WHERE id = ?2",
                    args![secret, account_id],
                )?;
                c.execute(
                    "DELETE FROM sessions WHERE account_id = ?1 AND id_hash IS DISTINCT FROM ?2",
                    args![account_id, keep_session],
                )?;
                if let Some(keep) = &keep_session {
                    c.execute(
                        "UPDATE sessions SET second_factor_ok = 1, last_seen_at = ?2 WHERE id_hash = ?1",
                        args![keep, now.as_ms()],
                    )?;
                }
                Ok(())
            })
            .await
    }

    /// Use TOTP `step` for `account_id`: true when no later or equal step
    /// was used before (a code is good once). One conditional update, so
    /// of two hubs given the same code at once exactly one says yes.
    pub async fn use_totp_step(&self, account_id: i64, step: i64) -> Result<bool, StoreError> {
        self.db
            .write(move |c| {
                let used = c.execute(
                    "UPDATE accounts SET totp_step = ?2 WHERE id = ?1 AND (totp_step IS NULL OR totp_step < ?2)",
                    args![account_id, step],
                )?;
                Ok(used == 1)
            })
            .await
    }

    pub async fn set_password_hash(&self, account_id: i64, hash: String) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE accounts SET password_hash = ?1 WHERE id = ?2",
                    args![hash, account_id],
                )?;
                c.execute(
                    "DELETE FROM sessions WHERE account_id = ?1",
                    args![account_id],
                )?;
                Ok(())
            })
            .await
    }

    /// Start a session (its id is the hash of a fresh cookie) and write the audit line.
    pub async fn create_session(
        &self,
        id_hash: String,
        account_id: i64,
        csrf: String,
        second_factor_ok: bool,
        audit: Audit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT INTO sessions (id_hash, account_id, csrf, second_factor_ok, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    args![id_hash, account_id, csrf, second_factor_ok, now.as_ms()],
                )?;
                insert_audit(c, &audit, now)
            })
            .await
    }

    /// Forget sessions unused since `idle_before` or started before
    /// `started_before` (they can no longer be used anyway).
    pub async fn purge_sessions(
        &self,
        idle_before: Timestamp,
        started_before: Timestamp,
    ) -> Result<u32, StoreError> {
        self.db
            .write(move |c| {
                let n = c.execute(
                    "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
                    args![idle_before.as_ms(), started_before.as_ms()],
                )?;
                Ok(n as u32)
            })
            .await
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>, StoreError> {
        let id_hash = id_hash.to_string();
        self.db
            .read(move |c| {
                let cols = ACCOUNT_COLUMNS
                    .split(", ")
                    .map(|col| format!("a.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                c.query_row(
                    &format!("SELECT {cols}, s.csrf, s.second_factor_ok, s.created_at, s.last_seen_at FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id_hash = ?1"),
                    args![id_hash],
                    |r| {
                        Ok(Session {
                            account: account_from_row(r)?,
                            csrf: r.get(9)?,
                            second_factor_ok: r.get(10)?,
                            created_at: Timestamp(r.get(11)?),
                            last_seen_at: Timestamp(r.get(12)?),
                        })
                    },
                )
                .optional()
            })
            .await
    }

    pub async fn touch_session(&self, id_hash: &str, now: Timestamp) -> Result<(), StoreError> {
        let id_hash = id_hash.to_string();
        self.db
            .write(move |c| {
                c.execute(
                    "UPDATE sessions SET last_seen_at = ?2 WHERE id_hash = ?1",
                    args![id_hash, now.as_ms()],
                )?;
                Ok(())
            })
            .await
    }

    /// The second factor was given: the session gets a new id (the old one
    /// is forgotten) so a cookie seen before the code is worth nothing.
    pub async fn promote_session(
        &self,
        old_hash: &str,
        new_hash: String,
        audit: Audit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let old_hash = old_hash.to_string();
        self.db
            .write(move |c| {
                let n = c.execute(
                    "UPDATE sessions SET id_hash = ?2, second_factor_ok = 1, last_seen_at = ?3 WHERE id_hash = ?1",
                    args![old_hash, new_hash, now.as_ms()],
                )?;
                if n == 0 {
                    return Err(StoreError::refused("no_session", "session expirée / session expired"));
                }
                insert_audit(c, &audit, now)
            })
            .await
    }

    /// End one session, or with `everywhere` every session of its account.
    pub async fn end_sessions(
        &self,
        id_hash: &str,
        everywhere: bool,
        audit: Audit,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let id_hash = id_hash.to_string();
        self.db
            .write(move |c| {
                let n = if everywhere {
                    c.execute(
                        "DELETE FROM sessions WHERE account_id = (SELECT account_id FROM sessions WHERE id_hash = ?1)",
                        args![id_hash],
                    )?
                } else {
                    c.execute("DELETE FROM sessions WHERE id_hash = ?1", args![id_hash])?
                };
                insert_audit(c, &audit, now)?;
                Ok(n as u32)
            })
            .await
    }

    pub async fn sessions_of(&self, account_id: i64) -> Result<u32, StoreError> {
        self.db
            .read(move |c| {
                c.query_row(
                    "SELECT COUNT(*) FROM sessions WHERE account_id = ?1",
                    args![account_id],
                    |r| r.get(0),
                )
            })
            .await
    }

    pub async fn audit(&self, a: Audit, now: Timestamp) -> Result<(), StoreError> {
        self.db.write(move |c| insert_audit(c, &a, now)).await
    }

    /// The newest audit lines first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditLine>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT id, at, username, action, target, reason, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
                )?;
                let rows = st
                    .query_map(args![limit.min(AUDIT_LINES_MAX) as i64], |r| {
                        Ok(AuditLine {
                            id: r.get(0)?,
                            at: Timestamp(r.get(1)?),
                            username: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            reason: r.get(5)?,
                            detail: r.json(6)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// The desk takes an alarm in hand (escalation to contacts goes on: the
    /// desk is not on the spot) or adds a note; both go to the alarm's log
    /// and the audit log.
    pub async fn desk_action(
        &self,
        alarm_id: Uuid,
        kind: DeskAction,
        audit: Audit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                let id = alarm_id.to_string();
                let state: Option<String> = c
                    .query_row("SELECT state FROM alarms WHERE id = ?1", args![id], |r| r.get(0))
                    .optional()?;
                if state.is_none() {
                    return Err(StoreError::refused("unknown_alarm", "alarme inconnue / unknown alarm"));
                }
                let mut audit = audit.clone();
                match &kind {
                    DeskAction::Take | DeskAction::TakeOver => {
                        let detail: Option<String> = c
                            .query_row(
                                "SELECT detail FROM events WHERE alarm_id = ?1 AND kind = 'desk_taken' ORDER BY id DESC LIMIT 1",
                                args![id],
                                |r| r.get(0),
                            )
                            .optional()?;
                        let holder = match detail {
                            None => None,
                            Some(d) => serde_json::from_str::<serde_json::Value>(&d)
                                .map_err(|e| StoreError::Corrupt { table: "events".into(), column: "detail".into(), why: e.to_string() })?
                                .get("by")
                                .and_then(|b| b.as_str())
                                .map(str::to_string),
                        };
                        let other = holder.filter(|h| *h != audit.username);
                        if other.is_some() && matches!(kind, DeskAction::Take) {
                            return Err(StoreError::refused(
                                "taken_by_other",
                                format!(
                                    "{0} a déjà pris cette alarme en main : reprenez-la explicitement si vous devez la suivre / {0} already has this alarm in hand: take it over explicitly if you must",
                                    other.unwrap_or_default()
                                ),
                            ));
                        }
                        let taken = AlarmEvent::DeskTaken { by: audit.username.clone(), from: other.clone() };
                        if let Some(from) = other {
                            audit.action = "alarm_taken_over";
                            audit.detail = serde_json::json!({ "from": from });
                        }
                        record_event(c, &id, now, &taken)?
                    }
                    DeskAction::Note(text) => {
                        let text = text.trim();
                        if text.is_empty() || text.chars().count() > NOTE_CHARS_MAX {
                            return Err(StoreError::refused(
                                "bad_note",
                                format!("la note doit faire de 1 à {NOTE_CHARS_MAX} caractères / a note has 1 to {NOTE_CHARS_MAX} characters"),
                            ));
                        }
                        record_event(c, &id, now, &AlarmEvent::Note { by: audit.username.clone(), text: text.to_string() })?
                    }
                }
                insert_audit(c, &audit, now)
            })
            .await
    }

    /// The newest alarms of one shop (or all), only those with a recording
    /// if asked: filtered in the query, so an old alarm of a quiet shop is
    /// not crowded out by the Region's busy ones.
    pub async fn alarms_of(
        &self,
        shop: Option<i64>,
        with_recording: bool,
        limit: usize,
    ) -> Result<Vec<Alarm>, StoreError> {
        self.db
            .read(move |c| {
                let cols = ALARM_COLUMNS;
                let mut st = c.prepare(&format!(
                    "SELECT {cols} FROM alarms WHERE (CAST(?1 AS BIGINT) IS NULL OR shop_id = ?1) AND (?2 = 0 OR recording = 1)
                     ORDER BY received_at DESC LIMIT ?3"
                ))?;
                let rows = st
                    .query_map(args![shop, with_recording, limit as i64], alarm_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// The shops with a live alarm (all of them, for the map).
    pub async fn shops_in_alarm(&self, shop: Option<i64>) -> Result<Vec<i64>, StoreError> {
        self.db
            .read(move |c| {
                let mut st = c.prepare(
                    "SELECT DISTINCT shop_id FROM alarms WHERE state IN ('open', 'acknowledged') AND (CAST(?1 AS BIGINT) IS NULL OR shop_id = ?1)",
                )?;
                let rows = st
                    .query_map(args![shop], |r| r.get(0))?
                    .collect::<Result<Vec<i64>, _>>()?;
                Ok(rows)
            })
            .await
    }

    /// Live alarms (open or acknowledged), newest first, then those closed
    /// within the last day; `shop` limits it to one shop.
    pub async fn board(&self, now: Timestamp, shop: Option<i64>) -> Result<Board, StoreError> {
        self.db
            .read(move |c| {
                let alarm_cols = ALARM_COLUMNS
                    .split(", ")
                    .map(|col| format!("a.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut st = c.prepare(&format!(
                    "SELECT {alarm_cols} FROM alarms a
                     WHERE (CAST(?1 AS BIGINT) IS NULL OR a.shop_id = ?1)
                       AND (a.state IN ('open', 'acknowledged') OR a.closed_at >= ?2)
                     ORDER BY (a.state IN ('open', 'acknowledged')) DESC, a.received_at DESC"
                ))?;
                let mut live = 0usize;
                let mut alarms: Vec<Alarm> = Vec::new();
                let mut q = st.query(args![shop, now.as_ms() - BOARD_CLOSED_KEPT_MS])?;
                while let Some(r) = q.next_row()? {
                    let alarm = alarm_from_row(r)?;
                    if alarm.state.is_live() {
                        live += 1;
                        if live > BOARD_LIVE_MAX {
                            continue; // counted, not shown
                        }
                    } else if alarms.len() >= live.min(BOARD_LIVE_MAX) + BOARD_CLOSED_MAX {
                        break;
                    }
                    alarms.push(alarm);
                }
                drop(q);
                if alarms.is_empty() {
                    return Ok(Board { alarms: Vec::new(), live_total: live });
                }
                let mut shop_ids: Vec<i64> = alarms.iter().map(|a| a.shop_id).collect();
                shop_ids.sort_unstable();
                shop_ids.dedup();
                let marks = (1..=shop_ids.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                let mut st = c.prepare(&format!("SELECT {SHOP_COLUMNS} FROM shops WHERE id IN ({marks})"))?;
                let shops = st
                    .query_map(&super::tx::list(shop_ids.iter()), shop_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut rows: Vec<BoardAlarm> = Vec::with_capacity(alarms.len());
                for alarm in alarms {
                    let shop = shops
                        .iter()
                        .find(|s| s.id == alarm.shop_id)
                        .cloned()
                        .ok_or_else(|| StoreError::Unexpected("alarm without its shop".into()))?;
                    rows.push(BoardAlarm { alarm, shop, contacts: Vec::new(), taken_by: None });
                }
                let ids: Vec<String> = rows.iter().map(|b| b.alarm.id.to_string()).collect();
                let placeholders = (1..=ids.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
                let mut st = c.prepare(&format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE purpose = 'alert' AND alarm_id IN ({placeholders}) ORDER BY id"
                ))?;
                let notes = st
                    .query_map(&super::tx::list(ids.iter()), notification_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut st = c.prepare(&format!(
                    "SELECT a.alarm_id, a.contact_id, k.name, a.answer FROM answers a JOIN contacts k ON k.id = a.contact_id WHERE a.alarm_id IN ({placeholders}) ORDER BY a.id"
                ))?;
                let answers = st
                    .query_map(&super::tx::list(ids.iter()), |r| {
                        Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?, r.get::<String>(3)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut st = c.prepare(&format!(
                    "SELECT alarm_id, detail FROM events WHERE kind = 'desk_taken' AND alarm_id IN ({placeholders}) ORDER BY id"
                ))?;
                let taken = st
                    .query_map(&super::tx::list(ids.iter()), |r| {
                        Ok((r.get::<String>(0)?, r.get::<String>(1)?))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut st = c.prepare("SELECT name, tier FROM contacts WHERE id = ?1")?;
                for b in &mut rows {
                    let id = b.alarm.id.to_string();
                    for n in notes.iter().filter(|n| n.alarm_id == Some(b.alarm.id)) {
                        // The latest attempt for a contact stands for it.
                        if let Some(existing) = b.contacts.iter_mut().find(|x| x.contact_id == n.contact_id && x.phone == n.phone) {
                            existing.delivery = n.state.clone();
                            existing.tier_step = n.step;
                            continue;
                        }
                        let (name, tier) = match n.contact_id {
                            Some(cid) => st
                                .query_row(args![cid], |r| Ok((r.get::<String>(0)?, r.get::<u8>(1)?)))
                                .optional()?
                                .unwrap_or_default(),
                            None => (String::new(), 0),
                        };
                        b.contacts.push(BoardContact {
                            contact_id: n.contact_id,
                            name,
                            phone: n.phone.clone(),
                            tier,
                            tier_step: n.step,
                            delivery: n.state.clone(),
                            answer: None,
                        });
                    }
                    for (alarm, cid, name, answer) in answers.iter().filter(|a| a.0 == id) {
                        let answer = Answer::parse(answer);
                        match b.contacts.iter_mut().find(|x| x.contact_id == Some(*cid)) {
                            Some(x) => x.answer = answer,
                            None => b.contacts.push(BoardContact {
                                contact_id: Some(*cid),
                                name: name.clone(),
                                phone: String::new(),
                                tier: 0,
                                tier_step: 0,
                                delivery: String::new(),
                                answer,
                            }),
                        }
                        let _ = alarm;
                    }
                    b.taken_by = taken
                        .iter()
                        .rfind(|(a, _)| *a == id)
                        .and_then(|(_, d)| serde_json::from_str::<serde_json::Value>(d).ok())
                        .and_then(|d| d.get("by").and_then(|v| v.as_str()).map(str::to_string));
                }
                Ok(Board { alarms: rows, live_total: live })
            })
            .await
    }
}

/// What the desk does to an alarm besides resolving it.
#[derive(Debug, Clone)]
pub enum DeskAction {
    /// « Je prends en main »: refused (`taken_by_other`) when another
    /// person of the desk has it, so that nobody takes it by accident.
    Take,
    /// Take it from whoever has it, on purpose (audited with their name).
    TakeOver,
    Note(String),
}

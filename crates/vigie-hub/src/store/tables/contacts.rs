//! The `contacts` table: who may be alerted, with their consent.

use crate::store::StoreError;
use crate::store::model::*;
use crate::store::tx::{OptionalExtension as _, Row, Tx, args};
use vigie_core::Timestamp;

pub const COLUMNS: &str = "id, shop_id, name, phone, relation, tier, consent, bounced";

pub fn from_row(row: &Row) -> Result<Contact, StoreError> {
    let relation: String = row.get(4)?;
    let consent: String = row.get(6)?;
    Ok(Contact {
        id: row.get(0)?,
        shop_id: row.get(1)?,
        name: row.get(2)?,
        phone: row.get::<vigie_core::PhoneNumber>(3)?,
        relation: Relation::parse(&relation).unwrap_or(Relation::Friend),
        tier: row.get(5)?,
        consent: Consent::parse(&consent).unwrap_or(Consent::Pending),
        bounced: row.get(7)?,
    })
}

pub fn load(conn: &dyn Tx, id: i64) -> Result<Contact, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM contacts WHERE id = ?1"),
        args![id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| {
        StoreError::refused(
            "unknown_contact",
            format!("aucun contact n°{id} / no contact {id}"),
        )
    })
}

/// Record a contact's consent (`yes`, `no`…) and when it was given.
pub fn set_consent(
    c: &dyn Tx,
    contact_id: i64,
    consent: Consent,
    now: Timestamp,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE contacts SET consent = ?1, consent_at = ?2 WHERE id = ?3",
        args![consent.as_str(), now.as_ms(), contact_id],
    )?;
    Ok(())
}

/// The contacts an alarm of a shop may reach: its own and the Region's,
/// with consent given, not removed. Two searches of the partial index
/// `contacts_shop_phone` (`WHERE removed_at IS NULL`) joined by UNION ALL:
/// written as one `shop_id = ?1 OR shop_id IS NULL`, SQLite cannot use
/// that index for either side and reads every contact of the Region, in
/// the writer's transaction, for every alarm raised or escalated.
/// The columns are [`COLUMNS`]: the alert needs each contact's number.
pub const REACHABLE: &str = "SELECT id, shop_id, name, phone, relation, tier, consent, bounced FROM contacts WHERE shop_id = ?1 AND consent = 'yes' AND removed_at IS NULL \
     UNION ALL SELECT id, shop_id, name, phone, relation, tier, consent, bounced FROM contacts WHERE shop_id IS NULL AND consent = 'yes' AND removed_at IS NULL";

/// The contacts an alarm of `shop_id` may reach.
pub fn reachable(c: &dyn Tx, shop_id: i64) -> Result<Vec<Contact>, StoreError> {
    c.query_map(REACHABLE, args![shop_id], from_row)
}

/// A shop's current contacts (`Some`), or the Region's (`None`): each a
/// search of `contacts_shop_phone` on both backends.
pub fn current(c: &dyn Tx, shop_id: Option<i64>) -> Result<Vec<Contact>, StoreError> {
    match shop_id {
        Some(id) => c.query_map(
            &format!("SELECT {COLUMNS} FROM contacts WHERE shop_id = ?1 AND removed_at IS NULL ORDER BY tier, id"),
            args![id],
            from_row,
        ),
        None => c.query_map(
            &format!("SELECT {COLUMNS} FROM contacts WHERE shop_id IS NULL AND removed_at IS NULL ORDER BY tier, id"),
            args![],
            from_row,
        ),
    }
}

/// The contacts in service (not removed) with this number (E.164), of
/// every shop and of the Region.
pub fn with_phone(c: &dyn Tx, phone: &str) -> Result<Vec<Contact>, StoreError> {
    c.query_map(
        &format!(
            "SELECT {COLUMNS} FROM contacts WHERE phone = ?1 AND removed_at IS NULL ORDER BY id"
        ),
        args![phone],
        from_row,
    )
}

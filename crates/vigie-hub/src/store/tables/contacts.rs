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

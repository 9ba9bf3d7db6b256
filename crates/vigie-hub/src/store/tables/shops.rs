//! The `shops` table: a shop's record as the hub reads it.

use crate::store::StoreError;
use crate::store::model::Shop;
use crate::store::tx::{OptionalExtension as _, Row, Tx, args};
use vigie_core::PhoneNumber;

pub const COLUMNS: &str = "id, reference, name, address, insee, commune, postcode, departement, lat, lon, rural, holder_name, holder_phone, holder_sms, opening_hours, tier_timeout_s, escalation_repeat";

pub fn from_row(row: &Row) -> Result<Shop, StoreError> {
    Ok(Shop {
        id: row.get(0)?,
        reference: row.get(1)?,
        name: row.get(2)?,
        address: row.get(3)?,
        insee: row.get(4)?,
        commune: row.get(5)?,
        postcode: row.get(6)?,
        departement: row.get(7)?,
        lat: row.get(8)?,
        lon: row.get(9)?,
        rural: row.get(10)?,
        holder_name: row.get(11)?,
        holder_phone: row.get::<PhoneNumber>(12)?,
        holder_sms: row.get(13)?,
        opening_hours: row.get(14)?,
        tier_timeout_s: row.get(15)?,
        escalation_repeat: row.get(16)?,
    })
}

pub fn load(conn: &dyn Tx, id: i64) -> Result<Shop, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM shops WHERE id = ?1"),
        args![id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| {
        StoreError::refused(
            "unknown_shop",
            format!("aucun commerce n°{id} / no shop {id}"),
        )
    })
}

/// The shops whose holder has this phone (E.164).
pub fn held_by(c: &dyn Tx, phone: &str) -> Result<Vec<Shop>, StoreError> {
    c.query_map(
        &format!("SELECT {COLUMNS} FROM shops WHERE holder_phone = ?1 ORDER BY id"),
        args![phone],
        from_row,
    )
}

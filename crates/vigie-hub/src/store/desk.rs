//! What the desk changes of a shop's record (and a shopkeeper of her own):
//! name, address, holder and opening hours, written with its audit line in
//! one transaction.

use super::model::Shop;
use super::tables::shops::load as load_shop;
use super::tx::args;
use super::{Audit, Store, StoreError};
use vigie_core::{PhoneNumber, Timestamp};

/// A shop's name, address or holder's name is at most this long, in
/// characters (as in the Region's CSV list).
pub const SHOP_TEXT_CHARS_MAX: usize = 200;

/// A shop's record as edited: every field given, checked by the caller and
/// again here.
#[derive(Debug, Clone)]
pub struct ShopEdit {
    pub name: String,
    pub address: String,
    pub holder_name: String,
    pub holder_phone: PhoneNumber,
    pub opening_hours: String,
}

fn check(edit: &ShopEdit) -> Result<(), StoreError> {
    for (value, what) in [
        (&edit.name, "nom / name"),
        (&edit.address, "adresse / address"),
        (&edit.holder_name, "titulaire / holder"),
    ] {
        let n = value.trim().chars().count();
        if n == 0 || n > SHOP_TEXT_CHARS_MAX {
            return Err(StoreError::refused(
                "bad_shop_field",
                format!(
                    "{what} : 1 à {SHOP_TEXT_CHARS_MAX} caractères / 1 to {SHOP_TEXT_CHARS_MAX} characters"
                ),
            ));
        }
    }
    vigie_core::supervision::OpeningHours::parse(&edit.opening_hours).map_err(|e| {
        StoreError::refused(
            "bad_opening_hours",
            format!("horaires d'ouverture illisibles / unreadable opening hours: {e}"),
        )
    })?;
    Ok(())
}

impl Store {
    /// Change a shop's record; `audit` is written in the same transaction,
    /// its detail replaced by the fields that changed (before and after).
    /// Returns the shop as it now is.
    pub async fn edit_shop(
        &self,
        shop_id: i64,
        edit: ShopEdit,
        audit: Audit,
        now: Timestamp,
    ) -> Result<Shop, StoreError> {
        check(&edit)?;
        let shop = self
            .db
            .write(move |c| {
                let before = load_shop(c, shop_id)?;
                let edit = ShopEdit {
                    name: edit.name.trim().to_string(),
                    address: edit.address.trim().to_string(),
                    holder_name: edit.holder_name.trim().to_string(),
                    opening_hours: edit.opening_hours.trim().to_string(),
                    ..edit.clone()
                };
                let mut changed = serde_json::Map::new();
                let mut note = |field: &str, old: &str, new: &str| {
                    if old != new {
                        changed.insert(field.into(), serde_json::json!({ "from": old, "to": new }));
                    }
                };
                note("name", &before.name, &edit.name);
                note("address", &before.address, &edit.address);
                note("holder_name", &before.holder_name, &edit.holder_name);
                note(
                    "holder_phone",
                    before.holder_phone.as_e164(),
                    edit.holder_phone.as_e164(),
                );
                note("opening_hours", &before.opening_hours, &edit.opening_hours);
                c.execute(
                    "UPDATE shops SET name = ?1, address = ?2, holder_name = ?3, holder_phone = ?4, opening_hours = ?5 WHERE id = ?6",
                    args![
                        edit.name,
                        edit.address,
                        edit.holder_name,
                        edit.holder_phone.as_e164(),
                        edit.opening_hours,
                        shop_id
                    ],
                )?;
                let detail = serde_json::Value::Object(changed);
                c.execute(
                    "INSERT INTO audit_log (at, account_id, username, action, target, reason, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    args![
                        now.as_ms(),
                        audit.account_id,
                        audit.username,
                        audit.action,
                        audit.target,
                        audit.reason,
                        detail.to_string()
                    ],
                )?;
                load_shop(c, shop_id)
            })
            .await?;
        // The box's settings carry the opening hours (when to tell the holder).
        self.config_changed(Some(shop_id));
        Ok(shop)
    }
}

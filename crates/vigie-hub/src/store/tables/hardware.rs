//! The `hardware` table: the Region's boxes, from the stock to returned.

use crate::store::StoreError;
use crate::store::tx::{Tx, args};
use vigie_core::Timestamp;

/// Box `serial`, assigned to `shop_id`, is now enrolled as `device_id`.
/// Returns whether it was assigned to that shop (otherwise nothing changed).
pub fn mark_enrolled(
    c: &dyn Tx,
    serial: &str,
    shop_id: i64,
    device_id: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let updated = c.execute(
        "UPDATE hardware SET state = 'enrolled', device_id = ?1, updated_at = ?2 WHERE serial = ?3 AND state = 'assigned' AND shop_id = ?4",
        args![device_id, now.as_ms(), serial, shop_id],
    )?;
    Ok(updated > 0)
}

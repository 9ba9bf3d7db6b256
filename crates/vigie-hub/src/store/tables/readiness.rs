//! The `shop_readiness` table: when each shop last pressed a test, and
//! whether its SMS went out and arrived.

use crate::store::StoreError;
use crate::store::tx::{Tx, args};
use vigie_core::Timestamp;

/// A test press was received for `shop`.
pub fn test_pressed(c: &dyn Tx, shop: i64, now: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO shop_readiness (shop_id, last_test_at) VALUES (?1, ?2)
         ON CONFLICT (shop_id) DO UPDATE SET last_test_at = excluded.last_test_at",
        args![shop, now.as_ms()],
    )?;
    Ok(())
}

/// The test SMS of alarm `alarm` was accepted by a gateway.
pub fn test_accepted(c: &dyn Tx, alarm: &str, now: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE shop_readiness SET last_test_ok_at = ?1 WHERE shop_id = (SELECT shop_id FROM alarms WHERE id = ?2)",
        args![now.as_ms(), alarm],
    )?;
    Ok(())
}

/// The test SMS of alarm `alarm` was delivered to its phone.
pub fn test_delivered(c: &dyn Tx, alarm: &str, now: Timestamp) -> Result<(), StoreError> {
    c.execute(
        "UPDATE shop_readiness SET last_test_delivered_at = ?1 WHERE shop_id = (SELECT shop_id FROM alarms WHERE id = ?2)",
        args![now.as_ms(), alarm],
    )?;
    Ok(())
}

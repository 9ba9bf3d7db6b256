//! The `enrolment_codes` table: one-time codes a box enrols with.

use crate::store::StoreError;
use crate::store::tx::{Tx, args};
use vigie_core::Timestamp;

/// Enrolment codes: 8 characters from the alarm-code alphabet, shown as XXXX-XXXX.
const ENROLMENT_CODE_CHARS: usize = 8;

/// Insert a new enrolment code for `shop_id` (bound to the box `serial`
/// when given), valid `ttl_ms` from `now`.
pub fn insert(
    c: &dyn Tx,
    shop_id: i64,
    serial: Option<&str>,
    ttl_ms: i64,
    now: Timestamp,
) -> Result<String, StoreError> {
    let raw: Vec<u8> = (0..ENROLMENT_CODE_CHARS)
        .map(|_| rand::random::<u8>())
        .collect();
    let alphabet = vigie_core::alarm::ALARM_CODE_ALPHABET;
    let chars: String = raw
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect();
    let code = format!("{}-{}", &chars[..4], &chars[4..]);
    c.execute(
        "INSERT INTO enrolment_codes (code, shop_id, created_at, expires_at, serial) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![code, shop_id, now.as_ms(), now.plus_ms(ttl_ms).as_ms(), serial],
    )?;
    Ok(code)
}

//! Every refusal the device API can answer, and what a box does with it:
//! one table, read by the hub (which returns these codes) and by the box
//! (which acts on them), so neither side matches strings copied from the
//! other. `docs/protocol/device-api.md` prints the same table.
//!
//! The rule the table keeps: nothing the box sealed (an alarm, a chunk of a
//! recording) is dropped because of a refusal it can recover from. Only a
//! refusal that no later attempt can change is [`BoxAction::Drop`].

/// The header on every answer of the device API that gives the hub's time
/// (ms since the Unix epoch), refusals included: a box whose clock is off
/// learns the correction from it.
pub const HUB_TIME_HEADER: &str = "vigie-hub-time-ms";

/// What the box does with an item the hub refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxAction {
    /// Sign again with the hub's time (from [`HUB_TIME_HEADER`]) and send
    /// again at once.
    FixClockAndRetry,
    /// Keep the item and send it again later (another item first, a new
    /// signature, the hub's state may change).
    KeepAndRetry,
    /// No later attempt can succeed: drop the item (an alarm the hub
    /// refuses is sent by the box itself through its modem).
    Drop,
}

/// A refusal: its stable code, what the box does, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub action: BoxAction,
    pub meaning: &'static str,
}

macro_rules! refusals {
    ($($name:ident = $code:literal, $action:ident, $meaning:literal;)*) => {
        /// The codes, as constants for the hub to return.
        pub mod code {
            $(pub const $name: &str = $code;)*
        }
        /// Every refusal of the device API.
        pub const REFUSALS: &[Refusal] = &[
            $(Refusal { code: $code, action: BoxAction::$action, meaning: $meaning },)*
        ];
    };
}

refusals! {
    STALE_SIGNATURE = "stale_signature", FixClockAndRetry,
        "the signature's `created` is outside the hub's window: the box's clock is off";
    REPLAYED_REQUEST = "replayed_request", KeepAndRetry,
        "this nonce was already used, or a heartbeat is signed before the last: sign again";
    UNSIGNED_QUERY = "unsigned_query", KeepAndRetry,
        "a query string was added to the request (the signature covers none): send it without";
    BAD_SIGNATURE_INPUT = "bad_signature_input", KeepAndRetry,
        "the Signature-Input header is unreadable (a proxy may have changed it)";
    BAD_SIGNATURE = "bad_signature", KeepAndRetry,
        "the signature does not verify (a proxy may have changed the request)";
    DIGEST_MISMATCH = "digest_mismatch", KeepAndRetry,
        "the body does not match its Content-Digest (damaged on the way)";
    UNSIGNED_REQUEST = "unsigned_request", KeepAndRetry,
        "a signature header is missing (removed on the way)";
    UNREADABLE_BODY = "unreadable_body", KeepAndRetry,
        "the body could not be read (cut on the way)";
    BUSY = "busy", KeepAndRetry,
        "a bounded queue of the hub is full: try again shortly";
    UNKNOWN_DEVICE = "unknown_device", Drop,
        "the hub does not know this box: enrol it again";
    DEVICE_RETIRED = "device_retired", Drop,
        "the box was returned: it may no longer raise alarms";
    MALFORMED_BODY = "malformed_body", Drop,
        "the body is not what the API takes";
    BODY_TOO_LARGE = "body_too_large", Drop,
        "the body is larger than the route accepts";
    BAD_ALARM_ID = "bad_alarm_id", Drop,
        "the alarm id in the path is not a UUID";
    ALARM_ID_TAKEN = "alarm_id_taken", Drop,
        "another box already used this alarm id";
    PRESS_IN_FUTURE = "press_in_future", Drop,
        "the press is later than the request that carries it";
    PRESS_TOO_OLD = "press_too_old", Drop,
        "the press is more than 24 h old";
    UNKNOWN_ALARM = "unknown_alarm", KeepAndRetry,
        "the hub has no such alarm yet: send the alarm first";
    ALARM_CLOSED = "alarm_closed", Drop,
        "the alarm is closed: nothing more can be added to it";
    CANCEL_WINDOW_PASSED = "cancel_window_passed", Drop,
        "too late to cancel as a false alarm: the desk closes it";
    TOO_MANY_DIRECT_SMS = "too_many_direct_sms", Drop,
        "more direct SMS reported than the box can have sent";
    BAD_RECORDING_ID = "bad_recording_id", Drop,
        "the recording id in the path is not a UUID";
    BAD_RECORD = "bad_record", Drop,
        "the chunk record is not a sealed record of the format";
    BAD_AUDIO = "bad_audio", Drop,
        "the chunk's audio is not base64";
    AUDIO_MISMATCH = "audio_mismatch", Drop,
        "the audio does not match the record's hash";
    BAD_RECORD_SIGNATURE = "bad_record_signature", Drop,
        "the record is not signed by this box's key";
    RECORD_MISMATCH = "record_mismatch", Drop,
        "the record names another recording, alarm or box than the request";
    RECORDING_MISMATCH = "recording_mismatch", Drop,
        "this recording belongs to another alarm or box";
    RECORDING_DELETED = "recording_deleted", Drop,
        "the recording was deleted (retention)";
    CHUNK_GAP = "chunk_gap", KeepAndRetry,
        "an earlier chunk is missing at the hub: send it first";
    CHUNK_CHAIN = "chunk_chain", Drop,
        "the chunk does not follow the previous one's hash";
    CHUNK_CONFLICT = "chunk_conflict", Drop,
        "another chunk with this number is already in the log";
    BAD_HEARTBEAT = "bad_heartbeat", Drop,
        "the heartbeat's values are out of range";
    STORE_CANNOT_WRITE = "store_cannot_write", KeepAndRetry,
        "503: the hub cannot write (disk full): nothing was kept; the box alerts its contacts itself at once";
    INTERNAL = "internal", KeepAndRetry,
        "the hub failed: try again later";
    REQUEST_TIMEOUT = "request_timeout", KeepAndRetry,
        "the request was not received whole in time (a slow link)";
    NOT_FOUND = "not_found", KeepAndRetry,
        "no such path on this hub (another version of the API?)";
    METHOD_NOT_ALLOWED = "method_not_allowed", KeepAndRetry,
        "this path does not take this method (another version of the API?)";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", Drop,
        "the body's content type is not JSON";
    BAD_REQUEST = "bad_request", Drop,
        "a path parameter or the request itself is not understood";
}

/// The refusal of that code, if the table has it.
pub fn refusal(code: &str) -> Option<&'static Refusal> {
    REFUSALS.iter().find(|r| r.code == code)
}

/// What the box does with a refusal of that code. A code the table does not
/// have (a newer hub) keeps the item: dropping what the box sealed on a
/// refusal it cannot read would be the one mistake it cannot undo.
pub fn box_action(code: &str) -> BoxAction {
    refusal(code).map_or(BoxAction::KeepAndRetry, |r| r.action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_spelled_as_codes() {
        let mut seen = std::collections::HashSet::new();
        for r in REFUSALS {
            assert!(seen.insert(r.code), "{} twice", r.code);
            assert!(
                r.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                r.code
            );
        }
    }

    /// `docs/protocol/device-api.md` prints this table: every row there.
    #[test]
    fn the_device_api_document_prints_the_table() {
        let doc = include_str!("../../../docs/protocol/device-api.md");
        for r in REFUSALS {
            let word = match r.action {
                BoxAction::FixClockAndRetry => "fix clock",
                BoxAction::KeepAndRetry => "keep",
                BoxAction::Drop => "drop",
            };
            let row = format!("| `{}` | {word} | {} |", r.code, r.meaning);
            assert!(doc.contains(&row), "missing from device-api.md: {row}");
        }
    }

    #[test]
    fn a_clock_off_is_fixed_and_an_unknown_code_keeps_the_item() {
        assert_eq!(
            box_action(code::STALE_SIGNATURE),
            BoxAction::FixClockAndRetry
        );
        assert_eq!(box_action(code::CHUNK_GAP), BoxAction::KeepAndRetry);
        assert_eq!(box_action(code::DEVICE_RETIRED), BoxAction::Drop);
        assert_eq!(
            box_action("a_code_from_a_newer_hub"),
            BoxAction::KeepAndRetry
        );
    }
}

//! SMS reply texts as the hub reads them (`vigie_core::reply::parse_reply`),
//! after the gateway has decoded them to text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::reply::{Reply, parse_reply};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let reply = parse_reply(&text);
    // Deterministic: the same text always means the same thing.
    assert_eq!(reply, parse_reply(&text));
    if let Reply::Answer {
        alarm_code: Some(code),
        ..
    } = &reply
    {
        assert_eq!(code.len(), vigie_core::alarm::ALARM_CODE_CHARS);
    }
});

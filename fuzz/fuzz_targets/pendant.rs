//! A GSM SOS pendant's SMS as the hub reads it (`vigie_core::pendant::read`),
//! after the gateway has decoded it to text: its meaning and the position
//! it gives, with and without a registered non-alarm pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::pendant::{Info, Meaning, NonAlarmPattern, read};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let reading = read(&text, &[]);
    // Deterministic: the same text always means the same thing.
    assert_eq!(reading, read(&text, &[]));
    if let Some(p) = reading.position {
        assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon));
        assert!(p.lat != 0.0 || p.lon != 0.0, "0,0 is no fix");
    }
    // A pattern made of the text's own first words may make it the
    // pattern's information, nothing else; it never changes a setting
    // confirmed or words that cancel, and never the position.
    let head: String = text.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    if let Ok(pattern) = NonAlarmPattern::parse(&head) {
        let with = read(&text, &[pattern]);
        assert_eq!(with.position, reading.position);
        assert!(with.meaning == reading.meaning || with.meaning == Meaning::Info(Info::Pattern(0)));
        if matches!(reading.meaning, Meaning::CancelOrAnswer | Meaning::Info(Info::SettingConfirmed)) {
            assert_eq!(with.meaning, reading.meaning);
        }
    }
});

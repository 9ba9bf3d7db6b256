//! A shop's opening hours as typed in the CSV import or the console:
//! `vigie_core::supervision::OpeningHours::parse`, then what is done with a
//! parsed value (the words shown, `is_open` at every minute of a week).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::supervision::OpeningHours;
use vigie_core::time::CivilTime;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(hours) = OpeningHours::parse(&text) {
        let _ = hours.in_words(true);
        let _ = hours.in_words(false);
        for weekday in 0..7 {
            for hour in [0, 6, 7, 12, 19, 23] {
                for minute in [0, 29, 30, 59] {
                    let t = CivilTime {
                        year: 2026,
                        month: 12,
                        day: 1,
                        hour,
                        minute,
                        second: 0,
                        weekday,
                    };
                    let _ = hours.is_open(&t);
                }
            }
        }
    }
});

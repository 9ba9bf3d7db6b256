//! The Region's shop list import (`vigie_hub::region::parse_shop_csv`, RFC
//! 4180 lines by `split_csv_line`), then what the store checks of each shop
//! before inserting it (its opening hours).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::supervision::OpeningHours;
use vigie_hub::region::{SHOP_CSV_HEADER, parse_shop_csv, split_csv_line};

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    for line in body.lines().take(64) {
        let _ = split_csv_line(line);
    }
    // As uploaded, and with the right header so the lines themselves are read.
    let with_header = format!("{SHOP_CSV_HEADER}\n{body}");
    for text in [body.as_ref(), with_header.as_str()] {
        match parse_shop_csv(text) {
            Ok(shops) => {
                for shop in shops {
                    assert!(!shop.reference.is_empty());
                    let _ = OpeningHours::parse(&shop.opening_hours);
                }
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
});

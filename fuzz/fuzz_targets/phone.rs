//! Phone numbers from every outside source (CSV imports, console forms, the
//! box's direct SMS reports): `vigie_core::PhoneNumber::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::PhoneNumber;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(number) = PhoneNumber::parse(&text) {
        // E.164 from the moment it is parsed: parsing it again is the identity.
        let again = PhoneNumber::parse(number.as_e164()).expect("an E.164 number parses");
        assert_eq!(again, number);
        assert!(number.as_e164().starts_with('+'));
        assert!(number.digits().bytes().all(|b| b.is_ascii_digit()));
        let _ = number.national_display();
        let masked = number.to_string();
        assert_ne!(masked, number.as_e164(), "Display must mask the number");
    }
});

//! The evidence ZIP reader (`strict_zip::read` through `export::entries`
//! and `export::unpack`, the export's limits): bounded, entries read in
//! place. What it reads, the writer writes again, and that reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_evidence::export;
use vigie_evidence::strict_zip;

fuzz_target!(|data: &[u8]| {
    let Ok(entries) = export::entries(data) else {
        assert!(export::unpack(data).is_err());
        return;
    };
    let total: usize = entries.values().map(|b| b.len()).sum();
    assert!(total <= data.len(), "entries are borrowed from the input");
    for path in entries.keys() {
        let _ = export::Part::parse(path);
    }
    let written = strict_zip::write(entries.iter().map(|(p, b)| (p.as_str(), *b)))
        .expect("what was read fits a ZIP");
    let again = export::entries(&written).expect("the writer's ZIP reads");
    assert_eq!(again, entries);
    let _ = strict_zip::crc32(data);
});

//! SMS PDUs on the box (3GPP TS 23.040): the hex line `AT+CMGR` gives in PDU
//! mode (`vigie_core::pdu::decode_deliver`, and `decode_submit`), the GSM
//! 7-bit and UCS-2 user data inside, and the encoder's round trip on the
//! same bytes read as a text to send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_core::PhoneNumber;
use vigie_core::gsm::{Encoding, fold_to_gsm};
use vigie_core::pdu::{decode_deliver, decode_submit, encode_submit};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fuzz_target!(|data: &[u8]| {
    // As the modem's line (text, possibly not hex at all)…
    let line = String::from_utf8_lossy(data);
    let _ = decode_deliver(&line);
    let _ = decode_submit(&line);
    // …and as the octets of a PDU, so the mutations reach its fields.
    let pdu = hex(data);
    let _ = decode_deliver(&pdu);
    let _ = decode_submit(&pdu);

    // The same bytes as a text the box would send: what it encodes decodes back.
    let text = line.as_ref();
    let _ = Encoding::of(text).segments();
    let _ = fold_to_gsm(text);
    let to = PhoneNumber::parse("+33612345678").expect("a valid number");
    if let Ok(encoded) = encode_submit(&to, text) {
        let back = decode_submit(&encoded.hex).expect("our own PDU decodes");
        assert_eq!(back.text, text);
        assert_eq!(back.to, "+33612345678");
        assert_eq!(back.tpdu_len, encoded.tpdu_len);
    }
});

//! SIA DC-09 frames from panels, transmitters and monitoring centres
//! (`vigie_dc09`): the envelope and header (`Head::parse`, with and without
//! the binary-CRC variant), the body plain and encrypted (`Head::open`), the
//! replies (`Reply::parse`), the Contact ID and SIA-DCS bodies, keys and
//! timestamps. Whatever decodes re-encodes to the same frame. The first
//! byte picks how the rest is used, so that mutations get past the CRC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_core::{CryptoRng, RngCore};
use vigie_dc09::{
    AdmCid, BODY_BYTES_MAX, DecodeOptions, Head, Key, Reply, SiaDcs, Timestamp, crc16_arc, decode,
};

/// The key of every encrypted input (an ASCII key, as pysiaalarm uses them).
const KEY: &[u8; 16] = b"0123456789ABCDEF";

/// Pad bytes for re-encoding: deterministic, so a crash replays.
struct Counter(u8);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.next())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.iter_mut().for_each(|b| *b = self.next());
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl Counter {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(37);
        self.0
    }
}

impl CryptoRng for Counter {}

/// `LF crc 0LLL span CR` around any span.
fn envelope(span: &[u8]) -> Vec<u8> {
    let span = &span[..span.len().min(BODY_BYTES_MAX)];
    let mut out = format!("\n{:04X}0{:03X}", crc16_arc(span), span.len()).into_bytes();
    out.extend(span);
    out.push(b'\r');
    out
}

fn hex(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .flat_map(|b| format!("{b:02X}").into_bytes())
        .collect()
}

fn check_frame(bytes: &[u8], key: &Key) {
    for binary_crc in [false, true] {
        let options = DecodeOptions { binary_crc };
        let Ok(head) = Head::parse(bytes, &options) else {
            continue;
        };
        for k in [None, Some(key)] {
            let Ok(frame) = head.open(k) else { continue };
            let _ = frame.content();
            let again = if frame.encrypted {
                frame.encode_encrypted(key, &mut Counter(0))
            } else {
                // Nothing decoded is longer once re-encoded (prefixes only lose `None`).
                Ok(frame.encode_plain().expect("a decoded frame encodes"))
            };
            if let Ok(again) = again {
                let back = decode(&again, Some(key), &DecodeOptions::default());
                assert_eq!(
                    back.as_ref(),
                    Ok(&frame),
                    "re-encoded frame decodes the same"
                );
            }
        }
    }
    let _ = Reply::parse(bytes, Some(key));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = Key::from_bytes(KEY).expect("a valid key");
    match mode % 4 {
        // The bytes as received.
        0 => check_frame(rest, &key),
        // The span inside a sound envelope: header and blocks.
        1 => check_frame(&envelope(rest), &key),
        // The clear text of an encrypted frame: pad, data, x-data, timestamp.
        2 => {
            let mut clear = rest[..rest.len().min(2000)].to_vec();
            let whole = clear.len().div_ceil(16).max(1) * 16;
            clear.resize(whole, b'0');
            let mut cipher = clear;
            encrypt(&mut cipher);
            let mut span = b"\"*ADM-CID\"0001L0#AB12[".to_vec();
            span.extend(hex(&cipher));
            check_frame(&envelope(&span), &key);
        }
        // Bodies, keys and timestamps on their own.
        _ => {
            let _ = AdmCid::parse(rest).map(|c| assert_eq!(AdmCid::parse(&c.to_data()), Ok(c)));
            let _ = SiaDcs::parse(rest).map(|d| assert_eq!(SiaDcs::parse(&d.to_data()), Ok(d)));
            let _ = Timestamp::parse(rest);
            let text = String::from_utf8_lossy(rest);
            let _ = Key::from_ascii(&text);
            let _ = Key::from_hex(&text);
        }
    }
});

/// AES-128-CBC with a zero IV under [`KEY`], independently of the codec
/// (which has no public raw-encryption function).
fn encrypt(buf: &mut [u8]) {
    use aes::cipher::{BlockEncryptMut, KeyIvInit};
    let mut c = cbc::Encryptor::<aes::Aes128>::new(&(*KEY).into(), &[0u8; 16].into());
    for block in buf.as_chunks_mut::<16>().0 {
        c.encrypt_block_mut(block.into());
    }
}

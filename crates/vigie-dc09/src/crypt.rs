//! AES-CBC with a zero IV (DC-09 5.4.6), the key forms panels and receivers
//! are configured with, and the pad that starts every encrypted clear text.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, BlockSizeUser, KeyIvInit, consts::U16};
use rand_core::{CryptoRng, RngCore};
use std::fmt;

/// AES block, and the unit of the encrypted body.
pub const AES_BLOCK_BYTES: usize = 16;
/// Fewest pad bytes Vigie writes before `|` (DC-09 5.4.4.3: 16–31 pseudo-random bytes).
pub const PAD_BYTES_OUT_MIN: usize = 16;
/// Most pad bytes accepted before the data: siadc09 writes 16–31, pysiaalarm
/// 1–16 `'0'`s, and an Abus Secvest none. More than this is not a DC-09 pad
/// (most likely a wrong key).
pub const PAD_BYTES_MAX: usize = 31;

/// An AES key: 128, 192 or 256 bits. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(KeyBytes);

#[derive(Clone, PartialEq, Eq)]
enum KeyBytes {
    Aes128([u8; 16]),
    Aes192([u8; 24]),
    Aes256([u8; 32]),
}

/// Why a configured key is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an ASCII key has 16, 24 or 32 characters, not {0}")]
    AsciiLength(usize),
    #[error("an ASCII key is printable ASCII")]
    NotAscii,
    #[error("a hex key has 32, 48 or 64 hex digits, not {0}")]
    HexLength(usize),
    #[error("a hex key has only the digits 0-9 and A-F")]
    NotHex,
}

impl Key {
    /// The raw key bytes: 16, 24 or 32 of them.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key = match bytes.len() {
            16 => KeyBytes::Aes128(bytes.try_into().ok()?),
            24 => KeyBytes::Aes192(bytes.try_into().ok()?),
            32 => KeyBytes::Aes256(bytes.try_into().ok()?),
            _ => return None,
        };
        Some(Key(key))
    }

    /// A key typed as text whose characters are the key bytes (what
    /// pysiaalarm does, and Ajax's "16 ASCII characters").
    pub fn from_ascii(text: &str) -> Result<Self, KeyError> {
        if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(KeyError::NotAscii);
        }
        Key::from_bytes(text.as_bytes()).ok_or(KeyError::AsciiLength(text.len()))
    }

    /// A key given as hex digits (ioBroker's "password in Hex format", Ajax's
    /// "32 HEX"). A 32-character key is ambiguous (32 ASCII bytes or 16 hex
    /// bytes), so the configuration says which form it is in.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        if !matches!(text.len(), 32 | 48 | 64) {
            return Err(KeyError::HexLength(text.len()));
        }
        let bytes = decode_hex(text.as_bytes()).ok_or(KeyError::NotHex)?;
        Key::from_bytes(&bytes).ok_or(KeyError::HexLength(text.len()))
    }

    /// Key size in bits.
    pub fn bits(&self) -> u16 {
        match self.0 {
            KeyBytes::Aes128(_) => 128,
            KeyBytes::Aes192(_) => 192,
            KeyBytes::Aes256(_) => 256,
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(AES-{}, hidden)", self.bits())
    }
}

const IV: [u8; AES_BLOCK_BYTES] = [0; AES_BLOCK_BYTES];

/// Encrypts whole blocks in place. `buf.len()` is a multiple of 16 (the caller pads).
pub(crate) fn encrypt_blocks(key: &Key, buf: &mut [u8]) {
    fn run<C: BlockEncryptMut + BlockSizeUser<BlockSize = U16>>(mut c: C, buf: &mut [u8]) {
        for block in buf.as_chunks_mut::<AES_BLOCK_BYTES>().0 {
            c.encrypt_block_mut(block.into());
        }
    }
    let iv = IV.into();
    match &key.0 {
        KeyBytes::Aes128(k) => run(cbc::Encryptor::<aes::Aes128>::new(&(*k).into(), &iv), buf),
        KeyBytes::Aes192(k) => run(cbc::Encryptor::<aes::Aes192>::new(&(*k).into(), &iv), buf),
        KeyBytes::Aes256(k) => run(cbc::Encryptor::<aes::Aes256>::new(&(*k).into(), &iv), buf),
    }
}

/// Decrypts whole blocks in place. `buf.len()` is a multiple of 16 (checked by the caller).
pub(crate) fn decrypt_blocks(key: &Key, buf: &mut [u8]) {
    fn run<C: BlockDecryptMut + BlockSizeUser<BlockSize = U16>>(mut c: C, buf: &mut [u8]) {
        for block in buf.as_chunks_mut::<AES_BLOCK_BYTES>().0 {
            c.decrypt_block_mut(block.into());
        }
    }
    let iv = IV.into();
    match &key.0 {
        KeyBytes::Aes128(k) => run(cbc::Decryptor::<aes::Aes128>::new(&(*k).into(), &iv), buf),
        KeyBytes::Aes192(k) => run(cbc::Decryptor::<aes::Aes192>::new(&(*k).into(), &iv), buf),
        KeyBytes::Aes256(k) => run(cbc::Decryptor::<aes::Aes256>::new(&(*k).into(), &iv), buf),
    }
}

/// `len` pad bytes from the caller's CSPRNG, none of them `[`, `]` or `|`
/// (bytes that would end the pad or the data early).
pub(crate) fn pad_bytes<R: RngCore + CryptoRng + ?Sized>(rng: &mut R, len: usize) -> Vec<u8> {
    let mut pad = Vec::with_capacity(len);
    let mut chunk = [0u8; 32];
    while pad.len() < len {
        rng.fill_bytes(&mut chunk);
        pad.extend(
            chunk
                .iter()
                .copied()
                .filter(|b| !matches!(b, b'[' | b']' | b'|')),
        );
    }
    pad.truncate(len);
    pad
}

/// Hex digits (either case) to bytes; `None` if odd or not hex.
pub(crate) fn decode_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
        .collect()
}

pub(crate) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Bytes to upper-case hex digits.
pub(crate) fn encode_hex(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xF)]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_forms() {
        assert_eq!(
            Key::from_ascii("0123456789ABCDEF").map(|k| k.bits()),
            Ok(128)
        );
        assert_eq!(
            Key::from_ascii("0123456789ABCDEF01234567").map(|k| k.bits()),
            Ok(192)
        );
        assert_eq!(
            Key::from_ascii("0123456789ABCDEF0123456789ABCDEF").map(|k| k.bits()),
            Ok(256)
        );
        assert_eq!(Key::from_ascii("short"), Err(KeyError::AsciiLength(5)));
        assert_eq!(
            Key::from_ascii("0123456789ABCDE\u{e9}"),
            Err(KeyError::NotAscii)
        );
        assert_eq!(
            Key::from_hex("000102030405060708090a0b0c0d0e0F").map(|k| k.bits()),
            Ok(128)
        );
        assert_eq!(Key::from_hex(&"ab".repeat(24)).map(|k| k.bits()), Ok(192));
        assert_eq!(Key::from_hex(&"ab".repeat(32)).map(|k| k.bits()), Ok(256));
        assert_eq!(
            Key::from_hex("0123456789ABCDEF"),
            Err(KeyError::HexLength(16))
        );
        assert_eq!(Key::from_hex(&"zz".repeat(16)), Err(KeyError::NotHex));
        // The same 32 characters are two different keys.
        let text = "00112233445566778899AABBCCDDEEFF";
        assert_ne!(Key::from_ascii(text), Key::from_hex(text));
    }

    #[test]
    fn debug_hides_the_key() {
        let key = Key::from_ascii("0123456789ABCDEF").expect("key");
        assert_eq!(format!("{key:?}"), "Key(AES-128, hidden)");
    }

    #[test]
    fn fips_197_vector_in_cbc_with_zero_iv() {
        // One block with a zero IV is the bare AES of FIPS-197 Appendix C.1.
        let key = Key::from_hex("000102030405060708090a0b0c0d0e0f").expect("key");
        let mut block = decode_hex(b"00112233445566778899aabbccddeeff").expect("hex");
        encrypt_blocks(&key, &mut block);
        assert_eq!(
            encode_hex(&block),
            b"69C4E0D86A7B0430D8CDB78070B4C55A".to_vec()
        );
        decrypt_blocks(&key, &mut block);
        assert_eq!(
            encode_hex(&block),
            b"00112233445566778899AABBCCDDEEFF".to_vec()
        );
    }

    #[test]
    fn pad_avoids_the_delimiters() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pad = pad_bytes(&mut rng, 10_000);
        assert_eq!(pad.len(), 10_000);
        assert!(!pad.iter().any(|b| matches!(b, b'[' | b']' | b'|')));
    }
}

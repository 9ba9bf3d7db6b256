//! CRC-16/ARC, the checksum of every DC-09 frame (DC-07 Appendix B): polynomial
//! 0x8005 reflected (0xA001), initial value 0, no final XOR.

/// The CRC table, computed at compile time from the reflected polynomial.
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/ARC of `bytes`: in a frame, over the raw bytes from the first `"`
/// to the byte before the closing CR (never over a decoded string: x-data may
/// carry Windows-1252 text).
pub fn crc16_arc(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from((crc ^ u16::from(b)) & 0xFF)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_catalogue() {
        // The catalogue's check value for CRC-16/ARC.
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
        assert_eq!(crc16_arc(b""), 0);
    }

    #[test]
    fn table_matches_the_bitwise_definition() {
        fn bitwise(bytes: &[u8]) -> u16 {
            let mut crc = 0u16;
            for &b in bytes {
                crc ^= u16::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xA001
                    } else {
                        crc >> 1
                    };
                }
            }
            crc
        }
        let all: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        assert_eq!(crc16_arc(&all), bitwise(&all));
    }

    #[test]
    fn frame_of_the_design_notes() {
        // `\nC2800027"ADM-CID"0001L0#AB12[#AB12|1120 01 001]\r`
        assert_eq!(
            crc16_arc(br#""ADM-CID"0001L0#AB12[#AB12|1120 01 001]"#),
            0xC280
        );
    }
}

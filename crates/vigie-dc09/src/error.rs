//! What can be wrong with a frame, and what a receiver answers to each.
//!
//! DC-09 5.5.3 and the 2007 compliance test: a frame whose envelope is wrong
//! (CRC, length, a stray LF or CR) gets **no reply**; a correctly received
//! frame that cannot be processed (unknown token, undecryptable or unreadable
//! body, unknown account) gets **DUH**; a frame whose time is outside the
//! window gets **NAK** with the receiver's time ([`crate::TimeWindow`], checked
//! by the receiver since it alone knows `now`).

use crate::frame::{Header, Token};
use crate::time::TimestampError;

/// Why one field is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("an account is 3 to 16 hex digits (or none), not {0:?}")]
    Account(String),
    #[error("a receiver or line prefix is R or L and 1 to 6 hex digits, each at most once: {0:?}")]
    Prefix(String),
    #[error("a sequence number is 0000 to 9999, not {0}")]
    Seq(u16),
    #[error("an x-data block starts with a capital letter, not byte 0x{0:02X}")]
    XDataLetter(u8),
    #[error("x-data may not contain byte 0x{0:02X} ([, ], CR or LF)")]
    XDataByte(u8),
}

/// Why the blocks after `[` (data, x-data, timestamp) cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("the data block has no closing ]")]
    NoDataEnd,
    #[error("the data block contains byte 0x{0:02X}")]
    DataByte(u8),
    #[error("an x-data block has no closing ]")]
    XDataEnd,
    #[error("an x-data block is empty")]
    XDataEmpty,
    #[error(transparent)]
    XData(FieldError),
    #[error("bad timestamp: {0}")]
    Timestamp(TimestampError),
    #[error("unexpected bytes after the blocks: {0:?}")]
    Trailing(String),
}

/// Why an encrypted body cannot be read. A wrong key shows up here (as no
/// `]`, a long pad or a clear text that does not parse), never as an event:
/// AES-CBC has no MAC, so the grammar of the clear text is the check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("the cipher text is not hex digits")]
    NotHex,
    #[error("the cipher text is not whole 16-byte blocks ({hex_digits} hex digits)")]
    Blocks { hex_digits: usize },
    #[error("the clear text has no ] (wrong key?)")]
    NoDataEnd,
    #[error("the pad is {bytes} bytes, more than 31 (wrong key?)")]
    PadTooLong { bytes: usize },
    #[error("the pad contains [ (wrong key?)")]
    PadByte,
    #[error("the clear text does not parse (wrong key?): {0}")]
    ClearText(DataError),
    #[error("an encrypted message must carry a timestamp")]
    NoTimestamp,
}

/// What went wrong, from the outside in.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    // The envelope: no reply.
    #[error("empty input")]
    Empty,
    #[error("{bytes} bytes, more than a frame can hold")]
    TooLong { bytes: usize },
    #[error("{bytes} bytes, too short for a frame")]
    TooShort { bytes: usize },
    #[error("a frame starts with LF")]
    NoStartLf,
    #[error("a frame ends with CR")]
    NoEndCr,
    #[error("no \" after the CRC and length fields")]
    Layout,
    #[error("LF inside the frame at byte {offset}")]
    LfInside { offset: usize },
    #[error("CR inside the frame at byte {offset}")]
    CrInside { offset: usize },
    #[error("the CRC field is not 4 hex digits")]
    CrcField,
    #[error("the length field is not 4 hex digits")]
    LengthField,
    #[error("declared length {declared} is over the 4095 bytes a frame may hold")]
    LengthOverMax { declared: usize },
    #[error("declared length {declared}, actual {actual}")]
    Length { declared: usize, actual: usize },
    #[error("CRC sent {sent:04X}, computed {computed:04X}")]
    Crc { sent: u16, computed: u16 },
    #[error("binary-CRC frame, not accepted here")]
    BinaryCrc,
    // The header: no reply (there is nothing to address a DUH to).
    #[error("the \"ID\" token has no closing quote")]
    IdToken,
    #[error("the sequence number is not 4 digits")]
    Sequence,
    #[error("the header has no [")]
    NoData,
    #[error("the header has neither #account nor A0")]
    NoAccount,
    #[error(transparent)]
    Field(FieldError),
    // The header is read: DUH.
    #[error("unknown token {token:?}")]
    UnknownToken { token: String },
    #[error("encrypted frame and no key for it")]
    NoKey,
    #[error("cannot decrypt: {0}")]
    Decrypt(DecryptError),
    #[error("bad body: {0}")]
    Data(DataError),
}

/// A frame that could not be decoded, with its header when that was read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    kind: ErrorKind,
    header: Option<Box<Header>>,
}

/// What a receiver sends back for a frame it could not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// Nothing (DC-09: a CRC or length error is not answered). Count it per peer.
    Silence,
    /// DUH to this header ([`crate::Frame::duh`]).
    Duh(&'a Header),
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind, header: Option<Header>) -> DecodeError {
        DecodeError {
            kind,
            header: header.map(Box::new),
        }
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The header, when the error came after it was read.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_deref()
    }

    /// The receiver's answer: DUH when the envelope was sound and the header
    /// read, nothing otherwise.
    pub fn answer(&self) -> Answer<'_> {
        match self.header() {
            Some(header) => Answer::Duh(header),
            None => Answer::Silence,
        }
    }
}

/// Why a frame cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the frame is {bytes} bytes from \" to CR, over 4095")]
    TooLong { bytes: usize },
    #[error("the data block may not contain byte 0x{0:02X} ([, ], CR or LF)")]
    DataByte(u8),
    #[error("the frame is marked encrypted: encode it with a key")]
    NeedsKey,
    #[error("the frame is not marked encrypted")]
    NotMarkedEncrypted,
    #[error("{0:?} is never encrypted")]
    NeverEncrypted(Token),
    #[error("an encrypted frame must carry a timestamp")]
    NoTimestamp,
}

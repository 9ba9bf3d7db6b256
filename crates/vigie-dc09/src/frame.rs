//! DC-09 frames: `LF crc 0LLL "id" seq Rrcvr Lpref #acct [data][x-data]_timestamp CR`.
//!
//! Decoding is in two steps so that a receiver can look the account up
//! (and find its key) between them: [`Head::parse`] checks the envelope
//! (LF, CR, length, CRC) and reads the header; [`Head::open`] decrypts if
//! needed and reads the data, the x-data and the timestamp.

use crate::crc::crc16_arc;
use crate::crypt::{self, AES_BLOCK_BYTES, Key, PAD_BYTES_MAX, PAD_BYTES_OUT_MIN};
use crate::error::{DataError, DecodeError, DecryptError, EncodeError, ErrorKind, FieldError};
use crate::time::Timestamp;
use rand_core::{CryptoRng, RngCore};
use std::fmt;

/// Longest span the length field can count (`0` then three hex digits), from
/// the first `"` to the byte before CR. DC-09 caps messages at this.
pub const BODY_BYTES_MAX: usize = 0xFFF;
/// Longest frame on the wire: LF, 4 CRC digits, 4 length digits, the span, CR.
/// A receiver's per-frame buffer need never be larger.
pub const FRAME_BYTES_MAX: usize = 1 + 4 + 4 + BODY_BYTES_MAX + 1;
/// Fewest hex digits of a non-empty account (DC-09 Annex C.2.3.8: `acct = 0 … FEDCBA9876543210`).
pub const ACCOUNT_DIGITS_MIN: usize = 3;
/// Most hex digits of an account (same source).
pub const ACCOUNT_DIGITS_MAX: usize = 16;
/// Most hex digits of a receiver (`R`) or line (`L`) prefix (`0 … FFFFFF`).
pub const PREFIX_DIGITS_MAX: usize = 6;
/// Largest sequence number (four decimal digits).
pub const SEQ_MAX: u16 = 9999;
/// Longest token kept in an "unknown token" error (the longest DC-09 token is 7 bytes).
const TOKEN_BYTES_SHOWN_MAX: usize = 16;

const LF: u8 = 0x0A;
const CR: u8 = 0x0D;

/// A message's sequence number, 0000–9999. A retransmission reuses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Seq(u16);

impl Seq {
    /// The first number a transmitter sends (0000 is left to NAK).
    pub const FIRST: Seq = Seq(1);

    pub fn new(n: u16) -> Result<Seq, FieldError> {
        if n <= SEQ_MAX {
            Ok(Seq(n))
        } else {
            Err(FieldError::Seq(n))
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// The next number to send: 0001 … 9999, then 0001 again (the DC-09-2007
    /// compliance test expects "9998, 9999, 0001, 0002").
    pub fn next(self) -> Seq {
        if self.0 >= SEQ_MAX {
            Seq::FIRST
        } else {
            Seq(self.0 + 1)
        }
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

/// An account: a string of 3–16 hex digits (or empty, as Ajax has sent),
/// kept as text so that leading zeros survive (`0123` is not `123`). Stored
/// in upper case, so comparing two accounts ignores case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(String);

impl Account {
    pub fn new(text: &str) -> Result<Account, FieldError> {
        Account::from_bytes(text.as_bytes())
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Account, FieldError> {
        let ok = (bytes.is_empty()
            || (ACCOUNT_DIGITS_MIN..=ACCOUNT_DIGITS_MAX).contains(&bytes.len()))
            && bytes.iter().all(u8::is_ascii_hexdigit);
        if !ok {
            return Err(FieldError::Account(shown(bytes)));
        }
        Ok(Account(String::from_utf8_lossy(bytes).to_ascii_uppercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A receiver (`R`) or line (`L`) prefix: 1–6 hex digits, kept as text and
/// echoed as received.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Prefix(String);

impl Prefix {
    pub fn new(text: &str) -> Result<Prefix, FieldError> {
        Prefix::from_bytes(text.as_bytes())
    }

    fn from_bytes(bytes: &[u8]) -> Result<Prefix, FieldError> {
        let ok = (1..=PREFIX_DIGITS_MAX).contains(&bytes.len())
            && bytes.iter().all(u8::is_ascii_hexdigit);
        if !ok {
            return Err(FieldError::Prefix(shown(bytes)));
        }
        Ok(Prefix(String::from_utf8_lossy(bytes).to_ascii_uppercase()))
    }

    /// `0`, what replies and Vigie's own frames carry by default.
    pub fn zero() -> Prefix {
        Prefix("0".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The message type between quotes. Other DC-09 tokens (`SIA-PUL`, `ADM-41E`…)
/// are refused as unknown: Vigie cannot act on them (the receiver answers DUH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Token {
    /// SIA DC-03 events (`Nri1/PA501`).
    SiaDcs,
    /// Contact ID (DC-05) events (`1120 01 015`).
    AdmCid,
    /// Link test (supervision).
    Null,
    /// Extended link test: a NULL that may carry x-data.
    Xnm,
    Ack,
    Nak,
    Duh,
}

impl Token {
    pub fn as_str(self) -> &'static str {
        match self {
            Token::SiaDcs => "SIA-DCS",
            Token::AdmCid => "ADM-CID",
            Token::Null => "NULL",
            Token::Xnm => "XNM",
            Token::Ack => "ACK",
            Token::Nak => "NAK",
            Token::Duh => "DUH",
        }
    }

    fn from_bytes(name: &[u8]) -> Option<Token> {
        [
            Token::SiaDcs,
            Token::AdmCid,
            Token::Null,
            Token::Xnm,
            Token::Ack,
            Token::Nak,
            Token::Duh,
        ]
        .into_iter()
        .find(|t| t.as_str().as_bytes() == name)
    }

    /// NAK and DUH are never encrypted (DC-09 5.5.3).
    pub fn may_be_encrypted(self) -> bool {
        !matches!(self, Token::Nak | Token::Duh)
    }
}

/// Who a message is from and which one it is: what a reply echoes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub seq: Seq,
    pub receiver: Option<Prefix>,
    pub line: Option<Prefix>,
    /// `None` is the `A0` that NAKs carry in place of `#acct`.
    pub account: Option<Account>,
}

impl Header {
    /// A header for Vigie's own frames: no `R`, `L0` (pysiaalarm requires `L`).
    pub fn new(seq: Seq, account: Account) -> Header {
        Header {
            seq,
            receiver: None,
            line: Some(Prefix::zero()),
            account: Some(account),
        }
    }
}

/// One extended-data block `[x…]`: a capital letter (`V` verification link,
/// `X`/`Y` position, `H` time of occurrence, `S` site…) and raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct XData {
    letter: u8,
    value: Vec<u8>,
}

impl XData {
    /// `value` may be any bytes but `[`, `]`, CR and LF.
    pub fn new(letter: u8, value: Vec<u8>) -> Result<XData, FieldError> {
        if !letter.is_ascii_uppercase() {
            return Err(FieldError::XDataLetter(letter));
        }
        if let Some(&b) = value.iter().find(|b| is_delimiter(**b)) {
            return Err(FieldError::XDataByte(b));
        }
        Ok(XData { letter, value })
    }

    pub fn letter(&self) -> char {
        char::from(self.letter)
    }

    pub fn value(&self) -> &[u8] {
        &self.value
    }
}

/// Bytes that may not appear inside data or x-data.
fn is_delimiter(b: u8) -> bool {
    matches!(b, b'[' | b']' | LF | CR)
}

/// A whole DC-09 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub token: Token,
    /// Sent as `"*TOKEN"`, AES-CBC over everything after `[`.
    pub encrypted: bool,
    pub header: Header,
    /// The mandatory data block, without its brackets: `#1234|1120 01 015`.
    /// Read it with [`Frame::content`].
    pub data: Vec<u8>,
    pub xdata: Vec<XData>,
    /// Optional on clear frames, mandatory on encrypted ones.
    pub timestamp: Option<Timestamp>,
}

/// How the CRC is written in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrcForm {
    /// Four ASCII hex digits (DC-09).
    Hex,
    /// Two raw bytes, high byte first, as some panels (Lupusec) send over UDP.
    Binary,
}

/// What the decoder accepts beyond DC-09.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Accept the binary-CRC variant ([`CrcForm::Binary`]). Off by default; a
    /// receiver turns it on only for the accounts configured so, checking
    /// [`Head::crc_form`] once the account is known.
    pub binary_crc: bool,
}

/// A frame whose envelope is sound (LF, CR, length, CRC) and whose header is
/// read; its body is not opened yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub token: Token,
    pub encrypted: bool,
    pub header: Header,
    pub crc_form: CrcForm,
    body: &'a [u8],
}

fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(TOKEN_BYTES_SHOWN_MAX)];
    String::from_utf8_lossy(cut).into_owned()
}

fn err(kind: ErrorKind) -> DecodeError {
    DecodeError::new(kind, None)
}

impl<'a> Head<'a> {
    /// Checks the envelope of one frame (from its LF to its CR, both included)
    /// and reads its header.
    pub fn parse(bytes: &'a [u8], options: &DecodeOptions) -> Result<Head<'a>, DecodeError> {
        let len = bytes.len();
        if len == 0 {
            return Err(err(ErrorKind::Empty));
        }
        if len > FRAME_BYTES_MAX {
            return Err(err(ErrorKind::TooLong { bytes: len }));
        }
        if bytes[0] != LF {
            return Err(err(ErrorKind::NoStartLf));
        }
        if bytes[len - 1] != CR {
            return Err(err(ErrorKind::NoEndCr));
        }
        // Where the span starts: byte 9 after 4 CRC digits, or byte 7 after 2 raw CRC bytes.
        let (form, start) = if len > 9 && bytes[9] == b'"' {
            (CrcForm::Hex, 9)
        } else if len > 7 && bytes[7] == b'"' && bytes[3..7].iter().all(u8::is_ascii_hexdigit) {
            (CrcForm::Binary, 7)
        } else if len < 11 {
            return Err(err(ErrorKind::TooShort { bytes: len }));
        } else {
            return Err(err(ErrorKind::Layout));
        };
        // The raw CRC bytes of the binary form may be any value, LF and CR included.
        let scan_from = if form == CrcForm::Binary { 3 } else { 1 };
        if let Some(i) = bytes[scan_from..len - 1].iter().position(|&b| b == LF) {
            return Err(err(ErrorKind::LfInside {
                offset: scan_from + i,
            }));
        }
        if let Some(i) = bytes[scan_from..len - 1].iter().position(|&b| b == CR) {
            return Err(err(ErrorKind::CrInside {
                offset: scan_from + i,
            }));
        }
        let sent_crc = match form {
            CrcForm::Hex => hex_number(&bytes[1..5]).ok_or(err(ErrorKind::CrcField))?,
            CrcForm::Binary => u16::from_be_bytes([bytes[1], bytes[2]]).into(),
        };
        let length_field = &bytes[start - 4..start];
        let declared = hex_number(length_field).ok_or(err(ErrorKind::LengthField))?;
        let declared = usize::try_from(declared).unwrap_or(usize::MAX);
        if length_field[0] != b'0' || declared > BODY_BYTES_MAX {
            return Err(err(ErrorKind::LengthOverMax { declared }));
        }
        let span = &bytes[start..len - 1];
        if declared != span.len() {
            return Err(err(ErrorKind::Length {
                declared,
                actual: span.len(),
            }));
        }
        let computed = crc16_arc(span);
        if u32::from(computed) != sent_crc {
            return Err(err(ErrorKind::Crc {
                sent: u16::try_from(sent_crc).unwrap_or(u16::MAX),
                computed,
            }));
        }
        if form == CrcForm::Binary && !options.binary_crc {
            return Err(err(ErrorKind::BinaryCrc));
        }
        Head::parse_span(span, form)
    }

    /// Reads `"id"seq R… L… #acct[` from a span whose CRC is right.
    fn parse_span(span: &'a [u8], crc_form: CrcForm) -> Result<Head<'a>, DecodeError> {
        let close = span.iter().skip(1).position(|&b| b == b'"').map(|i| i + 1);
        let close = close.ok_or(err(ErrorKind::IdToken))?;
        let mut name = &span[1..close];
        let encrypted = name.first() == Some(&b'*');
        if encrypted {
            name = &name[1..];
        }
        let after = &span[close + 1..];
        let seq_digits = after.get(..4).ok_or(err(ErrorKind::Sequence))?;
        if !seq_digits.iter().all(u8::is_ascii_digit) {
            return Err(err(ErrorKind::Sequence));
        }
        let seq = Seq(seq_digits
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')));
        let after = &after[4..];
        let open = after
            .iter()
            .position(|&b| b == b'[')
            .ok_or(err(ErrorKind::NoData))?;
        let tail = &after[..open];
        let (prefixes, account) = if let Some(hash) = tail.iter().position(|&b| b == b'#') {
            let account =
                Account::from_bytes(&tail[hash + 1..]).map_err(|e| err(ErrorKind::Field(e)))?;
            (&tail[..hash], Some(account))
        } else if let Some(prefixes) = tail.strip_suffix(b"A0") {
            (prefixes, None)
        } else {
            return Err(err(ErrorKind::NoAccount));
        };
        let (receiver, line) = parse_prefixes(prefixes)?;
        let header = Header {
            seq,
            receiver,
            line,
            account,
        };
        let Some(token) = Token::from_bytes(name) else {
            return Err(DecodeError::new(
                ErrorKind::UnknownToken { token: shown(name) },
                Some(header),
            ));
        };
        Ok(Head {
            token,
            encrypted,
            header,
            crc_form,
            body: &after[open + 1..],
        })
    }

    /// Decrypts (with `key`, which an encrypted frame needs) and reads the
    /// data, x-data and timestamp.
    pub fn open(&self, key: Option<&Key>) -> Result<Frame, DecodeError> {
        let with_header = |kind| DecodeError::new(kind, Some(self.header.clone()));
        let (data, xdata, timestamp) = if self.encrypted {
            let key = key.ok_or_else(|| with_header(ErrorKind::NoKey))?;
            open_encrypted(self.body, key).map_err(|e| with_header(ErrorKind::Decrypt(e)))?
        } else {
            let (data, xdata, timestamp) =
                parse_blocks(self.body).map_err(|e| with_header(ErrorKind::Data(e)))?;
            (data.to_vec(), xdata, timestamp)
        };
        Ok(Frame {
            token: self.token,
            encrypted: self.encrypted,
            header: self.header.clone(),
            data,
            xdata,
            timestamp,
        })
    }
}

/// Decodes one frame in one step, for callers that know the key beforehand
/// (a transmitter reading its receiver's reply).
pub fn decode(
    bytes: &[u8],
    key: Option<&Key>,
    options: &DecodeOptions,
) -> Result<Frame, DecodeError> {
    Head::parse(bytes, options)?.open(key)
}

/// Hex digits (either case) as a number; `None` if any is not hex.
fn hex_number(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |n, &d| Some(n << 4 | u32::from(crypt::hex_value(d)?)))
}

/// `R…` and `L…` in either order, each at most once; pysiaalarm writes the
/// literal `None` where it has no receiver prefix.
fn parse_prefixes(mut rest: &[u8]) -> Result<(Option<Prefix>, Option<Prefix>), DecodeError> {
    let mut receiver = None;
    let mut line = None;
    let bad = |b: &[u8]| err(ErrorKind::Field(FieldError::Prefix(shown(b))));
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix(b"None") {
            rest = r;
            continue;
        }
        let slot = match rest[0] {
            b'R' => &mut receiver,
            b'L' => &mut line,
            _ => return Err(bad(rest)),
        };
        let digits = rest[1..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if slot.is_some() {
            return Err(bad(rest));
        }
        *slot = Some(Prefix::from_bytes(&rest[1..1 + digits]).map_err(|_| bad(rest))?);
        rest = &rest[1 + digits..];
    }
    Ok((receiver, line))
}

type Blocks<'a> = (&'a [u8], Vec<XData>, Option<Timestamp>);
type OwnedBlocks = (Vec<u8>, Vec<XData>, Option<Timestamp>);

/// `data][x…]…_HH:MM:SS,MM-DD-YYYY` (the bytes after the first `[`).
fn parse_blocks(body: &[u8]) -> Result<Blocks<'_>, DataError> {
    let end = body
        .iter()
        .position(|&b| b == b']')
        .ok_or(DataError::NoDataEnd)?;
    let data = &body[..end];
    if let Some(&b) = data.iter().find(|b| is_delimiter(**b)) {
        return Err(DataError::DataByte(b));
    }
    let mut rest = &body[end + 1..];
    let mut xdata = Vec::new();
    while let Some(r) = rest.strip_prefix(b"[") {
        let close = r
            .iter()
            .position(|&b| b == b']')
            .ok_or(DataError::XDataEnd)?;
        let (&letter, value) = r[..close].split_first().ok_or(DataError::XDataEmpty)?;
        let block = XData::new(letter, value.to_vec()).map_err(DataError::XData)?;
        xdata.push(block);
        rest = &r[close + 1..];
    }
    let timestamp = match rest {
        [] => None,
        [b'_', ts @ ..] => Some(Timestamp::parse(ts).map_err(DataError::Timestamp)?),
        _ => return Err(DataError::Trailing(shown(rest))),
    };
    Ok((data, xdata, timestamp))
}

/// Hex cipher text → `pad|data][x…]_timestamp` → the blocks. The pad ends at
/// the first `|`; with no `|` before the first `]` (pysiaalarm's ACK, siadc09's
/// `*NULL`), everything before `]` is pad and the data is empty.
fn open_encrypted(body: &[u8], key: &Key) -> Result<OwnedBlocks, DecryptError> {
    let mut clear = crypt::decode_hex(body).ok_or(DecryptError::NotHex)?;
    if clear.is_empty() || !clear.len().is_multiple_of(AES_BLOCK_BYTES) {
        return Err(DecryptError::Blocks {
            hex_digits: body.len(),
        });
    }
    crypt::decrypt_blocks(key, &mut clear);
    let end = clear
        .iter()
        .position(|&b| b == b']')
        .ok_or(DecryptError::NoDataEnd)?;
    let (pad_len, data_from) = match clear[..end].iter().position(|&b| b == b'|') {
        Some(bar) => (bar, bar + 1),
        None => (end, end),
    };
    if pad_len > PAD_BYTES_MAX {
        return Err(DecryptError::PadTooLong { bytes: pad_len });
    }
    if clear[..pad_len].contains(&b'[') {
        return Err(DecryptError::PadByte);
    }
    let (data, xdata, timestamp) =
        parse_blocks(&clear[data_from..]).map_err(DecryptError::ClearText)?;
    let timestamp = timestamp.ok_or(DecryptError::NoTimestamp)?;
    Ok((data.to_vec(), xdata, Some(timestamp)))
}

impl Frame {
    /// An event or link test from Vigie: no `R`, `L0`, clear, no timestamp.
    pub fn new(token: Token, header: Header, data: Vec<u8>) -> Frame {
        Frame {
            token,
            encrypted: false,
            header,
            data,
            xdata: Vec::new(),
            timestamp: None,
        }
    }

    /// The clear frame. Refuses a frame marked encrypted.
    pub fn encode_plain(&self) -> Result<Vec<u8>, EncodeError> {
        if self.encrypted {
            return Err(EncodeError::NeedsKey);
        }
        let mut span = self.span_head()?;
        span.extend(self.blocks()?);
        envelope(span)
    }

    /// The encrypted frame (`"*TOKEN"`): a pad of 16–31 bytes from `rng`
    /// (never `[`, `]` or `|`), then `|`, the blocks and the timestamp, in
    /// AES-CBC with a zero IV, as upper-case hex.
    pub fn encode_encrypted<R: RngCore + CryptoRng + ?Sized>(
        &self,
        key: &Key,
        rng: &mut R,
    ) -> Result<Vec<u8>, EncodeError> {
        if !self.encrypted {
            return Err(EncodeError::NotMarkedEncrypted);
        }
        if !self.token.may_be_encrypted() {
            return Err(EncodeError::NeverEncrypted(self.token));
        }
        if self.timestamp.is_none() {
            return Err(EncodeError::NoTimestamp);
        }
        let tail = self.blocks()?;
        let pad_len = PAD_BYTES_OUT_MIN
            + (AES_BLOCK_BYTES - (1 + tail.len()) % AES_BLOCK_BYTES) % AES_BLOCK_BYTES;
        let mut clear = crypt::pad_bytes(rng, pad_len);
        clear.push(b'|');
        clear.extend(tail);
        crypt::encrypt_blocks(key, &mut clear);
        let mut span = self.span_head()?;
        span.extend(crypt::encode_hex(&clear));
        envelope(span)
    }

    /// `"id"seq R… L… #acct[`
    fn span_head(&self) -> Result<Vec<u8>, EncodeError> {
        if self.encrypted && !self.token.may_be_encrypted() {
            return Err(EncodeError::NeverEncrypted(self.token));
        }
        let h = &self.header;
        let mut out = Vec::with_capacity(64);
        out.push(b'"');
        if self.encrypted {
            out.push(b'*');
        }
        out.extend(self.token.as_str().as_bytes());
        out.push(b'"');
        out.extend(h.seq.to_string().as_bytes());
        if let Some(r) = &h.receiver {
            out.push(b'R');
            out.extend(r.as_str().as_bytes());
        }
        if let Some(l) = &h.line {
            out.push(b'L');
            out.extend(l.as_str().as_bytes());
        }
        match &h.account {
            Some(a) => {
                out.push(b'#');
                out.extend(a.as_str().as_bytes());
            }
            None => out.extend(b"A0"),
        }
        out.push(b'[');
        Ok(out)
    }

    /// `data][x…]…_timestamp`
    fn blocks(&self) -> Result<Vec<u8>, EncodeError> {
        if let Some(&b) = self.data.iter().find(|b| is_delimiter(**b)) {
            return Err(EncodeError::DataByte(b));
        }
        let mut out = self.data.clone();
        out.push(b']');
        for x in &self.xdata {
            out.push(b'[');
            out.push(x.letter);
            out.extend(&x.value);
            out.push(b']');
        }
        if let Some(ts) = &self.timestamp {
            out.push(b'_');
            out.extend(ts.to_bytes());
        }
        Ok(out)
    }
}

/// LF, CRC, length, the span, CR.
fn envelope(span: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    if span.len() > BODY_BYTES_MAX {
        return Err(EncodeError::TooLong { bytes: span.len() });
    }
    let mut out = Vec::with_capacity(span.len() + 10);
    out.push(LF);
    out.extend(format!("{:04X}0{:03X}", crc16_arc(&span), span.len()).as_bytes());
    out.extend(span);
    out.push(CR);
    Ok(out)
}

/// The same frame with its CRC as two raw bytes (high first), for a panel
/// that sends that variant and expects its replies in it.
pub fn to_binary_crc(frame: &[u8]) -> Option<Vec<u8>> {
    let crc = u16::try_from(hex_number(frame.get(1..5)?)?).ok()?;
    if frame.first() != Some(&LF) {
        return None;
    }
    let mut out = Vec::with_capacity(frame.len() - 2);
    out.push(LF);
    out.extend(crc.to_be_bytes());
    out.extend(&frame[5..]);
    Some(out)
}

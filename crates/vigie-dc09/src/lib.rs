//! SIA DC-09 (alarm transmission over IP) as pure functions over bytes.
//!
//! What it does:
//! - **Frames** ([`Head`], [`Frame`]): `LF crc 0LLL "id" seq Rrcvr Lpref
//!   #acct [data][x-data]_HH:MM:SS,MM-DD-YYYY CR`, with CRC-16/ARC over the
//!   raw bytes, the length capped at [`BODY_BYTES_MAX`], `R` and `L` in
//!   either order, accounts as strings of hex digits (leading zeros kept),
//!   upper-case hex out and either case in. A binary-CRC variant is read
//!   only when [`DecodeOptions::binary_crc`] says so.
//! - **Encryption**: AES-128/192/256-CBC with a zero IV ([`Key`], from ASCII
//!   or hex). Out: 16–31 random pad bytes then `|`. In: 0–31 pad bytes, with
//!   or without `|` (siadc09's and pysiaalarm's forms).
//! - **Replies**: ACK, NAK (with the receiver's time), DUH, built from a
//!   request ([`Frame::ack_for`], [`Frame::nak`], [`Frame::duh`]) and read
//!   back by a transmitter ([`Reply`]).
//! - **Bodies** ([`Frame::content`]): Contact ID ([`AdmCid`]), SIA DCS
//!   ([`SiaDcs`]), the NULL link test.
//! - **Errors** say what is wrong and what a receiver answers
//!   ([`DecodeError::answer`]: nothing or DUH); NAK follows from
//!   [`TimeWindow::check`].
//!
//! Decisions where the peers disagree or the text is silent:
//! - **Binary CRC** (two raw bytes, Lupusec over UDP): refused by default
//!   ([`ErrorKind::BinaryCrc`], no reply); read when the receiver enables it
//!   for an account, and [`to_binary_crc`] makes the reply in that form. Its
//!   raw bytes may be LF or CR, so it only works where one datagram is one
//!   frame (UDP), never through LF…CR stream framing.
//! - **Pad**: the first `|` before the first `]` ends it; with no `|`, all
//!   that comes before `]` is pad and the data is empty. A pad longer than
//!   [`PAD_BYTES_MAX`] is refused (a wrong key, most likely).
//! - **Replies' header**: `A0` stands for "no account" (NAK), the literal
//!   `None` for "no receiver prefix" (pysiaalarm); `R` and `L` in either order.
//! - **Header errors** (bad sequence, account or prefixes) get no reply: a
//!   DUH could not name the message it answers. DUH goes to a frame whose
//!   header was read: unknown token, no key, undecryptable or unreadable body.
//! - **Keys**: a 32-character key is ASCII for AES-256 or hex for AES-128;
//!   the configuration says which ([`Key::from_ascii`], [`Key::from_hex`]).
//!
//! What it does not do: sockets, TCP framing (splitting a byte stream at
//! LF…CR), reading the clock, choosing keys or accounts, deduplicating
//! retransmissions, or mapping events to alarms. The hub's receiver and
//! ARC forwarder do those on top of this crate.
//!
//! Invariant: no I/O, no clock, no global state; no input makes it panic
//! (fuzzed: `fuzz/fuzz_targets/dc09_frame.rs`), and nothing it allocates
//! is larger than a few times [`FRAME_BYTES_MAX`].

mod cid;
mod content;
mod crc;
mod crypt;
mod dcs;
mod error;
mod frame;
mod reply;
mod time;

pub use cid::{AdmCid, CidEvent, Qualifier};
pub use content::{Content, ContentError};
pub use crc::crc16_arc;
pub use crypt::{AES_BLOCK_BYTES, Key, KeyError, PAD_BYTES_MAX, PAD_BYTES_OUT_MIN};
pub use dcs::{DcsEvent, DcsFunction, DcsPacket, SiaCode, SiaDcs};
pub use error::{Answer, DataError, DecodeError, DecryptError, EncodeError, ErrorKind, FieldError};
pub use frame::{
    ACCOUNT_DIGITS_MAX, ACCOUNT_DIGITS_MIN, Account, BODY_BYTES_MAX, CrcForm, DecodeOptions,
    FRAME_BYTES_MAX, Frame, Head, Header, PREFIX_DIGITS_MAX, Prefix, SEQ_MAX, Seq, Token, XData,
    decode, to_binary_crc,
};
pub use reply::{Reply, ReplyError};
pub use time::{
    OutsideWindow, TIMESTAMP_BYTES, TimeWindow, Timestamp, TimestampError, WINDOW_AFTER_S_DEFAULT,
    WINDOW_BEFORE_S_DEFAULT,
};

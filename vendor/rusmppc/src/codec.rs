//! Vigie patch: a codec that keeps the link when one PDU cannot be read.
//!
//! rusmpp's `CommandCodec` returns an error for a PDU longer than the
//! limit or with a body it cannot decode, and `Framed` ends the stream
//! after any error: one bad message drops the whole link, and an SMSC that
//! redelivers it after every bind loops the client through reconnects.
//!
//! This codec frames by `command_length` itself. A frame within the limit
//! whose body does not decode, or a frame above the limit (its body is
//! discarded as it arrives, never buffered), is yielded as a command with
//! its header's id, status and sequence number and the body as
//! `Pdu::Other`, so the application can answer it with an error status.
//! Only a length that cannot be a PDU (below 16 bytes, or above
//! `FRAME_BYTES_MAX`) loses the framing and ends the link.

use rusmpp::{
    Command, CommandId, CommandStatus, Pdu,
    tokio_codec::{CommandCodec, DecodeError, EncodeError},
    types::AnyOctetString,
};
use tokio_util::{
    bytes::{Buf, BytesMut},
    codec::{Decoder, Encoder},
};

const HEADER_BYTES: usize = 16;
/// Past this, the length is not a PDU but lost framing (garbage, or
/// another protocol): skipping it would read for ever.
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct TolerantCodec {
    max_length: usize,
    /// Bytes of an oversized frame still to discard.
    skip: usize,
    inner: CommandCodec,
}

impl TolerantCodec {
    pub(crate) fn new(max_length: usize) -> Self {
        Self {
            max_length,
            skip: 0,
            inner: CommandCodec::new().without_max_length(),
        }
    }
}

fn unread(header: &[u8], body: Vec<u8>) -> Command {
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let command_id = CommandId::from(word(4));
    let status = CommandStatus::from(word(8));
    Command::new(
        status,
        word(12),
        Pdu::Other {
            command_id,
            body: AnyOctetString::from_vec(body),
        },
    )
}

impl Decoder for TolerantCodec {
    type Item = Command;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Command>, DecodeError> {
        if self.skip > 0 {
            let n = self.skip.min(src.len());
            src.advance(n);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        if src.len() < HEADER_BYTES {
            return Ok(None);
        }
        let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]) as usize;
        if !(HEADER_BYTES..=FRAME_BYTES_MAX).contains(&length) {
            return Err(if length < HEADER_BYTES {
                DecodeError::MinLength {
                    actual: length,
                    min: HEADER_BYTES,
                }
            } else {
                DecodeError::MaxLength {
                    actual: length,
                    max: FRAME_BYTES_MAX,
                }
            });
        }
        if length > self.max_length {
            let header = src.split_to(HEADER_BYTES);
            self.skip = length - HEADER_BYTES;
            let n = self.skip.min(src.len());
            src.advance(n);
            self.skip -= n;
            tracing::warn!(target: "rusmppc::codec", length, max = self.max_length, "PDU above the limit, discarded");
            return Ok(Some(unread(&header, Vec::new())));
        }
        if src.len() < length {
            src.reserve(length - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(length);
        let copy = frame.clone();
        match self.inner.decode(&mut frame) {
            Ok(Some(command)) => Ok(Some(command)),
            Ok(None) | Err(DecodeError::Decode(_)) => {
                tracing::warn!(target: "rusmppc::codec", length, "PDU body undecodable");
                Ok(Some(unread(
                    &copy[..HEADER_BYTES],
                    copy[HEADER_BYTES..].to_vec(),
                )))
            }
            Err(other) => Err(other),
        }
    }
}

impl Encoder<&Command> for TolerantCodec {
    type Error = EncodeError;

    fn encode(&mut self, command: &Command, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.inner.encode(command, dst)
    }
}

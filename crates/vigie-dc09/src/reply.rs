//! The receiver's replies (ACK, NAK, DUH): built by a receiver, read by a
//! transmitter (Vigie forwarding to a monitoring centre).

use crate::crypt::Key;
use crate::error::DecodeError;
use crate::frame::{DecodeOptions, Frame, Header, Prefix, Seq, Token, decode};
use crate::time::Timestamp;

impl Frame {
    /// The ACK to `request`: same sequence, prefixes and account; encrypted
    /// (`*ACK` with the receiver's time `now`) when the request was.
    pub fn ack_for(request: &Frame, now: Timestamp) -> Frame {
        Frame {
            token: Token::Ack,
            encrypted: request.encrypted,
            header: request.header.clone(),
            data: Vec::new(),
            xdata: Vec::new(),
            timestamp: request.encrypted.then_some(now),
        }
    }

    /// The NAK a receiver sends when a message's time is outside its window:
    /// `"NAK"0000R0L0A0[]_now`, never encrypted. The transmitter corrects its
    /// clock by it and sends again with the same sequence.
    pub fn nak(now: Timestamp) -> Frame {
        Frame {
            token: Token::Nak,
            encrypted: false,
            header: Header {
                seq: Seq::new(0).unwrap_or(Seq::FIRST),
                receiver: Some(Prefix::zero()),
                line: Some(Prefix::zero()),
                account: None,
            },
            data: Vec::new(),
            xdata: Vec::new(),
            timestamp: Some(now),
        }
    }

    /// The DUH to a message that arrived intact but cannot be processed
    /// (unknown token or account, undecryptable or unreadable body). Never encrypted.
    pub fn duh(header: &Header) -> Frame {
        Frame {
            token: Token::Duh,
            encrypted: false,
            header: header.clone(),
            data: Vec::new(),
            xdata: Vec::new(),
            timestamp: None,
        }
    }
}

/// A receiver's answer, as a transmitter reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ack {
        header: Header,
        encrypted: bool,
        timestamp: Option<Timestamp>,
    },
    /// The receiver's clock, from which the transmitter learns its offset.
    Nak {
        receiver_time: Timestamp,
    },
    Duh {
        header: Header,
    },
}

/// Why bytes received are not a reply. A transmitter treats every one of these
/// as no answer (and tries again), never as an ACK.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{0:?} is not a reply")]
    NotAReply(Token),
    #[error("a NAK must carry the receiver's time")]
    NakWithoutTime,
}

impl Reply {
    /// Reads one reply frame; `key` opens an encrypted `*ACK`.
    pub fn parse(bytes: &[u8], key: Option<&Key>) -> Result<Reply, ReplyError> {
        let frame = decode(bytes, key, &DecodeOptions::default())?;
        match frame.token {
            Token::Ack => Ok(Reply::Ack {
                header: frame.header,
                encrypted: frame.encrypted,
                timestamp: frame.timestamp,
            }),
            Token::Nak => {
                let receiver_time = frame.timestamp.ok_or(ReplyError::NakWithoutTime)?;
                Ok(Reply::Nak { receiver_time })
            }
            Token::Duh => Ok(Reply::Duh {
                header: frame.header,
            }),
            other => Err(ReplyError::NotAReply(other)),
        }
    }

    /// Whether this reply answers the message `sent`: an ACK or DUH with the
    /// same sequence and account (a mismatched one is no answer); a NAK, which
    /// names neither, answers whatever is waiting.
    pub fn answers(&self, sent: &Header) -> bool {
        match self {
            Reply::Ack { header, .. } | Reply::Duh { header } => {
                header.seq == sent.seq && header.account == sent.account
            }
            Reply::Nak { .. } => true,
        }
    }
}

//! The typed reading of a frame's data block, by token.

use crate::cid::AdmCid;
use crate::dcs::SiaDcs;
use crate::error::FieldError;
use crate::frame::{Frame, Token};

/// What a frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    Cid(AdmCid),
    Dcs(SiaDcs),
    /// `NULL` or `XNM`: a link test. Any data it carries is ignored; the
    /// receiver restarts the account's supervision timer.
    LinkTest,
    Ack,
    Nak,
    Duh,
}

/// Why a data block cannot be read as its token says. The receiver answers DUH.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the #account in the data has no |")]
    NoAccountEnd,
    #[error(transparent)]
    Account(FieldError),
    #[error("a Contact ID event is QEEE GG CCC in digits, not {0:?}")]
    CidShape(String),
    #[error("Contact ID qualifier {0} is not 1 (new), 3 (restore) or 6 (still present)")]
    CidQualifier(u8),
    #[error("a SIA DCS block starts with N (new event) or O (old event), not {0:?}")]
    DcsFunction(String),
    #[error("a SIA DCS block has no event")]
    DcsNoEvent,
    #[error("bad SIA DCS packet at {0:?}")]
    DcsPacket(String),
}

impl Frame {
    /// Reads the data block as the token says.
    pub fn content(&self) -> Result<Content, ContentError> {
        Ok(match self.token {
            Token::AdmCid => Content::Cid(AdmCid::parse(&self.data)?),
            Token::SiaDcs => Content::Dcs(SiaDcs::parse(&self.data)?),
            Token::Null | Token::Xnm => Content::LinkTest,
            Token::Ack => Content::Ack,
            Token::Nak => Content::Nak,
            Token::Duh => Content::Duh,
        })
    }
}

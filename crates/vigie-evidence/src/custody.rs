//! Custody events (`docs/protocol/evidence.md` §3): every listen, export,
//! legal hold, release and deletion of a recording, with who, when and a
//! mandatory reason. The hub appends each event's text, as encoded here,
//! to the log; the export carries the same bytes, so that the log's
//! inclusion proofs cover them.

use crate::text::{self, Fields, TextError};

/// First line of every custody event.
pub const CUSTODY_MAGIC: &str = "vigie-custody-v1";

/// Largest custody event file: the reason is the only long field.
pub const CUSTODY_BYTES_MAX: usize = 2048;

/// Longest reason, in bytes: a case reference and a sentence; a bound keeps
/// the log's entries small.
pub const REASON_BYTES_MAX: usize = 1024;

/// Lines in a custody event, magic included.
const CUSTODY_LINES: usize = 6;

/// What was done to the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Listen,
    Export,
    Hold,
    Release,
    Delete,
    RetentionDelete,
}

impl Action {
    /// Every action, in the order of the format.
    pub const ALL: [Action; 6] = [
        Self::Listen,
        Self::Export,
        Self::Hold,
        Self::Release,
        Self::Delete,
        Self::RetentionDelete,
    ];

    /// The action's name in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listen => "listen",
            Self::Export => "export",
            Self::Hold => "hold",
            Self::Release => "release",
            Self::Delete => "delete",
            Self::RetentionDelete => "retention-delete",
        }
    }

    /// The action named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// One custody event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyEvent {
    pub recording: String,
    /// When, in ms since the Unix epoch (the hub's clock).
    pub at_ms: u64,
    /// Who: `role:name`, e.g. `investigator:marie.durand`, or `system:retention`.
    pub actor: String,
    pub action: Action,
    /// Why: mandatory, one line of text.
    pub reason: String,
}

/// Why a custody event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    #[error("not a custody event: {0}")]
    Text(#[from] TextError),
    #[error("bad value: {0}")]
    Value(&'static str),
}

fn is_reason(reason: &str) -> bool {
    !reason.trim().is_empty()
        && reason.len() <= REASON_BYTES_MAX
        && reason.trim() == reason
        && !reason.chars().any(char::is_control)
}

/// Encodes an event as its one canonical text; refuses an empty reason.
pub fn encode(event: &CustodyEvent) -> Result<Vec<u8>, CustodyError> {
    if !text::is_id(&event.recording) {
        return Err(CustodyError::Value("recording"));
    }
    if !text::is_id(&event.actor) {
        return Err(CustodyError::Value("actor"));
    }
    if !is_reason(&event.reason) {
        return Err(CustodyError::Value("reason"));
    }
    Ok(format!(
        "{CUSTODY_MAGIC}\nrecording: {}\nat-ms: {}\nactor: {}\naction: {}\nreason: {}\n",
        event.recording,
        event.at_ms,
        event.actor,
        event.action.as_str(),
        event.reason
    )
    .into_bytes())
}

/// Parses a custody event strictly.
pub fn parse(bytes: &[u8]) -> Result<CustodyEvent, CustodyError> {
    let lines = text::lines(bytes, CUSTODY_BYTES_MAX)?;
    let mut f = Fields::new(lines, CUSTODY_MAGIC, CUSTODY_LINES)?;
    let id = |s: &str| text::is_id(s).then(|| s.to_owned());
    let event = CustodyEvent {
        recording: f.parse("recording", id)?,
        at_ms: f.parse("at-ms", text::parse_u64)?,
        actor: f.parse("actor", id)?,
        action: f.parse("action", Action::parse)?,
        reason: f.parse("reason", |s| is_reason(s).then(|| s.to_owned()))?,
    };
    if encode(&event)? != bytes {
        return Err(CustodyError::Value("canonical form"));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> CustodyEvent {
        CustodyEvent {
            recording: "0192f0c4-7d2a-7b3c-9f00-000000000001".into(),
            at_ms: 1_795_700_000_000,
            actor: "investigator:marie.durand".into(),
            action: Action::Listen,
            reason: "PV 2026/1234, plainte pour menaces".into(),
        }
    }

    #[test]
    fn round_trip_with_the_documented_text() {
        let bytes = encode(&event()).expect("encode");
        assert_eq!(
            String::from_utf8(bytes.clone()).expect("utf8"),
            "vigie-custody-v1\nrecording: 0192f0c4-7d2a-7b3c-9f00-000000000001\n\
             at-ms: 1795700000000\nactor: investigator:marie.durand\naction: listen\n\
             reason: PV 2026/1234, plainte pour menaces\n"
        );
        assert_eq!(parse(&bytes), Ok(event()));
        for action in Action::ALL {
            let e = CustodyEvent { action, ..event() };
            assert_eq!(parse(&encode(&e).expect("encode")), Ok(e));
        }
    }

    #[test]
    fn a_reason_is_mandatory() {
        for reason in ["", "   ", " trailing space ", "two\nlines"] {
            let e = CustodyEvent {
                reason: reason.into(),
                ..event()
            };
            assert_eq!(encode(&e), Err(CustodyError::Value("reason")), "{reason:?}");
        }
        let text = String::from_utf8(encode(&event()).expect("encode")).expect("utf8");
        for bad in [
            text.replace("action: listen", "action: erase"),
            text.replace("reason: PV 2026/1234, plainte pour menaces", "reason: "),
            text.replace("at-ms: 1795700000000", "at-ms: 01795700000000"),
            format!("{text}extra: 1\n"),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "accepted:\n{bad}");
        }
    }
}

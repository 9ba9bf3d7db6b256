//! SIA DCS (DC-03) inside DC-09: `#ACCT|Nri1/PA501`. One information block:
//! a function code (`N` new event, `O` old event), then packets separated
//! by `/`: modifiers (two small letters and a value: `ri` area, `id` user,
//! `ti` time…) that apply to the events after them, and events (two capital
//! letters and an address: `PA501`, optionally `^text^`).
//!
//! Not read (refused, so the receiver answers DUH): other function codes,
//! several blocks in one message, and the `*units` of DC-03 measurements.

use crate::cid::split_account;
use crate::content::ContentError;
use crate::frame::Account;
use std::fmt;

/// A two-letter SIA event code: `PA` panic, `HA` hold-up, `QA` emergency,
/// `RP` automatic test…; a second letter `R`, `H` or `K` usually marks a restore.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SiaCode([u8; 2]);

impl SiaCode {
    /// Two capital ASCII letters.
    pub fn new(code: &str) -> Option<SiaCode> {
        match code.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Some(SiaCode([a, b])),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for SiaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SiaCode({})", self.as_str())
    }
}

impl fmt::Display for SiaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The block's function code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DcsFunction {
    /// `N`: events as they happen.
    New,
    /// `O`: events from the panel's memory.
    Old,
}

/// One packet of the block, in the order sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DcsPacket {
    /// Two small letters and a value of digits, `.`, `:` or `-` (`ri1`, `ti12:30`).
    Modifier { name: [u8; 2], value: String },
    /// An event: code, address (hex digits, `:` or `-`), optional `^text^`.
    Event {
        code: SiaCode,
        address: String,
        text: Option<Vec<u8>>,
    },
}

/// The data block of a `SIA-DCS` frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SiaDcs {
    pub account: Option<Account>,
    pub function: DcsFunction,
    /// At least one event among them.
    pub packets: Vec<DcsPacket>,
}

/// An event with the modifiers in force where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcsEvent<'a> {
    pub code: SiaCode,
    /// Zone or user, as sent (`501`).
    pub address: &'a str,
    pub text: Option<&'a [u8]>,
    /// `ri`: area (partition).
    pub area: Option<&'a str>,
    /// `id`: user number.
    pub user: Option<&'a str>,
    /// `ti`: time of the event (`HH:MM`).
    pub time: Option<&'a str>,
}

fn is_modifier_value(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-')
}

fn is_address(b: u8) -> bool {
    b.is_ascii_hexdigit() || matches!(b, b':' | b'-')
}

fn is_text(b: u8) -> bool {
    !matches!(b, b'^' | b'[' | b']' | b'|' | b'\r' | b'\n')
}

fn packet_error(rest: &[u8]) -> ContentError {
    ContentError::DcsPacket(String::from_utf8_lossy(&rest[..rest.len().min(32)]).into_owned())
}

impl SiaDcs {
    /// Reads `#ACCT|Nri1/PA501` (the account part is optional).
    pub fn parse(data: &[u8]) -> Result<SiaDcs, ContentError> {
        let (account, block) = split_account(data)?;
        let (function, mut rest) = match block.split_first() {
            Some((b'N', rest)) => (DcsFunction::New, rest),
            Some((b'O', rest)) => (DcsFunction::Old, rest),
            _ => {
                let shown = String::from_utf8_lossy(&block[..block.len().min(8)]).into_owned();
                return Err(ContentError::DcsFunction(shown));
            }
        };
        let mut packets = Vec::new();
        while !rest.is_empty() {
            let (packet, after) = match rest {
                [a, b, tail @ ..] if a.is_ascii_lowercase() && b.is_ascii_lowercase() => {
                    let n = tail.iter().take_while(|b| is_modifier_value(**b)).count();
                    let value = String::from_utf8_lossy(&tail[..n]).into_owned();
                    // A modifier may run straight into the next packet (`ri1PA501`).
                    let after = tail[n..].strip_prefix(b"/").unwrap_or(&tail[n..]);
                    (
                        DcsPacket::Modifier {
                            name: [*a, *b],
                            value,
                        },
                        after,
                    )
                }
                [a, b, tail @ ..] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
                    let code = SiaCode([*a, *b]);
                    let n = tail.iter().take_while(|b| is_address(**b)).count();
                    let address = String::from_utf8_lossy(&tail[..n]).into_owned();
                    let mut after = &tail[n..];
                    let mut text = None;
                    if let Some(t) = after.strip_prefix(b"^") {
                        let len = t.iter().take_while(|b| is_text(**b)).count();
                        let Some(end) = t[len..].strip_prefix(b"^") else {
                            return Err(packet_error(rest));
                        };
                        text = Some(t[..len].to_vec());
                        after = end;
                    }
                    after = match after {
                        [] => after,
                        [b'/', more @ ..] if !more.is_empty() => more,
                        _ => return Err(packet_error(rest)),
                    };
                    (
                        DcsPacket::Event {
                            code,
                            address,
                            text,
                        },
                        after,
                    )
                }
                _ => return Err(packet_error(rest)),
            };
            packets.push(packet);
            rest = after;
        }
        if !packets.iter().any(|p| matches!(p, DcsPacket::Event { .. })) {
            return Err(ContentError::DcsNoEvent);
        }
        Ok(SiaDcs {
            account,
            function,
            packets,
        })
    }

    /// The data block, packets separated by `/`.
    pub fn to_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        if let Some(a) = &self.account {
            out.push(b'#');
            out.extend(a.as_str().as_bytes());
            out.push(b'|');
        }
        out.push(match self.function {
            DcsFunction::New => b'N',
            DcsFunction::Old => b'O',
        });
        for (i, p) in self.packets.iter().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            match p {
                DcsPacket::Modifier { name, value } => {
                    out.extend(name);
                    out.extend(value.as_bytes());
                }
                DcsPacket::Event {
                    code,
                    address,
                    text,
                } => {
                    out.extend(code.0);
                    out.extend(address.as_bytes());
                    if let Some(t) = text {
                        out.push(b'^');
                        out.extend(t);
                        out.push(b'^');
                    }
                }
            }
        }
        out
    }

    /// The events, each with the area, user and time modifiers before it.
    pub fn events(&self) -> Vec<DcsEvent<'_>> {
        let mut area = None;
        let mut user = None;
        let mut time = None;
        let mut events = Vec::new();
        for p in &self.packets {
            match p {
                DcsPacket::Modifier { name, value } => match name {
                    b"ri" => area = Some(value.as_str()),
                    b"id" => user = Some(value.as_str()),
                    b"ti" => time = Some(value.as_str()),
                    _ => {}
                },
                DcsPacket::Event {
                    code,
                    address,
                    text,
                } => events.push(DcsEvent {
                    code: *code,
                    address,
                    text: text.as_deref(),
                    area,
                    user,
                    time,
                }),
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_forms() {
        let dcs = SiaDcs::parse(b"#AB12|Nri1/PA501").expect("valid");
        assert_eq!(dcs.account.as_ref().map(Account::as_str), Some("AB12"));
        assert_eq!(dcs.function, DcsFunction::New);
        let events = dcs.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].code.as_str(), "PA");
        assert_eq!((events[0].address, events[0].area), ("501", Some("1")));
        assert_eq!(dcs.to_data(), b"#AB12|Nri1/PA501".to_vec());

        // Ajax's empty account and test report.
        let ajax = SiaDcs::parse(b"#|Nri0/RP0000").expect("valid");
        assert_eq!(ajax.account.as_ref().map(Account::is_empty), Some(true));
        assert_eq!(ajax.events()[0].code.as_str(), "RP");
    }

    #[test]
    fn modifiers_apply_to_what_follows() {
        let dcs = SiaDcs::parse(b"Oti12:30/id5/ri2/HA001^Caisse^/ri3/QA002").expect("valid");
        let events = dcs.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].code.as_str(), "HA");
        assert_eq!(
            (events[0].user, events[0].area, events[0].time),
            (Some("5"), Some("2"), Some("12:30"))
        );
        assert_eq!(events[0].text, Some(&b"Caisse"[..]));
        assert_eq!(
            (events[1].code.as_str(), events[1].area, events[1].user),
            ("QA", Some("3"), Some("5"))
        );
        // No separator after a modifier (siadc09 reads it too).
        let tight = SiaDcs::parse(b"Nri1PA501").expect("valid");
        assert_eq!(tight.events()[0].area, Some("1"));
    }

    #[test]
    fn malformed_blocks_are_refused() {
        assert!(matches!(
            SiaDcs::parse(b"#AB12|Xri1/PA501"),
            Err(ContentError::DcsFunction(_))
        ));
        assert!(matches!(
            SiaDcs::parse(b"#AB12|"),
            Err(ContentError::DcsFunction(_))
        ));
        assert_eq!(SiaDcs::parse(b"Nri1"), Err(ContentError::DcsNoEvent));
        for bad in [
            &b"NPA501/"[..],
            b"NPA501//PA2",
            b"NPA^open",
            b"Nri1/P",
            b"NPA501*12",
            b"N/PA501",
        ] {
            assert!(
                matches!(SiaDcs::parse(bad), Err(ContentError::DcsPacket(_))),
                "{bad:?}"
            );
        }
    }
}

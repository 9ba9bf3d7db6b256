//! Contact ID (SIA DC-05) inside DC-09: `#ACCT|QEEE GG CCC`. "The account no,
//! message type and checksum are not included in the CID block" (siadc09).

use crate::content::ContentError;
use crate::frame::Account;

/// What the event says about the condition (DC-05 Q digit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Qualifier {
    /// 1: new event (or opening).
    New,
    /// 3: restore (or closing).
    Restore,
    /// 6: previously reported condition still present (status).
    StillPresent,
}

impl Qualifier {
    pub fn digit(self) -> u8 {
        match self {
            Qualifier::New => 1,
            Qualifier::Restore => 3,
            Qualifier::StillPresent => 6,
        }
    }

    pub fn from_digit(digit: u8) -> Option<Qualifier> {
        match digit {
            1 => Some(Qualifier::New),
            3 => Some(Qualifier::Restore),
            6 => Some(Qualifier::StillPresent),
            _ => None,
        }
    }
}

/// One Contact ID event: `QEEE GG CCC`, decimal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CidEvent {
    qualifier: Qualifier,
    code: u16,
    partition: u8,
    zone: u16,
}

/// Largest three-digit event code, zone or user.
const THREE_DIGITS_MAX: u16 = 999;
/// Largest two-digit partition.
const PARTITION_MAX: u8 = 99;

impl CidEvent {
    /// `code` and `zone` 0–999, `partition` 0–99 (00: none).
    pub fn new(
        qualifier: Qualifier,
        code: u16,
        partition: u8,
        zone: u16,
    ) -> Result<CidEvent, ContentError> {
        if code > THREE_DIGITS_MAX || zone > THREE_DIGITS_MAX || partition > PARTITION_MAX {
            return Err(ContentError::CidShape(format!(
                "{}{code:03} {partition:02} {zone:03}",
                qualifier.digit()
            )));
        }
        Ok(CidEvent {
            qualifier,
            code,
            partition,
            zone,
        })
    }

    pub fn qualifier(&self) -> Qualifier {
        self.qualifier
    }

    /// The event code: 120 panic, 121 duress, 122 silent panic, 602 periodic test…
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The partition (group), 0 for none.
    pub fn partition(&self) -> u8 {
        self.partition
    }

    /// The zone, or the user for 121 (duress) and the 40x open/close codes.
    pub fn zone(&self) -> u16 {
        self.zone
    }
}

/// The data block of an `ADM-CID` frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AdmCid {
    /// The `#ACCT|` before the event, when sent.
    pub account: Option<Account>,
    pub event: CidEvent,
}

impl AdmCid {
    /// Reads `#ACCT|QEEE GG CCC` or a bare `QEEE GG CCC`.
    pub fn parse(data: &[u8]) -> Result<AdmCid, ContentError> {
        let (account, event) = split_account(data)?;
        let shape = b"0000 00 000";
        let fits = event.len() == shape.len()
            && event.iter().zip(shape).all(|(&b, &s)| {
                if s == b'0' {
                    b.is_ascii_digit()
                } else {
                    b == s
                }
            });
        if !fits {
            return Err(ContentError::CidShape(
                String::from_utf8_lossy(event).chars().take(32).collect(),
            ));
        }
        let num = |r: std::ops::Range<usize>| {
            event[r]
                .iter()
                .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'))
        };
        let q = event[0] - b'0';
        let qualifier = Qualifier::from_digit(q).ok_or(ContentError::CidQualifier(q))?;
        let partition = u8::try_from(num(5..7)).unwrap_or(u8::MAX);
        let event = CidEvent::new(qualifier, num(1..4), partition, num(8..11))?;
        Ok(AdmCid { account, event })
    }

    /// The data block: `#ACCT|QEEE GG CCC`.
    pub fn to_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        if let Some(a) = &self.account {
            out.push(b'#');
            out.extend(a.as_str().as_bytes());
            out.push(b'|');
        }
        let e = &self.event;
        out.extend(
            format!(
                "{}{:03} {:02} {:03}",
                e.qualifier.digit(),
                e.code,
                e.partition,
                e.zone
            )
            .as_bytes(),
        );
        out
    }
}

/// `#ACCT|rest` → (account, rest); data without `#` has no account.
pub(crate) fn split_account(data: &[u8]) -> Result<(Option<Account>, &[u8]), ContentError> {
    let Some(after) = data.strip_prefix(b"#") else {
        return Ok((None, data));
    };
    let bar = after
        .iter()
        .position(|&b| b == b'|')
        .ok_or(ContentError::NoAccountEnd)?;
    let account = Account::from_bytes(&after[..bar]).map_err(ContentError::Account)?;
    Ok((Some(account), &after[bar + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example() {
        let cid = AdmCid::parse(b"#1234|1120 01 015").expect("valid");
        assert_eq!(cid.account.as_ref().map(Account::as_str), Some("1234"));
        assert_eq!(cid.event.qualifier(), Qualifier::New);
        assert_eq!(
            (cid.event.code(), cid.event.partition(), cid.event.zone()),
            (120, 1, 15)
        );
        assert_eq!(cid.to_data(), b"#1234|1120 01 015".to_vec());
    }

    #[test]
    fn qualifiers_and_bare_events() {
        let restore = AdmCid::parse(b"3121 00 005").expect("valid");
        assert_eq!(restore.account, None);
        assert_eq!(restore.event.qualifier(), Qualifier::Restore);
        assert_eq!(restore.event.zone(), 5);
        let status = AdmCid::parse(b"#0012|6120 01 001").expect("valid");
        assert_eq!(status.event.qualifier(), Qualifier::StillPresent);
        assert_eq!(status.account.as_ref().map(Account::as_str), Some("0012"));
    }

    #[test]
    fn malformed_events_are_refused() {
        assert_eq!(
            AdmCid::parse(b"#1234|2120 01 015"),
            Err(ContentError::CidQualifier(2))
        );
        for bad in [
            &b"#1234|1120 01 15"[..],
            b"1120-01-015",
            b"112A 01 015",
            b"",
            b"#1234|",
            b"1120 01 015 ",
        ] {
            assert!(
                matches!(AdmCid::parse(bad), Err(ContentError::CidShape(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            AdmCid::parse(b"#1234 1120 01 015"),
            Err(ContentError::NoAccountEnd)
        );
        assert!(matches!(
            AdmCid::parse(b"#12|1120 01 015"),
            Err(ContentError::Account(_))
        ));
    }
}

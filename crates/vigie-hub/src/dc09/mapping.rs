//! What a panel's event means for Vigie: one table, each row tested.
//!
//! | Contact ID | qualifier 1 | qualifier 6 | qualifier 3 |
//! |---|---|---|---|
//! | 120 panic | alarm | joins the live alarm (or raises one) | restore |
//! | 121 duress | alarm, silent | idem, silent | restore |
//! | 122 silent panic | alarm, silent | idem, silent | restore |
//! | other 1xx | alarm (fail safe) | idem | restore |
//! | 3xx | trouble | trouble | restore |
//! | 6xx (602 periodic test) | test (supervision) | test | test |
//! | anything else (2xx, 4xx, 5xx…) | status | status | restore |
//!
//! SIA DCS: `PA` panic alarm, `HA` hold-up (silent), `QA`, `MA`, `FA`,
//! `BA` and any other `?A` alarms; `?H` and `?R` restores; `RP`, `RX`
//! tests; `?T`, `YC`, `YK` troubles; the rest status. `NULL` has no event
//! (supervision only). A restore never closes an alarm (the store records
//! it on the alarm it ends).

use crate::store::{PanelEvent, PanelKind};
use vigie_dc09::{AdmCid, Content, Qualifier, SiaDcs};

/// Contact ID 121: a duress code entered by a user (the zone is the user).
pub const CID_DURESS: u16 = 121;
/// Contact ID 122: a silent hold-up.
pub const CID_SILENT_PANIC: u16 = 122;

/// The events a frame's content carries, mapped (empty for a link test).
pub fn events(content: &Content) -> Vec<PanelEvent> {
    match content {
        Content::Cid(cid) => vec![cid_event(cid)],
        Content::Dcs(dcs) => dcs_events(dcs),
        Content::LinkTest | Content::Ack | Content::Nak | Content::Duh => Vec::new(),
    }
}

fn cid_event(cid: &AdmCid) -> PanelEvent {
    let e = cid.event;
    let code = e.code();
    let q = e.qualifier();
    let silent = matches!(code, CID_DURESS | CID_SILENT_PANIC);
    let kind = match (code / 100, q) {
        (6, _) => PanelKind::Test,
        (_, Qualifier::Restore) => PanelKind::Restore,
        (1, Qualifier::New) => PanelKind::Alarm,
        (1, Qualifier::StillPresent) => PanelKind::AlarmStillPresent,
        (3, _) => PanelKind::Trouble,
        _ => PanelKind::Status,
    };
    PanelEvent {
        kind,
        code: format!("{code:03}"),
        zone: format!("{:03}", e.zone()),
        silent: silent && matches!(kind, PanelKind::Alarm | PanelKind::AlarmStillPresent),
        detail: serde_json::json!({
            "format": "ADM-CID",
            "qualifier": q.digit(),
            "partition": e.partition(),
        }),
    }
}

fn dcs_events(dcs: &SiaDcs) -> Vec<PanelEvent> {
    dcs.events()
        .iter()
        .map(|e| {
            let code = e.code.as_str();
            let (kind, silent) = dcs_kind(code);
            PanelEvent {
                kind,
                code: code.to_string(),
                zone: e.address.to_string(),
                silent,
                detail: serde_json::json!({
                    "format": "SIA-DCS",
                    "area": e.area,
                    "user": e.user,
                    "text": e.text.map(|t| String::from_utf8_lossy(t).into_owned()),
                }),
            }
        })
        .collect()
}

/// A SIA code's kind, and whether it is silent (hold-up).
fn dcs_kind(code: &str) -> (PanelKind, bool) {
    let bytes = code.as_bytes();
    let (first, second) = (bytes.first().copied(), bytes.get(1).copied());
    match (first, second) {
        (Some(b'R'), Some(b'P' | b'X')) => (PanelKind::Test, false),
        (Some(b'H'), Some(b'A')) => (PanelKind::Alarm, true),
        (Some(b'Y'), Some(b'C' | b'K')) => (PanelKind::Trouble, false),
        (_, Some(b'A')) => (PanelKind::Alarm, false),
        (_, Some(b'H' | b'R')) => (PanelKind::Restore, false),
        (_, Some(b'T')) => (PanelKind::Trouble, false),
        _ => (PanelKind::Status, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PanelKind::*;

    fn cid(data: &str) -> PanelEvent {
        let content = Content::Cid(AdmCid::parse(data.as_bytes()).expect("a CID block"));
        let mut v = events(&content);
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    fn dcs(data: &str) -> PanelEvent {
        let content = Content::Dcs(SiaDcs::parse(data.as_bytes()).expect("a DCS block"));
        let mut v = events(&content);
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    /// Every row of the table above.
    #[test]
    fn contact_id_table() {
        let rows: &[(&str, PanelKind, bool)] = &[
            ("#AB12|1120 01 001", Alarm, false),
            ("#AB12|1121 01 005", Alarm, true),
            ("#AB12|1122 01 001", Alarm, true),
            ("#AB12|1100 01 001", Alarm, false),
            ("#AB12|1130 01 003", Alarm, false),
            ("#AB12|1999 01 001", Status, false),
            ("#AB12|1199 01 001", Alarm, false),
            ("#AB12|6120 01 001", AlarmStillPresent, false),
            ("#AB12|6121 01 005", AlarmStillPresent, true),
            ("#AB12|3120 01 001", Restore, false),
            ("#AB12|3121 01 005", Restore, false),
            ("#AB12|3122 01 001", Restore, false),
            ("#AB12|1602 00 000", Test, false),
            ("#AB12|1601 00 000", Test, false),
            ("#AB12|1301 00 000", Trouble, false),
            ("#AB12|1302 00 000", Trouble, false),
            ("#AB12|6301 00 000", Trouble, false),
            ("#AB12|3301 00 000", Restore, false),
            ("#AB12|1401 01 002", Status, false),
            ("#AB12|3401 01 002", Restore, false),
            ("#AB12|1570 01 004", Status, false),
            ("#AB12|1200 00 000", Status, false),
        ];
        for (data, kind, silent) in rows {
            let e = cid(data);
            assert_eq!((e.kind, e.silent), (*kind, *silent), "{data}");
        }
        let duress = cid("#AB12|1121 01 005");
        assert_eq!((duress.code.as_str(), duress.zone.as_str()), ("121", "005"));
    }

    #[test]
    fn sia_dcs_table() {
        let rows: &[(&str, PanelKind, bool)] = &[
            ("#AB12|Nri1/PA001", Alarm, false),
            ("#AB12|Nri1/HA001", Alarm, true),
            ("#AB12|Nri1/QA001", Alarm, false),
            ("#AB12|Nri1/MA001", Alarm, false),
            ("#AB12|Nri1/FA001", Alarm, false),
            ("#AB12|Nri1/BA001", Alarm, false),
            ("#AB12|Nri1/PH001", Restore, false),
            ("#AB12|Nri1/HR001", Restore, false),
            ("#AB12|Nri1/RP000", Test, false),
            ("#AB12|Nri1/RX000", Test, false),
            ("#AB12|Nri1/AT000", Trouble, false),
            ("#AB12|Nri1/YT000", Trouble, false),
            ("#AB12|Nri1/YC000", Trouble, false),
            ("#AB12|Nri1/OP001", Status, false),
            ("#AB12|Nri1/CL001", Status, false),
        ];
        for (data, kind, silent) in rows {
            let e = dcs(data);
            assert_eq!((e.kind, e.silent), (*kind, *silent), "{data}");
        }
    }

    #[test]
    fn a_link_test_has_no_event() {
        assert!(events(&Content::LinkTest).is_empty());
    }
}

//! What the store holds, as the rest of the hub sees it.

use serde::Serialize;
use vigie_core::{AlarmState, Answer, Outcome, PhoneNumber, Timestamp};

#[derive(Debug, Clone, Serialize)]
pub struct Shop {
    pub id: i64,
    pub reference: String,
    pub name: String,
    pub address: String,
    pub insee: String,
    pub commune: String,
    pub postcode: String,
    pub departement: String,
    pub lat: f64,
    pub lon: f64,
    pub rural: bool,
    pub holder_name: String,
    #[serde(serialize_with = "serialize_phone")]
    pub holder_phone: PhoneNumber,
    pub holder_sms: bool,
    pub opening_hours: String,
    /// The shop's own escalation policy, if it differs from the Region's.
    pub tier_timeout_s: Option<u32>,
    pub escalation_repeat: Option<bool>,
}

/// A shop to register; `reference` is the Region's own id for it.
#[derive(Debug, Clone)]
pub struct NewShop {
    pub reference: String,
    pub name: String,
    pub address: String,
    pub insee: String,
    pub commune: String,
    pub postcode: String,
    pub departement: String,
    pub lat: f64,
    pub lon: f64,
    pub rural: bool,
    pub holder_name: String,
    pub holder_phone: PhoneNumber,
    pub opening_hours: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Friend,
    Neighbour,
    Police,
    Desk,
}

impl Relation {
    pub fn as_str(self) -> &'static str {
        match self {
            Relation::Friend => "friend",
            Relation::Neighbour => "neighbour",
            Relation::Police => "police",
            Relation::Desk => "desk",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "friend" | "ami" => Relation::Friend,
            "neighbour" | "neighbor" | "voisin" => Relation::Neighbour,
            "police" | "gendarmerie" => Relation::Police,
            "desk" | "region" => Relation::Desk,
            _ => return None,
        })
    }
    /// Police and desk contacts are registered by the Region and need no opt-in.
    pub fn pre_approved(self) -> bool {
        matches!(self, Relation::Police | Relation::Desk)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    Pending,
    Yes,
    No,
    Lapsed,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Pending => "pending",
            Consent::Yes => "yes",
            Consent::No => "no",
            Consent::Lapsed => "lapsed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Consent::Pending,
            "yes" => Consent::Yes,
            "no" => Consent::No,
            "lapsed" => Consent::Lapsed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: i64,
    /// `None`: registered by the Region for every shop.
    pub shop_id: Option<i64>,
    pub name: String,
    #[serde(serialize_with = "serialize_phone")]
    pub phone: PhoneNumber,
    pub relation: Relation,
    pub tier: u8,
    pub consent: Consent,
    pub bounced: bool,
}

#[derive(Debug, Clone)]
pub struct NewContact {
    pub shop_id: Option<i64>,
    pub name: String,
    pub phone: PhoneNumber,
    pub relation: Relation,
    pub tier: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub id: String,
    pub shop_id: i64,
    pub state: String,
    pub version: String,
    pub enrolled_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub id: uuid::Uuid,
    pub shop_id: i64,
    pub device_id: String,
    pub code: String,
    pub state: AlarmState,
    pub pressed_at: Timestamp,
    pub device_pressed_at: Timestamp,
    pub received_at: Timestamp,
    pub age_ms: Option<i64>,
    pub recording: bool,
    pub step: u32,
    pub next_step_at: Option<Timestamp>,
    pub exhausted: bool,
    pub outcome: Option<Outcome>,
    pub closed_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    pub alarm_id: Option<uuid::Uuid>,
    pub contact_id: Option<i64>,
    /// E.164; shown masked in logs by whoever prints it.
    pub phone: String,
    pub purpose: String,
    pub step: u32,
    pub attempt: u32,
    pub priority: u8,
    pub text: String,
    pub state: String,
    pub tries: u32,
    pub gateway: Option<String>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub submitted_at: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
}

/// One line of an alarm's event log: the event, and as stored (its kind's
/// name and its fields as JSON, for exports and the command line).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub at: Timestamp,
    pub event: AlarmEvent,
    pub kind: String,
    pub detail: serde_json::Value,
}

/// What can happen to an alarm: the closed vocabulary of its event log.
/// Stored as `events.kind` (the variant's name in snake case) and
/// `events.detail` (its fields as JSON); a stored kind or detail this
/// version does not know is an error, never a guess.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlarmEvent {
    /// The button was pressed (`late_by_ms`: the press reached the hub late).
    Raised {
        device: String,
        late_by_ms: Option<i64>,
        recording: bool,
    },
    /// A silent test press: one SMS to the holder or the Region's test number.
    TestPress {
        device: String,
        late_by_ms: Option<i64>,
        to: String,
        direct_sms_ignored: usize,
    },
    /// A tier was alerted.
    Escalated {
        step: u32,
        round: u32,
        tier: u8,
        contacts: Vec<i64>,
    },
    /// No contact could be reached at this step.
    NoContact { message: String },
    /// Every step was tried; the alarm stays open, flagged.
    Exhausted { steps: u32 },
    /// A contact answered (by the link or by SMS).
    Answered {
        contact: i64,
        name: String,
        answer: String,
        via: String,
    },
    /// The first answer that stops the escalation.
    Acknowledged { by: i64 },
    /// SMS the box sent through its own modem, as it reported them.
    DirectSms {
        via: String,
        #[serde(default)]
        by_box: Vec<i64>,
        #[serde(default)]
        already_sent: Vec<i64>,
        #[serde(default)]
        unmatched: Vec<String>,
        ignored: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Cancelled by the holder's long press, within the window.
    Cancelled { by: String, withdrawn: u64 },
    /// A double press asked for a recording.
    RecordingRequested {},
    /// The recording's first chunk arrived.
    RecordingStarted { recording: uuid::Uuid },
    /// Closed by the desk, with its outcome.
    Resolved { outcome: String, by: String },
    /// « Je prends en main »: who follows the alarm at the desk (`from`: taken over).
    DeskTaken {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// A note of the desk.
    Note { by: String, text: String },
    /// An SMS of the alarm reached its phone.
    Delivered {
        notification: i64,
        contact: Option<i64>,
        purpose: String,
    },
    /// An SMS of the alarm could not be delivered (`retry`: another attempt follows).
    DeliveryFailed {
        notification: i64,
        contact: Option<i64>,
        error: String,
        retry: bool,
    },
    /// The test press's SMS was taken by a gateway.
    TestOk { gateway: String },
    /// An alarm panel or transmitter raised the alarm (SIA DC-09).
    RaisedByPanel {
        device: String,
        account: String,
        /// As sent: Contact ID `"120"`, SIA `"PA"`.
        event: String,
        zone: String,
        /// Duress or silent hold-up: nothing towards the premises.
        silent: bool,
        detail: serde_json::Value,
    },
    /// The panel says the condition is still present (Contact ID qualifier 6).
    PanelStillPresent {
        account: String,
        event: String,
        zone: String,
    },
    /// The panel reports a restore; the alarm stays open.
    PanelRestore {
        account: String,
        event: String,
        zone: String,
    },
    /// A GSM SOS pendant's SMS raised the alarm. An SMS is an
    /// unauthenticated channel: its sender can be spoofed.
    RaisedByPendant {
        device: String,
        pendant: i64,
        gateway: String,
        /// The SMS as received (its first characters).
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<vigie_core::pendant::Position>,
    },
    /// Another SMS from the pendant within the repeat window, recorded on
    /// the alarm. It never cancels, answers or closes it, whatever it says
    /// (`meaning`: `alarm`, `cancel_or_answer` for « annuler » or « 1 »,
    /// `low_battery`…).
    PendantSms {
        pendant: i64,
        text: String,
        meaning: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<vigie_core::pendant::Position>,
    },
    /// So many SMS from the pendant's number so fast that it is flagged as
    /// a flood; the alarm went out with the first, and the rest are
    /// counted, not listed here.
    PendantFlood {
        pendant: i64,
        messages: u32,
        window_s: u32,
    },
}

impl AlarmEvent {
    /// The name stored in `events.kind`.
    pub fn kind(&self) -> String {
        self.split().map(|(k, _)| k).unwrap_or_default()
    }

    /// `(kind, detail)` as stored.
    pub fn split(&self) -> Result<(String, serde_json::Value), String> {
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let kind = v
            .as_object_mut()
            .and_then(|o| o.remove("kind"))
            .and_then(|k| k.as_str().map(str::to_string))
            .ok_or("an event without a kind")?;
        Ok((kind, v))
    }

    /// The event stored as `kind` and `detail`.
    pub fn join(kind: &str, detail: serde_json::Value) -> Result<Self, String> {
        let mut detail = match detail {
            serde_json::Value::Object(o) => o,
            other => return Err(format!("detail is not an object: {other}")),
        };
        detail.insert("kind".into(), serde_json::Value::String(kind.into()));
        serde_json::from_value(serde_json::Value::Object(detail)).map_err(|e| e.to_string())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerRow {
    pub contact_id: i64,
    pub contact_name: String,
    pub answer: Answer,
    pub via: String,
    pub at: Timestamp,
}

/// An alarm with everything that happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmDetail {
    pub alarm: Alarm,
    pub shop: Shop,
    pub events: Vec<Event>,
    pub notifications: Vec<Notification>,
    pub answers: Vec<AnswerRow>,
}

/// What a contact sees on their answer page.
#[derive(Debug, Clone)]
pub struct AnswerPage {
    pub alarm: Alarm,
    pub shop: Shop,
    pub contact: Contact,
    pub answers: Vec<AnswerRow>,
}

fn serialize_phone<S: serde::Serializer>(p: &PhoneNumber, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_e164())
}

#[cfg(test)]
mod tests {
    use super::AlarmEvent;

    fn one_of_each() -> Vec<AlarmEvent> {
        vec![
            AlarmEvent::Raised {
                device: "dev-1".into(),
                late_by_ms: Some(40_000),
                recording: true,
            },
            AlarmEvent::TestPress {
                device: "dev-1".into(),
                late_by_ms: None,
                to: "holder".into(),
                direct_sms_ignored: 0,
            },
            AlarmEvent::Escalated {
                step: 1,
                round: 0,
                tier: 2,
                contacts: vec![3, 4],
            },
            AlarmEvent::NoContact {
                message: "aucun contact".into(),
            },
            AlarmEvent::Exhausted { steps: 6 },
            AlarmEvent::Answered {
                contact: 1,
                name: "Marie Dupont".into(),
                answer: "coming".into(),
                via: "sms".into(),
            },
            AlarmEvent::Acknowledged { by: 1 },
            AlarmEvent::DirectSms {
                via: "raise".into(),
                by_box: vec![1],
                already_sent: vec![],
                unmatched: vec!["+33600000000".into()],
                ignored: 0,
                reason: None,
            },
            AlarmEvent::Cancelled {
                by: "holder".into(),
                withdrawn: 2,
            },
            AlarmEvent::RecordingRequested {},
            AlarmEvent::RecordingStarted {
                recording: uuid::Uuid::nil(),
            },
            AlarmEvent::Resolved {
                outcome: "incident".into(),
                by: "operateur".into(),
            },
            AlarmEvent::DeskTaken {
                by: "odile".into(),
                from: Some("paul".into()),
            },
            AlarmEvent::Note {
                by: "odile".into(),
                text: "gendarmerie prévenue".into(),
            },
            AlarmEvent::Delivered {
                notification: 9,
                contact: None,
                purpose: "holder".into(),
            },
            AlarmEvent::DeliveryFailed {
                notification: 9,
                contact: Some(1),
                error: "expired".into(),
                retry: true,
            },
            AlarmEvent::TestOk {
                gateway: "smsc".into(),
            },
            AlarmEvent::RaisedByPanel {
                device: "panel-1234".into(),
                account: "1234".into(),
                event: "121".into(),
                zone: "001".into(),
                silent: true,
                detail: serde_json::json!({ "qualifier": 1 }),
            },
            AlarmEvent::PanelStillPresent {
                account: "1234".into(),
                event: "120".into(),
                zone: "001".into(),
            },
            AlarmEvent::PanelRestore {
                account: "1234".into(),
                event: "120".into(),
                zone: "001".into(),
            },
            AlarmEvent::RaisedByPendant {
                device: "pendant:1".into(),
                pendant: 1,
                gateway: "smsc".into(),
                text: "help me! lat: 45.76 long: 4.83".into(),
                position: vigie_core::pendant::Position::new(45.76, 4.83),
            },
            AlarmEvent::RaisedByPendant {
                device: "pendant:1".into(),
                pendant: 1,
                gateway: "smsc".into(),
                text: "SOS".into(),
                position: None,
            },
            AlarmEvent::PendantSms {
                pendant: 1,
                text: "annuler".into(),
                meaning: "cancel_or_answer".into(),
                position: None,
            },
            AlarmEvent::PendantFlood {
                pendant: 1,
                messages: 10,
                window_s: 60,
            },
        ]
    }

    #[test]
    fn every_event_is_stored_as_kind_and_detail_and_read_back() {
        for e in one_of_each() {
            let (kind, detail) = e.split().expect("split");
            assert!(detail.get("kind").is_none(), "{detail}");
            assert_eq!(AlarmEvent::join(&kind, detail).expect("join"), e);
        }
    }

    #[test]
    fn the_details_written_before_the_vocabulary_was_closed_still_read() {
        for (kind, detail) in [
            (
                "raised",
                r#"{"device":"dev-01a2","late_by_ms":null,"recording":false}"#,
            ),
            (
                "escalated",
                r#"{"contacts":[1,2],"round":0,"step":0,"tier":1}"#,
            ),
            (
                "delivered",
                r#"{"contact":1,"notification":6,"purpose":"alert"}"#,
            ),
            ("resolved", r#"{"by":"operator","outcome":"incident"}"#),
            ("desk_taken", r#"{"by":"odile"}"#),
            (
                "direct_sms",
                r#"{"via":"report","ignored":2,"reason":"test"}"#,
            ),
            ("recording_requested", "{}"),
        ] {
            let detail = serde_json::from_str(detail).expect("json");
            assert!(AlarmEvent::join(kind, detail).is_ok(), "{kind}");
        }
    }

    #[test]
    fn an_unknown_kind_or_field_is_refused() {
        assert!(AlarmEvent::join("burned", serde_json::json!({})).is_err());
        assert!(
            AlarmEvent::join("acknowledged", serde_json::json!({ "by": 1, "extra": 2 })).is_err()
        );
        assert!(AlarmEvent::join("acknowledged", serde_json::json!({})).is_err());
        assert!(AlarmEvent::join("acknowledged", serde_json::json!([1])).is_err());
    }
}

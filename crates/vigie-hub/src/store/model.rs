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

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub detail: serde_json::Value,
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

//! An alarm's life: open → acknowledged (someone is coming or calling 17) →
//! resolved with an outcome; or cancelled by the holder within the cancel
//! window. The hub's event log records every step; this module decides
//! which transitions are allowed.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// A long press cancels the alarm only within this time after the press.
pub const CANCEL_WINDOW_MS_DEFAULT: i64 = 60_000;
/// A press that reaches the hub this long after it happened is shown as late
/// ("déclenchée il y a 3 min") so nobody mistakes it for a fresh one.
pub const LATE_PRESS_MS_MIN: i64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    /// Raised, nobody has said they are coming yet: escalation runs.
    Open,
    /// Someone is coming or calling the police: escalation stops.
    Acknowledged,
    /// Closed by the holder or an operator, with an outcome.
    Resolved,
    /// Cancelled by the holder's long press within the cancel window.
    Cancelled,
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Open => "open",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::Resolved => "resolved",
            AlarmState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => AlarmState::Open,
            "acknowledged" => AlarmState::Acknowledged,
            "resolved" => AlarmState::Resolved,
            "cancelled" => AlarmState::Cancelled,
            _ => return None,
        })
    }
    /// Open or acknowledged: contacts may still answer, the holder may resolve.
    pub fn is_live(self) -> bool {
        matches!(self, AlarmState::Open | AlarmState::Acknowledged)
    }
}

/// What a contact says they will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// `1`: « J'arrive ».
    Coming,
    /// `2`: « J'appelle le 17 ».
    CallingPolice,
    /// `3`: « Pas disponible ».
    Unavailable,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Coming => "coming",
            Answer::CallingPolice => "calling_police",
            Answer::Unavailable => "unavailable",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "coming" => Answer::Coming,
            "calling_police" => Answer::CallingPolice,
            "unavailable" => Answer::Unavailable,
            _ => return None,
        })
    }
    /// Coming or calling the police stops the escalation; "not available" does not.
    pub fn takes_charge(self) -> bool {
        matches!(self, Answer::Coming | Answer::CallingPolice)
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            Answer::Coming => "J'arrive",
            Answer::CallingPolice => "J'appelle le 17",
            Answer::Unavailable => "Pas disponible",
        }
    }
}

/// How an alarm ended, for the funder's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Incident,
    FalseAlarm,
    Test,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Incident => "incident",
            Outcome::FalseAlarm => "false_alarm",
            Outcome::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "incident" => Outcome::Incident,
            "false_alarm" => Outcome::FalseAlarm,
            "test" => Outcome::Test,
            _ => return None,
        })
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            Outcome::Incident => "incident traité",
            Outcome::FalseAlarm => "fausse alerte",
            Outcome::Test => "test",
        }
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("l'alarme est déjà close / the alarm is already closed")]
    AlreadyClosed,
    #[error(
        "le délai d'annulation de {window_s} s est passé (appui long {late_s} s après) / the {window_s} s cancel window has passed"
    )]
    CancelWindowPassed { window_s: i64, late_s: i64 },
}

/// A cancel is accepted if the long press started within the window after
/// the first press, both times read on the box's own clock (so a cancel that
/// travelled late is judged by when it happened, not when it arrived).
pub fn check_cancel(
    state: AlarmState,
    pressed_at: Timestamp,
    cancel_pressed_at: Timestamp,
    cancel_window_ms: i64,
) -> Result<(), TransitionError> {
    if !state.is_live() {
        return Err(TransitionError::AlreadyClosed);
    }
    let after = cancel_pressed_at.ms_since(pressed_at);
    if after > cancel_window_ms {
        return Err(TransitionError::CancelWindowPassed {
            window_s: cancel_window_ms / 1_000,
            late_s: after / 1_000,
        });
    }
    Ok(())
}

/// The state after an answer: the first answer that takes charge
/// acknowledges an open alarm; other answers change nothing.
pub fn state_after_answer(state: AlarmState, answer: Answer) -> AlarmState {
    match (state, answer.takes_charge()) {
        (AlarmState::Open, true) => AlarmState::Acknowledged,
        (s, _) => s,
    }
}

/// How old a press was when the box sent it, on the box's own clock, so a
/// box whose clock is off still gives the right age.
pub fn press_age_ms(pressed_at: Timestamp, sent_at: Timestamp) -> i64 {
    sent_at.ms_since(pressed_at).max(0)
}

/// A short code that names an alarm in SMS replies ("1 K7P") when a contact
/// has several alarms open. Drawn from letters and digits that cannot be
/// confused (no 0/O, 1/I/L).
pub const ALARM_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const ALARM_CODE_CHARS: usize = 3;

pub fn alarm_code_from_bytes(bytes: [u8; ALARM_CODE_CHARS]) -> String {
    bytes
        .iter()
        .map(|b| ALARM_CODE_ALPHABET[*b as usize % ALARM_CODE_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_window() {
        let t0 = Timestamp(1_000_000);
        assert_eq!(
            check_cancel(AlarmState::Open, t0, t0.plus_secs(59), 60_000),
            Ok(())
        );
        assert_eq!(
            check_cancel(AlarmState::Acknowledged, t0, t0.plus_secs(60), 60_000),
            Ok(())
        );
        assert_eq!(
            check_cancel(AlarmState::Open, t0, t0.plus_secs(61), 60_000),
            Err(TransitionError::CancelWindowPassed {
                window_s: 60,
                late_s: 61
            })
        );
        assert_eq!(
            check_cancel(AlarmState::Resolved, t0, t0.plus_secs(1), 60_000),
            Err(TransitionError::AlreadyClosed)
        );
    }

    #[test]
    fn answers_acknowledge_only_when_taking_charge() {
        use AlarmState::*;
        assert_eq!(state_after_answer(Open, Answer::Coming), Acknowledged);
        assert_eq!(
            state_after_answer(Open, Answer::CallingPolice),
            Acknowledged
        );
        assert_eq!(state_after_answer(Open, Answer::Unavailable), Open);
        assert_eq!(state_after_answer(Resolved, Answer::Coming), Resolved);
    }

    #[test]
    fn names_round_trip() {
        for s in [
            AlarmState::Open,
            AlarmState::Acknowledged,
            AlarmState::Resolved,
            AlarmState::Cancelled,
        ] {
            assert_eq!(AlarmState::parse(s.as_str()), Some(s));
        }
        for a in [Answer::Coming, Answer::CallingPolice, Answer::Unavailable] {
            assert_eq!(Answer::parse(a.as_str()), Some(a));
        }
        for o in [Outcome::Incident, Outcome::FalseAlarm, Outcome::Test] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }

    #[test]
    fn alarm_codes_avoid_confusable_characters() {
        let code = alarm_code_from_bytes([0, 255, 30]);
        assert_eq!(code.len(), 3);
        assert!(code.chars().all(|c| !"01OIL".contains(c)));
    }
}

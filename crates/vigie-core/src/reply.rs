//! What a contact's SMS reply means. People type with a thumb, in a hurry:
//! `1`, ` 1 `, `1 k7p`, `1K7P`, `Oui.`, `stop` all have to be understood, and
//! anything else gets a helpful answer rather than silence.

use crate::alarm::{ALARM_CODE_CHARS, Answer};

/// Longer replies are not commands; they are answered with the help text.
const REPLY_CHARS_MAX: usize = 160;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `1`, `2` or `3`, with the alarm code if the contact gave one.
    Answer {
        answer: Answer,
        alarm_code: Option<String>,
    },
    /// `OUI`: the contact accepts to receive alarms.
    ConsentYes,
    /// `NON`: the contact declines.
    ConsentNo,
    /// `STOP`: the contact withdraws (and is never sent alarms again until they say yes).
    Stop,
    Unknown,
}

pub fn parse_reply(text: &str) -> Reply {
    if text.chars().count() > REPLY_CHARS_MAX {
        return Reply::Unknown;
    }
    let cleaned: String = text
        .trim()
        .trim_end_matches(['.', '!'])
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match cleaned.as_str() {
        "OUI" | "O" | "YES" => return Reply::ConsentYes,
        "NON" | "NO" => return Reply::ConsentNo,
        "STOP" | "STOP SMS" | "ARRET" | "ARRÊT" => return Reply::Stop,
        _ => {}
    }
    let mut chars = cleaned.chars();
    let answer = match chars.next() {
        Some('1') => Answer::Coming,
        Some('2') => Answer::CallingPolice,
        Some('3') => Answer::Unavailable,
        _ => return Reply::Unknown,
    };
    let rest: String = chars.filter(|c| !c.is_whitespace()).collect();
    let alarm_code = match rest.len() {
        0 => None,
        ALARM_CODE_CHARS if rest.chars().all(|c| c.is_ascii_alphanumeric()) => Some(rest),
        _ => return Reply::Unknown,
    };
    Reply::Answer { answer, alarm_code }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let a = |answer, code: Option<&str>| Reply::Answer {
            answer,
            alarm_code: code.map(String::from),
        };
        let cases = [
            ("1", a(Answer::Coming, None)),
            (" 1 ", a(Answer::Coming, None)),
            ("2", a(Answer::CallingPolice, None)),
            ("3.", a(Answer::Unavailable, None)),
            ("1 k7p", a(Answer::Coming, Some("K7P"))),
            ("1K7P", a(Answer::Coming, Some("K7P"))),
            ("2 K 7 P", a(Answer::CallingPolice, Some("K7P"))),
            ("oui", Reply::ConsentYes),
            ("Oui.", Reply::ConsentYes),
            ("NON", Reply::ConsentNo),
            ("stop", Reply::Stop),
            ("Stop!", Reply::Stop),
            ("4", Reply::Unknown),
            ("12", Reply::Unknown),
            ("1 K7PX", Reply::Unknown),
            ("j'arrive", Reply::Unknown),
            ("", Reply::Unknown),
        ];
        for (text, want) in cases {
            assert_eq!(parse_reply(text), want, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn never_crashes(s in "\\PC{0,300}") {
            let _ = parse_reply(&s);
        }
    }
}

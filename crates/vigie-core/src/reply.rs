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

/// Words of the alert's own invitation (« Répondez 1 j'arrive, 2 j'appelle
/// le 17, 3 indispo »): people copy them after their digit.
const ECHOED_WORDS: &[&str] = &[
    "J'ARRIVE",
    "JARRIVE",
    "ARRIVE",
    "J'APPELLE",
    "JAPPELLE",
    "APPELLE",
    "LE",
    "17",
    "INDISPO",
    "INDISPONIBLE",
    "PAS",
    "DISPONIBLE",
    "OK",
];

/// Whether `token` can be an alarm code (three characters of the alphabet
/// codes are made of).
fn is_code(token: &str) -> bool {
    token.len() == ALARM_CODE_CHARS
        && token
            .bytes()
            .all(|b| crate::alarm::ALARM_CODE_ALPHABET.contains(&b))
}

fn answer_of(token: &str) -> Option<Answer> {
    match token {
        "1" => Some(Answer::Coming),
        "2" => Some(Answer::CallingPolice),
        "3" => Some(Answer::Unavailable),
        _ => None,
    }
}

/// A digit glued to a code: `1K7P`.
fn glued(token: &str) -> Option<(Answer, String)> {
    let (digit, code) = token.split_at_checked(1)?;
    Some((answer_of(digit)?, code.to_string())).filter(|(_, c)| is_code(c))
}

/// Free text after an answer is fine (« 1 j'arrive dans 5 min »), but not
/// something that looks like a mistyped code (`1 K7PX`), which must not be
/// read as an answer to whichever alarm happens to be open.
fn looks_like_a_code(token: &str) -> bool {
    (2..=5).contains(&token.len())
        && token.bytes().all(|b| b.is_ascii_alphanumeric())
        && token.bytes().any(|b| b.is_ascii_digit())
        && !ECHOED_WORDS.contains(&token)
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
    let tokens: Vec<&str> = cleaned
        .split(|c: char| {
            c.is_whitespace() || matches!(c, ',' | '.' | '!' | ':' | ';' | '-' | '(' | ')')
        })
        .filter(|t| !t.is_empty())
        .collect();
    // The answer with its code: `1`, `1 K7P`, `1K7P`, `2 K 7 P`, or the
    // code first, `K7P 1`; then whatever the contact added.
    let (answer, alarm_code, rest) = match tokens.as_slice() {
        [first, rest @ ..] if answer_of(first).is_some() => {
            let answer = answer_of(first).unwrap_or(Answer::Coming);
            // A code typed with spaces: `2 K 7 P`.
            let spaced: String = rest.iter().take(ALARM_CODE_CHARS).copied().collect();
            if rest.len() >= ALARM_CODE_CHARS
                && rest[..ALARM_CODE_CHARS].iter().all(|t| t.len() == 1)
                && is_code(&spaced)
            {
                (answer, Some(spaced), &rest[ALARM_CODE_CHARS..])
            } else {
                match rest {
                    [code, more @ ..] if is_code(code) => (answer, Some(code.to_string()), more),
                    _ => (answer, None, rest),
                }
            }
        }
        [first, rest @ ..] if glued(first).is_some() => match glued(first) {
            Some((answer, code)) => (answer, Some(code), rest),
            None => return Reply::Unknown,
        },
        [code, digit, rest @ ..] if is_code(code) && answer_of(digit).is_some() => {
            match answer_of(digit) {
                Some(answer) => (answer, Some(code.to_string()), rest),
                None => return Reply::Unknown,
            }
        }
        _ => return Reply::Unknown,
    };
    if rest
        .iter()
        .any(|t| looks_like_a_code(t) || answer_of(t).is_some())
    {
        return Reply::Unknown;
    }
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
            // The SMS's own wording, copied after the digit.
            ("1 j'arrive", a(Answer::Coming, None)),
            ("1 J'arrive", a(Answer::Coming, None)),
            ("2 j'appelle le 17", a(Answer::CallingPolice, None)),
            ("3 indispo", a(Answer::Unavailable, None)),
            ("1 K7P j'arrive", a(Answer::Coming, Some("K7P"))),
            ("1, j'arrive dans 5 min", a(Answer::Coming, None)),
            // The code first.
            ("H7K 1", a(Answer::Coming, Some("H7K"))),
            ("h7k 2.", a(Answer::CallingPolice, Some("H7K"))),
            // Two answers, or a number that is not one: not understood.
            ("1 2", Reply::Unknown),
            ("1 ou 3", Reply::Unknown),
            ("17", Reply::Unknown),
            ("OUI 1", Reply::Unknown),
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

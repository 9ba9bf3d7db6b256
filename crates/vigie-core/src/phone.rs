//! Phone numbers in E.164, parsed at the edge from what people type.
//!
//! French national numbers (`06 12 34 56 78`, `06.12.34.56.78`,
//! `0033 6 12…`, `+33 (0)6 12…`) become `+33612345678`. Other countries are
//! accepted in international form. A number's `Display` masks the middle
//! digits so that logs never carry a full number; `as_e164` gives it whole.

use serde::{Deserialize, Serialize};
use std::fmt;

/// E.164 allows at most 15 digits after the `+`.
const E164_DIGITS_MAX: usize = 15;
/// The shortest international number we accept (country code + subscriber).
const E164_DIGITS_MIN: usize = 8;
/// What a person may type around the digits; anything longer is not a number.
const PHONE_INPUT_CHARS_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("numéro vide / empty phone number")]
    Empty,
    #[error("numéro trop long / phone number too long")]
    TooLong,
    #[error(
        "caractère « {0} » interdit dans un numéro / character '{0}' is not allowed in a phone number"
    )]
    BadCharacter(char),
    #[error(
        "un numéro français a 10 chiffres et commence par 01 à 09 (ex. 06 12 34 56 78) / a French number has 10 digits starting 01–09"
    )]
    BadFrenchNumber,
    #[error(
        "numéro international invalide : 8 à 15 chiffres après + / invalid international number: 8 to 15 digits after +"
    )]
    BadInternationalNumber,
}

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(PhoneError::Empty);
        }
        if input.chars().count() > PHONE_INPUT_CHARS_MAX {
            return Err(PhoneError::TooLong);
        }
        let mut digits = String::new();
        let mut plus = false;
        let mut chars = input.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '.' | '-' | '\u{a0}' => {}
                // "+33 (0)6 …": the trunk zero in brackets is dropped.
                '(' => {
                    let inner: String = chars.by_ref().take_while(|&c| c != ')').collect();
                    if inner != "0" {
                        return Err(PhoneError::BadCharacter('('));
                    }
                }
                other => return Err(PhoneError::BadCharacter(other)),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else {
            // French national form: 0 + 9 digits, first digit 1–9.
            let bytes = digits.as_bytes();
            if bytes.len() != 10 || bytes[0] != b'0' || bytes[1] == b'0' {
                return Err(PhoneError::BadFrenchNumber);
            }
            format!("33{}", &digits[1..])
        };
        if let Some(national) = international.strip_prefix("33")
            && (national.len() != 9 || national.starts_with('0'))
        {
            return Err(PhoneError::BadFrenchNumber);
        }
        if !(E164_DIGITS_MIN..=E164_DIGITS_MAX).contains(&international.len())
            || international.starts_with('0')
        {
            return Err(PhoneError::BadInternationalNumber);
        }
        Ok(Self(format!("+{international}")))
    }

    /// The whole number, `+33612345678`. Do not log it.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The digits without `+`, as SMPP and most HTTP gateways want them.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// `06 12 34 56 78` for French numbers, E.164 otherwise: for pages people read.
    pub fn national_display(&self) -> String {
        match self.0.strip_prefix("+33") {
            Some(rest) => {
                let n = format!("0{rest}");
                n.as_bytes()
                    .chunks(2)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => self.0.clone(),
        }
    }
}

/// Masked: `+336••••••78`. Logs and debug output never carry a whole number.
impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.0;
        let keep_head = 4.min(n.len());
        let keep_tail = 2.min(n.len() - keep_head);
        let hidden = n.len() - keep_head - keep_tail;
        write!(
            f,
            "{}{}{}",
            &n[..keep_head],
            "•".repeat(hidden),
            &n[n.len() - keep_tail..]
        )
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let ok = [
            ("06 12 34 56 78", "+33612345678"),
            ("0612345678", "+33612345678"),
            ("06.12.34.56.78", "+33612345678"),
            ("06-12-34-56-78", "+33612345678"),
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+33 (0)6 12 34 56 78", "+33612345678"),
            ("0033612345678", "+33612345678"),
            ("04 73 12 34 56", "+33473123456"),
            ("+41 22 123 45 67", "+41221234567"),
        ];
        for (input, want) in ok {
            assert_eq!(
                PhoneNumber::parse(input).map(|p| p.0),
                Ok(want.into()),
                "{input}"
            );
        }
        let bad = [
            ("", PhoneError::Empty),
            ("   ", PhoneError::Empty),
            ("06 12 34 56", PhoneError::BadFrenchNumber),
            ("06 12 34 56 78 9", PhoneError::BadFrenchNumber),
            ("00 0 12 34 56 78", PhoneError::BadInternationalNumber),
            ("+33 06 12 34 56 78", PhoneError::BadFrenchNumber),
            ("6 12 34 56 78", PhoneError::BadFrenchNumber),
            ("06 12 34 56 7a", PhoneError::BadCharacter('a')),
            ("+1 23", PhoneError::BadInternationalNumber),
            (
                "+33 6 12 34 56 78 90 12 34 56 78 90 12",
                PhoneError::TooLong,
            ),
            ("06+12345678", PhoneError::BadCharacter('+')),
        ];
        for (input, want) in bad {
            assert_eq!(PhoneNumber::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn display_masks_and_national_display_groups() {
        let p = PhoneNumber::parse("06 12 34 56 78").expect("valid");
        assert_eq!(p.to_string(), "+336••••••78");
        assert!(!format!("{p}").contains("1234"));
        assert_eq!(p.national_display(), "06 12 34 56 78");
        assert_eq!(p.digits(), "33612345678");
    }

    proptest! {
        #[test]
        fn never_crashes_and_output_is_e164(s in "\\PC{0,40}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                prop_assert!(p.0.starts_with('+'));
                prop_assert!(p.0[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((E164_DIGITS_MIN..=E164_DIGITS_MAX).contains(&(p.0.len() - 1)));
                prop_assert_eq!(PhoneNumber::parse(&p.0), Ok(p.clone()));
            }
        }

        #[test]
        fn every_french_mobile_parses(n in 600_000_000u32..800_000_000u32) {
            let national = format!("0{n}");
            let p = PhoneNumber::parse(&national).expect("valid mobile");
            prop_assert_eq!(p.0, format!("+33{n}"));
        }
    }
}

//! GSM 03.38 (3GPP TS 23.038): which characters fit the 7-bit default
//! alphabet, how many septets a text takes, and how many SMS segments.
//!
//! French texts fit one 160-septet segment when they avoid ê â î ô û ç and
//! friends: `fold_to_gsm` replaces those by their unaccented letter, so a
//! shop called « Tabac de l'Hôtel de Ville » still goes out in GSM 7-bit.
//! Only a text with characters that have no such fold needs UCS-2.

/// One SMS carries 140 octets of user data: 160 GSM 7-bit septets…
pub const SMS_SEGMENT_GSM_SEPTETS_MAX: usize = 160;
/// …or 70 UCS-2 code units.
pub const SMS_SEGMENT_UCS2_UNITS_MAX: usize = 70;
/// A concatenated segment loses 7 septets (6 octets) to its header.
const SMS_MULTIPART_GSM_SEPTETS_MAX: usize = 153;
const SMS_MULTIPART_UCS2_UNITS_MAX: usize = 67;

/// The basic character set, in code order (0x00–0x7F). 0x1B is the escape
/// to the extension table and is not a character of its own.
pub const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: each costs two septets (escape + code).
pub const GSM_EXTENSION: [(char, u8); 10] = [
    ('\u{c}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// The septet(s) of `c`: `Some((code, None))` for the basic set,
/// `Some((0x1B, Some(code)))` for the extension table, `None` if not GSM.
pub fn septets_of(c: char) -> Option<(u8, Option<u8>)> {
    if c == '\u{1b}' {
        return None;
    }
    if let Some(i) = GSM_BASIC.iter().position(|&g| g == c) {
        return Some((i as u8, None));
    }
    GSM_EXTENSION
        .iter()
        .find(|(g, _)| *g == c)
        .map(|&(_, code)| (0x1B, Some(code)))
}

/// How many septets `text` takes, or `None` if a character is not GSM 7-bit.
pub fn gsm_septets(text: &str) -> Option<usize> {
    text.chars()
        .map(|c| septets_of(c).map(|(_, ext)| if ext.is_some() { 2 } else { 1 }))
        .sum()
}

/// The encoding a text needs, with its length in that encoding's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7 { septets: usize },
    Ucs2 { units: usize },
}

impl Encoding {
    pub fn of(text: &str) -> Self {
        match gsm_septets(text) {
            Some(septets) => Encoding::Gsm7 { septets },
            None => Encoding::Ucs2 {
                units: text.encode_utf16().count(),
            },
        }
    }

    /// How many SMS segments the text takes.
    pub fn segments(self) -> usize {
        let (len, single, multi) = match self {
            Encoding::Gsm7 { septets } => (
                septets,
                SMS_SEGMENT_GSM_SEPTETS_MAX,
                SMS_MULTIPART_GSM_SEPTETS_MAX,
            ),
            Encoding::Ucs2 { units } => (
                units,
                SMS_SEGMENT_UCS2_UNITS_MAX,
                SMS_MULTIPART_UCS2_UNITS_MAX,
            ),
        };
        if len <= single {
            1
        } else {
            len.div_ceil(multi)
        }
    }
}

/// Replace characters outside GSM 03.38 by their nearest GSM spelling
/// (ê → e, ç → c, œ → oe, ’ → '), leaving any other character as it is.
pub fn fold_to_gsm(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if septets_of(c).is_some() {
            out.push(c);
            continue;
        }
        let folded: &str = match c {
            'á' | 'â' | 'ã' | 'ā' => "a",
            'À' | 'Á' | 'Â' | 'Ã' => "A",
            'ê' | 'ë' | 'ē' => "e",
            'È' | 'Ê' | 'Ë' => "E",
            'í' | 'î' | 'ï' => "i",
            'Ì' | 'Í' | 'Î' | 'Ï' => "I",
            'ó' | 'ô' | 'õ' => "o",
            'Ò' | 'Ó' | 'Ô' | 'Õ' => "O",
            'ú' | 'û' => "u",
            'Ù' | 'Ú' | 'Û' => "U",
            'ÿ' | 'ý' => "y",
            'Ÿ' | 'Ý' => "Y",
            'ç' => "c",
            'œ' => "oe",
            'Œ' => "OE",
            '’' | '‘' | '`' | '´' => "'",
            '“' | '”' | '«' | '»' => "\"",
            '–' | '—' => "-",
            '…' => "...",
            '\t' | '\u{a0}' | '\u{202f}' => " ",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(folded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn french_letters() {
        for c in ['é', 'è', 'à', 'ù', 'É', 'Ç', '€'] {
            assert!(septets_of(c).is_some(), "{c} is GSM");
        }
        for c in ['ê', 'â', 'î', 'ô', 'û', 'ç', 'œ', '’'] {
            assert!(septets_of(c).is_none(), "{c} is not GSM");
        }
        assert_eq!(gsm_septets("€"), Some(2));
        assert_eq!(gsm_septets("Hôtel"), None);
        assert_eq!(
            fold_to_gsm("Hôtel de la Forêt, façade’s"),
            "Hotel de la Foret, facade's"
        );
        assert_eq!(fold_to_gsm("Tabac Presse Élysée"), "Tabac Presse Élysée");
    }

    #[test]
    fn segments() {
        assert_eq!(Encoding::of(&"a".repeat(160)).segments(), 1);
        assert_eq!(Encoding::of(&"a".repeat(161)).segments(), 2);
        assert_eq!(Encoding::of(&"€".repeat(80)).segments(), 1);
        assert_eq!(Encoding::of(&"€".repeat(81)).segments(), 2);
        assert_eq!(Encoding::of(&"ê".repeat(70)).segments(), 1);
        assert_eq!(Encoding::of(&"ê".repeat(71)).segments(), 2);
    }

    proptest! {
        #[test]
        fn folding_is_idempotent_and_never_lengthens_gsm(s in "\\PC{0,60}") {
            let once = fold_to_gsm(&s);
            prop_assert_eq!(fold_to_gsm(&once), once.clone());
            if let Some(n) = gsm_septets(&s) {
                prop_assert_eq!(gsm_septets(&once), Some(n));
            }
        }
    }
}

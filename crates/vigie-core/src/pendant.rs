//! What a GSM SOS pendant's SMS means, and where it says the wearer is.
//!
//! A pendant (a plain GSM button, an elderly phone's SOS key, a tracker)
//! sends an SMS from its own SIM when it is pressed: « Help Me », « SOS »,
//! `help me!` with `lat: … long: …`, a maps link, NMEA fields… The hub
//! recognises the pendant by its number, not by its words, so this module
//! fails safe: **any text is an alarm** unless it is a known non-alarm
//! message (low battery, power on/off, charging, heartbeat, a setting
//! confirmed, or one of the patterns registered for that pendant).
//!
//! Rules, in this order:
//! 1. a setting the pendant confirms (« SOS number set OK ») is information;
//! 2. a text with an alarm word (`SOS`, `help`, `aide`, `secours`,
//!    `urgence`, `emergency`, `panic`, `fall`, `chute`…) is an alarm, whatever
//!    else it says: no pattern and no template can silence it;
//! 3. a text made only of words that cancel or answer elsewhere in Vigie
//!    (« annuler », « fausse alerte », `1`, `2 K7P`, `STOP`, `OUI`…) is
//!    [`Meaning::CancelOrAnswer`]: a pendant's SMS never cancels, answers
//!    or closes an alarm (its sender can be spoofed), so the hub only
//!    records it;
//! 4. a pattern registered for the pendant, then a well-known non-alarm
//!    template, makes it information;
//! 5. anything else is an alarm.
//!
//! Coordinates are read whatever the meaning, from maps links (Google,
//! OpenStreetMap, `geo:`), labels (`lat: 22.56 long: 114.05`,
//! `Lat:N22.57,Lon:E113.87`), hemisphere letters (`N45.76,E4.83`,
//! `45°45'28"N 4°49'55"E`), NMEA fields (`4545.6000,N,00449.8000,E`) and a
//! bare pair of GPS-precise decimals (`45.764043,4.835659`). A coordinate
//! out of range (latitude beyond ±90°, longitude beyond ±180°) or the
//! `0,0` of a tracker without a fix is no position: never an error, and
//! never a reason to lose the alarm.

use serde::{Deserialize, Serialize};

/// Characters of a message read at most: ten concatenated segments, more
/// than any pendant sends; the rest of a longer text is not looked at.
pub const PENDANT_TEXT_CHARS_READ_MAX: usize = 1_600;
/// Patterns registered for one pendant at most: a device has a handful of
/// non-alarm messages.
pub const PATTERNS_PER_PENDANT_MAX: usize = 8;
/// A pattern's length, in characters once folded: short enough to type,
/// long enough that it cannot match everything a pendant sends.
pub const PATTERN_CHARS_MIN: usize = 4;
pub const PATTERN_CHARS_MAX: usize = 64;
/// Decimals a bare pair of numbers needs to be read as coordinates
/// (4 decimals: about 10 m; speeds and voltages have fewer).
const BARE_PAIR_DECIMALS_MIN: usize = 4;
/// Decimals kept in a position: 6 is about 0.1 m, finer than any GPS.
const POSITION_DECIMALS: i32 = 6;

/// What a pendant's SMS asks of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// Raise an alarm with the shop's escalation, or join the pendant's live one.
    Alarm,
    /// Words that cancel or answer an alarm when a box or a contact sends
    /// them: from a pendant, recorded and nothing more.
    CancelOrAnswer,
    /// A known non-alarm message: recorded, no alarm.
    Info(Info),
}

impl Meaning {
    /// The name stored with the message.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Alarm => "alarm",
            Meaning::CancelOrAnswer => "cancel_or_answer",
            Meaning::Info(info) => info.as_str(),
        }
    }

    /// The meaning of a stored name (a registered pattern's index is not kept).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "alarm" => Meaning::Alarm,
            "cancel_or_answer" => Meaning::CancelOrAnswer,
            "low_battery" => Meaning::Info(Info::LowBattery),
            "charging" => Meaning::Info(Info::Charging),
            "power_on" => Meaning::Info(Info::PowerOn),
            "power_off" => Meaning::Info(Info::PowerOff),
            "heartbeat" => Meaning::Info(Info::Heartbeat),
            "setting_confirmed" => Meaning::Info(Info::SettingConfirmed),
            "pattern" => Meaning::Info(Info::Pattern(0)),
            _ => return None,
        })
    }
}

/// The non-alarm messages pendants send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Info {
    /// « Warning! Battery is low », « Batterie faible ».
    LowBattery,
    /// « Charging », « Fully charged ».
    Charging,
    /// « Power on », « Device switched on ».
    PowerOn,
    /// « Power off », « Shutting down ».
    PowerOff,
    /// A periodic « heartbeat » or « keep alive ».
    Heartbeat,
    /// A configuration reply: « SOS number set OK », « APN setting success ».
    SettingConfirmed,
    /// The registered pattern of this index matched.
    Pattern(usize),
}

impl Info {
    pub fn as_str(self) -> &'static str {
        match self {
            Info::LowBattery => "low_battery",
            Info::Charging => "charging",
            Info::PowerOn => "power_on",
            Info::PowerOff => "power_off",
            Info::Heartbeat => "heartbeat",
            Info::SettingConfirmed => "setting_confirmed",
            Info::Pattern(_) => "pattern",
        }
    }
}

/// Where the text says the pendant is, in degrees (WGS 84), to 6 decimals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

impl Position {
    /// A position if both are in range and it is not a tracker's `0,0` without a fix.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        let in_range = lat.is_finite()
            && lon.is_finite()
            && (-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon);
        let round = |x: f64| {
            let scale = 10f64.powi(POSITION_DECIMALS);
            (x * scale).round() / scale
        };
        let (lat, lon) = (round(lat), round(lon));
        (in_range && !(lat == 0.0 && lon == 0.0)).then_some(Position { lat, lon })
    }
}

/// A pendant's SMS, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub meaning: Meaning,
    pub position: Option<Position>,
}

/// A non-alarm message as an operator registers it for one pendant (the
/// text the device sends, or a fragment of it), matched on whole words
/// without regard to case, accents or punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonAlarmPattern {
    folded: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(
        "un motif a de {PATTERN_CHARS_MIN} à {PATTERN_CHARS_MAX} caractères (lettres et chiffres), pas « {0} » : recopiez le message que le pendentif envoie / a pattern is {PATTERN_CHARS_MIN} to {PATTERN_CHARS_MAX} characters (letters and digits): copy the message the pendant sends"
    )]
    Length(String),
    #[error(
        "le motif « {0} » contient un mot d'alarme (SOS, aide, help…) : un tel message est toujours une alarme, le motif ne servirait à rien / pattern '{0}' holds an alarm word: such a message is always an alarm"
    )]
    AlarmWord(String),
    #[error(
        "au plus {PATTERNS_PER_PENDANT_MAX} motifs par pendentif / at most {PATTERNS_PER_PENDANT_MAX} patterns per pendant"
    )]
    TooMany,
}

impl NonAlarmPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let folded = fold(text);
        let chars = folded.chars().filter(|c| *c != ' ').count();
        if !(PATTERN_CHARS_MIN..=PATTERN_CHARS_MAX).contains(&chars) {
            return Err(PatternError::Length(text.chars().take(80).collect()));
        }
        if has_alarm_word(&folded) {
            return Err(PatternError::AlarmWord(text.to_string()));
        }
        Ok(Self { folded })
    }

    /// Every pattern of a pendant, at most [`PATTERNS_PER_PENDANT_MAX`].
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Self>, PatternError> {
        if texts.len() > PATTERNS_PER_PENDANT_MAX {
            return Err(PatternError::TooMany);
        }
        texts.iter().map(|t| Self::parse(t.as_ref())).collect()
    }

    fn matches(&self, folded_text: &str) -> bool {
        contains_words(folded_text, &self.folded)
    }
}

/// Read a pendant's SMS: what it means and where it says the pendant is.
pub fn read(text: &str, patterns: &[NonAlarmPattern]) -> Reading {
    let text: String = text.chars().take(PENDANT_TEXT_CHARS_READ_MAX).collect();
    Reading {
        meaning: meaning(&text, patterns),
        position: position(&text),
    }
}

fn meaning(text: &str, patterns: &[NonAlarmPattern]) -> Meaning {
    let folded = fold(text);
    if setting_confirmed(&folded) {
        return Meaning::Info(Info::SettingConfirmed);
    }
    if has_alarm_word(&folded) {
        return Meaning::Alarm;
    }
    if cancels_or_answers(text, &folded) {
        return Meaning::CancelOrAnswer;
    }
    if let Some(i) = patterns.iter().position(|p| p.matches(&folded)) {
        return Meaning::Info(Info::Pattern(i));
    }
    for (info, phrases) in TEMPLATES {
        if phrases.iter().any(|p| contains_words(&folded, p)) {
            return Meaning::Info(*info);
        }
    }
    Meaning::Alarm
}

/// Beginnings of words that make a text an alarm whatever else it says.
const ALARM_WORD_PREFIXES: &[&str] = &[
    "sos", "help", "secour", "urgen", "emergenc", "panic", "paniq", "danger", "agress",
];
/// Words that do as much, matched whole (« fall » but not « fallback »).
const ALARM_WORDS: &[&str] = &[
    "aide",
    "aidez",
    "aider",
    "fall",
    "chute",
    "tombe",
    "malaise",
    "assistance",
];

fn has_alarm_word(folded: &str) -> bool {
    folded
        .split(' ')
        .any(|w| ALARM_WORDS.contains(&w) || ALARM_WORD_PREFIXES.iter().any(|p| w.starts_with(p)))
}

/// Words that cancel or answer elsewhere in Vigie, and those that go with them.
const CANCEL_WORDS: &[&str] = &[
    "annuler",
    "annule",
    "annulez",
    "annulation",
    "cancel",
    "canceled",
    "cancelled",
    "stop",
    "fin",
    "ok",
    "fausse",
    "false",
    "erreur",
    "bon",
    "bien",
];
const CANCEL_FILLER: &[&str] = &[
    "l", "la", "le", "les", "mon", "ma", "alarme", "alerte", "alarm", "alert", "c", "est", "tout",
    "va", "svp", "merci", "please", "d", "de", "par",
];

fn cancels_or_answers(text: &str, folded: &str) -> bool {
    use crate::reply::{Reply, parse_reply};
    if !matches!(parse_reply(text), Reply::Unknown) {
        return true;
    }
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    !words.is_empty()
        && words.iter().any(|w| CANCEL_WORDS.contains(w))
        && words
            .iter()
            .all(|w| CANCEL_WORDS.contains(w) || CANCEL_FILLER.contains(w))
}

/// Words of a configuration reply, and the words one ends with.
const SETTING_WORDS: &[&str] = &[
    "set",
    "setting",
    "settings",
    "setup",
    "config",
    "configured",
    "configuration",
    "saved",
    "parametre",
    "parametrage",
    "enregistre",
    "apn",
    "interval",
    "timezone",
];
const SETTING_ENDS: &[&str] = &[
    "ok",
    "success",
    "succeed",
    "succeeded",
    "successful",
    "successfully",
    "reussi",
    "effectue",
];

fn setting_confirmed(folded: &str) -> bool {
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    match words.split_last() {
        Some((last, rest)) => {
            SETTING_ENDS.contains(last) && rest.iter().any(|w| SETTING_WORDS.contains(w))
        }
        None => false,
    }
}

/// Well-known non-alarm messages, as folded phrases matched on whole words.
const TEMPLATES: &[(Info, &[&str])] = &[
    (
        Info::LowBattery,
        &[
            "low battery",
            "battery low",
            "battery is low",
            "low bat",
            "lowbat",
            "bat low",
            "low power",
            "low voltage",
            "battery alarm",
            "batterie faible",
            "batterie basse",
            "batterie est faible",
            "pile faible",
        ],
    ),
    (
        Info::Charging,
        &[
            "charging",
            "charger connected",
            "charger",
            "fully charged",
            "battery full",
            "batterie pleine",
            "batterie chargee",
            "en charge",
            "en cours de charge",
        ],
    ),
    (
        Info::PowerOff,
        &[
            "power off",
            "powered off",
            "power down",
            "shut down",
            "shutdown",
            "shutting down",
            "switched off",
            "turned off",
            "extinction",
            "eteint",
        ],
    ),
    (
        Info::PowerOn,
        &[
            "power on",
            "powered on",
            "power up",
            "switched on",
            "turned on",
            "started up",
            "allume",
            "mise en marche",
            "demarrage",
        ],
    ),
    (
        Info::Heartbeat,
        &[
            "heartbeat",
            "heart beat",
            "keep alive",
            "keepalive",
            "periodic report",
            "periodic test",
            "test periodique",
        ],
    ),
];

/// `phrase` (folded) occurs in `text` (folded) as whole words.
fn contains_words(text: &str, phrase: &str) -> bool {
    !phrase.is_empty() && format!(" {text} ").contains(&format!(" {phrase} "))
}

/// Lower case, accents folded, everything but letters and digits a single
/// space: « Batterie FAIBLE ! » → `batterie faible`.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => "a",
            'ç' => "c",
            'è' | 'é' | 'ê' | 'ë' => "e",
            'ì' | 'í' | 'î' | 'ï' => "i",
            'ñ' => "n",
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => "o",
            'ù' | 'ú' | 'û' | 'ü' => "u",
            'ý' | 'ÿ' => "y",
            'œ' => "oe",
            'æ' => "ae",
            c if c.is_alphanumeric() => {
                out.push(c);
                space = false;
                continue;
            }
            _ => {
                if !space {
                    out.push(' ');
                    space = true;
                }
                continue;
            }
        };
        out.push_str(folded);
        space = false;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

// ---------------------------------------------------------------- positions

/// Where the text says the pendant is, if it says so in a form we read
/// and the numbers are in range.
pub fn position(text: &str) -> Option<Position> {
    let decoded = text
        .chars()
        .take(PENDANT_TEXT_CHARS_READ_MAX)
        .collect::<String>()
        .replace("%2C", ",")
        .replace("%2c", ",")
        .replace("%20", " ")
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%C2%B0", "°")
        .replace("%c2%b0", "°");
    let s: Vec<char> = decoded.chars().collect();
    let lower: Vec<char> = s.iter().map(|c| c.to_ascii_lowercase()).collect();
    from_link(&s, &lower)
        .or_else(|| from_labels(&s, &lower))
        .or_else(|| from_hemispheres(&s))
        .or_else(|| from_nmea(&s))
        .or_else(|| from_bare_pair(&s))
}

/// One coordinate as written: its value in degrees, the hemisphere letter
/// if one was given (before or after), and how it was written.
#[derive(Debug, Clone, Copy)]
struct Coord {
    value: f64,
    hemisphere: Option<char>,
    decimals: usize,
    sexagesimal: bool,
    end: usize,
}

fn is_hemisphere(c: char) -> bool {
    matches!(c, 'N' | 'S' | 'E' | 'W')
}

fn skip_spaces(s: &[char], mut i: usize) -> usize {
    while s.get(i).is_some_and(|c| *c == ' ' || *c == '\t') {
        i += 1;
    }
    i
}

/// Digits from `i`, at most `max`: the digits' value as text, and the end.
fn digits(s: &[char], i: usize, max: usize) -> Option<(String, usize)> {
    let mut j = i;
    while j < s.len() && s[j].is_ascii_digit() {
        j += 1;
        if j - i > max {
            return None;
        }
    }
    (j > i).then(|| (s[i..j].iter().collect(), j))
}

/// A decimal number from `i` with at most `int_max` integer digits:
/// value, decimals, end.
fn decimal(s: &[char], i: usize, int_max: usize) -> Option<(f64, usize, usize)> {
    let (int, mut j) = digits(s, i, int_max)?;
    let mut text = int;
    let mut decimals = 0;
    if s.get(j) == Some(&'.')
        && let Some((frac, k)) = digits(s, j + 1, 12)
    {
        decimals = frac.len();
        text.push('.');
        text.push_str(&frac);
        j = k;
    }
    Some((text.parse().ok()?, decimals, j))
}

/// A coordinate at `i`: `N45.76`, `-4.83`, `+40.75`, `4.83E`, `45°45'28.1"N`.
fn coord(s: &[char], i: usize) -> Option<Coord> {
    let mut i = skip_spaces(s, i);
    let mut hemisphere = None;
    if let Some(&c) = s.get(i)
        && is_hemisphere(c)
    {
        let after = skip_spaces(s, i + 1);
        if s.get(after)
            .is_some_and(|d| d.is_ascii_digit() || *d == '-' || *d == '+')
        {
            hemisphere = Some(c);
            i = after;
        }
    }
    let mut negative = false;
    match s.get(i) {
        Some('-') => {
            negative = true;
            i += 1;
        }
        Some('+') => i += 1,
        _ => {}
    }
    let (degrees, decimals, mut j) = decimal(s, i, 3)?;
    let mut value = degrees;
    let mut sexagesimal = false;
    if matches!(s.get(j), Some('°' | 'º')) {
        j += 1;
        let k = skip_spaces(s, j);
        if decimals == 0
            && let Some((minutes, _, m)) = decimal(s, k, 2)
            && matches!(s.get(m), Some('\'' | '′' | '’'))
        {
            if minutes >= 60.0 {
                return None;
            }
            value += minutes / 60.0;
            sexagesimal = true;
            j = m + 1;
            let k = skip_spaces(s, j);
            if let Some((seconds, _, n)) = decimal(s, k, 2) {
                let close = match (s.get(n), s.get(n + 1)) {
                    (Some('"' | '″' | '”'), _) => Some(n + 1),
                    (Some('\'' | '′' | '’'), Some('\'' | '′' | '’')) => Some(n + 2),
                    _ => None,
                };
                if let Some(end) = close {
                    if seconds >= 60.0 {
                        return None;
                    }
                    value += seconds / 3600.0;
                    j = end;
                }
            }
        }
    }
    if hemisphere.is_none() {
        let k = skip_spaces(s, j);
        if let Some(&c) = s.get(k)
            && is_hemisphere(c)
            && !s.get(k + 1).is_some_and(|n| n.is_alphanumeric())
        {
            hemisphere = Some(c);
            j = k + 1;
        }
    }
    if matches!(hemisphere, Some('S' | 'W')) {
        negative = true;
    }
    Some(Coord {
        value: if negative { -value } else { value },
        hemisphere,
        decimals,
        sexagesimal,
        end: j,
    })
}

/// Two coordinates at `i`, apart by a comma, semicolon, slash or spaces.
fn pair(s: &[char], i: usize) -> Option<(Coord, Coord)> {
    let lat = coord(s, i)?;
    let mut j = skip_spaces(s, lat.end);
    if matches!(s.get(j), Some(',' | ';' | '/')) {
        j += 1;
    } else if j == lat.end {
        return None;
    }
    let lon = coord(s, j)?;
    Some((lat, lon))
}

fn starts_with(s: &[char], i: usize, word: &str) -> bool {
    (i..).zip(word.chars()).all(|(k, w)| s.get(k) == Some(&w))
}

/// Every index where `word` starts in `s`.
fn occurrences<'a>(s: &'a [char], word: &'a str) -> impl Iterator<Item = usize> + 'a {
    (0..s.len()).filter(move |&i| starts_with(s, i, word))
}

fn valid(lat: &Coord, lon: &Coord) -> Option<Position> {
    let lat_ok = !matches!(lat.hemisphere, Some('E' | 'W'));
    let lon_ok = !matches!(lon.hemisphere, Some('N' | 'S'));
    if lat_ok && lon_ok {
        Position::new(lat.value, lon.value)
    } else {
        None
    }
}

/// Google Maps (`?q=`, `&query=`, `ll=`, `/@`, `/place/`, `/search/`),
/// OpenStreetMap (`mlat=…&mlon=…`, `#map=z/lat/lon`) and `geo:` links.
fn from_link(s: &[char], lower: &[char]) -> Option<Position> {
    const MARKERS: &[&str] = &[
        "?q=", "&q=", "?query=", "&query=", "?ll=", "&ll=", "?daddr=", "&daddr=", "?center=",
        "&center=", "/@", "/place/", "/search/", "geo:",
    ];
    for marker in MARKERS {
        for i in occurrences(lower, marker) {
            let mut j = i + marker.chars().count();
            if starts_with(lower, j, "loc:") {
                j += 4;
            }
            if let Some((lat, lon)) = pair(s, j)
                && let Some(p) = valid(&lat, &lon)
            {
                return Some(p);
            }
        }
    }
    for i in occurrences(lower, "mlat=") {
        let Some(lat) = coord(s, i + 5) else { continue };
        let Some(k) = occurrences(lower, "mlon=").find(|&k| k > i) else {
            continue;
        };
        if let Some(lon) = coord(s, k + 5)
            && let Some(p) = valid(&lat, &lon)
        {
            return Some(p);
        }
    }
    for i in occurrences(lower, "#map=") {
        let Some((_, j)) = digits(s, i + 5, 2) else {
            continue;
        };
        if s.get(j) == Some(&'/')
            && let Some((lat, lon)) = pair(s, j + 1)
            && let Some(p) = valid(&lat, &lon)
        {
            return Some(p);
        }
    }
    None
}

/// A label at `i` (`lat`, `latitude`, `lon`, `long`, `lng`, `longitude`),
/// at the start of a word: where its value starts.
fn after_label(lower: &[char], i: usize, labels: &[&str]) -> Option<usize> {
    if i > 0 && lower[i - 1].is_alphabetic() {
        return None;
    }
    let label = labels
        .iter()
        .filter(|l| starts_with(lower, i, l))
        .map(|l| l.chars().count())
        .max()?;
    let mut j = i + label;
    if lower.get(j).is_some_and(|c| c.is_alphabetic()) {
        return None;
    }
    j = skip_spaces(lower, j);
    if matches!(lower.get(j), Some(':' | '=')) {
        j += 1;
    }
    Some(j)
}

/// `lat: 22.566923 long: 114.051331`, `Lat:N22.571285,Lon:E113.877115`.
fn from_labels(s: &[char], lower: &[char]) -> Option<Position> {
    const LAT: &[&str] = &["lat", "latitude"];
    const LON: &[&str] = &["lon", "long", "lng", "longitude"];
    for i in occurrences(lower, "lat") {
        let Some(j) = after_label(lower, i, LAT) else {
            continue;
        };
        let Some(lat) = coord(s, j) else { continue };
        for k in (lat.end..lower.len()).filter(|&k| starts_with(lower, k, "l")) {
            let Some(m) = after_label(lower, k, LON) else {
                continue;
            };
            if let Some(lon) = coord(s, m) {
                if let Some(p) = valid(&lat, &lon) {
                    return Some(p);
                }
                break;
            }
        }
    }
    None
}

/// `N45.76,E4.83`, `S33.8688 W70.6693`, `45.76N 4.83E`, `45°45'28"N 4°49'55"E`.
fn from_hemispheres(s: &[char]) -> Option<Position> {
    for i in 0..s.len() {
        let starts = (s[i].is_ascii_digit() || matches!(s[i], 'N' | 'S'))
            && (i == 0 || !(s[i - 1].is_alphanumeric() || s[i - 1] == '.'));
        if !starts {
            continue;
        }
        if let Some((lat, lon)) = pair(s, i)
            && matches!(lat.hemisphere, Some('N' | 'S'))
            && matches!(lon.hemisphere, Some('E' | 'W'))
            && let Some(p) = valid(&lat, &lon)
        {
            return Some(p);
        }
    }
    None
}

/// NMEA `ddmm.mmmm,N,dddmm.mmmm,E` (GPRMC, GPS103 trackers).
fn from_nmea(s: &[char]) -> Option<Position> {
    let field = |i: usize, letters: &[char]| -> Option<(f64, char, usize)> {
        let (v, decimals, j) = decimal(s, i, 5)?;
        if decimals == 0 || s.get(j) != Some(&',') {
            return None;
        }
        let letter = *s.get(j + 1)?;
        if !letters.contains(&letter) {
            return None;
        }
        let degrees = (v / 100.0).trunc();
        let minutes = v - degrees * 100.0;
        if minutes >= 60.0 {
            return None;
        }
        let value = degrees + minutes / 60.0;
        Some((
            if matches!(letter, 'S' | 'W') {
                -value
            } else {
                value
            },
            letter,
            j + 2,
        ))
    };
    for i in 0..s.len() {
        if !s[i].is_ascii_digit() || (i > 0 && (s[i - 1].is_ascii_digit() || s[i - 1] == '.')) {
            continue;
        }
        let Some((lat, _, j)) = field(i, &['N', 'S']) else {
            continue;
        };
        if s.get(j) != Some(&',') {
            continue;
        }
        if let Some((lon, _, _)) = field(j + 1, &['E', 'W'])
            && let Some(p) = Position::new(lat, lon)
        {
            return Some(p);
        }
    }
    None
}

/// `45.764043,4.835659`: two signed decimals with GPS precision.
fn from_bare_pair(s: &[char]) -> Option<Position> {
    for i in 0..s.len() {
        let starts = (s[i].is_ascii_digit() || matches!(s[i], '-' | '+'))
            && (i == 0 || !(s[i - 1].is_alphanumeric() || matches!(s[i - 1], '.' | '-' | '+')));
        if !starts {
            continue;
        }
        let Some((lat, lon)) = pair(s, i) else {
            continue;
        };
        let precise = |c: &Coord| {
            c.hemisphere.is_none() && !c.sexagesimal && c.decimals >= BARE_PAIR_DECIMALS_MIN
        };
        let ends = !s.get(lon.end).is_some_and(|c| c.is_alphanumeric());
        if precise(&lat)
            && precise(&lon)
            && ends
            && let Some(p) = Position::new(lat.value, lon.value)
        {
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(lat: f64, lon: f64) -> Option<Position> {
        Some(Position { lat, lon })
    }

    #[test]
    fn positions_in_every_form_we_read() {
        let cases: &[(&str, Option<Position>)] = &[
            ("lat: 22.566923 long: 114.051331", at(22.566923, 114.051331)),
            ("Lat:N22.571285,Lon:E113.877115", at(22.571285, 113.877115)),
            ("latitude=45.76 longitude=4.83", at(45.76, 4.83)),
            ("N45.76,E4.83", at(45.76, 4.83)),
            ("N45.76 E4.83", at(45.76, 4.83)),
            ("S33.8688,W70.6693", at(-33.8688, -70.6693)),
            ("45.76N, 4.83E", at(45.76, 4.83)),
            ("45°45'28.1\"N 4°49'55.2\"E", at(45.757806, 4.832)),
            ("maps?q=+40.75,-73.98", at(40.75, -73.98)),
            (
                "http://maps.google.com/maps?q=N22.57,E113.87",
                at(22.57, 113.87),
            ),
            (
                "https://maps.google.com/?q=45.7640%2C4.8357",
                at(45.764, 4.8357),
            ),
            (
                "http://maps.google.com/maps?q=loc:45.7640,4.8357",
                at(45.764, 4.8357),
            ),
            (
                "https://www.google.com/maps/search/?api=1&query=45.7640,4.8357",
                at(45.764, 4.8357),
            ),
            (
                "https://www.google.com/maps/place/45.7640,4.8357",
                at(45.764, 4.8357),
            ),
            (
                "https://www.google.com/maps/@45.7640,4.8357,17z",
                at(45.764, 4.8357),
            ),
            (
                "https://www.openstreetmap.org/?mlat=45.7640&mlon=4.8357#map=17/45.7640/4.8357",
                at(45.764, 4.8357),
            ),
            (
                "https://www.openstreetmap.org/#map=17/45.7640/4.8357",
                at(45.764, 4.8357),
            ),
            ("geo:45.7640,4.8357", at(45.764, 4.8357)),
            ("A,2234.4026,N,11354.3277,E,0.00", at(22.573377, 113.905462)),
            (
                "A,1012.63368,N,06757.59559,W,0.00",
                at(10.210561, -67.959927),
            ),
            ("SOS 45.764043,4.835659", at(45.764043, 4.835659)),
            ("SOS -33.868820, 151.209296", at(-33.86882, 151.209296)),
            // Garbage and no-fix: no position.
            ("lat: 123.456 long: 200.1", None),
            ("maps?q=0.000000,0.000000", None),
            ("N91.0,E4.8", None),
            ("E45.76,N4.83", None),
            ("speed:85.60 28/10/09 03:33 F:4.32V,0", None),
            ("imei:359587011016261 05 41.9", None),
            ("45.76,4.83", None),
            ("https://goo.gl/maps/AbCdEf123", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = position(text);
            match (got, want) {
                (Some(g), Some(w)) => assert!(
                    (g.lat - w.lat).abs() < 5e-7 && (g.lon - w.lon).abs() < 5e-7,
                    "{text:?}: {g:?} is not {w:?}"
                ),
                (g, w) => assert_eq!(g, *w, "{text:?}"),
            }
        }
    }

    #[test]
    fn meanings_in_order_of_the_rules() {
        use Info::*;
        let patterns = NonAlarmPattern::parse_all(&["Balise active", "Test OK reçu"]).expect("ok");
        let cases: &[(&str, Meaning)] = &[
            ("Help Me", Meaning::Alarm),
            ("", Meaning::Alarm),
            ("Où es-tu ?", Meaning::Alarm),
            ("SOS number set OK", Meaning::Info(SettingConfirmed)),
            ("Set SOS1 OK!", Meaning::Info(SettingConfirmed)),
            ("SOS! Battery low", Meaning::Alarm),
            ("Low battery alarm!", Meaning::Info(LowBattery)),
            (
                "Warning! Battery is low, please charge!",
                Meaning::Info(LowBattery),
            ),
            (
                "Batterie faible, veuillez charger",
                Meaning::Info(LowBattery),
            ),
            ("Fully charged", Meaning::Info(Charging)),
            ("Power on", Meaning::Info(PowerOn)),
            ("The device is shutting down", Meaning::Info(PowerOff)),
            ("heartbeat", Meaning::Info(Heartbeat)),
            ("annuler", Meaning::CancelOrAnswer),
            ("ANNULER !", Meaning::CancelOrAnswer),
            ("Fausse alerte, tout va bien", Meaning::CancelOrAnswer),
            ("1", Meaning::CancelOrAnswer),
            ("2 K7P", Meaning::CancelOrAnswer),
            ("STOP", Meaning::CancelOrAnswer),
            ("oui", Meaning::CancelOrAnswer),
            ("annuler SOS", Meaning::Alarm),
            ("alarme", Meaning::Alarm),
            ("Balise active", Meaning::Info(Pattern(0))),
            ("BALISE ACTIVÉE", Meaning::Alarm),
            ("test ok recu 14h02", Meaning::Info(Pattern(1))),
            ("Balise active: SOS", Meaning::Alarm),
        ];
        for (text, want) in cases {
            assert_eq!(read(text, &patterns).meaning, *want, "{text:?}");
        }
    }

    #[test]
    fn patterns_that_could_not_work_are_refused_with_what_to_do() {
        assert!(matches!(
            NonAlarmPattern::parse("ok"),
            Err(PatternError::Length(_))
        ));
        assert!(matches!(
            NonAlarmPattern::parse("  !!  "),
            Err(PatternError::Length(_))
        ));
        assert!(matches!(
            NonAlarmPattern::parse(&"x".repeat(PATTERN_CHARS_MAX + 1)),
            Err(PatternError::Length(_))
        ));
        let e = NonAlarmPattern::parse("SOS envoyé").expect_err("an alarm word");
        assert!(e.to_string().contains("toujours une alarme"), "{e}");
        let nine = vec!["Balise active"; PATTERNS_PER_PENDANT_MAX + 1];
        assert_eq!(
            NonAlarmPattern::parse_all(&nine),
            Err(PatternError::TooMany)
        );
    }

    #[test]
    fn stored_meanings_read_back() {
        for m in [
            Meaning::Alarm,
            Meaning::CancelOrAnswer,
            Meaning::Info(Info::LowBattery),
            Meaning::Info(Info::Charging),
            Meaning::Info(Info::PowerOn),
            Meaning::Info(Info::PowerOff),
            Meaning::Info(Info::Heartbeat),
            Meaning::Info(Info::SettingConfirmed),
            Meaning::Info(Info::Pattern(0)),
        ] {
            assert_eq!(Meaning::parse(m.as_str()), Some(m));
        }
        assert_eq!(Meaning::parse("panic"), None);
    }

    /// Every real-style sample of `tests/data/pendant-corpus.txt` gets the
    /// meaning and the position written beside it; all mismatches at once.
    #[test]
    fn the_corpus_of_pendant_messages_is_classified_sample_by_sample() {
        let corpus = include_str!("../tests/data/pendant-corpus.txt");
        let mut samples = 0;
        let mut wrong = Vec::new();
        for (n, line) in corpus.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
            let [meaning, lat, lon, text] = fields[..] else {
                panic!("line {}: MEANING | LAT | LON | TEXT: {line}", n + 1);
            };
            let want_meaning = Meaning::parse(meaning)
                .unwrap_or_else(|| panic!("line {}: no meaning {meaning:?}", n + 1));
            let want_position = match (lat, lon) {
                ("-", "-") => None,
                (lat, lon) => Some(Position {
                    lat: lat.parse().expect("latitude"),
                    lon: lon.parse().expect("longitude"),
                }),
            };
            let text = text.replace("\\n", "\n");
            let got = read(&text, &[]);
            let same_position = match (got.position, want_position) {
                (Some(g), Some(w)) => (g.lat - w.lat).abs() < 5e-7 && (g.lon - w.lon).abs() < 5e-7,
                (g, w) => g == w,
            };
            if got.meaning.as_str() != want_meaning.as_str() || !same_position {
                wrong.push(format!(
                    "line {}: {text:?}: read {} {:?}, expected {meaning} {want_position:?}",
                    n + 1,
                    got.meaning.as_str(),
                    got.position
                ));
            }
            samples += 1;
        }
        assert!(samples >= 70, "the corpus holds {samples} samples");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    proptest! {
        #[test]
        fn any_text_is_read_and_a_position_is_always_in_range(s in "\\PC{0,400}") {
            let r = read(&s, &[]);
            if let Some(p) = r.position {
                prop_assert!((-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lon));
            }
        }

        #[test]
        fn texts_near_coordinates_never_break_the_reader(
            prefix in "[A-Za-z0-9:=,.°'\"?&/@ +-]{0,40}",
            suffix in "[A-Za-z0-9:=,.°'\"?&/@ +-]{0,40}",
            lat in -90.0f64..=90.0,
            lon in -180.0f64..=180.0,
        ) {
            let text = format!("{prefix}{lat}{suffix}{lon}");
            let _ = read(&text, &[]);
        }

        #[test]
        fn coordinates_read_back_from_every_writing(
            lat in -89.99999f64..89.99999,
            lon in -179.99999f64..179.99999,
            form in 0usize..6,
        ) {
            let (la, lo) = ((lat * 1e5).round() / 1e5, (lon * 1e5).round() / 1e5);
            prop_assume!(la.abs() > 1e-4 || lo.abs() > 1e-4);
            let ns = if la < 0.0 { 'S' } else { 'N' };
            let ew = if lo < 0.0 { 'W' } else { 'E' };
            let text = match form {
                0 => format!("help me! lat: {la:.5} long: {lo:.5} speed:0.00"),
                1 => format!("SOS http://maps.google.com/maps?q={la:.5},{lo:.5}"),
                2 => format!("SOS {ns}{:.5},{ew}{:.5}", la.abs(), lo.abs()),
                3 => format!("Lat:{ns}{:.5},Lon:{ew}{:.5}", la.abs(), lo.abs()),
                4 => format!("https://www.openstreetmap.org/?mlat={la:.5}&mlon={lo:.5}"),
                _ => format!("Help Me {la:.5},{lo:.5}"),
            };
            let p = read(&text, &[]).position;
            prop_assert!(p.is_some(), "{}", text);
            let p = p.unwrap_or(Position { lat: 0.0, lon: 0.0 });
            prop_assert!((p.lat - la).abs() < 1e-6 && (p.lon - lo).abs() < 1e-6, "{} → {:?}", text, p);
        }

        /// No registered pattern silences a text that asks for help.
        #[test]
        fn a_pattern_never_silences_an_alarm_word(
            pattern in "[a-z]{4,12}( [a-z]{2,8}){0,2}",
            word in prop::sample::select(vec!["SOS", "Help me", "Aidez-moi", "au secours", "URGENCE"]),
        ) {
            if let Ok(p) = NonAlarmPattern::parse(&pattern) {
                let text = format!("{pattern} {word}");
                prop_assert_eq!(read(&text, &[p]).meaning, Meaning::Alarm);
            }
        }
    }
}

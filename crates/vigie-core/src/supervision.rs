//! Supervision: is a box alive, is its shop open, what must its holder be
//! told, and is the shop's chain known to work.
//!
//! The hub keeps, per device, what the holder was last told (online or
//! offline). A pass compares that belief with the truth and, only while the
//! shop is open, sends the one notice that brings them back in line: a box
//! that goes offline at night and comes back before opening costs nobody an
//! SMS; one that is still offline at opening is reported then, once.

use crate::time::{CivilTime, Timestamp};

/// Opening hours longer than this are not a shop's opening hours.
pub const OPENING_HOURS_CHARS_MAX: usize = 200;
/// Time ranges per day at most (a shop opens a few times a day, not 20).
const RANGES_PER_DAY_MAX: usize = 8;
const MINUTES_PER_DAY: u16 = 24 * 60;

/// Day names, Monday first: English (OpenStreetMap style) and French.
const DAY_NAMES: [[&str; 2]; 7] = [
    ["mo", "lu"],
    ["tu", "ma"],
    ["we", "me"],
    ["th", "je"],
    ["fr", "ve"],
    ["sa", "sa"],
    ["su", "di"],
];

/// When a shop is open, by weekday, in Paris civil time.
///
/// Syntax: rules separated by `;`, each rule days then time ranges:
/// `mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00`. Days are `mo tu we th fr
/// sa su` (or `lu ma me je ve sa di`), as a list (`mo,we,fr`) or a range
/// (`mo-sa`, `sa-mo` wraps); `off` closes them. A later rule replaces the
/// hours of the days it names (`mo-sa 07:00-19:30; sa 07:00-12:00`). A range
/// ending before it starts runs past midnight (`18:00-02:00`). Empty or
/// `24/7`: always open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpeningHours {
    /// Per weekday (0 = Monday), minute ranges `[start, end)` from that
    /// day's midnight; `end` beyond 1440 runs into the next day.
    days: Option<[Vec<(u16, u16)>; 7]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpeningHoursError {
    #[error("opening hours longer than {OPENING_HOURS_CHARS_MAX} characters")]
    TooLong,
    #[error("unknown day {0:?}: use mo tu we th fr sa su (or lu ma me je ve sa di)")]
    Day(String),
    #[error("bad time range {0:?}: write it like 07:00-19:30")]
    Range(String),
    #[error("a rule is days then hours, like \"mo-sa 07:00-19:30\": {0:?}")]
    Rule(String),
    #[error("more than {RANGES_PER_DAY_MAX} time ranges on one day")]
    TooManyRanges,
}

impl OpeningHours {
    pub fn always() -> Self {
        Self { days: None }
    }

    pub fn parse(text: &str) -> Result<Self, OpeningHoursError> {
        if text.chars().count() > OPENING_HOURS_CHARS_MAX {
            return Err(OpeningHoursError::TooLong);
        }
        let text = text.trim().to_ascii_lowercase();
        if text.is_empty() || text == "24/7" {
            return Ok(Self::always());
        }
        let mut days: [Vec<(u16, u16)>; 7] = Default::default();
        for rule in text.split(';').map(str::trim).filter(|r| !r.is_empty()) {
            let (day_part, hours_part) = rule
                .split_once(char::is_whitespace)
                .ok_or_else(|| OpeningHoursError::Rule(rule.to_string()))?;
            let named = parse_days(day_part)?;
            let hours_part = hours_part.trim();
            let ranges = if hours_part == "off" || hours_part == "closed" {
                Vec::new()
            } else {
                hours_part
                    .split(',')
                    .map(|r| parse_range(r.trim()))
                    .collect::<Result<Vec<_>, _>>()?
            };
            if ranges.len() > RANGES_PER_DAY_MAX {
                return Err(OpeningHoursError::TooManyRanges);
            }
            for (d, slot) in days.iter_mut().enumerate() {
                if named[d] {
                    slot.clone_from(&ranges);
                }
            }
        }
        Ok(Self { days: Some(days) })
    }

    /// The week in words, consecutive days with the same hours together:
    /// « du lundi au samedi : 7 h 00 – 19 h 30 ; dimanche : fermé ».
    pub fn in_words(&self, french: bool) -> String {
        const FR: [&str; 7] = [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ];
        const EN: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        let names = if french { FR } else { EN };
        let Some(days) = &self.days else {
            return if french {
                "tous les jours, jour et nuit"
            } else {
                "every day, day and night"
            }
            .to_string();
        };
        let hm = |m: u16| {
            let m = m % MINUTES_PER_DAY;
            if french {
                format!("{} h {:02}", m / 60, m % 60)
            } else {
                format!("{:02}:{:02}", m / 60, m % 60)
            }
        };
        let mut parts = Vec::new();
        let mut d = 0;
        while d < 7 {
            let mut end = d;
            while end + 1 < 7 && days[end + 1] == days[d] {
                end += 1;
            }
            let when = match (end - d, french) {
                (0, _) => names[d].to_string(),
                (1, true) => format!("{} et {}", names[d], names[end]),
                (1, false) => format!("{} and {}", names[d], names[end]),
                (_, true) => format!("du {} au {}", names[d], names[end]),
                (_, false) => format!("{} to {}", names[d], names[end]),
            };
            let hours = if days[d].is_empty() {
                if french { "fermé" } else { "closed" }.to_string()
            } else {
                days[d]
                    .iter()
                    .map(|&(s, e)| format!("{} – {}", hm(s), hm(e)))
                    .collect::<Vec<_>>()
                    .join(if french { " et " } else { " and " })
            };
            parts.push(
                format!("{when} : {hours}").replace(" : ", if french { " : " } else { ": " }),
            );
            d = end + 1;
        }
        parts.join(if french { " ; " } else { "; " })
    }

    /// Whether the shop is open at this civil time.
    pub fn is_open(&self, t: &CivilTime) -> bool {
        let Some(days) = &self.days else {
            return true;
        };
        let day = t.weekday as usize % 7;
        let minute = t.minute_of_day() as u16;
        let today = days[day].iter().any(|&(s, e)| s <= minute && minute < e);
        // Yesterday's ranges that ran past midnight.
        let yesterday = days[(day + 6) % 7]
            .iter()
            .any(|&(_, e)| e > MINUTES_PER_DAY && minute + MINUTES_PER_DAY < e);
        today || yesterday
    }
}

fn day_index(name: &str) -> Result<usize, OpeningHoursError> {
    DAY_NAMES
        .iter()
        .position(|names| names.contains(&name))
        .ok_or_else(|| OpeningHoursError::Day(name.to_string()))
}

fn parse_days(text: &str) -> Result<[bool; 7], OpeningHoursError> {
    let mut named = [false; 7];
    for item in text.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day_index(a)?, day_index(b)?);
                let mut d = a;
                loop {
                    named[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => named[day_index(item)?] = true,
        }
    }
    Ok(named)
}

fn parse_minute(text: &str) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= MINUTES_PER_DAY).then_some(h * 60 + m)
}

fn parse_range(text: &str) -> Result<(u16, u16), OpeningHoursError> {
    let bad = || OpeningHoursError::Range(text.to_string());
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        parse_minute(a.trim()).ok_or_else(bad)?,
        parse_minute(b.trim()).ok_or_else(bad)?,
    );
    match start.cmp(&end) {
        std::cmp::Ordering::Less => Ok((start, end)),
        std::cmp::Ordering::Greater if start < MINUTES_PER_DAY => {
            Ok((start, end + MINUTES_PER_DAY))
        }
        _ => Err(bad()),
    }
}

/// The Region's supervision thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How often boxes are told to send a heartbeat.
    pub heartbeat_interval_ms: i64,
    /// Missed intervals after which a box is declared offline.
    pub offline_after_intervals: u32,
    /// Below this charge the battery is flagged.
    pub battery_low_pct: u8,
    /// How often each box runs its silent end-to-end test.
    pub test_period_ms: i64,
    /// Grace after the period before the shop is flagged "not ready".
    pub test_slack_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 60_000,
            offline_after_intervals: 3,
            battery_low_pct: 20,
            test_period_ms: 7 * 24 * 3_600_000,
            test_slack_ms: 24 * 3_600_000,
        }
    }
}

impl Limits {
    /// Silence after which a box is offline.
    pub fn offline_after_ms(&self) -> i64 {
        self.heartbeat_interval_ms
            .saturating_mul(i64::from(self.offline_after_intervals))
    }
}

/// What the desk sees of a box's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Enrolled but no heartbeat ever received.
    NeverSeen,
    Online,
    Offline,
}

/// A box's liveness at `now`. Silence is counted from `watching_since` at
/// the earliest (when the hub started): a hub that was down for an hour does
/// not declare the whole fleet offline the moment it comes back.
pub fn liveness(
    last_seen: Option<Timestamp>,
    watching_since: Timestamp,
    now: Timestamp,
    limits: &Limits,
) -> Liveness {
    match last_seen {
        None => Liveness::NeverSeen,
        Some(seen) if now.ms_since(seen.max(watching_since)) >= limits.offline_after_ms() => {
            Liveness::Offline
        }
        Some(_) => Liveness::Online,
    }
}

/// What the hub remembers of a box between passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watch {
    /// When the box was declared offline; `None` while online.
    pub offline_since: Option<Timestamp>,
    /// What the holder was last told: that the box is offline.
    pub holder_told_offline: bool,
}

/// What a supervision pass does for one box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Log it for the desk: silent since `last_seen`.
    DeclaredOffline { last_seen: Timestamp },
    /// Log it for the desk: a heartbeat came after the declaration.
    BackOnline,
    /// SMS the holder: « ne répond plus depuis … ».
    TellHolderOffline { last_seen: Timestamp },
    /// SMS the holder: « de nouveau en ligne ».
    TellHolderBack,
}

/// One box's supervision at `now`, given its last heartbeat and whether its
/// shop is open. Returns the new watch and what to do.
pub fn supervise(
    watch: Watch,
    last_seen: Timestamp,
    watching_since: Timestamp,
    now: Timestamp,
    shop_open: bool,
    limits: &Limits,
) -> (Watch, Vec<Effect>) {
    let mut w = watch;
    let mut effects = Vec::new();
    match w.offline_since {
        None => {
            if liveness(Some(last_seen), watching_since, now, limits) == Liveness::Offline {
                w.offline_since = Some(now);
                effects.push(Effect::DeclaredOffline { last_seen });
            }
        }
        // Only a heartbeat received after the declaration brings it back
        // (not the restart grace, which is no news from the box).
        Some(since) if last_seen > since => {
            w.offline_since = None;
            effects.push(Effect::BackOnline);
        }
        Some(_) => {}
    }
    let offline = w.offline_since.is_some();
    if shop_open && offline != w.holder_told_offline {
        effects.push(if offline {
            Effect::TellHolderOffline { last_seen }
        } else {
            Effect::TellHolderBack
        });
        w.holder_told_offline = offline;
    }
    (w, effects)
}

/// The modem's state as supervision judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Registered,
    NoSim,
    /// Searching, denied, or no modem answering.
    NotRegistered,
}

/// Something the desk should look at on a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    LowBattery,
    OnBattery,
    NoSim,
    NotRegistered,
    /// No successful silent test within the period and its slack.
    NotReady,
    /// The box's own clock is more than [`BOX_CLOCK_OFF_MS_MAX`] from the
    /// hub's (no network time at boot): it signs with the hub's time, but
    /// someone should look at it.
    ClockOff,
}

/// A box's clock further than this from the hub's is flagged: beyond
/// drift and latency, and before the ±5 min signature window.
pub const BOX_CLOCK_OFF_MS_MAX: i64 = 120_000;

/// Whether the shop's last successful end-to-end test is recent enough.
pub fn ready(last_test_ok_at: Option<Timestamp>, now: Timestamp, limits: &Limits) -> bool {
    last_test_ok_at.is_some_and(|t| {
        now.ms_since(t) <= limits.test_period_ms.saturating_add(limits.test_slack_ms)
    })
}

/// A box's health as its last heartbeat told it, for [`flags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub battery_pct: Option<u8>,
    pub on_mains: bool,
    pub network: Network,
    /// How far the box's clock was ahead of the hub's in its last
    /// heartbeat (negative: behind).
    pub box_clock_ahead_ms: i64,
}

/// The flags of a box (`reported`: `None` if it never sent a heartbeat).
pub fn flags(
    reported: Option<&Reported>,
    last_test_ok_at: Option<Timestamp>,
    now: Timestamp,
    limits: &Limits,
) -> Vec<Flag> {
    let mut out = Vec::new();
    if let Some(r) = reported {
        if r.battery_pct.is_some_and(|p| p < limits.battery_low_pct) {
            out.push(Flag::LowBattery);
        }
        if !r.on_mains {
            out.push(Flag::OnBattery);
        }
        match r.network {
            Network::Registered => {}
            Network::NoSim => out.push(Flag::NoSim),
            Network::NotRegistered => out.push(Flag::NotRegistered),
        }
        if r.box_clock_ahead_ms.abs() > BOX_CLOCK_OFF_MS_MAX {
            out.push(Flag::ClockOff);
        }
    }
    if !ready(last_test_ok_at, now, limits) {
        out.push(Flag::NotReady);
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn opening_hours_read_as_words() {
        let h = OpeningHours::parse("mo-sa 07:00-19:30; sa 07:00-12:00").expect("hours");
        assert_eq!(
            h.in_words(true),
            "du lundi au vendredi : 7 h 00 – 19 h 30 ; samedi : 7 h 00 – 12 h 00 ; dimanche : fermé"
        );
        assert_eq!(
            h.in_words(false),
            "Monday to Friday: 07:00 – 19:30; Saturday: 07:00 – 12:00; Sunday: closed"
        );
        let split = OpeningHours::parse("mo,tu 08:00-12:00,14:00-19:00").expect("hours");
        assert!(
            split
                .in_words(true)
                .starts_with("lundi et mardi : 8 h 00 – 12 h 00 et 14 h 00 – 19 h 00"),
            "{}",
            split.in_words(true)
        );
        assert_eq!(
            OpeningHours::always().in_words(true),
            "tous les jours, jour et nuit"
        );
    }

    use super::*;
    use proptest::prelude::*;

    /// 2026-11-26 (a Thursday) 14h32 in Paris.
    const T0: Timestamp = Timestamp(1_795_699_920_000);
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn at(weekday: u32, hour: u32, minute: u32) -> CivilTime {
        CivilTime {
            year: 2026,
            month: 11,
            day: 23 + weekday,
            hour,
            minute,
            second: 0,
            weekday,
        }
    }

    #[test]
    fn opening_hours_table() {
        // (rule, weekday 0 = Monday, hour, minute, open?)
        let cases: &[(&str, u32, u32, u32, bool)] = &[
            ("", 6, 3, 0, true),
            ("24/7", 2, 23, 59, true),
            ("mo-sa 07:00-19:30", 0, 7, 0, true),
            ("mo-sa 07:00-19:30", 0, 6, 59, false),
            ("mo-sa 07:00-19:30", 5, 19, 29, true),
            ("mo-sa 07:00-19:30", 5, 19, 30, false),
            ("mo-sa 07:00-19:30", 6, 12, 0, false),
            ("Mo-Sa 07:00-19:30", 3, 14, 32, true),
            (
                "mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00",
                2,
                13,
                0,
                false,
            ),
            (
                "mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00",
                2,
                14,
                0,
                true,
            ),
            (
                "mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00",
                5,
                11,
                59,
                true,
            ),
            (
                "mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00",
                5,
                14,
                30,
                false,
            ),
            (
                "mo-fr 08:00-12:00,14:00-19:00; sa 08:00-12:00",
                6,
                10,
                0,
                false,
            ),
            // A later rule replaces the days it names.
            ("mo-sa 07:00-19:30; sa 07:00-12:00", 5, 15, 0, false),
            ("mo-sa 07:00-19:30; we off", 2, 10, 0, false),
            ("mo-sa 07:00-19:30; we off", 3, 10, 0, true),
            // Lists, French names, wrapping day ranges.
            ("mo,we,fr 09:00-12:00", 1, 10, 0, false),
            ("mo,we,fr 09:00-12:00", 4, 10, 0, true),
            ("lu-ve 09:00-18:00", 4, 17, 59, true),
            ("sa-mo 10:00-11:00", 6, 10, 30, true),
            ("sa-mo 10:00-11:00", 1, 10, 30, false),
            // Past midnight: Friday 18:00 to Saturday 02:00.
            ("fr 18:00-02:00", 4, 23, 0, true),
            ("fr 18:00-02:00", 5, 1, 59, true),
            ("fr 18:00-02:00", 5, 2, 0, false),
            ("fr 18:00-02:00", 4, 17, 0, false),
            ("su 06:00-24:00", 6, 23, 59, true),
            ("su 06:00-24:00", 0, 0, 0, false),
        ];
        for &(rule, weekday, hour, minute, open) in cases {
            let h = OpeningHours::parse(rule).expect(rule);
            assert_eq!(
                h.is_open(&at(weekday, hour, minute)),
                open,
                "{rule:?} on day {weekday} at {hour}:{minute:02}"
            );
        }
    }

    #[test]
    fn bad_opening_hours_are_named() {
        let cases: &[(&str, &str)] = &[
            ("mo-sx 07:00-19:30", "unknown day \"sx\""),
            ("mo-sa 7h-19h", "bad time range \"7h-19h\""),
            ("mo-sa 07:00-25:00", "bad time range"),
            ("mo-sa 07:00-07:00", "bad time range"),
            ("mo-sa 07:60-08:00", "bad time range"),
            ("mo-sa", "a rule is days then hours"),
            ("07:00-19:00", "a rule is days then hours"),
        ];
        for &(rule, needle) in cases {
            let e = OpeningHours::parse(rule).expect_err(rule);
            assert!(e.to_string().contains(needle), "{rule:?}: {e}");
        }
        let long = format!("mo {}", "08:00-09:00,".repeat(30));
        assert!(OpeningHours::parse(&long).is_err());
        let many = format!("mo {}", ["08:00-09:00"; 9].join(","));
        assert_eq!(
            OpeningHours::parse(&many),
            Err(OpeningHoursError::TooManyRanges)
        );
    }

    proptest! {
        /// Whatever is typed in the shop's file, parsing never crashes, and
        /// what parses answers for every minute of the week.
        #[test]
        fn parsing_never_crashes(text in "\\PC{0,80}", day in 0u32..7, h in 0u32..24, m in 0u32..60) {
            if let Ok(hours) = OpeningHours::parse(&text) {
                let _ = hours.is_open(&at(day, h, m));
            }
        }
    }

    #[test]
    fn liveness_counts_intervals_and_spares_a_restarted_hub() {
        let l = Limits::default();
        assert_eq!(liveness(None, T0, T0, &l), Liveness::NeverSeen);
        let seen = Some(T0);
        assert_eq!(
            liveness(seen, T0, T0.plus_ms(2 * MIN), &l),
            Liveness::Online
        );
        assert_eq!(
            liveness(seen, T0, T0.plus_ms(3 * MIN - 1), &l),
            Liveness::Online
        );
        assert_eq!(
            liveness(seen, T0, T0.plus_ms(3 * MIN), &l),
            Liveness::Offline
        );
        // Last heard an hour before the hub restarted: online until the
        // hub itself has watched for three intervals.
        let restarted = T0.plus_ms(HOUR);
        assert_eq!(
            liveness(seen, restarted, restarted.plus_ms(MIN), &l),
            Liveness::Online
        );
        assert_eq!(
            liveness(seen, restarted, restarted.plus_ms(3 * MIN), &l),
            Liveness::Offline
        );
    }

    /// Run `supervise` through a story: (minutes after T0, last heartbeat
    /// minutes after T0, shop open) → effects of each pass.
    fn story(steps: &[(i64, i64, bool)]) -> Vec<Vec<Effect>> {
        let l = Limits::default();
        let mut w = Watch::default();
        steps
            .iter()
            .map(|&(now, seen, open)| {
                let (next, fx) = supervise(
                    w,
                    T0.plus_ms(seen * MIN),
                    T0,
                    T0.plus_ms(now * MIN),
                    open,
                    &l,
                );
                w = next;
                fx
            })
            .collect()
    }

    #[test]
    fn offline_told_once_and_back_told_once() {
        let seen = T0;
        let fx = story(&[
            (2, 0, true),
            (3, 0, true),
            (4, 0, true),
            (60, 0, true),
            (61, 61, true),
            (62, 61, true),
        ]);
        assert_eq!(
            fx,
            vec![
                vec![],
                vec![
                    Effect::DeclaredOffline { last_seen: seen },
                    Effect::TellHolderOffline { last_seen: seen }
                ],
                vec![],
                vec![],
                vec![Effect::BackOnline, Effect::TellHolderBack],
                vec![],
            ]
        );
    }

    #[test]
    fn closed_shop_is_told_at_opening_or_not_at_all() {
        let seen = T0;
        // Offline while closed, still offline at opening: told then, once.
        let fx = story(&[
            (3, 0, false),
            (600, 0, false),
            (601, 0, true),
            (602, 0, true),
        ]);
        assert_eq!(
            fx,
            vec![
                vec![Effect::DeclaredOffline { last_seen: seen }],
                vec![],
                vec![Effect::TellHolderOffline { last_seen: seen }],
                vec![],
            ]
        );
        // Offline and back while closed: nobody is disturbed.
        let fx = story(&[(3, 0, false), (30, 30, false), (601, 600, true)]);
        assert_eq!(
            fx,
            vec![
                vec![Effect::DeclaredOffline { last_seen: seen }],
                vec![Effect::BackOnline],
                vec![],
            ]
        );
        // Told offline during the day, back at night: told at opening.
        let fx = story(&[(3, 0, true), (30, 30, false), (600, 599, true)]);
        assert_eq!(fx[1], vec![Effect::BackOnline]);
        assert_eq!(fx[2], vec![Effect::TellHolderBack]);
    }

    #[test]
    fn restart_grace_never_fakes_a_return() {
        let l = Limits::default();
        let declared = Watch {
            offline_since: Some(T0.plus_ms(3 * MIN)),
            holder_told_offline: true,
        };
        // The hub restarts an hour later; the box is still silent.
        let restarted = T0.plus_ms(HOUR);
        let (w, fx) = supervise(declared, T0, restarted, restarted.plus_ms(MIN), true, &l);
        assert_eq!((w, fx), (declared, vec![]));
    }

    #[test]
    fn flags_and_readiness() {
        let l = Limits::default();
        let good = Reported {
            battery_pct: Some(80),
            on_mains: true,
            network: Network::Registered,
            box_clock_ahead_ms: -BOX_CLOCK_OFF_MS_MAX,
        };
        let tested = Some(T0);
        assert_eq!(flags(Some(&good), tested, T0, &l), vec![]);
        let bad = Reported {
            battery_pct: Some(19),
            on_mains: false,
            network: Network::NoSim,
            box_clock_ahead_ms: -3 * 24 * HOUR,
        };
        assert_eq!(
            flags(Some(&bad), tested, T0, &l),
            vec![
                Flag::LowBattery,
                Flag::OnBattery,
                Flag::NoSim,
                Flag::ClockOff
            ]
        );
        let edge = Reported {
            battery_pct: Some(20),
            network: Network::NotRegistered,
            ..good
        };
        assert_eq!(
            flags(Some(&edge), tested, T0, &l),
            vec![Flag::NotRegistered]
        );
        // Ready for the period plus its slack, then not.
        let limit = l.test_period_ms + l.test_slack_ms;
        assert!(ready(tested, T0.plus_ms(limit), &l));
        assert!(!ready(tested, T0.plus_ms(limit + 1), &l));
        assert_eq!(flags(None, None, T0, &l), vec![Flag::NotReady]);
    }
}

//! Instants as milliseconds since the Unix epoch, and the civil time of
//! metropolitan France (Europe/Paris) for the texts people read.
//!
//! The hub stores and compares UTC instants only; local time is computed for
//! display by a pure function of the EU summer-time rule (last Sunday of March
//! 01:00 UTC to last Sunday of October 01:00 UTC), so the core needs no
//! time-zone database.

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

impl Timestamp {
    pub const fn from_ms(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn as_ms(self) -> i64 {
        self.0
    }
    pub const fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
    pub const fn plus_secs(self, secs: i64) -> Self {
        self.plus_ms(secs.saturating_mul(MS_PER_SECOND))
    }
    /// Milliseconds from `earlier` to `self`; negative if `earlier` is later.
    pub const fn ms_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Civil date and time in Europe/Paris.
    pub fn paris(self) -> CivilTime {
        let offset_hours = if is_eu_summer_time(self) { 2 } else { 1 };
        CivilTime::from_utc_ms(self.0 + offset_hours * MS_PER_HOUR)
    }

    /// RFC 3339 in UTC with millisecond precision, for logs and JSON.
    pub fn to_rfc3339(self) -> String {
        let c = CivilTime::from_utc_ms(self.0);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            self.0.rem_euclid(MS_PER_SECOND)
        )
    }
}

/// A broken-down civil time (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u32,
}

impl CivilTime {
    fn from_utc_ms(ms: i64) -> Self {
        let days = ms.div_euclid(MS_PER_DAY);
        let in_day = ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (3 when Monday is 0).
        let weekday = (days + 3).rem_euclid(7) as u32;
        Self {
            year,
            month,
            day,
            hour: (in_day / MS_PER_HOUR) as u32,
            minute: (in_day % MS_PER_HOUR / MS_PER_MINUTE) as u32,
            second: (in_day % MS_PER_MINUTE / MS_PER_SECOND) as u32,
            weekday,
        }
    }

    /// "14h32", the way a French SMS says a time.
    pub fn hour_minute_fr(&self) -> String {
        format!("{}h{:02}", self.hour, self.minute)
    }

    /// Minutes since local midnight.
    pub fn minute_of_day(&self) -> u32 {
        self.hour * 60 + self.minute
    }
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Day (since epoch) of the last Sunday of a 31-day month.
fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month, 31);
    let weekday = (last + 3).rem_euclid(7); // 6 = Sunday
    last - (weekday - 6).rem_euclid(7)
}

fn is_eu_summer_time(t: Timestamp) -> bool {
    let year = CivilTime::from_utc_ms(t.0).year;
    let start = last_sunday(year, 3) * MS_PER_DAY + MS_PER_HOUR;
    let end = last_sunday(year, 10) * MS_PER_DAY + MS_PER_HOUR;
    (start..end).contains(&t.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_in_paris() {
        // 2026-11-26T13:32:00Z is 14h32 in Paris (winter, UTC+1).
        let t = Timestamp(1_795_699_920_000);
        assert_eq!(t.to_rfc3339(), "2026-11-26T13:32:00.000Z");
        assert_eq!(t.paris().hour_minute_fr(), "14h32");
        assert_eq!(t.paris().weekday, 3, "a Thursday");
        // 2026-07-14T10:00:00Z is 12h00 in Paris (summer, UTC+2).
        let t = Timestamp(1_784_023_200_000);
        assert_eq!(t.paris().hour_minute_fr(), "12h00");
    }

    #[test]
    fn summer_time_switches_at_one_utc_on_the_last_sunday() {
        // 2026-03-29 is the last Sunday of March; 2026-10-25 of October.
        let march = days_from_civil(2026, 3, 29) * MS_PER_DAY + MS_PER_HOUR;
        assert!(!is_eu_summer_time(Timestamp(march - 1)));
        assert!(is_eu_summer_time(Timestamp(march)));
        let october = days_from_civil(2026, 10, 25) * MS_PER_DAY + MS_PER_HOUR;
        assert!(is_eu_summer_time(Timestamp(october - 1)));
        assert!(!is_eu_summer_time(Timestamp(october)));
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}

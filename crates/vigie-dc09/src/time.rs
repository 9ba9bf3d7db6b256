//! The DC-09 timestamp (`_HH:MM:SS,MM-DD-YYYY`, UTC) and the receiver's
//! window. Pure: the caller reads the clock and passes `now` in Unix seconds.

use std::fmt;

/// Bytes of `HH:MM:SS,MM-DD-YYYY` (after the `_`).
pub const TIMESTAMP_BYTES: usize = 19;

/// How far a message's time may be behind the receiver's clock (DC-09 5.5.1.9:
/// siadc09 `MINDIFF = -40`, pysiaalarm `allowed_timeband=(40, 20)`).
pub const WINDOW_BEFORE_S_DEFAULT: u32 = 40;
/// How far a message's time may be ahead of the receiver's clock (same sources).
pub const WINDOW_AFTER_S_DEFAULT: u32 = 20;

/// A date and time in UTC, to the second, years 0000–9999 (four digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// Why a timestamp is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("a timestamp is HH:MM:SS,MM-DD-YYYY (19 bytes)")]
    Shape,
    #[error("no such date or time: {0}")]
    OutOfRange(String),
}

impl Timestamp {
    /// A checked date and time (the day must exist in that month and year).
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, TimestampError> {
        let ok = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60;
        if !ok {
            return Err(TimestampError::OutOfRange(format!(
                "{hour:02}:{minute:02}:{second:02},{month:02}-{day:02}-{year:04}"
            )));
        }
        Ok(Timestamp {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The timestamp of a Unix time; `None` outside years 0000–9999.
    pub fn from_unix_s(unix_s: i64) -> Option<Self> {
        let days = unix_s.div_euclid(86_400);
        let secs = unix_s.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year).ok().filter(|y| *y <= 9999)?;
        let hour = u8::try_from(secs / 3600).ok()?;
        let minute = u8::try_from(secs % 3600 / 60).ok()?;
        let second = u8::try_from(secs % 60).ok()?;
        Timestamp::new(year, month, day, hour, minute, second).ok()
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_s(&self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Parses `HH:MM:SS,MM-DD-YYYY` (without the leading `_`).
    pub fn parse(bytes: &[u8]) -> Result<Self, TimestampError> {
        let shape = b"00:00:00,00-00-0000";
        if bytes.len() != TIMESTAMP_BYTES {
            return Err(TimestampError::Shape);
        }
        for (&b, &s) in bytes.iter().zip(shape) {
            let fits = if s == b'0' {
                b.is_ascii_digit()
            } else {
                b == s
            };
            if !fits {
                return Err(TimestampError::Shape);
            }
        }
        let num = |from: usize, to: usize| {
            bytes[from..to]
                .iter()
                .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'))
        };
        let two = |from: usize| u8::try_from(num(from, from + 2)).unwrap_or(u8::MAX);
        Timestamp::new(num(15, 19), two(9), two(12), two(0), two(3), two(6))
    }

    /// `HH:MM:SS,MM-DD-YYYY` (without the leading `_`).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}:{:02},{:02}-{:02}-{:04}",
            self.hour, self.minute, self.second, self.month, self.day, self.year
        )
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u8::try_from(month).unwrap_or(0),
        u8::try_from(day).unwrap_or(0),
    )
}

/// The accepted spread between a message's time and the receiver's clock:
/// message time − receiver time ∈ [−`before_s`, +`after_s`]. A message outside
/// it gets a NAK carrying the receiver's time (DC-09 5.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    pub before_s: u32,
    pub after_s: u32,
}

impl Default for TimeWindow {
    fn default() -> Self {
        TimeWindow {
            before_s: WINDOW_BEFORE_S_DEFAULT,
            after_s: WINDOW_AFTER_S_DEFAULT,
        }
    }
}

/// A message time outside the window: `offset_s` is message time minus the
/// receiver's time (negative: the message is late or the panel's clock slow).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message time is {offset_s} s from the receiver's clock, outside the window")]
pub struct OutsideWindow {
    pub offset_s: i64,
}

impl TimeWindow {
    /// Whether `sent` is inside the window around `now_unix_s`.
    pub fn check(&self, sent: Timestamp, now_unix_s: i64) -> Result<(), OutsideWindow> {
        let offset_s = sent.unix_s() - now_unix_s;
        if offset_s < -i64::from(self.before_s) || offset_s > i64::from(self.after_s) {
            Err(OutsideWindow { offset_s })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        let t = Timestamp::parse(b"21:33:14,12-01-2026").expect("valid");
        assert_eq!(t.unix_s(), 1_796_160_794);
        assert_eq!(
            Timestamp::from_unix_s(0).map(|t| t.to_string()).as_deref(),
            Some("00:00:00,01-01-1970")
        );
        let leap = Timestamp::parse(b"23:59:59,02-29-2024").expect("leap day");
        assert_eq!(Timestamp::from_unix_s(leap.unix_s()), Some(leap));
    }

    #[test]
    fn bad_timestamps_are_refused() {
        for bad in [
            &b"21:33:14,02-30-2026"[..],
            b"24:00:00,01-01-2026",
            b"12:60:00,01-01-2026",
            b"12:00:60,01-01-2026",
            b"12:00:00,13-01-2026",
            b"12:00:00,00-01-2026",
            b"12:00:00,02-29-2100",
        ] {
            assert!(
                matches!(Timestamp::parse(bad), Err(TimestampError::OutOfRange(_))),
                "{bad:?}"
            );
        }
        for bad in [
            &b"21:33:14 12-01-2026"[..],
            b"21:33:14,12-01-26",
            b"2a:33:14,12-01-2026",
            b"",
        ] {
            assert_eq!(Timestamp::parse(bad), Err(TimestampError::Shape), "{bad:?}");
        }
    }

    #[test]
    fn window_edges() {
        let now = 1_796_160_794;
        let w = TimeWindow::default();
        let at = |d: i64| Timestamp::from_unix_s(now + d).expect("in range");
        assert!(w.check(at(-40), now).is_ok());
        assert!(w.check(at(20), now).is_ok());
        assert_eq!(w.check(at(-41), now), Err(OutsideWindow { offset_s: -41 }));
        assert_eq!(w.check(at(21), now), Err(OutsideWindow { offset_s: 21 }));
    }

    proptest! {
        #[test]
        fn unix_and_text_round_trip(unix_s in -62_167_219_200i64..253_402_300_799) {
            let t = Timestamp::from_unix_s(unix_s).expect("years 0000-9999");
            prop_assert_eq!(t.unix_s(), unix_s);
            prop_assert_eq!(Timestamp::parse(&t.to_bytes()), Ok(t));
        }
    }
}

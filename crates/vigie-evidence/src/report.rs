//! The verdict of [`crate::verify::verify_export`]: one line per check,
//! each ok, a warning or a failure, in French and in English, naming the
//! files it is about. An export is accepted when nothing failed; a
//! truncated recording is a warning.

use crate::chain::ChainEnd;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warning,
    Failure,
}

impl Status {
    /// ✔, ⚠ or ✘.
    pub fn symbol(self) -> char {
        match self {
            Self::Ok => '✔',
            Self::Warning => '⚠',
            Self::Failure => '✘',
        }
    }
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub status: Status,
    /// The files the check is about, the first being the one at fault.
    pub files: Vec<String>,
    pub fr: String,
    pub en: String,
}

/// A time given by a time-stamp token, as the injected TSA check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeStamp {
    /// When the TSA stamped, ms since the Unix epoch.
    pub time_ms: u64,
    /// The TSA's stated accuracy, ms.
    pub accuracy_ms: Option<u64>,
    /// The TSA's name, when the token gives it.
    pub authority: Option<String>,
}

/// What the export is about, when its records could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub recording: String,
    pub alarm: String,
    pub device: String,
    pub chunks: u64,
    pub audio_bytes: u64,
    /// Capture start of the first chunk and end of the last, box wall clock.
    pub wall_ms: (u64, u64),
    pub end: Option<ChainEnd>,
    pub custody_events: u64,
    pub checkpoints: u64,
    /// The trusted time by which every record is proven to exist: the
    /// latest token time among the checkpoints that the records' proofs use.
    pub proven_by_ms: Option<u64>,
}

/// The SHA-256 fingerprints of the export's three keys (lowercase hex),
/// for a reader to compare with the ones the Region publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// `keys/device.pem`: SHA-256 of the DER SubjectPublicKeyInfo.
    pub device: Option<String>,
    /// `keys/hub.pem`: the same.
    pub hub: Option<String>,
    /// The last certificate of `keys/tsa-chain.pem`: SHA-256 of its DER.
    pub tsa_root: Option<String>,
}

/// Every check made on an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
    pub summary: Option<Summary>,
    pub fingerprints: Fingerprints,
    /// The Region whose trust file the hub key and the TSA root were
    /// checked against; `None` when no trust file was given (not anchored).
    pub anchored_by: Option<String>,
}

impl Report {
    /// True when no check failed (warnings allowed).
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Failure)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Failure)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Warning)
    }

    /// Whether some failure names `path`.
    pub fn fails_on(&self, path: &str) -> bool {
        self.failures().any(|c| c.files.iter().any(|f| f == path))
    }

    pub(crate) fn push(&mut self, status: Status, files: &[&str], fr: String, en: String) {
        self.checks.push(Check {
            status,
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            fr,
            en,
        });
    }

    pub(crate) fn ok_line(&mut self, files: &[&str], fr: String, en: String) {
        self.push(Status::Ok, files, fr, en);
    }

    pub(crate) fn warn(&mut self, files: &[&str], fr: String, en: String) {
        self.push(Status::Warning, files, fr, en);
    }

    pub(crate) fn fail(&mut self, files: &[&str], fr: String, en: String) {
        self.push(Status::Failure, files, fr, en);
    }

    /// Number of failures.
    pub fn failure_count(&self) -> usize {
        self.failures().count()
    }
}

/// `n` and the French noun: singular for 0 and 1.
pub fn plural_fr(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n <= 1 { one } else { many })
}

/// `n` and the English noun: singular for 1 only.
pub fn plural_en(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration in days, hours and minutes (seconds under a minute), French.
pub fn duration_fr(ms: u64) -> String {
    duration(
        ms,
        plural_fr,
        [
            "jour", "jours", "heure", "heures", "minute", "minutes", "seconde", "secondes",
        ],
    )
}

/// A duration in days, hours and minutes (seconds under a minute), English.
pub fn duration_en(ms: u64) -> String {
    duration(
        ms,
        plural_en,
        [
            "day", "days", "hour", "hours", "minute", "minutes", "second", "seconds",
        ],
    )
}

fn duration(ms: u64, plural: fn(u64, &str, &str) -> String, words: [&str; 8]) -> String {
    let s = ms / 1000;
    if s < 60 {
        return plural(s, words[6], words[7]);
    }
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    [(d, 0), (h, 2), (m, 4)]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, w)| plural(n, words[w], words[w + 1]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2026-11-26 08:00:00.000 UTC` for ms since the Unix epoch.
pub fn utc_text(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc_text(1_795_699_920_123), "2026-11-26 13:32:00.123 UTC");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
    }

    #[test]
    fn durations_in_days_hours_minutes() {
        assert_eq!(duration_en(59_999), "59 seconds");
        assert_eq!(duration_fr(1_000), "1 seconde");
        assert_eq!(duration_fr(0), "0 seconde");
        assert_eq!(duration_en(0), "0 seconds");
        assert_eq!(duration_en(3_599_000), "59 minutes");
        assert_eq!(duration_fr(3_600_000), "1 heure");
        assert_eq!(duration_en(90_061_000), "1 day 1 hour 1 minute");
        assert_eq!(duration_fr(10 * 365 * 86_400_000), "3650 jours");
        assert_eq!(
            duration_fr(2 * 86_400_000 + 7_200_000 + 120_000),
            "2 jours 2 heures 2 minutes"
        );
    }
}

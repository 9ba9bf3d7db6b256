//! `vigie verify EXPORT.zip`: checks an evidence export offline, prints the
//! report in French then in English (one line per check, ✔ ⚠ ✘), and exits
//! non-zero on any failure. A truncated recording is a warning: the exit
//! status stays 0. The checks are `vigie_evidence::verify`; time-stamp
//! tokens are checked by `vigie_evidence::tsa::verify_token`.

use anyhow::Context as _;
use std::io::Read as _;
use std::path::Path;
use vigie_evidence::report::{Report, Status, utc_text};

/// Largest export file read, in bytes: the evidence library's own bound.
pub const EXPORT_FILE_BYTES_MAX: u64 = vigie_evidence::export::EXPORT_BYTES_MAX;

/// Verifies the export at `path` and prints the report; `Ok(true)` when
/// nothing failed.
pub fn run(path: &Path) -> anyhow::Result<bool> {
    let zip = read_bounded(path, EXPORT_FILE_BYTES_MAX)?;
    let report =
        vigie_evidence::verify::verify_export(&zip, &vigie_evidence::verify::rfc3161_check);
    print!("{}", render(&report, &path.display().to_string()));
    Ok(report.ok())
}

fn read_bounded(path: &Path, bytes_max: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {} / impossible d'ouvrir", path.display()))?;
    let mut bytes = Vec::new();
    file.take(bytes_max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {} / impossible de lire", path.display()))?;
    if bytes.len() as u64 > bytes_max {
        anyhow::bail!(
            "{} is larger than {bytes_max} bytes / fichier trop volumineux",
            path.display()
        );
    }
    Ok(bytes)
}

/// `n` and the noun; French takes the singular for 0 and 1, English for 1 only.
fn plural(n: usize, one: &str, many: &str, zero_is_singular: bool) -> String {
    let singular = n == 1 || (n == 0 && zero_is_singular);
    format!("{n} {}", if singular { one } else { many })
}

/// The printed report.
pub fn render(report: &Report, export: &str) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "Vigie — vérification de l'export / export verification: {export}"
    ));
    if let Some(s) = &report.summary {
        line(format!("Enregistrement / recording: {}", s.recording));
        line(format!("Alarme / alarm: {}", s.alarm));
        line(format!("Boîtier / device: {}", s.device));
        line(format!(
            "Morceaux / chunks: {} ({} octets / bytes), {} → {} (horloge du boîtier / box clock)",
            s.chunks,
            s.audio_bytes,
            utc_text(s.wall_ms.0),
            utc_text(s.wall_ms.1)
        ));
        if let Some(t) = s.proven_by_ms {
            line(format!(
                "Existait au plus tard le / existed by: {} (horodatage RFC 3161 / trusted time)",
                utc_text(t)
            ));
        }
    }
    let failures = report.failures().count();
    let warnings = report.warnings().count();
    line(String::new());
    line("Français".into());
    for c in &report.checks {
        line(format!("{} {}", c.status.symbol(), c.fr));
    }
    line(String::new());
    line("English".into());
    for c in &report.checks {
        line(format!("{} {}", c.status.symbol(), c.en));
    }
    line(String::new());
    if report.ok() {
        line(format!(
            "{} Résultat : export VÉRIFIÉ ({})",
            Status::Ok.symbol(),
            plural(warnings, "avertissement", "avertissements", true)
        ));
        line(format!(
            "{} Result: export VERIFIED ({})",
            Status::Ok.symbol(),
            plural(warnings, "warning", "warnings", false)
        ));
    } else {
        line(format!(
            "{} Résultat : ÉCHEC ({}, {})",
            Status::Failure.symbol(),
            plural(failures, "échec", "échecs", true),
            plural(warnings, "avertissement", "avertissements", true)
        ));
        line(format!(
            "{} Result: FAILED ({}, {})",
            Status::Failure.symbol(),
            plural(failures, "failure", "failures", false),
            plural(warnings, "warning", "warnings", false)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigie_evidence::report::Check;

    fn check(status: Status, fr: &str, en: &str) -> Check {
        Check {
            status,
            files: vec![],
            fr: fr.into(),
            en: en.into(),
        }
    }

    #[test]
    fn french_then_english_one_line_per_check() {
        let report = Report {
            checks: vec![
                check(Status::Ok, "records/ : 3 morceaux", "records/: 3 chunks"),
                check(
                    Status::Warning,
                    "enregistrement tronqué",
                    "truncated recording",
                ),
                check(
                    Status::Failure,
                    "records/000002.txt : prev ne correspond pas",
                    "records/000002.txt: prev does not match",
                ),
            ],
            summary: None,
        };
        let text = render(&report, "e.zip");
        let expected = "\
Vigie — vérification de l'export / export verification: e.zip

Français
✔ records/ : 3 morceaux
⚠ enregistrement tronqué
✘ records/000002.txt : prev ne correspond pas

English
✔ records/: 3 chunks
⚠ truncated recording
✘ records/000002.txt: prev does not match

✘ Résultat : ÉCHEC (1 échec, 1 avertissement)
✘ Result: FAILED (1 failure, 1 warning)
";
        assert_eq!(text, expected);
    }

    #[test]
    fn warnings_alone_verify() {
        let report = Report {
            checks: vec![check(Status::Warning, "tronqué", "truncated")],
            summary: None,
        };
        assert!(report.ok());
        assert!(render(&report, "e.zip").ends_with("✔ Result: export VERIFIED (1 warning)\n"));
    }

    #[test]
    fn reading_is_bounded() {
        let dir = std::env::temp_dir().join(format!("vigie-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("big.zip");
        std::fs::write(&path, [0u8; 100]).expect("write");
        assert!(read_bounded(&path, 99).is_err());
        assert_eq!(read_bounded(&path, 100).expect("read").len(), 100);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn not_a_zip_fails_with_a_message() {
        let report = vigie_evidence::verify::verify_export(
            b"not a zip",
            &vigie_evidence::verify::rfc3161_check,
        );
        assert!(!report.ok());
        assert!(render(&report, "x").contains("✘ the export cannot be read"));
    }
}

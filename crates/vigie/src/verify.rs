//! `vigie verify [--trust FILE] EXPORT.zip`: checks an evidence export
//! offline, prints the report in French then in English (one line per
//! check, ✔ ⚠ ✘, the three keys' fingerprints), and exits:
//!
//! - 0: verified, and anchored in the Region's trust file;
//! - 1: a check failed (anchored or not), or the trust file is unreadable;
//! - 3: verified, but not anchored: no trust file was given or found, so
//!   the export's own keys were used; compare the printed fingerprints
//!   with the Region's before relying on it.
//!
//! The trust file is `--trust FILE`, else `$VIGIE_TRUST`, else
//! [`DEFAULT_TRUST_PATH`] if it exists. A truncated recording is a
//! warning. The checks are `vigie_evidence::verify`; time-stamp tokens are
//! checked by `vigie_evidence::tsa::verify_token`.

use anyhow::Context as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use vigie_evidence::report::{Report, Status, utc_text};
use vigie_evidence::trust::{Anchors, Trust};

/// Largest export file read, in bytes: the evidence library's own bound.
pub const EXPORT_FILE_BYTES_MAX: u64 = vigie_evidence::export::EXPORT_BYTES_MAX;

/// Where the Region's trust file is looked for when `--trust` is not given.
pub const DEFAULT_TRUST_PATH: &str = "/etc/vigie/trust.txt";

/// The exit status of a verified export that no trust file anchored.
pub const EXIT_NOT_ANCHORED: i32 = 3;

/// The trust file to use: `--trust`, `$VIGIE_TRUST`, or the default path if it exists.
fn trust_path(given: Option<&Path>) -> Option<PathBuf> {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("VIGIE_TRUST").map(PathBuf::from))
        .or_else(|| Some(PathBuf::from(DEFAULT_TRUST_PATH)).filter(|p| p.exists()))
}

/// Verifies the export at `path` and prints the report; the exit status.
pub fn run(path: &Path, trust: Option<&Path>) -> anyhow::Result<i32> {
    let trust = match trust_path(trust) {
        Some(t) => {
            let bytes = read_bounded(&t, vigie_evidence::trust::TRUST_BYTES_MAX as u64)?;
            Some(Trust::parse(&bytes).with_context(|| {
                format!(
                    "{} : pas un fichier de confiance / not a trust file",
                    t.display()
                )
            })?)
        }
        None => None,
    };
    let anchors = trust
        .as_ref()
        .map_or(Anchors::NotAnchored, Anchors::Anchored);
    let meta = std::fs::metadata(path)
        .with_context(|| format!("impossible d'ouvrir / cannot open {}", path.display()))?;
    if meta.len() > EXPORT_FILE_BYTES_MAX {
        anyhow::bail!(
            "{} : plus de {EXPORT_FILE_BYTES_MAX} octets, refusé avant lecture / larger than {EXPORT_FILE_BYTES_MAX} bytes, refused before reading",
            path.display()
        );
    }
    let zip = read_bounded(path, EXPORT_FILE_BYTES_MAX)?;
    let report = vigie_evidence::verify::verify_export_anchored(
        &zip,
        &vigie_evidence::verify::rfc3161_check,
        anchors,
    );
    print!("{}", render(&report, &path.display().to_string()));
    Ok(if !report.ok() {
        1
    } else if report.anchored_by.is_none() {
        EXIT_NOT_ANCHORED
    } else {
        0
    })
}

fn read_bounded(path: &Path, bytes_max: u64) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("impossible d'ouvrir / cannot open {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(bytes_max + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("impossible de lire / cannot read {}", path.display()))?;
    if bytes.len() as u64 > bytes_max {
        anyhow::bail!(
            "{} : plus de {bytes_max} octets / larger than {bytes_max} bytes",
            path.display()
        );
    }
    Ok(bytes)
}

/// `n` and the noun; French takes the singular for 0 and 1, English for 1 only.
fn plural(n: usize, one: &str, many: &str, french: bool) -> String {
    if french {
        vigie_evidence::report::plural_fr(n as u64, one, many)
    } else {
        vigie_evidence::report::plural_en(n as u64, one, many)
    }
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
    let f = &report.fingerprints;
    let fp = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    line(format!(
        "Empreinte SHA-256 / SHA-256 fingerprint, keys/device.pem: {}",
        fp(&f.device)
    ));
    line(format!(
        "Empreinte SHA-256 / SHA-256 fingerprint, keys/hub.pem: {}",
        fp(&f.hub)
    ));
    line(format!(
        "Empreinte SHA-256 / SHA-256 fingerprint, keys/tsa-chain.pem (racine / root): {}",
        fp(&f.tsa_root)
    ));
    match &report.anchored_by {
        Some(region) => line(format!(
            "Ancrage / trust anchors: fichier de confiance de la Région / the Region's trust file: {region}"
        )),
        None => line(
            "⚠ NON ANCRÉ / NOT ANCHORED: comparer ces empreintes avec celles que publie la Région / \
             compare these fingerprints with the ones the Region publishes (--trust FILE)"
                .into(),
        ),
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
    if report.ok() && report.anchored_by.is_none() {
        line(format!(
            "{} Résultat : export cohérent mais NON ANCRÉ : rien ne dit que ses clés sont celles de la Région ({})",
            Status::Warning.symbol(),
            plural(warnings, "avertissement", "avertissements", true)
        ));
        line(format!(
            "{} Result: export consistent but NOT ANCHORED: nothing shows its keys are the Region's ({})",
            Status::Warning.symbol(),
            plural(warnings, "warning", "warnings", false)
        ));
    } else if report.ok() {
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
            ..Report::default()
        };
        let text = render(&report, "e.zip");
        let expected = "\
Vigie — vérification de l'export / export verification: e.zip
Empreinte SHA-256 / SHA-256 fingerprint, keys/device.pem: —
Empreinte SHA-256 / SHA-256 fingerprint, keys/hub.pem: —
Empreinte SHA-256 / SHA-256 fingerprint, keys/tsa-chain.pem (racine / root): —
⚠ NON ANCRÉ / NOT ANCHORED: comparer ces empreintes avec celles que publie la Région / compare these fingerprints with the ones the Region publishes (--trust FILE)

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
    fn warnings_alone_verify_and_unanchored_is_said_plainly() {
        let mut report = Report {
            checks: vec![check(Status::Warning, "tronqué", "truncated")],
            anchored_by: Some("Auvergne-Rhône-Alpes".into()),
            ..Report::default()
        };
        assert!(report.ok());
        assert!(render(&report, "e.zip").ends_with("✔ Result: export VERIFIED (1 warning)\n"));
        report.anchored_by = None;
        let text = render(&report, "e.zip");
        assert!(text.contains("⚠ NON ANCRÉ / NOT ANCHORED"), "{text}");
        assert!(
            text.ends_with("⚠ Result: export consistent but NOT ANCHORED: nothing shows its keys are the Region's (1 warning)\n"),
            "{text}"
        );
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

//! Whole forgeries, each internally consistent (every file re-signed with
//! the forger's own keys): new audio with a new device key, a new hub key
//! and a self-made TSA named like the real one; a token backdated a month
//! from a home-made CA; the real hub's export with its device key swapped.
//! Anchored in the Region's trust file, each fails naming the key at fault;
//! without a trust file, each is reported as not anchored, with
//! fingerprints that differ from the Region's.

use crate::golden::{self, FORGED_TSA_CHAIN_PEM, Spec, other_key, tsa_check};
use crate::mutation::describe;
use p256::ecdsa::SigningKey;
use vigie_evidence::export::{DEVICE_KEY, HUB_KEY, TSA_CHAIN};
use vigie_evidence::report::Report;
use vigie_evidence::trust::Anchors;
use vigie_evidence::verify::{verify_export, verify_export_anchored};

const MONTH_MS: i64 = 30 * 86_400_000;

fn fails_on(report: &Report, path: &str) -> bool {
    !report.ok() && report.fails_on(path)
}

/// The forgery verifies on its own terms, is flagged as not anchored, and
/// fails anchored naming every one of `faulty`.
fn assert_caught_only_by_anchors(forged: &Spec, faulty: &[&str]) {
    let zip = golden::build(forged).zip;
    let unanchored = verify_export(&zip, &tsa_check);
    assert!(
        unanchored.ok(),
        "a consistent forgery:\n{}",
        describe(&unanchored)
    );
    assert!(unanchored.anchored_by.is_none());
    let not_anchored: Vec<_> = unanchored
        .warnings()
        .filter(|w| w.en.starts_with("not anchored: ") && w.fr.starts_with("non ancré : "))
        .collect();
    assert_eq!(not_anchored.len(), 1, "{}", describe(&unanchored));
    // The fingerprints a clerk compares with the Region's are printed, and differ.
    let genuine = verify_export(&golden::build(&Spec::default()).zip, &tsa_check);
    for (path, got, real) in [
        (
            DEVICE_KEY,
            &unanchored.fingerprints.device,
            &genuine.fingerprints.device,
        ),
        (
            HUB_KEY,
            &unanchored.fingerprints.hub,
            &genuine.fingerprints.hub,
        ),
        (
            TSA_CHAIN,
            &unanchored.fingerprints.tsa_root,
            &genuine.fingerprints.tsa_root,
        ),
    ] {
        let got = got.as_deref().expect("a fingerprint");
        assert!(
            unanchored
                .checks
                .iter()
                .any(|c| c.en.contains(got) && c.fr.contains(got)),
            "{path}'s fingerprint is printed in both languages"
        );
        if faulty.contains(&path) {
            assert_ne!(Some(got), real.as_deref(), "{path}");
        }
    }
    let anchored = golden::verify_anchored(&zip);
    assert_eq!(
        anchored.anchored_by.as_deref(),
        Some("Auvergne-Rhône-Alpes")
    );
    for path in faulty {
        assert!(
            fails_on(&anchored, path),
            "anchored, {path} must fail:\n{}",
            describe(&anchored)
        );
    }
}

#[test]
fn the_genuine_export_is_anchored_without_a_warning() {
    let report = golden::verify_anchored(&golden::build(&Spec::default()).zip);
    assert!(report.ok(), "{}", describe(&report));
    assert_eq!(report.warnings().count(), 0, "{}", describe(&report));
    assert!(report.checks.iter().any(|c| c.en.starts_with("anchored: ")));
}

#[test]
fn a_full_forgery_with_new_keys_and_a_self_made_tsa_fails_anchored() {
    let forged = Spec {
        seed: 99, // other audio
        device_key: SigningKey::from_slice(&[0x44; 32]).expect("key"),
        hub_key: SigningKey::from_slice(&[0x55; 32]).expect("key"),
        tsa_chain: FORGED_TSA_CHAIN_PEM,
        ..Spec::default()
    };
    assert_caught_only_by_anchors(&forged, &[DEVICE_KEY, HUB_KEY, TSA_CHAIN]);
}

#[test]
fn a_token_backdated_a_month_from_a_home_made_ca_fails_anchored() {
    let forged = Spec {
        tsa_chain: FORGED_TSA_CHAIN_PEM,
        token_shift_ms: -MONTH_MS,
        hub_key: other_key(),
        ..Spec::default()
    };
    assert_caught_only_by_anchors(&forged, &[TSA_CHAIN, HUB_KEY]);
    // Even by the real hub's key, a backdated token from a home-made CA fails.
    let by_the_hub = Spec {
        tsa_chain: FORGED_TSA_CHAIN_PEM,
        token_shift_ms: -MONTH_MS,
        ..Spec::default()
    };
    let report = golden::verify_anchored(&golden::build(&by_the_hub).zip);
    assert!(fails_on(&report, TSA_CHAIN), "{}", describe(&report));
}

#[test]
fn a_hub_key_outside_its_published_period_fails() {
    // The Region rotated its key a day after the recording: the old key is
    // still trusted for what it signed before.
    let mut trust = golden::trust();
    let t0 = 1_795_699_920_000;
    trust.hub_keys[0].valid_until_ms = Some(t0 + 86_400_000);
    let zip = golden::build(&Spec::default()).zip;
    let report = verify_export_anchored(&zip, &tsa_check, Anchors::Anchored(&trust));
    // Checkpoint 2 is stamped a day and two minutes after T0: past the key's end.
    assert!(
        fails_on(&report, "log/checkpoints/000002.txt"),
        "{}",
        describe(&report)
    );
    assert!(
        !report.fails_on("log/checkpoints/000000.txt"),
        "{}",
        describe(&report)
    );
    // A key not yet valid when the tokens were made fails too.
    trust.hub_keys[0].valid_from_ms = t0 + 60 * 86_400_000;
    trust.hub_keys[0].valid_until_ms = None;
    let report = verify_export_anchored(&zip, &tsa_check, Anchors::Anchored(&trust));
    assert!(
        fails_on(&report, "log/checkpoints/000000.txt"),
        "{}",
        describe(&report)
    );
}

#[test]
fn a_swapped_device_key_fails_on_the_hub_s_device_entry() {
    // Another box's key and records (re-signed), under the real hub's log:
    // the hub's entry names the genuine key.
    let mut files = golden::files(&golden::build(&Spec::default()).zip);
    let other = SigningKey::from_slice(&[0x66; 32]).expect("key");
    files.insert(
        DEVICE_KEY.into(),
        vigie_evidence::export::public_key_pem(other.verifying_key())
            .expect("pem")
            .into_bytes(),
    );
    let zip = vigie_evidence::export::seal_files(files, &golden::hub_key()).expect("seal");
    let report = golden::verify_anchored(&zip);
    assert!(
        report
            .failures()
            .any(|c| c.files.first().is_some_and(|f| f == DEVICE_KEY)
                && c.en.contains("not the key the hub logged")),
        "{}",
        describe(&report)
    );
}

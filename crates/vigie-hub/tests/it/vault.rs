//! The evidence vault end to end on the hub: sealed chunks uploaded in
//! order (gaps, repeats and forgeries refused), custody with a mandatory
//! reason, an export time-stamped by a real RFC 3161 authority (openssl)
//! that the offline verifier accepts, and retention that destroys what is
//! not held.

use crate::helpers::*;
use base64::Engine as _;
use uuid::Uuid;
use vigie_evidence::custody::Action;
use vigie_evidence::record::{ChunkRecord, record_hash, seal};
use vigie_proto::signature::new_nonce;

const CHUNKS: u64 = 5;

pub(crate) struct Sealer {
    pub(crate) recording: Uuid,
    pub(crate) alarm: Uuid,
    pub(crate) prev: [u8; 32],
}

impl Sealer {
    pub(crate) fn seal(&mut self, dev: &Device, seq: u64, audio: &[u8], is_final: bool) -> String {
        let t = 1_795_699_920_000 + seq * 2_000;
        let record = ChunkRecord::for_audio(
            &self.recording.to_string(),
            &self.alarm.to_string(),
            &dev.id,
            seq,
            self.prev,
            audio,
            (t, t + 2_000),
            (seq * 2_000, seq * 2_000 + 2_000),
            is_final,
        );
        let bytes = seal(&record, dev.key.signing_key()).expect("seal");
        self.prev = record_hash(&bytes);
        String::from_utf8(bytes).expect("text")
    }
}

pub(crate) async fn upload(
    h: &TestHub,
    dev: &Device,
    recording: Uuid,
    record: &str,
    audio: &[u8],
) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "record": record, "audio": base64::engine::general_purpose::STANDARD.encode(audio) }).to_string();
    h.signed_post(
        dev,
        &format!("/v1/recordings/{recording}/chunks"),
        body.as_bytes(),
        h.now().as_ms() / 1000,
        &new_nonce(),
    )
    .await
}

/// A hub on the tests' manual clock (`T0`) whose vault time-stamps with a
/// test TSA whose clock reads `T0 + tsa_skew_ms` (and advances from there).
/// The guards are kept alive with the hub.
pub(crate) async fn hub_with_tsa(tsa_skew_ms: i64) -> (TestHub, vigie_testkit::tsa::Tsa, TempDir) {
    let tsa = vigie_testkit::tsa::Tsa::start_at(T0.0 + tsa_skew_ms)
        .expect("the test TSA (openssl, faketime) starts");
    let chain = TempDir::new("vigie-chain");
    let chain_path = chain.0.join("tsa-chain.pem");
    std::fs::write(&chain_path, tsa.chain_pem().expect("chain")).expect("write chain");
    let h = spawn_hub(&format!(
        "[vault]\ntsa_urls = [\"{}\"]\ntsa_chain_pem = \"{}\"\n",
        tsa.url(),
        chain_path.display()
    ))
    .await;
    (h, tsa, chain)
}

/// One complete recording of `chunks` sealed at `T0` on the box's clock
/// and uploaded; its id.
pub(crate) async fn record_one(h: &TestHub, dev: &Device, chunks: u64) -> Uuid {
    let alarm = Uuid::now_v7();
    assert_eq!(h.press(dev, alarm).await.0, 201);
    let recording = Uuid::now_v7();
    let mut sealer = Sealer {
        recording,
        alarm,
        prev: [0; 32],
    };
    for i in 0..chunks {
        let audio = vec![i as u8; 700];
        let record = sealer.seal(dev, i, &audio, i == chunks - 1);
        let (s, r) = upload(h, dev, recording, &record, &audio).await;
        assert_eq!(s, 201, "chunk {i}: {r}");
    }
    recording
}

/// The English text of every warning.
fn warnings(report: &vigie_evidence::report::Report) -> Vec<String> {
    report.warnings().map(|w| w.en.clone()).collect()
}

#[tokio::test]
async fn a_clock_that_disagrees_with_the_trusted_time_is_flagged() {
    // The TSA an hour behind the hub and the box: both clocks are ahead.
    let (h, _tsa, _chain) = hub_with_tsa(-3_600_000).await;
    let shop = h
        .seed_shop(
            "V3",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;
    let recording = record_one(&h, &dev, 2).await;
    let (_, report) = h.export_and_verify(recording).await;
    assert!(report.ok(), "{report:#?}");
    // Each checkpoint (the live pass's and the export's) and the box's
    // latest chunk are flagged, and nothing else.
    let w = warnings(&report);
    let starts: Vec<&str> = w.iter().map(|w| &w[..w.find(':').unwrap_or(0)]).collect();
    assert_eq!(
        starts,
        [
            "log/checkpoints/000000.txt",
            "log/checkpoints/000001.txt",
            "records/000001.txt",
            "not anchored"
        ],
        "{w:#?}"
    );
    assert!(
        w[..2]
            .iter()
            .all(|w| w.contains("the hub's clock") && w.contains("ahead")),
        "{w:#?}"
    );
    assert!(
        w[2].contains("the box's clock") && w[2].contains("ahead"),
        "{w:#?}"
    );
}

#[tokio::test]
async fn chunks_are_logged_in_order_and_an_export_verifies_offline() {
    // The TSA runs in the test's timeline: box, hub and trusted time agree.
    let (h, _tsa, _chain) = hub_with_tsa(0).await;
    let shop = h
        .seed_shop(
            "V1",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;
    let alarm = Uuid::now_v7();
    assert_eq!(h.press(&dev, alarm).await.0, 201);
    let recording = Uuid::now_v7();
    let mut sealer = Sealer {
        recording,
        alarm,
        prev: [0; 32],
    };
    let audio: Vec<Vec<u8>> = (0..CHUNKS)
        .map(|i| (0..3_000).map(|j| ((i * 7 + j * 13) % 251) as u8).collect())
        .collect();
    let records: Vec<String> = (0..CHUNKS)
        .map(|i| sealer.seal(&dev, i, &audio[i as usize], i == CHUNKS - 1))
        .collect();

    // Out of order: refused, with what the hub expects.
    let (s, r) = upload(&h, &dev, recording, &records[1], &audio[1]).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("chunk_gap")), "{r}");
    let mut last_index = None;
    for i in 0..CHUNKS as usize {
        let (s, r) = upload(&h, &dev, recording, &records[i], &audio[i]).await;
        assert_eq!(s, 201, "chunk {i}: {r}");
        let idx = r["log_index"].as_u64().expect("log index");
        assert!(last_index.is_none_or(|l| idx > l), "log positions grow");
        last_index = Some(idx);
    }
    // A repeat is answered as before; a changed audio or a forged record is refused.
    let (s, r) = upload(&h, &dev, recording, &records[2], &audio[2]).await;
    assert_eq!((s, r["duplicate"].as_bool()), (200, Some(true)), "{r}");
    let (s, r) = upload(&h, &dev, recording, &records[2], &audio[3]).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (400, Some("audio_mismatch")),
        "{r}"
    );
    let forger = Device {
        id: dev.id.clone(),
        key: vigie_proto::signature::DeviceKey::generate(),
    };
    let mut forged = Sealer {
        recording,
        alarm,
        prev: [0; 32],
    };
    let fake = forged.seal(&forger, 0, &audio[0], false);
    let (s, r) = upload(&h, &dev, recording, &fake, &audio[0]).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (401, Some("bad_record_signature")),
        "{r}"
    );

    // Custody: no reason, no access.
    let store = &h.hub.store;
    assert!(
        store
            .custody(recording, "investigator:x", Action::Listen, "  ", h.now())
            .await
            .is_err()
    );
    store
        .custody(
            recording,
            "investigator:marie.durand",
            Action::Listen,
            "PV 2026/1234",
            h.now(),
        )
        .await
        .expect("listen");

    // The vault's pass: a checkpoint, time-stamped because the recording is live.
    let (zip, report) = h.export_and_verify(recording).await;
    assert!(report.ok(), "{report:#?}");
    // Box, hub and trusted time agree and the recording is complete: the
    // only warning is that nothing anchored the keys...
    let w = warnings(&report);
    assert!(w.len() == 1 && w[0].starts_with("not anchored: "), "{w:#?}");
    // ...and against the trust file this hub writes for its Region, not one.
    let trust = vigie_hub::vault::trust::trust_file(&h.hub.vault, "Auvergne-Rhône-Alpes", 0, None)
        .expect("trust file");
    let anchored = vigie_evidence::verify::verify_export_anchored(
        &zip,
        &vigie_evidence::verify::rfc3161_check,
        vigie_evidence::trust::Anchors::Anchored(&trust),
    );
    assert!(anchored.ok(), "{anchored:#?}");
    assert_eq!(warnings(&anchored), Vec::<String>::new(), "{anchored:#?}");
    // A self-made TSA with the same name (a fresh "Test TSA Root"): its
    // root is not the one the Region accepts.
    let other = vigie_testkit::tsa::Tsa::start_at(T0.0).expect("another TSA");
    let other_root =
        vigie_evidence::trust::certificate_fingerprints(&other.chain_pem().expect("pem"))
            .expect("pem")[1];
    let wrong = vigie_evidence::trust::Trust {
        tsa_roots: vec![other_root],
        ..trust.clone()
    };
    let refused = vigie_evidence::verify::verify_export_anchored(
        &zip,
        &vigie_evidence::verify::rfc3161_check,
        vigie_evidence::trust::Anchors::Anchored(&wrong),
    );
    assert!(
        !refused.ok() && refused.fails_on("keys/tsa-chain.pem"),
        "{refused:#?}"
    );
    // The hub vouches for the device key in its log.
    let files = vigie_evidence::export::unpack(&zip).expect("unpack");
    let entry = vigie_evidence::device::parse(&files["log/device.txt"]).expect("device entry");
    assert_eq!(entry.device, dev.id);
    assert_eq!(
        files.get("audio/recording.ogg").map(Vec::len),
        Some(audio.concat().len())
    );
    let custody: Vec<String> = files
        .iter()
        .filter(|(k, _)| k.starts_with("custody/"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        custody
            .iter()
            .any(|c| c.contains("action: listen") && c.contains("PV 2026/1234")),
        "{custody:?}"
    );
    assert!(
        custody
            .iter()
            .any(|c| c.contains("action: export") && c.contains("plainte pour menaces")),
        "{custody:?}"
    );
    // One flipped byte in the audio and the export fails.
    let mut files = files;
    if let Some(a) = files.get_mut("audio/chunks/000002.ogg") {
        a[10] ^= 1;
    }
    let tampered = vigie_evidence::export::pack(&files).expect("pack");
    assert!(
        !vigie_evidence::verify::verify_export(&tampered, &vigie_evidence::verify::rfc3161_check)
            .ok()
    );
}

#[tokio::test]
async fn retention_destroys_what_is_not_held() {
    let h = spawn_hub("").await;
    let shop = h
        .seed_shop(
            "V2",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let alarm = Uuid::now_v7();
        h.press(&dev, alarm).await;
        let recording = Uuid::now_v7();
        let mut sealer = Sealer {
            recording,
            alarm,
            prev: [0; 32],
        };
        let audio = vec![7u8; 500];
        let record = sealer.seal(&dev, 0, &audio, true);
        assert_eq!(upload(&h, &dev, recording, &record, &audio).await.0, 201);
        ids.push(recording);
    }
    let store = &h.hub.store;
    store
        .custody(
            ids[1],
            "investigator:x",
            Action::Hold,
            "plainte déposée",
            h.now(),
        )
        .await
        .expect("hold");
    // A week before the deadline, the holder is reminded once (not for the held one).
    h.clock.advance_ms(24 * 86_400_000);
    h.hub.vault.tick(store, h.now()).await.expect("vault pass");
    h.hub.vault.tick(store, h.now()).await.expect("vault pass");
    h.hub.engine.wake();
    h.sms_to("06 99 88 77 66", "sera effacé le").await;
    h.settled().await;
    assert_eq!(
        h.sms_count("06 99 88 77 66", "sera effacé le"),
        1,
        "one reminder, for the recording that is not held"
    );
    assert_eq!(h.sms_count("06 99 88 77 66", "3 mois"), 1);
    h.clock.advance_ms(7 * 86_400_000);
    h.hub.vault.tick(store, h.now()).await.expect("vault pass");
    let (gone, key) = store.recording(ids[0]).await.expect("row kept");
    assert!(
        gone.deleted_at.is_some() && key.is_none(),
        "the key is destroyed"
    );
    assert!(
        h.hub.vault.audio(store, ids[0]).await.is_err(),
        "the audio can no longer be read"
    );
    let entries = store.recording_entries(ids[0]).await.expect("entries");
    assert!(
        entries
            .iter()
            .any(|e| String::from_utf8_lossy(&e.entry).contains("action: retention-delete")),
        "the deletion is logged"
    );
    let (held, key) = store.recording(ids[1]).await.expect("held");
    assert!(held.deleted_at.is_none() && key.is_some() && held.legal_hold);
    assert_eq!(
        h.hub
            .vault
            .audio(store, ids[1])
            .await
            .expect("held audio")
            .concat(),
        vec![7u8; 500]
    );
}

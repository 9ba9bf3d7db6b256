//! The vault's blobs in S3-compatible object storage (moto): chunks land in
//! the bucket encrypted, an export made from them verifies offline, and the
//! end of retention deletes the objects (not those of a held recording).

use crate::helpers::*;
use crate::vault::{Sealer, upload};
use futures::TryStreamExt as _;
use object_store::ObjectStore as _;
use object_store::ObjectStoreExt as _;
use object_store::path::Path as ObjectPath;
use uuid::Uuid;
use vigie_evidence::custody::Action;

const CHUNKS: u64 = 4;

/// The bucket's objects under a recording, as `(key, bytes)`, sorted.
async fn objects(s3: &object_store::aws::AmazonS3, recording: Uuid) -> Vec<(String, Vec<u8>)> {
    let prefix = ObjectPath::from(recording.simple().to_string());
    let metas: Vec<_> = s3
        .list(Some(&prefix))
        .try_collect()
        .await
        .expect("list the bucket");
    let mut out = Vec::new();
    for m in metas {
        let bytes = s3
            .get(&m.location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        out.push((m.location.to_string(), bytes.to_vec()));
    }
    out.sort();
    out
}

#[tokio::test]
async fn blobs_in_s3_are_encrypted_exported_and_deleted_at_retention() {
    let moto = vigie_testkit::moto::Moto::start("vigie-vault")
        .await
        .expect("moto_server starts (pip install 'moto[server]==5.2.5')");
    let tsa =
        vigie_testkit::tsa::Tsa::start_at(T0.0).expect("the test TSA (openssl, faketime) starts");
    let chain = TempDir::new("vigie-chain");
    let chain_path = chain.0.join("tsa-chain.pem");
    std::fs::write(&chain_path, tsa.chain_pem().expect("chain")).expect("write chain");
    let h = spawn_hub(&format!(
        "[vault]\ntsa_urls = [\"{}\"]\ntsa_chain_pem = \"{}\"\n{}",
        tsa.url(),
        chain_path.display(),
        moto.vault_s3_toml()
    ))
    .await;
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(moto.bucket())
        .with_endpoint(moto.endpoint())
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_allow_http(true)
        .build()
        .expect("test S3 client");
    let shop = h
        .seed_shop(
            "S1",
            "06 99 88 77 66",
            &[(1, "Marie Dupont", "06 11 22 33 44")],
        )
        .await;
    let dev = h.enroll(shop).await;

    // Two recordings: the first is exported then destroyed, the second held.
    let mut recordings = Vec::new();
    let mut audios = Vec::new();
    for r in 0..2u64 {
        let alarm = Uuid::now_v7();
        assert_eq!(h.press(&dev, alarm).await.0, 201);
        let recording = Uuid::now_v7();
        let mut sealer = Sealer {
            recording,
            alarm,
            prev: [0; 32],
        };
        let audio: Vec<Vec<u8>> = (0..CHUNKS)
            .map(|i| {
                (0..3_000)
                    .map(|j| ((r * 31 + i * 7 + j * 13) % 251) as u8)
                    .collect()
            })
            .collect();
        for i in 0..CHUNKS {
            let record = sealer.seal(&dev, i, &audio[i as usize], i == CHUNKS - 1);
            let (s, body) = upload(&h, &dev, recording, &record, &audio[i as usize]).await;
            assert_eq!(s, 201, "chunk {i}: {body}");
        }
        recordings.push(recording);
        audios.push(audio);
    }
    let (recording, audio) = (recordings[0], &audios[0]);

    // One object per chunk, ciphertext only (ChaCha20-Poly1305: 16 bytes longer).
    let stored = objects(&s3, recording).await;
    let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<String> = (0..CHUNKS)
        .map(|i| format!("{}/{i:06}.bin", recording.simple()))
        .collect();
    assert_eq!(keys, expected);
    for ((key, bytes), plain) in stored.iter().zip(audio) {
        assert_eq!(bytes.len(), plain.len() + 16, "{key}");
        assert!(
            !bytes.windows(64).any(|w| plain.windows(64).any(|p| p == w)),
            "{key} holds plaintext audio"
        );
    }

    // An export read back from the bucket verifies offline.
    let store = &h.hub.store;
    let (zip, report) = h.export_and_verify(recording).await;
    assert!(report.ok(), "{report:#?}");
    let files = vigie_evidence::export::unpack(&zip).expect("unpack");
    assert_eq!(
        files.get("audio/recording.ogg"),
        Some(&audio.concat()),
        "the audio is the original, decrypted"
    );

    // A swapped object is caught on reading.
    let (k0, b0) = &stored[0];
    s3.put(&ObjectPath::from(k0.as_str()), stored[1].1.clone().into())
        .await
        .expect("swap");
    assert!(h.hub.vault.audio(store, recording).await.is_err());
    s3.put(&ObjectPath::from(k0.as_str()), b0.clone().into())
        .await
        .expect("restore");

    // Retention: the objects are deleted; the held recording's are kept.
    store
        .custody(
            recordings[1],
            "investigator:x",
            Action::Hold,
            "plainte déposée",
            h.now(),
        )
        .await
        .expect("hold");
    h.clock.advance_ms(31 * 86_400_000);
    h.hub.vault.tick(store, h.now()).await.expect("vault pass");
    let (gone, key) = store.recording(recording).await.expect("row kept");
    assert!(gone.deleted_at.is_some() && key.is_none());
    assert_eq!(
        objects(&s3, recording).await,
        Vec::new(),
        "the objects are deleted"
    );
    assert_eq!(objects(&s3, recordings[1]).await.len(), CHUNKS as usize);
    assert_eq!(
        h.hub
            .vault
            .audio(store, recordings[1])
            .await
            .expect("held audio")
            .concat(),
        audios[1].concat()
    );
}

//! Building an export (docs/protocol/evidence.md §4): logged as a custody
//! event with its reason, covered by a fresh checkpoint time-stamped now,
//! with every record and custody event proven included in the earliest
//! time-stamped checkpoint that holds it, successive checkpoints proven
//! consistent, the audio decrypted, the speech timeline and the reports.

use super::{Vault, VaultError};
use crate::store::Store;
use uuid::Uuid;
use vigie_core::Timestamp;
use vigie_evidence::custody::Action;
use vigie_evidence::export::{ConsistencyProof, ExportBuilder, InclusionProof};
use vigie_evidence::merkle;

/// Facts for the human report.
pub struct ReportFacts {
    pub shop: String,
    pub commune: String,
    pub alarm_pressed_at: Timestamp,
}

pub async fn export(
    vault: &Vault,
    store: &Store,
    recording: Uuid,
    actor: &str,
    reason: &str,
    facts: &ReportFacts,
    now: Timestamp,
) -> Result<Vec<u8>, VaultError> {
    let (rec, _) = store.recording(recording).await?;
    // A recording logged before device entries existed gets its entry now.
    store.ensure_device_entry(recording, now).await?;
    store
        .custody(recording, actor, Action::Export, reason, now)
        .await?;
    // A checkpoint that covers the export's own custody event, time-stamped now.
    if let Some(cp) = store.checkpoint(vault.keys.clone(), now).await? {
        let token = vault.timestamp(&cp.body).await?;
        store.set_checkpoint_token(cp.size, token).await?;
    }
    let entries = store.recording_entries(recording).await?;
    let first_idx = entries
        .first()
        .map(|e| e.idx)
        .ok_or_else(|| VaultError::Export("the recording has no log entry".into()))?;
    // Time-stamped checkpoints that hold at least one of this recording's entries.
    let checkpoints: Vec<_> = store
        .checkpoints()
        .await?
        .into_iter()
        .filter(|c| c.tsa_token.is_some() && c.size > first_idx)
        .collect();
    let last = checkpoints
        .last()
        .ok_or_else(|| VaultError::Export("no time-stamped checkpoint".into()))?;
    let leaves = store.log_leaves(last.size).await?;

    let device_vk =
        vigie_proto::signature::parse_public_key(&store.device_public_key(&rec.device_id).await?)
            .map_err(|e| VaultError::Export(format!("device key: {e}")))?;
    let mut b = ExportBuilder::new(&device_vk, &vault.keys.verifying(), &vault.tsa_chain_pem)
        .map_err(|e| VaultError::Export(e.to_string()))?;
    for (n, cp) in checkpoints.iter().enumerate() {
        b.checkpoint(
            n as u64,
            &cp.body,
            cp.tsa_token.as_deref().unwrap_or_default(),
        );
        if n > 0 {
            let from = checkpoints[n - 1].size;
            let path =
                merkle::consistency_proof(&leaves[..cp.size as usize], from).ok_or_else(|| {
                    VaultError::Export(format!("no consistency proof {from} → {}", cp.size))
                })?;
            b.consistency(
                n as u64 - 1,
                n as u64,
                &ConsistencyProof {
                    from_size: from,
                    to_size: cp.size,
                    path,
                },
            );
        }
    }
    let audio = vault.audio(store, recording).await?;
    let mut custody_n = 0u64;
    for e in &entries {
        // The earliest time-stamped checkpoint holding the entry.
        let (n, cp) = checkpoints
            .iter()
            .enumerate()
            .find(|(_, c)| c.size > e.idx)
            .ok_or_else(|| {
                VaultError::Export(format!("log entry {} is in no checkpoint", e.idx))
            })?;
        let path = merkle::inclusion_proof(&leaves[..cp.size as usize], e.idx)
            .ok_or_else(|| VaultError::Export(format!("no inclusion proof for entry {}", e.idx)))?;
        let proof = InclusionProof {
            leaf_index: e.idx,
            tree_size: cp.size,
            checkpoint: n as u64,
            path,
        };
        match (e.kind.as_str(), e.seq) {
            ("record", Some(seq)) => {
                let chunk = audio
                    .get(seq as usize)
                    .ok_or_else(|| VaultError::Export(format!("audio of chunk {seq} missing")))?;
                b.chunk(seq, chunk, &e.entry);
                b.record_inclusion(seq, &proof);
            }
            ("device", _) => {
                b.device_entry(&e.entry, &proof);
            }
            _ => {
                b.custody(custody_n, &e.entry, &proof);
                custody_n += 1;
            }
        }
    }
    let whole: Vec<u8> = audio.concat();
    let timeline = match vigie_timeline::ogg_opus_to_pcm(&whole) {
        Ok((pcm, rate)) => vigie_timeline::timeline(&pcm, rate),
        Err(e) => {
            tracing::warn!(error = %e, "the recording could not be decoded for its timeline");
            vigie_timeline::Timeline::default()
        }
    };
    // Compact JSON and one final line end, as every JSON file of the format.
    let mut timeline_json =
        serde_json::to_vec(&timeline).map_err(|e| VaultError::Export(e.to_string()))?;
    timeline_json.push(b'\n');
    b.timeline(&timeline_json);
    let (fr, en) = reports(&rec, facts, &timeline, actor, reason, now);
    b.reports(&fr, &en);
    b.finish(&vault.keys.signing)
        .map_err(|e| VaultError::Export(e.to_string()))
}

fn segments(list: &[(f32, f32)]) -> String {
    if list.is_empty() {
        return "—".into();
    }
    list.iter()
        .map(|(a, b)| format!("{a:.1}–{b:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn reports(
    rec: &crate::store::vault::Recording,
    facts: &ReportFacts,
    timeline: &vigie_timeline::Timeline,
    actor: &str,
    reason: &str,
    now: Timestamp,
) -> (String, String) {
    let at = facts.alarm_pressed_at.paris();
    let date = format!(
        "{:02}/{:02}/{} à {}",
        at.day,
        at.month,
        at.year,
        at.hour_minute_fr()
    );
    let state_fr = if rec.is_final {
        "complet"
    } else {
        "interrompu avant la fin (tronqué) : tout ce qui a été reçu reste prouvé"
    };
    let state_en = if rec.is_final {
        "complete"
    } else {
        "cut short (truncated): everything received is still proven"
    };
    let fr = format!(
        "Vigie — export de preuve\n\nCommerce : {shop}, {commune}\nAlarme : {alarm}, déclenchée le {date} (heure de Paris)\nEnregistrement : {id}, {chunks} morceaux de 2 s environ, {state_fr}\nBoîtier : {device}\nExporté le {now} par {actor} — motif : {reason}\n\nParole : {speech}\nVoix fortes : {loud}\n\nCe que vérifie « vigie verify » : l'empreinte de chaque fichier (MANIFEST.sha256, signé par le hub), la signature de chaque morceau par la clé du boîtier, la chaîne des morceaux (aucun retiré, ajouté ou déplacé), leur inscription dans le journal du hub (preuves d'inclusion et de cohérence), l'attestation de la clé du boîtier par le hub et l'horodatage RFC 3161 des points de contrôle ; avec « --trust », la clé du hub et la racine d'horodatage comparées au fichier de confiance que publie la Région.\n\nVérifier sans Vigie : décompresser, puis « sha256sum -c MANIFEST.sha256 » ; « openssl ts -verify -data log/checkpoints/000000.txt -in timestamps/000000.tsr -token_in -CAfile keys/tsa-chain.pem » ; voir docs/protocol/evidence.md.\n",
        shop = facts.shop,
        commune = facts.commune,
        alarm = rec.alarm_id,
        id = rec.id,
        chunks = rec.chunks,
        device = rec.device_id,
        now = now.to_rfc3339(),
        speech = segments(&timeline.speech),
        loud = segments(&timeline.loud),
    );
    let en = format!(
        "Vigie — evidence export\n\nShop: {shop}, {commune}\nAlarm: {alarm}, raised {date} (Paris time)\nRecording: {id}, {chunks} chunks of about 2 s, {state_en}\nDevice: {device}\nExported {now} by {actor} — reason: {reason}\n\nSpeech: {speech}\nRaised voices: {loud}\n\nWhat `vigie verify` checks: every file's hash (MANIFEST.sha256, signed by the hub), every chunk's signature by the device key, the chain of chunks (none removed, added or moved), their inclusion in the hub's log (inclusion and consistency proofs), the hub's entry vouching for the device key and the RFC 3161 time-stamps of the checkpoints; with `--trust`, the hub key and the time-stamping root checked against the trust file the Region publishes.\n\nWithout Vigie: unzip, then `sha256sum -c MANIFEST.sha256`; `openssl ts -verify -data log/checkpoints/000000.txt -in timestamps/000000.tsr -token_in -CAfile keys/tsa-chain.pem`; see docs/protocol/evidence.md.\n",
        shop = facts.shop,
        commune = facts.commune,
        alarm = rec.alarm_id,
        id = rec.id,
        chunks = rec.chunks,
        device = rec.device_id,
        now = now.to_rfc3339(),
        speech = segments(&timeline.speech),
        loud = segments(&timeline.loud),
    );
    (fr, en)
}

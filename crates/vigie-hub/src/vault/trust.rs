//! The Region's trust file (`vigie_evidence::trust`, docs/protocol/evidence.md
//! §6) made from this hub: its signing key's fingerprint with its validity
//! period, and the root of the configured TSA chain. Rotation: the file
//! published before is given back, its keys are kept (an open period is
//! closed where the new key's begins) and the new key is added, so that
//! exports signed before the rotation still verify.

use super::{Vault, VaultError};
use vigie_evidence::text::{self, Hash};
use vigie_evidence::trust::{HubKeyAnchor, Trust, certificate_fingerprints};

/// The trust file for `region`, the hub key valid from `valid_from_ms`,
/// keeping what `previous` (the file published before) vouched for.
pub fn trust_file(
    vault: &Vault,
    region: &str,
    valid_from_ms: u64,
    previous: Option<&Trust>,
) -> Result<Trust, VaultError> {
    let current: Hash = text::key_fingerprint(&vault.keys.verifying());
    let root = certificate_fingerprints(&vault.tsa_chain_pem)
        .and_then(|all| all.last().copied())
        .ok_or_else(|| {
            VaultError::Export(
                "vault.tsa_chain_pem holds no certificate: configure the TSA's chain (root last)"
                    .into(),
            )
        })?;
    let mut hub_keys: Vec<HubKeyAnchor> = Vec::new();
    let mut tsa_roots = vec![root];
    if let Some(previous) = previous {
        for k in &previous.hub_keys {
            if k.sha256 == current {
                continue;
            }
            let mut kept = k.clone();
            if kept.valid_until_ms.is_none() {
                kept.valid_until_ms = Some(valid_from_ms.max(kept.valid_from_ms + 1));
            }
            hub_keys.push(kept);
        }
        tsa_roots.extend(previous.tsa_roots.iter().copied());
    }
    let since = previous
        .and_then(|p| p.hub_keys.iter().find(|k| k.sha256 == current))
        .map_or(valid_from_ms, |k| k.valid_from_ms);
    hub_keys.push(HubKeyAnchor {
        sha256: current,
        valid_from_ms: since,
        valid_until_ms: None,
    });
    let trust = Trust {
        region: region.to_owned(),
        hub_keys,
        tsa_roots,
    };
    // What is written reads back: one spelling.
    Trust::parse(&trust.encode()).map_err(|e| VaultError::Export(format!("trust file: {e}")))
}

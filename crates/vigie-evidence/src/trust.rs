//! Trust anchors from outside the export (`docs/protocol/evidence.md` §6):
//! the file a Region publishes, with the fingerprints of its hub's signing
//! keys (each with its validity period) and of the time-stamping roots it
//! accepts. An export carries its own keys; only a trust file obtained
//! elsewhere tells a verifier that they are the Region's and not a
//! forger's.
//!
//! The file has one spelling:
//!
//! ```text
//! vigie-trust-v1
//! region: Auvergne-Rhône-Alpes
//! hub-key: <sha256 hex of the DER SubjectPublicKeyInfo> <from-ms>..<until-ms>
//! hub-key: <…> <from-ms>..            (the key in use: no end yet)
//! tsa-root: <sha256 hex of the DER certificate>
//! ```
//!
//! `hub-key` lines sorted by start, then `tsa-root` lines sorted by
//! fingerprint; at least one of each, none twice.

use crate::text::{self, Hash, TextError};
use base64::Engine as _;

/// First line of a trust file.
pub const TRUST_MAGIC: &str = "vigie-trust-v1";

/// Largest trust file: a few hundred keys and roots.
pub const TRUST_BYTES_MAX: usize = 64 * 1024;

/// Longest Region name, in bytes.
pub const REGION_BYTES_MAX: usize = 128;

/// One hub signing key the Region vouches for, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubKeyAnchor {
    /// SHA-256 of the key's DER SubjectPublicKeyInfo.
    pub sha256: Hash,
    /// From when the key signs, ms since the Unix epoch.
    pub valid_from_ms: u64,
    /// Until when (exclusive); `None` for the key in use.
    pub valid_until_ms: Option<u64>,
}

impl HubKeyAnchor {
    /// Whether the key was the Region's at `ms`.
    pub fn covers(&self, ms: u64) -> bool {
        ms >= self.valid_from_ms && self.valid_until_ms.is_none_or(|until| ms < until)
    }
}

/// A Region's trust file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    pub region: String,
    pub hub_keys: Vec<HubKeyAnchor>,
    /// SHA-256 of each accepted TSA root certificate (DER).
    pub tsa_roots: Vec<Hash>,
}

/// What a verification may rely on besides the export itself.
#[derive(Debug, Clone, Copy)]
pub enum Anchors<'a> {
    /// No trust file: the export's own keys are reported, not trusted.
    NotAnchored,
    /// The Region's trust file.
    Anchored(&'a Trust),
}

/// Why a trust file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("not a trust file: {0}")]
    Text(#[from] TextError),
    #[error("line {0}: {1}")]
    Line(usize, &'static str),
    #[error("no hub-key line")]
    NoHubKey,
    #[error("no tsa-root line")]
    NoTsaRoot,
    #[error("not in its one spelling (order, spaces, duplicates)")]
    NotCanonical,
}

fn is_region(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= REGION_BYTES_MAX
        && name.trim() == name
        && !name.chars().any(char::is_control)
}

impl Trust {
    /// The file, in its one spelling (keys sorted by start, roots by value).
    pub fn encode(&self) -> Vec<u8> {
        let mut keys = self.hub_keys.clone();
        keys.sort_by_key(|k| (k.valid_from_ms, k.sha256));
        keys.dedup();
        let mut roots = self.tsa_roots.clone();
        roots.sort_unstable();
        roots.dedup();
        let mut out = format!("{TRUST_MAGIC}\nregion: {}\n", self.region);
        for k in &keys {
            let until = k.valid_until_ms.map(|u| u.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "hub-key: {} {}..{until}\n",
                text::hex(&k.sha256),
                k.valid_from_ms
            ));
        }
        for root in &roots {
            out.push_str(&format!("tsa-root: {}\n", text::hex(root)));
        }
        out.into_bytes()
    }

    /// Parses a trust file in its one spelling only.
    pub fn parse(bytes: &[u8]) -> Result<Self, TrustError> {
        let lines = text::lines(bytes, TRUST_BYTES_MAX)?;
        if lines.first() != Some(&TRUST_MAGIC) {
            return Err(TrustError::Line(1, "expected vigie-trust-v1"));
        }
        let region = lines
            .get(1)
            .and_then(|l| l.strip_prefix("region: "))
            .filter(|r| is_region(r))
            .ok_or(TrustError::Line(2, "expected `region: <name>`"))?;
        let mut trust = Self {
            region: region.to_owned(),
            hub_keys: Vec::new(),
            tsa_roots: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate().skip(2) {
            let n = i + 1;
            if let Some(rest) = line.strip_prefix("hub-key: ") {
                let bad = TrustError::Line(
                    n,
                    "expected `hub-key: <sha256 hex> <from-ms>..[<until-ms>]`",
                );
                let (hash, range) = rest.split_once(' ').ok_or(bad.clone())?;
                let (from, until) = range.split_once("..").ok_or(bad.clone())?;
                let anchor = HubKeyAnchor {
                    sha256: text::parse_hash(hash).ok_or(bad.clone())?,
                    valid_from_ms: text::parse_u64(from).ok_or(bad.clone())?,
                    valid_until_ms: match until {
                        "" => None,
                        u => Some(text::parse_u64(u).ok_or(bad.clone())?),
                    },
                };
                if anchor
                    .valid_until_ms
                    .is_some_and(|u| u <= anchor.valid_from_ms)
                {
                    return Err(TrustError::Line(n, "a key's period ends before it starts"));
                }
                trust.hub_keys.push(anchor);
            } else if let Some(rest) = line.strip_prefix("tsa-root: ") {
                trust.tsa_roots.push(
                    text::parse_hash(rest)
                        .ok_or(TrustError::Line(n, "expected `tsa-root: <sha256 hex>`"))?,
                );
            } else {
                return Err(TrustError::Line(
                    n,
                    "expected `hub-key: …` or `tsa-root: …`",
                ));
            }
        }
        if trust.hub_keys.is_empty() {
            return Err(TrustError::NoHubKey);
        }
        if trust.tsa_roots.is_empty() {
            return Err(TrustError::NoTsaRoot);
        }
        if trust.encode() != bytes {
            return Err(TrustError::NotCanonical);
        }
        Ok(trust)
    }

    /// The periods in which the key with fingerprint `sha256` is the Region's.
    pub fn hub_key(&self, sha256: &Hash) -> impl Iterator<Item = &HubKeyAnchor> {
        self.hub_keys.iter().filter(move |k| k.sha256 == *sha256)
    }

    /// Whether the Region accepts the TSA root with this fingerprint.
    pub fn accepts_tsa_root(&self, sha256: &Hash) -> bool {
        self.tsa_roots.contains(sha256)
    }
}

/// The SHA-256 of each certificate's DER in a PEM chain, in order, as
/// `openssl x509 -outform DER | sha256sum` prints them; `None` if the PEM
/// is not a sequence of `CERTIFICATE` blocks.
pub fn certificate_fingerprints(pem: &[u8]) -> Option<Vec<Hash>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem).ok()?;
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim_end) {
        match (&mut body, line) {
            (None, BEGIN) => body = Some(String::new()),
            (None, "") => {}
            (None, _) => return None,
            (Some(b), END) => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .ok()?;
                out.push(text::sha256(&der));
                body = None;
            }
            (Some(b), l) => b.push_str(l),
        }
    }
    (body.is_none() && !out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> Trust {
        Trust {
            region: "Auvergne-Rhône-Alpes".into(),
            hub_keys: vec![
                HubKeyAnchor {
                    sha256: [1; 32],
                    valid_from_ms: 1_700_000_000_000,
                    valid_until_ms: Some(1_790_000_000_000),
                },
                HubKeyAnchor {
                    sha256: [2; 32],
                    valid_from_ms: 1_790_000_000_000,
                    valid_until_ms: None,
                },
            ],
            tsa_roots: vec![[3; 32]],
        }
    }

    #[test]
    fn round_trip_in_one_spelling() {
        let bytes = trust().encode();
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert_eq!(
            text,
            format!(
                "vigie-trust-v1\nregion: Auvergne-Rhône-Alpes\nhub-key: {} 1700000000000..1790000000000\n\
                 hub-key: {} 1790000000000..\ntsa-root: {}\n",
                "01".repeat(32),
                "02".repeat(32),
                "03".repeat(32)
            )
        );
        assert_eq!(Trust::parse(&bytes), Ok(trust()));
        let swapped = {
            let l: Vec<&str> = text.lines().collect();
            format!("{}\n{}\n{}\n{}\n{}\n", l[0], l[1], l[3], l[2], l[4])
        };
        for bad in [
            text.replace("0101", "0A01"),
            text.replace("region: ", "region:  "),
            text.replace("1790000000000..\n", "1790000000000..0\n"),
            text.replace("tsa-root: ", "tsa-root:"),
            format!("{text}tsa-root: {}\n", "03".repeat(32)),
            format!("{text}# comment\n"),
            text.replace('\n', "\r\n"),
            swapped,
        ] {
            assert!(Trust::parse(bad.as_bytes()).is_err(), "accepted:\n{bad}");
        }
    }

    #[test]
    fn a_key_covers_its_period_only() {
        let t = trust();
        let old: Vec<_> = t.hub_key(&[1; 32]).collect();
        assert!(old[0].covers(1_700_000_000_000) && old[0].covers(1_789_999_999_999));
        assert!(!old[0].covers(1_790_000_000_000) && !old[0].covers(1_699_999_999_999));
        let new: Vec<_> = t.hub_key(&[2; 32]).collect();
        assert!(new[0].covers(u64::MAX));
        assert_eq!(t.hub_key(&[9; 32]).count(), 0);
        assert!(t.accepts_tsa_root(&[3; 32]) && !t.accepts_tsa_root(&[1; 32]));
    }

    #[test]
    fn certificate_fingerprints_are_of_the_der() {
        let pem = b"-----BEGIN CERTIFICATE-----\ndGVzdCBUU0E=\n-----END CERTIFICATE-----\n";
        assert_eq!(
            certificate_fingerprints(pem),
            Some(vec![text::sha256(b"test TSA")])
        );
        assert_eq!(certificate_fingerprints(b"junk\n"), None);
        assert_eq!(certificate_fingerprints(b""), None);
    }
}

//! The hash chain of a recording's records (`docs/protocol/evidence.md`
//! §2): one recording, alarm and device; `seq` 0, 1, 2 … without gaps or
//! repeats; each `prev` the record hash of the record before; a `final`
//! record only at the end. Signatures are checked elsewhere
//! ([`crate::record::verify`]); this is the order and the links.

use crate::record::{PREV_NONE, SignedRecord};

/// How a well-linked chain ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEnd {
    /// The last record says `final: true`: the recording ended normally.
    Final { last_seq: u64 },
    /// The last record is not final: the box stopped sending (torn off,
    /// power cut, network lost for good). Everything up to it is proven.
    Truncated { last_seq: u64 },
}

/// One break in the chain; `index` is the record's position in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no records")]
    Empty,
    #[error("{field} is {found}, but the first record says {expected}")]
    Identity {
        index: usize,
        field: &'static str,
        expected: String,
        found: String,
    },
    #[error("seq is {found}, expected {expected}")]
    Seq {
        index: usize,
        expected: u64,
        found: u64,
    },
    #[error("prev does not match the hash of the previous record")]
    Prev { index: usize },
    #[error("the first record's prev is not 64 zeros")]
    FirstPrev,
    #[error("final record followed by more records")]
    FinalNotLast { index: usize },
}

impl ChainError {
    /// The position of the offending record.
    pub fn index(&self) -> usize {
        match self {
            Self::Empty | Self::FirstPrev => 0,
            Self::Identity { index, .. }
            | Self::Seq { index, .. }
            | Self::Prev { index }
            | Self::FinalNotLast { index } => *index,
        }
    }
}

/// Checks the records in order; returns every break, or how the chain ends.
pub fn check(records: &[SignedRecord]) -> Result<ChainEnd, Vec<ChainError>> {
    let Some(first) = records.first() else {
        return Err(vec![ChainError::Empty]);
    };
    let mut errors = Vec::new();
    if first.record.prev != PREV_NONE {
        errors.push(ChainError::FirstPrev);
    }
    for (index, r) in records.iter().enumerate() {
        for (field, expected, found) in [
            ("recording", &first.record.recording, &r.record.recording),
            ("alarm", &first.record.alarm, &r.record.alarm),
            ("device", &first.record.device, &r.record.device),
        ] {
            if expected != found {
                errors.push(ChainError::Identity {
                    index,
                    field,
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        let expected = index as u64;
        if r.record.seq != expected {
            errors.push(ChainError::Seq {
                index,
                expected,
                found: r.record.seq,
            });
        }
        if index > 0 {
            let before = &records[index - 1];
            if r.record.prev != before.hash {
                errors.push(ChainError::Prev { index });
            }
            if before.record.is_final {
                errors.push(ChainError::FinalNotLast { index: index - 1 });
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let last = &records[records.len() - 1].record;
    Ok(if last.is_final {
        ChainEnd::Final { last_seq: last.seq }
    } else {
        ChainEnd::Truncated { last_seq: last.seq }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{self, ChunkRecord};
    use p256::ecdsa::SigningKey;

    fn chain(n: u64, is_final: bool) -> Vec<SignedRecord> {
        let key = SigningKey::from_slice(&[3; 32]).expect("key");
        let mut prev = PREV_NONE;
        let mut out = Vec::new();
        for seq in 0..n {
            let r = ChunkRecord::for_audio(
                "rec-1",
                "alarm-1",
                "dev-1",
                seq,
                prev,
                &[seq as u8; 100],
                (seq * 2000, seq * 2000 + 2000),
                (seq * 2000, seq * 2000 + 2000),
                is_final && seq + 1 == n,
            );
            let bytes = record::seal(&r, &key).expect("seal");
            let parsed = record::parse(&bytes).expect("parse");
            prev = parsed.hash;
            out.push(parsed);
        }
        out
    }

    #[test]
    fn final_and_truncated_chains() {
        assert_eq!(check(&chain(4, true)), Ok(ChainEnd::Final { last_seq: 3 }));
        assert_eq!(
            check(&chain(4, false)),
            Ok(ChainEnd::Truncated { last_seq: 3 })
        );
        assert_eq!(check(&[]), Err(vec![ChainError::Empty]));
    }

    #[test]
    fn breaks_are_found() {
        let mut c = chain(4, true);
        c.swap(1, 2);
        let errors = check(&c).expect_err("swapped");
        assert!(errors.contains(&ChainError::Seq {
            index: 1,
            expected: 1,
            found: 2
        }));
        assert!(errors.contains(&ChainError::Prev { index: 1 }));

        let mut c = chain(4, true);
        c.remove(2);
        let errors = check(&c).expect_err("gap");
        assert!(errors.contains(&ChainError::Prev { index: 2 }));

        let c = chain(4, true);
        let mut twice = c.clone();
        twice.insert(2, c[1].clone());
        assert!(check(&twice).is_err());

        let mut c = chain(3, true);
        c.extend(chain(5, true).into_iter().skip(3));
        let errors = check(&c).expect_err("final in the middle");
        assert!(errors.contains(&ChainError::FinalNotLast { index: 2 }));
    }
}

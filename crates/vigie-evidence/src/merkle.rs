//! The Merkle tree of the hub's append-only log, as in Certificate
//! Transparency (RFC 9162 §2.1): leaves and nodes are domain-separated,
//! `SHA-256(0x00 ‖ entry)` and `SHA-256(0x01 ‖ left ‖ right)`; the tree of
//! n leaves splits at the largest power of two below n. Inclusion and
//! consistency proofs are generated and verified with RFC 9162's
//! algorithms (§2.1.3 and §2.1.4).
//!
//! Generation takes the leaf hashes of the whole tree and costs O(n) per
//! proof: fine for tests and small logs; a hub with a large log keeps
//! subtree hashes and computes the same paths.

use crate::text::{Hash, sha256};
use sha2::{Digest as _, Sha256};

/// Longest proof accepted: an inclusion path has at most 64 hashes for a
/// tree of fewer than 2^64 leaves; a consistency path at most about twice
/// that. Refusing longer ones bounds the work on a forged proof.
pub const PROOF_HASHES_MAX: usize = 128;

/// Leaf hash of a log entry: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// Interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n ≥ 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// The root (Merkle tree hash) of the given leaf hashes; of no leaves,
/// SHA-256 of the empty string.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// The inclusion proof (audit path) of leaf `index` in the tree of
/// `leaves`, from the leaf upwards; `None` if `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Option<Vec<Hash>> {
    let index = usize::try_from(index).ok()?;
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    inclusion_path(index, leaves, &mut path);
    Some(path)
}

fn inclusion_path(m: usize, leaves: &[Hash], path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        inclusion_path(m, &leaves[..k], path);
        path.push(root(&leaves[k..]));
    } else {
        inclusion_path(m - k, &leaves[k..], path);
        path.push(root(&leaves[..k]));
    }
}

/// The consistency proof from the tree of the first `from_size` leaves to
/// the tree of all `leaves`; `None` if `from_size` is larger. Empty when
/// the sizes are equal or `from_size` is 0.
pub fn consistency_proof(leaves: &[Hash], from_size: u64) -> Option<Vec<Hash>> {
    let m = usize::try_from(from_size).ok()?;
    if m > leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    if m > 0 && m < leaves.len() {
        subproof(m, leaves, true, &mut path);
    }
    Some(path)
}

fn subproof(m: usize, leaves: &[Hash], whole: bool, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !whole {
            path.push(root(leaves));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &leaves[..k], whole, path);
        path.push(root(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, path);
        path.push(root(&leaves[..k]));
    }
}

/// Why a proof does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the first tree ({from}) is larger than the second ({to})")]
    SizesOutOfOrder { from: u64, to: u64 },
    #[error("the path has {0} hashes, more than allowed")]
    TooLong(usize),
    #[error("the path has the wrong length for these sizes")]
    WrongLength,
    #[error("the computed root does not match")]
    RootMismatch,
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if path.len() > PROOF_HASHES_MAX {
        return Err(ProofError::TooLong(path.len()));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `from_size` leaves with root `from_root` is a
/// prefix of the tree of `to_size` leaves with root `to_root`
/// (RFC 9162 §2.1.4.2; equal sizes need equal roots and an empty path; the
/// empty tree is a prefix of every tree).
pub fn verify_consistency(
    from_size: u64,
    to_size: u64,
    path: &[Hash],
    from_root: &Hash,
    to_root: &Hash,
) -> Result<(), ProofError> {
    if from_size > to_size {
        return Err(ProofError::SizesOutOfOrder {
            from: from_size,
            to: to_size,
        });
    }
    if path.len() > PROOF_HASHES_MAX {
        return Err(ProofError::TooLong(path.len()));
    }
    if from_size == to_size || from_size == 0 {
        if !path.is_empty() {
            return Err(ProofError::WrongLength);
        }
        let same = if from_size == 0 {
            *from_root == sha256(b"")
        } else {
            from_root == to_root
        };
        return if same {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if path.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut nodes: Vec<&Hash> = Vec::with_capacity(path.len() + 1);
    if from_size.is_power_of_two() {
        nodes.push(from_root);
    }
    nodes.extend(path);
    let (mut f, mut s) = (from_size - 1, to_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*nodes[0], *nodes[0]);
    for c in &nodes[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *from_root || sr != *to_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{hex, parse_hash};
    use proptest::prelude::*;

    /// The eight leaves of the Certificate Transparency reference tests
    /// (RFC 6962 test data, used by the Go and trillian implementations).
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Roots of the trees of the first 1…8 CT leaves.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
            .collect()
    }

    fn h(s: &str) -> Hash {
        parse_hash(s).expect("hash")
    }

    fn ct_leaves() -> Vec<Hash> {
        CT_LEAVES.iter().map(|l| leaf_hash(&unhex(l))).collect()
    }

    #[test]
    fn ct_reference_roots() {
        let leaves = ct_leaves();
        for (n, expected) in CT_ROOTS.iter().enumerate() {
            assert_eq!(hex(&root(&leaves[..=n])), *expected, "size {}", n + 1);
        }
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn ct_reference_inclusion_proofs() {
        let leaves = ct_leaves();
        // (leaf index, tree size, path) from the CT reference tests.
        let cases: [(u64, usize, &[&str]); 4] = [
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, path) in cases {
            let expected: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            let tree = &leaves[..size];
            assert_eq!(inclusion_proof(tree, index), Some(expected.clone()));
            let root = root(tree);
            let leaf = leaves[usize::try_from(index).expect("index")];
            assert_eq!(
                verify_inclusion(&leaf, index, size as u64, &expected, &root),
                Ok(())
            );
        }
    }

    #[test]
    fn ct_reference_consistency_proofs() {
        let leaves = ct_leaves();
        let cases: [(usize, usize, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (from, to, path) in cases {
            let expected: Vec<Hash> = path.iter().map(|p| h(p)).collect();
            let tree = &leaves[..to];
            assert_eq!(consistency_proof(tree, from as u64), Some(expected.clone()));
            assert_eq!(
                verify_consistency(
                    from as u64,
                    to as u64,
                    &expected,
                    &root(&leaves[..from]),
                    &root(tree)
                ),
                Ok(())
            );
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    fn flip(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[(bit / 8) % 32] ^= 1 << (bit % 8);
        out
    }

    proptest! {
        #[test]
        fn every_inclusion_proof_verifies_and_no_flip_does(
            n in 1usize..200, i in any::<prop::sample::Index>(), bit in 0usize..256
        ) {
            let tree = leaves(n);
            let index = i.index(n);
            let r = root(&tree);
            let path = inclusion_proof(&tree, index as u64).expect("in range");
            let (idx, size) = (index as u64, n as u64);
            prop_assert_eq!(verify_inclusion(&tree[index], idx, size, &path, &r), Ok(()));
            prop_assert!(verify_inclusion(&flip(&tree[index], bit), idx, size, &path, &r).is_err());
            prop_assert!(verify_inclusion(&tree[index], idx, size, &path, &flip(&r, bit)).is_err());
            for k in 0..path.len() {
                let mut bad = path.clone();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_inclusion(&tree[index], idx, size, &bad, &r).is_err());
            }
            if n > 1 {
                // Another leaf, position or size does not pass either.
                let other = (index + 1) % n;
                prop_assert!(verify_inclusion(&tree[other], idx, size, &path, &r).is_err());
                prop_assert!(verify_inclusion(&tree[index], other as u64, size, &path, &r).is_err());
            }
            // (The size itself is bound by the signed checkpoint, not by the
            // path: the same path can fit a tree one leaf larger.)
        }

        #[test]
        fn every_consistency_proof_verifies_and_no_flip_does(
            n in 1usize..200, m in any::<prop::sample::Index>(), bit in 0usize..256
        ) {
            let tree = leaves(n);
            let m = m.index(n) + 1; // 1..=n
            let (r1, r2) = (root(&tree[..m]), root(&tree));
            let path = consistency_proof(&tree, m as u64).expect("m <= n");
            let (from, to) = (m as u64, n as u64);
            prop_assert_eq!(verify_consistency(from, to, &path, &r1, &r2), Ok(()));
            prop_assert!(verify_consistency(from, to, &path, &flip(&r1, bit), &r2).is_err());
            prop_assert!(verify_consistency(from, to, &path, &r1, &flip(&r2, bit)).is_err());
            for k in 0..path.len() {
                let mut bad = path.clone();
                bad[k] = flip(&bad[k], bit);
                prop_assert!(verify_consistency(from, to, &bad, &r1, &r2).is_err());
            }
            // A log whose earlier leaf was rewritten is not consistent.
            let mut rewritten = tree.clone();
            rewritten[(bit * 7) % m] = flip(&rewritten[(bit * 7) % m], bit);
            let path2 = consistency_proof(&rewritten, from).expect("m <= n");
            prop_assert!(verify_consistency(from, to, &path2, &r1, &root(&rewritten)).is_err());
        }
    }

    #[test]
    fn degenerate_consistency() {
        let tree = leaves(5);
        let r = root(&tree);
        assert_eq!(verify_consistency(5, 5, &[], &r, &r), Ok(()));
        assert!(verify_consistency(5, 5, &[r], &r, &r).is_err());
        assert!(verify_consistency(5, 4, &[], &r, &r).is_err());
        assert_eq!(verify_consistency(0, 5, &[], &sha256(b""), &r), Ok(()));
        assert!(verify_consistency(3, 5, &[], &root(&tree[..3]), &r).is_err());
        assert_eq!(
            verify_inclusion(&tree[0], 5, 5, &[], &r),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
    }
}

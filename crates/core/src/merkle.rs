//! The Infonet Merkle tree over event ids.
//!
//! leaf = sha256(utf8(event_id)); parent = sha256(utf8(left_hex + right_hex)) (hex strings are
//! concatenated, not bytes); an odd node at the end of a level is paired with itself. The root of
//! an empty chain is [`GENESIS_HASH`]. Proof steps carry the sibling hash and the side it sits on.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use crate::canonical::GENESIS_HASH;

/// Side of a sibling in a proof step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// One proof step: the sibling hash and where it sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofStep {
    pub hash: String,
    pub side: Side,
}

/// Proof generation errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MerkleError {
    #[error("tree is empty")]
    Empty,
    #[error("leaf index {0} out of range for {1} leaves")]
    IndexOutOfRange(usize, usize),
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Leaf hash of an event id.
pub fn hash_leaf(event_id: &str) -> String {
    sha_hex(event_id.as_bytes())
}

/// Parent hash of two hex node hashes.
pub fn hash_pair(left: &str, right: &str) -> String {
    let mut h = Sha256::new();
    h.update(left.as_bytes());
    h.update(right.as_bytes());
    hex::encode(h.finalize())
}

/// All levels, leaves first, root last. Empty input gives no levels.
pub fn build_levels<S: AsRef<str>>(leaves: &[S]) -> Vec<Vec<String>> {
    if leaves.is_empty() {
        return Vec::new();
    }
    let mut level: Vec<String> = leaves.iter().map(|l| hash_leaf(l.as_ref())).collect();
    let mut levels = Vec::new();
    while level.len() > 1 {
        let next: Vec<String> = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => hash_pair(l, r),
                [l] => hash_pair(l, l),
                _ => String::new(),
            })
            .collect();
        levels.push(level);
        level = next;
    }
    levels.push(level);
    levels
}

/// Merkle root of the event ids ([`GENESIS_HASH`] for none).
pub fn merkle_root<S: AsRef<str>>(event_ids: &[S]) -> String {
    build_levels(event_ids)
        .last()
        .and_then(|l| l.first().cloned())
        .unwrap_or_else(|| GENESIS_HASH.to_string())
}

/// Inclusion proof for leaf `index`.
pub fn merkle_proof<S: AsRef<str>>(
    event_ids: &[S],
    index: usize,
) -> Result<Vec<ProofStep>, MerkleError> {
    proof_from_levels(&build_levels(event_ids), index)
}

/// Inclusion proof from precomputed levels.
pub fn proof_from_levels(
    levels: &[Vec<String>],
    index: usize,
) -> Result<Vec<ProofStep>, MerkleError> {
    let n = levels.first().map(Vec::len).ok_or(MerkleError::Empty)?;
    if index >= n {
        return Err(MerkleError::IndexOutOfRange(index, n));
    }
    let mut idx = index;
    let mut proof = Vec::new();
    for level in levels.iter().take(levels.len().saturating_sub(1)) {
        let is_right = idx % 2 == 1;
        let sib = if is_right { idx - 1 } else { idx + 1 };
        let hash = level
            .get(sib)
            .or_else(|| level.get(idx))
            .cloned()
            .unwrap_or_default();
        proof.push(ProofStep {
            hash,
            side: if is_right { Side::Left } else { Side::Right },
        });
        idx /= 2;
    }
    Ok(proof)
}

/// Verify an inclusion proof for `event_id` against `root`.
pub fn verify_proof(event_id: &str, proof: &[ProofStep], root: &str) -> bool {
    let mut cur = hash_leaf(event_id);
    for step in proof {
        cur = match step.side {
            Side::Left => hash_pair(&step.hash, &cur),
            Side::Right => hash_pair(&cur, &step.hash),
        };
    }
    cur == root
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json::{parse, Value};
    use proptest::prelude::*;

    #[test]
    fn fixtures() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/shadowbroker/mesh-merkle-fixtures.json"
        );
        let f = parse(&std::fs::read(path).unwrap()).unwrap();
        let leaves: Vec<String> = f
            .get("leaves")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(Value::py_str)
            .collect();
        let root = f.get("root").unwrap().as_str().unwrap();
        assert_eq!(merkle_root(&leaves), root);
        for (idx, steps) in f.get("proofs").unwrap().as_object().unwrap() {
            let i: usize = idx.parse().unwrap();
            let want: Vec<ProofStep> =
                serde_json::from_value(serde_json::Value::from(steps)).unwrap();
            assert_eq!(merkle_proof(&leaves, i).unwrap(), want);
            assert!(verify_proof(&leaves[i], &want, root));
            assert!(!verify_proof("zz", &want, root));
        }
    }

    #[test]
    fn edges() {
        let none: [&str; 0] = [];
        assert_eq!(merkle_root(&none), GENESIS_HASH);
        assert_eq!(merkle_proof(&none, 0), Err(MerkleError::Empty));
        assert_eq!(merkle_root(&["a"]), hash_leaf("a"));
        assert_eq!(merkle_proof(&["a"], 0).unwrap(), vec![]);
        assert_eq!(
            merkle_proof(&["a"], 1),
            Err(MerkleError::IndexOutOfRange(1, 1))
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_leaf_proves(n in 1usize..40) {
            let ids: Vec<String> = (0..n).map(|i| format!("{i:064x}")).collect();
            let root = merkle_root(&ids);
            for i in 0..n {
                let p = merkle_proof(&ids, i).unwrap();
                prop_assert!(verify_proof(&ids[i], &p, &root));
            }
        }
    }
}

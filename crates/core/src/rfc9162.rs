//! RFC 9162 (Certificate Transparency v2) Merkle log: hashing, roots, inclusion and consistency
//! proofs, generation and verification. Every edge case is explicit and typed.
//!
//! Hashes: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right); the empty tree's
//! root is SHA-256(""). All hashes handled here must be exactly 32 bytes.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Domain-separation prefix of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior node hashes.
pub const NODE_PREFIX: u8 = 0x01;
/// Hash size in bytes.
pub const HASH_LEN: usize = 32;

/// A 32-byte tree hash.
pub type Hash = [u8; HASH_LEN];

/// Verification and generation errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    #[error("index {index} is beyond tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("size1 {size1} is greater than size2 {size2}")]
    Size1GreaterThanSize2 { size1: u64, size2: u64 },
    #[error("consistency proof with an empty old tree is not allowed")]
    EmptyOldTree,
    #[error("proof has wrong length: got {got}, want {want}")]
    WrongProofLength { got: usize, want: usize },
    #[error("proof must be empty when sizes are equal")]
    NonEmptyProofForEqualSizes,
    #[error("proof must not be empty")]
    EmptyProof,
    #[error("hash has {0} bytes, want 32")]
    BadHashLength(usize),
    #[error("calculated root does not match")]
    RootMismatch,
    #[error("calculated old root does not match")]
    Root1Mismatch,
}

/// Leaf hash.
pub fn hash_leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// Interior node hash.
pub fn hash_children(left: &[u8], right: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

fn as_hash(b: &[u8]) -> Result<Hash, ProofError> {
    <Hash>::try_from(b).map_err(|_| ProofError::BadHashLength(b.len()))
}

/// Largest power of two strictly less than `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    let mut k = 1usize;
    while k.saturating_mul(2) < n {
        k *= 2;
    }
    k
}

/// Merkle tree hash over leaf hashes.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            hash_children(
                &root_from_leaf_hashes(&leaves[..k]),
                &root_from_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// Inclusion proof (audit path) for leaf `index` among `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
        if d.len() <= 1 {
            return;
        }
        let k = split_point(d.len());
        if m < k {
            path(m, &d[..k], out);
            out.push(root_from_leaf_hashes(&d[k..]));
        } else {
            path(m - k, &d[k..], out);
            out.push(root_from_leaf_hashes(&d[..k]));
        }
    }
    let mut out = Vec::new();
    path(index as usize, leaves, &mut out);
    Ok(out)
}

/// Consistency proof from the first `size1` leaves to all of `leaves`.
pub fn consistency_proof(leaves: &[Hash], size1: u64) -> Result<Vec<Hash>, ProofError> {
    let size2 = leaves.len() as u64;
    if size1 > size2 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 });
    }
    if size1 == size2 {
        return Ok(Vec::new());
    }
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
        let n = d.len();
        if m == n {
            if !complete {
                out.push(root_from_leaf_hashes(d));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            subproof(m, &d[..k], complete, out);
            out.push(root_from_leaf_hashes(&d[k..]));
        } else {
            subproof(m - k, &d[k..], false, out);
            out.push(root_from_leaf_hashes(&d[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(size1 as usize, leaves, true, &mut out);
    Ok(out)
}

/// Number of inclusion-proof hashes for (index, size), index < size.
fn inclusion_proof_len(index: u64, size: u64) -> (usize, usize) {
    // inner: levels where the index and the last leaf share a subtree path; border: the rest.
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    (inner, border)
}

/// Root implied by an inclusion proof.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[Vec<u8>],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf = as_hash(leaf_hash)?;
    let (inner, border) = inclusion_proof_len(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want: inner + border,
        });
    }
    let mut r = leaf;
    for (i, p) in proof.iter().enumerate() {
        let p = as_hash(p)?;
        if i < inner {
            r = if index.checked_shr(i as u32).unwrap_or(0) & 1 == 0 {
                hash_children(&r, &p)
            } else {
                hash_children(&p, &r)
            };
        } else {
            r = hash_children(&p, &r);
        }
    }
    Ok(r)
}

/// Verify that `leaf_hash` is at `index` in the tree of `size` with `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), ProofError> {
    let root = as_hash(root)?;
    let calc = root_from_inclusion_proof(index, size, leaf_hash, proof)?;
    if calc != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verify that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size2 < size1 {
        return Err(ProofError::Size1GreaterThanSize2 { size1, size2 });
    }
    if size1 == size2 {
        // Same tree: nothing to prove, the roots must simply be identical (and an empty tree
        // has exactly one root, SHA-256 of the empty string).
        if !proof.is_empty() {
            return Err(ProofError::NonEmptyProofForEqualSizes);
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        if size1 == 0 && root1 != empty_root().as_slice() {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    let r1 = as_hash(root1)?;
    let r2 = as_hash(root2)?;
    if proof.is_empty() {
        return Err(ProofError::EmptyProof);
    }
    let mut hashes = Vec::with_capacity(proof.len() + 1);
    for p in proof {
        hashes.push(as_hash(p)?);
    }
    // Walk from the last old leaf up past the levels where it is a right child-complete subtree.
    let (inner, border) = inclusion_proof_len(size1 - 1, size2);
    let shift = (size1.trailing_zeros() as usize).min(inner);
    let inner = inner - shift;
    // When size1 is a power of two the old root itself is the seed and is not sent.
    let seed_from_proof = size1 != (1u64 << shift);
    let want = inner + border + usize::from(seed_from_proof);
    if hashes.len() != want {
        return Err(ProofError::WrongProofLength {
            got: hashes.len(),
            want,
        });
    }
    let (seed, rest) = if seed_from_proof {
        (hashes[0], &hashes[1..])
    } else {
        (r1, &hashes[..])
    };
    let mask = (size1 - 1) >> shift;
    let mut h1 = seed;
    let mut h2 = seed;
    for (i, p) in rest.iter().enumerate().take(inner) {
        if mask.checked_shr(i as u32).unwrap_or(0) & 1 == 1 {
            h1 = hash_children(p, &h1);
            h2 = hash_children(p, &h2);
        } else {
            h2 = hash_children(&h2, p);
        }
    }
    for p in rest.iter().skip(inner) {
        h1 = hash_children(p, &h1);
        h2 = hash_children(p, &h2);
    }
    if h1 != r1 {
        return Err(ProofError::Root1Mismatch);
    }
    if h2 != r2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json::{parse, Value};
    use base64::Engine as _;
    use proptest::prelude::*;

    fn b64(v: &Value) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap()
    }
    fn proof(v: Option<&Value>) -> Vec<Vec<u8>> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().map(b64).collect())
            .unwrap_or_default()
    }
    fn u(v: &Value, k: &str) -> u64 {
        v.get(k).unwrap().py_int().unwrap().to_u64().unwrap()
    }

    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }

    #[test]
    fn transparency_dev_vectors() {
        let base = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/transparency-dev/testdata"
        ));
        let mut files = Vec::new();
        walk(base, &mut files);
        assert!(files.len() >= 190, "{}", files.len());
        let (mut inc, mut con) = (0, 0);
        for f in &files {
            let v = parse(&std::fs::read(f).unwrap()).unwrap();
            let want_err = v.get("wantErr").unwrap() == &Value::Bool(true);
            let res = if v.contains_key("leafIdx") {
                inc += 1;
                verify_inclusion(
                    u(&v, "leafIdx"),
                    u(&v, "treeSize"),
                    &b64(v.get("leafHash").unwrap()),
                    &proof(v.get("proof")),
                    &b64(v.get("root").unwrap()),
                )
            } else {
                con += 1;
                verify_consistency(
                    u(&v, "size1"),
                    u(&v, "size2"),
                    &proof(v.get("proof")),
                    &b64(v.get("root1").unwrap()),
                    &b64(v.get("root2").unwrap()),
                )
            };
            assert_eq!(res.is_err(), want_err, "{}: {:?}", f.display(), res);
        }
        assert!(inc > 0 && con > 0);
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| hash_leaf(&(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn explicit_edges() {
        assert_eq!(root_from_leaf_hashes(&[]), empty_root());
        let l = leaves(5);
        let root = root_from_leaf_hashes(&l);
        assert_eq!(
            inclusion_proof(&l, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(0, 0, &l[0], &[], &root),
            Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(verify_inclusion(0, 1, &l[0], &[], &l[0]), Ok(()));
        assert!(matches!(
            verify_inclusion(0, 5, &l[0], &[], &root),
            Err(ProofError::WrongProofLength { .. })
        ));
        assert_eq!(
            verify_inclusion(0, 1, &l[0][..5], &[], &l[0]),
            Err(ProofError::BadHashLength(5))
        );
        assert_eq!(
            consistency_proof(&l, 6),
            Err(ProofError::Size1GreaterThanSize2 { size1: 6, size2: 5 })
        );
        assert_eq!(consistency_proof(&l, 0), Err(ProofError::EmptyOldTree));
        assert_eq!(consistency_proof(&l, 5).unwrap(), Vec::<Hash>::new());
        assert_eq!(verify_consistency(5, 5, &[], &root, &root), Ok(()));
        assert_eq!(
            verify_consistency(5, 5, &[root.to_vec()], &root, &root),
            Err(ProofError::NonEmptyProofForEqualSizes)
        );
        assert_eq!(
            verify_consistency(6, 5, &[], &root, &root),
            Err(ProofError::Size1GreaterThanSize2 { size1: 6, size2: 5 })
        );
        let r2 = root_from_leaf_hashes(&l[..2]);
        assert_eq!(
            verify_consistency(2, 5, &[], &r2, &root),
            Err(ProofError::EmptyProof)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn generated_proofs_verify(n in 1usize..70, a in 0usize..70, b in 0usize..70) {
            let l = leaves(n);
            let root = root_from_leaf_hashes(&l);
            let i = a % n;
            let p: Vec<Vec<u8>> = inclusion_proof(&l, i as u64).unwrap().iter().map(|h| h.to_vec()).collect();
            prop_assert_eq!(verify_inclusion(i as u64, n as u64, &l[i], &p, &root), Ok(()));
            if !p.is_empty() {
                let mut bad = p.clone();
                bad[0][0] ^= 1;
                prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &bad, &root).is_err());
                prop_assert!(verify_inclusion(i as u64, n as u64, &l[i], &p[1..], &root).is_err());
            }
            let m = 1 + b % n;
            let c: Vec<Vec<u8>> = consistency_proof(&l, m as u64).unwrap().iter().map(|h| h.to_vec()).collect();
            let r1 = root_from_leaf_hashes(&l[..m]);
            prop_assert_eq!(verify_consistency(m as u64, n as u64, &c, &r1, &root), Ok(()));
            if m < n {
                let mut bad = c.clone();
                let last = bad.len() - 1;
                bad[last][3] ^= 0x10;
                prop_assert!(verify_consistency(m as u64, n as u64, &bad, &r1, &root).is_err());
            }
        }

        #[test]
        fn verifiers_never_panic(i in any::<u64>(), s in any::<u64>(), k in 0usize..5, junk in proptest::collection::vec(any::<u8>(), 0..40)) {
            let proof = vec![junk.clone(); k];
            let _ = verify_inclusion(i, s, &junk, &proof, &junk);
            let _ = verify_consistency(i, s, &proof, &junk, &junk);
        }
    }
}

//! Merkle trees: the Infonet tree over event ids (hex strings) and RFC 9162 log proofs (bytes).
//!
//! RFC 9162 hashes are 32-byte `Uint8Array`s; lists of hashes (leaf hashes, proofs) are passed as
//! one concatenated `Uint8Array` of `32 × n` bytes, which crosses the JS↔wasm boundary in a
//! single copy.
use postern_core::merkle::{self, ProofStep, Side};
use postern_core::rfc9162::{self, Hash, ProofError, HASH_LEN};
use wasm_bindgen::prelude::*;

use crate::error::{js_error, merkle_error, proof_error, to_u64};
use crate::results::{to_js_vec, MerkleProofStep, MerkleProofStepJs};

/// Infonet Merkle root (hex) over event ids, in chain order. Empty list: the genesis hash.
#[wasm_bindgen(js_name = merkleRoot)]
pub fn merkle_root(event_ids: Vec<String>) -> String {
    merkle::merkle_root(&event_ids)
}

/// Infonet leaf hash (hex) of one event id.
#[wasm_bindgen(js_name = merkleLeafHash)]
pub fn merkle_leaf_hash(event_id: &str) -> String {
    merkle::hash_leaf(event_id)
}

/// Inclusion proof for the event id at `index`. Throws `merkle_empty`,
/// `merkle_index_out_of_range`.
#[wasm_bindgen(js_name = merkleProof)]
pub fn merkle_proof(event_ids: Vec<String>, index: f64) -> Result<Vec<MerkleProofStepJs>, JsValue> {
    let index = usize::try_from(to_u64(index, "index")?)
        .map_err(|_| js_error("invalid_argument", "index out of range"))?;
    let proof = merkle::merkle_proof(&event_ids, index).map_err(merkle_error)?;
    let steps: Vec<MerkleProofStep> = proof.into_iter().map(Into::into).collect();
    to_js_vec(&steps)
}

/// Verify an Infonet inclusion proof (`[{hash, side}]`, as from `merkleProof` or a relay's
/// `/merkle` answer). Returns `false` on mismatch; throws `invalid_argument` if `proof` is not
/// an array of `{hash: string, side: "left" | "right"}`.
#[wasm_bindgen(js_name = merkleVerifyProof)]
pub fn merkle_verify_proof(
    event_id: &str,
    #[wasm_bindgen(unchecked_param_type = "MerkleProofStep[]")] proof: JsValue,
    root: &str,
) -> Result<bool, JsValue> {
    let bad = || js_error("invalid_argument", "proof must be an array of {hash, side}");
    let arr: js_sys::Array = proof.dyn_into().map_err(|_| bad())?;
    let mut steps = Vec::with_capacity(arr.length() as usize);
    for item in arr.iter() {
        let get = |k: &str| {
            js_sys::Reflect::get(&item, &JsValue::from_str(k))
                .ok()?
                .as_string()
        };
        let hash = get("hash").ok_or_else(bad)?;
        let side = match get("side").as_deref() {
            Some("left") => Side::Left,
            Some("right") => Side::Right,
            _ => return Err(bad()),
        };
        steps.push(ProofStep { hash, side });
    }
    Ok(merkle::verify_proof(event_id, &steps, root))
}

fn split_hashes(concat: &[u8]) -> Result<Vec<Vec<u8>>, JsValue> {
    if concat.len() % HASH_LEN != 0 {
        return Err(proof_error(ProofError::BadHashLength(
            concat.len() % HASH_LEN,
        )));
    }
    Ok(concat.chunks_exact(HASH_LEN).map(<[u8]>::to_vec).collect())
}

fn leaf_hashes(concat: &[u8]) -> Result<Vec<Hash>, JsValue> {
    if concat.len() % HASH_LEN != 0 {
        return Err(proof_error(ProofError::BadHashLength(
            concat.len() % HASH_LEN,
        )));
    }
    Ok(concat
        .chunks_exact(HASH_LEN)
        .map(|c| {
            let mut h = [0u8; HASH_LEN];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// RFC 9162 leaf hash: SHA-256(0x00 ‖ data).
#[wasm_bindgen(js_name = rfc9162LeafHash)]
pub fn rfc9162_leaf_hash(data: &[u8]) -> Vec<u8> {
    rfc9162::hash_leaf(data).to_vec()
}

/// RFC 9162 tree root over concatenated 32-byte leaf hashes.
/// Throws `rfc9162_bad_hash_length`.
#[wasm_bindgen(js_name = rfc9162Root)]
pub fn rfc9162_root(leaf_hashes_concat: &[u8]) -> Result<Vec<u8>, JsValue> {
    Ok(rfc9162::root_from_leaf_hashes(&leaf_hashes(leaf_hashes_concat)?).to_vec())
}

/// RFC 9162 inclusion proof (concatenated hashes) for leaf `index`.
#[wasm_bindgen(js_name = rfc9162InclusionProof)]
pub fn rfc9162_inclusion_proof(leaf_hashes_concat: &[u8], index: f64) -> Result<Vec<u8>, JsValue> {
    let leaves = leaf_hashes(leaf_hashes_concat)?;
    let proof = rfc9162::inclusion_proof(&leaves, to_u64(index, "index")?).map_err(proof_error)?;
    Ok(proof.concat())
}

/// RFC 9162 consistency proof (concatenated hashes) from the first `size1` leaves to all.
#[wasm_bindgen(js_name = rfc9162ConsistencyProof)]
pub fn rfc9162_consistency_proof(
    leaf_hashes_concat: &[u8],
    size1: f64,
) -> Result<Vec<u8>, JsValue> {
    let leaves = leaf_hashes(leaf_hashes_concat)?;
    let proof =
        rfc9162::consistency_proof(&leaves, to_u64(size1, "size1")?).map_err(proof_error)?;
    Ok(proof.concat())
}

/// Verify an RFC 9162 inclusion proof. Returns nothing when it holds; throws
/// `rfc9162_root_mismatch`, `rfc9162_wrong_proof_length`, `rfc9162_index_out_of_range`,
/// `rfc9162_bad_hash_length`.
#[wasm_bindgen(js_name = rfc9162VerifyInclusion)]
pub fn rfc9162_verify_inclusion(
    index: f64,
    size: f64,
    leaf_hash: &[u8],
    proof_concat: &[u8],
    root: &[u8],
) -> Result<(), JsValue> {
    let proof = split_hashes(proof_concat)?;
    rfc9162::verify_inclusion(
        to_u64(index, "index")?,
        to_u64(size, "size")?,
        leaf_hash,
        &proof,
        root,
    )
    .map_err(proof_error)
}

/// Verify an RFC 9162 consistency proof between tree sizes `size1` ≤ `size2`. Returns nothing
/// when it holds; throws `rfc9162_root1_mismatch`, `rfc9162_root_mismatch`,
/// `rfc9162_wrong_proof_length`, `rfc9162_empty_old_tree`, ….
#[wasm_bindgen(js_name = rfc9162VerifyConsistency)]
pub fn rfc9162_verify_consistency(
    size1: f64,
    size2: f64,
    proof_concat: &[u8],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), JsValue> {
    let proof = split_hashes(proof_concat)?;
    rfc9162::verify_consistency(
        to_u64(size1, "size1")?,
        to_u64(size2, "size2")?,
        &proof,
        root1,
        root2,
    )
    .map_err(proof_error)
}

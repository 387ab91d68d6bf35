//! Ed25519 batch verification whose verdict is exactly "every signature passes `verify_strict`":
//! one decompression per `R`, per-key checks once per distinct key, the prime-order check of the
//! `R`s batched across signatures, and the `A` terms of one author folded into one coefficient.
//!
//! Why the checks: the batch equation `Σ zᵢ(sᵢB − Rᵢ − kᵢAᵢ) = 0` agrees with the strict
//! (cofactorless) single equation only when every `Aᵢ` and `Rᵢ` lies in the prime-order subgroup
//! (torsion parts of two bad signatures can cancel in the sum) and is canonically encoded
//! (`verify_strict` compares `R` bytes). Keys are few, so each distinct key is checked exactly.
//! `R`s are unique per signature, and an exact check costs a scalar multiplication by ℓ each —
//! about as much as a strict verification. For large batches the `R`s are instead checked with
//! [`TORSION_ROUNDS`] random subset sums: `Rᵢ = Pᵢ + Tᵢ` with `Tᵢ` in the 8-torsion, and
//! `[ℓ](Σ_{i∈S} Rᵢ) = [ℓ](Σ_{i∈S} Tᵢ)`, which is the identity for a uniformly random subset `S`
//! with probability at most ½ whenever some `Tᵢ ≠ 0` (toggling one bad index changes the sum).
//! 128 independent subsets bound a wrong verdict by 2⁻¹²⁸ — the same bound as the batch equation's
//! own 128-bit coefficients. Subset sums share work (groups of [`GROUP`] points, all subset sums
//! of a group precomputed), so a large batch costs ≈ 31 point additions per `R` plus 128
//! multiplications by ℓ per batch, instead of one multiplication by ℓ per `R`.
//!
//! The coefficients and subsets are derived (Fiat–Shamir) from a hash of every input, so the
//! verdict is deterministic and an adversary cannot choose inputs after seeing them.

use std::collections::HashMap;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity as _, IsIdentity as _, VartimeMultiscalarMul as _};
use ed25519_dalek::{Signature as EdSignature, VerifyingKey as EdKey};
use sha2::{Digest as _, Sha512};

use crate::labels::ED25519_BATCH_SEED;

/// Independent random subset sums used to check the `R`s of a large batch (error ≤ 2⁻ʳᵒᵘⁿᵈˢ).
pub const TORSION_ROUNDS: usize = 128;
/// Points per group whose 2^GROUP subset sums are precomputed for the subset-sum check.
const GROUP: usize = 6;
/// Below this many signatures, each `R` gets the exact per-point check (cheaper there). The
/// measured break-even (`examples/r_check_cost.rs`, BENCHMARKS.md "R check break-even"): native
/// 182 points (callgrind: exact ≈ 263k instructions per point, subset sums ≈ 78k per point +
/// 33.7M per batch), wasm (the app worker's profile) between 176 and 192.
pub const SUBSET_CHECK_MIN: usize = 184;

/// `[ℓ]P = 0`, variable time (public data only): `[ℓ−1]P = −P` with `ℓ−1` a reduced scalar.
pub fn is_torsion_free_vartime(p: &EdwardsPoint) -> bool {
    let l_minus_one = -Scalar::ONE;
    EdwardsPoint::vartime_multiscalar_mul([l_minus_one], [*p]) == -p
}

/// Is the 255-bit little-endian `y` (sign bit cleared) at least p = 2²⁵⁵ − 19?
fn y_not_reduced(bytes: &[u8; 32]) -> bool {
    bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|b| *b == 0xff) && bytes[0] >= 0xed
}

/// Decompress a point that is canonically encoded and not of small order; `None` otherwise.
/// (The only other non-canonical encodings, `x = 0` with the sign bit set, are the small-order
/// points `(0, ±1)`, so byte checks replace a re-compression.)
fn decompress_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if y_not_reduced(bytes) {
        return None;
    }
    let p = CompressedEdwardsY(*bytes).decompress()?;
    if p.is_small_order() {
        return None;
    }
    Some(p)
}

/// A key whose (cofactorless) batch equation matches `verify_strict`: canonical encoding of a
/// point of the prime-order subgroup (not small order). Exact.
pub fn key_batch_safe(key: &EdKey) -> bool {
    decompress_canonical(key.as_bytes()).is_some_and(|p| is_torsion_free_vartime(&p))
}

/// `R` canonical, prime order, not small order — exact, one point.
pub fn r_batch_safe(r: &[u8; 32]) -> bool {
    decompress_canonical(r).is_some_and(|p| is_torsion_free_vartime(&p))
}

/// Every point of `points` in the prime-order subgroup? Exact below [`SUBSET_CHECK_MIN`]
/// points, random subset sums (error ≤ 2⁻¹²⁸) above; `masks[i]` selects point i's subsets.
fn all_torsion_free(points: &[EdwardsPoint], masks: &[u128]) -> bool {
    if points.len() < SUBSET_CHECK_MIN {
        torsion_free_exact(points)
    } else {
        torsion_free_subsets(points, masks)
    }
}

/// The exact check of every point (one multiplication by ℓ each). Public for the cost
/// measurement that sets [`SUBSET_CHECK_MIN`] (`examples/r_check_cost.rs`).
pub fn torsion_free_exact(points: &[EdwardsPoint]) -> bool {
    points.iter().all(is_torsion_free_vartime)
}

/// The subset-sum check (error ≤ 2⁻¹²⁸ when `masks` are uniformly random and chosen after the
/// points): [`TORSION_ROUNDS`] sums, `masks[i]` bit r puts point i in sum r. Public for the
/// cost measurement that sets [`SUBSET_CHECK_MIN`] (`examples/r_check_cost.rs`).
pub fn torsion_free_subsets(points: &[EdwardsPoint], masks: &[u128]) -> bool {
    if masks.len() != points.len() {
        // A point without its mask would be in no sum: never "checked" by omission.
        return false;
    }
    let mut acc = vec![EdwardsPoint::identity(); TORSION_ROUNDS];
    let mut table = vec![EdwardsPoint::identity(); 1 << GROUP];
    for (group, group_masks) in points.chunks(GROUP).zip(masks.chunks(GROUP)) {
        for sel in 1usize..(1 << group.len()) {
            let low = sel.trailing_zeros() as usize;
            let rest = sel & (sel - 1);
            let (Some(prev), Some(p)) = (table.get(rest).copied(), group.get(low)) else {
                return false;
            };
            if let Some(slot) = table.get_mut(sel) {
                *slot = prev + p;
            }
        }
        for (round, a) in acc.iter_mut().enumerate() {
            let sel = group_masks
                .iter()
                .enumerate()
                .fold(0usize, |s, (k, m)| s | ((((m >> round) & 1) as usize) << k));
            if sel != 0 {
                if let Some(t) = table.get(sel) {
                    *a += t;
                }
            }
        }
    }
    acc.iter().all(is_torsion_free_vartime)
}

/// One signature of a batch, parsed.
struct Item {
    key: usize,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Batch-verify Ed25519 signatures with `verify_strict`'s verdict: `true` iff every
/// (message, signature, key) triple passes `VerifyingKey::verify_strict` (up to a 2⁻¹²⁸ error of
/// the random linear combination). Keys that are not batch-safe (mixed or small order,
/// non-canonical) are verified one by one with `verify_strict`. `keys_checked` promises that
/// every key already passed [`key_batch_safe`] (callers caching per-author checks).
pub fn verify_batch_strict(
    messages: &[&[u8]],
    signatures: &[&[u8]],
    keys: &[EdKey],
    keys_checked: bool,
) -> bool {
    let n = messages.len();
    if signatures.len() != n || keys.len() != n {
        return false;
    }
    // Distinct keys, each checked once.
    let mut key_index: HashMap<[u8; 32], usize> = HashMap::new();
    let mut distinct: Vec<EdwardsPoint> = Vec::new();
    let mut items: Vec<Item> = Vec::with_capacity(n);
    let mut seed = Sha512::new();
    seed.update(ED25519_BATCH_SEED);
    seed.update((n as u64).to_le_bytes());
    for ((msg, sig), key) in messages.iter().zip(signatures).zip(keys) {
        let Ok(sig_bytes) = <[u8; 64]>::try_from(*sig) else {
            return false;
        };
        let kb = key.as_bytes();
        let slot = match key_index.get(kb) {
            Some(i) => Some(*i),
            None => {
                let point = if keys_checked {
                    // Already decoded (and checked) when the caller built the key: no
                    // decompression per batch for authors kept in a key cache.
                    Some(key.to_edwards())
                } else {
                    decompress_canonical(kb).filter(is_torsion_free_vartime)
                };
                match point {
                    Some(p) => {
                        distinct.push(p);
                        key_index.insert(*kb, distinct.len() - 1);
                        Some(distinct.len() - 1)
                    }
                    None => None,
                }
            }
        };
        let Some(slot) = slot else {
            // Not batch-safe: exactly verify_strict.
            if key
                .verify_strict(msg, &EdSignature::from_bytes(&sig_bytes))
                .is_err()
            {
                return false;
            }
            continue;
        };
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig_bytes[..32]);
        s_bytes.copy_from_slice(&sig_bytes[32..]);
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let Some(r) = decompress_canonical(&r_bytes) else {
            return false;
        };
        let hram: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(kb)
            .chain_update(msg)
            .finalize()
            .into();
        seed.update(hram);
        seed.update(s_bytes);
        items.push(Item {
            key: slot,
            r,
            s,
            k: Scalar::from_bytes_mod_order_wide(&hram),
        });
    }
    if items.is_empty() {
        return true;
    }
    let seed: [u8; 64] = seed.finalize().into();
    let mut zs = Vec::with_capacity(items.len());
    let mut masks = Vec::with_capacity(items.len());
    for i in 0..items.len() {
        let h: [u8; 64] = Sha512::new()
            .chain_update(seed)
            .chain_update((i as u64).to_le_bytes())
            .finalize()
            .into();
        let mut z = [0u8; 16];
        let mut m = [0u8; 16];
        z.copy_from_slice(&h[..16]);
        m.copy_from_slice(&h[16..32]);
        zs.push(Scalar::from(u128::from_le_bytes(z)));
        masks.push(u128::from_le_bytes(m));
    }
    let rs: Vec<EdwardsPoint> = items.iter().map(|it| it.r).collect();
    if !all_torsion_free(&rs, &masks) {
        return false;
    }
    // Σ zᵢRᵢ + Σ_A (Σ_{i by A} zᵢkᵢ)·A − (Σ zᵢsᵢ)·B = 0
    let mut key_coef = vec![Scalar::ZERO; distinct.len()];
    let mut b_coef = Scalar::ZERO;
    for (it, z) in items.iter().zip(&zs) {
        b_coef += z * it.s;
        if let Some(c) = key_coef.get_mut(it.key) {
            *c += z * it.k;
        }
    }
    let scalars = zs
        .iter()
        .copied()
        .chain(key_coef)
        .chain(std::iter::once(-b_coef));
    let points = rs
        .iter()
        .copied()
        .chain(distinct)
        .chain(std::iter::once(ED25519_BASEPOINT_POINT));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `strict_batch::verify_batch_strict` gives exactly `verify_strict`'s verdict on adversarial
//! encodings: small-order and mixed-order `R` and `A`, non-canonical `R`/`A`/`s`, wrong
//! messages, torsion that cancels between two signatures — in small batches (exact per-`R`
//! checks) and in large ones (subset-sum checks).

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use postern_core::strict_batch::{
    key_batch_safe, r_batch_safe, verify_batch_strict, SUBSET_CHECK_MIN,
};
use proptest::prelude::*;
use sha2::{Digest, Sha512};

fn scalar(seed: u64, salt: u8) -> Scalar {
    let mut w = [0u8; 64];
    w[..8].copy_from_slice(&seed.to_le_bytes());
    w[8] = salt;
    Scalar::from_bytes_mod_order_wide(&Sha512::digest(w).into())
}

fn hram(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let h: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(m)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&h)
}

/// What an adversarial item looks like.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Honest,
    /// R + T: the cofactored equation holds, the strict one does not.
    MixedR,
    /// R = T (small order), s = k·a.
    SmallR,
    /// A + T: strict accepts iff k·T = 0.
    MixedKey,
    /// A + T and R + T': strict accepts iff T' = −k·T.
    MixedKeyMixedR,
    /// A = T: weak key.
    SmallKey,
    /// s + ℓ (non-canonical scalar).
    BigS,
    /// Signature over another message.
    WrongMsg,
    /// R encoded with y ≥ p.
    NonCanonicalR,
    /// A encoded with y ≥ p (of a small-y point) when it decodes.
    NonCanonicalKey,
}

const KINDS: [Kind; 10] = [
    Kind::Honest,
    Kind::MixedR,
    Kind::SmallR,
    Kind::MixedKey,
    Kind::MixedKeyMixedR,
    Kind::SmallKey,
    Kind::BigS,
    Kind::WrongMsg,
    Kind::NonCanonicalR,
    Kind::NonCanonicalKey,
];

struct Built {
    key: VerifyingKey,
    sig: [u8; 64],
    msg: Vec<u8>,
}

fn non_canonical(y_small: u8, sign: bool) -> [u8; 32] {
    // y_small + p, encoded little-endian (p = 2^255 - 19).
    let mut b = [0xffu8; 32];
    b[0] = 0xed + y_small;
    b[31] = 0x7f | if sign { 0x80 } else { 0 };
    b
}

/// Build one item; `None` when the adversarial key does not even decode.
fn build(kind: Kind, seed: u64, t: usize, t2: usize, author: u64) -> Option<Built> {
    let a = scalar(author, 1);
    let r = scalar(seed, 2);
    let msg = format!("event {seed}").into_bytes();
    let tor = EIGHT_TORSION[t % 8];
    let tor2 = EIGHT_TORSION[t2 % 8];
    let honest_a = (B * a).compress().to_bytes();
    let key_bytes = match kind {
        Kind::MixedKey | Kind::MixedKeyMixedR => (B * a + tor).compress().to_bytes(),
        Kind::SmallKey => tor.compress().to_bytes(),
        Kind::NonCanonicalKey => non_canonical((seed % 19) as u8, seed % 2 == 0),
        _ => honest_a,
    };
    let key = VerifyingKey::from_bytes(&key_bytes).ok()?;
    let r_point: EdwardsPoint = match kind {
        Kind::MixedR | Kind::MixedKeyMixedR => B * r + tor2,
        Kind::SmallR => tor,
        _ => B * r,
    };
    let r_bytes = match kind {
        Kind::NonCanonicalR => non_canonical((seed % 19) as u8, seed % 2 == 1),
        _ => r_point.compress().to_bytes(),
    };
    let k = hram(&r_bytes, &key_bytes, &msg);
    let s = match kind {
        Kind::SmallR => k * a,
        _ => r + k * a,
    };
    let mut s_bytes = s.to_bytes();
    if let Kind::BigS = kind {
        // s + ℓ still fits in 256 bits when s < 2^253 - ℓ (always: s < ℓ < 2^253).
        let l = (-Scalar::ONE).to_bytes();
        let mut carry = 1u16; // ℓ = (ℓ − 1) + 1
        for (i, byte) in s_bytes.iter_mut().enumerate() {
            let sum = *byte as u16 + l[i] as u16 + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
    }
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_bytes);
    sig[32..].copy_from_slice(&s_bytes);
    let msg = if let Kind::WrongMsg = kind {
        b"another message".to_vec()
    } else {
        msg
    };
    Some(Built { key, sig, msg })
}

fn strict(b: &Built) -> bool {
    b.key
        .verify_strict(&b.msg, &Signature::from_bytes(&b.sig))
        .is_ok()
}

fn batch(items: &[Built], keys_checked: bool) -> bool {
    let msgs: Vec<&[u8]> = items.iter().map(|b| b.msg.as_slice()).collect();
    let sigs: Vec<&[u8]> = items.iter().map(|b| b.sig.as_slice()).collect();
    let keys: Vec<VerifyingKey> = items.iter().map(|b| b.key).collect();
    verify_batch_strict(&msgs, &sigs, &keys, keys_checked)
}

fn item_strategy() -> impl Strategy<Value = (usize, u64, usize, usize, u64)> {
    (0..KINDS.len(), any::<u64>(), 0usize..8, 0usize..8, 0u64..3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Small batches of arbitrary mixes: the batch verdict is "all pass verify_strict".
    #[test]
    fn small_batches_match_verify_strict(specs in prop::collection::vec(item_strategy(), 1..6)) {
        let items: Vec<Built> = specs
            .iter()
            .filter_map(|&(k, seed, t, t2, author)| build(KINDS[k], seed, t, t2, author))
            .collect();
        let expected = items.iter().all(strict);
        prop_assert_eq!(batch(&items, false), expected);
        // Each item alone, too, and the exact single-point checks agree with dalek's.
        for it in &items {
            prop_assert_eq!(batch(std::slice::from_ref(it), false), strict(it));
            let safe = key_batch_safe(&it.key);
            let p = CompressedEdwardsY(*it.key.as_bytes()).decompress().unwrap();
            let canonical = p.compress().to_bytes() == *it.key.as_bytes();
            prop_assert_eq!(safe, canonical && !p.is_small_order() && p.is_torsion_free());
            let mut r = [0u8; 32];
            r.copy_from_slice(&it.sig[..32]);
            let exact = CompressedEdwardsY(r).decompress().is_some_and(|p| {
                p.compress().to_bytes() == r && !p.is_small_order() && p.is_torsion_free()
            });
            prop_assert_eq!(r_batch_safe(&r), exact);
        }
    }
}

/// A large batch of honest signatures from a few authors, with `bad` items placed at `at`.
fn large(bad: &[(Kind, usize, usize)], at: &[usize], base: u64) -> Vec<Built> {
    let n = SUBSET_CHECK_MIN + 16;
    let mut items: Vec<Built> = (0..n as u64)
        .map(|i| build(Kind::Honest, base + i, 0, 0, i % 4).unwrap())
        .collect();
    for (&(kind, t, t2), &pos) in bad.iter().zip(at) {
        if let Some(b) = build(kind, base + 10_000 + pos as u64, t, t2, 1) {
            items[pos % n] = b;
        }
    }
    items
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Large batches (subset-sum check of the `R`s) with up to two adversarial items, including
    /// two mixed-order `R`s whose torsion could cancel in one sum.
    #[test]
    fn large_batches_match_verify_strict(
        bad in prop::collection::vec((0..KINDS.len(), 0usize..8, 0usize..8), 0..3),
        at in prop::collection::vec(0usize..400, 2),
        base in any::<u32>(),
    ) {
        let bad: Vec<(Kind, usize, usize)> = bad.iter().map(|&(k, t, t2)| (KINDS[k], t, t2)).collect();
        let items = large(&bad, &at, u64::from(base) * 100_000);
        let expected = items.iter().all(strict);
        prop_assert_eq!(batch(&items, false), expected);
        if items.iter().all(|b| key_batch_safe(&b.key)) {
            prop_assert_eq!(batch(&items, true), expected);
        }
    }
}

/// An honest batch of `n` signatures (a few authors).
fn honest(n: usize) -> Vec<Built> {
    (0..n as u64)
        .map(|i| build(Kind::Honest, 500_000 + i, 0, 0, i % 4).unwrap())
        .collect()
}

/// Kinds whose `R` carries torsion (or is small order) with an otherwise valid equation.
const TORSION_R: [Kind; 3] = [Kind::MixedR, Kind::SmallR, Kind::MixedKeyMixedR];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Batches just below, at and just above [`SUBSET_CHECK_MIN`] (exact `R` checks on one side,
    /// subset sums on the other) with one to three torsion-carrying `R`s at any positions, any
    /// nonzero torsion: refused, as `verify_strict` refuses them. The batch equation alone
    /// misses such an `R` whenever its coefficient kills the torsion (e.g. an even coefficient
    /// and a point of order 2), so a batch that skipped the `R` check fails this property.
    #[test]
    fn torsion_in_r_is_refused_on_both_sides_of_the_subset_threshold(
        size in 0usize..4,
        bad in prop::collection::vec((0..TORSION_R.len(), 1usize..8, any::<u64>()), 1..4),
        at in prop::collection::vec(any::<prop::sample::Index>(), 3),
    ) {
        let n = [SUBSET_CHECK_MIN - 2, SUBSET_CHECK_MIN - 1, SUBSET_CHECK_MIN, SUBSET_CHECK_MIN + 1][size];
        let mut items = honest(n);
        for (&(k, t, seed), pos) in bad.iter().zip(&at) {
            // Torsion of any nonzero order in R (t2), honest key (t = 0) where the kind has one.
            if let Some(b) = build(TORSION_R[k], seed, 0, t, 1) {
                items[pos.index(n)] = b;
            }
        }
        let expected = items.iter().all(strict);
        prop_assert!(!expected || bad.is_empty());
        prop_assert_eq!(batch(&items, false), expected, "n = {}", n);
        if items.iter().all(|b| key_batch_safe(&b.key)) {
            prop_assert_eq!(batch(&items, true), expected, "n = {}", n);
        }
    }
}

#[test]
fn cancelling_torsion_pair_is_rejected() {
    // Two signatures whose R carries the same order-2 point: Σ of their torsion parts is zero
    // in every sum that contains both, so only independent subsets catch them.
    let order2 = EIGHT_TORSION[4];
    assert!(order2.is_small_order() && order2 != EdwardsPoint::default());
    for n in [2usize, SUBSET_CHECK_MIN + 2] {
        let mut items: Vec<Built> = (0..n as u64)
            .map(|i| build(Kind::Honest, i, 0, 0, i % 3).unwrap())
            .collect();
        items[0] = build(Kind::MixedR, 77, 0, 4, 1).unwrap();
        items[1] = build(Kind::MixedR, 78, 0, 4, 1).unwrap();
        assert!(!strict(&items[0]) && !strict(&items[1]));
        assert!(!batch(&items, false), "n = {n}");
        assert!(!batch(&items, true), "n = {n}");
    }
}

#[test]
fn honest_batches_pass_at_every_size() {
    for n in [
        0usize,
        1,
        7,
        SUBSET_CHECK_MIN - 1,
        SUBSET_CHECK_MIN,
        SUBSET_CHECK_MIN + 7,
        500,
    ] {
        let items: Vec<Built> = (0..n as u64)
            .map(|i| build(Kind::Honest, i, 0, 0, i % 5).unwrap())
            .collect();
        assert!(batch(&items, false), "n = {n}");
        assert!(batch(&items, true), "n = {n}");
    }
}

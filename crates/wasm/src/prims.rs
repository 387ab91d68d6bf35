//! Raw cryptographic primitives (ChaCha20-Poly1305, Ed25519, X25519, SHA-256) without Postern framing.
//!
//! For JS users who need the building blocks directly and for side-by-side benchmarks against
//! @noble/*, libsodium.js and WebCrypto.
//!
//! These are the same RustCrypto / dalek implementations postern-core uses (except that the SIMD
//! build's ChaCha20-Poly1305 runs its own v128 keystream, byte-identical), with no Postern
//! framing: ChaCha20-Poly1305 (IETF, 12-byte nonce, 16-byte tag appended), Ed25519 (RFC 8032;
//! `verify` is the cofactorless check, `verifyStrict` also rejects small-order / non-canonical
//! keys and `R`, batch verification is randomised), X25519 (RFC 7748) and SHA-256.
//!
//! `Uint8Array` arguments are read in place from JS memory into wasm memory (one copy); results
//! are new `Uint8Array`s (one copy out). Wrong lengths throw `invalid_argument`; failed AEAD
//! authentication throws `aead_decrypt`; signature checks return `false` rather than throwing.
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::js_error;

fn arr<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], JsValue> {
    b.try_into()
        .map_err(|_| js_error("invalid_argument", format!("{what} must be {N} bytes")))
}

/// ChaCha20-Poly1305 in place with a detached tag. The SIMD build uses its own composition
/// (`crate::aead` over the v128 keystream in `crate::chacha_simd`), byte-identical to the
/// `chacha20poly1305` crate that the scalar build and native code use.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod detached {
    use crate::aead::{open as open_with, seal as seal_with};
    use crate::chacha_simd::Simd;
    use chacha20poly1305::aead::Error;

    pub(super) fn seal(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], Error> {
        seal_with::<Simd>(key, nonce, aad, buf)
    }

    pub(super) fn open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Error> {
        open_with::<Simd>(key, nonce, aad, buf, tag)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod detached {
    use chacha20poly1305::aead::{AeadInPlace, Error, KeyInit};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};

    pub(super) fn seal(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 16], Error> {
        let tag = ChaCha20Poly1305::new(Key::from_slice(key)).encrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            buf,
        )?;
        Ok(tag.into())
    }

    pub(super) fn open(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), Error> {
        ChaCha20Poly1305::new(Key::from_slice(key)).decrypt_in_place_detached(
            Nonce::from_slice(nonce),
            aad,
            buf,
            Tag::from_slice(tag),
        )
    }
}

/// ChaCha20-Poly1305 (RFC 8439) seal: returns `ciphertext ‖ tag` (plaintext length + 16).
/// `key` 32 bytes, `nonce` 12 bytes, `aad` optional. Throws `invalid_argument`.
#[wasm_bindgen(js_name = chacha20Poly1305Seal)]
pub fn chacha20_poly1305_seal(
    key: &[u8],
    nonce: &[u8],
    plaintext: &[u8],
    aad: Option<Box<[u8]>>,
) -> Result<Vec<u8>, JsValue> {
    let key = Zeroizing::new(arr::<32>(key, "key")?);
    let nonce = arr::<12>(nonce, "nonce")?;
    let mut buf = Vec::with_capacity(plaintext.len() + 16);
    buf.extend_from_slice(plaintext);
    let aad = aad.as_deref().unwrap_or(&[]);
    let tag = detached::seal(&key, &nonce, aad, &mut buf)
        .map_err(|_| js_error("invalid_argument", "plaintext too long"))?;
    buf.extend_from_slice(&tag);
    Ok(buf)
}

/// ChaCha20-Poly1305 open of `ciphertext ‖ tag`: returns the plaintext. Throws `aead_decrypt`
/// when authentication fails, `invalid_argument` on bad lengths.
#[wasm_bindgen(js_name = chacha20Poly1305Open)]
pub fn chacha20_poly1305_open(
    key: &[u8],
    nonce: &[u8],
    sealed: &[u8],
    aad: Option<Box<[u8]>>,
) -> Result<Vec<u8>, JsValue> {
    let key = Zeroizing::new(arr::<32>(key, "key")?);
    let nonce = arr::<12>(nonce, "nonce")?;
    if sealed.len() < 16 {
        return Err(js_error(
            "invalid_argument",
            "sealed input shorter than the 16-byte tag",
        ));
    }
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let tag = arr::<16>(tag, "tag")?;
    let mut buf = ct.to_vec();
    let aad = aad.as_deref().unwrap_or(&[]);
    detached::open(&key, &nonce, aad, &mut buf, &tag)
        .map_err(|_| js_error("aead_decrypt", "ChaCha20-Poly1305 authentication failed"))?;
    Ok(buf)
}

/// Ed25519 public key (32 bytes) for a 32-byte seed.
#[wasm_bindgen(js_name = ed25519PublicKey)]
pub fn ed25519_public_key(seed: &[u8]) -> Result<Vec<u8>, JsValue> {
    let seed = Zeroizing::new(arr::<32>(seed, "seed")?);
    Ok(SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes()
        .to_vec())
}

/// Ed25519 signature (64 bytes) of `message` with a 32-byte seed (the key is expanded on every
/// call, as `@noble/curves`' `ed25519.sign(msg, seed)` does). For repeated signing keep an
/// [`Ed25519Signer`] handle.
#[wasm_bindgen(js_name = ed25519Sign)]
pub fn ed25519_sign(seed: &[u8], message: &[u8]) -> Result<Vec<u8>, JsValue> {
    let seed = Zeroizing::new(arr::<32>(seed, "seed")?);
    Ok(SigningKey::from_bytes(&seed)
        .sign(message)
        .to_bytes()
        .to_vec())
}

/// An expanded Ed25519 signing key kept in wasm memory (zeroized when freed), like
/// libsodium's 64-byte secret key.
#[wasm_bindgen]
pub struct Ed25519Signer {
    key: SigningKey,
}

#[wasm_bindgen]
impl Ed25519Signer {
    /// From a 32-byte seed. Throws `invalid_argument`.
    #[wasm_bindgen(constructor)]
    pub fn new(seed: &[u8]) -> Result<Ed25519Signer, JsValue> {
        let seed = Zeroizing::new(arr::<32>(seed, "seed")?);
        Ok(Ed25519Signer {
            key: SigningKey::from_bytes(&seed),
        })
    }
    /// The 32-byte public key.
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> Vec<u8> {
        self.key.verifying_key().to_bytes().to_vec()
    }
    /// 64-byte signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}

fn vk_sig(public_key: &[u8], signature: &[u8]) -> Option<(VerifyingKey, Signature)> {
    let pk: [u8; 32] = public_key.try_into().ok()?;
    let vk = VerifyingKey::from_bytes(&pk).ok()?;
    let sig = Signature::from_slice(signature).ok()?;
    Some((vk, sig))
}

/// Ed25519 verification (RFC 8032 cofactorless equation, as libsodium / noble / WebCrypto).
/// Returns `false` for invalid signatures or malformed keys/signatures.
#[wasm_bindgen(js_name = ed25519Verify)]
pub fn ed25519_verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    vk_sig(public_key, signature)
        .is_some_and(|(vk, sig)| ed25519_dalek::Verifier::verify(&vk, message, &sig).is_ok())
}

/// Ed25519 strict verification (dalek `verify_strict`: also rejects weak keys and non-canonical
/// `R`); this is the check Postern applies to events.
#[wasm_bindgen(js_name = ed25519VerifyStrict)]
pub fn ed25519_verify_strict(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    vk_sig(public_key, signature).is_some_and(|(vk, sig)| vk.verify_strict(message, &sig).is_ok())
}

/// Randomised batch verification of `n` signatures: `publicKeys` is `n × 32` bytes,
/// `signatures` `n × 64` bytes, `messages` the `n` messages concatenated and `messageLengths`
/// their lengths. `true` only if every signature is valid (then each would pass `ed25519Verify`);
/// on `false` check singly to find the culprit. Throws `invalid_argument` on inconsistent sizes.
#[wasm_bindgen(js_name = ed25519VerifyBatch)]
pub fn ed25519_verify_batch(
    public_keys: &[u8],
    signatures: &[u8],
    messages: &[u8],
    message_lengths: &[u32],
) -> Result<bool, JsValue> {
    let n = message_lengths.len();
    let total: u64 = message_lengths.iter().map(|&l| u64::from(l)).sum();
    if public_keys.len() != n * 32 || signatures.len() != n * 64 || total != messages.len() as u64 {
        return Err(js_error(
            "invalid_argument",
            "publicKeys / signatures / messages sizes disagree with messageLengths",
        ));
    }
    let mut keys = Vec::with_capacity(n);
    for pk in public_keys.chunks_exact(32) {
        let pk: [u8; 32] = pk
            .try_into()
            .map_err(|_| js_error("invalid_argument", "bad key"))?;
        match VerifyingKey::from_bytes(&pk) {
            Ok(k) => keys.push(k),
            Err(_) => return Ok(false),
        }
    }
    let mut sigs = Vec::with_capacity(n);
    for s in signatures.chunks_exact(64) {
        match Signature::from_slice(s) {
            Ok(s) => sigs.push(s),
            Err(_) => return Ok(false),
        }
    }
    let mut msgs = Vec::with_capacity(n);
    let mut at = 0usize;
    for &l in message_lengths {
        let end = at + l as usize;
        msgs.push(&messages[at..end]);
        at = end;
    }
    Ok(ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok())
}

/// X25519 public key for a 32-byte secret.
#[wasm_bindgen(js_name = x25519PublicKey)]
pub fn x25519_public_key(secret: &[u8]) -> Result<Vec<u8>, JsValue> {
    let s = x25519_dalek::StaticSecret::from(arr::<32>(secret, "secret")?);
    Ok(x25519_dalek::PublicKey::from(&s).to_bytes().to_vec())
}

/// X25519 shared secret (32 bytes). A small-order `publicKey` yields all zeros, which is
/// returned as is (RFC 7748 leaves the check to the caller; Postern's DM and gate code rejects it).
#[wasm_bindgen(js_name = x25519)]
pub fn x25519(secret: &[u8], public_key: &[u8]) -> Result<Vec<u8>, JsValue> {
    let s = x25519_dalek::StaticSecret::from(arr::<32>(secret, "secret")?);
    let p = x25519_dalek::PublicKey::from(arr::<32>(public_key, "publicKey")?);
    Ok(s.diffie_hellman(&p).to_bytes().to_vec())
}

/// SHA-256 digest (32 bytes).
#[wasm_bindgen]
pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

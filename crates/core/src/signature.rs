//! Event signature algorithms: Ed25519 (strict) and ECDSA P-256 (SEC1 key, DER signature,
//! SHA-256), plus the pre-checks that make Ed25519 batch verification agree with strict
//! single verification.

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature as EdSignature, VerifyingKey as EdKey};
use thiserror::Error;

use crate::canonical::py_b64decode_lenient;
use crate::json::py_strip;

/// Canonical label of Ed25519.
pub const ALGO_ED25519: &str = "Ed25519";
/// Canonical label of ECDSA over P-256.
pub const ALGO_ECDSA_P256: &str = "ECDSA_P256";

/// Supported public-key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicKeyAlgo {
    Ed25519,
    EcdsaP256,
}

impl PublicKeyAlgo {
    /// Canonical label.
    pub fn label(self) -> &'static str {
        match self {
            PublicKeyAlgo::Ed25519 => ALGO_ED25519,
            PublicKeyAlgo::EcdsaP256 => ALGO_ECDSA_P256,
        }
    }
}

/// Parse a `public_key_algo` label the way the reference does (trimmed, case-insensitive;
/// `Ed25519`/`EdDSA`, `ECDSA`/`ECDSA_P256`/`P-256`/`P256`).
pub fn parse_public_key_algo(label: &str) -> Option<PublicKeyAlgo> {
    match py_strip(label).to_uppercase().as_str() {
        "ED25519" | "EDDSA" => Some(PublicKeyAlgo::Ed25519),
        "ECDSA" | "ECDSA_P256" | "P-256" | "P256" => Some(PublicKeyAlgo::EcdsaP256),
        _ => None,
    }
}

/// Why a signature could not be checked or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("unsupported public_key_algo")]
    UnsupportedAlgo,
    #[error("public key is not valid base64")]
    BadPublicKeyEncoding,
    #[error("signature is not valid hex")]
    BadSignatureEncoding,
    #[error("public key is malformed for its algorithm")]
    BadPublicKey,
    #[error("signature is malformed for its algorithm")]
    BadSignature,
    #[error("signature does not verify")]
    Invalid,
}

/// Python `bytes.fromhex`: pairs of hex digits, ASCII whitespace allowed between pairs.
pub fn py_fromhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let hi = (*b.get(i)? as char).to_digit(16)?;
        let lo = (*b.get(i + 1)? as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
        i += 2;
    }
    Some(out)
}

/// A decoded, algorithm-checked public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Ed25519(EdKey),
    EcdsaP256(Box<p256::ecdsa::VerifyingKey>),
}

/// Decode a base64 public key for `algo`.
pub fn decode_public_key(
    algo: PublicKeyAlgo,
    public_key_b64: &str,
) -> Result<PublicKey, SignatureError> {
    let raw = py_b64decode_lenient(public_key_b64).ok_or(SignatureError::BadPublicKeyEncoding)?;
    match algo {
        PublicKeyAlgo::Ed25519 => {
            let bytes: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| SignatureError::BadPublicKey)?;
            EdKey::from_bytes(&bytes)
                .map(PublicKey::Ed25519)
                .map_err(|_| SignatureError::BadPublicKey)
        }
        PublicKeyAlgo::EcdsaP256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(&raw)
            .map(|k| PublicKey::EcdsaP256(Box::new(k)))
            .map_err(|_| SignatureError::BadPublicKey),
    }
}

/// Verify one signature strictly (Ed25519 `verify_strict`; ECDSA P-256 DER over SHA-256).
pub fn verify_signature(
    key: &PublicKey,
    signature: &[u8],
    message: &[u8],
) -> Result<(), SignatureError> {
    match key {
        PublicKey::Ed25519(vk) => {
            let sig =
                EdSignature::from_slice(signature).map_err(|_| SignatureError::BadSignature)?;
            vk.verify_strict(message, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        PublicKey::EcdsaP256(vk) => {
            use p256::ecdsa::signature::Verifier as _;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| SignatureError::BadSignature)?;
            vk.verify(message, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
    }
}

/// Convenience: decode algo label, base64 key and hex signature, then verify strictly.
pub fn verify_encoded(
    public_key_algo: &str,
    public_key_b64: &str,
    signature_hex: &str,
    message: &[u8],
) -> Result<(), SignatureError> {
    let algo = parse_public_key_algo(public_key_algo).ok_or(SignatureError::UnsupportedAlgo)?;
    let sig = py_fromhex(signature_hex).ok_or(SignatureError::BadSignatureEncoding)?;
    let key = decode_public_key(algo, public_key_b64)?;
    verify_signature(&key, &sig, message)
}

/// Can this Ed25519 (key, signature) pair be batch-verified with exactly the outcome of
/// `verify_strict`? True when A and R are canonical encodings of prime-order-subgroup points
/// (so the cofactored batch equation and the strict cofactorless one agree) and `s` is reduced.
/// Pairs failing this are verified individually with `verify_strict`.
pub fn ed25519_batch_safe(key: &EdKey, signature: &[u8]) -> bool {
    ed25519_key_batch_safe(key) && ed25519_sig_batch_safe(signature)
}

/// Key half of [`ed25519_batch_safe`] (cacheable per key).
pub fn ed25519_key_batch_safe(key: &EdKey) -> bool {
    crate::strict_batch::key_batch_safe(key)
}

/// Signature half of [`ed25519_batch_safe`]: `s` reduced, `R` a canonical prime-order point.
pub fn ed25519_sig_batch_safe(signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    if bool::from(Scalar::from_canonical_bytes(s).is_none()) {
        return false;
    }
    crate::strict_batch::r_batch_safe(&r)
}

/// Batch-verify Ed25519 signatures (all must be [`ed25519_batch_safe`]). Returns `true` when all
/// verify; on `false` callers re-check individually to locate the bad one.
pub fn ed25519_verify_batch(messages: &[&[u8]], signatures: &[&[u8]], keys: &[EdKey]) -> bool {
    if messages.len() != signatures.len() || messages.len() != keys.len() {
        return false;
    }
    if messages.is_empty() {
        return true;
    }
    let mut sigs = Vec::with_capacity(signatures.len());
    for s in signatures {
        match EdSignature::from_slice(s) {
            Ok(sig) => sigs.push(sig),
            Err(_) => return false,
        }
    }
    ed25519_dalek::verify_batch(messages, &sigs, keys).is_ok()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn algo_labels() {
        assert_eq!(
            parse_public_key_algo(" ed25519 "),
            Some(PublicKeyAlgo::Ed25519)
        );
        assert_eq!(parse_public_key_algo("EdDSA"), Some(PublicKeyAlgo::Ed25519));
        assert_eq!(
            parse_public_key_algo("p-256"),
            Some(PublicKeyAlgo::EcdsaP256)
        );
        assert_eq!(
            parse_public_key_algo("ecdsa_p256"),
            Some(PublicKeyAlgo::EcdsaP256)
        );
        assert_eq!(parse_public_key_algo("RSA"), None);
    }

    #[test]
    fn ed25519_strict_and_batch_agree_on_honest_sigs() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let vk = sk.verifying_key();
        let msg = b"hello";
        let sig = sk.sign(msg).to_bytes();
        assert!(verify_signature(&PublicKey::Ed25519(vk), &sig, msg).is_ok());
        assert!(ed25519_batch_safe(&vk, &sig));
        assert!(ed25519_verify_batch(&[msg], &[&sig], &[vk]));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(verify_signature(&PublicKey::Ed25519(vk), &bad, msg).is_err());
        assert!(!ed25519_verify_batch(&[msg], &[&bad], &[vk]));
    }

    #[test]
    fn small_order_key_is_not_batch_safe() {
        // The identity point (y = 1) has small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        let vk = EdKey::from_bytes(&id).unwrap();
        assert!(!ed25519_batch_safe(&vk, &[0u8; 64]));
        assert!(verify_signature(&PublicKey::Ed25519(vk), &[0u8; 64], b"x").is_err());
    }

    #[test]
    fn ecdsa_p256_round_trip() {
        use p256::ecdsa::{signature::Signer as _, Signature, SigningKey as PSk};
        let sk = PSk::from_bytes(&[9u8; 32].into()).unwrap();
        let sig: Signature = sk.sign(b"msg");
        let der = sig.to_der();
        let key = PublicKey::EcdsaP256(Box::new(*sk.verifying_key()));
        assert!(verify_signature(&key, der.as_bytes(), b"msg").is_ok());
        assert_eq!(
            verify_signature(&key, der.as_bytes(), b"msh"),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_signature(&key, b"\x30\x00", b"msg"),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn vartime_subgroup_check_matches_dalek() {
        use crate::strict_batch::is_torsion_free_vartime;
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
        for k in 1u64..20 {
            let p = B * Scalar::from(k);
            assert!(is_torsion_free_vartime(&p) && p.is_torsion_free());
            for t in &EIGHT_TORSION[1..] {
                let q = p + t;
                assert_eq!(is_torsion_free_vartime(&q), q.is_torsion_free());
                assert!(!is_torsion_free_vartime(&q));
            }
        }
    }

    #[test]
    fn fromhex() {
        assert_eq!(py_fromhex("0a ff").unwrap(), vec![10, 255]);
        assert!(py_fromhex("0").is_none());
        assert!(py_fromhex("zz").is_none());
    }
}

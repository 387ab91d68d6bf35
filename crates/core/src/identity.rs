//! Identities: an Ed25519 signing key plus an X25519 key-agreement key.
//!
//! The public half is shared as a copy-and-paste string
//! `postern1.{node_id}.{ed25519 b64url}.{x25519 b64url}`; `node_id` is Infonet/2's
//! `"!sb_" + first 32 hex chars of sha256(ed25519 public key)`, and a parsed string must agree
//! with its own key. Secret keys are zeroized on drop and never printed by `Debug`.
pub use crate::ids::{
    is_valid_node_id, node_id_for_public_key, NodeId, NODE_ID_HEX_LEN, NODE_ID_PREFIX,
};
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::b64;

/// Prefix (and version) of the public identity string.
pub const PUBLIC_IDENTITY_PREFIX: &str = "postern1";
/// Prefix (and version) of the secret key export string.
pub const SECRET_EXPORT_PREFIX: &str = "postern-secret1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("identity string is malformed: {0}")]
    Malformed(&'static str),
    #[error("identity string node id does not match its signing key")]
    NodeIdMismatch,
    #[error("identity contains an invalid or weak Ed25519 key")]
    BadSigningKey,
    #[error("identity contains an invalid or low-order X25519 key")]
    BadDhKey,
}

/// Parse a raw 32-byte Ed25519 public key, rejecting invalid encodings and weak (small-order) keys.
pub fn parse_verifying_key(bytes: &[u8; 32]) -> Result<VerifyingKey, IdentityError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| IdentityError::BadSigningKey)?;
    if key.is_weak() {
        return Err(IdentityError::BadSigningKey);
    }
    Ok(key)
}

/// Parse an X25519 public key, rejecting the all-zero and other small-order points that would
/// force an all-zero shared secret.
pub fn parse_dh_key(bytes: [u8; 32]) -> Result<XPublicKey, IdentityError> {
    let key = XPublicKey::from(bytes);
    // A point is low-order iff its product with any scalar is the identity; checking against a
    // fixed non-zero scalar (clamped) is enough to detect every small-order point.
    let probe = StaticSecret::from([0x42u8; 32]);
    if !probe.diffie_hellman(&key).was_contributory() {
        return Err(IdentityError::BadDhKey);
    }
    Ok(key)
}

/// A full identity (secret). Zeroized on drop (both dalek types zeroize themselves).
pub struct Identity {
    signing: SigningKey,
    dh: StaticSecret,
}

impl Identity {
    /// Generate a fresh identity from a CSPRNG (`OsRng` → getrandom → `crypto.getRandomValues`
    /// in the browser).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let signing = SigningKey::generate(rng);
        let dh = StaticSecret::random_from_rng(rng);
        Identity { signing, dh }
    }

    /// Rebuild from the two 32-byte secrets (Ed25519 seed, X25519 scalar).
    pub fn from_secrets(ed25519_seed: &[u8; 32], x25519_secret: &[u8; 32]) -> Self {
        Identity {
            signing: SigningKey::from_bytes(ed25519_seed),
            dh: StaticSecret::from(*x25519_secret),
        }
    }

    /// Export both secrets as `postern-secret1.{b64url(seed || scalar)}`.
    pub fn export_secret(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 64]);
        raw[..32].copy_from_slice(self.signing.as_bytes());
        raw[32..].copy_from_slice(self.dh.as_bytes());
        let mut out = Zeroizing::new(String::with_capacity(110));
        out.push_str(SECRET_EXPORT_PREFIX);
        out.push('.');
        out.push_str(&Zeroizing::new(b64::encode_url(&raw[..])));
        out
    }

    /// Inverse of [`Identity::export_secret`].
    pub fn import_secret(s: &str) -> Result<Self, IdentityError> {
        let rest = s
            .trim()
            .strip_prefix(SECRET_EXPORT_PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or(IdentityError::Malformed("not a postern-secret1 string"))?;
        let mut raw = Zeroizing::new(
            b64::decode_url_array::<64>(rest)
                .map_err(|_| IdentityError::Malformed("secret is not 64 bytes of base64url"))?,
        );
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut scalar = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&raw[..32]);
        scalar.copy_from_slice(&raw[32..]);
        raw.zeroize();
        Ok(Identity::from_secrets(&seed, &scalar))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn dh_public(&self) -> XPublicKey {
        XPublicKey::from(&self.dh)
    }

    pub fn node_id(&self) -> String {
        node_id_for_public_key(self.signing.verifying_key().as_bytes())
    }

    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            node_id: self.node_id(),
            signing: self.signing.verifying_key(),
            dh: self.dh_public(),
        }
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// Static-static X25519 with a peer; `None` if the result is all-zero (non-contributory).
    pub(crate) fn agree(&self, peer: &XPublicKey) -> Option<Zeroizing<[u8; 32]>> {
        let shared = self.dh.diffie_hellman(peer);
        if !shared.was_contributory() {
            return None;
        }
        Some(Zeroizing::new(*shared.as_bytes()))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// The public half of an identity: what a contact pastes.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicIdentity {
    node_id: String,
    signing: VerifyingKey,
    dh: XPublicKey,
}

impl PublicIdentity {
    /// Build from raw keys, validating both.
    pub fn from_keys(ed25519: &[u8; 32], x25519: [u8; 32]) -> Result<Self, IdentityError> {
        let signing = parse_verifying_key(ed25519)?;
        let dh = parse_dh_key(x25519)?;
        Ok(PublicIdentity {
            node_id: node_id_for_public_key(ed25519),
            signing,
            dh,
        })
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.signing
    }

    pub fn dh_public(&self) -> &XPublicKey {
        &self.dh
    }

    /// Short human-checkable fingerprint (first 8 hex chars of the node id, grouped).
    pub fn short_id(&self) -> String {
        let hex = self.node_id.trim_start_matches(NODE_ID_PREFIX);
        hex.get(..8).unwrap_or(hex).to_string()
    }
}

impl fmt::Display for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            PUBLIC_IDENTITY_PREFIX,
            self.node_id,
            b64::encode_url(self.signing.as_bytes()),
            b64::encode_url(self.dh.as_bytes())
        )
    }
}

impl fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicIdentity({})", self)
    }
}

impl FromStr for PublicIdentity {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Tolerate whitespace and line breaks introduced by copy and paste.
        let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let mut parts = cleaned.split('.');
        let (Some(prefix), Some(node_id), Some(ed), Some(x), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(IdentityError::Malformed(
                "expected postern1.<node_id>.<ed25519>.<x25519>",
            ));
        };
        if prefix != PUBLIC_IDENTITY_PREFIX {
            return Err(IdentityError::Malformed(
                "unknown identity prefix or version",
            ));
        }
        let node_id = NodeId::parse(node_id).map_err(|_| {
            IdentityError::Malformed("node id is not !sb_ followed by 32 hex chars")
        })?;
        let ed = b64::decode_url_array::<32>(ed)
            .map_err(|_| IdentityError::Malformed("Ed25519 key is not 32 bytes of base64url"))?;
        let x = b64::decode_url_array::<32>(x)
            .map_err(|_| IdentityError::Malformed("X25519 key is not 32 bytes of base64url"))?;
        let public = PublicIdentity::from_keys(&ed, x)?;
        if public.node_id != node_id.as_str() {
            return Err(IdentityError::NodeIdMismatch);
        }
        Ok(public)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn node_id_shape() {
        let id = Identity::generate(&mut OsRng);
        let node = id.node_id();
        assert!(is_valid_node_id(&node), "{node}");
        assert_eq!(node.len(), 4 + 32);
    }

    #[test]
    fn public_string_round_trip() {
        let id = Identity::generate(&mut OsRng);
        let s = id.public().to_string();
        let parsed: PublicIdentity = s.parse().unwrap();
        assert_eq!(parsed, id.public());
        let wrapped = format!("  {}\n{}  ", &s[..40], &s[40..]);
        assert_eq!(wrapped.parse::<PublicIdentity>().unwrap(), id.public());
    }

    #[test]
    fn node_id_mismatch_rejected() {
        let a = Identity::generate(&mut OsRng).public().to_string();
        let b = Identity::generate(&mut OsRng).public();
        let mut parts: Vec<&str> = a.split('.').collect();
        parts[1] = b.node_id();
        let forged = parts.join(".");
        assert_eq!(
            forged.parse::<PublicIdentity>(),
            Err(IdentityError::NodeIdMismatch)
        );
    }

    #[test]
    fn zero_dh_key_rejected() {
        let id = Identity::generate(&mut OsRng);
        let ed = *id.verifying_key().as_bytes();
        assert_eq!(
            PublicIdentity::from_keys(&ed, [0u8; 32]),
            Err(IdentityError::BadDhKey)
        );
    }

    #[test]
    fn secret_export_round_trip_and_debug_redacted() {
        let id = Identity::generate(&mut OsRng);
        let exported = id.export_secret();
        let back = Identity::import_secret(&exported).unwrap();
        assert_eq!(back.public(), id.public());
        let dbg = format!("{id:?}");
        assert!(dbg.contains("redacted"));
        let seed_b64 = b64::encode_url(id.signing.as_bytes());
        assert!(!dbg.contains(&seed_b64));
        assert!(Identity::import_secret("postern-secret1.AAAA").is_err());
        assert!(Identity::import_secret("garbage").is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = s.parse::<PublicIdentity>();
            let _ = Identity::import_secret(&s);
        }
    }
}

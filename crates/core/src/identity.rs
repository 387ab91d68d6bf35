//! Identities: an Ed25519 signing key plus an X25519 key-agreement key bound to it.
//!
//! The public half is shared as a copy-and-paste string. Version 2 (what we emit):
//! `postern2.{node_id}.{ed25519 b64url}.{x25519 b64url}.{binding b64url}` where `binding` is the
//! identity's Ed25519 signature over [`binding_message`] (the X25519 key, and any future key,
//! bound to the Ed25519 identity). Version 1 (`postern1.…`, no binding) is still parsed, as an
//! *unbound* identity ([`PublicIdentity::is_bound`] is false): its X25519 key is not vouched for
//! by its owner. `node_id` is Infonet/2's `"!sb_" + first 32 hex chars of sha256(ed25519
//! public key)`, and a parsed string must agree with its own key. Secret keys are zeroized on
//! drop and never printed by `Debug`.
pub use crate::ids::{
    is_valid_node_id, node_id_for_public_key, NodeId, NODE_ID_HEX_LEN, NODE_ID_PREFIX,
};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use x25519_dalek::{PublicKey as XPublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::{b64, labels};

/// Prefix of the legacy (version 1, unbound) public identity string.
pub const PUBLIC_IDENTITY_PREFIX: &str = "postern1";
/// Prefix of the version 2 public identity string (keys bound by a self-signature).
pub const PUBLIC_IDENTITY_PREFIX_V2: &str = "postern2";
/// Tag of the X25519 key inside [`binding_message`] (future keys get further tags).
pub const BINDING_TAG_X25519: u8 = 0x01;
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
    #[error("identity self-signature does not verify: the keys in this string were altered")]
    BadBinding,
}

/// The bytes an identity signs to bind its keys: `IDENTITY_BINDING ‖ ed25519(32) ‖
/// BINDING_TAG_X25519 ‖ x25519(32)`.
pub fn binding_message(ed25519: &[u8; 32], x25519: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(labels::IDENTITY_BINDING.len() + 65);
    m.extend_from_slice(labels::IDENTITY_BINDING);
    m.extend_from_slice(ed25519);
    m.push(BINDING_TAG_X25519);
    m.extend_from_slice(x25519);
    m
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
    /// `dh`'s public key, computed on first use and kept (a fixed-base scalar multiplication:
    /// ~0.2 ms in wasm builds without curve25519's basepoint tables, on every DM and gate unwrap
    /// otherwise).
    dh_pub: OnceLock<XPublicKey>,
}

impl Identity {
    /// Generate a fresh identity from a CSPRNG (`OsRng` → getrandom → `crypto.getRandomValues`
    /// in the browser).
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let signing = SigningKey::generate(rng);
        let dh = StaticSecret::random_from_rng(rng);
        Identity {
            signing,
            dh,
            dh_pub: OnceLock::new(),
        }
    }

    /// Rebuild from the two 32-byte secrets (Ed25519 seed, X25519 scalar).
    pub fn from_secrets(ed25519_seed: &[u8; 32], x25519_secret: &[u8; 32]) -> Self {
        Identity {
            signing: SigningKey::from_bytes(ed25519_seed),
            dh: StaticSecret::from(*x25519_secret),
            dh_pub: OnceLock::new(),
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
        *self.dh_pub.get_or_init(|| XPublicKey::from(&self.dh))
    }

    pub fn node_id(&self) -> String {
        node_id_for_public_key(self.signing.verifying_key().as_bytes())
    }

    /// The public half, bound (version 2): carries the self-signature over both keys.
    pub fn public(&self) -> PublicIdentity {
        let signing = self.signing.verifying_key();
        let dh = self.dh_public();
        let binding = self
            .signing
            .sign(&binding_message(signing.as_bytes(), dh.as_bytes()))
            .to_bytes();
        PublicIdentity {
            node_id: self.node_id(),
            signing,
            dh,
            binding: Some(binding),
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

/// The public half of an identity: what a contact pastes. Equality compares the keys only
/// (a bound and an unbound copy of the same keys are equal).
#[derive(Clone)]
pub struct PublicIdentity {
    node_id: String,
    signing: VerifyingKey,
    dh: XPublicKey,
    /// The owner's signature over [`binding_message`]; `None` for a legacy (v1) identity.
    binding: Option<[u8; 64]>,
}

impl PartialEq for PublicIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.node_id == other.node_id
            && self.signing == other.signing
            && self.dh.as_bytes() == other.dh.as_bytes()
    }
}

impl Eq for PublicIdentity {}

impl PublicIdentity {
    /// Build from raw keys, validating both. The result is unbound (no self-signature): use
    /// [`PublicIdentity::from_bound_keys`] when the owner's binding signature is available.
    pub fn from_keys(ed25519: &[u8; 32], x25519: [u8; 32]) -> Result<Self, IdentityError> {
        let signing = parse_verifying_key(ed25519)?;
        let dh = parse_dh_key(x25519)?;
        Ok(PublicIdentity {
            node_id: node_id_for_public_key(ed25519),
            signing,
            dh,
            binding: None,
        })
    }

    /// Build from raw keys and the owner's binding signature; refuses a signature that does
    /// not cover exactly these keys ([`IdentityError::BadBinding`]).
    pub fn from_bound_keys(
        ed25519: &[u8; 32],
        x25519: [u8; 32],
        binding: &[u8; 64],
    ) -> Result<Self, IdentityError> {
        let mut public = PublicIdentity::from_keys(ed25519, x25519)?;
        public
            .signing
            .verify_strict(
                &binding_message(ed25519, &x25519),
                &Signature::from_bytes(binding),
            )
            .map_err(|_| IdentityError::BadBinding)?;
        public.binding = Some(*binding);
        Ok(public)
    }

    /// True when the X25519 key is vouched for by the Ed25519 key's own signature (v2).
    pub fn is_bound(&self) -> bool {
        self.binding.is_some()
    }

    /// The binding signature, if any.
    pub fn binding(&self) -> Option<&[u8; 64]> {
        self.binding.as_ref()
    }

    /// `Some(v2)` when `other` is a bound identity for the same keys as this (unbound or
    /// bound) one: the migration rule for a stored v1 contact. `None` when the keys differ
    /// (a key change, never applied silently) or `other` is unbound.
    pub fn upgraded_by(&self, other: &PublicIdentity) -> Option<PublicIdentity> {
        (other.is_bound() && other == self).then(|| other.clone())
    }

    /// `self == id.public()` without building (and signing) `id`'s public half: the same
    /// node id, Ed25519 key and X25519 key.
    pub fn is_of(&self, id: &Identity) -> bool {
        self.signing == id.verifying_key()
            && self.dh.as_bytes() == id.dh_public().as_bytes()
            && self.node_id == id.node_id()
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
    /// `postern2.…` for a bound identity, the legacy `postern1.…` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = if self.binding.is_some() {
            PUBLIC_IDENTITY_PREFIX_V2
        } else {
            PUBLIC_IDENTITY_PREFIX
        };
        write!(
            f,
            "{}.{}.{}.{}",
            prefix,
            self.node_id,
            b64::encode_url(self.signing.as_bytes()),
            b64::encode_url(self.dh.as_bytes())
        )?;
        if let Some(sig) = &self.binding {
            write!(f, ".{}", b64::encode_url(sig))?;
        }
        Ok(())
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
        let parts: Vec<&str> = cleaned.split('.').collect();
        let (node_id, ed, x, binding) = match parts.as_slice() {
            [p, n, e, x] if *p == PUBLIC_IDENTITY_PREFIX => (*n, *e, *x, None),
            [p, n, e, x, b] if *p == PUBLIC_IDENTITY_PREFIX_V2 => (*n, *e, *x, Some(*b)),
            [p, ..] if *p == PUBLIC_IDENTITY_PREFIX => {
                return Err(IdentityError::Malformed(
                    "expected postern1.<node_id>.<ed25519>.<x25519>",
                ))
            }
            [p, ..] if *p == PUBLIC_IDENTITY_PREFIX_V2 => {
                return Err(IdentityError::Malformed(
                    "expected postern2.<node_id>.<ed25519>.<x25519>.<signature>",
                ))
            }
            _ => {
                return Err(IdentityError::Malformed(
                    "unknown identity prefix or version",
                ))
            }
        };
        let node_id = NodeId::parse(node_id).map_err(|_| {
            IdentityError::Malformed("node id is not !sb_ followed by 32 hex chars")
        })?;
        let ed = b64::decode_url_array::<32>(ed)
            .map_err(|_| IdentityError::Malformed("Ed25519 key is not 32 bytes of base64url"))?;
        let x = b64::decode_url_array::<32>(x)
            .map_err(|_| IdentityError::Malformed("X25519 key is not 32 bytes of base64url"))?;
        let public = match binding {
            None => PublicIdentity::from_keys(&ed, x)?,
            Some(b) => {
                let sig = b64::decode_url_array::<64>(b).map_err(|_| {
                    IdentityError::Malformed("signature is not 64 bytes of base64url")
                })?;
                PublicIdentity::from_bound_keys(&ed, x, &sig)?
            }
        };
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
    fn is_of_is_equality_with_public() {
        let id = Identity::generate(&mut OsRng);
        let other = Identity::generate(&mut OsRng);
        assert!(id.public().is_of(&id));
        assert!(!other.public().is_of(&id));
        // Same Ed25519 key with another X25519 key, both ways.
        let mixed = Identity::from_secrets(id.signing.as_bytes(), other.dh.as_bytes());
        assert!(!mixed.public().is_of(&id));
        assert!(!id.public().is_of(&mixed));
        // The cached X25519 public key is the one derived from the secret.
        let again = Identity::import_secret(&id.export_secret()).unwrap();
        assert_eq!(
            again.dh_public().as_bytes(),
            XPublicKey::from(&id.dh).as_bytes()
        );
        assert_eq!(
            id.dh_public().as_bytes(),
            XPublicKey::from(&id.dh).as_bytes()
        );
    }

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

    /// Issue 14 item 1: replacing the X25519 key of Bob's string with an attacker's used to
    /// parse as Bob. The v2 self-signature refuses it.
    #[test]
    fn swapped_x25519_key_refused() {
        let bob = Identity::generate(&mut OsRng).public().to_string();
        let mallory = Identity::generate(&mut OsRng);
        let mut parts: Vec<String> = bob.split('.').map(str::to_string).collect();
        parts[3] = b64::encode_url(mallory.dh_public().as_bytes());
        let forged = parts.join(".");
        assert_eq!(
            forged.parse::<PublicIdentity>(),
            Err(IdentityError::BadBinding)
        );
        // Dropping the signature (downgrade to a five-part string) is malformed, not accepted.
        let truncated = parts[..4].join(".");
        assert!(truncated.parse::<PublicIdentity>().is_err());
    }

    #[test]
    fn v2_string_is_bound_and_v1_migrates() {
        let id = Identity::generate(&mut OsRng);
        let v2 = id.public().to_string();
        assert!(v2.starts_with("postern2."));
        let parsed: PublicIdentity = v2.parse().unwrap();
        assert!(parsed.is_bound());
        assert_eq!(parsed.to_string(), v2);
        // A legacy string of the same keys parses, unbound, and is upgraded by the v2 one.
        let v1 = format!(
            "postern1.{}.{}.{}",
            id.node_id(),
            b64::encode_url(id.verifying_key().as_bytes()),
            b64::encode_url(id.dh_public().as_bytes())
        );
        let old: PublicIdentity = v1.parse().unwrap();
        assert!(!old.is_bound());
        assert_eq!(old.to_string(), v1);
        assert_eq!(old, parsed);
        assert!(old.upgraded_by(&parsed).unwrap().is_bound());
        assert!(old.upgraded_by(&old).is_none());
        // A v2 string of other keys never upgrades a contact (key change).
        let other = Identity::generate(&mut OsRng).public();
        assert!(old.upgraded_by(&other).is_none());
        // A bad signature with valid shape is refused.
        let mut sig = *parsed.binding().unwrap();
        sig[0] ^= 1;
        assert_eq!(
            PublicIdentity::from_bound_keys(
                id.verifying_key().as_bytes(),
                *id.dh_public().as_bytes(),
                &sig
            ),
            Err(IdentityError::BadBinding)
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

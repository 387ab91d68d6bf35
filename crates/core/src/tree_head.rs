//! Signed tree heads of a relay's settled chain (the Verisoo log) and the pin that checks each
//! new head against the last one held from the same relay: history rewritten or two heads signed
//! for one size are refused and kept as evidence.
//!
//! The log is RFC 9162 ([`crate::rfc9162`]) over the chain's event ids in order, each leaf the
//! UTF-8 bytes of the 64-hex id. A head (`postern-sth/1`) is signed with the relay's Ed25519
//! tree-head key over
//! `TREE_HEAD_SIG ‖ 0x00 ‖ network_id ‖ 0x00 ‖ relay_key(32) ‖ u64be(size) ‖ root(32) ‖ u64be(timestamp_ms)`
//! (docs/protocol.md § Signed tree heads).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::labels::TREE_HEAD_SIG;
use crate::rfc9162::{self, Hash};

/// The `version` of a signed tree head on the wire.
pub const TREE_HEAD_VERSION: &str = "postern-sth/1";

/// Why a tree head was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeHeadError {
    #[error("unsupported tree head version {0:?}")]
    Version(String),
    #[error("tree head field {field} is not {want}")]
    Field {
        field: &'static str,
        want: &'static str,
    },
    #[error("tree head key is not a valid Ed25519 key")]
    Key,
    #[error("tree head signature does not verify")]
    Signature,
    #[error("tree head is for network {got:?}, expected {want:?}")]
    Network { got: String, want: String },
    #[error("tree head is signed by another relay key")]
    OtherRelay,
    #[error("the root does not match the tree of the first {size} event ids")]
    RootMismatch { size: u64 },
    #[error("tree head size {size} is beyond the {held} event ids held")]
    BeyondHeld { size: u64, held: u64 },
}

/// What a relay commits to: the first `size` events of its chain have the RFC 9162 `root`.
#[derive(Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub network_id: String,
    pub relay_key: [u8; 32],
    pub size: u64,
    pub root: Hash,
    /// Milliseconds since the Unix epoch, the relay's clock when it signed.
    pub timestamp_ms: u64,
}

impl std::fmt::Debug for TreeHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TreeHead(size {}, root {}, at {} ms)",
            self.size,
            hex::encode(self.root),
            self.timestamp_ms
        )
    }
}

impl TreeHead {
    /// The bytes the relay signs.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TREE_HEAD_SIG.len() + self.network_id.len() + 90);
        out.extend_from_slice(TREE_HEAD_SIG);
        out.push(0);
        out.extend_from_slice(self.network_id.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.relay_key);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        out
    }
}

/// A tree head with the relay's signature over [`TreeHead::signed_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    pub signature: [u8; 64],
}

/// The JSON form of a signed tree head (hex for keys, roots and signatures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHeadWire {
    pub version: String,
    pub network_id: String,
    pub relay_key: String,
    pub size: u64,
    pub root: String,
    pub timestamp_ms: u64,
    pub signature: String,
}

fn hex_array<const N: usize>(s: &str, field: &'static str) -> Result<[u8; N], TreeHeadError> {
    let want = if N == 32 {
        "32 hex bytes"
    } else {
        "64 hex bytes"
    };
    let bad = || TreeHeadError::Field { field, want };
    if s.len() != N * 2 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad());
    }
    let v = hex::decode(s).map_err(|_| bad())?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| bad())
}

impl SignedTreeHead {
    /// Parse the wire form (lower-case hex only, so one head has one byte form) and verify its
    /// signature strictly. Says nothing yet about which relay it claims to be from.
    pub fn from_wire(w: &TreeHeadWire) -> Result<SignedTreeHead, TreeHeadError> {
        if w.version != TREE_HEAD_VERSION {
            return Err(TreeHeadError::Version(w.version.clone()));
        }
        let sth = SignedTreeHead {
            head: TreeHead {
                network_id: w.network_id.clone(),
                relay_key: hex_array(&w.relay_key, "relay_key")?,
                size: w.size,
                root: hex_array(&w.root, "root")?,
                timestamp_ms: w.timestamp_ms,
            },
            signature: hex_array(&w.signature, "signature")?,
        };
        sth.verify()?;
        Ok(sth)
    }

    /// The wire form.
    pub fn to_wire(&self) -> TreeHeadWire {
        TreeHeadWire {
            version: TREE_HEAD_VERSION.to_string(),
            network_id: self.head.network_id.clone(),
            relay_key: hex::encode(self.head.relay_key),
            size: self.head.size,
            root: hex::encode(self.head.root),
            timestamp_ms: self.head.timestamp_ms,
            signature: hex::encode(self.signature),
        }
    }

    /// Strict Ed25519 verification of the signature under the key the head names.
    pub fn verify(&self) -> Result<(), TreeHeadError> {
        let key = crate::identity::parse_verifying_key(&self.head.relay_key)
            .map_err(|_| TreeHeadError::Key)?;
        verify_with(&key, self)
    }

    /// The relay key as hex (how status pages and pins name a relay).
    pub fn relay_key_hex(&self) -> String {
        hex::encode(self.head.relay_key)
    }
}

fn verify_with(key: &VerifyingKey, sth: &SignedTreeHead) -> Result<(), TreeHeadError> {
    let sig = Signature::from_bytes(&sth.signature);
    key.verify_strict(&sth.head.signed_bytes(), &sig)
        .map_err(|_| TreeHeadError::Signature)
}

/// A relay's tree-head signing key. Zeroized on drop; never printed.
pub struct TreeHeadKey {
    signing: SigningKey,
}

impl std::fmt::Debug for TreeHeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TreeHeadKey({})", hex::encode(self.public()))
    }
}

impl TreeHeadKey {
    /// A fresh key from the caller's randomness.
    pub fn generate(rng: &mut impl CryptoRngCore) -> TreeHeadKey {
        TreeHeadKey {
            signing: SigningKey::generate(rng),
        }
    }

    /// The key from its stored 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> TreeHeadKey {
        TreeHeadKey {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The seed, to store (wrapped in `Zeroizing`).
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key peers and browsers pin.
    pub fn public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Sign the head of the first `event_ids.len()` events.
    pub fn sign<S: AsRef<str>>(
        &self,
        network_id: &str,
        event_ids: &[S],
        timestamp_ms: u64,
    ) -> SignedTreeHead {
        let head = TreeHead {
            network_id: network_id.to_string(),
            relay_key: self.public(),
            size: event_ids.len() as u64,
            root: log_root(event_ids),
            timestamp_ms,
        };
        let signature = self.signing.sign(&head.signed_bytes()).to_bytes();
        SignedTreeHead { head, signature }
    }
}

/// The leaf hashes of the log over `event_ids`.
pub fn leaf_hashes<S: AsRef<str>>(event_ids: &[S]) -> Vec<Hash> {
    event_ids
        .iter()
        .map(|id| rfc9162::hash_leaf(id.as_ref().as_bytes()))
        .collect()
}

/// The RFC 9162 root of the log over `event_ids`.
pub fn log_root<S: AsRef<str>>(event_ids: &[S]) -> Hash {
    rfc9162::root_from_leaf_hashes(&leaf_hashes(event_ids))
}

/// The consistency proof from the head of size `old_size` to the head over all `event_ids`.
pub fn consistency<S: AsRef<str>>(
    event_ids: &[S],
    old_size: u64,
) -> Result<Vec<Hash>, rfc9162::ProofError> {
    rfc9162::consistency_proof(&leaf_hashes(event_ids), old_size)
}

/// Check a signed head against event ids the reader holds and verified itself (a browser or a
/// peer that has the chain): the head's root must be the root of the first `size` ids.
pub fn check_against_ids<S: AsRef<str>>(
    sth: &SignedTreeHead,
    event_ids: &[S],
) -> Result<(), TreeHeadError> {
    let held = event_ids.len() as u64;
    let size = sth.head.size;
    let Some(prefix) = usize::try_from(size).ok().and_then(|n| event_ids.get(..n)) else {
        return Err(TreeHeadError::BeyondHeld { size, held });
    };
    if log_root(prefix) != sth.head.root {
        return Err(TreeHeadError::RootMismatch { size });
    }
    Ok(())
}

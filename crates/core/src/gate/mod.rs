//! Private gates (`postern-gate/1`). See `docs/protocol.md` § Private gates.
//!
//! A gate is a sequence of **epochs**. Every epoch record carries the full roster (member id,
//! Ed25519 and X25519 keys, role) and a fresh random 32-byte epoch secret wrapped to every
//! member; it is signed by its rotator, who must be an admin of the previous epoch. Joining,
//! kicking and plain re-keying are all "rotate to a new full roster". Messages are sealed under a
//! per-message key derived from the epoch secret; the author's signature travels inside the
//! ciphertext, and the relay sees only a per-message pseudonym (`sender_ref`).
//!
//! - `roster`: roster entries, validation, roster hash.
//! - `epoch`: epoch records (wire), signing, wrapping, verification, [`GateState`], chains.
//! - `message`: sealed gate messages ([`GateMessage`], the Infonet `gate_message` payload).
//! - `key`: [`EpochKey`], one epoch's secret plus its identity and roster.
//! - `keyring`: past-epoch keys, future-epoch buffering.
//!
//! The submodules are private; everything public is re-exported here.
use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod epoch;
mod key;
mod keyring;
mod message;
mod roster;

pub use epoch::{
    create_genesis, rotate, verify_epoch_chain, Epoch, EpochRecord, EpochSecret, GateState,
    SlotRecord, SECRET_LEN, SLOT_CT_LEN, SLOT_NONCE_LEN,
};
pub use key::EpochKey;
pub use keyring::{Drained, GateKeyring, Received, MAX_PENDING};
pub use message::{
    open, seal, sender_ref, GateMessage, OpenedGateMessage, BUCKETS, FORMAT as MESSAGE_FORMAT,
    HEADER_LEN, MAX_BODY_LEN, MAX_BUCKET, MAX_CIPHERTEXT_B64, NONCE_LEN, SENDER_REF_BYTES, TAG_LEN,
    TRANSPORT_LOCK,
};
pub use roster::{Roster, RosterEntry, RosterEntryRecord, RosterError};

/// Version byte bound into every gate hash, signature, AAD and inner plaintext.
pub const VERSION: u8 = 1;
/// `format` of an epoch record.
pub const EPOCH_FORMAT: &str = "postern-gate-epoch/1";
/// Number of the genesis epoch. Infonet/2 refuses `gate_message` payloads with `epoch: 0`
/// (`schema_rejection_vectors.json`, `gate_message_zero_epoch`), so epochs count from 1.
pub const GENESIS_EPOCH: u64 = 1;
/// Random bytes in a gate id (hex-encoded, lower case: 32 characters).
pub const GATE_ID_BYTES: usize = 16;
/// Largest roster. Bounds a signed epoch record to about 40 KB of JSON.
pub const MAX_MEMBERS: usize = 128;
/// `prev_hash` of the genesis epoch.
pub const ZERO_HASH: [u8; 32] = [0u8; 32];

/// A gate id: 32 lower-case hex characters (16 random bytes).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GateId(String);

impl GateId {
    /// A fresh random gate id.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut raw = [0u8; GATE_ID_BYTES];
        rng.fill_bytes(&mut raw);
        GateId(hex::encode(raw))
    }

    /// Parse a gate id; only the canonical form (32 lower-case hex characters) is accepted.
    pub fn parse(s: &str) -> Result<Self, GateError> {
        if is_valid_gate_id(s) {
            Ok(GateId(s.to_string()))
        } else {
            Err(GateError::BadGateId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Syntactic gate id check (32 lower-case hex characters).
pub fn is_valid_gate_id(s: &str) -> bool {
    s.len() == GATE_ID_BYTES * 2
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for GateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GateId({})", self.0)
    }
}

impl FromStr for GateId {
    type Err = GateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GateId::parse(s)
    }
}

/// Role of a roster member. Only admins may rotate the gate to a new epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    /// Byte used in canonical encodings.
    pub fn to_byte(self) -> u8 {
        match self {
            Role::Admin => 1,
            Role::Member => 2,
        }
    }
}

/// Why an epoch was created (signed; informational except that `genesis` ⇔ the first epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Genesis,
    Join,
    Kick,
    Rotate,
}

impl Reason {
    /// Byte used in canonical encodings.
    pub fn to_byte(self) -> u8 {
        match self {
            Reason::Genesis => 0,
            Reason::Join => 1,
            Reason::Kick => 2,
            Reason::Rotate => 3,
        }
    }
}

/// Every way a gate operation can fail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GateError {
    #[error("malformed gate data: {0}")]
    Malformed(&'static str),
    #[error("unsupported gate format")]
    UnsupportedFormat,
    #[error("gate id must be 32 lower-case hex characters")]
    BadGateId,
    #[error("record or message belongs to another gate")]
    WrongGate,
    #[error("message is for epoch {got}, key is for epoch {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    #[error("invalid roster: {0}")]
    RosterInvalid(#[from] RosterError),
    #[error("envelope slots do not match the roster")]
    EnvelopeMismatch,
    #[error("rotator is not in the new roster with its own keys")]
    RotatorNotInRoster,
    #[error("epoch record signature does not verify")]
    BadSignature,
    #[error("rotator {rotator} is not an admin of the previous epoch")]
    NotAdmin { rotator: String },
    #[error("expected epoch {expected}, got {got}")]
    SkippedEpoch { expected: u64, got: u64 },
    #[error("epoch {epoch} is already known (replayed record)")]
    ReplayedEpoch { epoch: u64 },
    #[error("a different record for epoch {epoch} was already accepted (fork)")]
    ForkedEpoch { epoch: u64 },
    #[error("prev_hash does not match the previous epoch")]
    PrevHashMismatch,
    #[error("invalid genesis epoch: {0}")]
    BadGenesis(&'static str),
    #[error("not a member of epoch {epoch}")]
    NotAMember { epoch: u64 },
    #[error("wrapped epoch secret failed to decrypt")]
    SlotDecrypt,
    #[error("key agreement produced an all-zero secret (low-order key)")]
    NonContributory,
    #[error("message body of {0} bytes exceeds the maximum of {max} bytes", max = MAX_BODY_LEN)]
    BodyTooLarge(usize),
    #[error("decryption failed: message was modified or not sealed under this epoch key")]
    Decrypt,
    #[error("author is not in the epoch roster")]
    AuthorNotInRoster,
    #[error("author signature does not verify")]
    BadMessageSignature,
    #[error("sender_ref does not belong to the authenticated author")]
    SenderRefMismatch,
    #[error("no key for epoch {epoch}")]
    UnknownEpoch { epoch: u64 },
    #[error("too many messages waiting for a future epoch")]
    PendingFull,
}

impl From<crate::wire::WireError> for GateError {
    fn from(e: crate::wire::WireError) -> Self {
        GateError::Malformed(e.as_str())
    }
}

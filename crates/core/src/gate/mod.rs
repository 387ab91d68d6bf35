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
//! - `epoch`: epoch records (wire), signing, wrapping, verification of one record ([`Epoch`]).
//! - `state`: the chain rules ([`GateState`], [`verify_epoch_chain`]), incremental from a head.
//! - `message`: sealed gate messages ([`GateMessage`], the Infonet `gate_message` payload).
//! - `key`: [`EpochKey`], one epoch's secret plus its identity and roster.
//! - `keyring`: past-epoch keys, future-epoch buffering.
//! - `policy`: the stale-epoch rule, the pinned-chain comparison, the cost caps.
//! - `stream`: per-author message counters (drops, replays, reorders).
//! - `error`: one error type per operation ([`RecordError`], [`ChainError`], [`OpenError`], …).
//!
//! The submodules are private; everything public is re-exported here.
use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

mod epoch;
mod error;
mod key;
mod keyring;
mod limits;
mod message;
mod policy;
mod roster;
mod state;
mod stream;

pub use epoch::{
    create_genesis, rotate, Epoch, EpochRecord, EpochSecret, SlotRecord, SECRET_LEN, SLOT_CT_LEN,
    SLOT_NONCE_LEN,
};
pub use error::{
    AddEpochError, ChainError, FormatError, GateCapError, GateIdError, MessageEpochError,
    OpenError, ReceiveError, RecordError, RosterError, RotateError, SealError, UnwrapError,
};
pub use key::EpochKey;
pub use keyring::{Drained, GateKeyring, Received, MAX_PENDING};
pub use limits::{
    BUCKETS, EPOCH_FORMAT, GATE_ID_BYTES, GENESIS_EPOCH, HEADER_LEN, HEADER_LEN_V2,
    INNER_VERSION_COUNTED, INVITE_WINDOW_SECS, MAX_BODY_LEN, MAX_BUCKET, MAX_CIPHERTEXT_B64,
    MAX_EPOCHS_PAGE, MAX_EPOCHS_PER_GATE, MAX_GATES_PAGE, MAX_GATES_PER_MEMBER, MAX_MEMBERS,
    MAX_MEMBERS_PER_GATE, MAX_STRANGER_INVITES_PER_WINDOW, MESSAGE_FORMAT, NONCE_LEN,
    SENDER_REF_BYTES, TAG_LEN, TRANSPORT_LOCK, VERSION, ZERO_HASH,
};
pub use message::{open, seal, seal_counted, sender_ref, GateMessage, OpenedGateMessage};
pub use policy::{
    check_gate_epoch, check_invite_rate, check_message_epoch, compare_chains, ChainRelation,
};
pub use roster::{Roster, RosterEntry, RosterEntryRecord};
pub use state::{verify_epoch_chain, GateState};
pub use stream::{AuthorStreams, StreamMark};

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
    pub fn parse(s: &str) -> Result<Self, GateIdError> {
        if is_valid_gate_id(s) {
            Ok(GateId(s.to_string()))
        } else {
            Err(GateIdError)
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
    type Err = GateIdError;
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

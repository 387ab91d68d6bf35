//! Error types of the gate operations: one per operation, each listing only what that operation
//! can return. Where one operation runs another (opening a message decodes it first), the inner
//! error nests through `#[from]` with its message unchanged.
//!
//! | operation | error |
//! |---|---|
//! | [`GateId::parse`](super::GateId::parse) | [`GateIdError`] |
//! | JSON and shape of records and messages (`from_json`, `to_json`, `GateMessage::validate`, `OpenedGateMessage::text`) | [`FormatError`] |
//! | [`EpochRecord::verify`](super::EpochRecord::verify), `signed_bytes`, `sign` | [`RecordError`] |
//! | [`GateState`](super::GateState) (`from_genesis`, `check_next`, `apply`), [`verify_epoch_chain`](super::verify_epoch_chain) | [`ChainError`] |
//! | [`create_genesis`](super::create_genesis), [`rotate`](super::rotate) | [`RotateError`] |
//! | [`Epoch::open_secret`](super::Epoch::open_secret), [`EpochKey::unlock`](super::EpochKey::unlock) | [`UnwrapError`] |
//! | [`seal`](super::seal), [`GateKeyring::seal`](super::GateKeyring::seal) | [`SealError`] |
//! | [`open`](super::open), [`GateKeyring::open`](super::GateKeyring::open) | [`OpenError`] |
//! | [`GateKeyring::receive`](super::GateKeyring::receive) | [`ReceiveError`] |
//! | [`GateKeyring::add_epoch`](super::GateKeyring::add_epoch), `insert_key` | [`AddEpochError`] |
//! | [`check_message_epoch`](super::check_message_epoch) (relay and client, on a new message) | [`MessageEpochError`] |
//! | [`check_gate_epoch`](super::check_gate_epoch) (relay, on an epoch publish) | [`GateCapError`] |
use thiserror::Error;

use super::limits::{MAX_BODY_LEN, MAX_MEMBERS};
use crate::wire::WireError;

/// A gate id that is not 32 lower-case hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("gate id must be 32 lower-case hex characters")]
pub struct GateIdError;

/// Decoding the wire form of a gate record or message (JSON, fields, sizes); no keys involved.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error("malformed gate data: {0}")]
    Malformed(&'static str),
    #[error("unsupported gate format")]
    UnsupportedFormat,
    #[error(transparent)]
    BadGateId(#[from] GateIdError),
}

/// Checking one epoch record on its own: shape, roster, envelope, the rotator's signature and
/// the genesis rules ([`EpochRecord::verify`](super::EpochRecord::verify)). `signed_bytes` and
/// `sign` decode the record only, so they return the first three variants.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("invalid roster: {0}")]
    RosterInvalid(#[from] RosterError),
    #[error("envelope slots do not match the roster")]
    EnvelopeMismatch,
    #[error("rotator is not in the new roster with its own keys")]
    RotatorNotInRoster,
    #[error("epoch record signature does not verify")]
    BadSignature,
    #[error("invalid genesis epoch: {0}")]
    BadGenesis(&'static str),
}

/// Accepting an epoch record into a gate's chain ([`GateState`](super::GateState),
/// [`verify_epoch_chain`](super::verify_epoch_chain)): the record's own checks, then its link
/// to the current head.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The chain does not start with a genesis record (or is empty).
    #[error("invalid genesis epoch: {0}")]
    BadGenesis(&'static str),
    #[error("record or message belongs to another gate")]
    WrongGate,
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
}

/// Creating an epoch record ([`create_genesis`](super::create_genesis),
/// [`rotate`](super::rotate)). A genesis can only fail on the internal encoding steps.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RotateError {
    #[error("rotator is not in the new roster with its own keys")]
    RotatorNotInRoster,
    #[error("rotator {rotator} is not an admin of the previous epoch")]
    NotAdmin { rotator: String },
    /// `Reason::Genesis` given for a rotation.
    #[error("invalid genesis epoch: {0}")]
    BadGenesis(&'static str),
    #[error("key agreement produced an all-zero secret (low-order key)")]
    NonContributory,
    /// An encoding step failed (field lengths, epoch number overflow, AEAD).
    #[error("malformed gate data: {0}")]
    Malformed(&'static str),
}

/// Recovering my epoch secret from my slot of a verified epoch
/// ([`Epoch::open_secret`](super::Epoch::open_secret)).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnwrapError {
    /// I am not in the epoch's roster (or am listed with other keys).
    #[error("not a member of epoch {epoch}")]
    NotAMember { epoch: u64 },
    /// No slot for me (a verified epoch always has one).
    #[error("envelope slots do not match the roster")]
    EnvelopeMismatch,
    /// The rotator is missing from the roster (a verified epoch always has it).
    #[error("rotator is not in the new roster with its own keys")]
    RotatorNotInRoster,
    #[error("key agreement produced an all-zero secret (low-order key)")]
    NonContributory,
    #[error("wrapped epoch secret failed to decrypt")]
    SlotDecrypt,
    /// An encoding step failed (field lengths, HKDF output size).
    #[error("malformed gate data: {0}")]
    Malformed(&'static str),
}

/// Sealing a gate message ([`seal`](super::seal) with one epoch key,
/// [`GateKeyring::seal`](super::GateKeyring::seal) under the latest epoch).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SealError {
    #[error("message body of {0} bytes exceeds the maximum of {max} bytes", max = MAX_BODY_LEN)]
    BodyTooLarge(usize),
    #[error("author is not in the epoch roster")]
    AuthorNotInRoster,
    /// Keyring only: I am not in the latest epoch's roster.
    #[error("not a member of epoch {epoch}")]
    NotAMember { epoch: u64 },
    /// Keyring only: no epoch is known yet (`epoch` is 0).
    #[error("no key for epoch {epoch}")]
    UnknownEpoch { epoch: u64 },
    /// An encoding step failed (field lengths, HKDF output size, AEAD).
    #[error("malformed gate data: {0}")]
    Malformed(&'static str),
}

/// Opening a gate message and authenticating its author ([`open`](super::open) with the key of
/// its epoch, [`GateKeyring::open`](super::GateKeyring::open) with whichever key it holds).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpenError {
    /// The message (or, after decryption, its inner plaintext) is malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("record or message belongs to another gate")]
    WrongGate,
    /// [`open`](super::open) only: the key is for another epoch.
    #[error("message is for epoch {got}, key is for epoch {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    #[error("decryption failed: message was modified or not sealed under this epoch key")]
    Decrypt,
    #[error("author is not in the epoch roster")]
    AuthorNotInRoster,
    #[error("author signature does not verify")]
    BadMessageSignature,
    #[error("sender_ref does not belong to the authenticated author")]
    SenderRefMismatch,
    /// Keyring only: the epoch exists but I am not in its roster.
    #[error("not a member of epoch {epoch}")]
    NotAMember { epoch: u64 },
    /// Keyring only: no key for the message's epoch.
    #[error("no key for epoch {epoch}")]
    UnknownEpoch { epoch: u64 },
}

/// Receiving a message into a keyring: open it, or queue it for a future epoch
/// ([`GateKeyring::receive`](super::GateKeyring::receive)).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("too many messages waiting for a future epoch")]
    PendingFull,
}

/// Adding an epoch (or a restored key) to a keyring
/// ([`GateKeyring::add_epoch`](super::GateKeyring::add_epoch); `insert_key` only returns
/// `WrongGate`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddEpochError {
    #[error("record or message belongs to another gate")]
    WrongGate,
    #[error(transparent)]
    Unwrap(#[from] UnwrapError),
}

/// An internal encoding step failed (a length prefix, HKDF output size, AEAD). Each operation
/// reports it as its `Malformed` variant; never seen by callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl From<WireError> for Malformed {
    fn from(e: WireError) -> Self {
        Malformed(e.as_str())
    }
}

macro_rules! from_internal {
    ($($t:ty => $ctor:expr),* $(,)?) => {$(
        impl From<Malformed> for $t {
            fn from(Malformed(s): Malformed) -> Self {
                $ctor(s)
            }
        }
        impl From<WireError> for $t {
            fn from(e: WireError) -> Self {
                Malformed::from(e).into()
            }
        }
    )*};
}

from_internal! {
    FormatError => FormatError::Malformed,
    RotateError => RotateError::Malformed,
    UnwrapError => UnwrapError::Malformed,
    SealError => SealError::Malformed,
}

impl From<Malformed> for RecordError {
    fn from(m: Malformed) -> Self {
        RecordError::Format(m.into())
    }
}

impl From<WireError> for RecordError {
    fn from(e: WireError) -> Self {
        RecordError::Format(e.into())
    }
}

impl From<Malformed> for OpenError {
    fn from(m: Malformed) -> Self {
        OpenError::Format(m.into())
    }
}

impl From<WireError> for OpenError {
    fn from(e: WireError) -> Self {
        OpenError::Format(e.into())
    }
}

/// A roster that cannot be an epoch's member list.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RosterError {
    #[error("roster is empty")]
    Empty,
    #[error("roster has more than {MAX_MEMBERS} members")]
    TooLarge,
    #[error("member {0} appears more than once")]
    DuplicateMember(String),
    #[error("member_id is not a valid node id")]
    BadMemberId,
    #[error("member_id does not match the member's Ed25519 key")]
    NodeIdMismatch,
    #[error("member key is invalid, weak or low-order")]
    BadKey,
    #[error("roster has no admin")]
    NoAdmin,
    #[error("member's identity self-signature does not cover its keys (substituted key)")]
    BadBinding,
}

/// A new gate message whose epoch is not the gate's current (head) epoch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageEpochError {
    /// Sealed for an epoch older than the head: refused (a removed member still holds the old
    /// key; a client re-seals a queued post under the head epoch).
    #[error("message is sealed for epoch {epoch}, older than the gate's current epoch {head}")]
    Stale { epoch: u64, head: u64 },
    /// Sealed for an epoch the checker does not hold yet.
    #[error("no key for epoch {epoch}")]
    Unknown { epoch: u64 },
}

impl MessageEpochError {
    /// Stable machine-readable code (the relay's 409 `error`).
    pub fn code(&self) -> &'static str {
        match self {
            MessageEpochError::Stale { .. } => "stale_epoch",
            MessageEpochError::Unknown { .. } => "unknown_epoch",
        }
    }
}

/// An epoch publish beyond the gate cost caps (`limits::MAX_EPOCHS_PER_GATE`,
/// `MAX_MEMBERS_PER_GATE`, `MAX_GATES_PER_MEMBER`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GateCapError {
    #[error("this gate has reached the maximum of {cap} epochs; create a new gate")]
    TooManyEpochs { cap: u64 },
    #[error("the roster has {got} members, more than the maximum of {cap}")]
    TooManyMembers { got: usize, cap: usize },
    #[error("member {member} is already in {cap} gates, the maximum; they cannot be added")]
    TooManyGates { member: String, cap: usize },
}

impl GateCapError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            GateCapError::TooManyEpochs { .. } => "gate_too_many_epochs",
            GateCapError::TooManyMembers { .. } => "gate_too_many_members",
            GateCapError::TooManyGates { .. } => "member_too_many_gates",
        }
    }
}

//! Stable JS error codes of core's gate errors (`gate_` + snake_case variant), for src/gate.rs.
use postern_core::gate::{
    AddEpochError, ChainError, FormatError, GateIdError, OpenError, ReceiveError, RecordError,
    RosterError, RotateError, SealError, UnwrapError,
};
use wasm_bindgen::JsValue;

use crate::error::js_error;

/// A gate error's stable JS code: `gate_` + the snake_case variant name, the same code for a
/// variant whichever operation's error type carries it (nested errors report the inner code).
pub trait GateCode: std::fmt::Display {
    fn code(&self) -> &'static str;
}

impl GateCode for GateIdError {
    fn code(&self) -> &'static str {
        "gate_bad_gate_id"
    }
}

impl GateCode for FormatError {
    fn code(&self) -> &'static str {
        match self {
            FormatError::Malformed(_) => "gate_malformed",
            FormatError::UnsupportedFormat => "gate_unsupported_format",
            FormatError::BadGateId(e) => e.code(),
        }
    }
}

impl GateCode for RosterError {
    fn code(&self) -> &'static str {
        "gate_roster_invalid"
    }
}

impl GateCode for RecordError {
    fn code(&self) -> &'static str {
        match self {
            RecordError::Format(e) => e.code(),
            RecordError::RosterInvalid(e) => e.code(),
            RecordError::EnvelopeMismatch => "gate_envelope_mismatch",
            RecordError::RotatorNotInRoster => "gate_rotator_not_in_roster",
            RecordError::BadSignature => "gate_bad_signature",
            RecordError::BadGenesis(_) => "gate_bad_genesis",
        }
    }
}

impl GateCode for ChainError {
    fn code(&self) -> &'static str {
        match self {
            ChainError::Record(e) => e.code(),
            ChainError::BadGenesis(_) => "gate_bad_genesis",
            ChainError::WrongGate => "gate_wrong_gate",
            ChainError::NotAdmin { .. } => "gate_not_admin",
            ChainError::SkippedEpoch { .. } => "gate_skipped_epoch",
            ChainError::ReplayedEpoch { .. } => "gate_replayed_epoch",
            ChainError::ForkedEpoch { .. } => "gate_forked_epoch",
            ChainError::PrevHashMismatch => "gate_prev_hash_mismatch",
        }
    }
}

impl GateCode for RotateError {
    fn code(&self) -> &'static str {
        match self {
            RotateError::RotatorNotInRoster => "gate_rotator_not_in_roster",
            RotateError::NotAdmin { .. } => "gate_not_admin",
            RotateError::BadGenesis(_) => "gate_bad_genesis",
            RotateError::NonContributory => "gate_non_contributory",
            RotateError::Malformed(_) => "gate_malformed",
        }
    }
}

impl GateCode for UnwrapError {
    fn code(&self) -> &'static str {
        match self {
            UnwrapError::NotAMember { .. } => "gate_not_a_member",
            UnwrapError::EnvelopeMismatch => "gate_envelope_mismatch",
            UnwrapError::RotatorNotInRoster => "gate_rotator_not_in_roster",
            UnwrapError::NonContributory => "gate_non_contributory",
            UnwrapError::SlotDecrypt => "gate_slot_decrypt",
            UnwrapError::Malformed(_) => "gate_malformed",
        }
    }
}

impl GateCode for SealError {
    fn code(&self) -> &'static str {
        match self {
            SealError::BodyTooLarge(_) => "gate_body_too_large",
            SealError::AuthorNotInRoster => "gate_author_not_in_roster",
            SealError::NotAMember { .. } => "gate_not_a_member",
            SealError::UnknownEpoch { .. } => "gate_unknown_epoch",
            SealError::Malformed(_) => "gate_malformed",
        }
    }
}

impl GateCode for OpenError {
    fn code(&self) -> &'static str {
        match self {
            OpenError::Format(e) => e.code(),
            OpenError::WrongGate => "gate_wrong_gate",
            OpenError::WrongEpoch { .. } => "gate_wrong_epoch",
            OpenError::Decrypt => "gate_decrypt",
            OpenError::AuthorNotInRoster => "gate_author_not_in_roster",
            OpenError::BadMessageSignature => "gate_bad_message_signature",
            OpenError::SenderRefMismatch => "gate_sender_ref_mismatch",
            OpenError::NotAMember { .. } => "gate_not_a_member",
            OpenError::UnknownEpoch { .. } => "gate_unknown_epoch",
        }
    }
}

impl GateCode for ReceiveError {
    fn code(&self) -> &'static str {
        match self {
            ReceiveError::Open(e) => e.code(),
            ReceiveError::PendingFull => "gate_pending_full",
        }
    }
}

impl GateCode for AddEpochError {
    fn code(&self) -> &'static str {
        match self {
            AddEpochError::WrongGate => "gate_wrong_gate",
            AddEpochError::Unwrap(e) => e.code(),
        }
    }
}

/// A JS error for any gate operation's error, with its [`GateCode`].
pub fn gate_error(e: impl GateCode) -> JsValue {
    js_error(e.code(), e)
}

/// A roster edit refused: `gate_roster_invalid`, message `invalid roster: …`.
pub fn roster_error(e: RosterError) -> JsValue {
    gate_error(RecordError::RosterInvalid(e))
}

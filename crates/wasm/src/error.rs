//! JS errors with a stable `code` property, derived from core's typed errors.
use postern_core::dm::{DmError, EnvelopeError};
use postern_core::identity::IdentityError;
use postern_core::json::JsonError;
use postern_core::merkle::MerkleError;
use postern_core::rfc9162::ProofError;
use postern_core::schema::SchemaError;
use wasm_bindgen::JsValue;

/// A JS `Error` with `message` and a stable machine-readable `code`.
pub fn js_error(code: &str, message: impl std::fmt::Display) -> JsValue {
    let err = js_sys::Error::new(&message.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

pub fn identity_error(e: IdentityError) -> JsValue {
    js_error("identity_invalid", e)
}

pub fn dm_error(e: DmError) -> JsValue {
    let code = match &e {
        DmError::Envelope(EnvelopeError::CiphertextTooLarge) => "dm_ciphertext_too_large",
        DmError::Envelope(_) => "dm_envelope_invalid",
        DmError::WrongRecipient => "dm_wrong_recipient",
        DmError::NonContributory => "dm_non_contributory",
        DmError::BodyTooLarge(_) => "dm_body_too_large",
        DmError::Decrypt => "dm_decrypt",
        DmError::Malformed(_) => "dm_malformed",
        DmError::BadSenderKey => "dm_bad_sender_key",
        DmError::BadSignature => "dm_bad_signature",
        DmError::SenderRefMismatch => "dm_sender_ref_mismatch",
    };
    js_error(code, e)
}

/// `schema_<reason>`, one code per [`SchemaError`] variant.
pub fn schema_error(e: SchemaError) -> JsValue {
    let reason = match &e {
        SchemaError::UnknownEventType => "unknown_event_type",
        SchemaError::NotAnObject => "not_an_object",
        SchemaError::MissingField(_) => "missing_field",
        SchemaError::NotNormalized => "not_normalized",
        SchemaError::EphemeralNotAllowed => "ephemeral_not_allowed",
        SchemaError::Invalid(_) => "invalid",
        SchemaError::NotPublicLedgerType(_) => "not_public_ledger_type",
        SchemaError::ForbiddenFields(_) => "forbidden_fields",
        SchemaError::NonBroadcastDestination => "non_broadcast_destination",
        SchemaError::UnsupportedPrivateFields(..) => "unsupported_private_fields",
        SchemaError::PlaintextPresent(_) => "plaintext_present",
        SchemaError::TransportLock(_) => "transport_lock",
        SchemaError::NotSealedBytes(_) => "not_sealed_bytes",
        SchemaError::SealedTooShort(_) => "sealed_too_short",
        SchemaError::EncodedPlaintext(_) => "encoded_plaintext",
        SchemaError::LowEntropy(_) => "low_entropy",
        SchemaError::PayloadTooLarge => "payload_too_large",
        SchemaError::MessageTooLong => "message_too_long",
        SchemaError::CiphertextTooLong => "ciphertext_too_long",
        SchemaError::NotAppendable(_) => "not_appendable",
        SchemaError::FormatDowngrade => "format_downgrade",
        SchemaError::ProtocolVersion => "protocol_version",
        SchemaError::NetworkId => "network_id",
    };
    js_error(&format!("schema_{reason}"), e)
}

pub fn json_error(e: JsonError) -> JsValue {
    js_error("json_invalid", e)
}

pub fn merkle_error(e: MerkleError) -> JsValue {
    let code = match &e {
        MerkleError::Empty => "merkle_empty",
        MerkleError::IndexOutOfRange(..) => "merkle_index_out_of_range",
    };
    js_error(code, e)
}

/// `rfc9162_<reason>`, one code per [`ProofError`] variant.
pub fn proof_error(e: ProofError) -> JsValue {
    let code = match &e {
        ProofError::IndexOutOfRange { .. } => "rfc9162_index_out_of_range",
        ProofError::Size1GreaterThanSize2 { .. } => "rfc9162_size1_greater_than_size2",
        ProofError::EmptyOldTree => "rfc9162_empty_old_tree",
        ProofError::WrongProofLength { .. } => "rfc9162_wrong_proof_length",
        ProofError::NonEmptyProofForEqualSizes => "rfc9162_non_empty_proof_for_equal_sizes",
        ProofError::EmptyProof => "rfc9162_empty_proof",
        ProofError::BadHashLength(_) => "rfc9162_bad_hash_length",
        ProofError::RootMismatch => "rfc9162_root_mismatch",
        ProofError::Root1Mismatch => "rfc9162_root1_mismatch",
    };
    js_error(code, e)
}

/// A JS number that must be a non-negative safe integer (indices, sizes, sequences, seconds).
pub fn to_u64(x: f64, what: &str) -> Result<u64, JsValue> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if (0.0..=MAX_SAFE).contains(&x) && x.fract() == 0.0 {
        Ok(x as u64)
    } else {
        Err(js_error(
            "invalid_argument",
            format!("{what} must be a non-negative safe integer"),
        ))
    }
}

//! Sealed-bytes fields: base64-ish decoding, entropy and printable-ratio heuristics.

use base64::Engine as _;

use super::rules::{
    str_or_empty, SchemaError, SEALED_ENTROPY_FLOOR, SEALED_HEURISTIC_MIN_BYTES,
    SEALED_MAX_PRINTABLE_RATIO, SEALED_MIN_BYTES,
};
use crate::json::{py_strip, Value};

/// Decode "base64-ish" text: standard or URL-safe alphabet (mixing allowed), padding optional,
/// no whitespace, strict otherwise. `None` when it is not base64.
pub fn decode_base64ish(raw: &str) -> Option<Vec<u8>> {
    let raw = py_strip(raw);
    if raw.is_empty()
        || raw
            .chars()
            .any(|c| c.is_whitespace() || crate::json::py_is_space(c))
    {
        return None;
    }
    let translated: String = raw
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    let data = translated.trim_end_matches('=');
    let pads = translated.len() - data.len();
    if !data
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    let need = match data.len() % 4 {
        0 => 0,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    // Given padding is topped up to a multiple of four; more than that is excess padding.
    if pads > need {
        return None;
    }
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(data.as_bytes())
    .ok()
}

/// Shannon entropy in bits per byte.
pub fn byte_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for b in data {
        counts[usize::from(*b)] += 1;
    }
    let total = data.len() as f64;
    -counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / total;
            p * p.log2()
        })
        .sum::<f64>()
}

/// Sealed-bytes shape check for a payload field (base64, ≥ 8 bytes; from 32 bytes on, not
/// mostly-printable UTF-8 and entropy ≥ 2.5 bits/byte).
pub fn validate_sealed_bytes_field(p: &Value, field: &str) -> Result<(), SchemaError> {
    let text = str_or_empty(p, field);
    let data =
        decode_base64ish(&text).ok_or_else(|| SchemaError::NotSealedBytes(field.to_string()))?;
    if data.len() < SEALED_MIN_BYTES {
        return Err(SchemaError::SealedTooShort(field.to_string()));
    }
    if data.len() >= SEALED_HEURISTIC_MIN_BYTES {
        let printable = data
            .iter()
            .filter(|b| (32..=126).contains(*b) || matches!(b, 9 | 10 | 13))
            .count();
        if printable as f64 / data.len() as f64 > SEALED_MAX_PRINTABLE_RATIO
            && std::str::from_utf8(&data).is_ok()
        {
            return Err(SchemaError::EncodedPlaintext(field.to_string()));
        }
        if byte_entropy(&data) < SEALED_ENTROPY_FLOOR {
            return Err(SchemaError::LowEntropy(field.to_string()));
        }
    }
    Ok(())
}

//! Exact JSON values for Infonet canonicalisation.
//!
//! Infonet/2 hashes and signs Python renderings of JSON values, so this module keeps every number
//! exactly as it appeared on the wire: integers of any size stay integers (as decimal digits) and
//! floats are IEEE-754 doubles (which is what Python's `json` produces as well). It offers:
//!
//! * [`parse`] / [`parse_with_limits`]: a strict RFC 8259 reader with depth and size limits that
//!   never panics and reports typed [`JsonError`]s;
//! * [`Value::to_canonical`]: `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`;
//! * [`Value::py_str`]: Python's `str(v)` (floats in `repr` form, `True`/`None`, dict/list repr);
//! * the small set of Python coercions Infonet normalisation relies on (`int()`, `float()`,
//!   truthiness, `==`, `str.strip()`), each with an explicit edge-case policy.

mod bigint;
mod interop;
mod parse;
mod python;
mod value;

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

pub use bigint::BigInt;
pub use parse::{parse, parse_with_limits, Limits};
pub use python::{
    py_float_from_str, py_float_json, py_float_repr, py_int_from_str, py_is_space, py_lower,
    py_strip, py_truncate,
};
pub use value::{write_json_string, Value};

use thiserror::Error;

/// Default nesting limit for [`parse`].
pub const DEFAULT_MAX_DEPTH: usize = 128;
/// Default input size limit for [`parse`] (bytes).
pub const DEFAULT_MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Python (3.11+) refuses to convert integer strings longer than this many digits.
pub const PY_INT_MAX_STR_DIGITS: usize = 4300;

/// Errors from the JSON reader.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JsonError {
    #[error("input is {0} bytes, over the {1}-byte limit")]
    TooLarge(usize, usize),
    #[error("input is not valid UTF-8")]
    InvalidUtf8,
    #[error("unexpected end of input")]
    UnexpectedEof,
    #[error("unexpected character at byte {0}")]
    UnexpectedChar(usize),
    #[error("nesting deeper than {0}")]
    TooDeep(usize),
    #[error("invalid number at byte {0}")]
    InvalidNumber(usize),
    #[error("number out of range at byte {0}")]
    NumberOutOfRange(usize),
    #[error("invalid string escape at byte {0}")]
    InvalidEscape(usize),
    #[error("unpaired UTF-16 surrogate at byte {0}")]
    LoneSurrogate(usize),
    #[error("raw control character in string at byte {0}")]
    ControlCharacter(usize),
    #[error("trailing data at byte {0}")]
    TrailingData(usize),
}

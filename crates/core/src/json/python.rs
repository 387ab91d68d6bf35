//! Python string and number coercions (`str.strip()`, `int()`, `float()`, float `repr`).

use std::fmt::Write as _;

use super::{BigInt, PY_INT_MAX_STR_DIGITS};

pub use crate::pynum::py_is_space;

/// Python `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

/// Python `s.lower()` (Unicode lower-casing).
pub fn py_lower(s: &str) -> String {
    s.to_lowercase()
}

/// Python `s[:n]` (by code point).
pub fn py_truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Python `int(str)`: surrounding whitespace, optional sign, decimal digits (Unicode digits
/// count, as in CPython) with single underscores between them; at most
/// [`PY_INT_MAX_STR_DIGITS`] digits (`crate::pynum::py_int_text`).
pub fn py_int_from_str(s: &str) -> Option<BigInt> {
    let text = crate::pynum::py_int_text(s)?;
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.as_str()),
    };
    if digits.len() > PY_INT_MAX_STR_DIGITS {
        return None;
    }
    BigInt::from_parts(neg, digits)
}

/// Python `float(str)`, exactly (`crate::pynum::py_float_from_str`): underscores only between
/// digits (`"1_000"` is 1000), Unicode spaces and digits, `inf`/`infinity`/`nan` in any case.
pub fn py_float_from_str(s: &str) -> Option<f64> {
    crate::pynum::py_float_from_str(s)
}

/// Python `repr(float)`: shortest round-trip digits, `.0` for integral values, exponent form when
/// the decimal exponent is below -4 or at least 16 (`1e+16`, `1e-05`).
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = match sci.split_once('e') {
        Some(parts) => parts,
        None => return sci,
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    let nd = digits.len() as i64;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else if decpt >= nd {
            out.push_str(&digits);
            for _ in 0..(decpt - nd) {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            let (a, b) = digits.split_at(decpt as usize);
            out.push_str(a);
            out.push('.');
            out.push_str(b);
        }
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = decpt - 1;
        let _ = write!(out, "e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Python `json.dumps(float)`: `repr`, with `NaN`/`Infinity`/`-Infinity` for non-finite values.
pub fn py_float_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        py_float_repr(f)
    }
}

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

use std::cmp::Ordering;
use std::fmt::Write as _;

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

/// An integer of arbitrary size: sign plus decimal magnitude without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BigInt {
    neg: bool,
    mag: String,
}

impl BigInt {
    /// Zero.
    pub fn zero() -> Self {
        BigInt {
            neg: false,
            mag: "0".into(),
        }
    }
    /// Build from a sign and ASCII decimal digits (leading zeros are removed). `None` if `digits`
    /// is empty or contains a non-digit.
    pub fn from_parts(neg: bool, digits: &str) -> Option<Self> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        let mag = if trimmed.is_empty() {
            "0".to_string()
        } else {
            trimmed.to_string()
        };
        let neg = neg && mag != "0";
        Some(BigInt { neg, mag })
    }
    /// Is this value negative?
    pub fn is_negative(&self) -> bool {
        self.neg
    }
    /// Is this value zero?
    pub fn is_zero(&self) -> bool {
        self.mag == "0"
    }
    /// Decimal magnitude digits.
    pub fn magnitude(&self) -> &str {
        &self.mag
    }
    /// The value as `i128` when it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.mag.len() > 39 {
            return None;
        }
        let m: i128 = self.mag.parse().ok()?;
        Some(if self.neg { -m } else { m })
    }
    /// The value as `i64` when it fits.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_i128().and_then(|v| i64::try_from(v).ok())
    }
    /// The value as `u64` when it fits.
    pub fn to_u64(&self) -> Option<u64> {
        self.to_i128().and_then(|v| u64::try_from(v).ok())
    }
    /// Nearest double (Python `float(int)`); `None` when it overflows (Python raises).
    pub fn to_f64(&self) -> Option<f64> {
        let text = if self.neg {
            format!("-{}", self.mag)
        } else {
            self.mag.clone()
        };
        let f: f64 = text.parse().ok()?;
        if f.is_finite() {
            Some(f)
        } else {
            None
        }
    }
    /// Exact integer value of a finite, integral double.
    pub fn from_f64_trunc(f: f64) -> Option<Self> {
        if !f.is_finite() {
            return None;
        }
        let t = f.trunc();
        if t.abs() < 9.0e15 {
            // Exactly representable as i64.
            let v = t as i64;
            return Some(BigInt::from(v));
        }
        // t = mantissa * 2^exp with exp >= 0 here (|t| >= 2^53 means no fractional bits).
        let bits = t.abs().to_bits();
        let exp_bits = ((bits >> 52) & 0x7ff) as i64;
        let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        let exp = exp_bits - 1075;
        let mut digits: Vec<u32> = vec![]; // base 1e9, little endian
        let mut m = mantissa;
        while m > 0 {
            digits.push((m % 1_000_000_000) as u32);
            m /= 1_000_000_000;
        }
        let mut e = exp;
        while e > 0 {
            let mut carry = 0u64;
            for d in digits.iter_mut() {
                let v = u64::from(*d) * 2 + carry;
                *d = (v % 1_000_000_000) as u32;
                carry = v / 1_000_000_000;
            }
            if carry > 0 {
                digits.push(carry as u32);
            }
            e -= 1;
        }
        let mut s = String::new();
        for (i, d) in digits.iter().rev().enumerate() {
            if i == 0 {
                let _ = write!(s, "{d}");
            } else {
                let _ = write!(s, "{d:09}");
            }
        }
        BigInt::from_parts(f < 0.0, &s)
    }
    fn cmp_value(&self, other: &BigInt) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (neg, _) => {
                let mag = self
                    .mag
                    .len()
                    .cmp(&other.mag.len())
                    .then_with(|| self.mag.cmp(&other.mag));
                if neg {
                    mag.reverse()
                } else {
                    mag
                }
            }
        }
    }
}

impl PartialOrd for BigInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for BigInt {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_value(other)
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> Self {
        BigInt {
            neg: v < 0,
            mag: v.unsigned_abs().to_string(),
        }
    }
}
impl From<u64> for BigInt {
    fn from(v: u64) -> Self {
        BigInt {
            neg: false,
            mag: v.to_string(),
        }
    }
}
impl From<i128> for BigInt {
    fn from(v: i128) -> Self {
        BigInt {
            neg: v < 0,
            mag: v.unsigned_abs().to_string(),
        }
    }
}

impl std::fmt::Display for BigInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.neg {
            f.write_str("-")?;
        }
        f.write_str(&self.mag)
    }
}

/// A JSON value with exact numbers. Objects keep insertion order (like a Python dict); a repeated
/// key keeps its first position and its last value, exactly as `json.loads` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(BigInt),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(BigInt::from(v))
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(BigInt::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl Value {
    /// An empty object.
    pub fn object() -> Self {
        Value::Object(Vec::new())
    }
    /// Object member lookup (None for non-objects).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// Does this object contain `key`?
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Insert or replace an object member (no-op for non-objects). Replacing keeps the position.
    pub fn insert(&mut self, key: &str, value: Value) {
        if let Value::Object(m) = self {
            if let Some(slot) = m.iter_mut().find(|(k, _)| k == key) {
                slot.1 = value;
            } else {
                m.push((key.to_string(), value));
            }
        }
    }
    /// Remove an object member, returning it.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        if let Value::Object(m) = self {
            if let Some(pos) = m.iter().position(|(k, _)| k == key) {
                return Some(m.remove(pos).1);
            }
        }
        None
    }
    /// Object members, if this is an object.
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// Array items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// String contents, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Is this JSON `true`/`false`?
    pub fn is_bool(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    /// Canonical JSON: keys sorted by code point, `,`/`:` separators, raw UTF-8 (Python
    /// `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
    pub fn to_canonical(&self) -> String {
        let mut out = String::new();
        self.write_canonical(&mut out);
        out
    }

    /// Compact JSON keeping object members in insertion order (for human-facing output).
    pub fn to_json_ordered(&self) -> String {
        let mut out = String::new();
        self.write_ordered(&mut out);
        out
    }

    fn write_ordered(&self, out: &mut String) {
        match self {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_ordered(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_ordered(out);
                }
                out.push('}');
            }
            other => other.write_canonical(out),
        }
    }

    fn write_canonical(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&py_float_json(*f)),
            Value::Str(s) => write_json_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                let mut sorted: Vec<&(String, Value)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_canonical(out);
                }
                out.push('}');
            }
        }
    }

    /// Python `str(value)`.
    pub fn py_str(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.py_repr(),
        }
    }

    /// Python `repr(value)` (dict/list/str repr as CPython prints them).
    pub fn py_repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out);
        out
    }

    fn write_repr(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("None"),
            Value::Bool(true) => out.push_str("True"),
            Value::Bool(false) => out.push_str("False"),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&py_float_repr(*f)),
            Value::Str(s) => write_py_str_repr(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_repr(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_py_str_repr(k, out);
                    out.push_str(": ");
                    v.write_repr(out);
                }
                out.push('}');
            }
        }
    }

    /// Python truthiness (`bool(value)`).
    pub fn py_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => !i.is_zero(),
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    /// Python `int(value)`; `None` where Python raises `TypeError`/`ValueError`/`OverflowError`.
    pub fn py_int(&self) -> Option<BigInt> {
        match self {
            Value::Bool(b) => Some(BigInt::from(i64::from(*b))),
            Value::Int(i) => Some(i.clone()),
            Value::Float(f) => BigInt::from_f64_trunc(*f),
            Value::Str(s) => py_int_from_str(s),
            _ => None,
        }
    }

    /// Python `float(value)`; `None` where Python raises.
    pub fn py_float(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => i.to_f64(),
            Value::Float(f) => Some(*f),
            Value::Str(s) => py_float_from_str(s),
            _ => None,
        }
    }

    /// Python `==` between two JSON-derived values (`1 == 1.0 == True`, dicts order-insensitive).
    pub fn py_eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Str(a), Str(b)) => a == b,
            (Array(a), Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y)),
            (Object(a), Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| other.get(k).is_some_and(|w| v.py_eq(w)))
            }
            (Float(a), Float(b)) => a == b,
            (Float(f), x) | (x, Float(f)) => match x.numeric_int() {
                Some(i) => {
                    f.is_finite()
                        && f.fract() == 0.0
                        && BigInt::from_f64_trunc(*f).as_ref() == Some(&i)
                }
                None => false,
            },
            (a, b) => match (a.numeric_int(), b.numeric_int()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    fn numeric_int(&self) -> Option<BigInt> {
        match self {
            Value::Bool(b) => Some(BigInt::from(i64::from(*b))),
            Value::Int(i) => Some(i.clone()),
            _ => None,
        }
    }
}

/// Python's `str.isspace()` set, used by `str.strip()` and `int()`/`float()` parsing.
pub fn py_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}'
            | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}'
            | '\u{205f}' | '\u{3000}'
    )
}

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

/// Python `int(str)`: surrounding whitespace, optional sign, decimal digits with single
/// underscores between them; at most [`PY_INT_MAX_STR_DIGITS`] digits.
pub fn py_int_from_str(s: &str) -> Option<BigInt> {
    let t = py_strip(s);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let digits: String = body.chars().filter(|c| *c != '_').collect();
    if digits.len() > PY_INT_MAX_STR_DIGITS {
        return None;
    }
    BigInt::from_parts(neg, &digits)
}

/// Python `float(str)` for the forms JSON payloads realistically carry (decimal, exponent,
/// `inf`/`nan`). Underscore digit grouping is not accepted.
pub fn py_float_from_str(s: &str) -> Option<f64> {
    let t = py_strip(s);
    if t.is_empty() || t.contains('_') || t.len() > 4096 {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return None;
    }
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok();
    }
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'+' || b == b'-')
    {
        return None;
    }
    lower.parse::<f64>().ok()
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

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_py_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) || c == '\u{ad}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Reader limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
        }
    }
}

/// Parse one JSON document with default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    parse_with_limits(input, Limits::default())
}

/// Parse one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse_with_limits(input: &[u8], limits: Limits) -> Result<Value, JsonError> {
    if input.len() > limits.max_input_bytes {
        return Err(JsonError::TooLarge(input.len(), limits.max_input_bytes));
    }
    let text = std::str::from_utf8(input).map_err(|_| JsonError::InvalidUtf8)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        limits,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(JsonError::TrailingData(p.pos));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    limits: Limits,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }
    fn expect_lit(&mut self, lit: &[u8]) -> Result<(), JsonError> {
        let end = self
            .pos
            .checked_add(lit.len())
            .ok_or(JsonError::UnexpectedEof)?;
        match self.s.get(self.pos..end) {
            Some(got) if got == lit => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(JsonError::UnexpectedChar(self.pos)),
            None => Err(JsonError::UnexpectedEof),
        }
    }
    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(JsonError::UnexpectedEof),
            Some(b'n') => self.expect_lit(b"null").map(|_| Value::Null),
            Some(b't') => self.expect_lit(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false").map(|_| Value::Bool(false)),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(JsonError::UnexpectedChar(self.pos)),
        }
    }
    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.limits.max_depth {
            return Err(JsonError::TooDeep(self.limits.max_depth));
        }
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
        }
    }
    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > self.limits.max_depth {
            return Err(JsonError::TooDeep(self.limits.max_depth));
        }
        self.pos += 1;
        let mut obj = Value::Object(Vec::new());
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(obj);
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
            let key = self.string()?;
            self.skip_ws();
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
            self.skip_ws();
            let v = self.value(depth)?;
            obj.insert(&key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(obj);
                }
                Some(_) => return Err(JsonError::UnexpectedChar(self.pos)),
                None => return Err(JsonError::UnexpectedEof),
            }
        }
    }
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let start = self.pos;
        let end = start.checked_add(4).ok_or(JsonError::UnexpectedEof)?;
        let chunk = self
            .text
            .get(start..end)
            .ok_or(JsonError::InvalidEscape(start))?;
        if !chunk.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JsonError::InvalidEscape(start));
        }
        self.pos = end;
        u32::from_str_radix(chunk, 16).map_err(|_| JsonError::InvalidEscape(start))
    }
    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(
                self.text
                    .get(run_start..self.pos)
                    .ok_or(JsonError::InvalidUtf8)?,
            );
            match self.peek() {
                None => return Err(JsonError::UnexpectedEof),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc_pos = self.pos;
                    self.pos += 1;
                    let c = self.peek().ok_or(JsonError::UnexpectedEof)?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{08}'),
                        b'f' => out.push('\u{0c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos) == Some(&b'\\')
                                    && self.s.get(self.pos + 1) == Some(&b'u')
                                {
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Err(JsonError::LoneSurrogate(esc_pos));
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    return Err(JsonError::LoneSurrogate(esc_pos));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(JsonError::LoneSurrogate(esc_pos));
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or(JsonError::InvalidEscape(esc_pos))?);
                        }
                        _ => return Err(JsonError::InvalidEscape(esc_pos)),
                    }
                }
                Some(_) => return Err(JsonError::ControlCharacter(self.pos)),
            }
        }
    }
    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(JsonError::InvalidNumber(start)),
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            let d = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == d {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let d = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == d {
                return Err(JsonError::InvalidNumber(start));
            }
        }
        let text = self
            .text
            .get(start..self.pos)
            .ok_or(JsonError::InvalidNumber(start))?;
        if is_float {
            let f: f64 = text.parse().map_err(|_| JsonError::InvalidNumber(start))?;
            if !f.is_finite() {
                return Err(JsonError::NumberOutOfRange(start));
            }
            Ok(Value::Float(f))
        } else {
            let digits = self
                .text
                .get(int_start..int_end)
                .ok_or(JsonError::InvalidNumber(start))?;
            if digits.len() > PY_INT_MAX_STR_DIGITS {
                return Err(JsonError::NumberOutOfRange(start));
            }
            BigInt::from_parts(neg, digits)
                .map(Value::Int)
                .ok_or(JsonError::InvalidNumber(start))
        }
    }
}

// ---- serde interop -------------------------------------------------------------------------

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => ser.serialize_unit(),
            Value::Bool(b) => ser.serialize_bool(*b),
            Value::Int(i) => {
                if let Some(v) = i.to_i64() {
                    ser.serialize_i64(v)
                } else if let Some(v) = i.to_u64() {
                    ser.serialize_u64(v)
                } else if let Some(v) = i.to_i128() {
                    ser.serialize_i128(v)
                } else {
                    // Beyond 128 bits serde has no integer type: fall back to the nearest double.
                    ser.serialize_f64(i.to_f64().unwrap_or(f64::NAN))
                }
            }
            Value::Float(f) => ser.serialize_f64(*f),
            Value::Str(s) => ser.serialize_str(s),
            Value::Array(a) => {
                let mut seq = ser.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = ser.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
                Ok(Value::Bool(b))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(Value::from(v))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
                Ok(Value::Int(BigInt::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(Value::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
                let mut obj = Value::object();
                while let Some((k, v)) = a.next_entry::<String, Value>()? {
                    obj.insert(&k, v);
                }
                Ok(obj)
            }
        }
        de.deserialize_any(V)
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> Self {
        serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
    }
}

impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::from(i)
                } else if let Some(u) = n.as_u64() {
                    Value::from(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::Array(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::from(v))).collect())
            }
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (1780000073.0, "1780000073.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (1.5e300, "1.5e+300"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1700000000.123456, "1700000000.123456"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (9999999999999998.0, "9999999999999998.0"),
        ];
        for (f, want) in cases {
            assert_eq!(py_float_repr(*f), *want, "{f}");
        }
    }

    #[test]
    fn big_ints_are_exact() {
        let v = parse(b"123456789012345678901234567890").unwrap();
        assert_eq!(v.to_canonical(), "123456789012345678901234567890");
        assert_eq!(
            BigInt::from_f64_trunc(1e23).unwrap().to_string(),
            "99999999999999991611392"
        );
        assert_eq!(
            BigInt::from_f64_trunc(-1e20).unwrap().to_string(),
            "-100000000000000000000"
        );
        assert_eq!(parse(b"-0").unwrap(), Value::Int(BigInt::zero()));
    }

    #[test]
    fn canonical_sorting_and_escapes() {
        let v =
            parse("{\"b\":1,\"a\":[true,null,1.0],\"é\":\"x\\u0001\\n\\\"\"}".as_bytes()).unwrap();
        assert_eq!(
            v.to_canonical(),
            "{\"a\":[true,null,1.0],\"b\":1,\"é\":\"x\\u0001\\n\\\"\"}"
        );
    }

    #[test]
    fn duplicate_keys_keep_last_value_first_position() {
        let v = parse(br#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(v.py_repr(), "{'a': 3, 'b': 2}");
    }

    #[test]
    fn rejects_hostile_input() {
        assert!(matches!(parse(b"NaN"), Err(JsonError::UnexpectedChar(0))));
        assert!(matches!(
            parse(b"1e400"),
            Err(JsonError::NumberOutOfRange(_))
        ));
        assert!(parse(b"[1,]").is_err());
        assert!(matches!(parse(b"01"), Err(JsonError::TrailingData(1))));
        assert!(matches!(
            parse(b"\"\\ud800\""),
            Err(JsonError::LoneSurrogate(_))
        ));
        assert!(matches!(
            parse(b"\"a\x01\""),
            Err(JsonError::ControlCharacter(_))
        ));
        assert!(matches!(parse(b"\xff"), Err(JsonError::InvalidUtf8)));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(parse(deep.as_bytes()), Err(JsonError::TooDeep(_))));
        let big = "9".repeat(5000);
        assert!(matches!(
            parse(big.as_bytes()),
            Err(JsonError::NumberOutOfRange(_))
        ));
        assert!(matches!(
            parse_with_limits(
                b"[1]",
                Limits {
                    max_depth: 4,
                    max_input_bytes: 2
                }
            ),
            Err(JsonError::TooLarge(3, 2))
        ));
    }

    #[test]
    fn python_coercions() {
        assert_eq!(Value::from(" 12 ").py_int().unwrap().to_string(), "12");
        assert_eq!(Value::from("1_000").py_int().unwrap().to_string(), "1000");
        assert!(Value::from("1.5").py_int().is_none());
        assert_eq!(Value::Float(-2.9).py_int().unwrap().to_string(), "-2");
        assert_eq!(Value::from("0.5").py_float(), Some(0.5));
        assert!(Value::Null.py_float().is_none());
        assert!(Value::from(1i64).py_eq(&Value::Float(1.0)));
        assert!(Value::Bool(true).py_eq(&Value::from(1i64)));
        assert!(!Value::from("1").py_eq(&Value::from(1i64)));
        assert_eq!(Value::Null.py_str(), "None");
        assert_eq!(Value::Float(2.0).py_str(), "2.0");
        assert_eq!(
            parse(br#"{"k":["a",1,false]}"#).unwrap().py_str(),
            "{'k': ['a', 1, False]}"
        );
        assert_eq!(py_strip("\u{3000} x \u{1f}"), "x");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parser_never_panics_on_jsonish(s in "[\\[\\]{}\",:0-9eE.+\\-a-z\\\\ ]{0,64}") {
            let _ = parse(s.as_bytes());
        }

        #[test]
        fn float_repr_round_trips(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
            let r = py_float_repr(f);
            prop_assert_eq!(r.parse::<f64>().unwrap(), f);
        }

        #[test]
        fn canonical_reparses_identically(s in "[a-z]{0,8}", i in any::<i64>(), f in -1e20f64..1e20) {
            let mut o = Value::object();
            o.insert(&s, Value::from(i));
            o.insert("f", Value::Float(f));
            let text = o.to_canonical();
            let back = parse(text.as_bytes()).unwrap();
            prop_assert_eq!(back.to_canonical(), text);
        }
    }
}

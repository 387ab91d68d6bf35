//! Python's numeric text parsing (`float(str)`, the digit rules of `int(str)`), exactly.
//!
//! Shadowbroker coerces payload values with `float()`/`int()` before signing (`_normalize_number`,
//! `_safe_int`), so a client may send `"stake_amount": "1_000"` and sign `1000`. CPython first
//! rewrites every Unicode decimal digit (category `Nd`) to its ASCII digit and every Unicode space
//! to `' '`, strips surrounding spaces, then accepts `_` only between two digits, and finally
//! parses a decimal literal or `inf`/`infinity`/`nan` (any case, optional sign).

/// First code point (digit zero) of every run of ten Unicode `Nd` digits (Unicode 14, as the
/// Python 3.11 the reference runs on).
const ND_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// Longest numeric text parsed (longer input is refused, never parsed slowly).
pub const MAX_NUMERIC_CHARS: usize = 16_384;

/// Python's `str.isspace()` set, used by `str.strip()` and `int()`/`float()` parsing.
pub fn py_is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}'
            | '\u{1680}' | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}'
            | '\u{205f}' | '\u{3000}'
    )
}

/// The decimal value of a Unicode `Nd` digit (`unicodedata.decimal`).
pub fn decimal_digit(c: char) -> Option<u8> {
    let cp = c as u32;
    let i = ND_ZEROS.partition_point(|z| *z <= cp);
    let zero = *ND_ZEROS.get(i.checked_sub(1)?)?;
    let d = cp - zero;
    // 0x1D7CE.. are five adjacent runs; every other run is followed by a non-digit.
    (d < 10).then_some(d as u8)
}

/// CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII` followed by `strip()`: Unicode digits
/// become ASCII digits, Unicode spaces become `' '`, any other non-ASCII character makes the text
/// unparseable (`None`).
pub fn ascii_numeric_text(s: &str) -> Option<String> {
    if s.chars().count() > MAX_NUMERIC_CHARS {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            // ASCII is kept as is; only " \t\n\x0b\x0c\r" are stripped below.
            out.push(c);
        } else if py_is_space(c) {
            out.push(' ');
        } else {
            out.push(char::from(b'0' + decimal_digit(c)?));
        }
    }
    Some(
        out.trim_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r'])
            .to_string(),
    )
}

/// Remove digit-grouping underscores, refusing any `_` that is not between two ASCII digits
/// (CPython's `_Py_string_to_number_with_underscores`).
pub fn strip_underscores(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut out = String::with_capacity(t.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before = i.checked_sub(1).and_then(|j| b.get(j));
            let after = b.get(i + 1);
            if !before.is_some_and(u8::is_ascii_digit) || !after.is_some_and(u8::is_ascii_digit) {
                return None;
            }
        } else {
            out.push(char::from(c));
        }
    }
    Some(out)
}

/// A decimal float literal: `[sign] (digits [. [digits]] | . digits) [(e|E) [sign] digits]`.
fn is_decimal_literal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

/// Python `float(s)` for a `str`; `None` where Python raises `ValueError`.
/// `float("1_000") == 1000.0`, `float(" １２ ") == 12.0`, `float("-Infinity")`, `float("nan")`.
pub fn py_float_from_str(s: &str) -> Option<f64> {
    let t = ascii_numeric_text(s)?;
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        let neg = lower.starts_with('-');
        return Some(match (unsigned, neg) {
            ("nan", _) => f64::NAN,
            (_, false) => f64::INFINITY,
            (_, true) => f64::NEG_INFINITY,
        });
    }
    let plain = strip_underscores(&t)?;
    if !is_decimal_literal(&plain) {
        return None;
    }
    crate::decfloat::parse_f64(&plain)
}

/// The text of a Python `int(s)` literal (sign kept, underscores removed, Unicode digits mapped
/// to ASCII); `None` where Python raises `ValueError`.
pub fn py_int_text(s: &str) -> Option<String> {
    let t = ascii_numeric_text(s)?;
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => ("-", &t[1..]),
        Some(b'+') => ("", &t[1..]),
        _ => ("", t.as_str()),
    };
    let digits = strip_underscores(body)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{sign}{digits}"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn float_matches_cpython() {
        // (input, Python 3.11's float(input); None = ValueError)
        let cases: &[(&str, Option<f64>)] = &[
            ("1_000", Some(1000.0)),
            (" 1_0.5 ", Some(10.5)),
            ("1_000.000_1", Some(1000.0001)),
            ("1e1_0", Some(1e10)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1_.5", None),
            ("1._5", None),
            ("1_e5", None),
            ("0x10", None),
            ("1.5e3", Some(1500.0)),
            (" 12 ", Some(12.0)),
            ("\u{ff11}\u{ff12}", Some(12.0)),
            ("\u{661}\u{662}", Some(12.0)),
            ("\u{1d7cf}\u{1d7d0}", Some(12.0)),
            ("1\u{a0}", Some(1.0)),
            ("\u{b}1\u{c}", Some(1.0)),
            ("\u{85}1\u{2028}", Some(1.0)),
            ("\u{1c}1", None),
            (" 1e\u{663}", Some(1000.0)),
            ("\u{b2}", None),
            ("\u{bd}", None),
            ("1 0", None),
            ("", None),
            ("   ", None),
            (".", None),
            ("e5", None),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("+.5e-3", Some(0.0005)),
            ("--1", None),
            ("+-1", None),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("+iNF", Some(f64::INFINITY)),
            ("in_f", None),
            ("infinit", None),
            ("1e400", Some(f64::INFINITY)),
            ("1_000_000", Some(1e6)),
        ];
        for (s, want) in cases {
            let got = py_float_from_str(s);
            assert_eq!(got, *want, "{s:?}");
        }
        assert!(py_float_from_str("nan").unwrap().is_nan());
        assert!(py_float_from_str(" -NaN ").unwrap().is_nan());
        assert_eq!(py_float_from_str(&"1".repeat(MAX_NUMERIC_CHARS + 1)), None);
    }

    #[test]
    fn int_text_matches_cpython() {
        let cases: &[(&str, Option<&str>)] = &[
            ("1_000", Some("1000")),
            (" -7 ", Some("-7")),
            ("+\u{ff18}", Some("8")),
            ("1__0", None),
            ("1.0", None),
            ("", None),
            ("-", None),
        ];
        for (s, want) in cases {
            assert_eq!(py_int_text(s).as_deref(), *want, "{s:?}");
        }
    }

    #[test]
    fn every_nd_run_maps_to_ten_digits() {
        for z in ND_ZEROS {
            for d in 0..10u32 {
                let c = char::from_u32(z + d).unwrap();
                assert_eq!(decimal_digit(c), Some(d as u8), "{z:x}+{d}");
            }
        }
        assert_eq!(decimal_digit('a'), None);
        assert_eq!(decimal_digit('\u{65f}'), None);
    }
}

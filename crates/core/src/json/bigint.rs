//! [`BigInt`]: integers of any size, kept exactly as decimal digits.

use std::cmp::Ordering;
use std::fmt::Write as _;

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
        let f = crate::decfloat::parse_f64(&text)?;
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

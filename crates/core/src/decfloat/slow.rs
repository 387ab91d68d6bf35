//! decfloat's exact slow path: digits × 10^exponent → nearest `f64` by big-integer division.
//!
//! The value is `v = D · 10^E` (`D` the significant digits as an integer) `= N / M · 2^E` with
//! `N = D · 5^max(E,0)` and `M = 5^max(−E,0)`. From the bit lengths of `N` and `M` we pick the
//! power of two `2^g` of the rounding bit (one below the last mantissa bit; never below
//! `2^−1075`, the rounding bit of subnormals), then compute `q = ⌊v / 2^g⌋` and whether the
//! remainder is zero by bit-by-bit long division (shift, compare, subtract). `q` holds the 53
//! mantissa bits (fewer for subnormals) and the rounding bit; a nonzero remainder is the sticky
//! bit, and round half to even follows directly. Sizes stay small: digits are capped at
//! [`KEEP`] and values outside [10^−325, 10^309) return 0 or ∞ before any big number is made, so
//! the operands stay under ~5,000 bits whatever the input length.

use core::cmp::Ordering;

/// Significant digits kept; later ones only set `dropped`. Why 800 is exact: the kept prefix
/// `P` is a multiple of `10^s`, `s` the position of its last digit (`s` = leading digit's
/// position − 799), and the true value lies in `(P, P + 10^s)` when a nonzero digit was dropped.
/// Every multiple of `2^g` is a multiple of `10^s`: for `g ≥ 0` because `s < 0`, for `g < 0`
/// because `j · 2^g = j · 5^−g · 10^g` and `s ≤ g` (normal results: `v ≥ 2^−1022`, so
/// `log2 v − 54 ≥ log10 v − 799` with ~30 digits to spare; subnormal results: `g = −1075` and
/// `s ≤ −308 − 799`). So no multiple of `2^g` lies strictly between `P` and the true value:
/// `⌊v / 2^g⌋` is that of `P`, and only the remainder changes, to nonzero — the dropped tail
/// matters exactly when `P` sits on a halfway point, and then it rounds up.
const KEEP: usize = 800;

/// The exponent of the rounding bit of subnormals (the smallest subnormal is `2^−1074`).
const MIN_ROUND_EXP: i64 = -1075;

/// `mantissa` is `digits [. digits]` with at least one nonzero digit (validated by the caller);
/// `exp` the explicit exponent (bounded by the caller). The nearest `f64`, ties to even;
/// ∞ past the halfway point above `f64::MAX`, 0 below half the smallest subnormal.
pub(super) fn parse(mantissa: &[u8], exp: i64) -> f64 {
    let mut digits: Vec<u8> = Vec::with_capacity(mantissa.len().min(KEEP));
    // value = digits × 10^scale (+ a dropped tail below the last kept digit).
    let mut scale = exp;
    let mut dropped = false;
    let mut frac = false;
    for &c in mantissa {
        if c == b'.' {
            frac = true;
            continue;
        }
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            continue;
        }
        if digits.is_empty() && d == 0 {
            // A leading zero: only its place counts.
            scale -= i64::from(frac);
        } else if digits.len() < KEEP {
            digits.push(d);
            scale -= i64::from(frac);
        } else {
            scale += i64::from(!frac);
            dropped |= d != 0;
        }
    }
    while digits.last() == Some(&0) {
        digits.pop();
        scale += 1;
    }
    if digits.is_empty() {
        return 0.0;
    }
    // v ∈ [10^lead, 10^(lead+1)).
    let lead = digits.len() as i64 - 1 + scale;
    if lead >= 309 {
        // v ≥ 10^309 > 2^1024: past every double and the halfway point above f64::MAX.
        return f64::INFINITY;
    }
    if lead <= -325 {
        // v < 10^−324 < 2^−1075, half the smallest subnormal: rounds to 0.
        return 0.0;
    }
    // Here |scale| ≤ 308 + KEEP + 324: 5^|scale| has < 2,700 bits.
    let mut num = Big::from_digits(&digits);
    let mut den = Big::one();
    if scale >= 0 {
        num.mul_pow5(scale.unsigned_abs());
    } else {
        den.mul_pow5(scale.unsigned_abs());
    }
    // num / den ∈ (2^(a−b−1), 2^(a−b+1)), so v ∈ (2^(c−1), 2^(c+1)) with c = a − b + scale.
    let c = num.bits() as i64 - den.bits() as i64 + scale;
    // v / 2^g ∈ (2^53, 2^55) for g = c − 54; clamped, smaller (subnormal or near it).
    let mut g = (c - 54).max(MIN_ROUND_EXP);
    let t = scale - g;
    if t >= 0 {
        num.shl(t.unsigned_abs());
    } else {
        den.shl(t.unsigned_abs());
    }
    // q = ⌊num / den⌋ < 2^55, one bit at a time; num becomes the remainder.
    let mut q: u64 = 0;
    for i in (0..55u64).rev() {
        let mut step = den.clone();
        step.shl(i);
        if num.cmp(&step) != Ordering::Less {
            num.sub(&step);
            q |= 1 << i;
        }
    }
    let mut sticky = dropped || !num.is_zero();
    if q >> 54 != 0 {
        // 55 bits: the rounding bit is one higher.
        sticky |= q & 1 != 0;
        q >>= 1;
        g += 1;
    }
    round(q, g, sticky)
}

/// The double nearest `(q + r) · 2^g`, where `q < 2^54` carries the mantissa bits and the
/// rounding bit (its lowest), `r ∈ [0, 1)` is nonzero iff `sticky`, and either `q ≥ 2^53` or
/// `g = −1075` (subnormal range).
fn round(q: u64, g: i64, sticky: bool) -> f64 {
    const HIDDEN: u64 = 1 << 52;
    let mut m = q >> 1;
    // Above the halfway point, or on it with an odd mantissa: up.
    if q & 1 == 1 && (sticky || m & 1 == 1) {
        m += 1;
    }
    // m · 2^unit is the result.
    let mut unit = g + 1;
    if m == HIDDEN << 1 {
        m = HIDDEN;
        unit += 1;
    }
    if m < HIDDEN {
        // Subnormal (unit = −1074) or zero: the bits are the mantissa itself.
        return f64::from_bits(m);
    }
    // m · 2^unit = 1.f · 2^(unit + 52); biased exponent unit + 52 + 1023 (≥ 1 here).
    let biased = unit + 1075;
    if biased >= 0x7FF {
        return f64::INFINITY;
    }
    f64::from_bits((biased.unsigned_abs() << 52) | (m - HIDDEN))
}

/// An unsigned integer: little-endian 32-bit limbs, no zero limb at the top (zero is empty).
#[derive(Clone)]
struct Big(Vec<u32>);

impl Big {
    fn one() -> Big {
        Big(vec![1])
    }

    /// The integer whose decimal digits (each 0..=9, most significant first) are `digits`.
    fn from_digits(digits: &[u8]) -> Big {
        let mut b = Big(Vec::new());
        for chunk in digits.chunks(9) {
            let val = chunk.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
            b.mul_add(10u32.pow(chunk.len() as u32), val);
        }
        b
    }

    /// self = self · m + a.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(m) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// self = self · 5^k (13 factors of 5 at a time: 5^13 < 2^32).
    fn mul_pow5(&mut self, mut k: u64) {
        while k > 0 {
            let s = k.min(13);
            self.mul_add(5u32.pow(s as u32), 0);
            k -= s;
        }
    }

    /// self = self · 2^bits.
    fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let whole = (bits / 32) as usize;
        let part = (bits % 32) as u32;
        let mut out = vec![0u32; whole];
        out.reserve(self.0.len() + 1);
        if part == 0 {
            out.extend_from_slice(&self.0);
        } else {
            let mut carry = 0u32;
            for &limb in &self.0 {
                out.push((limb << part) | carry);
                carry = limb >> (32 - part);
            }
            out.push(carry);
        }
        self.0 = out;
        self.trim();
    }

    /// self = self − o, for o ≤ self.
    fn sub(&mut self, o: &Big) {
        let mut borrow = false;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let rhs = o.0.get(i).copied().unwrap_or(0);
            if rhs == 0 && !borrow && i >= o.0.len() {
                break;
            }
            let (d1, b1) = limb.overflowing_sub(rhs);
            let (d2, b2) = d1.overflowing_sub(u32::from(borrow));
            *limb = d2;
            borrow = b1 || b2;
        }
        self.trim();
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    /// Number of significant bits (0 for zero).
    fn bits(&self) -> u64 {
        match self.0.last() {
            Some(&top) => 32 * self.0.len() as u64 - u64::from(top.leading_zeros()),
            None => 0,
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }
}

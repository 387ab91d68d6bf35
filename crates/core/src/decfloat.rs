//! Decimal text → nearest `f64` (round half to even), bit-identical to `str::parse::<f64>`, without
//! std's 20 KB power-of-five table (Eisel-Lemire), which is ~14 KB gzip of random-looking data in
//! the wasm package (issue 16).
//!
//! Three exact paths: Clinger's fast path (≤ 2^53 mantissa, |exponent| ≤ 22: one IEEE operation
//! on exact operands); an integer path for mantissas of ≤ 19 digits and exponents in −21..=19
//! (u128 product or quotient, rounded by hand — every Python `repr` of a timestamp lands in one of
//! these two); and, for anything else (long digit strings, large exponents, subnormals, overflow,
//! underflow), `slow` (`decfloat/slow.rs`): the value as a ratio of two big integers, divided bit
//! by bit down to the rounding bit, with the remainder as the sticky bit — exact for every input;
//! digits past the 800th only say whether a nonzero digit was dropped, which is all they can
//! change. Tested against `str::parse::<f64>` on random texts, renderings of random doubles and
//! exact halfway points between doubles (`tests/decfloat.rs`).

/// Parse `[+-] digits [. digits] [(e|E) [+-] digits]` (or `[+-] . digits …`), at least one
/// mantissa digit, as `str::parse::<f64>` does (overflow → ±infinity, underflow → ±0);
/// `None` for any other text (`inf`/`nan` included: callers handle those themselves).
pub fn parse_f64(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (neg, body) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let v = parse_unsigned(body)?;
    Some(if neg { -v } else { v })
}

/// The significant digits of a mantissa: value = `w` × 10^`exp` while `digits` ≤ 19.
struct Parts {
    /// The first 19 significant digits as an integer.
    w: u64,
    /// Significant digits seen (leading zeros excluded, trailing zeros included).
    digits: usize,
    /// Decimal exponent of `w`'s last digit.
    exp: i64,
}

impl Parts {
    fn push(&mut self, d: u8, frac: bool) {
        if self.digits == 0 && d == 0 {
            if frac {
                self.exp -= 1;
            }
            return;
        }
        if self.digits < 19 {
            self.w = self.w * 10 + u64::from(d);
            if frac {
                self.exp -= 1;
            }
        } else if !frac {
            self.exp += 1;
        }
        self.digits += 1;
    }
}

fn parse_unsigned(b: &[u8]) -> Option<f64> {
    let mut i = 0;
    let mut p = Parts {
        w: 0,
        digits: 0,
        exp: 0,
    };
    let mut any = false;
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        p.push(c - b'0', false);
        any = true;
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            p.push(c - b'0', true);
            any = true;
            i += 1;
        }
    }
    if !any {
        return None;
    }
    let mantissa_end = i;
    let mut e: i64 = 0;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            if e < 0x10000 {
                e = e * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        if neg {
            e = -e;
        }
    }
    if i != b.len() {
        return None;
    }
    if p.digits == 0 {
        return Some(0.0);
    }
    if p.digits <= 19 {
        if let Some(v) = exact_small(p.w, p.exp + e) {
            return Some(v);
        }
    }
    Some(slow::parse(&b[..mantissa_end], e))
}

/// `w × 10^e` exactly rounded when that is cheap: Clinger's fast path, else u128 arithmetic for
/// `e` in −21..=19; `None` outside those ranges.
fn exact_small(w: u64, e: i64) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    if w <= 1 << 53 && (-22..=22).contains(&e) {
        // Both operands are exact doubles; one correctly rounded operation.
        let wf = w as f64;
        let p = POW10[e.unsigned_abs() as usize];
        return Some(if e < 0 { wf / p } else { wf * p });
    }
    if (0..=19).contains(&e) {
        // < 2^64 · 10^19 < 2^128: exact; `as f64` rounds to nearest, ties to even.
        return Some((u128::from(w) * 10u128.pow(e as u32)) as f64);
    }
    if (-21..0).contains(&e) {
        let d = 10u128.pow(e.unsigned_abs() as u32);
        // Shift w to the top of a u128: the quotient keeps ≥ 57 bits (10^21 < 2^70).
        let s = u128::from(w).leading_zeros();
        let n = u128::from(w) << s;
        let (q, r) = (n / d, n % d);
        let bits = 128 - q.leading_zeros();
        let drop = bits - 53;
        let mut m = q >> drop;
        let rest = q & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        if rest > half || (rest == half && (r != 0 || m & 1 == 1)) {
            m += 1;
        }
        // m ≤ 2^53 is exact as f64; the power of two is in the normal range (|p| < 200).
        let p = i64::from(drop) - i64::from(s);
        let scale = f64::from_bits(((1023 + p) as u64) << 52);
        return Some(m as f64 * scale);
    }
    None
}

mod slow;

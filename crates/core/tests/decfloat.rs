//! `decfloat::parse_f64` ≡ `str::parse::<f64>` (bit for bit) on fixed edge cases, random decimal
//! texts, every float's own renderings, and exact halfway cases between two doubles.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::decfloat::parse_f64;
use proptest::prelude::*;

fn same(s: &str) {
    let want = s.parse::<f64>().ok().map(f64::to_bits);
    let got = parse_f64(s).map(f64::to_bits);
    assert_eq!(got, want, "{s:?}");
}

/// The decimal text of the exact midpoint between `m · 2^-t` and the next double up, for
/// `m` in [2^52, 2^53) and `t` in 1..=24: (2m+1) · 5^(t+1) / 10^(t+1).
fn midpoint_text(m: u64, t: u32) -> String {
    let digits = ((2 * u128::from(m) + 1) * 5u128.pow(t + 1)).to_string();
    let point = digits.len() - (t as usize + 1);
    format!("{}.{}", &digits[..point], &digits[point..])
}

/// The exact decimal digits of `odd · 2^h` and the number of them after the decimal point:
/// `odd · 2^h` for `h ≥ 0`, else `odd · 5^−h` with the point `−h` places from the right
/// (computed in base 10^9, independently of the binary limbs of the code under test).
fn exact_digits(odd: u64, h: i32) -> (String, usize) {
    const BASE: u64 = 1_000_000_000;
    let mut limbs = vec![odd % BASE, odd / BASE % BASE, odd / BASE / BASE];
    let (factor, mut count, frac) = if h >= 0 {
        (2u64, h, 0)
    } else {
        (5, -h, h.unsigned_abs())
    };
    while count > 0 {
        let step = count.min(12);
        let m = factor.pow(step as u32);
        let mut carry = 0;
        for limb in &mut limbs {
            let t = *limb * m + carry;
            *limb = t % BASE;
            carry = t / BASE;
        }
        while carry > 0 {
            limbs.push(carry % BASE);
            carry /= BASE;
        }
        count -= step;
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut s = limbs.last().unwrap().to_string();
    for limb in limbs.iter().rev().skip(1) {
        s.push_str(&format!("{limb:09}"));
    }
    (s, frac as usize)
}

/// `digits` with a decimal point `frac` places from the right (leading zeros added as needed).
fn with_point(digits: &str, frac: usize) -> String {
    if frac == 0 {
        return digits.to_string();
    }
    let padded = format!(
        "{}{digits}",
        "0".repeat((frac + 1).saturating_sub(digits.len()))
    );
    let point = padded.len() - frac;
    format!("{}.{}", &padded[..point], &padded[point..])
}

/// The exact decimal text of the point halfway between the positive double `f` and the next
/// double up (for `f64::MAX`: the point above it from which values round to infinity).
fn halfway_above(f: f64) -> (String, usize) {
    let bits = f.to_bits();
    let (m, unit) = match bits >> 52 {
        0 => (bits, -1074),
        e => (bits & ((1 << 52) - 1) | 1 << 52, e as i32 - 1075),
    };
    exact_digits(2 * m + 1, unit - 1)
}

/// A digit string plus or minus one unit in its last place (`digits` has no point, no sign).
fn last_place(digits: &str, up: bool) -> String {
    let mut d: Vec<u8> = digits.bytes().collect();
    let mut i = d.len();
    loop {
        if i == 0 {
            d.insert(0, b'1');
            break;
        }
        i -= 1;
        match (up, d[i]) {
            (true, b'9') => d[i] = b'0',
            (false, b'0') => d[i] = b'9',
            (true, c) => {
                d[i] = c + 1;
                break;
            }
            (false, c) => {
                d[i] = c - 1;
                break;
            }
        }
    }
    String::from_utf8(d).unwrap()
}

/// Every way the slow path sees a halfway point: exactly, one unit below and above in its last
/// decimal place, with a far nonzero digit after 900 zeros, written with a point or as
/// `digits e−k`, and one below followed by 1000 nines (just under the halfway point).
fn around_halfway(f: f64) {
    let (digits, frac) = halfway_above(f);
    for d in [
        digits.clone(),
        last_place(&digits, false),
        last_place(&digits, true),
    ] {
        same(&with_point(&d, frac));
        same(&format!("{d}e-{frac}"));
        same(&format!("-{d}E-{frac}"));
    }
    let far = format!("{}1", "0".repeat(900));
    let pointed = if frac == 0 {
        format!("{digits}.")
    } else {
        with_point(&digits, frac)
    };
    same(&format!("{pointed}{far}"));
    same(&format!("{digits}{far}e-{}", frac + 901));
    same(&format!(
        "{}{}e-{}",
        last_place(&digits, false),
        "9".repeat(1000),
        frac + 1000
    ));
    same(&format!("{digits}{}e-{}", "0".repeat(1000), frac + 1000));
}

#[test]
fn fixed_cases() {
    for s in [
        "0",
        "-0",
        "+0",
        "0.0",
        "-0.0",
        "0e0",
        "0e999999999",
        "-0e-999999999",
        "1",
        "1.",
        ".5",
        "+.5",
        "-.5e-3",
        "1e5",
        "1E+5",
        "1e-5",
        "1780000000.0",
        "1780000000.123456",
        "1765100000.1234567",
        "1765100000.12345678",
        "0.1",
        "0.2",
        "0.3",
        "123456789012345678",
        "1234567890123456789",
        "12345678901234567890",
        "9007199254740992",
        "9007199254740993",
        "9007199254740994",
        "9007199254740995",
        "18446744073709551615",
        "18446744073709551616",
        "1e22",
        "1e23",
        "1e-22",
        "1e-23",
        "8.5e-21",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "1e308",
        "1e309",
        "1e400",
        "4.9406564584124654e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "2.2250738585072011e-308",
        "2.2250738585072014e-308",
        "1e-400",
        "-1e-400",
        "2.225073858507201136057409796709131975934819546351645648e-308",
        "7.2057594037927933e16",
        "3.0000000000000004",
        "0.30000000000000004",
        "100000000000000000000000000000000000000000000000000000000000000.0",
        "000000000000000000000000000001.5",
        "0.000000000000000000000000000015",
        "1.00000000000000011102230246251565404236316680908203125",
        "1.00000000000000011102230246251565404236316680908203124",
        "1.00000000000000011102230246251565404236316680908203126",
        "1e0000000000000000000001",
        // Not decimal literals: both refuse.
        "",
        ".",
        "+",
        "-",
        "e5",
        ".e5",
        "1e",
        "1e+",
        "1e-",
        "1.2.3",
        "1_0",
        " 1",
        "1 ",
        "0x10",
        "--1",
        "+-1",
        "1e5.0",
        "١",
    ] {
        same(s);
    }
    // inf / nan are the caller's business (std accepts them, parse_f64 does not).
    for s in ["inf", "-inf", "infinity", "nan", "NaN"] {
        assert_eq!(parse_f64(s), None, "{s}");
    }
    same(&format!("0.{}1", "0".repeat(800)));
    same(&format!("{}e-700", "9".repeat(1000)));
    same(&format!("1{}", "0".repeat(308)));
    same(&format!("1{}", "0".repeat(309)));
    same(&format!("{}.{}", "1".repeat(400), "7".repeat(400)));
    same(&format!("{}1e-5", midpoint_text((1 << 52) + 12345, 20)));
    // The 768-digit truncation of the slow path: a halfway case decided by a far digit.
    let half = midpoint_text((1 << 53) - 1, 24);
    same(&half);
    same(&format!("{half}{}1", "0".repeat(900)));
    same(&format!("{half}{}", "0".repeat(900)));
}

#[test]
fn slow_path_boundaries() {
    let tiny = f64::from_bits(1);
    // 2^−1075, half the smallest subnormal: a tie between 0 and it, to even (0); any more is up.
    let (half_tiny, frac) = exact_digits(1, -1075);
    assert_eq!(parse_f64(&with_point(&half_tiny, frac)), Some(0.0));
    assert_eq!(
        parse_f64(&format!(
            "{}{}1",
            with_point(&half_tiny, frac),
            "0".repeat(2000)
        )),
        Some(tiny)
    );
    assert_eq!(
        parse_f64(&format!("-{}1e-{}", half_tiny, frac + 1)),
        Some(-tiny)
    );
    // f64::MAX exactly, and the point above it where rounding goes to infinity (a tie: the
    // mantissa of MAX is odd, so the tie goes up).
    let (max, _) = exact_digits((1 << 53) - 1, 971);
    assert_eq!(parse_f64(&max), Some(f64::MAX));
    let (above, _) = halfway_above(f64::MAX);
    assert_eq!(parse_f64(&above), Some(f64::INFINITY));
    assert_eq!(parse_f64(&last_place(&above, false)), Some(f64::MAX));
    assert_eq!(
        parse_f64(&format!(
            "{}.{}",
            last_place(&above, false),
            "9".repeat(1000)
        )),
        Some(f64::MAX)
    );
    for f in [
        0.0,
        tiny,
        f64::from_bits(2),
        f64::from_bits(3),
        f64::from_bits((1 << 52) - 1),
        f64::MIN_POSITIVE,
        f64::from_bits((1 << 52) + 1),
        f64::MIN_POSITIVE * 2.0,
        0.1,
        1.0,
        1.5,
        9007199254740992.0,
        1e23,
        f64::MAX / 2.0,
        f64::from_bits(f64::MAX.to_bits() - 1),
        f64::MAX,
    ] {
        around_halfway(f);
    }
    // Past f64::MAX below 10^309 (the binary exponent just above the largest finite one), and
    // exponents far outside the range.
    for s in [
        "1.8e308",
        "2e308",
        "3.5e308",
        "3.6e308",
        "9.99e308",
        "0.999e309",
        "2.47e-324",
        "2.48e-324",
        "1e-324",
        "4e-324",
        "5e-325",
        "1e-1000",
        "1e1000",
        "1e-99999",
        "1e99999",
        "123456789e-333",
    ] {
        same(s);
        same(&format!("-{s}"));
    }
    // 2^1024 and its neighbours, written out.
    let (two_1024, _) = exact_digits(1, 1024);
    for s in [
        last_place(&two_1024, false),
        two_1024.clone(),
        last_place(&two_1024, true),
    ] {
        same(&s);
    }
    // Long runs of zeros (1 MB): skipped in linear time, only their places count.
    let zeros = "0".repeat(1 << 20);
    for s in [
        format!("0.{zeros}1"),
        format!("1{zeros}"),
        format!("1{zeros}e-1048500"),
        format!("{zeros}1.5{zeros}"),
        format!("1{}.{zeros}", "0".repeat(300)),
        format!("0.{}1{zeros}", "0".repeat(300)),
        format!("0.{}25{zeros}1", "0".repeat(322)),
        format!("{}e-1048000", "7".repeat(1 << 20)),
        format!("{}e-1048880", "3".repeat(1 << 20)),
    ] {
        same(&s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn random_decimal_texts(
        neg in any::<bool>(),
        digits in "[0-9]{1,30}",
        point in 0usize..31,
        exp in prop::option::of(-360i32..360),
    ) {
        let point = point.min(digits.len());
        let mut s = String::new();
        if neg { s.push('-'); }
        s.push_str(&digits[..point]);
        s.push('.');
        s.push_str(&digits[point..]);
        if let Some(e) = exp { s.push_str(&format!("e{e}")); }
        same(&s);
        same(&digits);
    }

    #[test]
    fn every_rendering_of_a_double(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assume!(f.is_finite());
        for s in [format!("{f}"), format!("{f:e}"), format!("{f:.17e}"), format!("{f:.30e}"), format!("{f:.3e}")] {
            same(&s);
        }
    }

    #[test]
    fn halfway_between_two_doubles(m in (1u64 << 52)..(1u64 << 53), t in 1u32..=24, scale in -30i32..30) {
        let mid = midpoint_text(m, t);
        same(&mid);
        same(&format!("{mid}e{scale}"));
        same(&format!("{mid}0001"));
        // One unit below / above in the last digit.
        let below = format!("{}{}", &mid[..mid.len() - 1], char::from(mid.as_bytes()[mid.len() - 1] - 1));
        same(&below);
        same(&format!("{mid}1"));
    }

    #[test]
    fn halfway_between_two_large_integers(x in (1u64 << 53)..u64::MAX, extra in 0u32..3) {
        // Doubles in [2^53, 2^64) are spaced 2^k apart (k ≥ 1): the midpoint is an integer.
        let ulp = 1u64 << (64 - x.leading_zeros() - 53);
        let base = u128::from(x & !(ulp - 1));
        let mid = base + u128::from(ulp / 2);
        for v in [mid - 1, mid, mid + 1] {
            let s = v.to_string();
            same(&s);
            same(&format!("{s}.{}", "0".repeat(extra as usize)));
            same(&format!("{}e{}", s, extra));
        }
    }
}

proptest! {
    // Each case parses 15 texts of up to ~1,800 digits: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn halfway_points_of_any_double(bits in 0u64..0x7FF0_0000_0000_0000) {
        around_halfway(f64::from_bits(bits));
    }

    #[test]
    fn halfway_points_of_subnormals_and_extremes(low in 0u64..(1 << 53), top in any::<bool>()) {
        // Subnormals and the first normals, or the 2^53 largest finite doubles.
        let bits = if top { 0x7FEF_FFFF_FFFF_FFFF - low } else { low };
        around_halfway(f64::from_bits(bits));
    }
}

//! Unit and property tests for the JSON reader and Python renderings.

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
    let v = parse("{\"b\":1,\"a\":[true,null,1.0],\"é\":\"x\\u0001\\n\\\"\"}".as_bytes()).unwrap();
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

//! `verify-chain` read in parallel slices gives exactly the sequential output (verdict, first
//! rejection and its index, head, Merkle root, duplicates, exit code, stderr) on valid chains,
//! the shared Shadowbroker vectors, fault injections and hostile input at slice boundaries.
//! Native only: the parallel reader and proptest are not built for wasm32.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chain_input::read_chain_input;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::cli::verify_chain_json_with;
use postern_core::json::{parse, Value};
use proptest::prelude::*;

const START: u64 = 1_780_000_000;

/// Events of a generated chain as JSON texts.
fn chain_texts(n: usize, authors: usize) -> Vec<String> {
    let opts = GenOptions {
        authors,
        start_timestamp: START,
        include_gate_messages: false,
    };
    generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect()
}

fn doc(items: &[String]) -> Vec<u8> {
    format!("[{}]", items.join(",\n")).into_bytes()
}

/// Same output on 2, 3 and 5 threads as on one (the sequential reader and verifier).
fn assert_same(doc: &[u8], label: &str) -> postern_core::cli::CliResult {
    let mut first = None;
    for now in [None, Some(START + 100_000)] {
        let reference = verify_chain_json_with(doc, now, 1);
        for threads in [2, 3, 5] {
            let got = verify_chain_json_with(doc, now, threads);
            assert_eq!(got, reference, "{label}: {threads} threads, now {now:?}");
        }
        first.get_or_insert(reference);
    }
    first.unwrap()
}

fn field(out: &postern_core::cli::CliResult, k: &str) -> Value {
    parse(out.stdout.as_bytes())
        .unwrap()
        .get(k)
        .unwrap()
        .clone()
}

#[test]
fn a_valid_chain_takes_the_parallel_reader_and_verifies_the_same() {
    let items = chain_texts(700, 5);
    let d = doc(&items);
    assert!(read_chain_input(&d, 2).is_some());
    let out = assert_same(&d, "valid");
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    assert_eq!(field(&out, "count"), Value::from(700u64));
}

#[test]
fn duplicates_across_slice_boundaries_are_skipped_or_refused_exactly() {
    let items = chain_texts(600, 4);
    // Exact copies right after a 2-thread and a 3-thread boundary, one reformatted, and one at
    // the very end (its first occurrence in the first slice).
    let mut with_dups = items.clone();
    with_dups.insert(300, items[299].clone());
    let pretty = items[199].replace(",\"", ", \"").replace(':', " : ");
    with_dups.insert(201, format!("\n  {pretty}  "));
    with_dups.push(items[0].clone());
    let d = doc(&with_dups);
    assert!(read_chain_input(&d, 3).is_some());
    let out = assert_same(&d, "exact duplicates");
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    assert_eq!(field(&out, "duplicates"), Value::from(3u64));
    // The same id with other content (keys reordered, or another sequence) is refused.
    let mut v = parse(items[10].as_bytes()).unwrap();
    let seq = v.remove("sequence").unwrap();
    v.insert("sequence", seq);
    let mut reordered = items.clone();
    reordered.insert(450, v.to_json_ordered());
    let out = assert_same(&doc(&reordered), "reordered keys");
    assert_eq!(out.exit_code, 1);
    assert_eq!(
        field(&out, "error").get("index"),
        Some(&Value::from(450u64))
    );
    let mut replayed = items.clone();
    replayed.push(items[299].replace("\"sequence\":", "\"sequence\":1000"));
    assert_eq!(assert_same(&doc(&replayed), "replayed id").exit_code, 1);
}

#[test]
fn a_bad_signature_in_the_last_slice_is_reported_as_sequentially() {
    let items = chain_texts(600, 4);
    for at in [599, 450, 300, 0] {
        let mut bad = items.clone();
        let v = parse(bad[at].as_bytes()).unwrap();
        let sig = v.get("signature").unwrap().as_str().unwrap().to_string();
        let flipped = format!(
            "{}{}",
            if sig.starts_with('0') { "1" } else { "0" },
            &sig[1..]
        );
        bad[at] = bad[at].replace(&sig, &flipped);
        let out = assert_same(&doc(&bad), "bad signature");
        assert_eq!(out.exit_code, 1);
        assert_eq!(
            field(&out, "error").get("index"),
            Some(&Value::from(at as u64))
        );
    }
}

#[test]
fn hostile_input_gives_the_sequential_answer() {
    let items = chain_texts(60, 3);
    let base = doc(&items);
    let text = String::from_utf8(base.clone()).unwrap();
    let mid = items[30..]
        .iter()
        .find(|t| t.contains("\"message\":\""))
        .unwrap()
        .clone();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty array".into(), b"[]".to_vec()),
        ("blank".into(), b"  ".to_vec()),
        ("not an array".into(), b"42".to_vec()),
        ("trailing data".into(), [&base[..], b" x"].concat()),
        (
            "trailing comma".into(),
            format!("[{},]", items.join(",")).into_bytes(),
        ),
        ("truncated".into(), base[..base.len() / 2].to_vec()),
        ("no close".into(), base[..base.len() - 1].to_vec()),
        (
            "stray brace".into(),
            text.replacen(&mid, &format!("{mid}}}"), 1).into_bytes(),
        ),
        ("over size".into(), {
            let mut big = base.clone();
            big.resize(64 * 1024 * 1024 + 1, b' ');
            big
        }),
        (
            "object form".into(),
            format!("{{\"events\":{text}}}").into_bytes(),
        ),
    ];
    let mut raw = base.clone();
    let at = raw.iter().position(|&b| b == b'"').unwrap() + 1;
    raw[at] = 0xff;
    cases.push(("raw 0xff".into(), raw));
    for (label, item) in [
        ("number item", "1".to_string()),
        ("string item", "\"x,]\\\"\"".to_string()),
        ("null item", "null".to_string()),
        ("array item", "[{},{}]".to_string()),
        ("malformed item", "{\"a\":".to_string()),
        (
            "huge int",
            format!("{{\"timestamp\":{}}}", "9".repeat(5000)),
        ),
        (
            "big int",
            mid.replacen(
                "\"timestamp\":",
                &format!("\"timestamp\":{}", "9".repeat(4000)),
                1,
            ),
        ),
        (
            "float overflow",
            mid.replacen("\"timestamp\":", "\"timestamp\":1e400,\"x\":", 1),
        ),
        (
            "deep 126",
            mid.replacen(
                "\"payload\":{",
                &format!("\"payload\":{{\"d\":{},", deep(125)),
                1,
            ),
        ),
        (
            "deep 127",
            mid.replacen(
                "\"payload\":{",
                &format!("\"payload\":{{\"d\":{},", deep(126)),
                1,
            ),
        ),
        (
            "deep 128",
            mid.replacen(
                "\"payload\":{",
                &format!("\"payload\":{{\"d\":{},", deep(127)),
                1,
            ),
        ),
        (
            "control char",
            mid.replacen("\"message\":\"", "\"message\":\"\n", 1),
        ),
        (
            "lone surrogate",
            mid.replacen("\"message\":\"", "\"message\":\"\\ud800", 1),
        ),
        ("repeated key", mid.replacen("{", "{\"event_id\":\"x\",", 1)),
        (
            "event id not a string",
            mid.replacen("\"event_id\":", "\"event_id\":7,\"x\":", 1),
        ),
    ] {
        for pos in [0, 30, 59] {
            let mut v = items.clone();
            v[pos] = item.clone();
            cases.push((format!("{label} at {pos}"), doc(&v)));
        }
    }
    // Every case again as the `events` member of an object (the form of the shared vectors).
    let wrapped: Vec<(String, Vec<u8>)> = cases
        .iter()
        .filter(|(label, _)| label != "over size")
        .map(|(label, d)| {
            let mut w = b"{\"meta\":{\"n\":[1,{\"a\":\"]}\"}]},\n \"events\" : ".to_vec();
            w.extend_from_slice(d);
            w.extend_from_slice(b" }");
            (format!("{label} (object form)"), w)
        })
        .collect();
    cases.extend(wrapped);
    for (label, d) in cases {
        let out = assert_same(&d, &label);
        // Valid: an empty chain, a repeated key (its last value counts), the object form.
        if !label.starts_with("repeated key")
            && !label.starts_with("object form")
            && !label.starts_with("empty array")
        {
            assert_ne!(out.exit_code, 0, "{label}: {}", out.stdout);
        }
    }
}

#[test]
fn an_object_input_takes_the_parallel_reader_and_verifies_the_same() {
    let items = chain_texts(300, 4);
    let arr = String::from_utf8(doc(&items)).unwrap();
    let obj = format!("{{\"meta\":{{\"head\":\"x\"}},\"events\":{arr}}}");
    assert!(read_chain_input(obj.as_bytes(), 2).is_some());
    let out = assert_same(obj.as_bytes(), "object form");
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    assert_eq!(field(&out, "count"), Value::from(300u64));
    assert_eq!(out, assert_same(arr.as_bytes(), "array form"));
    // The last `events` member counts (an escaped key too); earlier ones must still parse.
    let short = String::from_utf8(doc(&items[..10])).unwrap();
    for (label, d) in [
        (
            "events twice",
            format!("{{\"events\":{short},\"events\":{arr}}}"),
        ),
        (
            "escaped key",
            format!("{{\"events\":{short},\"ev\\u0065nts\":{arr}}}"),
        ),
        (
            "events first",
            format!("{{\"events\":{arr},\"events\":{short}}}"),
        ),
    ] {
        assert!(read_chain_input(d.as_bytes(), 2).is_some(), "{label}");
        let out = assert_same(d.as_bytes(), label);
        assert_eq!(out.exit_code, 0, "{label}: {}", out.stdout);
    }
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for (label, d) in [
        ("bad member", format!("{{\"m\":[1,],\"events\":{arr}}}")),
        (
            "bad earlier events",
            format!("{{\"events\":[1,,],\"events\":{arr}}}"),
        ),
        ("events not an array", "{\"events\":{}}".to_string()),
        ("no events", format!("{{\"evts\":{arr}}}")),
        ("trailing comma", format!("{{\"events\":{arr},}}")),
        (
            "deep member 128",
            format!("{{\"m\":{},\"events\":{arr}}}", deep(128)),
        ),
        ("key not a string", format!("{{1:2,\"events\":{arr}}}")),
        (
            "raw control char in key",
            format!("{{\"a\n\":2,\"events\":{arr}}}"),
        ),
    ] {
        let out = assert_same(d.as_bytes(), label);
        assert_ne!(out.exit_code, 0, "{label}: {}", out.stdout);
    }
    // A member at the nesting limit is read in parallel; one past it is refused whole.
    let at_limit = format!("{{\"m\":{},\"events\":{arr}}}", deep(127));
    assert!(read_chain_input(at_limit.as_bytes(), 2).is_some());
    assert_eq!(
        assert_same(at_limit.as_bytes(), "deep member 127").exit_code,
        0
    );
    // Elements nested two levels down: the nesting limit counts the object and the array.
    let mid = items[150].clone();
    for n in [124, 125, 126, 127] {
        let mut v = items.clone();
        v[150] = mid.replacen(
            "\"payload\":{",
            &format!("\"payload\":{{\"d\":{},", deep(n)),
            1,
        );
        let a = String::from_utf8(doc(&v)).unwrap();
        let d = format!("{{\"events\":{a}}}");
        let out = assert_same(d.as_bytes(), "deep element");
        assert_ne!(out.exit_code, 0, "deep {n}: {}", out.stdout);
        assert_eq!(out, verify_chain_json_with(d.as_bytes(), None, 1));
    }
}

fn interleaved() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    parse(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn the_shared_vectors_and_their_fault_injections_verify_the_same() {
    let v = interleaved();
    let events = v.get("events").unwrap().as_array().unwrap().to_vec();
    let whole = v.to_json_ordered();
    assert!(read_chain_input(whole.as_bytes(), 2).is_some());
    assert_same(whole.as_bytes(), "interleaved vector (object form)");
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    ))
    .unwrap();
    assert!(read_chain_input(&file, 2).is_some());
    let out = assert_same(&file, "interleaved vector file as shipped");
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    let arr = Value::Array(events.clone()).to_json_ordered();
    assert!(read_chain_input(arr.as_bytes(), 2).is_some());
    let out = assert_same(arr.as_bytes(), "interleaved events");
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    let head = v.get("meta").unwrap().get("head_hash").unwrap().clone();
    assert_eq!(field(&out, "head"), head);
    let served = v.get("public_sync_view").unwrap().to_json_ordered();
    assert_same(served.as_bytes(), "Shadowbroker's clearnet view");
    // fault_injection_vectors.json scenarios that apply to a chain file.
    let n = events.len();
    let mutate = |at: usize, f: &dyn Fn(&mut Value)| {
        let mut evs = events.clone();
        f(&mut evs[at]);
        Value::Array(evs).to_json_ordered()
    };
    let hex = |c: char| Value::from(c.to_string().repeat(64));
    let scenarios: Vec<(&str, String)> = vec![
        ("replayed_event_id", {
            let mut evs = events.clone();
            let mut again = evs[n / 2].clone();
            again.insert("sequence", Value::from(10_000u64));
            evs.push(again);
            Value::Array(evs).to_json_ordered()
        }),
        (
            "sequence_rollback",
            mutate(n - 1, &|e| e.insert("sequence", Value::from(0u64))),
        ),
        (
            "invalid_signature_on_event",
            mutate(n - 1, &|e| e.insert("signature", hex('a'))),
        ),
        (
            "node_id_binding_mismatch",
            mutate(n / 2, &|e| e.insert("node_id", Value::from("!sb_00000000"))),
        ),
        (
            "forbidden_field_injection_ip",
            mutate(n / 3, &|e| {
                let mut p = e.get("payload").cloned().unwrap();
                p.insert("ip_address", Value::from("10.0.0.1"));
                e.insert("payload", p);
            }),
        ),
        (
            "prev_hash break",
            mutate(n - 2, &|e| e.insert("prev_hash", hex('b'))),
        ),
    ];
    for (label, d) in scenarios {
        let out = assert_same(d.as_bytes(), label);
        assert_eq!(out.exit_code, 1, "{label}: {}", out.stdout);
        // The same in the object form of the vector.
        let mut o = v.clone();
        o.insert("events", parse(d.as_bytes()).unwrap());
        let o = o.to_json_ordered();
        assert!(read_chain_input(o.as_bytes(), 2).is_some(), "{label}");
        assert_eq!(
            assert_same(o.as_bytes(), label),
            out,
            "{label} (object form)"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random edits of a chain file (a byte replaced by a JSON-significant one, a range cut or
    /// repeated) give the same output on every thread count.
    #[test]
    fn random_edits_give_the_sequential_output(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, 0usize..40), 1..4)
    ) {
        let base = doc(&chain_texts(24, 3));
        let mut d = base.clone();
        for (at, kind, len) in edits {
            let i = at.index(d.len().max(1));
            match kind {
                0..=8 => {
                    if let Some(b) = d.get_mut(i) {
                        *b = b"\"\\,[]{}: "[kind];
                    }
                }
                9 => {
                    let end = (i + len).min(d.len());
                    d.drain(i..end);
                }
                10 => {
                    let end = (i + len).min(d.len());
                    let copy = d[i..end].to_vec();
                    d.splice(i..i, copy);
                }
                _ => {
                    if let Some(b) = d.get_mut(i) {
                        *b = 0xc3;
                    }
                }
            }
        }
        let reference = verify_chain_json_with(&d, None, 1);
        for threads in [2, 3] {
            prop_assert_eq!(&verify_chain_json_with(&d, None, threads), &reference);
        }
    }
}

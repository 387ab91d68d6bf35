#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the built `postern` binary on the shared fixtures and on hostile files.

use std::path::PathBuf;
use std::process::Command;

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::{parse, Value};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/"
    ))
    .join(rel)
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("postern-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn sig_string_on_canonical_fixtures() {
    let path = shared("shadowbroker/mesh-canonical-fixtures.json");
    let (code, out, _) = run(&["sig-string", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let got = parse(out.as_bytes()).unwrap();
    let fixtures = parse(&std::fs::read(&path).unwrap()).unwrap();
    let want: Vec<Value> = fixtures
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.get("expected").unwrap().clone())
        .collect();
    assert_eq!(got, Value::Array(want));
}

#[test]
fn schema_check_on_rejection_vectors() {
    let v = parse(&std::fs::read(shared("shadowbroker/schema_rejection_vectors.json")).unwrap())
        .unwrap();
    let cases: Vec<(String, Value)> = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, c)| (k.clone(), c.clone()))
        .collect();
    let input = Value::Array(cases.iter().map(|(_, c)| c.clone()).collect()).to_json_ordered();
    let f = tmp("schema.json", input.as_bytes());
    let (code, out, _) = run(&["schema-check", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let res = parse(out.as_bytes()).unwrap();
    let res = res.as_array().unwrap();
    assert_eq!(res.len(), 16);
    for ((name, case), r) in cases.iter().zip(res) {
        assert_eq!(r.get("ok"), Some(&Value::Bool(false)), "{name}");
        let want = case
            .get("expected_reason_contains")
            .unwrap()
            .as_str()
            .unwrap();
        assert!(
            r.get("reason").unwrap().as_str().unwrap().contains(want),
            "{name}"
        );
    }
}

#[test]
fn merkle_root_on_fixture_leaves() {
    let f = tmp("leaves.json", br#"["a","b","c","d","e"]"#);
    let (code, out, _) = run(&["merkle-root", f.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        r#"{"root":"3615e586768e706351e326736e446554c49123d0e24c169d3ecf9b791a82636b"}"#
    );
}

#[test]
fn verify_chain_exit_codes() {
    let chain = generate_chain(20, GenOptions::default());
    let good = Value::Array(chain.iter().map(|e| e.to_value()).collect()).to_json_ordered();
    let f = tmp("good.json", good.as_bytes());
    let (code, out, _) = run(&["verify-chain", f.to_str().unwrap(), "--now", "1780000100"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with(r#"{"valid":true,"count":20,"head":""#));

    let mut bad = chain.clone();
    bad[7].prev_hash = "ab".repeat(32);
    let bad = Value::Array(bad.iter().map(|e| e.to_value()).collect()).to_json_ordered();
    let f = tmp("bad.json", format!("{{\"events\":{bad}}}").as_bytes());
    let (code, out, _) = run(&["verify-chain", f.to_str().unwrap(), "--now", "1780000100"]);
    assert_eq!(code, 1);
    let v = parse(out.as_bytes()).unwrap();
    let err = v.get("error").unwrap();
    assert_eq!(err.get("index"), Some(&Value::from(7i64)));
    assert_eq!(
        err.get("reason").unwrap().as_str(),
        Some("prev_hash_mismatch")
    );
    assert_eq!(v.get("head"), Some(&Value::Null));

    // Without a clock, history of any age verifies; options come in any order.
    let good2 = tmp("good2.json", good.as_bytes());
    let (code, out, _) = run(&["verify-chain", good2.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = run(&[
        "verify-chain",
        "--now",
        "1780000100",
        good2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    // --freshness applies the ingest window at the wall clock, far from the generated
    // timestamps: freshness fails.
    let (code, out, _) = run(&["verify-chain", "--freshness", good2.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("stale_timestamp") || out.contains("timestamp"),
        "{out}"
    );
    let (code, out, _) = run(&["verify-chain", good2.to_str().unwrap(), "--freshness"]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn hostile_and_unreadable_inputs_exit_2() {
    let deep = "[".repeat(100_000);
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", b"\x00\xff\xfe not json".to_vec()),
        ("deep", deep.into_bytes()),
        ("nan", b"[NaN]".to_vec()),
        ("lone", b"[\"\\ud800\"]".to_vec()),
        ("trailing", b"[] []".to_vec()),
        ("scalar", b"42".to_vec()),
    ];
    for (name, bytes) in &hostile {
        let f = tmp(&format!("hostile-{name}.json"), bytes);
        for sub in ["verify-chain", "sig-string", "schema-check", "merkle-root"] {
            let (code, out, err) = run(&[sub, f.to_str().unwrap()]);
            assert_eq!(code, 2, "{sub} {name}: {out}");
            assert!(out.is_empty());
            assert_eq!(err.lines().count(), 1, "{sub} {name}: {err}");
        }
    }
    let (code, _, err) = run(&["verify-chain", "/nonexistent/file.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"));
    let f = tmp("ok.json", b"[]");
    assert_eq!(
        run(&["verify-chain", f.to_str().unwrap(), "--now", "soon"]).0,
        2
    );
    assert_eq!(run(&["verify-chain"]).0, 2);
    assert_eq!(
        run(&["merkle-root", f.to_str().unwrap(), "--now", "1"]).0,
        2
    );
    // Unknown subcommands fall through to the serve parser, which refuses them as a usage error.
    let (code, _, err) = run(&["serve-something-else"]);
    assert_eq!(code, 2);
    assert!(!err.is_empty());
}

//! Logic of the `postern` verification subcommands as pure functions over bytes (the binary only
//! reads files and prints). JSON in, JSON out; hostile input never panics: it yields exit code 2
//! and a one-line message for stderr.

use crate::append::check_case;
use crate::canonical::signature_string_with_network;
use crate::canonical::NETWORK_ID;
use crate::json::{parse, Value};
use crate::merkle::merkle_root;
use crate::public_view::{is_stub, verify_public_view};
use crate::verify::{verify_chain_values, VerifyOptions, DEFAULT_MAX_EVENT_AGE_S};

/// Exit code: verified / all good.
pub const EXIT_OK: i32 = 0;
/// Exit code: input readable but invalid (verify-chain only).
pub const EXIT_INVALID: i32 = 1;
/// Exit code: unreadable or hostile input, usage errors.
pub const EXIT_UNREADABLE: i32 = 2;

/// What a subcommand prints and returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliResult {
    /// Text for stdout (one JSON document and a newline), empty on exit code 2.
    pub stdout: String,
    /// One line for stderr, if any.
    pub stderr: Option<String>,
    pub exit_code: i32,
}

impl CliResult {
    fn ok(v: &Value, code: i32) -> Self {
        CliResult {
            stdout: format!("{}\n", v.to_json_ordered()),
            stderr: None,
            exit_code: code,
        }
    }
    /// An unreadable-input result.
    pub fn unreadable(msg: impl Into<String>) -> Self {
        let msg: String = msg.into();
        CliResult {
            stdout: String::new(),
            stderr: Some(msg.replace('\n', " ")),
            exit_code: EXIT_UNREADABLE,
        }
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn parse_input(input: &[u8]) -> Result<Value, CliResult> {
    parse(input).map_err(|e| CliResult::unreadable(format!("error: input is not valid JSON: {e}")))
}

/// The input parsed as a JSON array of `what` (named in the error otherwise).
fn parse_array(input: &[u8], what: &str) -> Result<Vec<Value>, CliResult> {
    match parse_input(input)? {
        Value::Array(items) => Ok(items),
        _ => Err(CliResult::unreadable(format!(
            "error: input must be a JSON array of {what}"
        ))),
    }
}

fn opt_str(s: Option<String>) -> Value {
    s.map(Value::Str).unwrap_or(Value::Null)
}

/// Exact duplicates (same `event_id`, identical JSON) of an element already seen are skipped,
/// as the reference's ingest skips an id it holds; a *different* event reusing an id is kept so
/// the verifier refuses it (`duplicate_event_id`). Returns the kept elements, each one's
/// position in the input, and how many were skipped.
fn skip_exact_duplicates(events: &[Value]) -> (Vec<Value>, Vec<usize>, usize) {
    let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let (mut kept, mut positions, mut skipped) = (Vec::new(), Vec::new(), 0usize);
    for (i, v) in events.iter().enumerate() {
        if let Some(Value::Str(id)) = v.get("event_id") {
            let text = v.to_json_ordered();
            match seen.get(id) {
                Some(first) if *first == text => {
                    skipped += 1;
                    continue;
                }
                Some(_) => {}
                None => {
                    seen.insert(id.clone(), text);
                }
            }
        }
        kept.push(v.clone());
        positions.push(i);
    }
    (kept, positions, skipped)
}

/// `postern verify-chain`: input is a JSON array of events or an object with `events`.
///
/// `now = None` (the default of the CLI) verifies history of any age: no freshness window, and
/// revocation grace is evaluated at the latest event timestamp. `Some(now)` applies the ingest
/// freshness window at `now` (`--now` / `--freshness`). Redaction stubs of a public view
/// (`crate::public_view`) are verified link-only; exact duplicates are skipped. The output adds
/// `duplicates` (skipped) and `link_only` (stubs) after `error`.
pub fn verify_chain_json(input: &[u8], now: Option<u64>) -> CliResult {
    #[cfg(not(target_arch = "wasm32"))]
    {
        verify_chain_json_with(input, now, crate::parallel::default_threads())
    }
    #[cfg(target_arch = "wasm32")]
    {
        verify_chain_json_sequential(input, now, 1)
    }
}

/// [`verify_chain_json`] on `threads` threads (native): with more than one, a top-level array
/// (or an object's `events` array) is read in parallel slices ([`crate::chain_input`]) and
/// verified with [`crate::parallel::verify_chain_parallel`]; any input that reader does not take
/// (malformed, non-object items, stubs) goes the sequential way. Same output for every input and
/// thread count; `threads = 1` is the sequential reference.
#[cfg(not(target_arch = "wasm32"))]
pub fn verify_chain_json_with(input: &[u8], now: Option<u64>, threads: usize) -> CliResult {
    if threads > 1 {
        if let Some(read) = crate::chain_input::read_chain_input(input, threads) {
            let opts = chain_opts(now, read.latest_timestamp);
            let mut report = crate::parallel::verify_chain_parallel(&read.events, &opts, threads);
            report.count = read.count;
            return chain_result(&report, &read.positions, read.duplicates, 0);
        }
    }
    verify_chain_json_sequential(input, now, threads)
}

/// The verification options of `verify-chain` (see [`verify_chain_json`]); `latest` is the
/// largest event timestamp, used when no clock is given.
fn chain_opts(now: Option<u64>, latest: u64) -> VerifyOptions {
    match now {
        Some(now) => VerifyOptions {
            now,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
            batch: true,
        },
        None => VerifyOptions {
            now: latest,
            max_event_age_s: 0,
            batch: true,
        },
    }
}

/// The `verify-chain` output for `report`: error indexes mapped back through `positions`.
fn chain_result(
    report: &crate::verify::ChainReport,
    positions: &[usize],
    duplicates: usize,
    link_only: usize,
) -> CliResult {
    let error = match &report.error {
        Some(f) => obj(vec![
            (
                "index",
                Value::from(positions.get(f.index).copied().unwrap_or(f.index) as u64),
            ),
            ("event_id", Value::Str(f.event_id.clone())),
            ("reason", Value::from(f.reason.as_str())),
        ]),
        None => Value::Null,
    };
    let out = obj(vec![
        ("valid", Value::Bool(report.valid)),
        ("count", Value::from(report.count as u64)),
        ("head", opt_str(report.head.clone())),
        ("merkle_root", opt_str(report.merkle_root.clone())),
        ("error", error),
        ("duplicates", Value::from(duplicates as u64)),
        ("link_only", Value::from(link_only as u64)),
    ]);
    CliResult::ok(&out, if report.valid { EXIT_OK } else { EXIT_INVALID })
}

/// The whole document parsed into [`Value`]s on the calling thread (signatures still on
/// `threads` threads natively).
fn verify_chain_json_sequential(input: &[u8], now: Option<u64>, threads: usize) -> CliResult {
    let doc = match parse_input(input) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let events = match &doc {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => match doc.get("events") {
            Some(Value::Array(items)) => items.as_slice(),
            _ => return CliResult::unreadable("error: object input must have an \"events\" array"),
        },
        _ => {
            return CliResult::unreadable(
                "error: input must be a JSON array of events or an object with \"events\"",
            )
        }
    };
    let latest = events
        .iter()
        .filter_map(|e| e.get("timestamp"))
        .filter_map(|t| t.py_int())
        .filter_map(|t| t.to_u64())
        .max()
        .unwrap_or(0);
    let opts = chain_opts(now, latest);
    let (kept, positions, duplicates) = skip_exact_duplicates(events);
    let (mut report, link_only) = if kept.iter().any(is_stub) {
        let r = verify_public_view(&kept, &opts);
        (r.report, r.link_only)
    } else {
        (verify_values(&kept, &opts, threads), 0)
    };
    report.count = events.len();
    chain_result(&report, &positions, duplicates, link_only)
}

/// Verify parsed JSON events: on several threads natively (same report as
/// [`verify_chain_values`]), on the calling thread in wasm.
#[cfg(not(target_arch = "wasm32"))]
fn verify_values(
    events: &[Value],
    opts: &VerifyOptions,
    threads: usize,
) -> crate::verify::ChainReport {
    let parsed: Option<Vec<crate::event::ChainEvent>> = events
        .iter()
        .map(|v| crate::event::ChainEvent::from_value(v).ok())
        .collect();
    match parsed {
        Some(p) => crate::parallel::verify_chain_parallel(&p, opts, threads),
        None => verify_chain_values(events, opts),
    }
}

#[cfg(target_arch = "wasm32")]
fn verify_values(
    events: &[Value],
    opts: &VerifyOptions,
    _threads: usize,
) -> crate::verify::ChainReport {
    verify_chain_values(events, opts)
}

fn sig_case(case: &Value) -> Result<String, String> {
    if !matches!(case, Value::Object(_)) {
        return Err("case must be an object".into());
    }
    let event_type = match case.get("event_type") {
        Some(Value::Str(s)) => s.clone(),
        _ => return Err("event_type must be a string".into()),
    };
    let node_id = match case.get("node_id") {
        Some(Value::Str(s)) => s.clone(),
        _ => return Err("node_id must be a string".into()),
    };
    let sequence = match case.get("sequence") {
        Some(v @ (Value::Int(_) | Value::Str(_) | Value::Float(_))) => v.py_str(),
        _ => return Err("sequence must be a number".into()),
    };
    let payload = match case.get("payload") {
        Some(p @ Value::Object(_)) => p,
        _ => return Err("payload must be an object".into()),
    };
    Ok(signature_string_with_network(
        NETWORK_ID,
        &event_type,
        &node_id,
        &sequence,
        payload,
    ))
}

/// `postern sig-string`: array of `{event_type,node_id,sequence,payload}` → array of signature
/// strings (or `{"error": …}` per bad case).
pub fn sig_string_json(input: &[u8]) -> CliResult {
    let cases = match parse_array(input, "cases") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let out: Vec<Value> = cases
        .iter()
        .map(|c| match sig_case(c) {
            Ok(s) => Value::Str(s),
            Err(e) => obj(vec![("error", Value::Str(e))]),
        })
        .collect();
    CliResult::ok(&Value::Array(out), EXIT_OK)
}

/// `postern schema-check`: array of `{event_type,payload}` (optionally `check`,
/// `protocol_version`, `network_id`) → array of `{"ok":bool,"reason":str|null}`. Payloads are
/// normalised before they are validated (`crate::append::check_case`; `check: "append"` adds
/// the relay's append rules).
pub fn schema_check_json(input: &[u8]) -> CliResult {
    let cases = match parse_array(input, "cases") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let out: Vec<Value> = cases
        .iter()
        .map(|c| {
            let res = if matches!(c, Value::Object(_)) {
                check_case(c).map_err(|e| e.to_string())
            } else {
                Err("case must be an object".to_string())
            };
            match res {
                Ok(()) => obj(vec![("ok", Value::Bool(true)), ("reason", Value::Null)]),
                Err(r) => obj(vec![("ok", Value::Bool(false)), ("reason", Value::Str(r))]),
            }
        })
        .collect();
    CliResult::ok(&Value::Array(out), EXIT_OK)
}

/// `postern merkle-root`: array of event ids → `{"root": hex}` (Infonet tree).
pub fn merkle_root_json(input: &[u8]) -> CliResult {
    let items = match parse_array(input, "event ids") {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut ids = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        match v {
            Value::Str(s) => ids.push(s.as_str()),
            _ => return CliResult::unreadable(format!("error: element {i} is not a string")),
        }
    }
    CliResult::ok(&obj(vec![("root", Value::Str(merkle_root(&ids)))]), EXIT_OK)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::chaingen::{generate_chain, GenOptions};

    #[test]
    fn verify_chain_contract() {
        let chain = generate_chain(5, GenOptions::default());
        let arr = Value::Array(chain.iter().map(|e| e.to_value()).collect());
        let text = arr.to_json_ordered();
        let r = verify_chain_json(text.as_bytes(), Some(1_780_000_010));
        assert_eq!(r.exit_code, 0, "{}", r.stdout);
        let v = parse(r.stdout.as_bytes()).unwrap();
        assert_eq!(v.get("valid"), Some(&Value::Bool(true)));
        assert_eq!(v.get("head").unwrap().as_str().unwrap(), chain[4].event_id);
        assert_eq!(v.get("error"), Some(&Value::Null));
        assert!(r
            .stdout
            .starts_with("{\"valid\":true,\"count\":5,\"head\":"));
        // Wrapped in {"events": …}, without a clock.
        let wrapped = format!("{{\"events\":{text}}}");
        assert_eq!(verify_chain_json(wrapped.as_bytes(), None).exit_code, 0);
        // Invalid.
        let mut bad = chain.clone();
        bad[2].signature = "00".repeat(64);
        let arr = Value::Array(bad.iter().map(|e| e.to_value()).collect());
        let r = verify_chain_json(arr.to_json_ordered().as_bytes(), Some(1_780_000_010));
        assert_eq!(r.exit_code, 1);
        assert!(r.stdout.contains("\"error\":{\"index\":2,"), "{}", r.stdout);
        assert!(r.stdout.contains("\"reason\":\"invalid_signature\""));
        // Non-object element.
        let r = verify_chain_json(b"[1]", Some(0));
        assert_eq!(r.exit_code, 1);
        assert!(r.stdout.contains("not_an_object"));
        // Unreadable.
        for input in [&b"{"[..], b"\"x\"", b"{\"events\":3}", b"\xff"] {
            let r = verify_chain_json(input, Some(0));
            assert_eq!(r.exit_code, 2);
            assert!(r.stderr.is_some() && r.stdout.is_empty());
        }
    }

    #[test]
    fn sig_string_and_schema_and_merkle() {
        let r = sig_string_json(br#"[{"event_type":"vote","node_id":"!sb_a","sequence":3,"payload":{"vote":"1"}},{"event_type":1}]"#);
        assert_eq!(r.exit_code, 0);
        assert_eq!(r.stdout, "[\"infonet/2|sb-testnet-0|vote|!sb_a|3|{\\\"gate\\\":\\\"\\\",\\\"target_id\\\":\\\"\\\",\\\"vote\\\":1}\",{\"error\":\"event_type must be a string\"}]\n");
        let r = schema_check_json(br#"[{"event_type":"nope","payload":{}},{"event_type":"vote","payload":{"target_id":"x","vote":1,"gate":""}},5]"#);
        assert_eq!(r.stdout, "[{\"ok\":false,\"reason\":\"Unknown event_type\"},{\"ok\":true,\"reason\":null},{\"ok\":false,\"reason\":\"case must be an object\"}]\n");
        let r = merkle_root_json(br#"["a","b","c","d","e"]"#);
        assert_eq!(
            r.stdout,
            "{\"root\":\"3615e586768e706351e326736e446554c49123d0e24c169d3ecf9b791a82636b\"}\n"
        );
        assert_eq!(merkle_root_json(b"[1]").exit_code, 2);
        assert_eq!(merkle_root_json(b"{}").exit_code, 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        #[test]
        fn never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = verify_chain_json(&bytes, Some(0));
            let _ = verify_chain_json(&bytes, None);
            let _ = sig_string_json(&bytes);
            let _ = schema_check_json(&bytes);
            let _ = merkle_root_json(&bytes);
        }
    }
}

//! End-to-end tests of the Infonet chain endpoints, rate limits and metrics, against the real
//! `postern` binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::result_large_err
)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{now, urlencode, Relay, Resp, Rng};
use postern_core::api::infonet::{
    PATH_APPEND, PATH_LOCATOR, PATH_MERKLE, PATH_PRIVATE_STATUS, PATH_STATUS, PATH_SYNC,
};
use postern_core::chaingen::{author_key, generate_chain, sample_payload, GenOptions};
use postern_core::event::{sign_event, ChainEvent};
use postern_core::json::{self, Value as CV};
use postern_core::merkle::merkle_root;
use postern_core::verify::{build_locator, verify_chain_values, VerifyOptions};

// ---- helpers ----

fn cobj(pairs: Vec<(&str, CV)>) -> CV {
    CV::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A client-signed event (prev_hash and timestamp are the relay's to fill).
fn signed(key: usize, et: &str, payload: &CV, seq: u64) -> ChainEvent {
    sign_event(&author_key(key), "", et, payload, CV::Null, seq)
}

/// The append body for a signed event (`AppendRequest` shape), as exact JSON.
fn body_of(e: &ChainEvent) -> Vec<u8> {
    body_value(e).to_json_ordered().into_bytes()
}

fn body_value(e: &ChainEvent) -> CV {
    cobj(vec![
        ("event_type", CV::from(e.event_type.as_str())),
        ("node_id", CV::from(e.node_id.as_str())),
        ("payload", e.payload.clone()),
        ("signature", CV::from(e.signature.as_str())),
        ("sequence", e.sequence.clone()),
        ("public_key", CV::from(e.public_key.as_str())),
        ("public_key_algo", CV::from(e.public_key_algo.as_str())),
        ("protocol_version", CV::from(e.protocol_version.as_str())),
    ])
}

fn append(relay: &Relay, e: &ChainEvent) -> Resp {
    relay.post_raw(PATH_APPEND, Some("application/json"), &body_of(e))
}

/// Append and return the stored event id.
fn append_ok(relay: &Relay, e: &ChainEvent) -> String {
    let r = append(relay, e);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ok"], true);
    v["event"]["event_id"].as_str().unwrap().to_string()
}

fn exact(r: &Resp) -> CV {
    json::parse(r.body.as_bytes()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// Every public event, fetched with GET sync in pages of `page`.
fn fetch_all(relay: &Relay, page: usize) -> Vec<CV> {
    let mut out: Vec<CV> = Vec::new();
    let mut after = String::new();
    loop {
        let q = if after.is_empty() {
            format!("{PATH_SYNC}?limit={page}")
        } else {
            format!("{PATH_SYNC}?after_hash={after}&limit={page}")
        };
        let r = relay.get(&q);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = exact(&r);
        let events = v.get("events").unwrap().as_array().unwrap().to_vec();
        assert_eq!(v.get("count").unwrap().py_str(), events.len().to_string());
        assert_eq!(
            v.get("protocol_version").unwrap().as_str(),
            Some("infonet/2")
        );
        if events.is_empty() {
            return out;
        }
        assert!(events.len() <= page);
        after = events.last().unwrap().get("event_id").unwrap().py_str();
        out.extend(events);
    }
}

fn ids_of(events: &[CV]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.get("event_id").unwrap().py_str())
        .collect()
}

/// Verify with core and with the real `postern verify-chain` on a file.
fn assert_verifies(events: &[CV]) {
    let report = verify_chain_values(events, &VerifyOptions::at(now()));
    assert!(report.valid, "core verify_chain: {:?}", report.error);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("served.json");
    let doc = cobj(vec![("events", CV::Array(events.to_vec()))]);
    std::fs::write(&file, doc.to_json_ordered()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postern"))
        .arg("verify-chain")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify-chain: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"valid\":true"), "{stdout}");
}

fn status(relay: &Relay) -> (String, u64) {
    let r = relay.get(PATH_STATUS);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["network_id"], "sb-testnet-0");
    assert_eq!(v["protocol"], "infonet");
    (
        v["head_hash_full"].as_str().unwrap().to_string(),
        v["total_events"].as_u64().unwrap(),
    )
}

fn private_status(relay: &Relay) -> (String, u64) {
    let r = relay.get(PATH_PRIVATE_STATUS);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    (
        v["head_hash"].as_str().unwrap().to_string(),
        v["count"].as_u64().unwrap(),
    )
}

const PUBLIC_TYPES: [&str; 4] = ["message", "vote", "prediction", "abuse_report"];

/// `n` public events from `authors` authors, as a client would sign them; returns their ids.
fn append_public(
    relay: &Relay,
    n: usize,
    first_key: usize,
    authors: usize,
    seqs: &mut [u64],
) -> Vec<String> {
    (0..n)
        .map(|i| {
            let a = i % authors;
            seqs[a] += 1;
            let et = PUBLIC_TYPES[(i / authors) % PUBLIC_TYPES.len()];
            append_ok(
                relay,
                &signed(first_key + a, et, &sample_payload(et, i as u64), seqs[a]),
            )
        })
        .collect()
}

fn random_sealed(rng: &mut Rng, n: usize) -> String {
    use std::fmt::Write as _;
    // Standard base64 of random bytes (no padding concerns: n multiple of 3).
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = rng.bytes(n);
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let v = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for sh in [18, 12, 6, 0] {
            let _ = write!(s, "{}", A[((v >> sh) & 63) as usize] as char);
        }
    }
    s
}

fn dm_payload(rng: &mut Rng, recipient: &str, msg: u64) -> CV {
    cobj(vec![
        ("recipient_id", CV::from(recipient)),
        ("delivery_class", CV::from("request")),
        ("recipient_token", CV::from("")),
        ("ciphertext", CV::from(random_sealed(rng, 48))),
        ("msg_id", CV::Str(format!("msg-{msg}"))),
        ("timestamp", CV::from(now())),
        ("format", CV::from("mls1")),
        ("transport_lock", CV::from("private_strong")),
    ])
}

// ---- tests ----

#[test]
fn appended_chain_is_served_paged_and_verifies() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    assert_eq!(status(&relay), ("0".repeat(64), 0));
    let mut seqs = [0u64; 3];
    let ids = append_public(&relay, 25, 1, 3, &mut seqs);

    let served = fetch_all(&relay, 7);
    assert_eq!(ids_of(&served), ids);
    assert_verifies(&served);

    let (head, count) = status(&relay);
    assert_eq!((head.as_str(), count), (ids.last().unwrap().as_str(), 25));
    let m = relay.get(PATH_MERKLE).json();
    assert_eq!(m["merkle_root"], merkle_root(&ids));
    assert_eq!(m["head_hash"], head);
    assert_eq!(m["count"], 25);
    assert_eq!(m["network_id"], "sb-testnet-0");

    // The stored event is what the relay answered: prev_hash links, relay timestamp.
    let first = &served[0];
    assert_eq!(first.get("prev_hash").unwrap().py_str(), "0".repeat(64));
    let ts = first.get("timestamp").unwrap().py_float().unwrap();
    assert!((ts - now() as f64).abs() < 600.0);

    // A retried append is answered with the stored event and stores nothing.
    let again = append(
        &relay,
        &signed(1, "message", &sample_payload("message", 0), 1),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(again.json()["event"]["event_id"], ids[0]);
    assert_eq!(status(&relay).1, 25);

    // Locator: dense newest ids, genesis last.
    let loc = relay.get(&format!("{PATH_LOCATOR}?limit=4")).json();
    let loc: Vec<String> = serde_json::from_value(loc["locator"].clone()).unwrap();
    assert_eq!(loc, build_locator(&ids, 4));
    let loc = relay.get(&format!("{PATH_LOCATOR}?limit=1000")).json();
    let loc: Vec<String> = serde_json::from_value(loc["locator"].clone()).unwrap();
    assert_eq!(loc, build_locator(&ids, 128), "limit clamps to 128");
}

#[test]
fn sync_errors_locators_and_forks() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let mut seqs = [0u64; 2];
    let ids = append_public(&relay, 12, 10, 2, &mut seqs);

    // An unknown after_hash: an empty page that says so (tests/sync_answers.rs).
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={}", "ab".repeat(32)));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["unknown_after_hash"], true);
    relay
        .get(&format!("{PATH_SYNC}?limit=abc"))
        .assert_error(400, "bad_request");
    relay
        .get(&format!("{PATH_SYNC}?protocol_version=infonet/1"))
        .assert_error(426, "unsupported_protocol_version");
    relay
        .get(&format!("{PATH_SYNC}?expected_head={}", "cd".repeat(32)))
        .assert_error(409, "head_mismatch");
    // after the head: up to date, empty list.
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={}", ids[11]));
    assert_eq!(r.json()["count"], 0);
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={}&limit=2", ids[3]));
    assert_eq!(
        ids_of(exact(&r).get("events").unwrap().as_array().unwrap()),
        ids[4..6]
    );

    // A peer holding a prefix gets the missing suffix.
    let body = serde_json::json!({"protocol_version": "infonet/2", "locator": build_locator(&ids[..5], 32), "limit": 100});
    let r = relay.post(PATH_SYNC, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = exact(&r);
    assert_eq!(v.get("matched_hash").unwrap().py_str(), ids[4]);
    assert_eq!(v.get("forked"), Some(&CV::Bool(false)));
    assert_eq!(v.get("head_hash").unwrap().py_str(), ids[11]);
    let suffix = v.get("events").unwrap().as_array().unwrap().to_vec();
    assert_eq!(ids_of(&suffix), ids[5..]);
    // ...which extends the prefix into a chain that verifies.
    let mut whole = fetch_all(&relay, 5)[..5].to_vec();
    whole.extend(suffix);
    assert_verifies(&whole);

    // With proofs.
    let body = serde_json::json!({"locator": [ids[9]], "include_proofs": true});
    let v = relay.post(PATH_SYNC, &body).json();
    assert_eq!(v["merkle_root"], merkle_root(&ids));
    assert_eq!(v["merkle_start"], 10);
    assert_eq!(v["merkle_proofs"].as_array().unwrap().len(), 2);
    // A proof's leaf is the event id (as Shadowbroker's verifier expects it).
    assert_eq!(v["merkle_proofs"][0]["leaf"], ids[10].as_str());

    // A locator from another chain: forked.
    let other: Vec<String> = generate_chain(6, GenOptions::default())
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    let body =
        serde_json::json!({"protocol_version": "infonet/2", "locator": build_locator(&other, 32)});
    let v = relay.post(PATH_SYNC, &body).json();
    assert_eq!(v["forked"], true, "{v}");
    // Refusals.
    relay
        .post(
            PATH_SYNC,
            &serde_json::json!({"protocol_version": "infonet/1", "locator": []}),
        )
        .assert_error(426, "unsupported_protocol_version");
    relay
        .post(
            PATH_SYNC,
            &serde_json::json!({"locator": [], "expected_head": "00"}),
        )
        .assert_error(409, "head_mismatch");
    let big: Vec<String> = (0..129).map(|i| format!("{i:064x}")).collect();
    relay
        .post(PATH_SYNC, &serde_json::json!({ "locator": big }))
        .assert_error(400, "bad_request");
    relay
        .post(PATH_SYNC, &serde_json::json!({ "locator": "x" }))
        .assert_error(422, "bad_request");
}

#[test]
fn refused_appends_store_nothing() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let p = sample_payload("message", 1);
    append_ok(&relay, &signed(20, "message", &p, 1));
    let before = (status(&relay), private_status(&relay));
    let refuse = |body: Vec<u8>, st: u16, code: &str| {
        let r = relay.post_raw(PATH_APPEND, Some("application/json"), &body);
        r.assert_error(st, code);
        assert_eq!(
            (status(&relay), private_status(&relay)),
            before,
            "{code} stored something"
        );
        r
    };

    // Bad signature.
    let mut e = signed(20, "message", &sample_payload("message", 2), 2);
    let flip = if e.signature.starts_with('0') {
        "1"
    } else {
        "0"
    };
    e.signature.replace_range(0..1, flip);
    refuse(body_of(&e), 422, "invalid_signature");
    // Node id of another key.
    let mut e = signed(20, "message", &sample_payload("message", 2), 2);
    e.node_id = signed(21, "message", &p, 1).node_id;
    refuse(body_of(&e), 422, "node_id_mismatch");
    // Replayed sequence with a different event.
    let e = signed(20, "message", &sample_payload("message", 3), 1);
    refuse(body_of(&e), 409, "sequence_replay");
    let e = signed(20, "message", &sample_payload("message", 3), 0);
    refuse(body_of(&e), 422, "invalid_sequence");
    // Plaintext in a private gate message (the signed payload carries it).
    let mut rng = Rng(7);
    let mut gp = sample_payload("gate_message", 1);
    gp.insert("message", CV::from("attack at dawn"));
    let e = signed(20, "gate_message", &gp, 1);
    let mut v = body_value(&e);
    v.insert("payload", gp);
    let r = refuse(v.to_json_ordered().into_bytes(), 422, "invalid_payload");
    assert!(
        r.body.contains("message") || r.body.contains("plaintext"),
        "{}",
        r.body
    );
    // Public message over the append text cap, and a canonical payload over 4096 bytes.
    let mut long = sample_payload("message", 4);
    long.insert("message", CV::Str("x".repeat(300)));
    refuse(
        body_of(&signed(20, "message", &long, 2)),
        422,
        "invalid_payload",
    );
    let mut huge = sample_payload("gate_message", 5);
    huge.insert("ciphertext", CV::Str(random_sealed(&mut rng, 3300)));
    refuse(
        body_of(&signed(20, "gate_message", &huge, 1)),
        413,
        "payload_too_large",
    );
    // Body over 64 KiB.
    let mut v = body_value(&signed(20, "message", &sample_payload("message", 6), 2));
    v.insert("padding", CV::Str("y".repeat(70 * 1024)));
    refuse(v.to_json_ordered().into_bytes(), 413, "payload_too_large");
    // Another network (whose signature would match there).
    let mut v = body_value(&signed(20, "message", &sample_payload("message", 7), 2));
    v.insert("network_id", CV::from("sb-mainnet-1"));
    refuse(v.to_json_ordered().into_bytes(), 422, "network_mismatch");
    // Another protocol, unknown type, a plaintext key on the public ledger.
    let mut v = body_value(&signed(20, "message", &sample_payload("message", 8), 2));
    v.insert("protocol_version", CV::from("infonet/1"));
    refuse(
        v.to_json_ordered().into_bytes(),
        422,
        "unsupported_protocol_version",
    );
    refuse(
        body_of(&signed(20, "tx", &cobj(vec![]), 2)),
        422,
        "unsupported_event_type",
    );
    // Not an append at all.
    refuse(b"{".to_vec(), 400, "bad_request");
    refuse(b"[]".to_vec(), 400, "bad_request");
    refuse(br#"{"payload":{}}"#.to_vec(), 422, "bad_request");
    refuse(br#"{"payload":1}"#.to_vec(), 400, "bad_request");

    // Still accepts the next valid event.
    append_ok(
        &relay,
        &signed(20, "message", &sample_payload("message", 10), 2),
    );
    assert_eq!(status(&relay).1, 2);

    // Shadowbroker's append order normalises before validating: a plaintext key that is not
    // part of the type's payload (`ip` on an abuse report) is dropped by normalisation, so
    // the event is accepted as signed (over the normalised payload) and never stores it.
    let mut fp = sample_payload("abuse_report", 9);
    fp.insert("ip", CV::from("10.0.0.1"));
    let mut v = body_value(&signed(20, "abuse_report", &fp, 3));
    v.insert("payload", fp);
    let r = relay.post_raw(
        PATH_APPEND,
        Some("application/json"),
        &v.to_json_ordered().into_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("10.0.0.1"), "{}", r.body);
    assert!(!fetch_all(&relay, 10)
        .iter()
        .any(|e| e.to_json_ordered().contains("10.0.0.1")));
}

#[test]
fn private_events_share_the_chain_and_are_stubs_publicly() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let mut rng = Rng(99);
    let mut all_ids = Vec::new();
    let mut private = Vec::new();
    let recipient = signed(33, "message", &sample_payload("message", 0), 1).node_id;
    for i in 0..10u64 {
        all_ids.push(append_ok(
            &relay,
            &signed(30, "message", &sample_payload("message", i), i + 1),
        ));
        let g = signed(
            30,
            "gate_message",
            &sample_payload("gate_message", i),
            i + 1,
        );
        all_ids.push(append_ok(&relay, &g));
        private.push(g);
        if i < 2 {
            // One DM per sender and recipient (core's chain spool limit): two senders.
            let e = signed(
                31 + i as usize,
                "dm_message",
                &dm_payload(&mut rng, &recipient, i),
                1,
            );
            let r = append(&relay, &e);
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.json()["lane"], "private");
            all_ids.push(r.json()["event"]["event_id"].as_str().unwrap().to_string());
            private.push(e);
        }
    }
    // One chain: head, count and root over every event; the private count beside it.
    let head = all_ids.last().unwrap().clone();
    assert_eq!(status(&relay), (head.clone(), 22));
    assert_eq!(private_status(&relay), (head.clone(), 12));
    assert_eq!(
        relay.get(PATH_MERKLE).json()["merkle_root"],
        merkle_root(&all_ids)
    );

    // The public view: every id in place, private events as link-only stubs that verify.
    let served = fetch_all(&relay, 4);
    assert_eq!(ids_of(&served), all_ids);
    let stubs = served
        .iter()
        .filter(|v| postern_core::public_view::is_stub(v))
        .count();
    assert_eq!(stubs, 12);
    let r = postern_core::public_view::verify_public_view(&served, &VerifyOptions::at(now()));
    assert!(r.report.valid, "{:?}", r.report.error);
    assert_eq!(r.report.head.as_deref(), Some(head.as_str()));
    let everything = [
        relay.get(&format!("{PATH_SYNC}?limit=500")).body,
        relay
            .post(PATH_SYNC, &serde_json::json!({"locator": []}))
            .body,
        relay.get(&format!("{PATH_LOCATOR}?limit=128")).body,
        relay.get(PATH_STATUS).body,
        relay.get(PATH_MERKLE).body,
    ]
    .concat();
    for e in &private {
        assert!(
            !everything.contains(&e.signature),
            "private signature served"
        );
        for k in ["ciphertext", "nonce", "sender_ref"] {
            if let Some(v) = e.payload.get(k) {
                assert!(!everything.contains(&v.py_str()), "private {k} served");
            }
        }
    }
    // Paging after a private event works like after any other.
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={}", all_ids[1]));
    assert_eq!(
        ids_of(exact(&r).get("events").unwrap().as_array().unwrap()),
        all_ids[2..]
    );

    // The chain survives a restart.
    drop(relay);
    let relay = Relay::start(data.path(), &[]);
    assert_eq!(private_status(&relay), (head.clone(), 12));
    assert_eq!(status(&relay), (head, 22));
}

/// One HTTP/1.1 request from a chosen loopback source address; returns (status, raw response).
fn request_from(source: &str, base: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        sock.connect(addr).await.unwrap().into_std().unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut stream = stream;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn rate_limits_answer_429_per_client_and_metrics_count() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        data.path(),
        &[
            "--rate-limit-per-min",
            "3",
            "--read-rate-limit-per-min",
            "20",
        ],
    );
    let e = |i: u64| signed(40, "message", &sample_payload("message", i), i);
    for i in 1..=3 {
        append_ok(&relay, &e(i));
    }
    // The burst is over: 429 with Retry-After and a JSON error body; nothing stored.
    let resp = ureq::post(&relay.url(PATH_APPEND)).send_bytes(&body_of(&e(4)));
    let Err(ureq::Error::Status(429, resp)) = resp else {
        panic!("expected 429, got {resp:?}")
    };
    let retry: u64 = resp
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.into_json().unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["ok"], false);
    // DM writes share the write bucket.
    relay
        .post_raw("/api/mesh/dm/send", Some("application/json"), b"{}")
        .assert_error(429, "rate_limited");
    // Reads have their own, larger bucket: still served.
    assert_eq!(status(&relay).1, 3);
    // Another client is served.
    let (code, text) = request_from(
        "127.0.0.2",
        &relay.base,
        "POST",
        PATH_APPEND,
        &body_of(&e(4)),
    );
    assert_eq!(code, 200, "{text}");
    assert_eq!(status(&relay).1, 4);

    // Metrics (exempt from the limits).
    let m = relay.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("text/plain"),
        "{}",
        m.content_type
    );
    let t = m.body;
    assert_eq!(
        metric(
            &t,
            r#"postern_infonet_appends_total{result="accepted",lane="public"}"#
        ),
        4
    );
    assert_eq!(
        metric(&t, r#"postern_rate_limited_total{bucket="write"}"#),
        2
    );
    assert_eq!(
        metric(
            &t,
            r#"postern_http_requests_total{route="/api/infonet/append",status="2xx"}"#
        ),
        4
    );
    assert_eq!(
        metric(
            &t,
            r#"postern_http_requests_total{route="/api/infonet/append",status="4xx"}"#
        ),
        1
    );
    assert_eq!(metric(&t, r#"postern_infonet_events{lane="public"}"#), 4);
    assert_eq!(metric(&t, r#"postern_infonet_events{lane="private"}"#), 0);
    assert_eq!(metric(&t, "postern_dm_spool_messages"), 0);
    for r in ["ok", "rejected", "error"] {
        assert_eq!(
            metric(&t, &format!("postern_replication_total{{result=\"{r}\"}}")),
            0
        );
    }
    // Drain the read bucket too.
    let mut limited = 0;
    for _ in 0..25 {
        let r = relay.get(PATH_MERKLE);
        if r.status == 429 {
            r.assert_error(429, "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 5, "{limited}");
    assert_eq!(relay.get("/api/health").status, 200);
    assert!(
        !relay.log_text().contains("attack"),
        "bodies are never logged"
    );
}

#[test]
fn random_and_malformed_requests_get_4xx_and_corrupt_nothing() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let mut seqs = [0u64; 2];
    let ids = append_public(&relay, 6, 50, 2, &mut seqs);
    let valid = body_of(&signed(52, "message", &sample_payload("message", 1), 1));
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut accepted = 0u64;
    let mut agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let junk = |rng: &mut Rng| -> String {
        let pool = [
            "",
            "0",
            "-1",
            "1e9",
            "abc",
            "%00",
            "%FF%FE",
            "null",
            "[]",
            "{}",
            "ab",
            "'; DROP TABLE x;--",
        ];
        match rng.below(4) {
            0 => pool[rng.below(pool.len())].to_string(),
            1 => {
                let n = rng.below(80);
                urlencode(&String::from_utf8_lossy(&rng.bytes(n)))
            }
            2 => ids[rng.below(ids.len())].clone(),
            _ => format!("{}", rng.next() as i64),
        }
    };
    for i in 0..2000 {
        let (method, path, body): (&str, String, Vec<u8>) = match rng.below(10) {
            0 => (
                "GET",
                format!(
                    "{PATH_SYNC}?after_hash={}&limit={}",
                    junk(&mut rng),
                    junk(&mut rng)
                ),
                vec![],
            ),
            1 => (
                "GET",
                format!("{PATH_LOCATOR}?limit={}", junk(&mut rng)),
                vec![],
            ),
            2 => {
                let loc: Vec<String> = (0..rng.below(6)).map(|_| junk(&mut rng)).collect();
                let b = serde_json::json!({"locator": loc, "limit": rng.next() as i64 % 1000,
                    "expected_head": if rng.below(3) == 0 { serde_json::Value::from(junk(&mut rng)) } else { serde_json::Value::Null }});
                ("POST", PATH_SYNC.into(), serde_json::to_vec(&b).unwrap())
            }
            3 => {
                let n = rng.below(200);
                ("POST", PATH_SYNC.into(), rng.bytes(n))
            }
            4 => {
                let n = rng.below(300);
                ("POST", PATH_APPEND.into(), rng.bytes(n))
            }
            5 | 6 => {
                // A valid append with one byte changed.
                let mut b = valid.clone();
                let at = rng.below(b.len());
                b[at] = (rng.next() % 128) as u8;
                ("POST", PATH_APPEND.into(), b)
            }
            7 => {
                let depth = 1 + rng.below(200);
                let b = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
                let mut v = serde_json::json!({"event_type": junk(&mut rng), "node_id": junk(&mut rng), "payload": {},
                    "signature": junk(&mut rng), "sequence": rng.next() % 5, "public_key": junk(&mut rng), "public_key_algo": "Ed25519"});
                if rng.below(2) == 0 {
                    v["payload"] = serde_json::Value::String(String::from_utf8_lossy(&b).into());
                }
                (
                    "POST",
                    PATH_APPEND.into(),
                    if rng.below(2) == 0 {
                        b
                    } else {
                        serde_json::to_vec(&v).unwrap()
                    },
                )
            }
            8 => {
                let paths = [
                    PATH_STATUS,
                    PATH_MERKLE,
                    PATH_PRIVATE_STATUS,
                    PATH_SYNC,
                    PATH_APPEND,
                    PATH_LOCATOR,
                    "/metrics",
                ];
                let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
                let m = methods[rng.below(methods.len())];
                let p = paths[rng.below(paths.len())].to_string();
                let n = rng.below(40);
                (m, p, rng.bytes(n))
            }
            _ => (
                "GET",
                format!("/api/mesh/infonet/{}", junk(&mut rng)),
                vec![],
            ),
        };
        let send = |agent: &ureq::Agent| {
            let req = agent
                .request(method, &relay.url(&path))
                .set("Content-Type", "application/json");
            if body.is_empty() && method == "GET" {
                req.call()
            } else {
                req.send_bytes(&body)
            }
        };
        let mut res = send(&agent);
        if let Err(ureq::Error::Transport(_)) = &res {
            // A kept-alive connection the relay closed after answering an unread body early:
            // a client-side artefact. A fresh connection must work.
            agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(20))
                .build();
            res = send(&agent);
        }
        let (code, text) = match res {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
            Err(e) => panic!("request {i} {method} {path}: transport error {e}"),
        };
        assert!(code < 500, "request {i} {method} {path} -> {code} {text}");
        if code >= 400 {
            let e: postern_core::api::ErrorBody =
                serde_json::from_str(&text).unwrap_or_else(|_| {
                    panic!("request {i} {method} {path} -> {code} non-JSON {text}")
                });
            assert!(!e.ok && !e.code.is_empty());
        } else if path == PATH_APPEND {
            accepted += 1;
        }
    }
    let (head, count) = status(&relay);
    assert_eq!(count, 6 + accepted.min(1));
    let served = fetch_all(&relay, 500);
    assert_eq!(ids_of(&served)[..6], ids[..]);
    assert_eq!(ids_of(&served).last().unwrap(), &head);
    assert_verifies(&served);
    // The relay restarts cleanly on what it stored.
    drop(relay);
    let relay = Relay::start(data.path(), &[]);
    assert_eq!(status(&relay), (head, count));
}

#[test]
fn sigkill_during_appends_keeps_every_acknowledged_event() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let base = relay.base.clone();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let writers: Vec<_> = (0..3usize)
        .map(|w| {
            let base = base.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(20))
                    .build();
                for seq in 1..=1000u64 {
                    let e = signed(60 + w, "message", &sample_payload("message", seq), seq);
                    match agent
                        .post(&format!("{base}{PATH_APPEND}"))
                        .send_bytes(&body_of(&e))
                    {
                        Ok(r) if r.status() == 200 => {
                            let v: serde_json::Value = r.into_json().unwrap();
                            if tx
                                .send(v["event"]["event_id"].as_str().unwrap().to_string())
                                .is_err()
                            {
                                return;
                            }
                        }
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(ureq::Error::Status(c, r)) => {
                            panic!("refused {c}: {}", r.into_string().unwrap())
                        }
                        Err(_) => return, // the relay is gone
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut acked: Vec<String> = Vec::new();
    while acked.len() < 60 {
        acked.push(
            rx.recv_timeout(Duration::from_secs(60))
                .expect("appends stalled"),
        );
    }
    relay.kill();
    // Acknowledgements already on their way count too.
    acked.extend(rx.iter());
    for w in writers {
        w.join().unwrap();
    }

    let relay = Relay::start(data.path(), &[]);
    let served = fetch_all(&relay, 500);
    let have: std::collections::HashSet<String> = ids_of(&served).into_iter().collect();
    for id in &acked {
        assert!(have.contains(id), "acknowledged event {id} lost");
    }
    assert_verifies(&served);
    assert_eq!(status(&relay).1, served.len() as u64);
    // The restarted relay keeps appending on top.
    append_ok(
        &relay,
        &signed(70, "message", &sample_payload("message", 1), 1),
    );
}

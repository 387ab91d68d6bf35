//! Native tests of the sync verifier on the shared interleaved chain
//! (`../shared/vectors/shadowbroker/sb-interleaved-chain.json`, written by Shadowbroker's own
//! code): the relay's public view (private events as redaction stubs) verifies to the vector's
//! head and Merkle root with the private events flagged sealed, resumes from stored texts, and
//! Shadowbroker's own clearnet view stops at its first unverifiable event with the reason.
use super::*;
use crate::model::explore::describe;
use postern_core::public_view::{leaks_private_material, STUB_FIELDS};

const NOW: u64 = 1_796_528_255;

#[path = "snapshot_tests.rs"]
mod snapshot;

fn vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    json::parse(&std::fs::read(path).expect("vector file")).expect("vector JSON")
}

fn meta_str(v: &Value, k: &str) -> String {
    v.get("meta")
        .and_then(|m| m.get(k))
        .and_then(Value::as_str)
        .expect("meta string")
        .to_string()
}

fn events(v: &Value) -> Vec<Value> {
    v.get("events")
        .and_then(Value::as_array)
        .expect("events")
        .to_vec()
}

/// Indices of the private events, from the vector's meta.
fn private_indices(v: &Value) -> Vec<u64> {
    let m = v
        .get("meta")
        .and_then(|m| m.get("private_event_indices"))
        .expect("private_event_indices");
    let mut out: Vec<u64> = ["gate_message", "dm_message"]
        .iter()
        .flat_map(|t| {
            m.get(t)
                .and_then(Value::as_array)
                .expect("indices")
                .to_vec()
        })
        .map(|i| i.py_int().and_then(|b| b.to_u64()).expect("index"))
        .collect();
    out.sort_unstable();
    out
}

/// What the relay serves a public reader: core's redaction of every private event.
fn public_view(v: &Value) -> Vec<Value> {
    events(v).iter().map(redact).collect()
}

/// A `/sync` answer body around `events`.
fn body(events: &[Value]) -> String {
    let items: Vec<String> = events.iter().map(Value::to_json_ordered).collect();
    format!(
        r#"{{"count":{},"protocol_version":"infonet/2","events":[{}]}}"#,
        events.len(),
        items.join(",")
    )
}

/// Page `events` through `v` in pages of `size`; returns every accepted summary.
fn sync(v: &mut Verifier, events: &[Value], size: usize) -> Vec<EventSummary> {
    let mut accepted = Vec::new();
    for (i, page) in events.chunks(size).enumerate() {
        let a = v.page(i as u32, &body(page), NOW);
        assert_eq!(a.error, None, "page {i}");
        assert_eq!(a.accepted.len(), page.len());
        accepted.extend(a.accepted);
    }
    accepted
}

#[test]
fn the_public_view_verifies_to_the_vectors_head_and_root_with_private_events_sealed() {
    let vec = vector();
    let view = public_view(&vec);
    assert_eq!(view.iter().filter(|e| is_stub(e)).count(), 80);
    let mut v = Verifier::new();
    // Shadowbroker's push batch size, so stubs fall on page boundaries too.
    let accepted = sync(&mut v, &view, 50);
    assert_eq!((v.len(), v.sealed()), (400, 80));
    assert_eq!(v.head(), meta_str(&vec, "head_hash"));
    assert_eq!(v.merkle_root(), meta_str(&vec, "merkle_root"));
    let root = v.handle(&ToWorker::root(99));
    assert_eq!(root.merkle_root, Some(meta_str(&vec, "merkle_root")));
    assert_eq!((root.verified, root.sealed), (400, 80));

    let sealed: Vec<u64> = accepted
        .iter()
        .filter(|s| s.sealed)
        .map(|s| s.index)
        .collect();
    assert_eq!(sealed, private_indices(&vec));
    for s in &accepted {
        assert_eq!(s.sealed, is_private_type(&s.event_type));
        let text = s
            .json
            .as_deref()
            .expect("page answers carry the text to store");
        let stored = json::parse(text.as_bytes()).expect("stored JSON");
        assert!(!leaks_private_material(&stored), "{text}");
        if s.sealed {
            assert!(is_stub(&stored));
            // Sealed entry: type, author node, time, event id; no payload.
            assert!(s.timestamp > 0.0 && !s.node_id.is_empty() && s.event_id.len() == 64);
            let d = describe(s.clone(), text).expect("describe");
            assert!(d.sealed && !d.hash_ok);
            let names: Vec<&str> = d.fields.iter().map(|(k, _)| *k).collect();
            assert_eq!(names, STUB_FIELDS);
            assert_eq!(d.fields[0].1, s.event_id);
        } else {
            assert_eq!(text, view[s.index as usize].to_json_ordered());
        }
    }
    // A public event's detail is the full event with its recomputed hash.
    let public = accepted.iter().find(|s| !s.sealed).expect("a public event");
    let d = describe(public.clone(), public.json.as_deref().unwrap_or_default()).expect("d");
    assert!(d.hash_ok && !d.sealed);
    assert!(d.fields.iter().any(|(k, _)| *k == "payload"));

    let badge = Badge::Checked {
        count: 400,
        sealed: 80,
        merkle: compare_merkle(&v.merkle_root(), 400, &meta_str(&vec, "merkle_root"), 400),
    };
    assert_eq!(badge.state(), "verified");
    assert!(badge
        .label()
        .contains("80 sealed private events, link-only"));
}

#[test]
fn a_reload_replays_the_stored_texts_and_resumes_at_the_stored_head() {
    let vec = vector();
    let view = public_view(&vec);
    let mut first = Verifier::new();
    // A first round stopped after 230 events (mid-way between two private events).
    let stored: Vec<String> = sync(&mut first, &view[..230], 100)
        .into_iter()
        .map(|s| s.json.unwrap_or_default())
        .collect();
    let (head, sealed) = (first.head().to_string(), first.sealed());

    // Reload: a fresh verifier (a new worker) replays what IndexedDB holds…
    let mut v = Verifier::new();
    let r = v.replay(1, &stored, NOW);
    assert_eq!((r.verified, r.sealed, r.error), (230, sealed, None));
    assert_eq!(r.head, head);
    assert!(r.accepted.iter().all(|s| s.json.is_none()));
    assert_eq!(
        r.accepted.iter().filter(|s| s.sealed).count() as u64,
        sealed
    );
    // …and the next page (after_hash = stored head) continues the chain.
    assert_eq!(view[230].get("prev_hash").map(Value::py_str), Some(head));
    sync(&mut v, &view[230..], 100);
    assert_eq!((v.len(), v.sealed()), (400, 80));
    assert_eq!(v.head(), meta_str(&vec, "head_hash"));
    assert_eq!(v.merkle_root(), meta_str(&vec, "merkle_root"));
    // Reset forgets the sealed count too.
    let z = v.handle(&ToWorker::reset(5));
    assert_eq!(
        (z.verified, z.sealed, z.head.as_str()),
        (0, 0, GENESIS_HASH)
    );
}

#[test]
fn a_full_private_event_served_publicly_is_verified_in_full_but_stored_as_its_stub() {
    let vec = vector();
    let full = events(&vec);
    let mut v = Verifier::new();
    let accepted = sync(&mut v, &full, PAGE_LIMIT);
    assert_eq!((v.len(), v.sealed()), (400, 80));
    assert_eq!(v.merkle_root(), meta_str(&vec, "merkle_root"));
    let stored: Vec<String> = accepted
        .iter()
        .map(|s| s.json.clone().unwrap_or_default())
        .collect();
    for (s, text) in accepted.iter().zip(&stored) {
        let value = json::parse(text.as_bytes()).expect("stored JSON");
        assert_eq!(s.sealed, is_stub(&value), "#{}", s.index);
        assert!(!leaks_private_material(&value));
    }
    // What was stored replays (stubs link-only) to the same chain.
    let mut again = Verifier::new();
    let r = again.replay(1, &stored, NOW);
    assert_eq!((r.verified, r.sealed, r.error), (400, 80, None));
    assert_eq!(again.merkle_root(), meta_str(&vec, "merkle_root"));
}

#[test]
fn shadowbrokers_clearnet_view_stops_at_its_first_unverifiable_event_with_the_reason() {
    let vec = vector();
    let served = vec
        .get("public_sync_view")
        .and_then(|p| p.get("events"))
        .and_then(Value::as_array)
        .expect("public_sync_view")
        .to_vec();
    // Redacted vote payloads: the verified prefix is kept, the reason says why.
    let mut v = Verifier::new();
    let a = v.page(1, &body(&served), NOW);
    assert_eq!((a.accepted.len(), a.verified), (2, 2));
    let e = a.error.expect("refused");
    assert_eq!(
        (e.index, e.incomplete),
        (2, Some(IncompleteReason::Redacted))
    );
    assert_eq!(
        e.event_id,
        served[2]
            .get("event_id")
            .map(Value::py_str)
            .unwrap_or_default()
    );
    let badge = Badge::Invalid(e);
    assert_eq!(badge.state(), "invalid");
    assert!(
        badge.label().contains("unverifiable view"),
        "{}",
        badge.label()
    );

    // Private events dropped (no redaction): the first gap stops it.
    let gapped: Vec<Value> = events(&vec)
        .into_iter()
        .filter(|e| {
            !e.get("event_type")
                .and_then(Value::as_str)
                .is_some_and(is_private_type)
        })
        .collect();
    let mut v = Verifier::new();
    let a = v.page(2, &body(&gapped), NOW);
    let first_private = private_indices(&vec)[0];
    assert_eq!(a.verified, first_private);
    let e = a.error.expect("gap");
    assert_eq!(
        (e.reason.as_str(), e.incomplete),
        ("prev_hash_mismatch", Some(IncompleteReason::Gap))
    );

    // A public event whose signature does not verify: core cannot tell a forgery from a
    // redacted payload and classifies it as redacted; the badge says signatures failed.
    let mut bad = public_view(&vec);
    bad.truncate(3);
    let mut forged = bad[2].to_json_ordered();
    let sig_at = forged.find("\"signature\":\"").expect("signature") + 13;
    let flipped = if &forged[sig_at..sig_at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(sig_at..sig_at + 1, flipped);
    bad[2] = json::parse(forged.as_bytes()).expect("forged JSON");
    let a = Verifier::new().page(3, &body(&bad), NOW);
    let e = a.error.expect("refused");
    assert_eq!((e.index, e.reason.as_str()), (2, "invalid_signature"));
    assert_eq!(e.incomplete, Some(IncompleteReason::Redacted));
    assert_eq!(Badge::Invalid(e).chain_checks().0, "failed");
}

#[test]
fn an_unknown_after_hash_page_is_flagged_and_the_locator_covers_the_copy() {
    let v = vector();
    let view = public_view(&v);
    let mut ver = Verifier::new();
    sync(&mut ver, &view[..40], 40);
    let head = ver.head().to_string();
    // The relay's empty answer for a head it does not hold: flagged, nothing accepted, the
    // copy untouched (never taken as "caught up").
    let page = format!(
        r#"{{"events":[],"after_hash":"{head}","count":0,"protocol_version":"infonet/2","unknown_after_hash":true}}"#
    );
    let a = ver.page(7, &page, NOW);
    assert!(a.unknown_after_hash);
    assert_eq!((a.received, a.verified, a.error), (0, 40, None));
    assert_eq!(a.head, head);
    // A hostile page that says so yet carries the next events (valid, linking to our head):
    // none of them is verified or accepted; only the flag counts.
    let hostile = format!(
        r#"{{"count":10,"protocol_version":"infonet/2","unknown_after_hash":true,"events":[{}]}}"#,
        view[40..50]
            .iter()
            .map(Value::to_json_ordered)
            .collect::<Vec<_>>()
            .join(",")
    );
    let a = ver.page(11, &hostile, NOW);
    assert!(a.unknown_after_hash);
    assert_eq!((a.received, a.verified, a.error), (0, 40, None));
    assert!(a.accepted.is_empty());
    assert_eq!(a.head, head);
    // The same page is an ordinary one without the flag (the events would be accepted).
    let mut other = Verifier::new();
    sync(&mut other, &view[..40], 40);
    assert_eq!(other.page(12, &body(&view[40..50]), NOW).accepted.len(), 10);
    // An ordinary empty page (at the head) is not.
    assert!(!ver.page(8, &body(&[]), NOW).unknown_after_hash);
    // The locator the resync sends: the copy's, head first, genesis last.
    let loc = ver.handle(&ToWorker::locator(9)).locator;
    let ids: Vec<String> = view[..40]
        .iter()
        .map(|e| e.get("event_id").map(Value::py_str).unwrap_or_default())
        .collect();
    assert_eq!(loc, build_locator(&ids, LOCATOR_LIMIT_DEFAULT));
    assert_eq!(loc.first(), Some(&head));
    assert_eq!(loc.last().map(String::as_str), Some(GENESIS_HASH));
    // It survives the worker's JSON round trip.
    let back: FromWorker = serde_json::from_str(
        &serde_json::to_string(&ver.handle(&ToWorker::locator(10))).expect("ser"),
    )
    .expect("de");
    assert_eq!(back.locator, loc);
}

#[test]
fn event_counts_read_as_words() {
    use crate::model::chain::events as words;
    assert_eq!(words(0), "0 events");
    assert_eq!(words(1), "1 event");
    assert_eq!(words(20_000), "20000 events");
}

/// A page verified on two workers (`Hold`, `Check` up to `split`, `Crypto` of the rest on a
/// second verifier, `Finish`) gives exactly the one-worker answer (apart from timing), valid or
/// forged.
#[test]
fn a_page_split_across_two_workers_answers_as_one_worker_does() {
    let vec = vector();
    let view = public_view(&vec);
    let mut forged = view.clone();
    let at = (0..forged.len())
        .rev()
        .find(|&i| forged[i].get("signature").is_some())
        .expect("a public event");
    let sig = forged[at - 1].get("signature").cloned();
    forged[at].insert("signature", sig.unwrap_or(Value::Null));
    for events in [&view, &forged] {
        let page = body(events);
        for split in [0, 1, events.len() as u64 / 2, events.len() as u64, 10_000] {
            let one = Verifier::new().page(1, &page, NOW);
            let (mut a, mut b) = (Verifier::new(), Verifier::new());
            let held = a.handle(&ToWorker::hold(1, page.clone(), NOW, false));
            assert_eq!((held.error, held.accepted.len()), (None, 0));
            assert_eq!(held.received, events.len() as u64);
            assert_eq!(a.handle(&ToWorker::check(2, split)).accepted.len(), 0);
            let half = b.handle(&ToWorker::crypto(2, page.clone(), split));
            assert_eq!(b.len(), 0, "the crypto worker keeps no chain");
            let two = a.handle(&ToWorker::finish(1, half.crypto));
            assert_eq!(
                two,
                FromWorker {
                    busy_ms: one.busy_ms,
                    ..one.clone()
                },
                "split {split}"
            );
        }
    }
    // A finish with nothing pending is refused.
    let a = Verifier::new().handle(&ToWorker::finish(4, None));
    assert_eq!(a.error.map(|e| e.reason), Some("bad_request".to_string()));
}

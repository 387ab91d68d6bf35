//! Browser tests of the chain sync view's pure parts (page ingest, replay, events/s meter,
//! badge, Merkle comparison, explorer filter) and its IndexedDB v5 `events` store.
#![cfg(target_arch = "wasm32")]

use postern_app::model::chain::SyncHead;
use postern_app::model::chain::{
    backoff_reason, compare_merkle, event_key, matches_filter, progress_fraction, Badge,
    EventSummary, MerkleCheck, RateMeter, Rejected, ToWorker, Verifier, PAGE_LIMIT,
};
use postern_app::platform::idb::{self as storage, Storage, DB_VERSION};
use postern_app::sync::explorer::describe;
use postern_core::canonical::GENESIS_HASH;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;
use postern_core::merkle::merkle_root;
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const NOW: u64 = 1_780_100_000;

fn chain(n: usize) -> Vec<ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            authors: 3,
            start_timestamp: 1_780_000_000,
            include_gate_messages: false,
        },
    )
}

/// A `/sync` answer body as the relay writes it (exact event JSON).
fn page_body(events: &[ChainEvent], after: &str) -> String {
    let items: Vec<String> = events
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    format!(
        r#"{{"after_hash":"{after}","count":{},"protocol_version":"infonet/2","events":[{}]}}"#,
        events.len(),
        items.join(",")
    )
}

#[wasm_bindgen_test]
fn pages_are_verified_in_order_and_merkle_root_matches_core() {
    let events = chain(PAGE_LIMIT + 40);
    let mut v = Verifier::new();
    let a = v.page(1, &page_body(&events[..PAGE_LIMIT], ""), NOW);
    assert_eq!(
        (a.id, a.verified, a.received, a.error.clone()),
        (1, PAGE_LIMIT as u64, PAGE_LIMIT as u64, None)
    );
    assert_eq!(a.head, events[PAGE_LIMIT - 1].event_id);
    assert_eq!(a.accepted[7].index, 7);
    assert_eq!(a.accepted[7].event_id, events[7].event_id);
    // The stored text is the exact event JSON and reads back to the same event.
    let text = a.accepted[7].json.clone().unwrap();
    assert_eq!(text, events[7].to_value().to_json_ordered());
    let b = v.page(2, &page_body(&events[PAGE_LIMIT..], &a.head), NOW);
    assert_eq!(
        (b.verified, b.accepted.len(), b.error),
        ((PAGE_LIMIT + 40) as u64, 40, None)
    );
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let root = v.handle(&ToWorker::root(3));
    assert_eq!(root.merkle_root, Some(merkle_root(&ids)));
    // Reset forgets everything.
    let r = v.handle(&ToWorker::reset(4));
    assert_eq!((r.verified, r.head.as_str()), (0, GENESIS_HASH));
}

#[wasm_bindgen_test]
fn a_bad_signature_or_a_broken_link_stops_the_page_at_that_event() {
    let mut events = chain(12);
    let good = events.clone();
    // Flip one signature character (still valid hex) of event 5.
    let sig = &mut events[5].signature;
    let last = if sig.ends_with('0') { "1" } else { "0" };
    sig.replace_range(sig.len() - 1.., last);
    let mut v = Verifier::new();
    let a = v.page(1, &page_body(&events, ""), NOW);
    assert_eq!(a.accepted.len(), 5);
    let e = a.error.unwrap();
    assert_eq!((e.index, e.reason.as_str()), (5, "invalid_signature"));
    assert_eq!(v.len(), 5);

    // A skipped event breaks the link.
    let mut v = Verifier::new();
    let mut skipped = good.clone();
    skipped.remove(3);
    let a = v.page(1, &page_body(&skipped, ""), NOW);
    assert_eq!(a.accepted.len(), 3);
    assert_eq!(a.error.unwrap().reason, "prev_hash_mismatch");

    // Not a sync page at all.
    let a = Verifier::new().page(9, "<html>", NOW);
    assert_eq!(a.error.unwrap().reason, "malformed_page");
    let a = Verifier::new().page(9, r#"{"count":0}"#, NOW);
    assert_eq!(a.error.unwrap().reason, "malformed_page");
}

#[wasm_bindgen_test]
fn replay_of_stored_texts_rebuilds_the_state() {
    let events = chain(30);
    let texts: Vec<String> = events
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    let mut v = Verifier::new();
    let a = v.replay(1, &texts[..20], NOW);
    assert_eq!((a.verified, a.error.clone()), (20, None));
    assert!(a.accepted.iter().all(|s| s.json.is_none()));
    let b = v.page(2, &page_body(&events[20..], &a.head), NOW);
    assert_eq!((b.verified, b.error), (30, None));
    // A corrupt stored record is reported after what precedes it was verified.
    let mut bad = texts.clone();
    bad[4] = "{not json".into();
    let c = Verifier::new().replay(3, &bad, NOW);
    assert_eq!(c.verified, 4);
    assert_eq!(c.error.unwrap().reason, "malformed_page");
}

#[wasm_bindgen_test]
fn rate_meter_progress_and_filters() {
    let mut m = RateMeter::start(1_000.0, 100);
    assert_eq!(m.per_second(), None);
    m.record(1_000.0, 600);
    assert_eq!(m.per_second(), None, "no time elapsed");
    m.record(3_000.0, 1_100);
    assert_eq!((m.events(), m.elapsed_ms()), (1_000, 2_000.0));
    assert_eq!(m.per_second(), Some(500.0));
    m.record(4_000.0, 50);
    assert_eq!(
        (m.events(), m.per_second()),
        (0, None),
        "a reset restarts the meter"
    );

    assert_eq!(progress_fraction(0, 0), 1.0);
    assert_eq!(progress_fraction(2_500, 10_000), 0.25);
    assert_eq!(progress_fraction(11, 10), 1.0);

    let e = EventSummary {
        index: 3,
        event_id: "e".into(),
        event_type: "vote".into(),
        node_id: "!sb_abcdef".into(),
        timestamp: 1.0,
        sequence: "2".into(),
        sealed: false,
        json: None,
    };
    assert!(matches_filter(&e, "", ""));
    assert!(matches_filter(&e, "vote", " abc "));
    assert!(!matches_filter(&e, "message", ""));
    assert!(!matches_filter(&e, "", "zzz"));
    assert!(event_key(9) < event_key(10));
    assert_eq!(event_key(42), "000000000042");
}

#[wasm_bindgen_test]
fn badge_states_and_merkle_comparison() {
    assert_eq!(
        compare_merkle("r", 5, "r", 5),
        MerkleCheck::Match {
            root: "r".into(),
            count: 5
        }
    );
    assert!(matches!(
        compare_merkle("r", 5, "x", 5),
        MerkleCheck::Mismatch { .. }
    ));
    assert_eq!(
        compare_merkle("r", 5, "x", 6),
        MerkleCheck::Stale {
            local_count: 5,
            relay_count: 6
        }
    );

    let ok = Badge::Checked {
        count: 5,
        sealed: 0,
        merkle: compare_merkle("r", 5, "r", 5),
    };
    assert_eq!(
        (ok.state(), ok.chain_checks(), ok.merkle_state()),
        ("verified", ("ok", "ok"), "match")
    );
    let bad = Badge::Checked {
        count: 5,
        sealed: 0,
        merkle: compare_merkle("r", 5, "x", 5),
    };
    assert_eq!((bad.state(), bad.merkle_state()), ("mismatch", "mismatch"));
    assert!(bad.label().contains("MISMATCH"));
    let stale = Badge::Checked {
        count: 5,
        sealed: 0,
        merkle: compare_merkle("r", 5, "x", 9),
    };
    assert_eq!(
        (stale.state(), stale.merkle_state()),
        ("partial", "pending")
    );
    let rej = |reason: &str| Rejected {
        index: 7,
        event_id: "e".into(),
        reason: reason.into(),
        detail: "d".into(),
        incomplete: None,
    };
    assert_eq!(
        Badge::Invalid(rej("invalid_signature")).chain_checks(),
        ("failed", "ok")
    );
    assert_eq!(
        Badge::Invalid(rej("prev_hash_mismatch")).chain_checks(),
        ("ok", "failed")
    );
    assert_eq!(Badge::Invalid(rej("invalid_signature")).state(), "invalid");
    assert_eq!(Badge::Unverified.chain_checks(), ("pending", "pending"));
    assert_eq!(Badge::Verifying.state(), "verifying");

    let r = backoff_reason(Some(429), 30, "rate_limited: slow down");
    assert!(r.contains("429") && r.contains("Retry-After 30 s"), "{r}");
    assert!(backoff_reason(Some(404), 0, "unknown_after_hash").contains("404"));
}

#[wasm_bindgen_test]
fn explorer_detail_recomputes_the_hash() {
    let events = chain(2);
    let text = events[1].to_value().to_json_ordered();
    let s = EventSummary {
        index: 1,
        event_id: events[1].event_id.clone(),
        event_type: events[1].event_type.clone(),
        node_id: events[1].node_id.clone(),
        timestamp: 0.0,
        sequence: "1".into(),
        sealed: false,
        json: None,
    };
    let d = describe(s.clone(), &text).unwrap();
    assert!(d.hash_ok);
    assert!(d
        .fields
        .iter()
        .any(|(k, v)| *k == "prev_hash" && *v == events[0].event_id));
    let tampered = text.replacen(&events[1].node_id, "!sb_00000000000000000000", 1);
    assert!(!describe(s.clone(), &tampered)
        .map(|d| d.hash_ok)
        .unwrap_or(false));
    assert!(describe(s, "[]").is_err());
}

#[wasm_bindgen_test]
async fn events_store_batches_pages_and_upgrades_from_v3() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    const { assert!(DB_VERSION >= 5) };
    let name = format!(
        "postern-sync-test-{}",
        postern_core::dm::new_msg_id(&mut OsRng)
    );
    // A v3 database with a record in `meta`.
    let v3 = Database::open(name.as_str())
        .with_version(3u32)
        .with_on_upgrade_needed(|_e, db| {
            for s in [
                "meta",
                "contacts",
                "messages",
                "outbox",
                "gates",
                "gate_epochs",
                "gate_messages",
            ] {
                db.create_object_store(s).build()?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let tx = v3
        .transaction("meta")
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    tx.object_store("meta")
        .unwrap()
        .put("postern-secret1.kept".to_string())
        .with_key("identity_secret".to_string())
        .primitive()
        .unwrap();
    tx.commit().await.unwrap();
    v3.close();

    let db = Storage::open(&name).await.unwrap();
    assert_eq!(
        db.load_identity_secret()
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("postern-secret1.kept")
    );
    assert_eq!(db.sync_head().await.unwrap(), SyncHead::default());
    let rows = |from: u64, n: u64| -> String {
        let texts: Vec<String> = (from..from + n).map(|i| format!("{{\"i\":{i}}}")).collect();
        postern_app::model::chain::pages::encode(&texts)
    };
    let head = SyncHead {
        count: 12,
        head: "h12".into(),
        ..Default::default()
    };
    db.append_page(0, &rows(0, 12), &head).await.unwrap();
    let head2 = SyncHead {
        count: 15,
        head: "h15".into(),
        ..Default::default()
    };
    db.append_page(12, &rows(12, 3), &head2).await.unwrap();
    let texts = db.event_texts().await.unwrap();
    assert_eq!(texts.len(), 15);
    assert_eq!(texts[10], "{\"i\":10}", "key order is chain order");
    assert_eq!(db.sync_head().await.unwrap(), head2);
    assert_eq!(
        db.event_text(14).await.unwrap().as_deref(),
        Some("{\"i\":14}")
    );
    // A container of more texts than a page record holds is stored as several records.
    let head3 = SyncHead {
        count: 1_115,
        head: "h1115".into(),
        ..Default::default()
    };
    db.append_page(15, &rows(15, 1_100), &head3).await.unwrap();
    assert_eq!(db.event_texts().await.unwrap().len(), 1_115);
    assert_eq!(
        db.event_texts_range(1_000, 1_002).await.unwrap(),
        vec!["{\"i\":1000}".to_string(), "{\"i\":1001}".to_string()]
    );
    db.clear_events().await.unwrap();
    assert!(db.event_texts().await.unwrap().is_empty());
    assert_eq!(db.sync_head().await.unwrap(), SyncHead::default());
    assert_eq!(
        db.load_identity_secret()
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some("postern-secret1.kept")
    );
    db.close();
    storage::delete_database(&name).await.unwrap();
}

//! Browser tests of the chain verifier's stored snapshot (`platform::idb::chain_snapshot`):
//! sealed beside the events, outside every event key range, dropped with the events it may
//! cover, and a verifier restored from the stored record continues the chain.
#![cfg(target_arch = "wasm32")]

use postern_app::model::chain::pages;
use postern_app::model::chain::snapshot::{plan, read_meta, ResumePlan};
use postern_app::model::chain::{SyncHead, ToWorker, Verifier};
use postern_app::platform::idb::{self as storage, Storage};
use postern_core::chaingen::{generate_chain, GenOptions};
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const NOW: u64 = 1_780_100_000;

fn page_body(texts: &[String]) -> String {
    format!(
        r#"{{"count":{},"protocol_version":"infonet/2","events":[{}]}}"#,
        texts.len(),
        texts.join(",")
    )
}

#[wasm_bindgen_test]
async fn the_snapshot_is_stored_sealed_beside_the_events_and_restores_the_verifier() {
    let name = format!(
        "postern-resume-test-{}",
        postern_core::dm::new_msg_id(&mut OsRng)
    );
    let db = Storage::open(&name).await.unwrap();
    let texts: Vec<String> = generate_chain(
        60,
        GenOptions {
            authors: 3,
            start_timestamp: 1_780_000_000,
            include_gate_messages: false,
        },
    )
    .iter()
    .map(|e| e.to_value().to_json_ordered())
    .collect();
    let mut v = Verifier::new();
    let ans = v.page(1, &page_body(&texts[..40]), NOW);
    assert_eq!((ans.error, ans.verified), (None, 40));
    let rows: Vec<&str> = ans
        .accepted
        .iter()
        .map(|e| e.json.as_deref().unwrap())
        .collect();
    let cursor = SyncHead {
        count: 40,
        head: ans.head.clone(),
        ..Default::default()
    };
    db.append_page(0, &pages::encode(&rows), &cursor)
        .await
        .unwrap();
    assert_eq!(db.chain_snapshot().await.unwrap(), None);
    let record = v.handle(&ToWorker::snapshot(2)).snapshot.unwrap();
    db.put_chain_snapshot(record.clone()).await.unwrap();

    // Stored sealed; read back whole; never among the event texts or ranges.
    let raw = db.opened_records(storage::STORE_EVENTS).await.unwrap();
    assert_eq!(raw.len(), 41);
    assert_eq!(raw[0].0, "#chain_snapshot");
    let back = db.chain_snapshot().await.unwrap().unwrap();
    assert_eq!(back.as_str(), record);
    assert_eq!(db.event_texts().await.unwrap().len(), 40);
    assert_eq!(db.event_texts_from(0).await.unwrap().len(), 40);
    let range = db.event_texts_range(10, 25).await.unwrap();
    assert_eq!(range, texts[10..25].to_vec());
    assert!(db.event_texts_range(25, 25).await.unwrap().is_empty());
    assert_eq!(db.event_texts_range(30, 99).await.unwrap().len(), 10);

    // The page's plan with what is stored: restore at 40; the worker continues the chain.
    let meta = read_meta(&back).unwrap();
    let at = db.event_text(meta.count - 1).await.unwrap();
    assert_eq!(
        plan(Ok(Some(meta)), &cursor, |_| at),
        ResumePlan::Restore { from: 40 }
    );
    let mut r = Verifier::new();
    let restored = r.handle(&ToWorker::restore(3, back.to_string()));
    assert_eq!((restored.error, restored.verified), (None, 40));
    let next = r.page(4, &page_body(&texts[40..]), NOW);
    assert_eq!((next.error, next.verified), (None, 60));

    // Cut back (a fork heal followed) or cleared: the snapshot goes with the events.
    let cut = SyncHead {
        count: 30,
        head: "h30".into(),
        ..Default::default()
    };
    // A record over 256 KiB is stored in parts (each sealed on its own) and read back whole;
    // a shorter one replaces every part.
    let long = format!("{record}{}", "x".repeat(1_200_000));
    db.put_chain_snapshot(long.clone()).await.unwrap();
    let keys: Vec<String> = db
        .opened_records(storage::STORE_EVENTS)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys[0], "#chain_snapshot");
    assert_eq!(db.chain_snapshot().await.unwrap().unwrap().as_str(), long);
    db.put_chain_snapshot(record.clone()).await.unwrap();
    assert_eq!(db.chain_snapshot().await.unwrap().unwrap().as_str(), record);
    db.put_chain_snapshot(long).await.unwrap();
    db.truncate_events(&cut).await.unwrap();
    assert_eq!(db.chain_snapshot().await.unwrap(), None);
    assert_eq!(db.event_texts().await.unwrap().len(), 30);
    db.put_chain_snapshot(record.clone()).await.unwrap();
    // No part of the long record was left behind by the cut.
    assert_eq!(db.chain_snapshot().await.unwrap().unwrap().as_str(), record);
    db.clear_events().await.unwrap();
    assert_eq!(db.chain_snapshot().await.unwrap(), None);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

//! Browser tests of the chain verifier's stored snapshot (`platform::idb::chain_snapshot`):
//! sealed beside the events, outside every event key range, dropped with the events it may
//! cover, and a verifier restored from the stored record continues the chain.
#![cfg(target_arch = "wasm32")]

use postern_app::model::chain::pages;
use postern_app::model::chain::segments::SEGMENT_IDS;
use postern_app::model::chain::snapshot::{
    plan, read_meta, ResumePlan, SnapshotMeta, RECORD_VERSION,
};
use postern_app::model::chain::{SyncHead, ToWorker, Verifier};
use postern_app::platform::idb::{self as storage, Storage};
use postern_core::chaingen::{generate_chain, GenOptions};
use rand_core::OsRng;
use wasm_bindgen_test::*;

mod support;

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
    let record = v.handle(&ToWorker::snapshot(2, 0)).snapshot.unwrap();
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
    // A record of the older layout over 256 KiB is stored in parts (each sealed on its own)
    // and read back whole; a record of the current layout replaces every part.
    let long = format!(
        "{}\n{{\"state\":\"{}\"}}",
        r#"{"v":1,"count":3,"head":"h","sealed":0}"#,
        "x".repeat(1_200_000)
    );
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
    assert_eq!(db.snapshot_ids_stored(), 0);
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

/// A layout-2 record of `count` made-up ids carrying those from `from` (the state a stand-in:
/// storage never reads it).
fn fake_record(count: u64, from: u64) -> String {
    let meta = SnapshotMeta {
        v: RECORD_VERSION,
        count,
        head: "h".into(),
        sealed: 0,
    };
    let ids: Vec<u8> = (from..count)
        .flat_map(|i| {
            let mut id = [7u8; 32];
            id[..8].copy_from_slice(&i.to_le_bytes());
            id
        })
        .collect();
    format!(
        "{}\nSTATE\n{from}:{}",
        serde_json::to_string(&meta).unwrap(),
        postern_core::b64::encode_std(&ids)
    )
}

#[wasm_bindgen_test]
async fn snapshots_are_stored_in_id_segments_each_written_once() {
    let name = format!(
        "postern-segments-test-{}",
        postern_core::dm::new_msg_id(&mut OsRng)
    );
    let db = Storage::open(&name).await.unwrap();
    let keys = || async {
        db.opened_records(storage::STORE_EVENTS)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<String>>()
    };
    let seg = SEGMENT_IDS;
    // A first record carries every id: its head and three segments (two full).
    db.put_chain_snapshot(fake_record(2 * seg + 712, 0))
        .await
        .unwrap();
    assert_eq!(db.snapshot_ids_stored(), 2 * seg);
    let whole = db.chain_snapshot().await.unwrap().unwrap();
    assert_eq!(whole.as_str(), fake_record(2 * seg + 712, 0));
    assert_eq!(read_meta(&whole).unwrap().count, 2 * seg + 712);
    // The next carries only the ids from the first segment not full: read back whole.
    let sealed_before = raw_values(&name).await;
    db.put_chain_snapshot(fake_record(3 * seg + 5, 2 * seg))
        .await
        .unwrap();
    assert_eq!(db.snapshot_ids_stored(), 3 * seg);
    assert_eq!(
        db.chain_snapshot().await.unwrap().unwrap().as_str(),
        fake_record(3 * seg + 5, 0)
    );
    // The two full segments were not written again (same sealed bytes: same nonce).
    let sealed_after = raw_values(&name).await;
    assert_eq!(sealed_after[1..3], sealed_before[1..3]);
    assert_ne!(sealed_after[0], sealed_before[0]);
    // A record whose ids start above what is stored is refused, and then only a whole
    // record is taken.
    assert!(db
        .put_chain_snapshot(fake_record(5 * seg, 4 * seg))
        .await
        .is_err());
    assert_eq!(db.snapshot_ids_stored(), 0);
    assert!(db
        .put_chain_snapshot(fake_record(5 * seg, 3 * seg))
        .await
        .is_err());
    assert_eq!(
        db.chain_snapshot().await.unwrap().unwrap().as_str(),
        fake_record(3 * seg + 5, 0),
        "a refused record leaves the stored one as it was"
    );
    db.put_chain_snapshot(fake_record(seg + 1, 0))
        .await
        .unwrap();
    assert_eq!(
        raw_values(&name).await.len(),
        1 + 2,
        "the segments above were dropped"
    );
    assert_eq!(
        db.chain_snapshot().await.unwrap().unwrap().as_str(),
        fake_record(seg + 1, 0)
    );
    // A restored record's full segments are built on.
    db.snapshot_restored(&read_meta(&fake_record(seg + 1, 0)).unwrap());
    assert_eq!(db.snapshot_ids_stored(), seg);
    db.put_chain_snapshot(fake_record(seg + 9, seg))
        .await
        .unwrap();
    assert_eq!(
        db.chain_snapshot().await.unwrap().unwrap().as_str(),
        fake_record(seg + 9, 0)
    );
    // Another tab cut the stored chain (every piece deleted) after this one stored its
    // segments: a record built on them is refused, nothing is written, and then only a whole
    // record is taken.
    raw_delete_snapshot(&name).await;
    assert_eq!(db.snapshot_ids_stored(), seg);
    assert!(db
        .put_chain_snapshot(fake_record(seg + 20, seg))
        .await
        .is_err());
    assert_eq!(db.snapshot_ids_stored(), 0);
    assert_eq!(db.chain_snapshot().await.unwrap(), None);
    db.put_chain_snapshot(fake_record(seg + 20, 0))
        .await
        .unwrap();
    assert_eq!(
        db.chain_snapshot().await.unwrap().unwrap().as_str(),
        fake_record(seg + 20, 0)
    );
    // Cut: every segment goes with the head, and nothing is built on any more.
    db.truncate_events(&SyncHead::default()).await.unwrap();
    assert_eq!(db.chain_snapshot().await.unwrap(), None);
    assert_eq!(db.snapshot_ids_stored(), 0);
    assert!(keys().await.is_empty());
    assert!(raw_values(&name).await.is_empty());
    db.close();
    storage::delete_database(&name).await.unwrap();
}

/// The sealed values of the snapshot's head and segments as stored, in key order (read over a
/// second connection to the database `name`): bytes (the byte form of a sealed record).
async fn raw_values(name: &str) -> Vec<Vec<u8>> {
    use wasm_bindgen::JsCast;
    let range = ("#chain_snapshot".to_string().."#chain_snapshot0".to_string()).into();
    support::stored_values(name, storage::STORE_EVENTS, range)
        .await
        .iter()
        .map(|v| {
            let bytes = v.dyn_ref::<js_sys::Uint8Array>().expect("stored as bytes");
            let bytes = bytes.to_vec();
            assert!(bytes.starts_with(postern_core::vault::RECORD_BYTES_PREFIX));
            bytes
        })
        .collect()
}

/// Delete every piece of the stored snapshot over a second connection (as another tab's cut).
async fn raw_delete_snapshot(name: &str) {
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    use indexed_db_futures::KeyRange;
    let db = indexed_db_futures::database::Database::open(name)
        .await
        .unwrap();
    let tx = db
        .transaction(storage::STORE_EVENTS)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let st = tx.object_store(storage::STORE_EVENTS).unwrap();
    let range: KeyRange<String> =
        ("#chain_snapshot".to_string().."#chain_snapshot0".to_string()).into();
    st.delete::<String, _>(range).primitive().unwrap();
    tx.commit().await.unwrap();
    db.close();
}

//! Browser tests: records of the synced chain sealed in the text form by older builds (page
//! records, a snapshot record) still open next to the byte form this build writes, and a cut
//! through an old page rewrites it in the byte form.
use wasm_bindgen_test::*;

use super::*;
use crate::model::chain::pages;

wasm_bindgen_test_configure!(run_in_browser);

/// Put `value` at `key` in the events store as it is (as an older build wrote it).
async fn put_raw(db: &Storage, key: &str, value: JsValue) {
    let tx = db.write_tx(STORE_EVENTS).unwrap();
    let st = tx.object_store(STORE_EVENTS).unwrap();
    st.put(value).with_key(key.to_string()).primitive().unwrap();
    tx.commit().await.unwrap();
}

fn texts(from: u64, n: u64) -> Vec<String> {
    (from..from + n)
        .map(|i| format!("{{\"event_id\":\"{i:064x}\",\"n\":{i}}}"))
        .collect()
}

#[wasm_bindgen_test]
async fn text_sealed_records_of_older_builds_open_beside_the_byte_form() {
    let name = format!(
        "postern-compat-test-{}",
        postern_core::dm::new_msg_id(&mut OsRng)
    );
    let db = Storage::open(&name).await.unwrap();
    // An older build's page record: 3 events, sealed as text.
    let old = texts(0, 3);
    let key = pages::page_key(0);
    let sealed = db.seal(STORE_EVENTS, &key, &pages::encode(&old));
    put_raw(&db, &key, JsValue::from_str(&sealed)).await;
    let head = |count: u64| crate::model::chain::SyncHead {
        count,
        head: format!("{:064x}", count - 1),
        ..Default::default()
    };
    // This build appends a page after it (byte form) and reads both back.
    let new = texts(3, 2);
    db.append_page(3, &pages::encode(&new), &head(5))
        .await
        .unwrap();
    assert_eq!(db.event_texts().await.unwrap(), [old.clone(), new].concat());
    assert_eq!(db.event_texts_range(1, 4).await.unwrap(), texts(1, 3));
    // A cut inside the old page rewrites its prefix in the byte form.
    db.truncate_events(&head(2)).await.unwrap();
    assert_eq!(db.event_texts().await.unwrap(), texts(0, 2));
    let tx = db.db.transaction(STORE_EVENTS).build().unwrap();
    let st = tx.object_store(STORE_EVENTS).unwrap();
    let (_, values) = raw_keys_and_stored(&st, (key.clone()..).into())
        .await
        .unwrap();
    drop(tx);
    assert!(values[0].is_instance_of::<js_sys::Uint8Array>());
    // An older build's snapshot record (one text-sealed record) still reads.
    let record = "{\"v\":1,\"count\":2,\"head\":\"h\",\"sealed\":0}\n{\"state\":\"\"}";
    let sealed = db.seal(STORE_EVENTS, "#chain_snapshot", record);
    put_raw(&db, "#chain_snapshot", JsValue::from_str(&sealed)).await;
    assert_eq!(db.chain_snapshot().await.unwrap().unwrap().as_str(), record);
    // Bytes under the wrong key, or a value that is neither text nor bytes: a typed error.
    let moved = db.seal_bytes(STORE_EVENTS, &pages::page_key(500), "x");
    put_raw(&db, &pages::page_key(0), moved).await;
    assert!(db.event_texts().await.is_err());
    put_raw(&db, &pages::page_key(0), JsValue::from_f64(1.0)).await;
    assert!(db.event_texts().await.is_err());
    db.close();
    delete_database(&name).await.unwrap();
}

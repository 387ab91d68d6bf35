//! Shared by the browser tests: what a database holds on disk, read over a second connection
//! (what a disk scan, or another tab, would see).
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use wasm_bindgen::JsValue;

/// The values of `store` in database `name` with keys in `range`, in key order, as stored.
pub async fn stored_values(name: &str, store: &str, range: KeyRange<String>) -> Vec<JsValue> {
    let db = Database::open(name).await.unwrap();
    let tx = db.transaction(store).build().unwrap();
    let values: Vec<JsValue> = tx
        .object_store(store)
        .unwrap()
        .get_all::<JsValue>()
        .with_query::<String, _>(range)
        .primitive()
        .unwrap()
        .await
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(tx);
    db.close();
    values
}

//! IndexedDB record of the chain verifier's snapshot (`model::chain::snapshot`), sealed under
//! the store key like every record.
//!
//! The record lives in the `events` store under a key that sorts before every event key
//! (`#…` < `p…`), so it is dropped with the events (`clear_events`, `truncate_events`), is not
//! in the `meta` scans other views run every few seconds, and never falls in a page range.
//! A record longer than [`PART_MAX`] is stored in parts (`model::chain::snapshot::parts`):
//! the first under the key, the others under `#chain_snapshot/0001`, … each sealed on its own
//! in its own main-thread task (a 100k-event record is ≈ 4.3 MB: sealed in one go it was the
//! page's longest task, issue 16), all written in one transaction; read back in key order.
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use zeroize::Zeroizing;

use super::{corrupt, io, raw_keys_and_values, Storage, StorageError, STORE_EVENTS};
use crate::model::chain::snapshot::parts;
use crate::platform::clock::next_task;

/// Key of the snapshot record (its first part) in the `events` store.
pub(super) const KEY_CHAIN_SNAPSHOT: &str = "#chain_snapshot";
/// Exclusive end of the keys of every part (`/` < `0`).
const KEY_PARTS_END: &str = "#chain_snapshot0";
/// Most bytes of the record sealed as one part (256 KiB: sealing one is ≈ 15–45 ms of the page
/// thread; 512 KiB parts were 33–95 ms tasks at load 6–9, issue 16).
const PART_MAX: usize = 256 * 1024;

fn part_key(i: usize) -> String {
    match i {
        0 => KEY_CHAIN_SNAPSHOT.to_string(),
        _ => format!("{KEY_CHAIN_SNAPSHOT}/{i:04}"),
    }
}

/// The keys of every part of the snapshot record (the first included).
pub(super) fn snapshot_keys() -> KeyRange<String> {
    (KEY_CHAIN_SNAPSHOT.to_string()..KEY_PARTS_END.to_string()).into()
}

impl Storage {
    /// The stored snapshot record, opened (`None`: none; an error: it did not open). Each
    /// part is opened in its own task.
    pub async fn chain_snapshot(&self) -> Result<Option<Zeroizing<String>>, StorageError> {
        let tx = self.db.transaction(STORE_EVENTS).build().map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        let (keys, values) = raw_keys_and_values(&st, snapshot_keys()).await?;
        drop(tx);
        if keys.first().map(String::as_str) != Some(KEY_CHAIN_SNAPSHOT) {
            return Ok(None);
        }
        if keys.len() != values.len() || keys.iter().enumerate().any(|(i, k)| *k != part_key(i)) {
            return Err(corrupt("events: snapshot parts do not follow each other"));
        }
        let mut record = Zeroizing::new(String::new());
        for (i, (k, v)) in keys.iter().zip(&values).enumerate() {
            if i > 0 {
                next_task().await;
            }
            record.push_str(&self.open_sealed(STORE_EVENTS, k, v)?);
        }
        Ok(Some(record))
    }

    /// Store a snapshot record (replacing the previous one and all its parts). Callers write
    /// it only after the events it covers committed.
    pub async fn put_chain_snapshot(&self, record: String) -> Result<(), StorageError> {
        let mut sealed = Vec::new();
        for (i, part) in parts(&record, PART_MAX).into_iter().enumerate() {
            // Every part in a task of its own, the first too (not after the caller's work).
            next_task().await;
            let key = part_key(i);
            let value = self.seal(STORE_EVENTS, &key, part);
            sealed.push((key, value));
        }
        let tx = self.write_tx(STORE_EVENTS)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        st.delete::<String, _>(snapshot_keys())
            .primitive()
            .map_err(io)?;
        for (key, value) in sealed {
            st.put(value).with_key(key).primitive().map_err(io)?;
        }
        tx.commit().await.map_err(io)
    }
}

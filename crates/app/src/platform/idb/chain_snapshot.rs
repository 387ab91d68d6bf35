//! IndexedDB record of the chain verifier's snapshot (`model::chain::snapshot`), sealed under
//! the store key like every record, and reads of the stored events in bounded key ranges.
//!
//! The record lives in the `events` store under a key that sorts before every event key
//! (`#…` < `0…`), so it is dropped with the events (`clear_events`, `truncate_events`), is not
//! in the `meta` scans other views run every few seconds, and never falls in an event range.
use indexed_db_futures::prelude::*;
use zeroize::Zeroizing;

use super::{corrupt, io, Storage, StorageError, STORE_EVENTS};
use crate::model::chain::event_key;

/// Key of the snapshot record in the `events` store.
pub(super) const KEY_CHAIN_SNAPSHOT: &str = "#chain_snapshot";

impl Storage {
    /// The stored snapshot record, opened (`None`: none; an error: it did not open).
    pub async fn chain_snapshot(&self) -> Result<Option<Zeroizing<String>>, StorageError> {
        self.get_string(STORE_EVENTS, KEY_CHAIN_SNAPSHOT).await
    }

    /// Store a snapshot record (replacing the previous one). Callers write it only after the
    /// events it covers committed.
    pub async fn put_chain_snapshot(&self, record: String) -> Result<(), StorageError> {
        self.write_string(STORE_EVENTS, KEY_CHAIN_SNAPSHOT, record, true)
            .await
    }

    /// The stored event texts with index in `start..end`, in chain order (one bounded read).
    pub async fn event_texts_range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<String>, StorageError> {
        if end <= start {
            return Ok(Vec::new());
        }
        let tx = self.db.transaction(STORE_EVENTS).build().map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        let range = || event_key(start)..event_key(end);
        let keys: Vec<String> = st
            .get_all_keys::<String>()
            .with_query::<String, _>(range())
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        let values: Vec<String> = st
            .get_all::<String>()
            .with_query::<String, _>(range())
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        drop(tx);
        if keys.len() != values.len() {
            return Err(corrupt(format!("{STORE_EVENTS}: keys and values differ")));
        }
        keys.iter()
            .zip(values)
            .map(|(k, v)| Ok(self.open_sealed(STORE_EVENTS, k, &v)?.to_string()))
            .collect()
    }
}

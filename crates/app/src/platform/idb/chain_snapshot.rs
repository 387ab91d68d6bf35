//! IndexedDB record of the chain verifier's snapshot (`model::chain::snapshot`), sealed under
//! the store key like every record, and reads of the stored events in bounded key ranges.
//!
//! The record lives in the `events` store under a key that sorts before every event key
//! (`#…` < `0…`), so it is dropped with the events (`clear_events`, `truncate_events`), is not
//! in the `meta` scans other views run every few seconds, and never falls in an event range.
use zeroize::Zeroizing;

use super::{Storage, StorageError, STORE_EVENTS};
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
        Ok(self
            .get_pairs_in(STORE_EVENTS, (event_key(start)..event_key(end)).into())
            .await?
            .into_iter()
            .map(|(_, z)| z.to_string())
            .collect())
    }
}

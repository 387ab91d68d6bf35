//! IndexedDB record of the chain verifier's snapshot (`model::chain::snapshot`), sealed under
//! the store key like every record.
//!
//! The record lives in the `events` store under a key that sorts before every event key
//! (`#…` < `p…`), so it is dropped with the events (`clear_events`, `truncate_events`), is not
//! in the `meta` scans other views run every few seconds, and never falls in a page range.
use zeroize::Zeroizing;

use super::{Storage, StorageError, STORE_EVENTS};

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
}

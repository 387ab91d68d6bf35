//! IndexedDB records of the synced Infonet chain: the events (v5 store) and the sync cursor,
//! written together in one transaction per verified page.
use gloo_timers::future::TimeoutFuture;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;

use super::chain_snapshot::KEY_CHAIN_SNAPSHOT;
use super::{io, Storage, StorageError};
use super::{KEY_SYNC_HEAD, STORE_EVENTS, STORE_META};
use crate::model::chain::{event_key, SyncHead};

/// Events sealed (and put) per main-thread task when a verified page is stored.
const WRITE_CHUNK: usize = 100;

impl Storage {
    /// The chain sync cursor (default: nothing stored).
    pub async fn sync_head(&self) -> Result<SyncHead, StorageError> {
        match self.get_string(STORE_META, KEY_SYNC_HEAD).await? {
            Some(s) => serde_json::from_str(&s).map_err(|e| StorageError::Corrupt(e.to_string())),
            None => Ok(SyncHead::default()),
        }
    }

    /// Save only the scheduler part of the cursor (no events).
    pub async fn put_sync_head(&self, head: &SyncHead) -> Result<(), StorageError> {
        let json = serde_json::to_string(head).map_err(io)?;
        self.write_string(STORE_META, KEY_SYNC_HEAD, json, true)
            .await
    }

    /// Append one verified page: every `(key, exact JSON)` and the new cursor in ONE
    /// read-write transaction. The records are sealed before the transaction opens, in chunks
    /// of [`WRITE_CHUNK`] with the page thread yielding between chunks; in the transaction the
    /// puts go out in chunks too, each chunk issued once the previous one's last request
    /// succeeded (so no single task seals or puts a whole page: no long main-thread task).
    pub async fn append_events(
        &self,
        events: &[(String, String)],
        head: &SyncHead,
    ) -> Result<(), StorageError> {
        let head_json = serde_json::to_string(head).map_err(io)?;
        // Sealed like every record (public data, but one rule for the whole database), before
        // the transaction opens.
        let head_json = self.seal(STORE_META, KEY_SYNC_HEAD, &head_json);
        let mut sealed: Vec<(&str, String)> = Vec::with_capacity(events.len());
        for chunk in events.chunks(WRITE_CHUNK) {
            if !sealed.is_empty() {
                TimeoutFuture::new(0).await;
            }
            sealed.extend(
                chunk
                    .iter()
                    .map(|(k, v)| (k.as_str(), self.seal(STORE_EVENTS, k, v))),
            );
        }
        let tx = self
            .db
            .transaction([STORE_EVENTS, STORE_META])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        for chunk in sealed.chunks(WRITE_CHUNK) {
            let mut last = None;
            for (key, json) in chunk {
                last = Some(
                    st.put(json.as_str())
                        .with_key(*key)
                        .primitive()
                        .map_err(io)?,
                );
            }
            // The transaction stays active: the next chunk is issued from this request's
            // success callback (the future resumes in its microtask checkpoint).
            if let Some(request) = last {
                request.await.map_err(io)?;
            }
        }
        let meta = tx.object_store(STORE_META).map_err(io)?;
        meta.put(head_json)
            .with_key(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }

    /// Every stored event text in chain order (keys are zero-padded indexes).
    pub async fn event_texts(&self) -> Result<Vec<String>, StorageError> {
        // getAll returns records in key order; from the first event key on (the verifier's
        // snapshot record sorts before it).
        Ok(self
            .get_pairs_from(STORE_EVENTS, &event_key(0))
            .await?
            .into_iter()
            .map(|(_, z)| z.to_string())
            .collect())
    }

    /// The stored event texts from index `start` on, in chain order.
    pub async fn event_texts_from(&self, start: u64) -> Result<Vec<String>, StorageError> {
        Ok(self
            .get_pairs_from(STORE_EVENTS, &event_key(start))
            .await?
            .into_iter()
            .map(|(_, z)| z.to_string())
            .collect())
    }

    /// One stored event text.
    pub async fn event_text(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .get_string(STORE_EVENTS, key)
            .await?
            .map(|z| z.to_string()))
    }

    /// Cut the stored chain back to `head.count` events (a fork heal followed): delete the
    /// events from there up to `stored` (the count before) and write the new cursor, in ONE
    /// transaction.
    pub async fn truncate_events(&self, stored: u64, head: &SyncHead) -> Result<(), StorageError> {
        let head_json = serde_json::to_string(head).map_err(io)?;
        let head_json = self.seal(STORE_META, KEY_SYNC_HEAD, &head_json);
        let tx = self
            .db
            .transaction([STORE_EVENTS, STORE_META])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        for i in head.count..stored {
            st.delete(event_key(i)).primitive().map_err(io)?;
        }
        // The verifier's snapshot may cover events cut here: a full replay follows.
        st.delete(KEY_CHAIN_SNAPSHOT).primitive().map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .put(head_json)
            .with_key(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }

    /// Drop the stored chain and its cursor (one transaction), e.g. after it failed to verify.
    pub async fn clear_events(&self) -> Result<(), StorageError> {
        let tx = self
            .db
            .transaction([STORE_EVENTS, STORE_META])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        tx.object_store(STORE_EVENTS)
            .map_err(io)?
            .clear()
            .map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .delete(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }
}

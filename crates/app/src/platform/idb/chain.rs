//! IndexedDB records of the synced Infonet chain (`events` store, DB v6): one sealed record per
//! stored page of consecutive events (layout and rules: `model::chain::pages`) written with the
//! sync cursor in one transaction per verified page, range reads that open only the pages they
//! need, and the fork-heal cut, each change told to the chain's watchers once committed
//! (`watch`). v5's per-event records are converted first (`chain_migrate`).
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use zeroize::Zeroizing;

use super::chain_snapshot::{snapshot_keys, KEY_CHAIN_SNAPSHOT};
use super::{io, raw_keys_and_stored, ChainChange, ChainWatch, Storage, StorageError};
use super::{KEY_SYNC_HEAD, STORE_EVENTS, STORE_META};
use crate::model::chain::pages::{self, page_key, Cut, PageError, PAGES_END};
use crate::model::chain::SyncHead;
use crate::platform::clock::next_task;

pub(super) fn page_err(e: PageError) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

/// Key range of the page records that may hold events from `start` (up to `end`, exclusive;
/// `None`: to the end). Callers ensure `end > start`.
fn pages_range(start: u64, end: Option<u64>) -> KeyRange<String> {
    let lo = page_key(pages::first_candidate(start));
    match end {
        Some(end) => (lo..page_key(end)).into(),
        None => (lo..PAGES_END.to_string()).into(),
    }
}

/// Key range of every page record from the one starting at `start` on.
fn pages_from(start: u64) -> std::ops::Range<String> {
    page_key(start)..PAGES_END.to_string()
}

impl Storage {
    /// Call `cb` after each committed change of the stored chain made through this store
    /// (`watch`), until the returned guard is dropped.
    pub fn watch_chain(&self, cb: impl Fn(&ChainChange<'_>) + 'static) -> ChainWatch {
        self.chain_watchers.watch(cb)
    }

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

    /// Append one verified page: the exact JSON texts of consecutive events from index
    /// `first`, in one page container (`pages::encode`, as the verifier worker sends them:
    /// `model::chain::wire`), stored as page records (`pages::record_body`: the container as it is
    /// when it holds at most `pages::PAGE_MAX` texts, else cut into such records), each sealed
    /// once, with the new cursor in ONE read-write transaction. Any record at or above `first`
    /// (none when the cursor is right) is replaced. Sealing happens before the transaction
    /// opens, each record after the first in a main-thread task of its own (a 1,000-event unit's
    /// two ≈ 300 KB records were sealed in one task, issue 16); the watchers are told in a task
    /// after the commit's.
    pub async fn append_page(
        &self,
        first: u64,
        container: &str,
        head: &SyncHead,
    ) -> Result<(), StorageError> {
        let texts = pages::decode(container).map_err(page_err)?;
        let mut records = Vec::new();
        for (start, run) in pages::split(first, texts.len()) {
            if !records.is_empty() {
                next_task().await;
            }
            let key = page_key(start);
            let sealed = self.seal_bytes(
                STORE_EVENTS,
                &key,
                &pages::record_body(container, &texts, run),
            );
            records.push((key, sealed));
        }
        self.ensure_chain_pages().await?;
        let head_json = serde_json::to_string(head).map_err(io)?;
        // Sealed like every record (public data, but one rule for the whole database), before
        // the transaction opens.
        let head_json = self.seal(STORE_META, KEY_SYNC_HEAD, &head_json);
        let tx = self.write_tx([STORE_EVENTS, STORE_META])?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        if !records.is_empty() {
            st.delete::<String, _>(pages_from(first))
                .primitive()
                .map_err(io)?;
        }
        for (key, sealed) in records {
            st.put(sealed).with_key(key).primitive().map_err(io)?;
        }
        let meta = tx.object_store(STORE_META).map_err(io)?;
        meta.put(head_json)
            .with_key(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)?;
        if !texts.is_empty() {
            // Committed: the watchers (the channels board's fold) run in a task of their own.
            next_task().await;
            self.chain_watchers.tell(&ChainChange::Appended {
                first,
                texts: &texts,
                head,
            });
        }
        Ok(())
    }

    /// Every stored event text in chain order.
    pub async fn event_texts(&self) -> Result<Vec<String>, StorageError> {
        self.read_events(0, None).await
    }

    /// The stored event texts from index `start` on, in chain order.
    pub async fn event_texts_from(&self, start: u64) -> Result<Vec<String>, StorageError> {
        self.read_events(start, None).await
    }

    /// The stored event texts with index in `start..end`, in chain order (one bounded read;
    /// each page record opened once).
    pub async fn event_texts_range(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Vec<String>, StorageError> {
        if end <= start {
            return Ok(Vec::new());
        }
        self.read_events(start, Some(end)).await
    }

    /// The stored event text at `index`.
    pub async fn event_text(&self, index: u64) -> Result<Option<String>, StorageError> {
        Ok(self
            .read_events(index, Some(index.saturating_add(1)))
            .await?
            .pop())
    }

    /// The events `start..end` (`None`: to the end) from the page records covering them, up to
    /// the first index not stored.
    async fn read_events(&self, start: u64, end: Option<u64>) -> Result<Vec<String>, StorageError> {
        self.ensure_chain_pages().await?;
        let tx = self.db.transaction(STORE_EVENTS).build().map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        let (keys, values) = raw_keys_and_stored(&st, pages_range(start, end)).await?;
        drop(tx);
        let starts = keys
            .iter()
            .map(|k| pages::page_start(k).ok_or_else(|| page_err(PageError::Key(k.clone()))))
            .collect::<Result<Vec<u64>, _>>()?;
        let from = pages::first_to_open(&starts, start);
        let opened = keys[from..]
            .iter()
            .zip(&values[from..])
            .map(|(k, v)| self.open_stored(STORE_EVENTS, k, v))
            .collect::<Result<Vec<Zeroizing<String>>, _>>()?;
        let decoded = starts[from..]
            .iter()
            .zip(&opened)
            .map(|(s, text)| pages::decode(text).map(|t| (*s, t)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(page_err)?;
        Ok(pages::collect(decoded, start, end.unwrap_or(u64::MAX)))
    }

    /// For tests (`opened_records("events")`): the snapshot record, then one `(event_key(i),
    /// text)` pair per stored event, as DB v5's per-event layout listed them.
    pub(super) async fn opened_event_records(
        &self,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        let snapshot = self.chain_snapshot().await?;
        let events = self.event_texts().await?;
        let snapshot = snapshot.map(|s| (KEY_CHAIN_SNAPSHOT.to_string(), s));
        let rows = events
            .into_iter()
            .enumerate()
            .map(|(i, t)| (crate::model::chain::event_key(i as u64), Zeroizing::new(t)));
        Ok(snapshot.into_iter().chain(rows).collect())
    }

    /// Cut the stored chain back to `head.count` events (a fork heal followed): the page
    /// straddling the cut rewritten with its prefix, every page above deleted, the verifier
    /// snapshot deleted and the new cursor written, in ONE transaction (the straddling page is
    /// opened and sealed again synchronously inside it; nothing else is awaited there).
    pub async fn truncate_events(&self, head: &SyncHead) -> Result<(), StorageError> {
        self.ensure_chain_pages().await?;
        let count = head.count;
        let head_json = serde_json::to_string(head).map_err(io)?;
        let head_json = self.seal(STORE_META, KEY_SYNC_HEAD, &head_json);
        let tx = self.write_tx([STORE_EVENTS, STORE_META])?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        if count > 0 {
            // The last page starting below the cut is the one that may straddle it.
            let (keys, values) =
                raw_keys_and_stored(&st, pages_range(count - 1, Some(count))).await?;
            if let (Some(key), Some(value)) = (keys.last(), values.last()) {
                let start =
                    pages::page_start(key).ok_or_else(|| page_err(PageError::Key(key.clone())))?;
                let opened = self.open_stored(STORE_EVENTS, key, value)?;
                let texts = pages::decode(&opened).map_err(page_err)?;
                if let Cut::Prefix(n) = pages::cut(start, texts.len(), count) {
                    let sealed = self.seal_bytes(STORE_EVENTS, key, &pages::encode(&texts[..n]));
                    st.put(sealed)
                        .with_key(key.clone())
                        .primitive()
                        .map_err(io)?;
                }
            }
        }
        st.delete::<String, _>(pages_from(count))
            .primitive()
            .map_err(io)?;
        // The verifier's snapshot may cover events cut here: a full replay follows.
        st.delete::<String, _>(snapshot_keys())
            .primitive()
            .map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .put(head_json)
            .with_key(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        // Forgotten before the write: a failed commit may have cut it all the same.
        self.snapshot_forgotten();
        tx.commit().await.map_err(io)?;
        self.chain_watchers.tell(&ChainChange::Cut(count));
        Ok(())
    }

    /// Drop the stored chain and its cursor (one transaction), e.g. after it failed to verify.
    pub async fn clear_events(&self) -> Result<(), StorageError> {
        let tx = self.write_tx([STORE_EVENTS, STORE_META])?;
        tx.object_store(STORE_EVENTS)
            .map_err(io)?
            .clear()
            .map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .delete(KEY_SYNC_HEAD)
            .primitive()
            .map_err(io)?;
        self.snapshot_forgotten();
        tx.commit().await.map_err(io)?;
        self.chain_watchers.tell(&ChainChange::Cut(0));
        Ok(())
    }
}

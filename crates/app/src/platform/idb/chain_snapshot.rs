//! IndexedDB records of the chain verifier's snapshot (`model::chain::snapshot`), sealed under
//! the store key like every record.
//!
//! The records live in the `events` store under keys that sort before every event key
//! (`#…` < `p…`), so they are dropped with the events (`clear_events`, `truncate_events`), are
//! not in the `meta` scans other views run every few seconds, and never fall in a page range.
//! A record of the current layout is kept as its head under `#chain_snapshot` and its ids in
//! segments under `#chain_snapshot/ids/000000`, … (`model::chain::segments`): a new snapshot
//! writes the head, the last partial segment and the new ones, never a full segment again, so
//! what a first sync seals and writes grows with the chain, not with its square (issue 16:
//! every 10,000 events the whole record, ≈ 43 bytes per event, was sealed and written again).
//! A record of the older layout (or one whose ids cannot be packed) is stored whole in parts
//! of [`PART_MAX`]: the first under the key, the others under `#chain_snapshot/0001`, ….
//! Every part or segment is sealed in its own main-thread task and all are written in one
//! transaction; read back in key order and joined.
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use zeroize::Zeroizing;

use super::{corrupt, io, raw_keys_and_stored, Storage, StorageError, STORE_EVENTS};
use crate::model::chain::segments::{assemble, full_ids, is_segmented, split, SEGMENT_IDS};
use crate::model::chain::snapshot::{parts, SnapshotMeta, RECORD_VERSION};
use crate::platform::clock::next_task;

/// Key of the snapshot record (its first part, or its head) in the `events` store.
pub(super) const KEY_CHAIN_SNAPSHOT: &str = "#chain_snapshot";
/// Exclusive end of the keys of every part and segment (`/` < `0`).
const KEY_PARTS_END: &str = "#chain_snapshot0";
/// Prefix of the id segments' keys (after every `/NNNN` part key: `0`…`9` < `i`).
const KEY_SEGMENTS: &str = "#chain_snapshot/ids/";
/// Exclusive end of the id segments' keys (`/` < `0`).
const KEY_SEGMENTS_END: &str = "#chain_snapshot/ids0";
/// Most bytes of a layout-1 record sealed as one part (256 KiB: sealing one is ≈ 15–45 ms of
/// the page thread; 512 KiB parts were 33–95 ms tasks at load 6–9, issue 16).
const PART_MAX: usize = 256 * 1024;

fn part_key(i: usize) -> String {
    match i {
        0 => KEY_CHAIN_SNAPSHOT.to_string(),
        _ => format!("{KEY_CHAIN_SNAPSHOT}/{i:04}"),
    }
}

fn segment_key(i: u64) -> String {
    format!("{KEY_SEGMENTS}{i:06}")
}

/// The keys of every part and segment of the snapshot record (the first part or head included).
pub(super) fn snapshot_keys() -> KeyRange<String> {
    (KEY_CHAIN_SNAPSHOT.to_string()..KEY_PARTS_END.to_string()).into()
}

/// The keys of the id segments from segment `first` on.
fn segment_keys_from(first: u64) -> KeyRange<String> {
    (segment_key(first)..KEY_SEGMENTS_END.to_string()).into()
}

impl Storage {
    /// The ids stored in full segments of the snapshot record, as far as this tab knows: a new
    /// record for [`Storage::put_chain_snapshot`] carries the ids from there on. 0 until this
    /// tab stored or restored one, and again after the stored chain was cut or cleared or a
    /// write failed.
    pub fn snapshot_ids_stored(&self) -> u64 {
        self.snapshot_ids.get()
    }

    /// The verifier was restored from the stored record with header `meta` (ids and state
    /// checked by core): its full segments hold the ids below [`full_ids`].
    pub fn snapshot_restored(&self, meta: &SnapshotMeta) {
        let full = match meta.v {
            RECORD_VERSION => full_ids(meta.count, SEGMENT_IDS),
            _ => 0,
        };
        self.snapshot_ids.set(full);
    }

    /// Nothing of the stored snapshot may be built on (cut, cleared, or a write failed).
    pub(super) fn snapshot_forgotten(&self) {
        self.snapshot_ids.set(0);
    }

    /// The stored snapshot record, whole (ids from 0), opened (`None`: none; an error: it did
    /// not open or its segments do not join). Each part or segment is opened in its own task.
    pub async fn chain_snapshot(&self) -> Result<Option<Zeroizing<String>>, StorageError> {
        let tx = self.db.transaction(STORE_EVENTS).build().map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        let (keys, values) = raw_keys_and_stored(&st, snapshot_keys()).await?;
        drop(tx);
        if keys.first().map(String::as_str) != Some(KEY_CHAIN_SNAPSHOT) {
            return Ok(None);
        }
        let mut opened = Vec::with_capacity(keys.len());
        for (k, v) in keys.iter().zip(&values) {
            if !opened.is_empty() {
                next_task().await;
            }
            opened.push(self.open_stored(STORE_EVENTS, k, v)?);
        }
        // The head of a segmented record, then segments 0..; or a record's parts in order.
        let segmented = is_segmented(&opened[0]);
        let key = |i: usize| match (i, segmented) {
            (0, _) => KEY_CHAIN_SNAPSHOT.to_string(),
            (_, true) => segment_key(i as u64 - 1),
            (_, false) => part_key(i),
        };
        if keys.iter().enumerate().any(|(i, k)| *k != key(i)) {
            return Err(corrupt("events: snapshot parts do not follow each other"));
        }
        if segmented {
            let segs: Vec<&str> = opened[1..].iter().map(|s| s.as_str()).collect();
            let whole = assemble(&opened[0], &segs, SEGMENT_IDS).map_err(corrupt)?;
            return Ok(Some(Zeroizing::new(whole)));
        }
        // Sized up front: a growing buffer would leave unzeroized copies behind.
        let mut record =
            Zeroizing::new(String::with_capacity(opened.iter().map(|p| p.len()).sum()));
        for part in &opened {
            record.push_str(part);
        }
        Ok(Some(record))
    }

    /// Store a snapshot record (replacing the previous one: its head, and its segments from
    /// the record's first id on, or all its parts). Callers write it only after the events it
    /// covers committed. A record whose ids start above what is stored in full segments is
    /// refused (nothing written).
    pub async fn put_chain_snapshot(&self, record: String) -> Result<(), StorageError> {
        let written = self.put_snapshot_record(&record).await;
        match &written {
            Ok(full) => self.snapshot_ids.set(*full),
            Err(_) => self.snapshot_forgotten(),
        }
        written.map(|_| ())
    }

    /// [`Storage::put_chain_snapshot`]; the ids then held by full segments.
    async fn put_snapshot_record(&self, record: &str) -> Result<u64, StorageError> {
        // What to write (key, text), what it replaces, the first segment written (a segmented
        // record) and the ids in full segments after.
        let (pieces, stale, first, full) = if is_segmented(record) {
            let s = split(record, SEGMENT_IDS, self.snapshot_ids_stored()).map_err(corrupt)?;
            let mut pieces = vec![(KEY_CHAIN_SNAPSHOT.to_string(), s.head)];
            pieces.extend(
                (s.first..)
                    .zip(s.segments)
                    .map(|(i, t)| (segment_key(i), t)),
            );
            // From the first segment the record carries (the head is replaced), or all.
            let stale = match s.first {
                0 => snapshot_keys(),
                f => segment_keys_from(f),
            };
            (pieces, stale, Some(s.first), full_ids(s.count, SEGMENT_IDS))
        } else {
            let pieces = parts(record, PART_MAX)
                .into_iter()
                .enumerate()
                .map(|(i, p)| (part_key(i), p))
                .collect();
            (pieces, snapshot_keys(), None, 0)
        };
        let mut sealed = Vec::with_capacity(pieces.len());
        for (key, text) in pieces {
            // Every piece in a task of its own, the first too (not after the caller's work).
            next_task().await;
            let value = self.seal_bytes(STORE_EVENTS, &key, text);
            sealed.push((key, value));
        }
        let tx = self.write_tx(STORE_EVENTS)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        if let Some(first) = first.filter(|f| *f > 0) {
            // The segments below the record's ids must be there (another tab may have cut the
            // stored chain since this one stored or restored them): else nothing is written
            // and the next record carries every id.
            let below: KeyRange<String> = (segment_key(0)..segment_key(first)).into();
            let n = st
                .count()
                .with_query::<String, _>(below)
                .primitive()
                .map_err(io)?
                .await
                .map_err(io)?;
            if u64::from(n) != first {
                return Err(corrupt(
                    "events: the snapshot's earlier id segments are gone",
                ));
            }
        }
        st.delete::<String, _>(stale).primitive().map_err(io)?;
        for (key, value) in sealed {
            st.put(value).with_key(key).primitive().map_err(io)?;
        }
        tx.commit().await.map_err(io)?;
        Ok(full)
    }
}

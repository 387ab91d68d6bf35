//! IndexedDB records of private gates: gates, verified epoch records, opened messages, the
//! gate outbox (one `meta/gate_outbox/<nonce>` record per queued post) and my per-gate message
//! counter (`meta/gate_counter/<gate>`, taken in the transaction that queues the post).
use indexed_db_futures::prelude::*;
use postern_core::gate::EpochRecord;

use super::{io, Storage, StorageError};
use super::{KEY_GATE_OUTBOX, STORE_GATES, STORE_GATE_EPOCHS, STORE_GATE_MESSAGES, STORE_META};
use crate::model::gate_stream::next_counter;
use crate::model::gates::{QueuedPost, StoredGate, StoredGateMessage};

/// `meta` key prefix of my per-gate message counters (never under `gate_outbox/`).
const KEY_GATE_COUNTER: &str = "gate_counter";

impl Storage {
    /// Every gate this browser knows (name kept locally).
    pub async fn gates(&self) -> Result<Vec<StoredGate>, StorageError> {
        let mut out: Vec<StoredGate> = self.all_json(STORE_GATES).await?;
        crate::model::sort::sort_by(&mut out, |a, b| {
            (a.added_at, &a.gate_id).cmp(&(b.added_at, &b.gate_id))
        });
        Ok(out)
    }

    pub async fn put_gate(&self, g: &StoredGate) -> Result<(), StorageError> {
        let json = serde_json::to_string(g).map_err(io)?;
        self.write_string(STORE_GATES, &g.gate_id, json, true).await
    }

    /// Every stored epoch record (as received; re-verified with core on load).
    pub async fn gate_epochs(&self) -> Result<Vec<EpochRecord>, StorageError> {
        let mut out: Vec<EpochRecord> = self.all_json(STORE_GATE_EPOCHS).await?;
        crate::model::sort::sort_by(&mut out, |a, b| (&a.gate, a.epoch).cmp(&(&b.gate, b.epoch)));
        Ok(out)
    }

    pub async fn put_gate_epoch(&self, r: &EpochRecord) -> Result<(), StorageError> {
        let json = serde_json::to_string(r).map_err(io)?;
        let key = format!("{}:{:020}", r.gate, r.epoch);
        self.write_string(STORE_GATE_EPOCHS, &key, json, true).await
    }

    /// Every decrypted and verified gate message.
    pub async fn gate_messages(&self) -> Result<Vec<StoredGateMessage>, StorageError> {
        let mut out: Vec<StoredGateMessage> = self.all_json(STORE_GATE_MESSAGES).await?;
        crate::model::sort::sort_by(&mut out, |a, b| (&a.gate, a.seq).cmp(&(&b.gate, b.seq)));
        Ok(out)
    }

    pub async fn put_gate_message(&self, m: &StoredGateMessage) -> Result<(), StorageError> {
        let json = serde_json::to_string(m).map_err(io)?;
        // Keyed by nonce too: a relay serving another message under a used seq never
        // overwrites one (records stored before nonces were kept have none).
        let key = if m.nonce.is_empty() {
            format!("{}:{:020}", m.gate, m.seq)
        } else {
            format!("{}:{:020}:{}", m.gate, m.seq, m.nonce)
        };
        self.write_string(STORE_GATE_MESSAGES, &key, json, true)
            .await
    }

    /// Queue a post of mine to `gate` under my next counter: in one readwrite transaction the
    /// counter record is read, `seal` seals the post with the next counter (see
    /// [`next_counter`]; `seen` is the highest counter of mine seen in the gate), and both the
    /// outbox record and the grown counter are written. IndexedDB runs readwrite transactions
    /// on `meta` one at a time, so two tabs never take the same counter. Sealing is synchronous
    /// (nothing else is awaited inside the transaction).
    pub async fn queue_counted_gate_post(
        &self,
        gate: &str,
        seen: Option<u64>,
        seal: impl FnOnce(u64) -> Result<QueuedPost, String>,
    ) -> Result<QueuedPost, String> {
        let ckey = format!("{KEY_GATE_COUNTER}/{gate}");
        let tx = self.write_tx(STORE_META).map_err(|e| e.to_string())?;
        let st = tx.object_store(STORE_META).map_err(|e| e.to_string())?;
        let raw: Option<String> = st
            .get(ckey.clone())
            .primitive()
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        let stored = match raw {
            Some(v) => Some(
                self.open_sealed(STORE_META, &ckey, &v)
                    .map_err(|e| e.to_string())?
                    .parse::<u64>()
                    .map_err(|_| "the stored gate counter is corrupt".to_string())?,
            ),
            None => None,
        };
        let counter = next_counter(stored, seen).ok_or("the gate message counter is exhausted")?;
        let post = seal(counter)?;
        let json = serde_json::to_string(&post).map_err(|e| e.to_string())?;
        let okey = format!("{KEY_GATE_OUTBOX}/{}", post.message.nonce);
        let sealed_post = self.seal(STORE_META, &okey, &json);
        let sealed_counter = self.seal(STORE_META, &ckey, &counter.to_string());
        st.put(sealed_post)
            .with_key(okey)
            .primitive()
            .map_err(|e| e.to_string())?;
        st.put(sealed_counter)
            .with_key(ckey)
            .primitive()
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(post)
    }

    /// The gate outbox, one `meta` record per queued post (`gate_outbox/<nonce>`, sealed JSON
    /// only), so a post queued in any tab and a post settled by the leader never overwrite
    /// each other. Records in key order.
    pub async fn gate_posts(&self) -> Result<Vec<String>, StorageError> {
        self.meta_values_under(KEY_GATE_OUTBOX).await
    }

    pub async fn put_gate_post(&self, nonce: &str, json: String) -> Result<(), StorageError> {
        let key = format!("{KEY_GATE_OUTBOX}/{nonce}");
        self.write_string(STORE_META, &key, json, true).await
    }

    pub async fn delete_gate_post(&self, nonce: &str) -> Result<(), StorageError> {
        self.delete_record(STORE_META, format!("{KEY_GATE_OUTBOX}/{nonce}"))
            .await
    }
}

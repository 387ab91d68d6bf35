//! IndexedDB records of private gates: gates, verified epoch records, opened messages and the
//! gate outbox (one `meta/gate_outbox/<nonce>` record per queued post).
use postern_core::gate::EpochRecord;

use super::{io, Storage, StorageError};
use super::{KEY_GATE_OUTBOX, STORE_GATES, STORE_GATE_EPOCHS, STORE_GATE_MESSAGES, STORE_META};
use crate::model::gates::{StoredGate, StoredGateMessage};

impl Storage {
    /// Every gate this browser knows (name kept locally).
    pub async fn gates(&self) -> Result<Vec<StoredGate>, StorageError> {
        let mut out: Vec<StoredGate> = self.all_json(STORE_GATES).await?;
        out.sort_by(|a, b| (a.added_at, &a.gate_id).cmp(&(b.added_at, &b.gate_id)));
        Ok(out)
    }

    pub async fn put_gate(&self, g: &StoredGate) -> Result<(), StorageError> {
        let json = serde_json::to_string(g).map_err(io)?;
        self.write_string(STORE_GATES, &g.gate_id, json, true).await
    }

    /// Every stored epoch record (as received; re-verified with core on load).
    pub async fn gate_epochs(&self) -> Result<Vec<EpochRecord>, StorageError> {
        let mut out: Vec<EpochRecord> = self.all_json(STORE_GATE_EPOCHS).await?;
        out.sort_by(|a, b| (&a.gate, a.epoch).cmp(&(&b.gate, b.epoch)));
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
        out.sort_by(|a, b| (&a.gate, a.seq).cmp(&(&b.gate, b.seq)));
        Ok(out)
    }

    pub async fn put_gate_message(&self, m: &StoredGateMessage) -> Result<(), StorageError> {
        let json = serde_json::to_string(m).map_err(io)?;
        let key = format!("{}:{:020}", m.gate, m.seq);
        self.write_string(STORE_GATE_MESSAGES, &key, json, true)
            .await
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

//! IndexedDB record of the signed tree heads checked per relay key: the pinned head and the
//! evidence of misbehaviour (`model::heads::HeadRecord`), in the `meta` store (no new store).
use super::{Storage, StorageError, STORE_META};
use crate::model::heads::HeadRecord;

fn key(relay_key: &str) -> String {
    format!("tree_head_pin:{relay_key}")
}

impl Storage {
    /// The pin and evidence kept for `relay_key` (hex); default when none.
    pub async fn head_record(&self, relay_key: &str) -> Result<HeadRecord, StorageError> {
        match self.get_string(STORE_META, &key(relay_key)).await? {
            Some(s) => serde_json::from_str(&s).map_err(|e| StorageError::Corrupt(e.to_string())),
            None => Ok(HeadRecord::default()),
        }
    }

    /// The sizes of the heads pinned in this browser, for every relay key seen.
    pub async fn pinned_sizes(&self) -> Result<Vec<u64>, StorageError> {
        let prefix = key("");
        let mut out = Vec::new();
        for (k, v) in self.get_all_pairs(STORE_META).await? {
            if !k.starts_with(&prefix) {
                continue;
            }
            let rec: HeadRecord =
                serde_json::from_str(&v).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            out.extend(rec.pin.map(|p| p.size));
        }
        Ok(out)
    }

    /// Keep the pin and evidence for `relay_key`.
    pub async fn put_head_record(
        &self,
        relay_key: &str,
        rec: &HeadRecord,
    ) -> Result<(), StorageError> {
        let json = serde_json::to_string(rec).map_err(|e| StorageError::Io(e.to_string()))?;
        self.write_string(STORE_META, &key(relay_key), json, true)
            .await
    }
}

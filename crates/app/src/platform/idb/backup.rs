//! Backup plaintext: every data store's opened records out (export) and sealed back in one
//! transaction (import), keeping a replaced identity under `meta/identity_previous:<node>`.
use indexed_db_futures::prelude::*;
use serde::{Deserialize, Serialize};

use super::{corrupt, io, Storage, StorageError};
use super::{DATA_STORES, KEY_IDENTITY, STORE_META};

impl Storage {
    /// Every record of every data store, opened: the plaintext of a backup
    /// (`{store: {key: json}}`; stores other engineers add later are included automatically).
    pub async fn export_records(&self) -> Result<BackupRecords, StorageError> {
        let mut out = BackupRecords::default();
        for store in DATA_STORES {
            let m = out.stores.entry(store.to_string()).or_default();
            for (k, v) in self.get_all_pairs(store).await? {
                m.insert(k, v.to_string());
            }
        }
        Ok(out)
    }

    /// Restore a backup: every record is sealed under this profile's store key first, then all
    /// are written in one transaction (overwriting same-key records, keeping the others). The
    /// identity secret in the backup becomes this profile's identity; a different identity that
    /// was stored here is kept under `meta/identity_previous:<node>` (never deleted).
    /// Returns the number of records written.
    pub async fn import_records(
        &self,
        records: &BackupRecords,
        current_node: Option<&str>,
    ) -> Result<usize, StorageError> {
        let new_secret = records
            .stores
            .get(STORE_META)
            .and_then(|m| m.get(KEY_IDENTITY))
            .ok_or_else(|| corrupt("the backup holds no identity"))?;
        let current = self.load_identity_secret().await?;
        let mut sealed: Vec<(&str, String, String)> = Vec::new();
        if let (Some(cur), Some(node)) = (&current, current_node) {
            if cur.as_str() != new_secret.as_str() {
                let k = format!("identity_previous:{node}");
                sealed.push((STORE_META, k.clone(), self.seal(STORE_META, &k, cur)));
            }
        }
        for store in DATA_STORES {
            let Some(m) = records.stores.get(store) else {
                continue;
            };
            for (k, v) in m {
                if store == STORE_META && k.starts_with("identity_previous:") && current.is_some() {
                    // Keep this profile's own archive entries as they are.
                    continue;
                }
                sealed.push((store, k.clone(), self.seal(store, k, v)));
            }
        }
        let tx = self.write_tx(DATA_STORES)?;
        for (store, k, v) in &sealed {
            tx.object_store(store)
                .map_err(io)?
                .put(v.clone())
                .with_key(k.clone())
                .primitive()
                .map_err(io)?;
        }
        tx.commit().await.map_err(io)?;
        Ok(sealed.len())
    }
}

/// Plaintext of a backup: `{"stores": {store: {record key: record JSON}}}`. Values are wiped
/// from memory when dropped.
#[derive(Default, Serialize, Deserialize)]
pub struct BackupRecords {
    pub stores: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

impl Drop for BackupRecords {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for m in self.stores.values_mut() {
            for v in m.values_mut() {
                v.zeroize();
            }
        }
    }
}

impl BackupRecords {
    /// The identity secret inside the backup, if any.
    pub fn identity_secret(&self) -> Option<&str> {
        self.stores
            .get(STORE_META)
            .and_then(|m| m.get(KEY_IDENTITY))
            .map(String::as_str)
    }

    /// Number of records per store (for the import summary).
    pub fn count(&self, store: &str) -> usize {
        self.stores.get(store).map_or(0, |m| m.len())
    }
}

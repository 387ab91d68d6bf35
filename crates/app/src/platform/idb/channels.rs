//! IndexedDB records of the public-channel outbox: one sealed `meta` record per queued post
//! (`channel_outbox/<sequence>`), so posts queued in any tab never overwrite each other.
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;

use super::{io, Storage, StorageError, STORE_META};

const KEY_CHANNEL_OUTBOX: &str = "channel_outbox";

impl Storage {
    /// Every queued public post (JSON), in key order.
    pub async fn channel_posts(&self) -> Result<Vec<String>, StorageError> {
        let prefix = format!("{KEY_CHANNEL_OUTBOX}/");
        Ok(self
            .get_all_pairs(STORE_META)
            .await?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.to_string())
            .collect())
    }

    pub async fn put_channel_post(&self, key: &str, json: String) -> Result<(), StorageError> {
        let key = format!("{KEY_CHANNEL_OUTBOX}/{key}");
        self.write_string(STORE_META, &key, json, true).await
    }

    pub async fn delete_channel_post(&self, key: &str) -> Result<(), StorageError> {
        let tx = self
            .db
            .transaction(STORE_META)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .delete(format!("{KEY_CHANNEL_OUTBOX}/{key}"))
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }
}

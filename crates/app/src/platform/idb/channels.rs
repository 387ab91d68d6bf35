//! IndexedDB records of the public-channel outbox: one sealed `meta` record per queued post
//! (`channel_outbox/<sequence>`), so posts queued in any tab never overwrite each other.
use super::{Storage, StorageError, STORE_META};

const KEY_CHANNEL_OUTBOX: &str = "channel_outbox";

impl Storage {
    /// Every queued public post (JSON), in key order.
    pub async fn channel_posts(&self) -> Result<Vec<String>, StorageError> {
        self.meta_values_under(KEY_CHANNEL_OUTBOX).await
    }

    pub async fn put_channel_post(&self, key: &str, json: String) -> Result<(), StorageError> {
        let key = format!("{KEY_CHANNEL_OUTBOX}/{key}");
        self.write_string(STORE_META, &key, json, true).await
    }

    pub async fn delete_channel_post(&self, key: &str) -> Result<(), StorageError> {
        self.delete_record(STORE_META, format!("{KEY_CHANNEL_OUTBOX}/{key}"))
            .await
    }
}

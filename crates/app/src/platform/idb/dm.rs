//! IndexedDB records of direct messaging: the identity secret, contacts, messages and the DM
//! outbox (sealed envelopes only), each sealed under the store key.
use indexed_db_futures::prelude::*;
use zeroize::Zeroizing;

use super::{io, Storage, StorageError};
use super::{KEY_IDENTITY, STORE_CONTACTS, STORE_MESSAGES, STORE_META, STORE_OUTBOX};
use crate::model::contacts::Contact;
use crate::model::messages::{outbox_key, sort_messages, OutState, OutboxEntry, StoredMessage};

impl Storage {
    /// The stored `postern-secret1.…` string, if an identity was created before.
    pub async fn load_identity_secret(&self) -> Result<Option<Zeroizing<String>>, StorageError> {
        self.get_string(STORE_META, KEY_IDENTITY).await
    }

    /// Store the identity secret unless one is already stored (never overwrites a key).
    /// Returns the secret that is stored afterwards (the existing one if there was one, e.g.
    /// created concurrently by another tab).
    pub async fn save_identity_secret_if_absent(
        &self,
        secret: &str,
    ) -> Result<Zeroizing<String>, StorageError> {
        if let Some(existing) = self.load_identity_secret().await? {
            return Ok(existing);
        }
        match self
            .write_string(STORE_META, KEY_IDENTITY, secret.to_string(), false)
            .await
        {
            Ok(()) => Ok(Zeroizing::new(secret.to_string())),
            Err(e) => match self.load_identity_secret().await? {
                // Lost a race with another tab: use the identity that won.
                Some(existing) => Ok(existing),
                None => Err(e),
            },
        }
    }

    pub async fn contacts(&self) -> Result<Vec<Contact>, StorageError> {
        let mut out: Vec<Contact> = self
            .get_all_strings(STORE_CONTACTS)
            .await?
            .iter()
            .map(|s| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        crate::model::sort::sort_by_key(&mut out, |c| c.name.to_lowercase());
        Ok(out)
    }

    /// Insert or update a contact (keyed by node id).
    pub async fn put_contact(&self, c: &Contact) -> Result<(), StorageError> {
        let json = serde_json::to_string(c).map_err(io)?;
        self.write_string(STORE_CONTACTS, &c.node_id, json, true)
            .await
    }

    /// All stored messages, oldest first.
    pub async fn messages(&self) -> Result<Vec<StoredMessage>, StorageError> {
        let mut out: Vec<StoredMessage> = self
            .get_all_strings(STORE_MESSAGES)
            .await?
            .iter()
            .map(|s| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        sort_messages(&mut out);
        Ok(out)
    }

    pub async fn has_message(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.get_string(STORE_MESSAGES, key).await?.is_some())
    }

    /// Store a message; storing the same key again is a no-op (idempotent).
    pub async fn put_message(&self, m: &StoredMessage) -> Result<(), StorageError> {
        let json = serde_json::to_string(m).map_err(io)?;
        self.write_string(STORE_MESSAGES, &m.key(), json, true)
            .await
    }

    /// Queue an outgoing message: its local copy (state `Queued`) and its sealed envelope are
    /// written in one transaction, so neither exists without the other.
    pub async fn queue_outgoing(
        &self,
        local: &StoredMessage,
        entry: &OutboxEntry,
    ) -> Result<(), StorageError> {
        let msg_json = Zeroizing::new(serde_json::to_string(local).map_err(io)?);
        let entry_json = serde_json::to_string(entry).map_err(io)?;
        // Seal before the transaction (no non-IndexedDB work inside it).
        let msg_json = self.seal(STORE_MESSAGES, &local.key(), &msg_json);
        let entry_json = self.seal(STORE_OUTBOX, &entry.key(), &entry_json);
        let tx = self.write_tx([STORE_MESSAGES, STORE_OUTBOX])?;
        let messages = tx.object_store(STORE_MESSAGES).map_err(io)?;
        messages
            .put(msg_json)
            .with_key(local.key())
            .primitive()
            .map_err(io)?;
        let outbox = tx.object_store(STORE_OUTBOX).map_err(io)?;
        outbox
            .put(entry_json)
            .with_key(entry.key())
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }

    /// Everything waiting in the outbox, oldest first.
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, StorageError> {
        let mut out: Vec<OutboxEntry> = self
            .get_all_strings(STORE_OUTBOX)
            .await?
            .iter()
            .map(|s| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        crate::model::sort::sort_by(&mut out, |a, b| {
            (a.queued_at, &a.msg_id).cmp(&(b.queued_at, &b.msg_id))
        });
        Ok(out)
    }

    /// Update the local copy of an outgoing message; when it is no longer `Queued` its outbox
    /// entry is removed in the same transaction.
    pub async fn settle_outgoing(&self, local: &StoredMessage) -> Result<(), StorageError> {
        let msg_json = Zeroizing::new(serde_json::to_string(local).map_err(io)?);
        let msg_json = self.seal(STORE_MESSAGES, &local.key(), &msg_json);
        let tx = self.write_tx([STORE_MESSAGES, STORE_OUTBOX])?;
        let messages = tx.object_store(STORE_MESSAGES).map_err(io)?;
        messages
            .put(msg_json)
            .with_key(local.key())
            .primitive()
            .map_err(io)?;
        if local.state != OutState::Queued {
            let outbox = tx.object_store(STORE_OUTBOX).map_err(io)?;
            outbox
                .delete(outbox_key(&local.peer_node_id, &local.msg_id))
                .primitive()
                .map_err(io)?;
        }
        tx.commit().await.map_err(io)
    }
}

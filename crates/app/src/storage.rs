//! Browser persistence (IndexedDB) for the identity secret, contacts and opened messages.
//!
//! Everything stays in this tab's origin storage; nothing here is ever sent to the relay.
//! Records are JSON documents under explicit keys, each **sealed** under the profile's store key
//! (core [`vault`]: XChaCha20-Poly1305, AAD = store name + record key, so records cannot be
//! swapped). The store key is unlocked by [`keystore`] (wrapped by a non-extractable WebCrypto
//! key). Record keys (node ids, msg ids, gate ids) stay in the clear so lookups work.
//!
//! Rules: the identity secret is never overwritten or deleted (`add`, not `put`; an import
//! archives the replaced one); a record that does not open is an error, never a reason to
//! replace it; every seal/open happens outside IndexedDB transactions except the synchronous
//! (non-awaiting) sealing of the one-time v4 migration.
//!
//! Schema history: v1 `meta`, `contacts`, `messages`; v2 adds `outbox`; v3 `gates`,
//! `gate_epochs`, `gate_messages`; v4 adds `vault` (keyring + migration marker) and seals the
//! plaintext records of v1–v3 in place, in one transaction, on the first open after the upgrade.
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use postern_core::dm::DmEnvelope;
use postern_core::gate::EpochRecord;
use postern_core::vault::{self, StoreKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keystore::{self, AtRest, STORE_VAULT};

/// Default database name.
pub const DB_NAME: &str = "postern";
/// Schema version (2: `outbox` store added; 3: `gates`, `gate_epochs`, `gate_messages`;
/// 4: `vault` store, every record sealed under the store key; 5: `events`, the synced public chain).
pub const DB_VERSION: u32 = 5;

const STORE_META: &str = "meta";
const STORE_CONTACTS: &str = "contacts";
const STORE_MESSAGES: &str = "messages";
const STORE_OUTBOX: &str = "outbox";
const STORE_GATES: &str = "gates";
const STORE_GATE_EPOCHS: &str = "gate_epochs";
const STORE_GATE_MESSAGES: &str = "gate_messages";
const KEY_IDENTITY: &str = "identity_secret";
const KEY_GATE_OUTBOX: &str = "gate_outbox";
/// Synced Infonet chain events (v5), keyed by `sync::model::event_key(index)`.
pub const STORE_EVENTS: &str = "events";
/// `meta` key of the chain sync cursor ([`SyncHead`]).
const KEY_SYNC_HEAD: &str = "sync_head";

/// Where the stored chain ends, written in the same transaction as the events it covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncHead {
    /// Number of stored events.
    pub count: u64,
    /// Event id of the last stored event (genesis hash when empty).
    pub head: String,
    /// Scheduler state (last/next sync, failures) of `postern_core::sync`.
    #[serde(default)]
    pub scheduler: postern_core::sync::SyncWorkerState,
}
/// `vault` record present once the v1–v3 plaintext records were sealed.
const KEY_MIGRATED_V4: &str = "migrated_v4";
/// Every store whose records are sealed (all but `vault`).
pub const DATA_STORES: [&str; 7] = [
    STORE_META,
    STORE_CONTACTS,
    STORE_MESSAGES,
    STORE_OUTBOX,
    STORE_GATES,
    STORE_GATE_EPOCHS,
    STORE_GATE_MESSAGES,
];

/// A stored contact: a user-chosen label plus the contact's public identity string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub node_id: String,
    /// `postern1.…` public identity string, as parsed and re-printed by core.
    pub identity: String,
    pub added_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Delivery state of an outgoing message (incoming messages are always `Sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutState {
    /// Sealed and waiting in the outbox for the relay to accept it.
    Queued,
    /// Accepted by the relay (records written before the outbox existed are sent ones).
    #[default]
    Sent,
    /// Refused for good by the relay (e.g. too large); no longer retried.
    Failed,
    /// The recipient's signed ack reached the relay (`POST /api/mesh/dm/status`).
    Delivered,
}

impl OutState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutState::Queued => "queued",
            OutState::Sent => "sent",
            OutState::Failed => "failed",
            OutState::Delivered => "delivered",
        }
    }
}

/// A message kept locally: an opened and verified incoming DM, or the plaintext of one we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub direction: Direction,
    pub msg_id: String,
    /// The other party: the authenticated sender (in) or the recipient (out).
    pub peer_node_id: String,
    /// Public identity string of the other party (lets the UI offer "add contact").
    pub peer_identity: String,
    /// Sender's timestamp (seconds) for incoming, send time for outgoing.
    pub timestamp: u64,
    /// Local order key: milliseconds when stored, incremented within one poll so that messages
    /// with equal (second-resolution) timestamps keep the relay's order.
    pub stored_at: u64,
    pub body: String,
    /// Delivery state (outgoing messages only; see [`OutState`]).
    #[serde(default)]
    pub state: OutState,
    /// Last relay refusal for a queued or failed outgoing message, shown next to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StoredMessage {
    /// Storage key: unique per direction, peer and msg_id.
    pub fn key(&self) -> String {
        message_key(self.direction, &self.peer_node_id, &self.msg_id)
    }
}

pub fn message_key(direction: Direction, peer_node_id: &str, msg_id: &str) -> String {
    format!("{}:{}:{}", direction.as_str(), peer_node_id, msg_id)
}

/// An outgoing message waiting for the relay: only the sealed envelope (what the relay will see
/// anyway). The plaintext copy lives in `messages` like every sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub msg_id: String,
    pub peer_node_id: String,
    pub envelope: DmEnvelope,
    /// Local order key (ms) so the outbox drains oldest first.
    pub queued_at: u64,
}

impl OutboxEntry {
    pub fn key(&self) -> String {
        outbox_key(&self.peer_node_id, &self.msg_id)
    }
}

pub fn outbox_key(peer_node_id: &str, msg_id: &str) -> String {
    format!("{peer_node_id}:{msg_id}")
}

/// A private gate this browser is in (or was in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGate {
    pub gate_id: String,
    /// Local label (never sent anywhere).
    pub name: String,
    /// Hex hash of the genesis epoch (from the invite code or our own genesis).
    pub genesis_hash: String,
    /// Cursor of the relay's message stream (`next_after`).
    #[serde(default)]
    pub after: u64,
    pub added_at: u64,
}

/// An opened, author-verified gate message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGateMessage {
    pub gate: String,
    pub seq: u64,
    pub epoch: u64,
    /// Authenticated author node id.
    pub sender: String,
    pub timestamp: u64,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// IndexedDB is missing or refused to open (private mode, storage disabled…).
    Unavailable(String),
    /// A read or write failed.
    Io(String),
    /// A stored record could not be decoded (or did not open under the store key).
    Corrupt(String),
    /// The store key could not be unlocked; local data is kept untouched.
    Locked(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Unavailable(e) => {
                write!(f, "browser storage (IndexedDB) is unavailable: {e}")
            }
            StorageError::Io(e) => write!(f, "browser storage error: {e}"),
            StorageError::Corrupt(e) => write!(f, "stored data is corrupt: {e}"),
            StorageError::Locked(e) => write!(
                f,
                "local data could not be unlocked ({e}); it was kept untouched. Reload to try \
                 again, or import a backup"
            ),
        }
    }
}

impl std::error::Error for StorageError {}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(e.to_string())
}

/// Handle to the open database and the unlocked store key.
pub struct Storage {
    db: Database,
    key: StoreKey,
    at_rest: AtRest,
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

impl Storage {
    /// Open (and create or upgrade) the database `name`.
    pub async fn open(name: &str) -> Result<Storage, StorageError> {
        let db = Database::open(name)
            .with_version(DB_VERSION)
            .with_on_upgrade_needed(|event, db| {
                let old = event.old_version() as u32;
                let existing: Vec<String> = db.object_store_names().collect();
                let create = |store: &str| -> Result<(), indexed_db_futures::error::Error> {
                    if !existing.iter().any(|s| s == store) {
                        db.create_object_store(store).build()?;
                    }
                    Ok(())
                };
                // v1–v3 only ever added stores: create what is missing, keep the rest.
                for store in DATA_STORES {
                    create(store)?;
                }
                if old < 4 {
                    // v4: the keyring store. Sealing the older plaintext records needs the
                    // store key (WebCrypto, async), so it runs right after open, in one
                    // transaction, until `vault/migrated_v4` exists (see `migrate_v4`).
                    create(STORE_VAULT)?;
                }
                // v5: synced Infonet chain events.
                if old < 5 && !existing.iter().any(|s| s == STORE_EVENTS) {
                    db.create_object_store(STORE_EVENTS).build()?;
                }
                Ok(())
            })
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let (key, at_rest) = keystore::unlock_or_create(&db).await?;
        let s = Storage { db, key, at_rest };
        s.migrate_v4().await?;
        Ok(s)
    }

    /// Whether the store key is wrapped by a non-extractable WebCrypto key.
    pub fn at_rest(&self) -> AtRest {
        self.at_rest
    }

    /// Seal every plaintext record left by schema v1–v3, in one readwrite transaction (the
    /// sealing is synchronous Rust, nothing else is awaited inside). Idempotent: sealed records
    /// are recognised and left alone; the marker is written in the same transaction.
    async fn migrate_v4(&self) -> Result<(), StorageError> {
        let tx = self.db.transaction(STORE_VAULT).build().map_err(io)?;
        let done: Option<String> = tx
            .object_store(STORE_VAULT)
            .map_err(io)?
            .get(KEY_MIGRATED_V4)
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?;
        drop(tx);
        if done.is_some() {
            return Ok(());
        }
        let mut stores: Vec<&str> = DATA_STORES.to_vec();
        stores.push(STORE_VAULT);
        let tx = self
            .db
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        for store in DATA_STORES {
            let st = tx.object_store(store).map_err(io)?;
            let keys: Vec<String> = st
                .get_all_keys::<String>()
                .primitive()
                .map_err(io)?
                .await
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            let values: Vec<String> = st
                .get_all::<String>()
                .primitive()
                .map_err(io)?
                .await
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            for (k, v) in keys.iter().zip(values) {
                let v = Zeroizing::new(v);
                if !vault::is_sealed(&v) {
                    let sealed = vault::seal_record(&self.key, store, k, v.as_bytes(), &mut OsRng);
                    st.put(sealed).with_key(k.clone()).primitive().map_err(io)?;
                }
            }
        }
        tx.object_store(STORE_VAULT)
            .map_err(io)?
            .put("1".to_string())
            .with_key(KEY_MIGRATED_V4)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }

    fn seal(&self, store: &str, key: &str, plaintext: &str) -> String {
        vault::seal_record(&self.key, store, key, plaintext.as_bytes(), &mut OsRng)
    }

    fn open_sealed(
        &self,
        store: &str,
        key: &str,
        sealed: &str,
    ) -> Result<Zeroizing<String>, StorageError> {
        let pt = vault::open_record(&self.key, store, key, sealed)
            .map_err(|e| corrupt(format!("{store}/{key}: {e}")))?;
        String::from_utf8(pt.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| corrupt(format!("{store}/{key}: not UTF-8")))
    }

    async fn get_string(
        &self,
        store: &str,
        key: &str,
    ) -> Result<Option<Zeroizing<String>>, StorageError> {
        let tx = self.db.transaction(store).build().map_err(io)?;
        let st = tx.object_store(store).map_err(io)?;
        let v: Option<String> = st
            .get(key.to_string())
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?;
        drop(tx);
        v.map(|v| self.open_sealed(store, key, &v)).transpose()
    }

    async fn get_all_strings(&self, store: &str) -> Result<Vec<Zeroizing<String>>, StorageError> {
        Ok(self
            .get_all_pairs(store)
            .await?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// Every record of `store` as `(key, opened value)`, in key order.
    async fn get_all_pairs(
        &self,
        store: &str,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        let tx = self.db.transaction(store).build().map_err(io)?;
        let st = tx.object_store(store).map_err(io)?;
        let keys: Vec<String> = st
            .get_all_keys::<String>()
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        let values: Vec<String> = st
            .get_all::<String>()
            .primitive()
            .map_err(io)?
            .await
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        drop(tx);
        if keys.len() != values.len() {
            return Err(corrupt(format!("{store}: keys and values differ")));
        }
        keys.into_iter()
            .zip(values)
            .map(|(k, v)| {
                let opened = self.open_sealed(store, &k, &v)?;
                Ok((k, opened))
            })
            .collect()
    }

    /// Test hook only (`window.__posternTest.readStore`, see `settings::after_unlock`): every
    /// record of a data store (or `events`) as `(key, opened JSON)`, in key order. The keyring
    /// store is refused (it holds no sealed records).
    pub async fn opened_records(
        &self,
        store: &str,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        if !DATA_STORES.contains(&store) && store != STORE_EVENTS {
            return Err(corrupt(format!("{store}: not a data store")));
        }
        self.get_all_pairs(store).await
    }

    /// Write `value` at `key`; with `overwrite == false` an existing record makes this fail.
    async fn write_string(
        &self,
        store: &str,
        key: &str,
        value: String,
        overwrite: bool,
    ) -> Result<(), StorageError> {
        let value = self.seal(store, key, &value);
        let tx = self
            .db
            .transaction(store)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        let st = tx.object_store(store).map_err(io)?;
        if overwrite {
            st.put(value)
                .with_key(key.to_string())
                .primitive()
                .map_err(io)?;
        } else {
            st.add(value)
                .with_key(key.to_string())
                .primitive()
                .map_err(io)?;
        }
        tx.commit().await.map_err(io)
    }

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
        out.sort_by_key(|c| c.name.to_lowercase());
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
        let tx = self
            .db
            .transaction([STORE_MESSAGES, STORE_OUTBOX])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
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
        out.sort_by(|a, b| (a.queued_at, &a.msg_id).cmp(&(b.queued_at, &b.msg_id)));
        Ok(out)
    }

    /// Update the local copy of an outgoing message; when it is no longer `Queued` its outbox
    /// entry is removed in the same transaction.
    pub async fn settle_outgoing(&self, local: &StoredMessage) -> Result<(), StorageError> {
        let msg_json = Zeroizing::new(serde_json::to_string(local).map_err(io)?);
        let msg_json = self.seal(STORE_MESSAGES, &local.key(), &msg_json);
        let tx = self
            .db
            .transaction([STORE_MESSAGES, STORE_OUTBOX])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
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

    async fn all_json<T: serde::de::DeserializeOwned>(
        &self,
        store: &str,
    ) -> Result<Vec<T>, StorageError> {
        self.get_all_strings(store)
            .await?
            .iter()
            .map(|s| serde_json::from_str(s).map_err(|e| StorageError::Corrupt(e.to_string())))
            .collect()
    }

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

    /// When a newer tab needs to upgrade the schema (`versionchange`), close this connection at
    /// once so its upgrade is never blocked, then call `on_closed` (the UI asks for a reload).
    pub fn on_version_change(&self, on_closed: impl FnOnce() + 'static) {
        use indexed_db_futures::internals::SystemRepr;
        use wasm_bindgen::{JsCast, JsValue};
        let raw: JsValue = self.db.as_sys().unchecked_ref::<JsValue>().clone();
        let target = raw.clone();
        let handler = wasm_bindgen::closure::Closure::once_into_js(move |_e: JsValue| {
            if let Ok(close) = js_sys::Reflect::get(&target, &JsValue::from_str("close")) {
                if let Some(close) = close.dyn_ref::<js_sys::Function>() {
                    let _ = close.call0(&target);
                }
            }
            on_closed();
        });
        let _ = js_sys::Reflect::set(&raw, &JsValue::from_str("onversionchange"), &handler);
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

    /// Append one verified page: every `(key, exact JSON)` and the new cursor in ONE
    /// read-write transaction. Everything is serialised before the transaction opens and
    /// nothing but IndexedDB requests happens until it commits.
    pub async fn append_events(
        &self,
        events: &[(String, String)],
        head: &SyncHead,
    ) -> Result<(), StorageError> {
        let head_json = serde_json::to_string(head).map_err(io)?;
        // Sealed like every record (public data, but one rule for the whole database), before
        // the transaction opens.
        let head_json = self.seal(STORE_META, KEY_SYNC_HEAD, &head_json);
        let events: Vec<(&str, String)> = events
            .iter()
            .map(|(k, v)| (k.as_str(), self.seal(STORE_EVENTS, k, v)))
            .collect();
        let tx = self
            .db
            .transaction([STORE_EVENTS, STORE_META])
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        let st = tx.object_store(STORE_EVENTS).map_err(io)?;
        for (key, json) in &events {
            st.put(json.as_str())
                .with_key(*key)
                .primitive()
                .map_err(io)?;
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
        // getAll returns records in key order.
        Ok(self
            .get_all_strings(STORE_EVENTS)
            .await?
            .into_iter()
            .map(|z| z.to_string())
            .collect())
    }

    /// One stored event text.
    pub async fn event_text(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .get_string(STORE_EVENTS, key)
            .await?
            .map(|z| z.to_string()))
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
        let tx = self
            .db
            .transaction(DATA_STORES)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
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

    /// Close the connection (tests use this before deleting a scratch database).
    pub fn close(self) {
        self.db.close();
    }

    /// The gate outbox, one `meta` record per queued post (`gate_outbox/<nonce>`, sealed JSON
    /// only), so a post queued in any tab and a post settled by the leader never overwrite
    /// each other. Records in key order.
    pub async fn gate_posts(&self) -> Result<Vec<String>, StorageError> {
        let prefix = format!("{KEY_GATE_OUTBOX}/");
        Ok(self
            .get_all_pairs(STORE_META)
            .await?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.to_string())
            .collect())
    }

    pub async fn put_gate_post(&self, nonce: &str, json: String) -> Result<(), StorageError> {
        let key = format!("{KEY_GATE_OUTBOX}/{nonce}");
        self.write_string(STORE_META, &key, json, true).await
    }

    pub async fn delete_gate_post(&self, nonce: &str) -> Result<(), StorageError> {
        let tx = self
            .db
            .transaction(STORE_META)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)?;
        tx.object_store(STORE_META)
            .map_err(io)?
            .delete(format!("{KEY_GATE_OUTBOX}/{nonce}"))
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
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

/// Display order: by timestamp (seconds), then local order key, then msg_id.
pub fn sort_messages(ms: &mut [StoredMessage]) {
    ms.sort_by(|a, b| {
        (a.timestamp, a.stored_at, &a.msg_id).cmp(&(b.timestamp, b.stored_at, &b.msg_id))
    });
}

/// Delete a database by name (tests only; the app never deletes its database).
pub async fn delete_database(name: &str) -> Result<(), StorageError> {
    Database::delete_by_name(name)
        .map_err(io)?
        .await
        .map_err(io)
}

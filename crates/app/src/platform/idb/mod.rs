//! Browser persistence (IndexedDB) for the identity secret, contacts and opened messages.
//!
//! Everything stays in this tab's origin storage; nothing here is ever sent to the relay.
//! Records are JSON documents under explicit keys, each **sealed** under the profile's store key
//! (core [`vault`]: XChaCha20-Poly1305, AAD = store name + record key, so records cannot be
//! swapped). The store key is unlocked by [`keystore`] (wrapped by a non-extractable WebCrypto
//! key), or, when the profile is locked with a passphrase, by [`lock::LockedStore`]. Record keys (node ids, msg ids, gate ids) stay in the clear so lookups work.
//!
//! Rules: the identity secret is never overwritten or deleted (`add`, not `put`; an import
//! archives the replaced one); a record that does not open is an error, never a reason to
//! replace it; every seal/open happens outside IndexedDB transactions except the synchronous
//! (non-awaiting) sealing of the one-time v4 migration.
//!
//! Schema history: v1 `meta`, `contacts`, `messages`; v2 adds `outbox`; v3 `gates`,
//! `gate_epochs`, `gate_messages`; v4 adds `vault` (keyring + migration marker) and seals the
//! plaintext records of v1–v3 in place, in one transaction, on the first open after the upgrade;
//! v5 adds `events` (the synced public chain, one record per event under its 12-digit index);
//! v6 stores the chain as one record per page of up to 500 consecutive events (`p` + 12-digit
//! first index, `model::chain::pages`): the upgrade itself changes no store (older tabs get
//! `versionchange` and close, so none writes per-event records any more) and v5's per-event
//! records are converted in bounded chunks before the first chain read (`chain_migrate`).
use std::cell::Cell;

use indexed_db_futures::database::{Database, ObjectStoreName};
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::{Transaction, TransactionMode};
use indexed_db_futures::KeyRange;
use postern_core::vault::{self, StoreKey};
use rand_core::OsRng;
use wasm_bindgen::{JsCast, JsValue};
use zeroize::Zeroizing;

use super::keystore::{AtRest, KeystoreError, STORE_VAULT};

pub mod backup;
mod chain;
mod chain_migrate;
mod chain_snapshot;
mod channels;
mod dm;
mod gate;
mod heads;
pub mod lock;
mod watch;

pub use watch::{ChainChange, ChainWatch};

/// Default database name.
pub const DB_NAME: &str = "postern";
/// Schema version (2: `outbox` store added; 3: `gates`, `gate_epochs`, `gate_messages`;
/// 4: `vault` store, every record sealed under the store key; 5: `events`, the synced public chain;
/// 6: the chain stored one record per page, see the module doc).
pub const DB_VERSION: u32 = 6;

const STORE_META: &str = "meta";
const STORE_CONTACTS: &str = "contacts";
const STORE_MESSAGES: &str = "messages";
const STORE_OUTBOX: &str = "outbox";
const STORE_GATES: &str = "gates";
const STORE_GATE_EPOCHS: &str = "gate_epochs";
const STORE_GATE_MESSAGES: &str = "gate_messages";
const KEY_IDENTITY: &str = "identity_secret";
const KEY_GATE_OUTBOX: &str = "gate_outbox";
/// Synced Infonet chain events (v5; pages since v6: `model::chain::pages::page_key`).
pub const STORE_EVENTS: &str = "events";
/// `meta` key of the chain sync cursor (`model::chain::SyncHead`).
const KEY_SYNC_HEAD: &str = "sync_head";
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

impl From<KeystoreError> for StorageError {
    fn from(e: KeystoreError) -> StorageError {
        match e {
            KeystoreError::Io(e) => StorageError::Io(e),
            KeystoreError::Locked(e) => StorageError::Locked(e),
            KeystoreError::Conflict => {
                StorageError::Io("the keyring changed in another tab".into())
            }
        }
    }
}

/// Handle to the open database and the unlocked store key.
pub struct Storage {
    db: Database,
    key: StoreKey,
    at_rest: Cell<AtRest>,
    /// No per-event (v5) chain records left in this database (`chain_migrate`).
    chain_pages: Cell<bool>,
    /// Told after each committed change of the stored chain ([`Storage::watch_chain`]).
    chain_watchers: watch::Watchers,
    /// The ids this tab knows are stored in full snapshot segments (`chain_snapshot`).
    snapshot_ids: Cell<u64>,
}

fn corrupt(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(e.to_string())
}

impl Storage {
    /// Open (and create or upgrade) the database `name` (the store key is opened after, by
    /// `keystore`; see `Storage::open` / `open_or_locked` in [`lock`]).
    async fn open_db(name: &str) -> Result<Database, StorageError> {
        Database::open(name)
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
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }

    /// The store over `db` with its opened `key`, after the one-time v4 migration.
    async fn with_key(
        db: Database,
        key: StoreKey,
        at_rest: AtRest,
    ) -> Result<Storage, StorageError> {
        let s = Storage {
            db,
            key,
            at_rest: Cell::new(at_rest),
            chain_pages: Cell::new(false),
            chain_watchers: Default::default(),
            snapshot_ids: Default::default(),
        };
        s.migrate_v4().await?;
        Ok(s)
    }

    /// How the store key is kept: WebCrypto wrap, raw fallback, or under a passphrase.
    pub fn at_rest(&self) -> AtRest {
        self.at_rest.get()
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
        let tx = self.write_tx(stores)?;
        for store in DATA_STORES {
            let st = tx.object_store(store).map_err(io)?;
            let (keys, values) = raw_keys_and_values(&st, (String::new()..).into()).await?;
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

    /// A read-write transaction over `stores` (one store name or an array of them).
    fn write_tx<S: ObjectStoreName>(&self, stores: S) -> Result<Transaction<'_>, StorageError> {
        self.db
            .transaction(stores)
            .with_mode(TransactionMode::Readwrite)
            .build()
            .map_err(io)
    }

    // One copy each in the page wasm (not inlined into every caller: bundle size).
    #[inline(never)]
    fn seal(&self, store: &str, key: &str, plaintext: &str) -> String {
        vault::seal_record(&self.key, store, key, plaintext.as_bytes(), &mut OsRng)
    }

    #[inline(never)]
    fn open_sealed(
        &self,
        store: &str,
        key: &str,
        sealed: &str,
    ) -> Result<Zeroizing<String>, StorageError> {
        let pt = vault::open_record(&self.key, store, key, sealed);
        opened_text(store, key, pt)
    }

    /// A record sealed in the byte form (`vault::seal_record_bytes`), as the value to store: the
    /// chain's page records and snapshot pieces (no base64 to encode, decode or keep on disk).
    #[inline(never)]
    fn seal_bytes(&self, store: &str, key: &str, plaintext: &str) -> JsValue {
        let sealed =
            vault::seal_record_bytes(&self.key, store, key, plaintext.as_bytes(), &mut OsRng);
        js_sys::Uint8Array::from(sealed.as_slice()).into()
    }

    /// Open a stored value of either form: bytes (`Uint8Array`) or text (records written
    /// before the byte form, and every other store).
    #[inline(never)]
    fn open_stored(
        &self,
        store: &str,
        key: &str,
        value: &JsValue,
    ) -> Result<Zeroizing<String>, StorageError> {
        if let Some(text) = value.as_string() {
            return self.open_sealed(store, key, &text);
        }
        let Some(bytes) = value.dyn_ref::<js_sys::Uint8Array>() else {
            return Err(corrupt(format!("{store}/{key}: neither text nor bytes")));
        };
        let sealed = Zeroizing::new(bytes.to_vec());
        let pt = vault::open_record_bytes(&self.key, store, key, &sealed);
        opened_text(store, key, pt)
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
        self.get_pairs_from(store, "").await
    }

    /// The records of `store` whose key is `from` or after it (string keys; `""`: all), as
    /// `(key, opened value)` in key order.
    async fn get_pairs_from(
        &self,
        store: &str,
        from: &str,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        self.get_pairs_in(store, (from.to_string()..).into()).await
    }

    /// The opened `(key, value)` records of `store` with keys in `range`, in key order (one
    /// bounded read).
    pub(super) async fn get_pairs_in(
        &self,
        store: &str,
        range: KeyRange<String>,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        let tx = self.db.transaction(store).build().map_err(io)?;
        let st = tx.object_store(store).map_err(io)?;
        let (keys, values) = raw_keys_and_values(&st, range).await?;
        drop(tx);
        keys.into_iter()
            .zip(values)
            .map(|(k, v)| {
                let opened = self.open_sealed(store, &k, &v)?;
                Ok((k, opened))
            })
            .collect()
    }

    /// The opened values of the `meta` records keyed `<kind>/…` (an outbox: one record per
    /// queued item, so items queued in different tabs never overwrite each other), in key order.
    async fn meta_values_under(&self, kind: &str) -> Result<Vec<String>, StorageError> {
        let prefix = format!("{kind}/");
        Ok(self
            .get_all_pairs(STORE_META)
            .await?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.to_string())
            .collect())
    }

    /// Delete the record at `key` of `store` (absent: nothing happens).
    async fn delete_record(&self, store: &str, key: String) -> Result<(), StorageError> {
        let tx = self.write_tx(store)?;
        tx.object_store(store)
            .map_err(io)?
            .delete(key)
            .primitive()
            .map_err(io)?;
        tx.commit().await.map_err(io)
    }

    /// For tests (`window.__posternTest.readStore` in test builds, see `platform::hooks`): every
    /// record of a data store (or `events`) as `(key, opened JSON)`, in key order. The keyring
    /// store is refused (it holds no sealed records). `events` gives one pair per stored event
    /// under its `event_key(index)` (as the per-event layout of v5 did), after the snapshot record.
    pub async fn opened_records(
        &self,
        store: &str,
    ) -> Result<Vec<(String, Zeroizing<String>)>, StorageError> {
        if store == STORE_EVENTS {
            return self.opened_event_records().await;
        }
        if !DATA_STORES.contains(&store) {
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
        let tx = self.write_tx(store)?;
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

    /// When a newer tab needs to upgrade the schema (`versionchange`), close this connection at
    /// once so its upgrade is never blocked, then call `on_closed` (the UI asks for a reload).
    pub fn on_version_change(&self, on_closed: impl FnOnce() + 'static) {
        watch_version_change(&self.db, on_closed);
    }

    /// Close the connection (tests use this before deleting a scratch database).
    pub fn close(self) {
        self.db.close();
    }
}

/// On `versionchange` close `db` at once, then call `on_closed`.
fn watch_version_change(db: &Database, on_closed: impl FnOnce() + 'static) {
    use indexed_db_futures::internals::SystemRepr;

    let raw: JsValue = db.as_sys().unchecked_ref::<JsValue>().clone();
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

/// Delete a database by name (tests only; the app never deletes its database).
pub async fn delete_database(name: &str) -> Result<(), StorageError> {
    Database::delete_by_name(name)
        .map_err(io)?
        .await
        .map_err(io)
}

/// An opened record as text (a typed error when it did not open or is not UTF-8).
fn opened_text(
    store: &str,
    key: &str,
    opened: Result<Zeroizing<Vec<u8>>, vault::VaultError>,
) -> Result<Zeroizing<String>, StorageError> {
    let pt = opened.map_err(|e| corrupt(format!("{store}/{key}: {e}")))?;
    String::from_utf8(pt.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| corrupt(format!("{store}/{key}: not UTF-8")))
}

/// Every key in `range` and its stored (still sealed) value as it is stored (text or bytes), of
/// an open object store, in key order; as many values as keys, or an error.
async fn raw_keys_and_stored(
    st: &indexed_db_futures::object_store::ObjectStore<'_>,
    range: KeyRange<String>,
) -> Result<(Vec<String>, Vec<JsValue>), StorageError> {
    let keys: Vec<String> = st
        .get_all_keys::<String>()
        .with_query::<String, _>(range.clone())
        .primitive()
        .map_err(io)?
        .await
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    let values: Vec<JsValue> = st
        .get_all::<JsValue>()
        .with_query::<String, _>(range)
        .primitive()
        .map_err(io)?
        .await
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    if keys.len() != values.len() {
        return Err(corrupt(format!("{}: keys and values differ", st.name())));
    }
    Ok((keys, values))
}

/// [`raw_keys_and_stored`] for stores whose values are text (a value that is not: an error).
async fn raw_keys_and_values(
    st: &indexed_db_futures::object_store::ObjectStore<'_>,
    range: KeyRange<String>,
) -> Result<(Vec<String>, Vec<String>), StorageError> {
    let (keys, values) = raw_keys_and_stored(st, range).await?;
    let values = values
        .iter()
        .map(|v| {
            v.as_string()
                .ok_or_else(|| corrupt("a record that is not text"))
        })
        .collect::<Result<_, _>>()?;
    Ok((keys, values))
}

#[cfg(all(test, target_arch = "wasm32"))]
#[path = "compat_tests.rs"]
mod compat_tests;

//! The passphrase lock of the store key: set, change and remove it (Settings), and a store that
//! waits for its passphrase at start-up ([`LockedStore`]). Argon2id runs only in [`derive_kek`];
//! the sealing is core [`postern_core::lock`], the keyring writes `keystore`'s.
use std::cell::Cell;

use indexed_db_futures::database::Database;
use postern_core::backup::KdfParams;
use postern_core::lock::{self, LockError};
use postern_core::vault::StoreKey;
use rand_core::OsRng;
use zeroize::Zeroizing;

use super::{Storage, StorageError};
use crate::model::lock::OpError;
use crate::platform::keystore::{self, AtRest, Keyring, KeystoreError};

/// The store opened at start-up but sealed under a passphrase: nothing in it can be read until
/// [`LockedStore::unlock`] succeeds. Holds the database connection and the (sealed) lock record.
pub struct LockedStore {
    db: Database,
    lock: String,
}

/// What opening the store gave.
pub enum Opened {
    Ready(Storage),
    Locked(LockedStore),
}

fn op_err(e: KeystoreError) -> OpError {
    match e {
        KeystoreError::Conflict => OpError::Conflict,
        KeystoreError::Io(e) | KeystoreError::Locked(e) => OpError::Failed(e),
    }
}

/// An in-process key derivation for the lock (same inputs as Argon2id in the worker).
pub type LocalKdf = fn(&str, &[u8], &KdfParams) -> Result<Zeroizing<[u8; 32]>, String>;

thread_local! {
    /// Set only where the worker files are not served (the wasm-bindgen tests): see
    /// [`use_local_kdf`]. The app never sets it.
    static LOCAL_KDF: Cell<Option<LocalKdf>> = const { Cell::new(None) };
}

/// Derive the lock's key in this thread with `kdf` (core's `backup::derive_key`, which the test
/// binary links) instead of the worker module: for tests run without the app's built files.
pub fn use_local_kdf(kdf: LocalKdf) {
    LOCAL_KDF.with(|k| k.set(Some(kdf)));
}

/// Argon2id of the passphrase lock: the app's one call of the key derivation for the lock (the
/// backup's `backup::derive_key`, same parameters), run in the lazily loaded worker module
/// (`platform::worker::argon2id`), so the page stays responsive and its wasm links no Argon2.
pub async fn derive_kek(
    passphrase: &str,
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, OpError> {
    if let Some(kdf) = LOCAL_KDF.with(Cell::get) {
        return kdf(passphrase, salt, params).map_err(OpError::Failed);
    }
    crate::platform::worker::argon2id(passphrase, salt, *params)
        .await
        .map_err(OpError::Failed)
}

/// Open the store key sealed in the lock record `text` with `passphrase`.
async fn open_lock(text: &str, passphrase: &str) -> Result<StoreKey, OpError> {
    let l = lock::parse(text).map_err(|e| OpError::Failed(e.to_string()))?;
    let kek = derive_kek(passphrase, &l.kdf_salt(), &l.params).await?;
    l.open(&kek).map_err(|e| match e {
        LockError::WrongPassphrase => OpError::WrongPassphrase,
        e => OpError::Failed(e.to_string()),
    })
}

/// Seal `key` under a fresh salt and `passphrase`.
async fn seal(key: &StoreKey, passphrase: &str) -> Result<String, OpError> {
    let salt = lock::new_salt(&mut OsRng);
    let params = KdfParams::DEFAULT;
    let kek = derive_kek(passphrase, &lock::kdf_salt(&salt), &params).await?;
    lock::seal(&kek, key, params, &salt, &mut OsRng).map_err(|e| OpError::Failed(e.to_string()))
}

impl LockedStore {
    /// Try `passphrase`. A wrong one gives the locked store back (no lock-out; nothing stored
    /// is touched).
    pub async fn unlock(self, passphrase: &str) -> Result<Storage, (LockedStore, OpError)> {
        match open_lock(&self.lock, passphrase).await {
            // A lock is only ever set on a store that was opened (so migrated) before.
            Ok(key) => Ok(Storage {
                db: self.db,
                key,
                at_rest: Cell::new(AtRest::Passphrase),
                chain_pages: Cell::new(false),
                chain_watchers: Default::default(),
                snapshot_ids: Default::default(),
            }),
            Err(e) => Err((self, e)),
        }
    }

    /// As [`Storage::on_version_change`]: a locked tab never blocks another tab's upgrade.
    pub fn on_version_change(&self, on_closed: impl FnOnce() + 'static) {
        super::watch_version_change(&self.db, on_closed);
    }

    /// Close the connection without unlocking.
    pub fn close(self) {
        self.db.close();
    }
}

impl Storage {
    /// Open (and create or upgrade) the database `name`; a passphrase-locked profile is an
    /// error here (the app uses [`Storage::open_or_locked`]).
    pub async fn open(name: &str) -> Result<Storage, StorageError> {
        match Storage::open_or_locked(name).await? {
            Opened::Ready(s) => Ok(s),
            Opened::Locked(l) => {
                l.close();
                Err(StorageError::Locked(
                    "it is locked with a passphrase".into(),
                ))
            }
        }
    }

    /// Open (and create or upgrade) the database `name`, then its store key: ready (created on
    /// first use), or waiting for its passphrase.
    pub async fn open_or_locked(name: &str) -> Result<Opened, StorageError> {
        let db = Storage::open_db(name).await?;
        match keystore::unlock_or_create(&db).await? {
            Keyring::Open(key, at_rest) => {
                Ok(Opened::Ready(Storage::with_key(db, key, at_rest).await?))
            }
            Keyring::Locked(lock) => Ok(Opened::Locked(LockedStore { db, lock })),
        }
    }

    /// Lock the store with `passphrase` (refused if another tab locked it meanwhile).
    pub async fn lock_with(&self, passphrase: &str) -> Result<(), OpError> {
        let text = seal(&self.key, passphrase).await?;
        keystore::set_lock(&self.db, text).await.map_err(op_err)?;
        self.at_rest.set(AtRest::Passphrase);
        Ok(())
    }

    /// The stored lock record, if `current` opens it to this store's key.
    async fn check_current(&self, current: &str) -> Result<String, OpError> {
        let old = keystore::read_lock(&self.db)
            .await
            .map_err(op_err)?
            .ok_or(OpError::Conflict)?;
        let key = open_lock(&old, current).await?;
        if key.expose() != self.key.expose() {
            return Err(OpError::Conflict);
        }
        Ok(old)
    }

    /// Replace the passphrase (`current` must open the stored lock).
    pub async fn change_lock(&self, current: &str, new: &str) -> Result<(), OpError> {
        let old = self.check_current(current).await?;
        let text = seal(&self.key, new).await?;
        keystore::replace_lock(&self.db, &old, text)
            .await
            .map_err(op_err)
    }

    /// Remove the lock (`current` must open it): the key is wrapped by WebCrypto again.
    pub async fn remove_lock(&self, current: &str) -> Result<(), OpError> {
        let old = self.check_current(current).await?;
        let at_rest = keystore::remove_lock(&self.db, &self.key, &old)
            .await
            .map_err(op_err)?;
        self.at_rest.set(at_rest);
        Ok(())
    }

    /// Test builds only: the store key (b64url), so e2e scans can look for it on disk.
    #[cfg(feature = "test-hooks")]
    pub fn store_key_for_tests(&self) -> String {
        postern_core::b64::encode_url(self.key.expose())
    }
}

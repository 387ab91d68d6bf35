//! The store key at rest: a random 32-byte key (core [`StoreKey`]) that seals every record, kept
//! wrapped by a **non-extractable** WebCrypto AES-GCM-256 key. Both live in the `vault` object
//! store: the `CryptoKey` object itself (IndexedDB stores it by structured clone; script can use
//! it but never read its bytes) under `wrap_key`, and `aesgcm1.<b64url(iv[12] ‖ ct ‖ tag)>`
//! (additionalData = `labels::VAULT_WRAP_AAD`) under `store_key`. Unlocking is one AES-GCM
//! decrypt, no KDF.
//!
//! Fallback: where the browser refuses to store a `CryptoKey` (or has no WebCrypto, e.g. an
//! insecure origin), the raw store key is kept under `store_key_raw` and [`AtRest::Unprotected`]
//! is reported so the UI shows a visible "not protected at rest" warning. Data is still sealed
//! record by record (nothing readable by a plain scan), but anyone who can read the profile
//! directory can unseal it; the encrypted backup is the way to keep a copy safe.
//!
//! Passphrase lock (optional, Settings): `store_key_locked` holds the store key sealed under an
//! Argon2id key-encryption key (core [`postern_core::lock`]); while it exists the WebCrypto
//! wrap and the raw fallback are deleted, so nothing in the profile opens the records without
//! the passphrase ([`Keyring::Locked`] at start-up).
//!
//! Rules: every WebCrypto call happens before or after an IndexedDB transaction, never inside
//! one; the keyring is written with `add` (never overwritten) and never deleted, except by the
//! three lock changes ([`set_lock`], [`replace_lock`], [`remove_lock`]), each one transaction
//! that first checks the lock record is what the caller saw; any failure to unwrap is reported
//! as [`KeystoreError::Locked`] and nothing is touched.
use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use js_sys::{Array, Object, Reflect, Uint8Array};
use postern_core::vault::StoreKey;
use postern_core::{b64, labels};
use rand_core::{OsRng, RngCore};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};
use zeroize::Zeroizing;

/// Why the store key could not be had. `platform::idb` maps it into its `StorageError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoreError {
    /// Reading or writing the `vault` store failed.
    Io(String),
    /// The store key could not be unlocked; local data is kept untouched.
    Locked(String),
    /// A lock change found another lock record than the one it checked (another tab).
    Conflict,
}

pub const STORE_VAULT: &str = "vault";
const K_WRAP: &str = "wrap_key";
const K_WRAPPED: &str = "store_key";
const K_RAW: &str = "store_key_raw";
const K_LOCKED: &str = "store_key_locked";
const WRAPPED_PREFIX: &str = "aesgcm1.";

/// How the store key is kept in this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRest {
    /// Wrapped by a non-extractable WebCrypto key.
    Protected,
    /// Fallback: the browser would not store a CryptoKey; the raw store key is on disk.
    Unprotected,
    /// Sealed under a passphrase (Argon2id); nothing on disk opens it without the passphrase.
    Passphrase,
}

/// What the keyring of a profile holds at start-up.
pub enum Keyring {
    /// The store key, opened without a passphrase.
    Open(StoreKey, AtRest),
    /// The store key is sealed under a passphrase: the lock record's text.
    Locked(String),
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            Reflect::get(&e, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{e:?}"))
}

fn subtle() -> Result<SubtleCrypto, String> {
    let crypto = web_sys::window()
        .ok_or("no window")?
        .crypto()
        .map_err(js_err)?;
    let s = crypto.subtle();
    if s.is_undefined() || s.is_null() {
        return Err("WebCrypto is unavailable (insecure origin?)".into());
    }
    Ok(s)
}

fn algo(iv: Option<&[u8]>) -> Result<Object, String> {
    let o = Object::new();
    Reflect::set(&o, &"name".into(), &"AES-GCM".into()).map_err(js_err)?;
    match iv {
        Some(iv) => {
            Reflect::set(&o, &"iv".into(), &Uint8Array::from(iv)).map_err(js_err)?;
            Reflect::set(
                &o,
                &"additionalData".into(),
                &Uint8Array::from(labels::VAULT_WRAP_AAD),
            )
            .map_err(js_err)?;
            Reflect::set(&o, &"tagLength".into(), &128.into()).map_err(js_err)?;
        }
        None => {
            Reflect::set(&o, &"length".into(), &256.into()).map_err(js_err)?;
        }
    }
    Ok(o)
}

/// A fresh non-extractable AES-GCM-256 key, and `key` wrapped by it.
async fn new_wrap(key: &StoreKey) -> Result<(CryptoKey, String), String> {
    let s = subtle()?;
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let ck: CryptoKey = JsFuture::from(
        s.generate_key_with_object(&algo(None)?, false, &usages)
            .map_err(js_err)?,
    )
    .await
    .map_err(js_err)?
    .dyn_into()
    .map_err(|_| "generateKey did not return a CryptoKey".to_string())?;
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);
    let ct = JsFuture::from(
        s.encrypt_with_object_and_u8_array(&algo(Some(&iv))?, &ck, key.expose())
            .map_err(js_err)?,
    )
    .await
    .map_err(js_err)?;
    let mut raw = iv.to_vec();
    raw.extend_from_slice(&Uint8Array::new(&ct).to_vec());
    Ok((ck, format!("{WRAPPED_PREFIX}{}", b64::encode_url(&raw))))
}

async fn unwrap(ck: &CryptoKey, wrapped: &str) -> Result<StoreKey, String> {
    let raw = wrapped
        .strip_prefix(WRAPPED_PREFIX)
        .and_then(|b| b64::decode_url(b).ok())
        .filter(|r| r.len() > 12)
        .ok_or("the wrapped store key is malformed")?;
    let (iv, ct) = raw.split_at(12);
    let s = subtle()?;
    let pt = JsFuture::from(
        s.decrypt_with_object_and_u8_array(&algo(Some(iv))?, ck, ct)
            .map_err(js_err)?,
    )
    .await
    .map_err(js_err)?;
    let bytes = Zeroizing::new(Uint8Array::new(&pt).to_vec());
    StoreKey::from_slice(&bytes).map_err(|e| e.to_string())
}

struct Stored {
    wrap: JsValue,
    wrapped: Option<String>,
    raw: Option<String>,
    locked: Option<String>,
}

async fn read(db: &Database) -> Result<Stored, KeystoreError> {
    let io = |e: indexed_db_futures::error::Error| KeystoreError::Io(e.to_string());
    let tx = db.transaction(STORE_VAULT).build().map_err(io)?;
    let st = tx.object_store(STORE_VAULT).map_err(io)?;
    let wrap: Option<JsValue> = st.get(K_WRAP).primitive().map_err(io)?.await.map_err(io)?;
    let wrapped: Option<String> = st
        .get(K_WRAPPED)
        .primitive()
        .map_err(io)?
        .await
        .map_err(io)?;
    let raw: Option<String> = st.get(K_RAW).primitive().map_err(io)?.await.map_err(io)?;
    let locked: Option<String> = st
        .get(K_LOCKED)
        .primitive()
        .map_err(io)?
        .await
        .map_err(io)?;
    Ok(Stored {
        wrap: wrap.unwrap_or(JsValue::UNDEFINED),
        wrapped,
        raw,
        locked,
    })
}

async fn from_stored(s: Stored) -> Result<Option<Keyring>, KeystoreError> {
    if let Some(locked) = s.locked {
        return Ok(Some(Keyring::Locked(locked)));
    }
    if let Some(wrapped) = s.wrapped {
        let ck: CryptoKey = s.wrap.dyn_into().map_err(|_| {
            KeystoreError::Locked("the browser key that protects local data is missing".into())
        })?;
        let k = unwrap(&ck, &wrapped).await.map_err(KeystoreError::Locked)?;
        return Ok(Some(Keyring::Open(k, AtRest::Protected)));
    }
    if let Some(raw) = s.raw {
        let bytes = Zeroizing::new(
            b64::decode_url(&raw)
                .map_err(|_| KeystoreError::Locked("the stored key is malformed".into()))?,
        );
        let k = StoreKey::from_slice(&bytes).map_err(|e| KeystoreError::Locked(e.to_string()))?;
        return Ok(Some(Keyring::Open(k, AtRest::Unprotected)));
    }
    Ok(None)
}

/// Write the keyring with `add` in one transaction (fails if another tab wrote one first).
async fn write(db: &Database, entries: Vec<(&str, JsValue)>) -> Result<(), String> {
    let tx = db
        .transaction(STORE_VAULT)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(|e| e.to_string())?;
    let st = tx.object_store(STORE_VAULT).map_err(|e| e.to_string())?;
    for (k, v) in entries {
        // A browser that cannot clone a CryptoKey throws DataCloneError right here.
        st.add(v)
            .with_key(k)
            .primitive()
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())
}

/// Unlock the store key of this profile, creating (and wrapping) one on first use; a
/// passphrase-locked profile returns [`Keyring::Locked`].
pub async fn unlock_or_create(db: &Database) -> Result<Keyring, KeystoreError> {
    if let Some(k) = from_stored(read(db).await?).await? {
        return Ok(k);
    }
    let key = StoreKey::generate(&mut OsRng);
    // WebCrypto first, then one short transaction.
    let protected = match new_wrap(&key).await {
        Ok((ck, wrapped)) => write(db, vec![(K_WRAP, ck.into()), (K_WRAPPED, wrapped.into())])
            .await
            .is_ok(),
        Err(_) => false,
    };
    if !protected {
        // Another tab may have won the race; otherwise fall back to the raw key.
        if let Some(k) = from_stored(read(db).await?).await? {
            return Ok(k);
        }
        let raw = b64::encode_url(key.expose());
        let _ = write(db, vec![(K_RAW, raw.into())]).await;
    }
    // Whatever is stored now is the key of this profile (ours, or another tab's).
    from_stored(read(db).await?)
        .await?
        .ok_or_else(|| KeystoreError::Io("the store key could not be saved".into()))
}

/// The passphrase lock record of this profile, if it is locked.
pub async fn read_lock(db: &Database) -> Result<Option<String>, KeystoreError> {
    Ok(read(db).await?.locked)
}

/// A readwrite transaction on the keyring whose lock record is `expected` (else
/// [`KeystoreError::Conflict`]: another tab changed it; the transaction is aborted on drop).
async fn lock_tx<'a>(
    db: &'a Database,
    expected: Option<&str>,
) -> Result<indexed_db_futures::transaction::Transaction<'a>, KeystoreError> {
    let io = |e: indexed_db_futures::error::Error| KeystoreError::Io(e.to_string());
    let tx = db
        .transaction(STORE_VAULT)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .map_err(io)?;
    let current: Option<String> = tx
        .object_store(STORE_VAULT)
        .map_err(io)?
        .get(K_LOCKED)
        .primitive()
        .map_err(io)?
        .await
        .map_err(io)?;
    if current.as_deref() != expected {
        return Err(KeystoreError::Conflict);
    }
    Ok(tx)
}

/// In one transaction: store `lock` (the store key sealed under the passphrase) and delete the
/// WebCrypto wrap and the raw fallback, so the profile no longer opens without the passphrase.
/// Refused ([`KeystoreError::Conflict`]) if a lock already exists.
pub async fn set_lock(db: &Database, lock: String) -> Result<(), KeystoreError> {
    let io = |e: indexed_db_futures::error::Error| KeystoreError::Io(e.to_string());
    let tx = lock_tx(db, None).await?;
    let st = tx.object_store(STORE_VAULT).map_err(io)?;
    st.add(lock).with_key(K_LOCKED).primitive().map_err(io)?;
    for k in [K_WRAP, K_WRAPPED, K_RAW] {
        st.delete(k).primitive().map_err(io)?;
    }
    tx.commit().await.map_err(io)
}

/// Replace the lock record `old` by `new` (a new passphrase), in one transaction.
pub async fn replace_lock(db: &Database, old: &str, new: String) -> Result<(), KeystoreError> {
    let io = |e: indexed_db_futures::error::Error| KeystoreError::Io(e.to_string());
    let tx = lock_tx(db, Some(old)).await?;
    tx.object_store(STORE_VAULT)
        .map_err(io)?
        .put(new)
        .with_key(K_LOCKED)
        .primitive()
        .map_err(io)?;
    tx.commit().await.map_err(io)
}

/// Remove the lock record `old`: `key` is wrapped again by a fresh non-extractable WebCrypto
/// key (or kept raw where the browser cannot store one), in one transaction with the delete.
pub async fn remove_lock(
    db: &Database,
    key: &StoreKey,
    old: &str,
) -> Result<AtRest, KeystoreError> {
    let io = |e: indexed_db_futures::error::Error| KeystoreError::Io(e.to_string());
    // WebCrypto first (never inside a transaction).
    let wrapped = new_wrap(key).await.ok();
    let tx = lock_tx(db, Some(old)).await?;
    let st = tx.object_store(STORE_VAULT).map_err(io)?;
    let at_rest = match wrapped {
        Some((ck, w)) => {
            let ck: JsValue = ck.into();
            st.put(ck).with_key(K_WRAP).primitive().map_err(io)?;
            st.put(w).with_key(K_WRAPPED).primitive().map_err(io)?;
            AtRest::Protected
        }
        None => {
            let raw = b64::encode_url(key.expose());
            st.put(raw).with_key(K_RAW).primitive().map_err(io)?;
            AtRest::Unprotected
        }
    };
    st.delete(K_LOCKED).primitive().map_err(io)?;
    tx.commit().await.map_err(io)?;
    Ok(at_rest)
}

/// Test hook: store the raw-key fallback as a browser without CryptoKey storage would.
#[doc(hidden)]
pub async fn create_unprotected_for_tests(db: &Database) -> Result<(), String> {
    let key = StoreKey::generate(&mut OsRng);
    write(db, vec![(K_RAW, b64::encode_url(key.expose()).into())]).await
}

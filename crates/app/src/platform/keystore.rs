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
//! Rules: every WebCrypto call happens before or after an IndexedDB transaction, never inside
//! one; records are written with `add` (never overwritten) and never deleted; any failure to
//! unwrap is reported as [`KeystoreError::Locked`] and nothing is touched.
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
}

pub const STORE_VAULT: &str = "vault";
const K_WRAP: &str = "wrap_key";
const K_WRAPPED: &str = "store_key";
const K_RAW: &str = "store_key_raw";
const WRAPPED_PREFIX: &str = "aesgcm1.";

/// How the store key is kept in this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtRest {
    /// Wrapped by a non-extractable WebCrypto key.
    Protected,
    /// Fallback: the browser would not store a CryptoKey; the raw store key is on disk.
    Unprotected,
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
    Ok(Stored {
        wrap: wrap.unwrap_or(JsValue::UNDEFINED),
        wrapped,
        raw,
    })
}

async fn from_stored(s: Stored) -> Result<Option<(StoreKey, AtRest)>, KeystoreError> {
    if let Some(wrapped) = s.wrapped {
        let ck: CryptoKey = s.wrap.dyn_into().map_err(|_| {
            KeystoreError::Locked("the browser key that protects local data is missing".into())
        })?;
        let k = unwrap(&ck, &wrapped).await.map_err(KeystoreError::Locked)?;
        return Ok(Some((k, AtRest::Protected)));
    }
    if let Some(raw) = s.raw {
        let bytes = Zeroizing::new(
            b64::decode_url(&raw)
                .map_err(|_| KeystoreError::Locked("the stored key is malformed".into()))?,
        );
        let k = StoreKey::from_slice(&bytes).map_err(|e| KeystoreError::Locked(e.to_string()))?;
        return Ok(Some((k, AtRest::Unprotected)));
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

/// Unlock the store key of this profile, creating (and wrapping) one on first use.
pub async fn unlock_or_create(db: &Database) -> Result<(StoreKey, AtRest), KeystoreError> {
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

/// Test hook: store the raw-key fallback as a browser without CryptoKey storage would.
#[doc(hidden)]
pub async fn create_unprotected_for_tests(db: &Database) -> Result<(), String> {
    let key = StoreKey::generate(&mut OsRng);
    write(db, vec![(K_RAW, b64::encode_url(key.expose()).into())]).await
}

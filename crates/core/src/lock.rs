//! The optional passphrase lock of the browser's store key (`postern-lock`, version 1).
//!
//! ```text
//! kek  = Argon2id(passphrase, LOCK_KDF_SALT ‖ salt[16], m_kib, t, p)   (backup::derive_key)
//! aad  = LOCK_AAD ‖ u8(len purpose) ‖ LOCK_PURPOSE_STORE_KEY ‖ u32be(lock version)
//!        ‖ u32be(vault version) ‖ u32be(m_kib) ‖ u32be(t) ‖ u32be(p) ‖ u8(len salt) ‖ salt
//! ct   = XChaCha20-Poly1305(kek, nonce[24], store key[32], aad)
//! text = {"format":"postern-lock","version":1,"kdf":"argon2id","m_kib":…,"t":…,"p":…,
//!         "salt":b64url,"nonce":b64url,"ciphertext":b64url}
//! ```
//!
//! The key derivation is the backup's ([`crate::backup::derive_key`], same parameters); the app
//! runs it (so it can be moved off the page) and hands the 32-byte key-encryption key here:
//! [`kdf_salt`] gives the salt to derive with. Everything that changes how the record is read
//! is bound by the AAD, so an edited record does not open; parameters are capped on reading
//! like a backup's. Sans-IO: salt and nonce come from the caller's RNG.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::backup::{FileV1 as Record, KdfParams, KDF_ARGON2ID, NONCE_LEN, SALT_LEN};
use crate::vault::StoreKey;
use crate::{b64, labels};

/// Lock record format version written by this module.
pub const VERSION: u32 = 1;
/// Version of the record format the sealed store key opens (`postern-vault/1`).
pub const VAULT_VERSION: u32 = 1;
/// Largest lock record accepted (bytes of text).
const MAX_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LockError {
    /// Not a `postern-lock` record, an unknown version or KDF, or a malformed field.
    #[error("the stored passphrase lock is not readable by this version ({0})")]
    Format(&'static str),
    /// KDF parameters outside the accepted range.
    #[error("the stored passphrase lock has out-of-range key-derivation parameters")]
    BadParams,
    /// The AEAD did not open: wrong passphrase (or the record was modified).
    #[error("wrong passphrase")]
    WrongPassphrase,
}

/// A parsed lock record: what is needed to derive the key-encryption key, and the sealed key.
/// Holds nothing secret (the store key inside is sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub params: KdfParams,
    pub salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

/// The Argon2id salt for a lock salt: `LOCK_KDF_SALT ‖ salt` (domain-separated from backups).
pub fn kdf_salt(salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut s = Vec::with_capacity(labels::LOCK_KDF_SALT.len() + SALT_LEN);
    s.extend_from_slice(labels::LOCK_KDF_SALT);
    s.extend_from_slice(salt);
    s
}

/// Associated data of a lock record.
pub fn aad(version: u32, vault_version: u32, params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let purpose = labels::LOCK_PURPOSE_STORE_KEY;
    let mut a = Vec::with_capacity(labels::LOCK_AAD.len() + purpose.len() + 26 + salt.len());
    a.extend_from_slice(labels::LOCK_AAD);
    a.push(u8::try_from(purpose.len()).unwrap_or(u8::MAX));
    a.extend_from_slice(purpose);
    for v in [version, vault_version, params.m_kib, params.t, params.p] {
        a.extend_from_slice(&v.to_be_bytes());
    }
    a.push(u8::try_from(salt.len()).unwrap_or(u8::MAX));
    a.extend_from_slice(salt);
    a
}

/// A fresh random salt (derive the key-encryption key with [`kdf_salt`] of it, then [`seal`]).
pub fn new_salt(rng: &mut impl CryptoRngCore) -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    salt
}

/// Seal `key` under `kek` (derived from the passphrase and `salt` with `params`).
pub fn seal(
    kek: &[u8; 32],
    key: &StoreKey,
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    rng: &mut impl CryptoRngCore,
) -> Result<String, LockError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    seal_with(kek, key, params, salt, &nonce)
}

/// [`seal`] with a caller-chosen nonce (known-answer tests only).
pub fn seal_with(
    kek: &[u8; 32],
    key: &StoreKey,
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, LockError> {
    params.check().map_err(|_| LockError::BadParams)?;
    let aad = aad(VERSION, VAULT_VERSION, &params, salt);
    let ct = XChaCha20Poly1305::new(kek.into())
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: key.expose(),
                aad: &aad,
            },
        )
        .map_err(|_| LockError::Format("encryption failed"))?;
    let r = Record::sealed(labels::LOCK_FORMAT, VERSION, &params, salt, nonce, &ct);
    serde_json::to_string(&r).map_err(|_| LockError::Format("encoding failed"))
}

/// Whether a stored string is a lock record (cheap; [`parse`] checks the rest).
pub fn is_lock(text: &str) -> bool {
    text.contains(labels::LOCK_FORMAT)
}

/// Read a lock record (no KDF). Parameters out of range are refused before any work.
pub fn parse(text: &str) -> Result<Lock, LockError> {
    if text.len() > MAX_LEN {
        return Err(LockError::Format("too large"));
    }
    let r: Record = serde_json::from_str(text).map_err(|_| LockError::Format("not JSON"))?;
    if r.format != labels::LOCK_FORMAT {
        return Err(LockError::Format("format"));
    }
    if r.version != VERSION {
        return Err(LockError::Format("version"));
    }
    if r.kdf != KDF_ARGON2ID {
        return Err(LockError::Format("kdf"));
    }
    let params = KdfParams {
        m_kib: r.m_kib,
        t: r.t,
        p: r.p,
    };
    params.check().map_err(|_| LockError::BadParams)?;
    let salt = b64::decode_url_array(&r.salt).map_err(|_| LockError::Format("salt"))?;
    let nonce = b64::decode_url_array(&r.nonce).map_err(|_| LockError::Format("nonce"))?;
    let ciphertext = b64::decode_url(&r.ciphertext).map_err(|_| LockError::Format("ciphertext"))?;
    if ciphertext.len() != crate::vault::KEY_LEN + 16 {
        return Err(LockError::Format("ciphertext"));
    }
    Ok(Lock {
        params,
        salt,
        nonce,
        ciphertext,
    })
}

impl Lock {
    /// The Argon2id salt to derive this lock's key-encryption key with.
    pub fn kdf_salt(&self) -> Vec<u8> {
        kdf_salt(&self.salt)
    }

    /// Open the sealed store key with the key-encryption key derived from the passphrase.
    pub fn open(&self, kek: &[u8; 32]) -> Result<StoreKey, LockError> {
        let aad = aad(VERSION, VAULT_VERSION, &self.params, &self.salt);
        let pt = XChaCha20Poly1305::new(kek.into())
            .decrypt(
                XNonce::from_slice(&self.nonce),
                Payload {
                    msg: &self.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| LockError::WrongPassphrase)?;
        StoreKey::from_slice(&pt).map_err(|_| LockError::Format("store key length"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backup::derive_key;
    use rand_core::OsRng;

    const TINY: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn kek(pass: &str, salt: &[u8; SALT_LEN], params: &KdfParams) -> Zeroizing<[u8; 32]> {
        derive_key(pass, &kdf_salt(salt), params).unwrap()
    }

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let sk = StoreKey::generate(&mut OsRng);
        let salt = new_salt(&mut OsRng);
        let text = seal(
            &kek("correct horse", &salt, &TINY),
            &sk,
            TINY,
            &salt,
            &mut OsRng,
        )
        .unwrap();
        assert!(is_lock(&text));
        let lock = parse(&text).unwrap();
        assert_eq!(lock.params, TINY);
        let opened = lock
            .open(&kek("correct horse", &lock.salt, &lock.params))
            .unwrap();
        assert_eq!(opened.expose(), sk.expose());
        assert_eq!(
            lock.open(&kek("correct horsf", &lock.salt, &lock.params))
                .map(|_| ()),
            Err(LockError::WrongPassphrase)
        );
        // The raw store key never appears in the record.
        assert!(!text.contains(&b64::encode_url(sk.expose())));
    }

    #[test]
    fn kdf_is_domain_separated_from_backups() {
        let salt = [9u8; SALT_LEN];
        assert!(kdf_salt(&salt).starts_with(labels::LOCK_KDF_SALT));
        let backup_key = derive_key("pw", &salt, &TINY).unwrap();
        assert_ne!(*kek("pw", &salt, &TINY), *backup_key);
        assert_ne!(labels::LOCK_AAD, labels::BACKUP_AAD);
    }

    #[test]
    fn aad_binds_purpose_versions_params_and_salt() {
        let base = aad(VERSION, VAULT_VERSION, &TINY, &[1; 16]);
        assert!(base.starts_with(labels::LOCK_AAD));
        let purpose = labels::LOCK_PURPOSE_STORE_KEY;
        assert_eq!(
            &base[labels::LOCK_AAD.len() + 1..][..purpose.len()],
            purpose
        );
        for other in [
            aad(VERSION + 1, VAULT_VERSION, &TINY, &[1; 16]),
            aad(VERSION, VAULT_VERSION + 1, &TINY, &[1; 16]),
            aad(
                VERSION,
                VAULT_VERSION,
                &KdfParams { t: 2, ..TINY },
                &[1; 16],
            ),
            aad(VERSION, VAULT_VERSION, &TINY, &[2; 16]),
        ] {
            assert_ne!(base, other);
        }
        // A record sealed under another AAD (here: another vault version) does not open.
        let sk = StoreKey::generate(&mut OsRng);
        let salt = [3u8; SALT_LEN];
        let k = kek("pw", &salt, &TINY);
        let text = seal_with(&k, &sk, TINY, &salt, &[4; NONCE_LEN]).unwrap();
        let lock = parse(&text).unwrap();
        let wrong_aad = aad(VERSION, VAULT_VERSION + 1, &TINY, &salt);
        let refused = XChaCha20Poly1305::new((&*k).into()).decrypt(
            XNonce::from_slice(&[4; NONCE_LEN]),
            Payload {
                msg: &lock.ciphertext,
                aad: &wrong_aad,
            },
        );
        assert!(refused.is_err());
        assert!(lock.open(&k).is_ok());
    }

    #[test]
    fn edited_records_are_refused() {
        let sk = StoreKey::generate(&mut OsRng);
        let salt = [5u8; SALT_LEN];
        let k = kek("pw", &salt, &TINY);
        let text = seal_with(&k, &sk, TINY, &salt, &[6; NONCE_LEN]).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Edited parameters (in range): the derived key differs, and the AAD binds them anyway.
        v["t"] = 2.into();
        let l = parse(&v.to_string()).unwrap();
        assert_eq!(l.open(&k).map(|_| ()), Err(LockError::WrongPassphrase));
        v["t"] = 1.into();
        v["salt"] = b64::encode_url(&[7u8; SALT_LEN]).into();
        assert_eq!(
            parse(&v.to_string()).unwrap().open(&k).map(|_| ()),
            Err(LockError::WrongPassphrase)
        );
        v["m_kib"] = (crate::backup::MAX_M_KIB + 1).into();
        assert_eq!(parse(&v.to_string()), Err(LockError::BadParams));
        v["m_kib"] = 64.into();
        v["version"] = 2.into();
        assert_eq!(parse(&v.to_string()), Err(LockError::Format("version")));
        v["version"] = 1.into();
        v["format"] = "postern-backup".into();
        assert_eq!(parse(&v.to_string()), Err(LockError::Format("format")));
        for junk in ["", "{", "[]", "null", "{\"format\":\"postern-lock\"}"] {
            assert!(parse(junk).is_err());
        }
        assert_eq!(
            seal_with(&k, &sk, KdfParams { t: 0, ..TINY }, &salt, &[6; NONCE_LEN]),
            Err(LockError::BadParams)
        );
    }

    #[test]
    fn debug_shows_no_key() {
        let sk = StoreKey::from_bytes([0x42; 32]);
        let salt = [1u8; SALT_LEN];
        let text = seal_with(&kek("pw", &salt, &TINY), &sk, TINY, &salt, &[2; NONCE_LEN]).unwrap();
        let dbg = format!("{:?} {:?}", parse(&text).unwrap(), sk);
        assert!(!dbg.contains("42, 42") && !dbg.contains("4242"));
    }
}

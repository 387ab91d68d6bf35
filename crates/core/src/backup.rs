//! Passphrase-protected backup files (`postern-backup`, version 1).
//!
//! ```text
//! key   = Argon2id(passphrase (UTF-8 bytes), salt[16], m_kib, t, p, version 0x13) → 32 bytes
//! aad   = BACKUP_AAD ‖ u32be(version) ‖ u32be(m_kib) ‖ u32be(t) ‖ u32be(p) ‖ u8(len salt) ‖ salt
//! ct    = XChaCha20-Poly1305(key, nonce[24], payload, aad)
//! file  = {"format":"postern-backup","version":1,"kdf":"argon2id","m_kib":…,"t":…,"p":…,
//!          "salt":b64url,"nonce":b64url,"ciphertext":b64url}
//! ```
//!
//! The payload is opaque bytes here (the app puts a JSON document in it). Everything in the
//! header that changes how the file is read (version, KDF parameters, salt) is bound by the AAD,
//! so a file whose header was edited does not open. Parameters are read from the file (so they
//! can be raised later) but capped ([`MAX_M_KIB`], [`MAX_T`], [`MAX_P`]) so that a hostile file
//! cannot make the browser allocate or compute without bound. Sans-IO: RNG passed in.
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::{b64, labels};

/// File format version written by this module.
pub const VERSION: u32 = 1;
/// The only KDF of version 1.
pub const KDF_ARGON2ID: &str = "argon2id";
pub const SALT_LEN: usize = 16;
pub const NONCE_LEN: usize = 24;
/// Upper bounds accepted when reading a file (256 MiB, 10 passes, 4 lanes).
pub const MAX_M_KIB: u32 = 256 * 1024;
pub const MAX_T: u32 = 10;
pub const MAX_P: u32 = 4;
/// Largest file accepted (bytes of text): 64 MiB.
pub const MAX_FILE_LEN: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BackupError {
    /// Not JSON, or not a `postern-backup` file.
    #[error("this is not a Postern backup file")]
    NotABackup,
    #[error("unsupported backup version {0} (this app reads version 1)")]
    UnsupportedVersion(u32),
    #[error("unsupported key derivation in backup file")]
    UnsupportedKdf,
    /// KDF parameters outside the accepted range.
    #[error("backup key-derivation parameters out of range")]
    BadParams,
    /// A field has the wrong encoding or length.
    #[error("backup file is corrupt ({0})")]
    Corrupt(&'static str),
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// The AEAD did not open: wrong passphrase, or the file was modified.
    #[error("wrong passphrase (or the backup file was modified)")]
    WrongPassphrase,
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// Defaults for new backups: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended
    /// option with one lane, since wasm runs single-threaded). See docs/protocol.md for the
    /// measured browser time.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// Whether the parameters are within the accepted range (also used by [`crate::lock`]).
    pub(crate) fn check(&self) -> Result<Params, BackupError> {
        if self.p == 0
            || self.p > MAX_P
            || self.t == 0
            || self.t > MAX_T
            || self.m_kib > MAX_M_KIB
            || self.m_kib < 8 * self.p
        {
            return Err(BackupError::BadParams);
        }
        Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|_| BackupError::BadParams)
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// The JSON shape of a backup file (also the passphrase lock record's, `crate::lock`: one serde
/// implementation for both keeps the browser bundle small).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FileV1 {
    pub(crate) format: String,
    pub(crate) version: u32,
    pub(crate) kdf: String,
    pub(crate) m_kib: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
    pub(crate) salt: String,
    pub(crate) nonce: String,
    pub(crate) ciphertext: String,
}

impl FileV1 {
    /// A sealed record of `format` / `version`: Argon2id `params`, and salt, nonce and
    /// ciphertext in base64url. Its JSON text is what backups and locks store.
    pub(crate) fn sealed(
        format: &str,
        version: u32,
        params: &KdfParams,
        salt: &[u8],
        nonce: &[u8],
        ct: &[u8],
    ) -> Self {
        FileV1 {
            format: format.to_string(),
            version,
            kdf: KDF_ARGON2ID.to_string(),
            m_kib: params.m_kib,
            t: params.t,
            p: params.p,
            salt: b64::encode_url(salt),
            nonce: b64::encode_url(nonce),
            ciphertext: b64::encode_url(ct),
        }
    }
}

/// Associated data: version, KDF parameters and salt.
pub fn aad(version: u32, params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(labels::BACKUP_AAD.len() + 17 + salt.len());
    a.extend_from_slice(labels::BACKUP_AAD);
    for v in [version, params.m_kib, params.t, params.p] {
        a.extend_from_slice(&v.to_be_bytes());
    }
    a.push(u8::try_from(salt.len()).unwrap_or(u8::MAX));
    a.extend_from_slice(salt);
    a
}

/// Argon2id(passphrase, salt) → 32-byte key.
pub fn derive_key(
    passphrase: &str,
    salt: &[u8],
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, BackupError> {
    let p = params.check()?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .map_err(|_| BackupError::BadParams)?;
    Ok(key)
}

/// Encrypt `payload` into a backup file with a fresh random salt and nonce.
pub fn seal(
    passphrase: &str,
    payload: &[u8],
    params: KdfParams,
    rng: &mut impl CryptoRngCore,
) -> Result<String, BackupError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    seal_with(passphrase, payload, params, &salt, &nonce)
}

/// [`seal`] with a caller-chosen salt and nonce (known-answer vectors only).
pub fn seal_with(
    passphrase: &str,
    payload: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    nonce: &[u8; NONCE_LEN],
) -> Result<String, BackupError> {
    if passphrase.is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    let key = derive_key(passphrase, salt, &params)?;
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let aad = aad(VERSION, &params, salt);
    let ct = cipher
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: payload,
                aad: &aad,
            },
        )
        .map_err(|_| BackupError::Corrupt("encryption failed"))?;
    let file = FileV1::sealed(labels::BACKUP_FORMAT, VERSION, &params, salt, nonce, &ct);
    serde_json::to_string(&file).map_err(|_| BackupError::Corrupt("encoding failed"))
}

/// The header of a backup file, checked without running the KDF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub params: KdfParams,
}

fn parse(file: &str) -> Result<(Header, FileV1), BackupError> {
    if file.len() > MAX_FILE_LEN {
        return Err(BackupError::Corrupt("file too large"));
    }
    // One lenient pass (missing fields default) keeps the error order: format, version, rest.
    let f: FileV1 = serde_json::from_str(file).map_err(|_| BackupError::NotABackup)?;
    if f.format != labels::BACKUP_FORMAT {
        return Err(BackupError::NotABackup);
    }
    if f.version != VERSION {
        return Err(BackupError::UnsupportedVersion(f.version));
    }
    if f.kdf != KDF_ARGON2ID {
        return Err(BackupError::UnsupportedKdf);
    }
    let params = KdfParams {
        m_kib: f.m_kib,
        t: f.t,
        p: f.p,
    };
    params.check()?;
    Ok((
        Header {
            version: f.version,
            params,
        },
        f,
    ))
}

/// Check a file's format, version and parameters (cheap; no KDF).
pub fn header(file: &str) -> Result<Header, BackupError> {
    parse(file).map(|(h, _)| h)
}

/// Decrypt a backup file.
pub fn open(passphrase: &str, file: &str) -> Result<Zeroizing<Vec<u8>>, BackupError> {
    let (h, f) = parse(file)?;
    let salt: [u8; SALT_LEN] =
        b64::decode_url_array(&f.salt).map_err(|_| BackupError::Corrupt("salt"))?;
    let nonce: [u8; NONCE_LEN] =
        b64::decode_url_array(&f.nonce).map_err(|_| BackupError::Corrupt("nonce"))?;
    let ct = b64::decode_url(&f.ciphertext).map_err(|_| BackupError::Corrupt("ciphertext"))?;
    if ct.len() < 16 {
        return Err(BackupError::Corrupt("ciphertext"));
    }
    if passphrase.is_empty() {
        return Err(BackupError::EmptyPassphrase);
    }
    let key = derive_key(passphrase, &salt, &h.params)?;
    let cipher = XChaCha20Poly1305::new((&*key).into());
    let aad = aad(h.version, &h.params, &salt);
    cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BackupError::WrongPassphrase)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    /// Small parameters so tests stay fast (never use for real files).
    pub(crate) const TINY: KdfParams = KdfParams {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    #[test]
    fn round_trip_and_errors() {
        let f = seal("correct horse", b"payload", TINY, &mut OsRng).unwrap();
        assert_eq!(&open("correct horse", &f).unwrap()[..], b"payload");
        assert_eq!(open("wrong horse", &f), Err(BackupError::WrongPassphrase));
        assert_eq!(open("", &f), Err(BackupError::EmptyPassphrase));
        assert_eq!(
            seal("", b"x", TINY, &mut OsRng),
            Err(BackupError::EmptyPassphrase)
        );
        assert_eq!(header(&f).unwrap().params, TINY);

        let mut v: serde_json::Value = serde_json::from_str(&f).unwrap();
        // Edited parameters: still in range, but bound by the AAD → refused.
        v["t"] = 2.into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::WrongPassphrase)
        );
        v["t"] = 1.into();
        v["version"] = 2.into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::UnsupportedVersion(2))
        );
        v["version"] = 1.into();
        v["m_kib"] = (MAX_M_KIB + 1).into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::BadParams)
        );
        v["m_kib"] = 64.into();
        v["kdf"] = "scrypt".into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::UnsupportedKdf)
        );
        v["kdf"] = "argon2id".into();
        v["salt"] = "AAAA".into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::Corrupt("salt"))
        );
        v["format"] = "other".into();
        assert_eq!(
            open("correct horse", &v.to_string()),
            Err(BackupError::NotABackup)
        );
        for junk in ["", "[]", "{", "null", "{\"format\":\"postern-backup\"}"] {
            assert!(open("x", junk).is_err());
        }
    }

    #[test]
    fn default_params_are_valid() {
        assert!(KdfParams::DEFAULT.check().is_ok());
        assert_eq!(KdfParams::default(), KdfParams::DEFAULT);
        assert_eq!(
            KdfParams {
                m_kib: 7,
                t: 1,
                p: 1
            }
            .check(),
            Err(BackupError::BadParams)
        );
        assert_eq!(
            KdfParams {
                m_kib: 64,
                t: 0,
                p: 1
            }
            .check(),
            Err(BackupError::BadParams)
        );
        assert_eq!(
            KdfParams {
                m_kib: 64,
                t: 1,
                p: 5
            }
            .check(),
            Err(BackupError::BadParams)
        );
    }

    /// `docs/vectors/backup-v1.json`: a backup file and a vault record from fixed inputs.
    /// `POSTERN_WRITE_VECTORS=1 cargo test -p postern-core --lib backup` rewrites it.
    #[cfg(not(target_arch = "wasm32"))]
    fn vector_json() -> String {
        use crate::vault;
        let params = KdfParams {
            m_kib: 256,
            t: 2,
            p: 1,
        };
        let (salt, nonce) = ([0x5a; SALT_LEN], [0xa5; NONCE_LEN]);
        let payload = br#"{"identity_secret":"postern-secret1.example"}"#;
        let key = derive_key("correct horse battery staple", &salt, &params).unwrap();
        let file = seal_with(
            "correct horse battery staple",
            payload,
            params,
            &salt,
            &nonce,
        )
        .unwrap();
        let sk = vault::StoreKey::from_bytes([0x42; 32]);
        let rec = vault::seal_record_with_nonce(
            &sk,
            "messages",
            "in:!sb_00:m1",
            b"{\"body\":\"hi\"}",
            &[0x07; 24],
        );
        let v = serde_json::json!({
            "description": "Postern backup file v1 (Argon2id -> XChaCha20-Poly1305) and one vault record (postern-vault/1). Small Argon2 parameters for speed; real files use m_kib=65536,t=3,p=1. See docs/protocol.md § Keys at rest and § Backup file.",
            "backup": {
                "passphrase": "correct horse battery staple",
                "params": params,
                "salt_hex": hex::encode(salt),
                "nonce_hex": hex::encode(nonce),
                "key_hex": hex::encode(&key[..]),
                "aad_hex": hex::encode(aad(VERSION, &params, &salt)),
                "payload": std::str::from_utf8(payload).unwrap(),
                "file": file,
            },
            "vault_record": {
                "store_key_hex": hex::encode([0x42; 32]),
                "store": "messages",
                "key": "in:!sb_00:m1",
                "nonce_hex": hex::encode([0x07; 24]),
                "aad_hex": hex::encode(vault::record_aad("messages", "in:!sb_00:m1")),
                "plaintext": "{\"body\":\"hi\"}",
                "sealed": rec,
            }
        });
        let mut s = serde_json::to_string_pretty(&v).unwrap();
        s.push('\n');
        s
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn vectors_match_committed_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/vectors/backup-v1.json"
        );
        let fresh = vector_json();
        if std::env::var_os("POSTERN_WRITE_VECTORS").is_some() {
            std::fs::write(path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap();
        assert_eq!(committed, fresh);
        // And independently: the committed file opens with its passphrase.
        let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
        let b = &v["backup"];
        let pt = open(
            b["passphrase"].as_str().unwrap(),
            b["file"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&pt).unwrap(),
            b["payload"].as_str().unwrap()
        );
        let r = &v["vault_record"];
        let sk = crate::vault::StoreKey::from_bytes([0x42; 32]);
        let pt = crate::vault::open_record(
            &sk,
            "messages",
            "in:!sb_00:m1",
            r["sealed"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&pt).unwrap(),
            r["plaintext"].as_str().unwrap()
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn round_trip(pass in ".{1,24}", payload in proptest::collection::vec(any::<u8>(), 0..200),
                          salt in any::<[u8; 16]>(), nonce in any::<[u8; 24]>()) {
                let f = seal_with(&pass, &payload, TINY, &salt, &nonce).unwrap();
                prop_assert_eq!(&open(&pass, &f).unwrap()[..], &payload[..]);
                let wrong = format!("{pass}!");
                prop_assert_eq!(open(&wrong, &f), Err(BackupError::WrongPassphrase));
            }

            #[test]
            fn flipped_ciphertext_or_salt_is_refused(pos in any::<usize>(), bit in 0u8..8, in_salt in any::<bool>()) {
                let f = seal_with("pw", b"some payload", TINY, &[1; 16], &[2; 24]).unwrap();
                let mut v: serde_json::Value = serde_json::from_str(&f).unwrap();
                let field = if in_salt { "salt" } else { "ciphertext" };
                let mut raw = b64::decode_url(v[field].as_str().unwrap()).unwrap();
                let i = pos % raw.len();
                raw[i] ^= 1 << bit;
                v[field] = b64::encode_url(&raw).into();
                prop_assert_eq!(open("pw", &v.to_string()), Err(BackupError::WrongPassphrase));
            }

            #[test]
            fn arbitrary_text_never_panics(s in ".{0,200}") {
                let _ = open("pw", &s);
            }
        }
    }
}

//! Backup files and vault records, natively and in the browser (wasm-bindgen-test):
//! round trips, wrong passphrase, swapped record, and the committed known-answer vector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::backup::{self, BackupError, KdfParams};
use postern_core::vault::{self, StoreKey, VaultError};
use rand_core::OsRng;

const COMMITTED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/backup-v1.json"
));

#[test]
fn committed_vector_opens() {
    let v: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let b = &v["backup"];
    let pt = backup::open(
        b["passphrase"].as_str().unwrap(),
        b["file"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        std::str::from_utf8(&pt).unwrap(),
        b["payload"].as_str().unwrap()
    );
    let p: KdfParams = serde_json::from_value(b["params"].clone()).unwrap();
    let salt = hex::decode(b["salt_hex"].as_str().unwrap()).unwrap();
    let key = backup::derive_key(b["passphrase"].as_str().unwrap(), &salt, &p).unwrap();
    assert_eq!(hex::encode(&key[..]), b["key_hex"].as_str().unwrap());
    assert_eq!(
        backup::open("not it", b["file"].as_str().unwrap()),
        Err(BackupError::WrongPassphrase)
    );
    let r = &v["vault_record"];
    let sk =
        StoreKey::from_slice(&hex::decode(r["store_key_hex"].as_str().unwrap()).unwrap()).unwrap();
    let (store, key) = (r["store"].as_str().unwrap(), r["key"].as_str().unwrap());
    let sealed = r["sealed"].as_str().unwrap();
    let pt = vault::open_record(&sk, store, key, sealed).unwrap();
    assert_eq!(
        std::str::from_utf8(&pt).unwrap(),
        r["plaintext"].as_str().unwrap()
    );
    assert_eq!(
        vault::open_record(&sk, store, "in:!sb_00:m2", sealed),
        Err(VaultError::Auth)
    );
}

#[test]
fn backup_round_trip_with_default_params() {
    // The real parameters (64 MiB, t=3): also shows Argon2id runs within wasm memory.
    let f = backup::seal(
        "a passphrase here",
        b"{\"stores\":{}}",
        KdfParams::DEFAULT,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(backup::header(&f).unwrap().params, KdfParams::DEFAULT);
    assert_eq!(
        &backup::open("a passphrase here", &f).unwrap()[..],
        b"{\"stores\":{}}"
    );
}

#[test]
fn vault_round_trip_and_swap() {
    let k = StoreKey::generate(&mut OsRng);
    let a = vault::seal_record(&k, "messages", "a", b"one", &mut OsRng);
    let b = vault::seal_record(&k, "messages", "b", b"two", &mut OsRng);
    assert_eq!(
        &vault::open_record(&k, "messages", "a", &a).unwrap()[..],
        b"one"
    );
    assert_eq!(
        vault::open_record(&k, "messages", "a", &b),
        Err(VaultError::Auth)
    );
    assert_eq!(
        vault::open_record(&k, "contacts", "a", &a),
        Err(VaultError::Auth)
    );
}

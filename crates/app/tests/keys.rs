//! Keys at rest: records sealed under the store key, the v3 → v4 migration, swapped records
//! refused, backup export → import into another profile.
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown --test keys`
#![cfg(target_arch = "wasm32")]

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use postern_app::model::contacts::Contact;
use postern_app::model::messages::{Direction, OutState, StoredMessage};
use postern_app::platform::idb::backup::BackupRecords;
use postern_app::platform::idb::{self as storage, Storage};
use postern_app::platform::keystore::AtRest;
use postern_core::backup::{self, KdfParams};
use postern_core::Identity;
use rand_core::OsRng;
use wasm_bindgen_test::*;

mod support;

wasm_bindgen_test_configure!(run_in_browser);

fn scratch_db() -> String {
    format!("postern-keys-{}", postern_core::dm::new_msg_id(&mut OsRng))
}

fn msg(peer: &str, id: &str, body: &str) -> StoredMessage {
    StoredMessage {
        direction: Direction::In,
        msg_id: id.into(),
        peer_node_id: peer.into(),
        peer_identity: format!("postern1.{peer}.x.y"),
        timestamp: 5,
        stored_at: 5,
        body: body.into(),
        state: OutState::Sent,
        error: None,
    }
}

/// Every raw value of one store, as text (what a disk scan would see).
async fn raw_values(name: &str, store: &str) -> Vec<String> {
    support::stored_values(name, store, (String::new()..).into())
        .await
        .into_iter()
        .map(|v| v.as_string().unwrap_or_else(|| format!("{v:?}")))
        .collect()
}

async fn put_raw(name: &str, store: &str, key: &str, value: String) {
    let db = Database::open(name).await.unwrap();
    let tx = db
        .transaction(store)
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    tx.object_store(store)
        .unwrap()
        .put(value)
        .with_key(key.to_string())
        .primitive()
        .unwrap();
    tx.commit().await.unwrap();
    db.close();
}

#[wasm_bindgen_test]
async fn records_are_sealed_and_survive_reopen() {
    let name = scratch_db();
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(
        db.at_rest(),
        AtRest::Protected,
        "Chromium stores CryptoKeys"
    );
    let id = Identity::generate(&mut OsRng);
    db.save_identity_secret_if_absent(&id.export_secret())
        .await
        .unwrap();
    db.put_message(&msg("!sb_01", "m1", "CANARY-at-rest"))
        .await
        .unwrap();
    db.close();

    for store in ["meta", "messages"] {
        for v in raw_values(&name, store).await {
            assert!(v.starts_with("pv1."), "{store} holds a sealed record");
            assert!(!v.contains("postern-secret1.") && !v.contains("CANARY"));
        }
    }
    // The keyring: a CryptoKey object (not bytes) and the wrapped key.
    let vault = raw_values(&name, "vault").await;
    assert!(vault.iter().any(|v| v.starts_with("aesgcm1.")));

    // Reopen: the same store key is unwrapped, records open.
    let db = Storage::open(&name).await.unwrap();
    let back = db.load_identity_secret().await.unwrap().unwrap();
    assert_eq!(
        Identity::import_secret(&back).unwrap().public(),
        id.public()
    );
    assert_eq!(db.messages().await.unwrap()[0].body, "CANARY-at-rest");
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn swapped_record_is_refused_and_kept() {
    let name = scratch_db();
    let db = Storage::open(&name).await.unwrap();
    db.put_message(&msg("!sb_01", "m1", "first")).await.unwrap();
    db.put_message(&msg("!sb_01", "m2", "second"))
        .await
        .unwrap();
    db.close();
    // Copy m1's sealed record over m2's key: AAD binds the key, so it must not open as m2.
    let sealed_m1 = {
        let dbh = Database::open(name.as_str()).await.unwrap();
        let tx = dbh.transaction("messages").build().unwrap();
        let v: Option<String> = tx
            .object_store("messages")
            .unwrap()
            .get("in:!sb_01:m1")
            .primitive()
            .unwrap()
            .await
            .unwrap();
        drop(tx);
        dbh.close();
        v.unwrap()
    };
    put_raw(&name, "messages", "in:!sb_01:m2", sealed_m1).await;
    let db = Storage::open(&name).await.unwrap();
    assert!(matches!(
        db.messages().await,
        Err(storage::StorageError::Corrupt(_))
    ));
    db.close();
    // Nothing was deleted.
    assert_eq!(raw_values(&name, "messages").await.len(), 2);
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn upgrade_from_v3_seals_plaintext_and_keeps_data() {
    let name = scratch_db();
    let stores = [
        "meta",
        "contacts",
        "messages",
        "outbox",
        "gates",
        "gate_epochs",
        "gate_messages",
    ];
    let v3 = Database::open(name.as_str())
        .with_version(3u32)
        .with_on_upgrade_needed(move |_e, db| {
            for s in stores {
                db.create_object_store(s).build()?;
            }
            Ok(())
        })
        .await
        .unwrap();
    v3.close();
    let id = Identity::generate(&mut OsRng);
    let secret = id.export_secret().to_string();
    put_raw(&name, "meta", "identity_secret", secret.clone()).await;
    let bob = Identity::generate(&mut OsRng).public();
    let c = Contact {
        name: "Bob".into(),
        node_id: bob.node_id().into(),
        identity: bob.to_string(),
        added_at: 1,
        verified: None,
        key_change: None,
    };
    put_raw(
        &name,
        "contacts",
        bob.node_id(),
        serde_json::to_string(&c).unwrap(),
    )
    .await;
    let m = msg(bob.node_id(), "m1", "CANARY-v3-history");
    put_raw(
        &name,
        "messages",
        &m.key(),
        serde_json::to_string(&m).unwrap(),
    )
    .await;

    let db = Storage::open(&name).await.unwrap();
    assert_eq!(*db.load_identity_secret().await.unwrap().unwrap(), secret);
    assert_eq!(db.contacts().await.unwrap(), vec![c.clone()]);
    assert_eq!(db.messages().await.unwrap(), vec![m.clone()]);
    db.close();
    for store in ["meta", "contacts", "messages"] {
        for v in raw_values(&name, store).await {
            assert!(v.starts_with("pv1."), "{store} sealed after the upgrade");
        }
    }
    // A second open (migration marker set) reads the same.
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.messages().await.unwrap(), vec![m]);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn backup_export_import_into_another_profile() {
    let (a, b) = (scratch_db(), scratch_db());
    let alice = Identity::generate(&mut OsRng);
    let da = Storage::open(&a).await.unwrap();
    da.save_identity_secret_if_absent(&alice.export_secret())
        .await
        .unwrap();
    da.put_message(&msg("!sb_02", "m9", "hello from the past"))
        .await
        .unwrap();
    let records = da.export_records().await.unwrap();
    let payload = serde_json::to_vec(&records).unwrap();
    let file = backup::seal(
        "a long passphrase",
        &payload,
        KdfParams {
            m_kib: 1024,
            t: 1,
            p: 1,
        },
        &mut OsRng,
    )
    .unwrap();
    da.close();

    // Another profile that already made its own identity.
    let db = Storage::open(&b).await.unwrap();
    let fresh = Identity::generate(&mut OsRng);
    db.save_identity_secret_if_absent(&fresh.export_secret())
        .await
        .unwrap();
    assert_eq!(
        backup::open("wrong passphrase", &file),
        Err(backup::BackupError::WrongPassphrase)
    );
    let pt = backup::open("a long passphrase", &file).unwrap();
    let rec: BackupRecords = serde_json::from_slice(&pt).unwrap();
    db.import_records(&rec, Some(&fresh.node_id()))
        .await
        .unwrap();
    db.close();

    let db = Storage::open(&b).await.unwrap();
    let secret = db.load_identity_secret().await.unwrap().unwrap();
    assert_eq!(
        Identity::import_secret(&secret).unwrap().public(),
        alice.public()
    );
    assert_eq!(db.messages().await.unwrap()[0].body, "hello from the past");
    // The replaced identity was archived, not deleted.
    let all = db.export_records().await.unwrap();
    let archived = all.stores["meta"]
        .get(&format!("identity_previous:{}", fresh.node_id()))
        .unwrap();
    assert_eq!(
        Identity::import_secret(archived).unwrap().public(),
        fresh.public()
    );
    db.close();
    storage::delete_database(&a).await.unwrap();
    storage::delete_database(&b).await.unwrap();
}

#[wasm_bindgen_test]
async fn fallback_raw_key_reports_unprotected_and_still_seals() {
    // What a browser that refuses to store a CryptoKey leaves behind: the raw-key fallback.
    let name = scratch_db();
    let db = Database::open(name.as_str())
        .with_version(storage::DB_VERSION)
        .with_on_upgrade_needed(|_e, db| {
            for s in storage::DATA_STORES {
                db.create_object_store(s).build()?;
            }
            db.create_object_store(postern_app::platform::keystore::STORE_VAULT)
                .build()?;
            Ok(())
        })
        .await
        .unwrap();
    postern_app::platform::keystore::create_unprotected_for_tests(&db)
        .await
        .unwrap();
    db.close();
    let s = Storage::open(&name).await.unwrap();
    assert_eq!(s.at_rest(), AtRest::Unprotected);
    s.put_message(&msg("!sb_03", "m1", "CANARY-fallback"))
        .await
        .unwrap();
    s.close();
    for v in raw_values(&name, "messages").await {
        assert!(v.starts_with("pv1.") && !v.contains("CANARY"));
    }
    let s = Storage::open(&name).await.unwrap();
    assert_eq!(s.at_rest(), AtRest::Unprotected);
    assert_eq!(s.messages().await.unwrap()[0].body, "CANARY-fallback");
    s.close();
    storage::delete_database(&name).await.unwrap();
}

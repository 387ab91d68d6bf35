//! The passphrase lock in a real browser: set → a reopen is locked (a wrong passphrase gives the
//! locked store back, the right one opens the same records), a stale tab's lock change is
//! refused, change, remove → opens without a passphrase again.
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown --test lock`
#![cfg(target_arch = "wasm32")]

use postern_app::model::lock::OpError;
use postern_app::model::messages::{Direction, OutState, StoredMessage};
use postern_app::platform::idb::lock::Opened;
use postern_app::platform::idb::{self as storage, Storage, StorageError};
use postern_app::platform::keystore::AtRest;
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const PASS: &str = "correct horse battery";
const PASS2: &str = "another long passphrase";

fn scratch_db() -> String {
    format!("postern-lock-{}", postern_core::dm::new_msg_id(&mut OsRng))
}

fn msg(body: &str) -> StoredMessage {
    StoredMessage {
        direction: Direction::In,
        msg_id: "m1".into(),
        peer_node_id: "!sb_01".into(),
        peer_identity: "postern1.!sb_01.x.y".into(),
        timestamp: 5,
        stored_at: 5,
        body: body.into(),
        state: OutState::Sent,
        error: None,
    }
}

async fn locked(name: &str) -> postern_app::platform::idb::lock::LockedStore {
    match Storage::open_or_locked(name).await.unwrap() {
        Opened::Locked(l) => l,
        Opened::Ready(_) => panic!("the store should be locked"),
    }
}

/// No worker files are served here: the lock's Argon2id runs in this thread (core's, as the
/// worker module runs it).
fn local_kdf() {
    storage::lock::use_local_kdf(|p, salt, params| {
        postern_core::backup::derive_key(p, salt, params).map_err(|e| e.to_string())
    });
}

#[wasm_bindgen_test]
async fn set_unlock_change_remove() {
    local_kdf();
    let name = scratch_db();
    let s = Storage::open(&name).await.unwrap();
    // A second tab, opened before the lock is set.
    let stale = Storage::open(&name).await.unwrap();
    s.put_message(&msg("CANARY-lock")).await.unwrap();
    s.lock_with(PASS).await.unwrap();
    assert_eq!(s.at_rest(), AtRest::Passphrase);
    // The stale tab cannot set a second lock over it.
    assert_eq!(stale.lock_with(PASS2).await, Err(OpError::Conflict));
    stale.close();
    s.close();

    // Locked: `open` refuses, `open_or_locked` waits for the passphrase.
    assert!(matches!(
        Storage::open(&name).await,
        Err(StorageError::Locked(_))
    ));
    let l = locked(&name).await;
    let l = match l.unlock("wrong passphrase!").await {
        Err((l, OpError::WrongPassphrase)) => l,
        _ => panic!("a wrong passphrase must be refused"),
    };
    let s = l.unlock(PASS).await.map_err(|(_, e)| e).unwrap();
    assert_eq!(s.at_rest(), AtRest::Passphrase);
    assert_eq!(s.messages().await.unwrap()[0].body, "CANARY-lock");

    // Change: the current passphrase is checked.
    assert_eq!(
        s.change_lock(PASS2, PASS2).await,
        Err(OpError::WrongPassphrase)
    );
    s.change_lock(PASS, PASS2).await.unwrap();
    s.close();
    let l = locked(&name).await;
    let l = match l.unlock(PASS).await {
        Err((l, OpError::WrongPassphrase)) => l,
        _ => panic!("the old passphrase must be refused"),
    };
    let s = l.unlock(PASS2).await.map_err(|(_, e)| e).unwrap();

    // Remove: back to the WebCrypto wrap, the same records.
    assert_eq!(s.remove_lock(PASS).await, Err(OpError::WrongPassphrase));
    s.remove_lock(PASS2).await.unwrap();
    assert_eq!(s.at_rest(), AtRest::Protected);
    s.close();
    let s = Storage::open(&name).await.unwrap();
    assert_eq!(s.at_rest(), AtRest::Protected);
    assert_eq!(s.messages().await.unwrap()[0].body, "CANARY-lock");
    s.close();
    storage::delete_database(&name).await.unwrap();
}

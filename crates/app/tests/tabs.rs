//! Multi-tab coordination in the browser: the real Web Lock and `versionchange` handling (role
//! machine, channel messages and reload merge are native tests in `model`; real IndexedDB in headless Chromium).
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use postern_app::platform::idb::{self as storage, Storage, DB_VERSION};
use postern_app::platform::tabs::{self, Role};
use rand_core::OsRng;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn sleep_ms(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

async fn held_locks() -> Vec<String> {
    let nav = web_sys::window().unwrap().navigator();
    let locks = js_sys::Reflect::get(&nav, &"locks".into()).unwrap();
    let query: js_sys::Function = js_sys::Reflect::get(&locks, &"query".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let p: js_sys::Promise = query.call0(&locks).unwrap().dyn_into().unwrap();
    let snapshot = wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
    let held: js_sys::Array = js_sys::Reflect::get(&snapshot, &"held".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    held.iter()
        .filter_map(|l| js_sys::Reflect::get(&l, &"name".into()).ok()?.as_string())
        .collect()
}

/// The only test that joins the election (the role is per page).
#[wasm_bindgen_test]
async fn the_lock_is_held_until_resign() {
    let seen = Rc::new(Cell::new(0u32));
    let s2 = seen.clone();
    let _sub = tabs::subscribe(move |_| s2.set(s2.get() + 1));
    assert_eq!(tabs::role(), Role::Pending);
    tabs::start();
    tabs::start(); // idempotent
    for _ in 0..200 {
        if tabs::role() != Role::Pending {
            break;
        }
        sleep_ms(10).await;
    }
    assert_eq!(tabs::role(), Role::Leader, "alone: this page leads");
    assert!(tabs::is_leader());
    assert_eq!(held_locks().await, vec![tabs::LOCK_NAME.to_string()]);

    tabs::resign();
    assert_eq!(tabs::role(), Role::Retired);
    for _ in 0..200 {
        if held_locks().await.is_empty() {
            break;
        }
        sleep_ms(10).await;
    }
    assert!(held_locks().await.is_empty(), "released for the next tab");
    assert_eq!(seen.get(), 2, "leader, then retired");
}

/// A newer tab's upgrade is never blocked: this connection closes on `versionchange`.
#[wasm_bindgen_test]
async fn version_change_closes_the_connection() {
    let name = format!("postern-test-{}", postern_core::dm::new_msg_id(&mut OsRng));
    let db = Storage::open(&name).await.unwrap();
    let closed = Rc::new(Cell::new(false));
    let c2 = closed.clone();
    db.on_version_change(move || c2.set(true));

    let newer = indexed_db_futures::database::Database::open(name.as_str())
        .with_version(DB_VERSION + 1)
        .with_on_upgrade_needed(|_e, _db| Ok(()))
        .await
        .map_err(|e| JsValue::from_str(&e.to_string()))
        .unwrap();
    assert!(closed.get(), "the old connection was told and closed");
    assert_eq!(newer.version() as u32, DB_VERSION + 1);
    newer.close();
    // The old handle now fails cleanly instead of blocking anyone.
    assert!(db.contacts().await.is_err());
    storage::delete_database(&name).await.unwrap();
}

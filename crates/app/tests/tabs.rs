//! Multi-tab coordination: role state machine, channel messages, reload merge, the real Web
//! Lock, and `versionchange` handling (real IndexedDB in headless Chromium).
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use std::cell::Cell;
use std::rc::Rc;

use postern_app::logic;
use postern_app::storage::{
    self, Direction, OutState, OutboxEntry, Storage, StoredMessage, DB_VERSION,
};
use postern_app::tabs::{self, duties, merge_reload, next_role, LockEvent, Role, TabMsg};
use postern_core::Identity;
use rand_core::OsRng;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn role_state_machine() {
    use LockEvent::*;
    use Role::*;
    assert_eq!(next_role(Pending, Granted), Leader);
    assert_eq!(next_role(Pending, Unsupported), Leader);
    assert_eq!(next_role(Pending, Unavailable), Follower);
    // The leader tab closes: the waiting follower is granted the lock.
    assert_eq!(next_role(Follower, Granted), Leader);
    // A late "unavailable" never demotes a leader.
    assert_eq!(next_role(Leader, Unavailable), Leader);
    for r in [Pending, Leader, Follower] {
        assert_eq!(next_role(r, Released), Retired);
    }
    for e in [Granted, Unsupported, Unavailable, Released] {
        assert_eq!(next_role(Retired, e), Retired, "retired is final");
    }
}

#[wasm_bindgen_test]
fn only_the_leader_runs_background_writers() {
    let l = duties(Role::Leader);
    assert!(l.sync && l.drain_outbox && !l.forward);
    for r in [Role::Follower, Role::Pending] {
        let d = duties(r);
        assert!(!d.sync && !d.drain_outbox && d.forward, "{r:?}");
    }
    let d = duties(Role::Retired);
    assert!(!d.sync && !d.drain_outbox && !d.forward);
    assert_eq!(Role::Leader.label(), "this tab syncs");
    assert_eq!(Role::Follower.label(), "another tab syncs");
}

#[wasm_bindgen_test]
fn channel_messages_round_trip_and_garbage_is_ignored() {
    for m in [
        TabMsg::Drain,
        TabMsg::Check,
        TabMsg::Changed,
        TabMsg::Hello,
        TabMsg::Status {
            relay: "online".into(),
            registered: true,
            last_check: Some(12),
            error: None,
        },
    ] {
        assert_eq!(TabMsg::decode(&m.encode()), Some(m));
    }
    assert_eq!(TabMsg::decode(r#"{"t":"drain"}"#), Some(TabMsg::Drain));
    for bad in [
        "",
        "null",
        "{}",
        r#"{"t":"format_disk"}"#,
        r#"{"t":"status"}"#,
        "\u{0}",
    ] {
        assert_eq!(TabMsg::decode(bad), None, "{bad:?}");
    }
}

fn queued(me: &Identity, body: &str, at: u64) -> (StoredMessage, OutboxEntry) {
    let bob = Identity::generate(&mut OsRng).public();
    let (env, local) = logic::seal_text(me, &bob, body, at, at * 1000).unwrap();
    let entry = OutboxEntry {
        msg_id: local.msg_id.clone(),
        peer_node_id: local.peer_node_id.clone(),
        envelope: env,
        queued_at: local.stored_at,
    };
    (local, entry)
}

#[wasm_bindgen_test]
fn reload_merge_never_reverts_a_settled_message_nor_resends_it() {
    let me = Identity::generate(&mut OsRng);
    let (a, a_entry) = queued(&me, "a", 10);
    let (b, b_entry) = queued(&me, "b", 20);
    let (c, c_entry) = queued(&me, "c", 30);

    // This (leader) tab delivered `a` (its settle write may still be in flight) and holds `c`
    // in memory only (it could not be persisted). Another tab queued `b`.
    let mut a_sent = a.clone();
    a_sent.state = OutState::Sent;
    let mem_messages = vec![a_sent.clone(), c.clone()];
    let mem_outbox = vec![c_entry.clone()];
    let stored_messages = vec![b.clone(), a.clone()];
    let stored_outbox = vec![b_entry.clone(), a_entry.clone()];

    let (messages, outbox) =
        merge_reload(&mem_messages, &mem_outbox, stored_messages, stored_outbox);
    let state_of = |m: &StoredMessage| {
        messages
            .iter()
            .find(|x| x.key() == m.key())
            .map(|x| x.state)
    };
    assert_eq!(messages.len(), 3);
    assert_eq!(
        state_of(&a),
        Some(OutState::Sent),
        "a stale 'queued' never wins"
    );
    assert_eq!(state_of(&b), Some(OutState::Queued));
    assert_eq!(state_of(&c), Some(OutState::Queued));
    let keys: Vec<String> = outbox.iter().map(|e| e.key()).collect();
    assert_eq!(
        keys,
        vec![b_entry.key(), c_entry.key()],
        "a is not sent twice; oldest first"
    );

    // A state the other tab settled wins over this tab's queued copy.
    let mut b_failed = b.clone();
    b_failed.state = OutState::Failed;
    b_failed.error = Some("too large".into());
    let (messages, outbox) = merge_reload(
        std::slice::from_ref(&b),
        std::slice::from_ref(&b_entry),
        vec![b_failed.clone()],
        vec![],
    );
    assert_eq!(messages, vec![b_failed]);
    assert!(outbox.is_empty());

    // Reloading the same data twice changes nothing (no duplicated rows).
    let incoming = StoredMessage {
        direction: Direction::In,
        ..a.clone()
    };
    let stored = vec![incoming.clone(), a_sent.clone()];
    let (once, _) = merge_reload(&[], &[], stored.clone(), vec![]);
    let (twice, _) = merge_reload(&once, &[], stored, vec![]);
    assert_eq!(once, twice);
    assert_eq!(twice.len(), 2);
}

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

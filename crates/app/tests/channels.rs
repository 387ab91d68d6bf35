//! Browser tests of the channels board fed by the store (`platform::idb::watch`): each page
//! the sync stores and each cut reach the store's chain watchers once committed, with the
//! exact texts stored, and the board folded from them equals the board read back from
//! IndexedDB (`channels::effects`, as after a reload) and core's `group` over the stored chain.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use postern_app::channels::effects;
use postern_app::model::chain::{pages, SyncHead};
use postern_app::model::channels::feed::board_events;
use postern_app::model::channels::{Action, ChannelsModel, Effect, Env};
use postern_app::platform::idb::{ChainChange, Storage};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::channels::group;
use postern_core::public_view::redact_text;
use postern_core::{ChainEvent, Identity};
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The relay's public view of a generated chain (private events as stubs), as stored.
fn texts(events: &[ChainEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| redact_text(&e.to_value().to_json_ordered()).unwrap())
        .collect()
}

fn chain(n: usize, authors: usize) -> Vec<ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            authors,
            start_timestamp: 1_780_000_000,
            include_gate_messages: true,
        },
    )
}

async fn append(db: &Storage, first: u64, texts: &[String], head: &str) -> SyncHead {
    let cursor = SyncHead {
        count: first + texts.len() as u64,
        head: head.to_string(),
        ..Default::default()
    };
    db.append_page(first, &pages::encode(texts), &cursor)
        .await
        .unwrap();
    cursor
}

/// A board that reads storage only (a reload): tick, then every page it asks for.
async fn read_back(db: &Rc<Storage>, env: &Env<'_>) -> ChannelsModel {
    let mut m = ChannelsModel::new();
    m.reduce(Action::Tick, env);
    loop {
        let read = m
            .take_effects()
            .into_iter()
            .find(|f| matches!(f, Effect::Read { .. }));
        let Some(read) = read else { return m };
        let action = effects::run(read, db.clone()).await.unwrap();
        m.reduce(action, env);
    }
}

/// Fold what the store told since the last call, answering from storage every read the board
/// asks for (at once, as the app's effects do).
async fn follow(
    fed: &mut ChannelsModel,
    told: &RefCell<Vec<Action>>,
    db: &Rc<Storage>,
    env: &Env<'_>,
) -> usize {
    let actions: Vec<Action> = std::mem::take(&mut *told.borrow_mut());
    let mut reads = 0;
    for action in actions {
        fed.reduce(action, env);
        loop {
            let read = fed
                .take_effects()
                .into_iter()
                .find(|f| matches!(f, Effect::Read { .. }));
            let Some(read) = read else { break };
            reads += 1;
            let answer = effects::run(read, db.clone()).await.unwrap();
            fed.reduce(answer, env);
        }
    }
    reads
}

#[wasm_bindgen_test]
async fn the_board_follows_what_the_store_commits_as_a_reload_reads_it() {
    let name = format!(
        "postern-channels-test-{}",
        postern_core::dm::new_msg_id(&mut OsRng)
    );
    let db = Rc::new(Storage::open(&name).await.unwrap());
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: false,
        now_ms: 1,
    };
    let told: Rc<RefCell<Vec<Action>>> = Rc::default();
    let seen: Rc<RefCell<Vec<(u64, usize, u64)>>> = Rc::default();
    let watch = db.watch_chain({
        let (told, seen) = (told.clone(), seen.clone());
        move |change| {
            if let ChainChange::Appended { first, texts, head } = change {
                seen.borrow_mut().push((*first, texts.len(), head.count));
            }
            told.borrow_mut().push(effects::stored(change));
        }
    });
    // The board's first read, on an empty store.
    let mut fed = ChannelsModel::new();
    fed.reduce(Action::Tick, &env);
    let first = fed.take_effects().pop().unwrap();
    let answer = effects::run(first, db.clone()).await.unwrap();
    fed.reduce(answer, &env);

    let events = chain(1_300, 3);
    let all = texts(&events);
    // Pages as the sync stores them: one of a record's size, one longer than a record (cut
    // into two), a short one; each followed without reading storage.
    append(&db, 0, &all[..500], &events[499].event_id).await;
    assert_eq!(follow(&mut fed, &told, &db, &env).await, 0);
    append(&db, 500, &all[500..1_200], &events[1_199].event_id).await;
    assert_eq!(follow(&mut fed, &told, &db, &env).await, 0);
    append(&db, 1_200, &all[1_200..1_250], &events[1_249].event_id).await;
    assert_eq!(follow(&mut fed, &told, &db, &env).await, 0);
    assert_eq!(fed.chain, (1_250, events[1_249].event_id.clone()));
    assert_eq!(
        *seen.borrow(),
        vec![(0, 500, 500), (500, 700, 1_200), (1_200, 50, 1_250)],
        "each page told once committed, with every text"
    );
    // A fork heal: cut back to 900 (the board starts over from storage), then another
    // chain's events relinked on event 899 (followed again).
    db.truncate_events(&SyncHead {
        count: 900,
        head: events[899].event_id.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(follow(&mut fed, &told, &db, &env).await > 0);
    assert_eq!(fed.chain, (900, events[899].event_id.clone()));
    let mut prev = events[899].event_id.clone();
    let fork: Vec<ChainEvent> = chain(200, 5)
        .into_iter()
        .map(|mut e| {
            e.prev_hash = prev.clone();
            e.event_id = e.computed_event_id();
            prev = e.event_id.clone();
            e
        })
        .collect();
    append(&db, 900, &texts(&fork), &prev).await;
    assert_eq!(follow(&mut fed, &told, &db, &env).await, 0);

    let back = read_back(&db, &env).await;
    let stored = db.event_texts().await.unwrap();
    assert_eq!(stored.len(), 1_100);
    let board_events = board_events(&stored);
    assert!(
        board_events.len() > 500,
        "posts, votes and reports among stubs and predictions"
    );
    assert_eq!(fed.chain, (1_100, prev.clone()));
    assert_eq!(back.chain, fed.chain);
    assert_eq!(fed.board, back.board);
    assert_eq!(fed.board, group(board_events.iter().map(|e| (e, true))));

    // Dropping the stored chain is a cut to 0: the board is emptied.
    db.clear_events().await.unwrap();
    follow(&mut fed, &told, &db, &env).await;
    assert_eq!(fed.chain, (0, String::new()));
    assert_eq!(fed.board, Default::default());
    // A dropped watch is told nothing more.
    drop(watch);
    append(&db, 0, &all[..10], &events[9].event_id).await;
    assert!(told.borrow().is_empty());
    assert_eq!(seen.borrow().len(), 4);
    drop(back);
    let db = Rc::try_unwrap(db).ok().unwrap();
    db.close();
    postern_app::platform::idb::delete_database(&name)
        .await
        .unwrap();
}

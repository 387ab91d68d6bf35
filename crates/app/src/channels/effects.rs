//! The I/O of the channels panel: follows the pages this tab's sync stores (told by the store,
//! with their texts), reads the verified chain from IndexedDB otherwise (only when it changed)
//! and the public-post outbox, stores outbox changes, and appends
//! queued posts through `POST /api/infonet/append`; each async effect answers with an action.
use std::rc::Rc;

use crate::model::chain::pages::PAGE_MAX;
use crate::model::channels::{feed, Action, Effect, QueuedPost, ReadOut, Stored};
use crate::model::delivery::RelayError;
use crate::platform::clock::next_task;
use crate::platform::idb::{ChainChange, Storage};
use crate::platform::relay_client as relay;

/// Run one effect; `Read`, `Queue` and `Flush` answer with an action.
pub async fn run(effect: Effect, storage: Rc<Storage>) -> Option<Action> {
    match effect {
        Effect::Read {
            count,
            head,
            outbox,
        } => Some(Action::Read(read(&storage, count, &head, outbox).await)),
        Effect::Queue(p) => Some(Action::Queued(
            store(&storage, &p).await.map(|()| Box::new(p)),
        )),
        Effect::Persist(p) => {
            let _ = store(&storage, &p).await;
            None
        }
        Effect::SyncChain => {
            crate::platform::dom::request_chain_sync();
            None
        }
        Effect::Delete(key) => {
            let _ = storage.delete_channel_post(&key).await;
            None
        }
        Effect::Flush(posts) => {
            let mut out = Vec::with_capacity(posts.len());
            let mut down: Option<RelayError> = None;
            for p in posts {
                let key = p.key();
                // Oldest first; once the relay is unreachable the rest wait for the next try.
                let result = match &down {
                    Some(e) => Err(e.clone()),
                    None => relay::infonet_append(&p.body).await,
                };
                if let Err(e) = &result {
                    if e.is_unreachable() {
                        down = Some(e.clone());
                    }
                }
                out.push((key, result));
            }
            Some(Action::Flushed(out))
        }
    }
}

/// A change this tab's sync committed to the stored chain, for the board: a stored page's
/// board events parsed from the texts the write held (no IndexedDB read), or the cut.
pub fn stored(change: &ChainChange<'_>) -> Action {
    Action::Stored(match change {
        ChainChange::Appended { first, texts, head } => {
            Stored::Page(feed::page_read(*first, texts, head.count, &head.head))
        }
        ChainChange::Cut(count) => Stored::Cut(*count),
    })
}

async fn store(storage: &Storage, p: &QueuedPost) -> Result<(), String> {
    let json = serde_json::to_string(p).map_err(|e| e.to_string())?;
    storage
        .put_channel_post(&p.record_key(), json)
        .await
        .map_err(|e| e.to_string())
}

/// Stored events read per [`Effect::Read`]: one stored page record (`pages::PAGE_MAX`), on its
/// boundaries, so each read opens one record and parses at most one page, in tasks of
/// [`PARSE_CHUNK`] texts; the reducer folds the page into the board and asks for the next
/// (issue 16: the board's rebuild over every event after a 100k-event first sync was one
/// 77–125 ms task).
const READ_CHUNK: u64 = PAGE_MAX;
/// Stored texts parsed per main-thread task.
const PARSE_CHUNK: usize = 125;

async fn read(
    storage: &Storage,
    count: u64,
    head: &str,
    with_outbox: bool,
) -> Result<ReadOut, String> {
    let outbox = if with_outbox {
        let posts = storage.channel_posts().await.map_err(|e| e.to_string())?;
        Some(
            posts
                .iter()
                .filter_map(|j| serde_json::from_str::<QueuedPost>(j).ok())
                .collect(),
        )
    } else {
        None
    };
    let cursor = storage.sync_head().await.map_err(|e| e.to_string())?;
    let chain = if cursor.count == count && cursor.head == head {
        None
    } else {
        let mut from = feed::read_start(count, cursor.count);
        let mut page = texts(storage, from, cursor.count).await?;
        if from > 0 && !feed::continues(page.first().map(String::as_str), head) {
            from = 0;
            page = texts(storage, 0, cursor.count).await?;
        }
        let mut events = Vec::new();
        // Parsed in slices, each in its own task (the record was opened in this one).
        for slice in page.chunks(PARSE_CHUNK) {
            next_task().await;
            events.extend(feed::board_events(slice));
        }
        Some(feed::stored_read(
            (count, head),
            from,
            &page,
            events,
            (cursor.count, cursor.head),
        ))
    };
    Ok(ReadOut {
        chain,
        outbox,
        sync_ok_at: cursor.scheduler.last_sync_ok_at,
    })
}

/// The stored texts from `start` up to the end of its page record (and below `end`).
async fn texts(storage: &Storage, start: u64, end: u64) -> Result<Vec<String>, String> {
    let end = end.min((start / READ_CHUNK + 1) * READ_CHUNK);
    storage
        .event_texts_range(start, end)
        .await
        .map_err(|e| e.to_string())
}

//! Chain fixtures shared by the peer-push tests: generated chains, push bodies, and what a
//! relay's database and status hold.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use postern_core::api::infonet::PATH_STATUS;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;

use super::{now, Relay};

/// A valid chain of `n` events by `authors` authors (gate messages included), recent enough
/// for a relay's freshness window.
pub fn gen_chain(n: usize, authors: usize) -> Vec<ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            authors,
            start_timestamp: now() - 100_000,
            include_gate_messages: true,
        },
    )
}

/// The `infonet/peer-push` body carrying `events` as stored.
pub fn push_body(events: &[ChainEvent]) -> String {
    let texts: Vec<String> = events
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    format!("{{\"events\":[{}]}}", texts.join(","))
}

/// The relay's `total_events` as its status reports it.
pub fn total_events(relay: &Relay) -> u64 {
    relay.get(PATH_STATUS).json()["total_events"]
        .as_u64()
        .unwrap()
}

/// Every stored event id, in chain order, read from the database under `data`.
pub fn stored_ids(data: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(data.join("postern.sqlite3")).unwrap();
    let mut stmt = db
        .prepare("SELECT event_id FROM infonet_chain ORDER BY idx")
        .unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    ids
}

/// Rows left in the replication outbox of the relay under `data`.
pub fn outbox_len(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("postern.sqlite3")).unwrap();
    db.query_row("SELECT COUNT(*) FROM replication_outbox", [], |r| r.get(0))
        .unwrap()
}

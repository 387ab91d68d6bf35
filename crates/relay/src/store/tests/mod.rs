//! Unit tests of the SQLite store: migrations, DM spool, outbox, gates, cursors.
#![allow(clippy::unwrap_used)]

mod dm;
mod dm_counts;
mod gate;

use std::path::Path;

use postern_core::dm::DmEnvelope;
use rusqlite::{params, Connection};

use super::migrations::MIGRATIONS;
use super::*;

pub(super) fn env(recipient: &str, msg_id: &str, sender_ref: &str) -> DmEnvelope {
    DmEnvelope {
        format: postern_core::dm::FORMAT.into(),
        recipient_id: recipient.into(),
        msg_id: msg_id.into(),
        sender_ref: sender_ref.into(),
        ephemeral_pub: "AAAA".into(),
        ciphertext: "AAAA".into(),
    }
}

pub(super) fn nonce<'a>(node: &'a str, n: &'a str, exp: u64) -> NonceUse<'a> {
    NonceUse {
        node_id: node,
        nonce: n,
        expires_at: exp,
    }
}

pub(super) const R: &str = "!sb_00000000000000000000000000000001";

/// A stand-in owner proof (the store never verifies it: the handlers do, with core).
pub(super) fn proof(node: &str) -> postern_core::auth::RequestAuth {
    postern_core::auth::RequestAuth {
        node_id: node.into(),
        public_key: "pk".into(),
        timestamp: 1,
        nonce: "00".repeat(16),
        signature: "00".repeat(64),
        origin: None,
    }
}

#[test]
fn migrations_and_replay() {
    let mut s = Store::open_in_memory().unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(
        s.register(nonce(R, "n1", 400), "pk", "dh", None, 100)
            .unwrap(),
        Ok(())
    );
    assert_eq!(
        s.register(nonce(R, "n1", 400), "pk", "dh", None, 100)
            .unwrap(),
        Err(Replayed)
    );
    // Once the nonce's window is over it is pruned (a request carrying it would be stale).
    assert_eq!(
        s.poll(nonce(R, "n2", 900), 10, 401).unwrap().map(|p| p.1),
        Ok(0)
    );
    assert_eq!(
        s.register(nonce(R, "n1", 1000), "pk", "dh2", None, 401)
            .unwrap(),
        Ok(())
    );
    assert_eq!(s.node(R).unwrap().unwrap().dh_pub_key, "dh2");
}

#[test]
fn a_binding_is_kept_while_the_keys_stay_and_dropped_when_they_change() {
    let mut s = Store::open_in_memory().unwrap();
    let binding = |s: &Store| s.node(R).unwrap().unwrap().binding;
    s.register(nonce(R, "b1", 1000), "pk", "dh", Some("sig1"), 1)
        .unwrap()
        .unwrap();
    assert_eq!(binding(&s).as_deref(), Some("sig1"));
    // An older client refreshing the same keys without a binding does not downgrade it.
    s.register(nonce(R, "b2", 1000), "pk", "dh", None, 2)
        .unwrap()
        .unwrap();
    assert_eq!(binding(&s).as_deref(), Some("sig1"));
    // New keys: the old binding no longer covers them.
    s.register(nonce(R, "b3", 1000), "pk", "dh2", None, 3)
        .unwrap()
        .unwrap();
    assert_eq!(binding(&s), None);
    s.register(nonce(R, "b4", 1000), "pk", "dh2", Some("sig2"), 4)
        .unwrap()
        .unwrap();
    assert_eq!(binding(&s).as_deref(), Some("sig2"));
}

#[test]
fn file_store_is_durable_wal_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous must be FULL");
    let temp: i64 = s
        .conn
        .query_row("PRAGMA temp_store", [], |r| r.get(0))
        .unwrap();
    assert_eq!(temp, 2, "savepoint sub-journals stay in memory");
    s.conn.pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

/// A database migrated only up to `version`, as an older relay left it.
fn database_at_version(dir: &Path, version: usize) -> Connection {
    let mut conn = Connection::open(dir.join(DB_FILE)).unwrap();
    for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(sql).unwrap();
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .unwrap();
        tx.commit().unwrap();
    }
    conn
}

#[test]
fn gate_migration_keeps_existing_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A version-2 database (before private gates) holding a registered node.
        let conn = database_at_version(dir.path(), 2);
        conn.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at) VALUES (?1, 'pk', 'dh', 7)",
            params![R],
        )
        .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(s.node(R).unwrap().unwrap().registered_at, 7);
    let n: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM gate_epochs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn outbox_migration_keeps_existing_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A version-3 database (before the durable outbox) holding a node and a message.
        let conn = database_at_version(dir.path(), 3);
        conn.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at) VALUES (?1, 'pk', 'dh', 7)",
            params![R],
        )
        .unwrap();
        let json = serde_json::to_string(&env(R, "msg-0001", "aa")).unwrap();
        conn.execute(
            "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
             VALUES (?1, 'msg-0001', 'aa', ?2, 5, 5000)",
            params![R, json],
        )
        .unwrap();
    }
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(s.node(R).unwrap().unwrap().registered_at, 7);
    let (msgs, total) = s.poll(nonce(R, "n1", 1000), 10, 10).unwrap().unwrap();
    assert_eq!((msgs.len(), total), (1, 1));
    assert_eq!(msgs[0].expires_at, 5000);
    assert_eq!(s.outbox_len().unwrap(), 0);
    let n: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM dm_tombstones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn outbox_count_migration_counts_queued_jobs_per_peer() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A version-11 database with jobs queued for two peers.
        let conn = database_at_version(dir.path(), 11);
        for (peer, n) in [("http://a", 3), ("http://b", 1)] {
            for _ in 0..n {
                conn.execute(
                    "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
                     VALUES (?1, '/p', '{}', 0, 1, 1)",
                    params![peer],
                )
                .unwrap();
            }
        }
    }
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.outbox_len().unwrap(), 4);
    assert_eq!(s.outbox_resume("http://a", 2).unwrap(), 3);
    assert_eq!(s.outbox_resume("http://b", 2).unwrap(), 1);
    assert_eq!(s.outbox_resume("http://c", 2).unwrap(), 0);
    let job = s.outbox_head("http://b").unwrap().unwrap();
    s.outbox_done(job.id).unwrap();
    assert_eq!(s.outbox_resume("http://b", 2).unwrap(), 0);
    assert_eq!(s.outbox_len().unwrap(), 3);
}

#[test]
fn the_feed_serves_a_spooled_envelope_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A version-12 database whose feed holds a copy of each spooled envelope.
        let conn = database_at_version(dir.path(), 12);
        for (id, exp) in [("msg-0001", 5000), ("msg-0002", 6000)] {
            let e = env(R, id, "aa");
            let json = serde_json::to_string(&e).unwrap();
            conn.execute(
                "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
                 VALUES (?1, ?2, 'aa', ?3, 5, ?4)",
                params![R, id, json, exp],
            )
            .unwrap();
            let body = serde_json::to_string(&postern_core::api::peer::ReplicateEnvelopeRequest {
                envelope: e,
                expires_at: exp,
            })
            .unwrap();
            conn.execute(
                "INSERT INTO dm_feed (kind, recipient_id, msg_id, body, expires_at) VALUES ('envelope', ?1, ?2, ?3, ?4)",
                params![R, id, body, exp],
            )
            .unwrap();
        }
    }
    let s = Store::open(dir.path()).unwrap();
    let before = s.dm_feed_page(0, 10, 1 << 20, 10).unwrap();
    // Migrated rows keep no second copy, and are served as before.
    let copies: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM dm_feed WHERE body != ''", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(copies, 0);
    let (rows, more) = before;
    assert!(!more);
    let ids: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            let req: postern_core::api::peer::ReplicateEnvelopeRequest =
                serde_json::from_str(&r.body).unwrap();
            (req.envelope.msg_id, req.expires_at)
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("msg-0001".to_string(), 5000),
            ("msg-0002".to_string(), 6000)
        ]
    );
    // A message that left the spool without its feed row (deleted here by hand) is skipped,
    // and the page still fills up to its limit from the rows after it.
    s.conn
        .execute("DELETE FROM messages WHERE msg_id = 'msg-0001'", [])
        .unwrap();
    let (rows, more) = s.dm_feed_page(0, 1, 1 << 20, 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].body.contains("msg-0002"));
    assert!(!more);
}

#[test]
fn dm_feed_migration_lists_spooled_messages_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A version-4 database (before the pull feed) holding two messages.
        let conn = database_at_version(dir.path(), 4);
        for (id, exp) in [("msg-0001", 5000), ("msg-0002", 6000)] {
            let json = serde_json::to_string(&env(R, id, "aa")).unwrap();
            conn.execute(
                "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
                 VALUES (?1, ?2, 'aa', ?3, 5, ?4)",
                params![R, id, json, exp],
            )
            .unwrap();
        }
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let (rows, more) = s.dm_feed_page(0, 10, 1 << 20, 10).unwrap();
    assert!(!more);
    let got: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.kind, "envelope");
            let req: postern_core::api::peer::ReplicateEnvelopeRequest =
                serde_json::from_str(&r.body).unwrap();
            (req.envelope.msg_id, req.expires_at)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("msg-0001".to_string(), 5000),
            ("msg-0002".to_string(), 6000)
        ]
    );
    assert!(rows[0].seq < rows[1].seq);
    assert_eq!(s.pull_cursor("http://a").unwrap(), (0, 0));
}

#[test]
fn gate_parking_and_sync_state_migration_keeps_existing_data() {
    let dir = tempfile::tempdir().unwrap();
    // The migration that adds `gate_parked` (its number may change when branches merge).
    let version = MIGRATIONS
        .iter()
        .position(|m| m.contains("CREATE TABLE gate_parked"))
        .unwrap();
    {
        let conn = database_at_version(dir.path(), version);
        conn.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at) VALUES (?1, 'pk', 'dh', 7)",
            params![R],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
             VALUES ('http://a', '/x', '{}', 2, 9, 1)",
            [],
        )
        .unwrap();
        // A gate stored before the feed existed.
        conn.execute_batch(
            "INSERT INTO gates (gate, genesis_hash, head_epoch, created_at) VALUES ('g', 'h', 1, 1);
             INSERT INTO gate_epochs (gate, epoch, hash, record, received_at) VALUES ('g', 1, 'h', '{\"r\":1}', 1);
             INSERT INTO gate_messages (gate, epoch, nonce, message, received_at) VALUES ('g', 1, 'n', '{\"m\":1}', 2);",
        )
        .unwrap();
    }
    let mut s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(s.node(R).unwrap().unwrap().registered_at, 7);
    assert_eq!(s.outbox_head("http://a").unwrap().unwrap().attempts, 2);
    assert_eq!(s.gate_parked_len().unwrap(), 0);
    assert_eq!(s.sync_state_load("http://a").unwrap(), None);
    // The chain puller's scheduler configuration for a 10 s interval.
    let cfg = postern_core::sync::SyncConfig {
        interval_s: 10,
        failure_backoff_s: 10,
        failure_backoff_cap_s: 80,
    };
    let rec = PeerSync {
        state: postern_core::sync::SyncWorkerState::default().finish_err(
            &cfg,
            "http://a",
            "status 429",
            false,
            30,
            100,
        ),
        last_retry_after_s: 30,
        peer_head: "ab".repeat(32),
        fork_reports: 2,
        incomplete_view: Some(IncompleteView {
            reason: postern_core::public_view::IncompleteReason::Gap,
            detail: "event x names prev_hash y".into(),
        }),
    };
    s.sync_state_save("http://a", &rec, 100).unwrap();
    // The old gate items are in the pull feed, epochs first.
    let feed = s.gate_feed_page(0, 10, 1 << 20).unwrap();
    assert_eq!(
        feed,
        vec![
            (1, "{\"record\":{\"r\":1}}".to_string()),
            (2, "{\"message\":{\"m\":1}}".to_string())
        ]
    );
    assert_eq!(s.gate_feed_page(1, 10, 1 << 20).unwrap().len(), 1);
    assert_eq!(s.gate_feed_page(0, 10, 1).unwrap().len(), 1);
    assert_eq!(s.gate_pull_cursor("http://a").unwrap(), 0);
    s.set_gate_pull_cursor("http://a", 2, 100).unwrap();
    drop(s);
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.sync_state_load("http://a").unwrap(), Some(rec.clone()));
    assert_eq!(
        s.sync_state_load("http://a")
            .unwrap()
            .unwrap()
            .state
            .next_sync_due_at,
        130
    );
    assert_eq!(s.gate_pull_cursor("http://a").unwrap(), 2);
}

#[test]
fn one_chain_migration_keeps_the_public_chain_and_the_old_private_lane() {
    use postern_core::chaingen::{generate_chain, GenOptions};
    let dir = tempfile::tempdir().unwrap();
    // The migration that merges the lanes (its number may change when branches merge).
    let version = MIGRATIONS
        .iter()
        .position(|m| m.contains("RENAME TO infonet_chain"))
        .unwrap();
    let public = generate_chain(
        5,
        GenOptions {
            include_gate_messages: false,
            ..GenOptions::default()
        },
    );
    {
        let conn = database_at_version(dir.path(), version);
        for (i, e) in public.iter().enumerate() {
            conn.execute(
                "INSERT INTO infonet_public (idx, event_id, prev_hash, event_type, node_id, event, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1780000100)",
                params![i as i64, e.event_id, e.prev_hash, e.event_type, e.node_id, e.to_value().to_json_ordered()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO infonet_private (idx, event_id, prev_hash, event_type, node_id, event, received_at)
             VALUES (0, 'p0', '00', 'gate_message', 'n', '{}', 1)",
            [],
        )
        .unwrap();
        let state = serde_json::to_string(&postern_core::sync::SyncWorkerState::default()).unwrap();
        conn.execute(
            "INSERT INTO sync_peer_state (peer, state, fork_reports, updated_at) VALUES ('http://a', ?1, 3, 1)",
            params![state],
        )
        .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let texts = s.chain_range(0, 100).unwrap();
    let want: Vec<String> = public
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    assert_eq!(texts, want);
    assert_eq!(s.chain_index_of(&public[4].event_id).unwrap(), Some(4));
    assert_eq!(s.chain_index_of("p0").unwrap(), None);
    assert_eq!(s.legacy_private_count().unwrap(), 1);
    // A sync state stored before keeps its fields and has no incomplete view.
    let rec = s.sync_state_load("http://a").unwrap().unwrap();
    assert_eq!((rec.fork_reports, rec.incomplete_view), (3, None));
}

/// An outbox to `peers` whose dropped rows are counted as replication errors in the returned
/// metrics (as the replication senders count them).
pub(super) fn outbox_counted(
    peers: &[&str],
    cap: u64,
) -> (Outbox, std::sync::Arc<crate::metrics::Metrics>) {
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
    let m = std::sync::Arc::clone(&metrics);
    let outbox = Outbox {
        peers: peers
            .iter()
            .map(|p| OutboxPeer {
                url: p.to_string(),
                wake: std::sync::Arc::new(|()| {}),
            })
            .collect(),
        cap_per_peer: cap,
        on_dropped: Some(std::sync::Arc::new(move |n| {
            for _ in 0..n {
                m.replication("error");
            }
        })),
    };
    (outbox, metrics)
}

pub(super) fn outbox(peers: &[&str], cap: u64) -> Outbox {
    outbox_counted(peers, cap).0
}

pub(super) fn outbox_rows(s: &Store, peer: &str) -> Vec<String> {
    let mut stmt = s
        .conn
        .prepare("SELECT body FROM replication_outbox WHERE peer = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map(params![peer], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

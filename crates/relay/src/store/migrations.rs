//! Schema migrations of the relay database; `PRAGMA user_version` is the number applied so far.
use rusqlite::{Connection, TransactionBehavior};

use super::error::StoreError;

/// Schema migrations; `PRAGMA user_version` is the number applied so far.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: walking skeleton.
    "CREATE TABLE nodes (
        node_id       TEXT PRIMARY KEY NOT NULL,
        public_key    TEXT NOT NULL,
        dh_pub_key    TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE nonces (
        node_id    TEXT NOT NULL,
        nonce      TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (node_id, nonce)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX nonces_expiry ON nonces (expires_at);
    CREATE TABLE messages (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient_id TEXT NOT NULL,
        msg_id       TEXT NOT NULL,
        sender_ref   TEXT NOT NULL,
        envelope     TEXT NOT NULL,
        received_at  INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        UNIQUE (recipient_id, msg_id)
    ) STRICT;
    CREATE INDEX messages_pair ON messages (recipient_id, sender_ref);
    CREATE INDEX messages_expiry ON messages (expires_at);",
    // 2: Infonet chain, one table per lane. `idx` is the 0-based position in the lane, `event` the
    // exact JSON of the event as served; the other columns are lookup keys.
    "CREATE TABLE infonet_public (
        idx         INTEGER PRIMARY KEY NOT NULL CHECK (idx >= 0),
        event_id    TEXT NOT NULL UNIQUE,
        prev_hash   TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        node_id     TEXT NOT NULL,
        event       TEXT NOT NULL,
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX infonet_public_node ON infonet_public (node_id, idx);
    CREATE TABLE infonet_private (
        idx         INTEGER PRIMARY KEY NOT NULL CHECK (idx >= 0),
        event_id    TEXT NOT NULL UNIQUE,
        prev_hash   TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        node_id     TEXT NOT NULL,
        event       TEXT NOT NULL,
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX infonet_private_node ON infonet_private (node_id, idx);",
    // 3: private gates. `gate_epochs` holds the exact JSON of every accepted epoch record,
    // `gate_members` the roster of each epoch (for read authorisation), `gate_messages` the
    // sealed messages (ciphertext only, exactly as validated).
    "CREATE TABLE gates (
        gate         TEXT PRIMARY KEY NOT NULL,
        genesis_hash TEXT NOT NULL,
        head_epoch   INTEGER NOT NULL,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE gate_epochs (
        gate        TEXT NOT NULL REFERENCES gates (gate),
        epoch       INTEGER NOT NULL,
        hash        TEXT NOT NULL,
        record      TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (gate, epoch)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE gate_members (
        gate      TEXT NOT NULL,
        member_id TEXT NOT NULL,
        epoch     INTEGER NOT NULL,
        PRIMARY KEY (gate, member_id, epoch)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE gate_messages (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        gate        TEXT NOT NULL REFERENCES gates (gate),
        epoch       INTEGER NOT NULL,
        nonce       TEXT NOT NULL,
        message     TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        UNIQUE (gate, nonce)
    ) STRICT;
    CREATE INDEX gate_messages_epoch ON gate_messages (gate, epoch, seq);",
    // 4: durable peer replication. `replication_outbox` holds one row per (peer, job), written
    // in the same transaction as the deposit / ack / append that creates the job; `path` and
    // `body` are the exact request to send. `dm_tombstones` remembers acked msg_ids until the
    // message would have expired, so a late replica is not stored (or forwarded) again.
    "CREATE TABLE replication_outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        peer            TEXT NOT NULL,
        path            TEXT NOT NULL,
        body            TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        created_at      INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX replication_outbox_peer ON replication_outbox (peer, id);
    CREATE TABLE dm_tombstones (
        recipient_id TEXT NOT NULL,
        msg_id       TEXT NOT NULL,
        expires_at   INTEGER NOT NULL,
        PRIMARY KEY (recipient_id, msg_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX dm_tombstones_expiry ON dm_tombstones (expires_at);",
    // 5 (relay-b): gate replication parking, gate pull feed and persisted pull-sync state.
    // `gate_feed` orders every stored epoch record and gate message (existing ones backfilled)
    // for peers that pull; `gate_pull_cursor` is how far this relay pulled from each peer.
    // `gate_parked` holds
    // gate items pushed by a peer before their predecessor (an epoch record whose previous
    // epoch, or a message whose epoch, is not here yet): exact JSON, never served, re-run
    // through core once the missing epoch arrives. `sync_peer_state` is the pull-sync
    // scheduler state of each peer (JSON of core's `SyncWorkerState` plus relay fields).
    "CREATE TABLE gate_parked (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        gate        TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('epoch', 'message')),
        epoch       INTEGER NOT NULL,
        item_key    TEXT NOT NULL,
        body        TEXT NOT NULL,
        from_peer   TEXT,
        received_at INTEGER NOT NULL,
        UNIQUE (gate, kind, item_key)
    ) STRICT;
    CREATE INDEX gate_parked_gate ON gate_parked (gate, epoch, id);
    CREATE INDEX gate_parked_age ON gate_parked (received_at);
    CREATE TABLE sync_peer_state (
        peer             TEXT PRIMARY KEY NOT NULL,
        state            TEXT NOT NULL,
        last_retry_after INTEGER NOT NULL DEFAULT 0,
        peer_head        TEXT NOT NULL DEFAULT '',
        fork_reports     INTEGER NOT NULL DEFAULT 0,
        updated_at       INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE gate_feed (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        gate     TEXT NOT NULL,
        kind     TEXT NOT NULL CHECK (kind IN ('epoch', 'message')),
        item_ref INTEGER NOT NULL
    ) STRICT;
    INSERT INTO gate_feed (gate, kind, item_ref) SELECT gate, 'epoch', epoch FROM gate_epochs ORDER BY gate, epoch;
    INSERT INTO gate_feed (gate, kind, item_ref) SELECT gate, 'message', seq FROM gate_messages ORDER BY seq;
    CREATE TABLE gate_pull_cursor (
        peer       TEXT PRIMARY KEY NOT NULL,
        after_seq  INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;",
    // 6 (relay-a): DM pull-from-peers (pulled by the DM feed puller). `dm_feed` lists, in a local strictly
    // increasing `seq`, every envelope spooled here and every owner-signed ack applied here
    // (`body` = the exact replicate-envelope / replicate-ack request), so a peer can pull what
    // its pushes never brought; an acked or expired envelope leaves the feed. `dm_pull_cursors`
    // holds the last `seq` pulled from each peer, so a restart resumes where it stopped.
    // Messages already spooled are listed in their spool order. Also indexes `gate_members` by
    // member for `gate/mine`.
    "CREATE TABLE dm_feed (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind         TEXT NOT NULL CHECK (kind IN ('envelope', 'ack')),
        recipient_id TEXT NOT NULL,
        msg_id       TEXT,
        body         TEXT NOT NULL,
        expires_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX dm_feed_msg ON dm_feed (recipient_id, msg_id);
    CREATE INDEX dm_feed_expiry ON dm_feed (expires_at);
    CREATE TABLE dm_pull_cursors (
        peer       TEXT PRIMARY KEY NOT NULL,
        after      INTEGER NOT NULL,
        pulled     INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
    ) STRICT;
    INSERT INTO dm_feed (kind, recipient_id, msg_id, body, expires_at)
        SELECT 'envelope', recipient_id, msg_id,
               json_object('envelope', json(envelope), 'expires_at', expires_at), expires_at
        FROM messages ORDER BY seq;
    CREATE INDEX gate_members_by_member ON gate_members (member_id);",
    // 7: one chain (issue 12). Public and private ledger events share one prev_hash chain, as
    // every Shadowbroker network has them: `infonet_public` (with its rows, ids and positions)
    // becomes `infonet_chain`, on which new private events are interleaved. The old separate
    // private lane was never linked into the network's chain and cannot be without changing
    // its ids: it is kept untouched as `infonet_private_legacy` (never loaded, served or
    // merged; its size is the `postern_infonet_legacy_private_events` gauge).
    // `sync_peer_state.incomplete_view` is the JSON of why the last pull stopped at a peer's
    // view of its chain (`store::IncompleteView`), empty if it did not.
    "ALTER TABLE infonet_public RENAME TO infonet_chain;
    ALTER TABLE infonet_private RENAME TO infonet_private_legacy;
    ALTER TABLE sync_peer_state ADD COLUMN incomplete_view TEXT NOT NULL DEFAULT '';",
    // 8: mailbox budgets. `dm_contact_lists` marks owners that registered a contact list (an
    // empty list is still a list); `dm_contacts` holds its sender_refs. Deposits under a listed
    // sender_ref count against the contacts' budget, others against the strangers' budget.
    "CREATE TABLE dm_contact_lists (
        owner_id   TEXT PRIMARY KEY NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE dm_contacts (
        owner_id   TEXT NOT NULL,
        sender_ref TEXT NOT NULL,
        PRIMARY KEY (owner_id, sender_ref)
    ) STRICT, WITHOUT ROWID;",
    // 9: signed tree heads (issue 13). `relay_keys` holds this relay's own key seeds (the
    // tree-head key); `own_tree_heads` every head it signed, one per size; `peer_tree_heads`
    // each peer's pinned head; `head_evidence` misbehaviour found in peers' heads.
    "CREATE TABLE relay_keys (
        name       TEXT PRIMARY KEY NOT NULL,
        seed       BLOB NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE own_tree_heads (
        size      INTEGER PRIMARY KEY NOT NULL,
        head      TEXT NOT NULL,
        signed_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE peer_tree_heads (
        peer       TEXT PRIMARY KEY NOT NULL,
        head       TEXT NOT NULL,
        checked_at INTEGER NOT NULL,
        consistent INTEGER NOT NULL,
        last_error TEXT NOT NULL
    ) STRICT;
    CREATE TABLE head_evidence (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        peer     TEXT NOT NULL,
        kind     TEXT NOT NULL,
        evidence TEXT NOT NULL,
        found_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX head_evidence_peer ON head_evidence (peer, id);",
    // 10: identity v2 (issue 14): the owner's binding signature over its Ed25519 and X25519
    // keys, served by `dm/pubkey` so a contact can check the keys a relay hands out.
    "ALTER TABLE nodes ADD COLUMN binding TEXT;",
    // 11: maintained mailbox counters (issue 16), so a deposit's caps read two rows instead of
    // counting the mailbox. `dm_mailbox_counts` holds, per recipient with spooled messages,
    // `total` (every message) and `contacts` (those whose sender_ref is on the owner's contact
    // list now; the strangers' count is `total - contacts`); `dm_pair_counts` the messages per
    // (recipient, sender_ref). Triggers keep both exact in the statement that changes
    // `messages` or `dm_contacts` (so in its transaction), whatever the path: deposit, replica,
    // ack, expiry. Rows of `messages` and `dm_contacts` are only inserted and deleted, never
    // updated or replaced (REPLACE would delete without firing the delete triggers). A count
    // that reaches 0 drops its row. Existing messages are counted here.
    "CREATE TABLE dm_mailbox_counts (
        recipient_id TEXT PRIMARY KEY NOT NULL,
        total        INTEGER NOT NULL,
        contacts     INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE dm_pair_counts (
        recipient_id TEXT NOT NULL,
        sender_ref   TEXT NOT NULL,
        n            INTEGER NOT NULL,
        PRIMARY KEY (recipient_id, sender_ref)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO dm_pair_counts (recipient_id, sender_ref, n)
        SELECT recipient_id, sender_ref, COUNT(*) FROM messages GROUP BY recipient_id, sender_ref;
    INSERT INTO dm_mailbox_counts (recipient_id, total, contacts)
        SELECT p.recipient_id, SUM(p.n),
               SUM(p.n * EXISTS (SELECT 1 FROM dm_contacts c
                                 WHERE c.owner_id = p.recipient_id AND c.sender_ref = p.sender_ref))
        FROM dm_pair_counts p GROUP BY p.recipient_id;
    CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
        INSERT INTO dm_pair_counts (recipient_id, sender_ref, n)
            VALUES (NEW.recipient_id, NEW.sender_ref, 1)
            ON CONFLICT (recipient_id, sender_ref) DO UPDATE SET n = n + 1;
        INSERT INTO dm_mailbox_counts (recipient_id, total, contacts)
            VALUES (NEW.recipient_id, 1, EXISTS (SELECT 1 FROM dm_contacts
                    WHERE owner_id = NEW.recipient_id AND sender_ref = NEW.sender_ref))
            ON CONFLICT (recipient_id) DO UPDATE
            SET total = total + 1, contacts = contacts + excluded.contacts;
    END;
    CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
        UPDATE dm_pair_counts SET n = n - 1
            WHERE recipient_id = OLD.recipient_id AND sender_ref = OLD.sender_ref;
        DELETE FROM dm_pair_counts
            WHERE recipient_id = OLD.recipient_id AND sender_ref = OLD.sender_ref AND n <= 0;
        UPDATE dm_mailbox_counts SET total = total - 1,
            contacts = contacts - EXISTS (SELECT 1 FROM dm_contacts
                       WHERE owner_id = OLD.recipient_id AND sender_ref = OLD.sender_ref)
            WHERE recipient_id = OLD.recipient_id;
        DELETE FROM dm_mailbox_counts WHERE recipient_id = OLD.recipient_id AND total <= 0;
    END;
    CREATE TRIGGER dm_contacts_count_insert AFTER INSERT ON dm_contacts BEGIN
        UPDATE dm_mailbox_counts SET contacts = contacts + COALESCE((SELECT n FROM dm_pair_counts
                WHERE recipient_id = NEW.owner_id AND sender_ref = NEW.sender_ref), 0)
            WHERE recipient_id = NEW.owner_id;
    END;
    CREATE TRIGGER dm_contacts_count_delete AFTER DELETE ON dm_contacts BEGIN
        UPDATE dm_mailbox_counts SET contacts = contacts - COALESCE((SELECT n FROM dm_pair_counts
                WHERE recipient_id = OLD.owner_id AND sender_ref = OLD.sender_ref), 0)
            WHERE recipient_id = OLD.owner_id;
    END;",
    // 12: the replication outbox's length per peer, maintained by triggers like 11 (issue 16):
    // every job queued for every peer used to count that peer's rows to apply the per-peer
    // bound, up to 10,000 index entries per deposit while a peer is down. Rows of
    // `replication_outbox` are only inserted and deleted by peer; `peer` is never updated.
    "CREATE TABLE replication_outbox_counts (
        peer TEXT PRIMARY KEY NOT NULL,
        n    INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO replication_outbox_counts (peer, n)
        SELECT peer, COUNT(*) FROM replication_outbox GROUP BY peer;
    CREATE TRIGGER replication_outbox_count_insert AFTER INSERT ON replication_outbox BEGIN
        INSERT INTO replication_outbox_counts (peer, n) VALUES (NEW.peer, 1)
            ON CONFLICT (peer) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER replication_outbox_count_delete AFTER DELETE ON replication_outbox BEGIN
        UPDATE replication_outbox_counts SET n = n - 1 WHERE peer = OLD.peer;
        DELETE FROM replication_outbox_counts WHERE peer = OLD.peer AND n <= 0;
    END;",
    // 13: a DM envelope is stored once (issue 16). An envelope row of `dm_feed` held a second
    // copy of the spooled message (its replicate-envelope request); its body is now '' and the
    // feed rebuilds the request from `messages` (`Store::dm_feed_page`). Rows whose message
    // is gone keep their body (and are served until they expire, as before).
    "UPDATE dm_feed SET body = '' WHERE kind = 'envelope' AND EXISTS (
        SELECT 1 FROM messages m
        WHERE m.recipient_id = dm_feed.recipient_id AND m.msg_id = dm_feed.msg_id);",
    // 14: chain-state checkpoint (issue 16, `store::checkpoint`). At most one row: core's
    // snapshot of the verified chain state after the first `height` events (`snapshot`, which
    // carries its own version, ids digest and closing digest), the id of event `height - 1`
    // (`head`) and the digest of the stored texts of events `0..height` (`texts_digest`,
    // core's `ListDigest::texts`). Written every N appends and on shutdown, in a transaction of its
    // own that checks `head` is still stored at that height; dropped in the transaction that
    // replaces chain events below it (a fork heal). A start-up that cannot use it replays
    // the whole chain, as before.
    "CREATE TABLE chain_checkpoint (
        id           INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        height       INTEGER NOT NULL CHECK (height > 0),
        head         TEXT NOT NULL,
        snapshot     BLOB NOT NULL,
        texts_digest BLOB NOT NULL,
        written_at   INTEGER NOT NULL
    ) STRICT;",
];

/// Apply the migrations `conn` has not seen yet, each in its own exclusive transaction. A
/// database written by a newer relay is refused.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > known {
        return Err(StoreError::TooNew {
            found: current,
            known,
        });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

//! SQLite storage of the relay: registered DH keys, single-use request nonces, the DM spool and
//! the Infonet chain (one table per lane).
//!
//! One connection, used behind a mutex by the server, so every check-then-write below runs inside
//! a single `BEGIN IMMEDIATE` transaction and is atomic. WAL mode with `synchronous=FULL`: a
//! write is on disk before the HTTP response that acknowledges it is sent.
//!
//! Every function takes `now` (seconds since the Unix epoch) from the caller; the store never
//! reads the clock itself.
use std::path::{Path, PathBuf};

use postern_core::api::dm::{DeliveryState, StoredDm};
use postern_core::caps::{check_deposit, CapError, DepositDecision, SpoolLimits, SpoolState};
use postern_core::dm::DmEnvelope;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "postern.sqlite3";

/// Schema migrations; `PRAGMA user_version` is the number applied so far.
const MIGRATIONS: &[&str] = &[
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
    // 6 (relay-a): DM pull-from-peers (see `crate::dm_pull`). `dm_feed` lists, in a local strictly
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
];

/// Default bound of the outbox rows kept per peer; beyond it the oldest are dropped.
pub const DEFAULT_OUTBOX_CAP_PER_PEER: u64 = 10_000;

/// Where this store connection queues outbound replication jobs: the outbound peers (with the
/// wake-up of each peer's worker), the per-peer row bound and the metrics counting drops.
#[derive(Clone)]
pub struct Outbox {
    pub peers: Vec<(String, std::sync::Arc<tokio::sync::Notify>)>,
    pub cap_per_peer: u64,
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            peers: Vec::new(),
            cap_per_peer: DEFAULT_OUTBOX_CAP_PER_PEER,
            metrics: None,
        }
    }
}

/// One pending outbound job of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub path: String,
    pub body: String,
    pub attempts: u64,
    pub next_attempt_at: u64,
}

/// Which hash-linked lane of the Infonet chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Served publicly by the sync endpoints.
    Public,
    /// Gate and DM ciphertext events: own prev_hash chain from genesis, never served publicly.
    Private,
}

impl Lane {
    fn table(self) -> &'static str {
        match self {
            Lane::Public => "infonet_public",
            Lane::Private => "infonet_private",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Public => "public",
            Lane::Private => "private",
        }
    }
}

/// One event to store at the end of a lane.
#[derive(Debug, Clone, Copy)]
pub struct NewChainEvent<'a> {
    pub idx: u64,
    pub event_id: &'a str,
    pub prev_hash: &'a str,
    pub event_type: &'a str,
    pub node_id: &'a str,
    /// Exact JSON text of the event.
    pub json: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer relay.
    #[error("database schema version {found} is newer than this relay understands ({known})")]
    TooNew { found: i64, known: i64 },
    /// A stored envelope no longer parses (corruption).
    #[error("corrupt database: {0}")]
    Corrupt(String),
}

/// The nonce was already used by this node within its validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed;

/// A single-use request nonce to consume as part of a signed operation.
#[derive(Debug, Clone, Copy)]
pub struct NonceUse<'a> {
    pub node_id: &'a str,
    pub nonce: &'a str,
    /// Until when the nonce must be remembered (request timestamp + allowed window).
    pub expires_at: u64,
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    pub public_key: String,
    pub dh_pub_key: String,
    pub registered_at: u64,
}

/// Result of publishing a gate epoch record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochOutcome {
    Accepted {
        epoch: u64,
        hash: String,
        genesis_hash: String,
    },
    /// Core refused the record against the stored chain.
    Refused(postern_core::gate::GateError),
}

/// Result of depositing a gate message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateDeposit {
    Stored {
        seq: u64,
    },
    Duplicate {
        seq: u64,
    },
    UnknownGate,
    /// The message's epoch is newer than the gate's current epoch.
    UnknownEpoch {
        head: u64,
    },
}

/// Result of a signed gate read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateRead<T> {
    Ok(T),
    Replayed,
    /// The requester is in no roster of the gate (or the gate does not exist).
    NotAMember,
}

/// Result of a deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deposit {
    Stored { expires_at: u64 },
    Duplicate { expires_at: u64 },
    RecipientUnknown,
    Refused(CapError),
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    outbox: Outbox,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Open (creating if needed) the database in `data_dir` and apply migrations.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        Self::init(conn, path)
    }

    /// An in-memory store (unit tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, PathBuf::from(":memory:"))
    }

    fn init(mut conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // journal_mode returns a row; pragma_update ignores it.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
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
        Ok(Store {
            conn,
            path,
            outbox: Outbox::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Consume a nonce inside `tx`; prunes expired nonces first.
    fn consume_nonce(
        tx: &rusqlite::Transaction<'_>,
        n: NonceUse<'_>,
        now: u64,
    ) -> Result<Result<(), Replayed>, StoreError> {
        tx.execute(
            "DELETE FROM nonces WHERE expires_at < ?1",
            params![to_i64(now)],
        )?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO nonces (node_id, nonce, expires_at) VALUES (?1, ?2, ?3)",
            params![n.node_id, n.nonce, to_i64(n.expires_at)],
        )?;
        Ok(if inserted == 1 { Ok(()) } else { Err(Replayed) })
    }

    fn prune_messages(tx: &rusqlite::Transaction<'_>, now: u64) -> Result<(), StoreError> {
        tx.execute(
            "DELETE FROM messages WHERE expires_at <= ?1",
            params![to_i64(now)],
        )?;
        tx.execute(
            "DELETE FROM dm_tombstones WHERE expires_at <= ?1",
            params![to_i64(now)],
        )?;
        tx.execute(
            "DELETE FROM dm_feed WHERE expires_at <= ?1",
            params![to_i64(now)],
        )?;
        Ok(())
    }

    /// Record an owner-signed ack in the pull feed (and drop the acked envelopes from it).
    fn feed_ack(
        tx: &rusqlite::Transaction<'_>,
        job: &crate::peer::Job,
        recipient_id: &str,
        msg_ids: &[String],
        expires_at: u64,
    ) -> Result<(), StoreError> {
        {
            let mut del = tx.prepare_cached(
                "DELETE FROM dm_feed WHERE kind = 'envelope' AND recipient_id = ?1 AND msg_id = ?2",
            )?;
            for id in msg_ids {
                del.execute(params![recipient_id, id])?;
            }
        }
        let (_, body) = job.path_and_body();
        let body = String::from_utf8(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.prepare_cached(
            "INSERT INTO dm_feed (kind, recipient_id, msg_id, body, expires_at) VALUES ('ack', ?1, NULL, ?2, ?3)",
        )?
        .execute(params![recipient_id, body, to_i64(expires_at)])?;
        Ok(())
    }

    /// Remember that `msg_ids` of `recipient_id` were acknowledged: until the message would
    /// have expired (its stored expiry, else `now + ttl`) a replica or re-deposit is ignored.
    fn tombstone(
        tx: &rusqlite::Transaction<'_>,
        recipient_id: &str,
        msg_ids: &[String],
        now: u64,
        ttl_secs: u64,
    ) -> Result<u64, StoreError> {
        let fallback = to_i64(now.saturating_add(ttl_secs));
        let mut fresh = 0u64;
        {
            let mut known = tx.prepare_cached(
                "SELECT 1 FROM dm_tombstones WHERE recipient_id = ?1 AND msg_id = ?2",
            )?;
            for id in msg_ids {
                if known
                    .query_row(params![recipient_id, id], |_| Ok(()))
                    .optional()?
                    .is_none()
                {
                    fresh += 1;
                }
            }
        }
        let mut stmt = tx.prepare_cached(
            "INSERT INTO dm_tombstones (recipient_id, msg_id, expires_at)
             VALUES (?1, ?2, COALESCE((SELECT expires_at FROM messages WHERE recipient_id = ?1 AND msg_id = ?2), ?3))
             ON CONFLICT (recipient_id, msg_id) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
        )?;
        for id in msg_ids {
            stmt.execute(params![recipient_id, id, fallback])?;
        }
        Ok(fresh)
    }

    /// Configure where replication jobs are queued (see [`Outbox`]).
    pub fn set_outbox(&mut self, outbox: Outbox) {
        self.outbox = outbox;
    }

    /// Queue `job` for every outbound peer except `from`, inside `tx`. Returns the indices of
    /// the peers to wake once `tx` is committed. A peer holding more than the bound loses its
    /// oldest rows (counted as replication `error`).
    fn enqueue(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        job: &crate::peer::Job,
        from: Option<&str>,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        if outbox.peers.is_empty() {
            return Ok(Vec::new());
        }
        let (path, body) = job.path_and_body();
        let body = String::from_utf8(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Self::enqueue_raw(tx, outbox, path, &body, from, now)
    }

    fn wake(&self, peers: &[usize]) {
        for &i in peers {
            if let Some((_, n)) = self.outbox.peers.get(i) {
                n.notify_one();
            }
        }
    }

    /// Oldest pending job of `peer`.
    pub fn outbox_head(&self, peer: &str) -> Result<Option<OutboxRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, path, body, attempts, next_attempt_at FROM replication_outbox
                 WHERE peer = ?1 ORDER BY id ASC LIMIT 1",
            )?
            .query_row(params![peer], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    body: r.get(2)?,
                    attempts: to_u64(r.get(3)?),
                    next_attempt_at: to_u64(r.get(4)?),
                })
            })
            .optional()?)
    }

    /// The job was delivered (or finally refused): forget it.
    pub fn outbox_done(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM replication_outbox WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The job failed retryably: record the attempt and when to try again.
    pub fn outbox_retry(
        &mut self,
        id: i64,
        attempts: u64,
        next_attempt_at: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE replication_outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, to_i64(attempts), to_i64(next_attempt_at)],
        )?;
        Ok(())
    }

    /// On startup: every pending job of `peer` is due now. Returns how many are pending.
    pub fn outbox_resume(&mut self, peer: &str, now: u64) -> Result<u64, StoreError> {
        self.conn.execute(
            "UPDATE replication_outbox SET next_attempt_at = ?2 WHERE peer = ?1 AND next_attempt_at > ?2",
            params![peer, to_i64(now)],
        )?;
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM replication_outbox WHERE peer = ?1",
            params![peer],
            |r| r.get(0),
        )?;
        Ok(to_u64(n))
    }

    /// Pending outbound jobs over all peers.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM replication_outbox", [], |r| r.get(0))?;
        Ok(to_u64(n))
    }

    /// Register (or refresh) a node's keys, consuming the request nonce.
    pub fn register(
        &mut self,
        nonce: NonceUse<'_>,
        public_key: &str,
        dh_pub_key: &str,
        now: u64,
    ) -> Result<Result<(), Replayed>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        tx.execute(
            "INSERT INTO nodes (node_id, public_key, dh_pub_key, registered_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (node_id) DO UPDATE SET
               public_key = excluded.public_key,
               dh_pub_key = excluded.dh_pub_key,
               registered_at = excluded.registered_at",
            params![nonce.node_id, public_key, dh_pub_key, to_i64(now)],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn node(&self, node_id: &str) -> Result<Option<NodeRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT node_id, public_key, dh_pub_key, registered_at FROM nodes WHERE node_id = ?1",
                params![node_id],
                |r| {
                    Ok(NodeRecord {
                        node_id: r.get(0)?,
                        public_key: r.get(1)?,
                        dh_pub_key: r.get(2)?,
                        registered_at: to_u64(r.get(3)?),
                    })
                },
            )
            .optional()?)
    }

    /// Delivery state of each of `recipient_id`'s `msg_ids` (in order), read-only: pending while
    /// spooled and unexpired, delivered while an ack tombstone (local or replicated) is live,
    /// unknown otherwise.
    pub fn delivery_states(
        &self,
        recipient_id: &str,
        msg_ids: &[String],
        now: u64,
    ) -> Result<Vec<DeliveryState>, StoreError> {
        let now = to_i64(now);
        let mut spooled = self.conn.prepare_cached(
            "SELECT 1 FROM messages WHERE recipient_id = ?1 AND msg_id = ?2 AND expires_at > ?3",
        )?;
        let mut acked = self.conn.prepare_cached(
            "SELECT 1 FROM dm_tombstones WHERE recipient_id = ?1 AND msg_id = ?2 AND expires_at > ?3",
        )?;
        let mut out = Vec::with_capacity(msg_ids.len());
        for id in msg_ids {
            let state = if acked
                .query_row(params![recipient_id, id, now], |_| Ok(()))
                .optional()?
                .is_some()
            {
                DeliveryState::Delivered
            } else if spooled
                .query_row(params![recipient_id, id, now], |_| Ok(()))
                .optional()?
                .is_some()
            {
                DeliveryState::Pending
            } else {
                DeliveryState::Unknown
            };
            out.push(state);
        }
        Ok(out)
    }

    /// Deposit an envelope that already passed `DmEnvelope::validate`. The cap check and the
    /// insert happen in one transaction.
    pub fn deposit(
        &mut self,
        env: &DmEnvelope,
        limits: &SpoolLimits,
        now: u64,
    ) -> Result<Deposit, StoreError> {
        self.deposit_with(env, limits, now, None, None)
    }

    /// Store an envelope replicated by a peer relay: the same caps as a local deposit
    /// (`caps::check_deposit`), idempotent on msg_id, but the recipient need not be registered
    /// here and it expires at the origin's `expires_at` (never later than this relay's TTL).
    /// A stored replica is queued (same transaction) for every outbound peer except `from`.
    pub fn deposit_replica(
        &mut self,
        env: &DmEnvelope,
        limits: &SpoolLimits,
        expires_at: u64,
        now: u64,
        from: Option<&str>,
    ) -> Result<Deposit, StoreError> {
        self.deposit_with(env, limits, now, Some(expires_at), from)
    }

    /// Remove `msg_ids` from `recipient_id`'s mailbox (an owner-signed ack `proof`, already
    /// verified by core, propagated by a peer `from`); returns the ids that were present (and
    /// are now removed), each once. Every listed id is tombstoned (a replica arriving after its
    /// ack is not stored again). When anything changed here (an id removed or newly
    /// tombstoned), the owner's statement is queued unchanged (same transaction) for every
    /// outbound peer except `from` and listed in the pull feed; an ack seen before changes
    /// nothing and stops.
    pub fn remove_messages(
        &mut self,
        recipient_id: &str,
        msg_ids: &[String],
        proof: &postern_core::auth::RequestAuth,
        from: Option<&str>,
        ttl_secs: u64,
        now: u64,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Self::prune_messages(&tx, now)?;
        let fresh = Self::tombstone(&tx, recipient_id, msg_ids, now, ttl_secs)?;
        let mut removed = Vec::new();
        {
            let mut stmt =
                tx.prepare("DELETE FROM messages WHERE recipient_id = ?1 AND msg_id = ?2")?;
            for id in msg_ids {
                if stmt.execute(params![recipient_id, id])? > 0 {
                    removed.push(id.clone());
                }
            }
        }
        let wake = if removed.is_empty() && fresh == 0 {
            Vec::new()
        } else {
            let job = crate::peer::Job::Ack {
                recipient_id: recipient_id.to_string(),
                msg_ids: msg_ids.to_vec(),
                owner_ack: proof.clone(),
            };
            Self::feed_ack(
                &tx,
                &job,
                recipient_id,
                msg_ids,
                now.saturating_add(ttl_secs),
            )?;
            Self::enqueue(&tx, &self.outbox, &job, from, now)?
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(removed)
    }

    fn deposit_with(
        &mut self,
        env: &DmEnvelope,
        limits: &SpoolLimits,
        now: u64,
        replica_expires_at: Option<u64>,
        from: Option<&str>,
    ) -> Result<Deposit, StoreError> {
        let json = serde_json::to_string(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let known: bool = tx
            .query_row(
                "SELECT 1 FROM nodes WHERE node_id = ?1",
                params![env.recipient_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !known && replica_expires_at.is_none() {
            return Ok(Deposit::RecipientUnknown);
        }
        Self::prune_messages(&tx, now)?;
        // Acked already (here or on a peer): a late replica or a re-deposit is a duplicate,
        // neither stored nor passed on.
        let tomb: Option<i64> = tx
            .query_row(
                "SELECT expires_at FROM dm_tombstones WHERE recipient_id = ?1 AND msg_id = ?2",
                params![env.recipient_id, env.msg_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(e) = tomb {
            tx.commit()?;
            return Ok(Deposit::Duplicate {
                expires_at: to_u64(e),
            });
        }
        let existing: Option<i64> = tx
            .query_row(
                "SELECT expires_at FROM messages WHERE recipient_id = ?1 AND msg_id = ?2",
                params![env.recipient_id, env.msg_id],
                |r| r.get(0),
            )
            .optional()?;
        let mailbox_len: i64 = tx.query_row(
            "SELECT COUNT(*) FROM messages WHERE recipient_id = ?1",
            params![env.recipient_id],
            |r| r.get(0),
        )?;
        let pair_len: i64 = tx.query_row(
            "SELECT COUNT(*) FROM messages WHERE recipient_id = ?1 AND sender_ref = ?2",
            params![env.recipient_id, env.sender_ref],
            |r| r.get(0),
        )?;
        let state = SpoolState {
            already_stored: existing.is_some(),
            mailbox_len: usize::try_from(mailbox_len).unwrap_or(usize::MAX),
            pair_len: usize::try_from(pair_len).unwrap_or(usize::MAX),
        };
        match check_deposit(limits, state) {
            Err(cap) => Ok(Deposit::Refused(cap)),
            Ok(DepositDecision::Duplicate) => {
                // Nothing was written except possibly pruning; keep that.
                tx.commit()?;
                Ok(Deposit::Duplicate {
                    expires_at: to_u64(existing.unwrap_or(0)),
                })
            }
            Ok(DepositDecision::Store) => {
                let own = now.saturating_add(limits.ttl_secs);
                let expires_at = replica_expires_at.map_or(own, |e| e.min(own));
                tx.execute(
                    "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        env.recipient_id,
                        env.msg_id,
                        env.sender_ref,
                        json,
                        to_i64(now),
                        to_i64(expires_at)
                    ],
                )?;
                let job = crate::peer::Job::Envelope {
                    envelope: env.clone(),
                    expires_at,
                };
                let (_, feed_body) = job.path_and_body();
                let feed_body =
                    String::from_utf8(feed_body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                tx.prepare_cached(
                    "INSERT INTO dm_feed (kind, recipient_id, msg_id, body, expires_at) VALUES ('envelope', ?1, ?2, ?3, ?4)",
                )?
                .execute(params![env.recipient_id, env.msg_id, feed_body, to_i64(expires_at)])?;
                let wake = Self::enqueue(&tx, &self.outbox, &job, from, now)?;
                tx.commit()?;
                self.wake(&wake);
                Ok(Deposit::Stored { expires_at })
            }
        }
    }

    /// Publish a gate epoch record: genesis for an unknown gate, else core's
    /// `GateState::apply` against the stored chain (re-verified from the stored records). One
    /// transaction; committed (fsynced) before returning. An accepted record is queued for the
    /// outbound peers in the same transaction (see [`Store::gate_add_epoch_from`]).
    pub fn gate_add_epoch(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        now: u64,
    ) -> Result<EpochOutcome, StoreError> {
        self.gate_add_epoch_from(record, now, None)
    }

    fn gate_records(
        tx: &rusqlite::Transaction<'_>,
        gate: &str,
    ) -> Result<Vec<postern_core::gate::EpochRecord>, StoreError> {
        let mut stmt =
            tx.prepare("SELECT record FROM gate_epochs WHERE gate = ?1 ORDER BY epoch ASC")?;
        let rows = stmt.query_map(params![gate], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(
                serde_json::from_str(&row?).map_err(|_| {
                    StoreError::Corrupt("stored epoch record does not parse".into())
                })?,
            );
        }
        Ok(out)
    }

    fn is_gate_member(
        tx: &rusqlite::Transaction<'_>,
        gate: &str,
        member_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(tx
            .query_row(
                "SELECT 1 FROM gate_members WHERE gate = ?1 AND member_id = ?2 LIMIT 1",
                params![gate, member_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Store a validated gate message (`json` is its exact text), deduplicated by (gate, nonce).
    /// Only epochs the relay holds are accepted. A stored message is queued for the outbound
    /// peers in the same transaction.
    pub fn gate_deposit(
        &mut self,
        gate: &str,
        epoch: u64,
        nonce: &str,
        json: &str,
        now: u64,
    ) -> Result<GateDeposit, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (out, wake) =
            Self::gate_message_tx(&tx, &self.outbox, gate, epoch, nonce, json, now, None)?;
        tx.commit()?;
        self.wake(&wake);
        Ok(out)
    }

    /// Every epoch record of `gate` (exact JSON, genesis first) for a member; consumes the nonce.
    pub fn gate_epochs(
        &mut self,
        nonce: NonceUse<'_>,
        gate: &str,
        now: u64,
    ) -> Result<GateRead<Vec<postern_core::gate::EpochRecord>>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if Self::consume_nonce(&tx, nonce, now)?.is_err() {
            return Ok(GateRead::Replayed);
        }
        if !Self::is_gate_member(&tx, gate, nonce.node_id)? {
            tx.commit()?;
            return Ok(GateRead::NotAMember);
        }
        let records = Self::gate_records(&tx, gate)?;
        tx.commit()?;
        Ok(GateRead::Ok(records))
    }

    /// Messages of `gate` after `after` (seq), oldest first, limited to the epochs whose roster
    /// holds the requester; consumes the nonce.
    pub fn gate_messages(
        &mut self,
        nonce: NonceUse<'_>,
        gate: &str,
        after: u64,
        limit: u32,
        now: u64,
    ) -> Result<GateRead<Vec<postern_core::api::gate::StoredGateMessage>>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if Self::consume_nonce(&tx, nonce, now)?.is_err() {
            return Ok(GateRead::Replayed);
        }
        if !Self::is_gate_member(&tx, gate, nonce.node_id)? {
            tx.commit()?;
            return Ok(GateRead::NotAMember);
        }
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT m.seq, m.epoch, m.received_at, m.message FROM gate_messages m
                 JOIN gate_members g ON g.gate = m.gate AND g.epoch = m.epoch AND g.member_id = ?2
                 WHERE m.gate = ?1 AND m.seq > ?3 ORDER BY m.seq ASC LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![gate, nonce.node_id, to_i64(after), i64::from(limit)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                },
            )?;
            for row in rows {
                let (seq, epoch, received_at, json) = row?;
                let message = postern_core::gate::GateMessage::from_json(&json).map_err(|_| {
                    StoreError::Corrupt("stored gate message does not parse".into())
                })?;
                out.push(postern_core::api::gate::StoredGateMessage {
                    seq: to_u64(seq),
                    epoch: to_u64(epoch),
                    received_at: to_u64(received_at),
                    message,
                });
            }
        }
        tx.commit()?;
        Ok(GateRead::Ok(out))
    }

    /// Every stored chain (records genesis first) of the gates whose member index lists the
    /// requester, by gate id; `None` when the nonce was already used. The caller decides
    /// membership with core (`api::gate::mine_entry`); consumes the nonce.
    pub fn gate_chains_of(
        &mut self,
        nonce: NonceUse<'_>,
        now: u64,
    ) -> Result<Option<Vec<Vec<postern_core::gate::EpochRecord>>>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if Self::consume_nonce(&tx, nonce, now)?.is_err() {
            return Ok(None);
        }
        let gates: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT gate FROM gate_members WHERE member_id = ?1 ORDER BY gate ASC",
            )?;
            let rows = stmt.query_map(params![nonce.node_id], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(gates.len());
        for gate in &gates {
            out.push(Self::gate_records(&tx, gate)?);
        }
        tx.commit()?;
        Ok(Some(out))
    }

    /// The caller's non-expired messages, oldest first (at most `limit`), and the mailbox total.
    /// Consumes the request nonce; does not remove messages.
    pub fn poll(
        &mut self,
        nonce: NonceUse<'_>,
        limit: u32,
        now: u64,
    ) -> Result<Result<(Vec<StoredDm>, u64), Replayed>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        Self::prune_messages(&tx, now)?;
        let total: i64 = tx.query_row(
            "SELECT COUNT(*) FROM messages WHERE recipient_id = ?1",
            params![nonce.node_id],
            |r| r.get(0),
        )?;
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT envelope, received_at, expires_at FROM messages
                 WHERE recipient_id = ?1 AND expires_at > ?2
                 ORDER BY received_at ASC, seq ASC LIMIT ?3",
            )?;
            let rows =
                stmt.query_map(params![nonce.node_id, to_i64(now), i64::from(limit)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
            for row in rows {
                let (json, received_at, expires_at) = row?;
                let envelope: DmEnvelope = serde_json::from_str(&json)
                    .map_err(|_| StoreError::Corrupt("stored envelope does not parse".into()))?;
                out.push(StoredDm {
                    envelope,
                    received_at: to_u64(received_at),
                    expires_at: to_u64(expires_at),
                });
            }
        }
        tx.commit()?;
        Ok(Ok((out, to_u64(total))))
    }

    /// Remove the listed messages from the caller's own mailbox; returns how many were removed.
    /// The ids are tombstoned and the ack is queued for every outbound peer (even ids not
    /// present here: the message may live only on a peer), all in the same transaction.
    pub fn ack(
        &mut self,
        nonce: NonceUse<'_>,
        msg_ids: &[String],
        proof: &postern_core::auth::RequestAuth,
        ttl_secs: u64,
        now: u64,
    ) -> Result<Result<u64, Replayed>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        Self::prune_messages(&tx, now)?;
        Self::tombstone(&tx, nonce.node_id, msg_ids, now, ttl_secs)?;
        let mut removed = 0u64;
        {
            let mut stmt =
                tx.prepare("DELETE FROM messages WHERE recipient_id = ?1 AND msg_id = ?2")?;
            for id in msg_ids {
                removed += stmt.execute(params![nonce.node_id, id])? as u64;
            }
        }
        // Only a statement every peer can verify is passed on (core's owner-ack rules: 1..=100
        // well-formed msg_ids; the caller's signature was checked by the handler).
        let relayable = !msg_ids.is_empty()
            && msg_ids.len() <= postern_core::auth::MAX_OWNER_ACK_IDS
            && msg_ids.iter().all(|m| postern_core::dm::is_valid_msg_id(m));
        let wake = if relayable {
            let job = crate::peer::Job::Ack {
                recipient_id: nonce.node_id.to_string(),
                msg_ids: msg_ids.to_vec(),
                owner_ack: proof.clone(),
            };
            Self::feed_ack(
                &tx,
                &job,
                nonce.node_id,
                msg_ids,
                now.saturating_add(ttl_secs),
            )?;
            Self::enqueue(&tx, &self.outbox, &job, None, now)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(Ok(removed))
    }
}

/// A row of the DM pull feed (migration 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    pub seq: u64,
    /// `envelope` or `ack`.
    pub kind: String,
    /// The exact replicate-envelope / replicate-ack request body.
    pub body: String,
}

/// DM pull-from-peers: the feed served to peers and the per-peer cursors.
impl Store {
    /// Feed rows after `after`, oldest first: at most `limit` rows and (beyond the first row)
    /// about `max_bytes` of bodies. The flag says whether more rows follow. Expired rows are
    /// never served.
    pub fn dm_feed_page(
        &self,
        after: u64,
        limit: u32,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<FeedRow>, bool), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, body FROM dm_feed WHERE seq > ?1 AND expires_at > ?2 ORDER BY seq ASC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![to_i64(after), to_i64(now), i64::from(limit) + 1],
            |r| {
                Ok(FeedRow {
                    seq: to_u64(r.get(0)?),
                    kind: r.get(1)?,
                    body: r.get(2)?,
                })
            },
        )?;
        let (mut out, mut bytes, mut more) = (Vec::new(), 0usize, false);
        for row in rows {
            let row = row?;
            if out.len() >= limit as usize
                || (!out.is_empty() && bytes + row.body.len() > max_bytes)
            {
                more = true;
                break;
            }
            bytes += row.body.len();
            out.push(row);
        }
        Ok((out, more))
    }

    /// The last feed `seq` pulled from `peer` (0 if never) and how many items were pulled from
    /// it in total.
    pub fn pull_cursor(&self, peer: &str) -> Result<(u64, u64), StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT after, pulled FROM dm_pull_cursors WHERE peer = ?1",
                params![peer],
                |r| Ok((to_u64(r.get(0)?), to_u64(r.get(1)?))),
            )
            .optional()?
            .unwrap_or((0, 0)))
    }

    /// Persist the cursor of `peer` after ingesting `items` more items (committed, fsynced).
    pub fn set_pull_cursor(
        &mut self,
        peer: &str,
        after: u64,
        items: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO dm_pull_cursors (peer, after, pulled, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (peer) DO UPDATE SET after = excluded.after,
               pulled = dm_pull_cursors.pulled + excluded.pulled, updated_at = excluded.updated_at",
            params![peer, to_i64(after), to_i64(items), to_i64(now)],
        )?;
        Ok(())
    }
}

/// Infonet chain storage.
impl Store {
    /// Store `evt` as event `idx` of `lane`, in one transaction that also checks it extends the
    /// stored lane (position and prev_hash), so a stale in-memory view can never write a fork.
    /// Returns once the transaction is committed (fsynced: `synchronous=FULL`). With
    /// `replicate`, the event is queued for every outbound peer in the same transaction.
    pub fn chain_append(
        &mut self,
        lane: Lane,
        evt: NewChainEvent<'_>,
        genesis: &str,
        now: u64,
        replicate: bool,
    ) -> Result<(), StoreError> {
        let table = lane.table();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head: Option<(i64, String)> = tx
            .query_row(
                &format!("SELECT idx, event_id FROM {table} ORDER BY idx DESC LIMIT 1"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (next, head_id) = match head {
            Some((i, id)) => (to_u64(i) + 1, id),
            None => (0, genesis.to_string()),
        };
        if next != evt.idx || head_id != evt.prev_hash {
            return Err(StoreError::Corrupt(format!(
                "{} lane moved under the relay (stored {next} events)",
                lane.as_str()
            )));
        }
        tx.execute(
            &format!(
                "INSERT INTO {table} (idx, event_id, prev_hash, event_type, node_id, event, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                to_i64(evt.idx),
                evt.event_id,
                evt.prev_hash,
                evt.event_type,
                evt.node_id,
                evt.json,
                to_i64(now)
            ],
        )?;
        let wake = if replicate {
            let job = crate::peer::Job::Events {
                events: vec![evt.json.to_string()],
            };
            Self::enqueue(&tx, &self.outbox, &job, None, now)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(())
    }

    /// Visit every stored event of `lane` in order: `(json, received_at)`.
    pub fn chain_for_each(
        &self,
        lane: Lane,
        mut f: impl FnMut(u64, &str, u64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT idx, event, received_at FROM {} ORDER BY idx ASC",
            lane.table()
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let idx: i64 = row.get(0)?;
            let json: String = row.get(1)?;
            let received_at: i64 = row.get(2)?;
            f(to_u64(idx), &json, to_u64(received_at))?;
        }
        Ok(())
    }

    /// Position of `event_id` in `lane`.
    pub fn chain_index_of(&self, lane: Lane, event_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT idx FROM {} WHERE event_id = ?1", lane.table()),
                params![event_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(to_u64))
    }

    /// Exact JSON of events `start..start+limit` of `lane`, in order.
    pub fn chain_range(
        &self,
        lane: Lane,
        start: u64,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT event FROM {} WHERE idx >= ?1 ORDER BY idx ASC LIMIT ?2",
            lane.table()
        ))?;
        let rows = stmt.query_map(params![to_i64(start), to_i64(limit)], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Exact JSON of the newest `limit` events of `node_id` in `lane`, newest first.
    pub fn chain_recent_by_node(
        &self,
        lane: Lane,
        node_id: &str,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT event FROM {} WHERE node_id = ?1 ORDER BY idx DESC LIMIT ?2",
            lane.table()
        ))?;
        let rows = stmt.query_map(params![node_id, to_i64(limit)], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Registered nodes and spooled (unexpired and expired-but-unpruned) DM messages.
    pub fn spool_sizes(&self) -> Result<(u64, u64), StoreError> {
        let nodes: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM nodes", [], |r| r.get(0))?;
        let msgs: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        Ok((to_u64(nodes), to_u64(msgs)))
    }
}

/// Parked gate items kept at most this long (seconds) waiting for their predecessor.
pub const GATE_PARK_TTL_SECS: u64 = 7 * 24 * 3600;
/// Parked gate items per gate at most.
pub const GATE_PARK_MAX_PER_GATE: u64 = 1_000;
/// Parked gate items over all gates at most.
pub const GATE_PARK_MAX_TOTAL: u64 = 20_000;

/// Result of an epoch record or gate message pushed by a peer relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerGateOutcome {
    /// Stored (and queued for every other outbound peer).
    Accepted { epoch: u64 },
    /// Already held: nothing stored or forwarded.
    Duplicate { epoch: u64 },
    /// Its predecessor is missing here: parked until it arrives.
    Parked { epoch: u64 },
    /// The parking area is full (retry later).
    ParkingFull,
    /// Core refused the epoch record.
    Refused(postern_core::gate::GateError),
}

/// Gate replication (relay-b): the transaction-level gate writes shared by client and peer
/// submissions, outbound queueing of accepted items, and parking of out-of-order peer items.
impl Store {
    /// Queue the request `path`/`body` for every outbound peer except `from`, inside `tx`
    /// (same bound and drop accounting as [`Store::enqueue`]).
    fn enqueue_raw(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        path: &str,
        body: &str,
        from: Option<&str>,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        let mut woken = Vec::new();
        for (i, (peer, _)) in outbox.peers.iter().enumerate() {
            if Some(peer.as_str()) == from {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, 0, ?4, ?4)",
            )?
            .execute(params![peer, path, body, to_i64(now)])?;
            let len: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM replication_outbox WHERE peer = ?1")?
                .query_row(params![peer], |r| r.get(0))?;
            let excess = to_u64(len).saturating_sub(outbox.cap_per_peer);
            if excess > 0 {
                let dropped = tx.execute(
                    "DELETE FROM replication_outbox WHERE id IN
                     (SELECT id FROM replication_outbox WHERE peer = ?1 ORDER BY id ASC LIMIT ?2)",
                    params![peer, to_i64(excess)],
                )?;
                tracing::warn!(peer = %peer, dropped, "replication outbox full; dropped the oldest jobs");
                if let Some(m) = &outbox.metrics {
                    for _ in 0..dropped {
                        m.replication("error");
                    }
                }
            }
            woken.push(i);
        }
        Ok(woken)
    }

    fn gate_head(tx: &rusqlite::Transaction<'_>, gate: &str) -> Result<Option<u64>, StoreError> {
        Ok(tx
            .query_row(
                "SELECT head_epoch FROM gates WHERE gate = ?1",
                params![gate],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(to_u64))
    }

    /// Core's check of `record` against the stored chain and, if accepted, its storage and
    /// outbound queueing (except to `from`), inside `tx`. A refusal writes nothing.
    fn gate_epoch_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        record: &postern_core::gate::EpochRecord,
        now: u64,
        from: Option<&str>,
    ) -> Result<(EpochOutcome, Vec<usize>), StoreError> {
        use postern_core::gate::{GateError, GateState};
        let stored = Self::gate_records(tx, &record.gate)?;
        let (epoch, genesis_hash) = if stored.is_empty() {
            let state = match GateState::from_genesis(record) {
                Ok(s) => s,
                Err(e) => return Ok((EpochOutcome::Refused(e), Vec::new())),
            };
            let g = hex::encode(state.genesis_hash());
            tx.execute(
                "INSERT INTO gates (gate, genesis_hash, head_epoch, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![record.gate, g, to_i64(state.epoch()), to_i64(now)],
            )?;
            (state.head().clone(), g)
        } else {
            let mut state = postern_core::gate::verify_epoch_chain(&stored)
                .map_err(|e| StoreError::Corrupt(format!("stored gate chain: {e}")))?;
            let epoch = match state.apply(record) {
                Ok(e) => e,
                Err(e) => return Ok((EpochOutcome::Refused(e), Vec::new())),
            };
            tx.execute(
                "UPDATE gates SET head_epoch = ?2 WHERE gate = ?1",
                params![record.gate, to_i64(epoch.number())],
            )?;
            (epoch, hex::encode(state.genesis_hash()))
        };
        let json = serde_json::to_string(record).map_err(|_| {
            StoreError::Corrupt(GateError::Malformed("epoch record JSON").to_string())
        })?;
        let hash = hex::encode(epoch.hash());
        tx.execute(
            "INSERT INTO gate_epochs (gate, epoch, hash, record, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![record.gate, to_i64(epoch.number()), hash, json, to_i64(now)],
        )?;
        for entry in epoch.roster().entries() {
            tx.execute(
                "INSERT INTO gate_members (gate, member_id, epoch) VALUES (?1, ?2, ?3)",
                params![record.gate, entry.member_id(), to_i64(epoch.number())],
            )?;
        }
        tx.execute(
            "INSERT INTO gate_feed (gate, kind, item_ref) VALUES (?1, 'epoch', ?2)",
            params![record.gate, to_i64(epoch.number())],
        )?;
        // The exact stored record, spliced into the peer-push body.
        let body = format!("{{\"record\":{json}}}");
        let wake = Self::enqueue_raw(
            tx,
            outbox,
            postern_core::api::gate::PATH_PEER_PUSH,
            &body,
            from,
            now,
        )?;
        Ok((
            EpochOutcome::Accepted {
                epoch: epoch.number(),
                hash,
                genesis_hash,
            },
            wake,
        ))
    }

    /// Store a validated gate message inside `tx` (dedup by (gate, nonce), only held epochs) and
    /// queue it for the outbound peers except `from`. Nothing is written unless stored.
    #[allow(clippy::too_many_arguments)]
    fn gate_message_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        gate: &str,
        epoch: u64,
        nonce: &str,
        json: &str,
        now: u64,
        from: Option<&str>,
    ) -> Result<(GateDeposit, Vec<usize>), StoreError> {
        let Some(head) = Self::gate_head(tx, gate)? else {
            return Ok((GateDeposit::UnknownGate, Vec::new()));
        };
        if epoch > head {
            return Ok((GateDeposit::UnknownEpoch { head }, Vec::new()));
        }
        let existing: Option<i64> = tx
            .query_row(
                "SELECT seq FROM gate_messages WHERE gate = ?1 AND nonce = ?2",
                params![gate, nonce],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(seq) = existing {
            return Ok((GateDeposit::Duplicate { seq: to_u64(seq) }, Vec::new()));
        }
        tx.execute(
            "INSERT INTO gate_messages (gate, epoch, nonce, message, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![gate, to_i64(epoch), nonce, json, to_i64(now)],
        )?;
        let seq = to_u64(tx.last_insert_rowid());
        tx.execute(
            "INSERT INTO gate_feed (gate, kind, item_ref) VALUES (?1, 'message', ?2)",
            params![gate, to_i64(seq)],
        )?;
        let body = format!("{{\"message\":{json}}}");
        let wake = Self::enqueue_raw(
            tx,
            outbox,
            postern_core::api::gate::PATH_PEER_PUSH,
            &body,
            from,
            now,
        )?;
        Ok((GateDeposit::Stored { seq }, wake))
    }

    /// Re-run the parked items of `gate` that became applicable (epoch records of the next
    /// epoch, messages of held epochs) through the same checks, in `tx`, until nothing more
    /// applies. Each is removed from the parking either way; refusals are logged.
    fn gate_unpark_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        gate: &str,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        let mut wake = Vec::new();
        loop {
            let Some(head) = Self::gate_head(tx, gate)? else {
                return Ok(wake);
            };
            let row: Option<(i64, String, String, String, Option<String>)> = tx
                .query_row(
                    "SELECT id, kind, item_key, body, from_peer FROM gate_parked
                     WHERE gate = ?1 AND ((kind = 'epoch' AND epoch <= ?2 + 1) OR (kind = 'message' AND epoch <= ?2))
                     ORDER BY kind = 'message', epoch, id LIMIT 1",
                    params![gate, to_i64(head)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            let Some((id, kind, key, body, from)) = row else {
                return Ok(wake);
            };
            tx.execute("DELETE FROM gate_parked WHERE id = ?1", params![id])?;
            if kind == "epoch" {
                let Ok(record) = serde_json::from_str::<postern_core::gate::EpochRecord>(&body)
                else {
                    tracing::warn!("parked epoch record does not parse; dropped");
                    continue;
                };
                match Self::gate_epoch_tx(tx, outbox, &record, now, from.as_deref())? {
                    (EpochOutcome::Accepted { epoch, .. }, w) => {
                        tracing::info!(epoch, "parked gate epoch accepted");
                        wake.extend(w);
                    }
                    (EpochOutcome::Refused(e), _) => {
                        tracing::info!(error = %e, "parked gate epoch refused")
                    }
                }
            } else {
                let Ok(msg) = postern_core::gate::GateMessage::from_json(&body) else {
                    tracing::warn!("parked gate message does not parse; dropped");
                    continue;
                };
                let (out, w) = Self::gate_message_tx(
                    tx,
                    outbox,
                    gate,
                    msg.epoch,
                    &key,
                    &body,
                    now,
                    from.as_deref(),
                )?;
                if matches!(out, GateDeposit::Stored { .. }) {
                    tracing::info!(epoch = msg.epoch, "parked gate message stored");
                    wake.extend(w);
                }
            }
        }
    }

    /// Park a verified-as-far-as-possible item until its predecessor arrives (idempotent).
    #[allow(clippy::too_many_arguments)]
    fn gate_park_tx(
        tx: &rusqlite::Transaction<'_>,
        gate: &str,
        kind: &str,
        epoch: u64,
        key: &str,
        body: &str,
        from: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        tx.execute(
            "DELETE FROM gate_parked WHERE received_at < ?1",
            params![to_i64(now.saturating_sub(GATE_PARK_TTL_SECS))],
        )?;
        let held: Option<i64> = tx
            .query_row(
                "SELECT id FROM gate_parked WHERE gate = ?1 AND kind = ?2 AND item_key = ?3",
                params![gate, kind, key],
                |r| r.get(0),
            )
            .optional()?;
        if held.is_some() {
            return Ok(true);
        }
        let per_gate: i64 = tx.query_row(
            "SELECT COUNT(*) FROM gate_parked WHERE gate = ?1",
            params![gate],
            |r| r.get(0),
        )?;
        let total: i64 = tx.query_row("SELECT COUNT(*) FROM gate_parked", [], |r| r.get(0))?;
        if to_u64(per_gate) >= GATE_PARK_MAX_PER_GATE || to_u64(total) >= GATE_PARK_MAX_TOTAL {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO gate_parked (gate, kind, epoch, item_key, body, from_peer, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![gate, kind, to_i64(epoch), key, body, from, to_i64(now)],
        )?;
        Ok(true)
    }

    /// [`Store::gate_add_epoch`] for a record that came from peer `from` (`None`: a client):
    /// an accepted record is queued for every outbound peer except `from`, and parked items it
    /// unblocks are applied, all in one transaction.
    pub fn gate_add_epoch_from(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        now: u64,
        from: Option<&str>,
    ) -> Result<EpochOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (out, mut wake) = Self::gate_epoch_tx(&tx, &self.outbox, record, now, from)?;
        if !matches!(out, EpochOutcome::Accepted { .. }) {
            return Ok(out);
        }
        wake.extend(Self::gate_unpark_tx(&tx, &self.outbox, &record.gate, now)?);
        tx.commit()?;
        self.wake(&wake);
        Ok(out)
    }

    /// An epoch record pushed by peer `from`: the client path's checks (core), except that a
    /// record for a later epoch than the next one (or a non-genesis record of an unknown gate)
    /// whose own signature verifies is parked until the missing epochs arrive.
    pub fn gate_peer_epoch(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        now: u64,
        from: &str,
    ) -> Result<PeerGateOutcome, StoreError> {
        use postern_core::gate::GateError;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = Self::gate_head(&tx, &record.gate)?;
        let early = match head {
            None => record.epoch > 1,
            Some(h) => record.epoch > h.saturating_add(1),
        };
        if early {
            if let Err(e) = record.verify() {
                return Ok(PeerGateOutcome::Refused(e));
            }
            let body = serde_json::to_string(record).map_err(|_| {
                StoreError::Corrupt(GateError::Malformed("epoch record JSON").to_string())
            })?;
            let key = format!("{}:{}", record.epoch, record.signature);
            let parked = Self::gate_park_tx(
                &tx,
                &record.gate,
                "epoch",
                record.epoch,
                &key,
                &body,
                from,
                now,
            )?;
            tx.commit()?;
            return Ok(if parked {
                PeerGateOutcome::Parked {
                    epoch: record.epoch,
                }
            } else {
                PeerGateOutcome::ParkingFull
            });
        }
        let (out, mut wake) = Self::gate_epoch_tx(&tx, &self.outbox, record, now, Some(from))?;
        match out {
            EpochOutcome::Accepted { epoch, .. } => {
                wake.extend(Self::gate_unpark_tx(&tx, &self.outbox, &record.gate, now)?);
                tx.commit()?;
                self.wake(&wake);
                Ok(PeerGateOutcome::Accepted { epoch })
            }
            EpochOutcome::Refused(GateError::ReplayedEpoch { epoch }) => {
                Ok(PeerGateOutcome::Duplicate { epoch })
            }
            EpochOutcome::Refused(e) => Ok(PeerGateOutcome::Refused(e)),
        }
    }

    /// A validated gate message pushed by peer `from`: stored and forwarded like a client
    /// deposit, or parked while its gate or epoch is not here yet.
    pub fn gate_peer_message(
        &mut self,
        gate: &str,
        epoch: u64,
        nonce: &str,
        json: &str,
        now: u64,
        from: &str,
    ) -> Result<PeerGateOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (out, wake) =
            Self::gate_message_tx(&tx, &self.outbox, gate, epoch, nonce, json, now, Some(from))?;
        let res = match out {
            GateDeposit::Stored { .. } => PeerGateOutcome::Accepted { epoch },
            GateDeposit::Duplicate { .. } => PeerGateOutcome::Duplicate { epoch },
            GateDeposit::UnknownGate | GateDeposit::UnknownEpoch { .. } => {
                if Self::gate_park_tx(&tx, gate, "message", epoch, nonce, json, from, now)? {
                    PeerGateOutcome::Parked { epoch }
                } else {
                    PeerGateOutcome::ParkingFull
                }
            }
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(res)
    }

    /// Parked gate items (all gates).
    pub fn gate_parked_len(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM gate_parked", [], |r| r.get(0))?;
        Ok(to_u64(n))
    }
}

/// Gate pull feed (relay-b).
impl Store {
    /// Stored gate items after feed position `after`, oldest first: (position, exact peer-push
    /// body). At most `limit` items and, past the first, about `max_bytes` of bodies.
    pub fn gate_feed_page(
        &self,
        after: u64,
        limit: u32,
        max_bytes: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.seq, e.record, m.message FROM gate_feed f
             LEFT JOIN gate_epochs e ON f.kind = 'epoch' AND e.gate = f.gate AND e.epoch = f.item_ref
             LEFT JOIN gate_messages m ON f.kind = 'message' AND m.seq = f.item_ref
             WHERE f.seq > ?1 ORDER BY f.seq ASC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![to_i64(after), i64::from(limit)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for row in rows {
            let (seq, record, message) = row?;
            let body = match (record, message) {
                (Some(r), _) => format!("{{\"record\":{r}}}"),
                (None, Some(m)) => format!("{{\"message\":{m}}}"),
                (None, None) => {
                    return Err(StoreError::Corrupt(format!(
                        "gate feed entry {seq} has no item"
                    )))
                }
            };
            bytes = bytes.saturating_add(body.len());
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push((to_u64(seq), body));
        }
        Ok(out)
    }

    /// How far this relay has pulled the gate feed of `peer` (0: from the start).
    pub fn gate_pull_cursor(&self, peer: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT after_seq FROM gate_pull_cursor WHERE peer = ?1",
                params![peer],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map_or(0, to_u64))
    }

    pub fn set_gate_pull_cursor(
        &mut self,
        peer: &str,
        after: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO gate_pull_cursor (peer, after_seq, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer) DO UPDATE SET after_seq = excluded.after_seq, updated_at = excluded.updated_at",
            params![peer, to_i64(after), to_i64(now)],
        )?;
        Ok(())
    }
}

/// Persisted pull-sync state (relay-b).
impl Store {
    /// The stored pull-sync state of `peer`, if any.
    pub fn sync_state_load(&self, peer: &str) -> Result<Option<crate::sync::PeerSync>, StoreError> {
        let row: Option<(String, i64, String, i64)> = self
            .conn
            .query_row(
                "SELECT state, last_retry_after, peer_head, fork_reports FROM sync_peer_state WHERE peer = ?1",
                params![peer],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((state, retry_after, peer_head, forks)) = row else {
            return Ok(None);
        };
        let state = serde_json::from_str(&state)
            .map_err(|e| StoreError::Corrupt(format!("stored sync state of {peer}: {e}")))?;
        Ok(Some(crate::sync::PeerSync {
            state,
            last_retry_after_s: to_u64(retry_after),
            peer_head,
            fork_reports: to_u64(forks),
        }))
    }

    /// Store (replace) the pull-sync state of `peer`.
    pub fn sync_state_save(
        &mut self,
        peer: &str,
        s: &crate::sync::PeerSync,
        now: u64,
    ) -> Result<(), StoreError> {
        let state =
            serde_json::to_string(&s.state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn.execute(
            "INSERT INTO sync_peer_state (peer, state, last_retry_after, peer_head, fork_reports, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (peer) DO UPDATE SET state = excluded.state, last_retry_after = excluded.last_retry_after,
               peer_head = excluded.peer_head, fork_reports = excluded.fork_reports, updated_at = excluded.updated_at",
            params![peer, state, to_i64(s.last_retry_after_s), s.peer_head, to_i64(s.fork_reports), to_i64(now)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use postern_core::caps::CapError;

    fn env(recipient: &str, msg_id: &str, sender_ref: &str) -> DmEnvelope {
        DmEnvelope {
            format: postern_core::dm::FORMAT.into(),
            recipient_id: recipient.into(),
            msg_id: msg_id.into(),
            sender_ref: sender_ref.into(),
            ephemeral_pub: "AAAA".into(),
            ciphertext: "AAAA".into(),
        }
    }

    fn nonce<'a>(node: &'a str, n: &'a str, exp: u64) -> NonceUse<'a> {
        NonceUse {
            node_id: node,
            nonce: n,
            expires_at: exp,
        }
    }

    const R: &str = "!sb_00000000000000000000000000000001";

    /// A stand-in owner proof (the store never verifies it: the handlers do, with core).
    fn proof(node: &str) -> postern_core::auth::RequestAuth {
        postern_core::auth::RequestAuth {
            node_id: node.into(),
            public_key: "pk".into(),
            timestamp: 1,
            nonce: "00".repeat(16),
            signature: "00".repeat(64),
        }
    }

    #[test]
    fn migrations_and_replay() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(
            s.register(nonce(R, "n1", 400), "pk", "dh", 100).unwrap(),
            Ok(())
        );
        assert_eq!(
            s.register(nonce(R, "n1", 400), "pk", "dh", 100).unwrap(),
            Err(Replayed)
        );
        // Once the nonce's window is over it is pruned (a request carrying it would be stale).
        assert_eq!(
            s.poll(nonce(R, "n2", 900), 10, 401).unwrap().map(|p| p.1),
            Ok(0)
        );
        assert_eq!(
            s.register(nonce(R, "n1", 1000), "pk", "dh2", 401).unwrap(),
            Ok(())
        );
        assert_eq!(s.node(R).unwrap().unwrap().dh_pub_key, "dh2");
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

    fn outbox(peers: &[&str], cap: u64) -> Outbox {
        Outbox {
            peers: peers
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        std::sync::Arc::new(tokio::sync::Notify::new()),
                    )
                })
                .collect(),
            cap_per_peer: cap,
            metrics: Some(std::sync::Arc::new(crate::metrics::Metrics::default())),
        }
    }

    #[test]
    fn jobs_are_queued_with_the_write_and_bounded_per_peer() {
        let mut s = Store::open_in_memory().unwrap();
        let o = outbox(&["http://a", "http://b"], 3);
        s.set_outbox(o.clone());
        let limits = SpoolLimits {
            per_sender_cap: 100,
            mailbox_cap: 100,
            ttl_secs: 100,
        };
        s.register(nonce(R, "n0", 1000), "pk", "dh", 0)
            .unwrap()
            .unwrap();
        // A local deposit queues one row per peer; a duplicate queues nothing.
        s.deposit(&env(R, "msg-0001", "aa"), &limits, 1).unwrap();
        s.deposit(&env(R, "msg-0001", "aa"), &limits, 1).unwrap();
        assert_eq!(s.outbox_len().unwrap(), 2);
        // A replica from peer a is queued for b only.
        s.deposit_replica(&env(R, "msg-0002", "aa"), &limits, 50, 1, Some("http://a"))
            .unwrap();
        assert_eq!(s.outbox_len().unwrap(), 3);
        let head = s.outbox_head("http://b").unwrap().unwrap();
        assert_eq!(head.path, postern_core::api::peer::PATH_REPLICATE_ENVELOPE);
        assert!(head.body.contains("msg-0001"));
        // Retry keeps the row at the head with its schedule; resume makes it due now.
        s.outbox_retry(head.id, 1, 40).unwrap();
        let again = s.outbox_head("http://b").unwrap().unwrap();
        assert_eq!(
            (again.id, again.attempts, again.next_attempt_at),
            (head.id, 1, 40)
        );
        s.outbox_resume("http://b", 2).unwrap();
        assert_eq!(
            s.outbox_head("http://b").unwrap().unwrap().next_attempt_at,
            2
        );
        s.outbox_done(head.id).unwrap();
        assert!(s
            .outbox_head("http://b")
            .unwrap()
            .unwrap()
            .body
            .contains("msg-0002"));
        // Bound: b holds at most 3 rows; the oldest are dropped and counted as errors.
        for i in 3..8 {
            s.deposit(&env(R, &format!("msg-000{i}"), "aa"), &limits, 1)
                .unwrap();
        }
        let rows = |p: &str| -> i64 {
            s.conn
                .query_row(
                    "SELECT COUNT(*) FROM replication_outbox WHERE peer = ?1",
                    params![p],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!((rows("http://a"), rows("http://b")), (3, 3));
        assert!(s
            .outbox_head("http://b")
            .unwrap()
            .unwrap()
            .body
            .contains("msg-0005"));
        let text = o
            .metrics
            .as_ref()
            .unwrap()
            .render(crate::metrics::Gauges::default());
        assert!(
            text.contains("postern_replication_total{result=\"error\"} 6"),
            "{text}"
        );
    }

    #[test]
    fn acks_leave_tombstones_that_refuse_late_replicas() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_outbox(outbox(&["http://a", "http://b"], 100));
        let limits = SpoolLimits {
            per_sender_cap: 100,
            mailbox_cap: 100,
            ttl_secs: 100,
        };
        let other = "!sb_00000000000000000000000000000002";
        // The ack arrives (from peer a) before the replica: nothing removed, but the id is newly
        // tombstoned, so the owner's statement goes on to b (only); the same ack again stops.
        let ids = ["msg-0001".to_string()];
        assert!(s
            .remove_messages(other, &ids, &proof(other), Some("http://a"), 100, 10)
            .unwrap()
            .is_empty());
        assert_eq!(s.outbox_len().unwrap(), 1);
        assert!(s
            .outbox_head("http://b")
            .unwrap()
            .unwrap()
            .body
            .contains("owner_ack"));
        assert!(s
            .remove_messages(other, &ids, &proof(other), Some("http://b"), 100, 10)
            .unwrap()
            .is_empty());
        assert_eq!(s.outbox_len().unwrap(), 1);
        // The late replica is a duplicate: not stored, not forwarded.
        assert_eq!(
            s.deposit_replica(
                &env(other, "msg-0001", "aa"),
                &limits,
                50,
                11,
                Some("http://b")
            )
            .unwrap(),
            Deposit::Duplicate { expires_at: 110 }
        );
        assert_eq!(s.spool_sizes().unwrap().1, 0);
        assert_eq!(s.outbox_len().unwrap(), 1);
        // Stored, acked locally, then re-deposited: a duplicate until the message's expiry.
        s.register(nonce(R, "n0", 1000), "pk", "dh", 0)
            .unwrap()
            .unwrap();
        assert_eq!(
            s.deposit(&env(R, "msg-0002", "aa"), &limits, 20).unwrap(),
            Deposit::Stored { expires_at: 120 }
        );
        assert_eq!(
            s.ack(
                nonce(R, "n1", 1000),
                &["msg-0002".into()],
                &proof(R),
                100,
                21
            )
            .unwrap(),
            Ok(1)
        );
        assert_eq!(s.outbox_len().unwrap(), 5);
        assert_eq!(
            s.deposit(&env(R, "msg-0002", "aa"), &limits, 22).unwrap(),
            Deposit::Duplicate { expires_at: 120 }
        );
        assert_eq!(s.outbox_len().unwrap(), 5);
        // Once the tombstone expires it is pruned and the id may be stored again.
        assert_eq!(
            s.deposit(&env(R, "msg-0002", "aa"), &limits, 120).unwrap(),
            Deposit::Stored { expires_at: 220 }
        );
        let n: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM dm_tombstones", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "expired tombstones are pruned");
    }

    #[test]
    fn delivery_states_follow_spool_and_tombstones() {
        use postern_core::api::dm::DeliveryState::{Delivered, Pending, Unknown};
        let mut s = Store::open_in_memory().unwrap();
        let limits = SpoolLimits {
            per_sender_cap: 100,
            mailbox_cap: 100,
            ttl_secs: 100,
        };
        s.register(nonce(R, "n0", 1000), "pk", "dh", 0)
            .unwrap()
            .unwrap();
        s.deposit(&env(R, "msg-0001", "aa"), &limits, 10).unwrap();
        s.deposit(&env(R, "msg-0002", "aa"), &limits, 10).unwrap();
        let ids: Vec<String> = ["msg-0001", "msg-0002", "msg-0003"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            s.delivery_states(R, &ids, 11).unwrap(),
            [Pending, Pending, Unknown]
        );
        // Acked by the owner here; another recipient's ids are never confused with R's.
        assert_eq!(
            s.ack(nonce(R, "n1", 1000), &ids[..1], &proof(R), 100, 12)
                .unwrap(),
            Ok(1)
        );
        assert_eq!(
            s.delivery_states(R, &ids, 13).unwrap(),
            [Delivered, Pending, Unknown]
        );
        assert_eq!(
            s.delivery_states("!sb_00000000000000000000000000000002", &ids, 13)
                .unwrap(),
            [Unknown; 3]
        );
        // An ack replicated from a peer reads as delivered too.
        s.remove_messages(R, &ids[1..2], &proof(R), Some("http://a"), 100, 14)
            .unwrap();
        assert_eq!(
            s.delivery_states(R, &ids, 15).unwrap(),
            [Delivered, Delivered, Unknown]
        );
        // Past the message's expiry the tombstone no longer answers.
        assert_eq!(s.delivery_states(R, &ids, 110).unwrap(), [Unknown; 3]);
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
    fn dm_feed_pages_acks_and_cursors() {
        let mut s = Store::open_in_memory().unwrap();
        let limits = SpoolLimits {
            per_sender_cap: 100,
            mailbox_cap: 100,
            ttl_secs: 100,
        };
        s.register(nonce(R, "n0", 1000), "pk", "dh", 0)
            .unwrap()
            .unwrap();
        for i in 1..=3 {
            s.deposit(&env(R, &format!("msg-000{i}"), "aa"), &limits, 1)
                .unwrap();
        }
        // Pages in seq order, limited by count and (after the first row) bytes.
        let (p1, more) = s.dm_feed_page(0, 2, 1 << 20, 2).unwrap();
        assert_eq!((p1.len(), more), (2, true));
        let (p2, more) = s.dm_feed_page(p1[1].seq, 2, 1 << 20, 2).unwrap();
        assert_eq!((p2.len(), more), (1, false));
        assert_eq!(s.dm_feed_page(0, 10, 1, 2).unwrap().0.len(), 1);
        // An ack drops the envelope from the feed and appends the owner's statement.
        assert_eq!(
            s.ack(
                nonce(R, "n1", 1000),
                &["msg-0001".into()],
                &proof(R),
                100,
                3
            )
            .unwrap(),
            Ok(1)
        );
        let (all, _) = s.dm_feed_page(0, 10, 1 << 20, 3).unwrap();
        let kinds: Vec<&str> = all.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["envelope", "envelope", "ack"]);
        let ack: postern_core::api::peer::ReplicateAckRequest =
            serde_json::from_str(&all[2].body).unwrap();
        assert_eq!(ack.msg_ids, ["msg-0001"]);
        assert_eq!(ack.owner_ack, Some(proof(R)));
        // Expired rows are pruned and never served.
        s.deposit(&env(R, "msg-0009", "bb"), &limits, 200).unwrap();
        let (all, _) = s.dm_feed_page(0, 10, 1 << 20, 200).unwrap();
        assert_eq!(all.len(), 1);
        // Cursors: persisted per peer, item counts add up.
        s.set_pull_cursor("http://a", 7, 3, 1).unwrap();
        s.set_pull_cursor("http://a", 9, 2, 2).unwrap();
        assert_eq!(s.pull_cursor("http://a").unwrap(), (9, 5));
        assert_eq!(s.pull_cursor("http://b").unwrap(), (0, 0));
    }

    #[test]
    fn caps_expiry_and_ack() {
        let mut s = Store::open_in_memory().unwrap();
        let limits = SpoolLimits {
            per_sender_cap: 2,
            mailbox_cap: 3,
            ttl_secs: 10,
        };
        let unknown = env("!sb_00000000000000000000000000000002", "msg-0001", "aa");
        assert_eq!(
            s.deposit(&unknown, &limits, 0).unwrap(),
            Deposit::RecipientUnknown
        );
        s.register(nonce(R, "n0", 1000), "pk", "dh", 0)
            .unwrap()
            .unwrap();
        let a = |id: &str| env(R, id, "aa");
        assert_eq!(
            s.deposit(&a("msg-0001"), &limits, 0).unwrap(),
            Deposit::Stored { expires_at: 10 }
        );
        assert_eq!(
            s.deposit(&a("msg-0002"), &limits, 1).unwrap(),
            Deposit::Stored { expires_at: 11 }
        );
        assert_eq!(
            s.deposit(&a("msg-0001"), &limits, 2).unwrap(),
            Deposit::Duplicate { expires_at: 10 }
        );
        assert_eq!(
            s.deposit(&a("msg-0003"), &limits, 2).unwrap(),
            Deposit::Refused(CapError::SenderCapReached { cap: 2 })
        );
        s.deposit(&env(R, "msg-0004", "bb"), &limits, 2).unwrap();
        assert_eq!(
            s.deposit(&env(R, "msg-0005", "cc"), &limits, 2).unwrap(),
            Deposit::Refused(CapError::MailboxFull { cap: 3 })
        );
        // msg-0001 expires at 10: it no longer counts and no longer shows.
        assert_eq!(
            s.deposit(&a("msg-0003"), &limits, 10).unwrap(),
            Deposit::Stored { expires_at: 20 }
        );
        let (msgs, total) = s.poll(nonce(R, "n1", 1000), 10, 10).unwrap().unwrap();
        let ids: Vec<_> = msgs.iter().map(|m| m.envelope.msg_id.as_str()).collect();
        assert_eq!(ids, ["msg-0002", "msg-0004", "msg-0003"]);
        assert_eq!(total, 3);
        let (msgs, total) = s.poll(nonce(R, "n2", 1000), 1, 10).unwrap().unwrap();
        assert_eq!((msgs.len(), total), (1, 3));
        let other = "!sb_00000000000000000000000000000003";
        assert_eq!(
            s.ack(
                nonce(other, "n3", 1000),
                &["msg-0002".into()],
                &proof(other),
                10,
                10
            )
            .unwrap(),
            Ok(0)
        );
        assert_eq!(
            s.ack(
                nonce(R, "n3", 1000),
                &["msg-0002".into(), "msg-0002".into(), "nope".into()],
                &proof(R),
                10,
                10
            )
            .unwrap(),
            Ok(1)
        );
    }

    // relay-b: gate replication parking and persisted sync state.

    fn outbox_rows(s: &Store, peer: &str) -> Vec<String> {
        let mut stmt = s
            .conn
            .prepare("SELECT body FROM replication_outbox WHERE peer = ?1 ORDER BY id")
            .unwrap();
        stmt.query_map(params![peer], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn out_of_order_peer_gate_items_are_parked_then_applied_and_forwarded() {
        use postern_core::gate::{self, create_genesis, rotate, GateId, Reason, Role};
        use postern_core::Identity;
        use rand_core::OsRng;
        let mut s = Store::open_in_memory().unwrap();
        s.set_outbox(outbox(&["http://a", "http://b"], 100));
        let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
        let gid = GateId::generate(&mut OsRng);
        let r1 = create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
        let e1 = r1.verify().unwrap();
        let r2 = rotate(
            &alice,
            &e1,
            e1.roster().with_member(bob.public(), Role::Member).unwrap(),
            Reason::Join,
            10,
            &mut OsRng,
        )
        .unwrap();
        let e2 = r2.verify().unwrap();
        // Epoch 3 rotated by Bob, a plain member: parked (its predecessor is missing), then refused.
        let mut r3 = rotate(
            &alice,
            &e2,
            e2.roster().clone(),
            Reason::Rotate,
            10,
            &mut OsRng,
        )
        .unwrap();
        r3.rotator = bob.node_id();
        r3.sign(&bob).unwrap();
        let key = gate::EpochKey::unlock(&bob, &e2).unwrap();
        let m2 = gate::seal(&bob, &key, b"hi", 10, &mut OsRng).unwrap();
        let m2json = m2.to_json().unwrap();
        let g = gid.as_str();

        assert_eq!(
            s.gate_peer_epoch(&r2, 20, "http://a").unwrap(),
            PeerGateOutcome::Parked { epoch: 2 }
        );
        assert_eq!(
            s.gate_peer_epoch(&r2, 20, "http://a").unwrap(),
            PeerGateOutcome::Parked { epoch: 2 }
        );
        assert_eq!(
            s.gate_peer_epoch(&r3, 20, "http://a").unwrap(),
            PeerGateOutcome::Parked { epoch: 3 }
        );
        assert_eq!(
            s.gate_peer_message(g, 2, &m2.nonce, &m2json, 20, "http://a")
                .unwrap(),
            PeerGateOutcome::Parked { epoch: 2 }
        );
        assert_eq!(s.gate_parked_len().unwrap(), 3);
        // A parked record whose own signature is broken is refused outright.
        let mut broken = r3.clone();
        broken.signature = postern_core::b64::encode_std(&[0u8; 64]);
        assert!(matches!(
            s.gate_peer_epoch(&broken, 20, "http://a").unwrap(),
            PeerGateOutcome::Refused(_)
        ));
        assert!(outbox_rows(&s, "http://a").is_empty() && outbox_rows(&s, "http://b").is_empty());

        // Genesis arrives from a: it, epoch 2 and the message are applied; Bob's epoch 3 is refused.
        assert_eq!(
            s.gate_peer_epoch(&r1, 30, "http://a").unwrap(),
            PeerGateOutcome::Accepted { epoch: 1 }
        );
        assert_eq!(s.gate_parked_len().unwrap(), 0);
        let recs = s
            .conn
            .prepare("SELECT COUNT(*) FROM gate_epochs WHERE gate = ?1")
            .unwrap()
            .query_row(params![g], |r| r.get::<_, i64>(0))
            .unwrap();
        assert_eq!(recs, 2);
        // Forwarded to b only (they came from a), in order: records, then the message.
        assert!(outbox_rows(&s, "http://a").is_empty());
        let to_b = outbox_rows(&s, "http://b");
        assert_eq!(to_b.len(), 3);
        let req: postern_core::api::gate::PeerPushRequest = serde_json::from_str(&to_b[1]).unwrap();
        assert_eq!(req.record.unwrap(), r2);
        assert!(to_b[2].contains(&m2.nonce));
        // Re-delivery: duplicates, nothing queued.
        assert_eq!(
            s.gate_peer_epoch(&r1, 40, "http://b").unwrap(),
            PeerGateOutcome::Duplicate { epoch: 1 }
        );
        assert_eq!(
            s.gate_peer_message(g, 2, &m2.nonce, &m2json, 40, "http://b")
                .unwrap(),
            PeerGateOutcome::Duplicate { epoch: 2 }
        );
        // The forged epoch 3 at the right number: refused by core, not queued.
        assert!(matches!(
            s.gate_peer_epoch(&r3, 40, "http://b").unwrap(),
            PeerGateOutcome::Refused(gate::GateError::NotAdmin { .. })
        ));
        assert_eq!(outbox_rows(&s, "http://b").len(), 3);
        // A client's deposit is queued for both peers.
        let m1 = gate::seal(
            &alice,
            &gate::EpochKey::unlock(&alice, &e1).unwrap(),
            b"x",
            10,
            &mut OsRng,
        )
        .unwrap();
        assert!(matches!(
            s.gate_deposit(g, 1, &m1.nonce, &m1.to_json().unwrap(), 50)
                .unwrap(),
            GateDeposit::Stored { .. }
        ));
        assert_eq!(
            (
                outbox_rows(&s, "http://a").len(),
                outbox_rows(&s, "http://b").len()
            ),
            (1, 4)
        );
    }

    #[test]
    fn parking_is_bounded_and_expires() {
        let mut s = Store::open_in_memory().unwrap();
        let tx = s.conn.transaction().unwrap();
        for i in 0..GATE_PARK_MAX_PER_GATE {
            assert!(Store::gate_park_tx(
                &tx,
                "g",
                "message",
                2,
                &format!("n{i}"),
                "{}",
                "http://a",
                100
            )
            .unwrap());
        }
        assert!(
            !Store::gate_park_tx(&tx, "g", "message", 2, "over", "{}", "http://a", 100).unwrap()
        );
        // Re-parking a held item is fine; another gate still has room.
        assert!(Store::gate_park_tx(&tx, "g", "message", 2, "n0", "{}", "http://a", 100).unwrap());
        assert!(Store::gate_park_tx(&tx, "h", "message", 2, "n0", "{}", "http://a", 100).unwrap());
        // Past the TTL the old ones are pruned.
        assert!(Store::gate_park_tx(
            &tx,
            "g",
            "message",
            2,
            "late",
            "{}",
            "http://a",
            101 + GATE_PARK_TTL_SECS
        )
        .unwrap());
        tx.commit().unwrap();
        assert_eq!(s.gate_parked_len().unwrap(), 1);
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
        let cfg = crate::sync::config(10);
        let rec = crate::sync::PeerSync {
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

    /// Every delivery order of a gate's items (three epochs, two messages and a non-admin
    /// forgery of epoch 3) from a peer ends in the same state: the real chain and messages
    /// stored and forwarded once each, nothing parked, the forgery nowhere.
    #[test]
    fn every_delivery_order_converges() {
        use postern_core::gate::{self, create_genesis, rotate, GateId, Reason, Role};
        use postern_core::Identity;
        use rand_core::OsRng;
        let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
        let gid = GateId::generate(&mut OsRng);
        let g = gid.as_str();
        let r1 = create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
        let e1 = r1.verify().unwrap();
        let r2 = rotate(
            &alice,
            &e1,
            e1.roster().with_member(bob.public(), Role::Member).unwrap(),
            Reason::Join,
            10,
            &mut OsRng,
        )
        .unwrap();
        let e2 = r2.verify().unwrap();
        let r3 = rotate(
            &alice,
            &e2,
            e2.roster().clone(),
            Reason::Rotate,
            10,
            &mut OsRng,
        )
        .unwrap();
        let e3 = r3.verify().unwrap();
        let mut forged = rotate(
            &alice,
            &e2,
            e2.roster().clone(),
            Reason::Rotate,
            10,
            &mut OsRng,
        )
        .unwrap();
        forged.rotator = bob.node_id();
        forged.sign(&bob).unwrap();
        let m1 = gate::seal(
            &alice,
            &gate::EpochKey::unlock(&alice, &e1).unwrap(),
            b"1",
            10,
            &mut OsRng,
        )
        .unwrap();
        let m3 = gate::seal(
            &bob,
            &gate::EpochKey::unlock(&bob, &e3).unwrap(),
            b"3",
            10,
            &mut OsRng,
        )
        .unwrap();
        enum Item<'a> {
            R(&'a postern_core::gate::EpochRecord),
            M(&'a postern_core::gate::GateMessage),
        }
        let items = [
            Item::R(&r1),
            Item::R(&r2),
            Item::R(&r3),
            Item::R(&forged),
            Item::M(&m1),
            Item::M(&m3),
        ];
        // All permutations of 0..6 (Heap's algorithm).
        let mut perm: Vec<usize> = (0..items.len()).collect();
        let mut orders = vec![perm.clone()];
        let mut c = vec![0usize; perm.len()];
        let mut i = 0;
        while i < perm.len() {
            if c[i] < i {
                perm.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
                orders.push(perm.clone());
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(orders.len(), 720);
        for order in orders {
            let mut s = Store::open_in_memory().unwrap();
            s.set_outbox(outbox(&["http://a", "http://b"], 100));
            for &k in &order {
                match items[k] {
                    Item::R(r) => {
                        s.gate_peer_epoch(r, 20, "http://a").unwrap();
                    }
                    Item::M(m) => {
                        s.gate_peer_message(
                            g,
                            m.epoch,
                            &m.nonce,
                            &m.to_json().unwrap(),
                            20,
                            "http://a",
                        )
                        .unwrap();
                    }
                }
            }
            let tx = s.conn.transaction().unwrap();
            let stored = Store::gate_records(&tx, g).unwrap();
            drop(tx);
            assert_eq!(
                stored,
                vec![r1.clone(), r2.clone(), r3.clone()],
                "order {order:?}"
            );
            assert_eq!(s.gate_parked_len().unwrap(), 0, "order {order:?}");
            let n: i64 = s
                .conn
                .query_row("SELECT COUNT(*) FROM gate_messages", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 2, "order {order:?}");
            let sent = outbox_rows(&s, "http://b");
            assert_eq!(sent.len(), 5, "order {order:?}");
            assert!(
                sent.iter().all(|b| !b.contains(&forged.signature)),
                "order {order:?}"
            );
            assert!(outbox_rows(&s, "http://a").is_empty());
            // The pull feed is causally ordered: each record before the messages of its epoch.
            let feed = s.gate_feed_page(0, 100, 1 << 20).unwrap();
            assert_eq!(feed.len(), 5);
            let pos = |needle: &str| feed.iter().position(|(_, b)| b.contains(needle)).unwrap();
            assert!(
                pos(&r1.signature) < pos(&m1.nonce) && pos(&r3.signature) < pos(&m3.nonce),
                "order {order:?}"
            );
        }
    }
}

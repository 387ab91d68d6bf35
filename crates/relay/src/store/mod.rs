//! SQLite storage of the relay, one file per concern behind one narrow interface.
//!
//! The interface a second backend would implement is the `pub` methods of [`Store`], grouped
//! per concern: [`nonce`] (single-use request nonces), [`dm`] (keys, spool, tombstones, DM
//! feed), [`gate`] (epoch chains, messages, parking, gate feed), [`chain`] (the one Infonet
//! chain), [`outbox`] (durable replication jobs) and [`cursors`] (per-peer pull state). Every
//! input and output is plain data; the store depends on no HTTP, replication or async runtime
//! code (replication jobs are queued as [`Job`] values, workers are woken through hooks).
//!
//! One connection, used behind a mutex, so every check-then-write runs inside a single
//! `BEGIN IMMEDIATE` transaction and is atomic. WAL mode with `synchronous=FULL`: a write is on
//! disk before the HTTP response that acknowledges it is sent. Every function takes `now`
//! (seconds since the Unix epoch) from the caller; the store never reads the clock itself.
use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub mod chain;
pub mod cursors;
pub mod dm;
pub mod gate;
mod migrations;
pub mod nonce;
pub mod outbox;
#[cfg(test)]
mod tests;

pub use chain::NewChainEvent;
pub use cursors::{IncompleteView, PeerSync};
pub use dm::{Deposit, FeedRow, NodeRecord};
pub use gate::{
    EpochOutcome, GateDeposit, GateRead, PeerGateOutcome, GATE_PARK_MAX_PER_GATE,
    GATE_PARK_MAX_TOTAL, GATE_PARK_TTL_SECS,
};
pub use nonce::{Nonce, NonceUse, Replayed};
pub use outbox::{Job, Outbox, OutboxPeer, OutboxRow, DEFAULT_OUTBOX_CAP_PER_PEER};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "postern.sqlite3";

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

/// The SQLite backend: one connection (used behind a mutex by the services).
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
        migrations::migrate(&mut conn)?;
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
}

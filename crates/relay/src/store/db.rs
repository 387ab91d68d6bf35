//! The SQLite connection behind every concern: [`Store`], opening it and applying migrations.
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::error::StoreError;
use super::migrations;
use super::wake::Outbox;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "postern.sqlite3";

/// The SQLite backend: one connection (used behind a mutex by the services).
pub struct Store {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) outbox: Outbox,
    /// Verified gate heads (`gate::heads`), checked against the stored head on every use.
    pub(super) gate_heads: super::gate::GateHeads,
    /// Senders to wake once the open write round commits (`round`).
    pub(super) deferred_wake: std::sync::Mutex<Vec<usize>>,
    /// A write round is open (`round`): wake-ups wait for its commit.
    pub(super) round_open: bool,
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
        // Room for the hot statements of every path (a deposit alone uses about 15; rusqlite's
        // default of 16 would evict them as soon as another path runs).
        conn.set_prepared_statement_cache_capacity(64);
        // journal_mode returns a row; pragma_update ignores it.
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoint sub-journals (one per deposit of a group commit) in memory: on disk, past
        // 64 KiB they went to a temporary file, a pwrite per touched page (perf: ~20 % of a
        // deposit). Only rollback state inside a transaction; durability is the WAL's.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // A page cache of up to 32 MiB (default 2 MiB): the chain's `event_id` index takes a
        // random leaf per stored event, and with the default cache most of them were read back
        // from disk (strace of a 100k pull: ~4.6 `pread` per event). Filled only as used.
        conn.pragma_update(None, "cache_size", -32_768)?;
        // Checkpoint the WAL every 4,096 pages (16 MiB; default 1,000): a batch of 500 chain
        // events dirties ~600 pages, so the default checkpointed (copying and fsyncing those
        // pages into the database) after every other batch; less often, pages written by several
        // batches are copied once. Durability is unchanged (commits are fsynced in the WAL).
        conn.pragma_update(None, "wal_autocheckpoint", 4_096)?;
        migrations::migrate(&mut conn)?;
        Ok(Store {
            conn,
            path,
            outbox: Outbox::default(),
            gate_heads: super::gate::GateHeads::default(),
            deferred_wake: std::sync::Mutex::default(),
            round_open: false,
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

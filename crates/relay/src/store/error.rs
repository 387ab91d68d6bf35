//! Store errors, and the SQLite integer conversions every concern shares.

/// Every way a store operation can fail.
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

/// A `u64` as SQLite's `INTEGER` (saturating).
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored `INTEGER` as `u64` (negative reads as 0).
pub(super) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

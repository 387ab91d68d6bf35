//! Signed tree heads: this relay's tree-head key, the heads it signed (one per size, never two),
//! each peer's pinned head and the evidence of misbehaviour found in peers' heads.
use rusqlite::{params, OptionalExtension};

use super::error::{to_i64, to_u64};
use super::{Store, StoreError};

/// A peer's pinned head as stored (the wire JSON of the head and when it was checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHeadRow {
    pub head_json: String,
    pub checked_at: u64,
    pub consistent: bool,
    pub last_error: String,
}

impl Store {
    /// The stored seed of the relay key `name` (e.g. `tree_head`), if one was made.
    pub fn relay_key_seed(&self, name: &str) -> Result<Option<[u8; 32]>, StoreError> {
        let seed: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT seed FROM relay_keys WHERE name = ?1",
                params![name],
                |r| r.get(0),
            )
            .optional()?;
        match seed {
            None => Ok(None),
            Some(s) => <[u8; 32]>::try_from(s.as_slice())
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("relay key {name} is not 32 bytes"))),
        }
    }

    /// Store the seed of relay key `name` unless one exists; returns the seed in force.
    pub fn init_relay_key_seed(
        &mut self,
        name: &str,
        fresh: &[u8; 32],
        now: u64,
    ) -> Result<[u8; 32], StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO relay_keys (name, seed, created_at) VALUES (?1, ?2, ?3)",
            params![name, fresh.as_slice(), to_i64(now)],
        )?;
        self.relay_key_seed(name)?
            .ok_or_else(|| StoreError::Corrupt(format!("relay key {name} vanished")))
    }

    /// Events that have held their position since `cutoff` (Unix seconds) or earlier: the
    /// length of the chain prefix whose every event was stored at or before `cutoff`.
    pub fn chain_settled_size(&self, cutoff: u64) -> Result<u64, StoreError> {
        let first_pending: Option<i64> = self.conn.query_row(
            "SELECT MIN(idx) FROM infonet_chain WHERE received_at > ?1",
            params![to_i64(cutoff)],
            |r| r.get(0),
        )?;
        match first_pending {
            Some(i) => Ok(to_u64(i)),
            None => Ok(to_u64(self.conn.query_row(
                "SELECT COUNT(*) FROM infonet_chain",
                [],
                |r| r.get(0),
            )?)),
        }
    }

    /// This relay's newest signed head (its size and wire JSON).
    pub fn own_head_latest(&self) -> Result<Option<(u64, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT size, head FROM own_tree_heads ORDER BY size DESC LIMIT 1",
                [],
                |r| Ok((to_u64(r.get(0)?), r.get(1)?)),
            )
            .optional()?)
    }

    /// Record a head this relay signed. A second head for a size already signed is refused
    /// (`Corrupt`): the relay never signs two roots for one size.
    pub fn own_head_insert(&mut self, size: u64, head: &str, now: u64) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO own_tree_heads (size, head, signed_at) VALUES (?1, ?2, ?3)",
            params![to_i64(size), head, to_i64(now)],
        )?;
        if n == 0 {
            return Err(StoreError::Corrupt(format!(
                "a tree head for size {size} was already signed"
            )));
        }
        Ok(())
    }

    /// The pinned head of `peer`, if any.
    pub fn peer_head(&self, peer: &str) -> Result<Option<PeerHeadRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT head, checked_at, consistent, last_error FROM peer_tree_heads WHERE peer = ?1",
                params![peer],
                |r| {
                    Ok(PeerHeadRow {
                        head_json: r.get(0)?,
                        checked_at: to_u64(r.get(1)?),
                        consistent: r.get::<_, i64>(2)? != 0,
                        last_error: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Pin (or re-pin) `peer`'s head after a check.
    pub fn set_peer_head(&mut self, peer: &str, row: &PeerHeadRow) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO peer_tree_heads (peer, head, checked_at, consistent, last_error)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (peer) DO UPDATE SET head = ?2, checked_at = ?3, consistent = ?4,
                last_error = ?5",
            params![
                peer,
                row.head_json,
                to_i64(row.checked_at),
                i64::from(row.consistent),
                row.last_error
            ],
        )?;
        Ok(())
    }

    /// Keep evidence of misbehaviour found in `peer`'s heads (its JSON, re-checkable).
    pub fn add_head_evidence(
        &mut self,
        peer: &str,
        kind: &str,
        evidence: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO head_evidence (peer, kind, evidence, found_at) VALUES (?1, ?2, ?3, ?4)",
            params![peer, kind, evidence, to_i64(now)],
        )?;
        Ok(())
    }

    /// Evidence kept against `peer`: (kind, evidence JSON), oldest first.
    pub fn head_evidence(&self, peer: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, evidence FROM head_evidence WHERE peer = ?1 ORDER BY id LIMIT 100",
        )?;
        let rows = stmt.query_map(params![peer], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many pieces of evidence of `kind` are kept against `peer`.
    pub fn head_evidence_count(&self, peer: &str, kind: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM head_evidence WHERE peer = ?1 AND kind = ?2",
            params![peer, kind],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every peer with a pinned head or evidence, sorted.
    pub fn peers_with_heads(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT peer FROM peer_tree_heads UNION SELECT peer FROM head_evidence ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<Vec<String>, _>>()?)
    }
}

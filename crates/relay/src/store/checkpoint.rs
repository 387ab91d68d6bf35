//! Storage of the chain-state checkpoint (`chain_checkpoint`, migration 14) and the reads a
//! start-up from it needs: the rows below it unparsed, one event's text, and the events above.
use rusqlite::{params, OptionalExtension};

use super::error::{to_i64, to_u64};
use super::round::write_tx;
use super::{Store, StoreError};

/// The stored checkpoint row (its bytes are checked by core, not here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Events covered.
    pub height: u64,
    /// Id of event `height - 1` when the checkpoint was written.
    pub head: String,
    /// Core's chain-state snapshot.
    pub snapshot: Vec<u8>,
    /// Digest of the stored texts of events `0..height` (core's `ListDigest::texts`).
    pub texts_digest: Vec<u8>,
}

impl Store {
    /// The stored checkpoint, if any.
    pub fn chain_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT height, head, snapshot, texts_digest FROM chain_checkpoint WHERE id = 1",
                [],
                |r| {
                    Ok(CheckpointRow {
                        height: to_u64(r.get(0)?),
                        head: r.get(1)?,
                        snapshot: r.get(2)?,
                        texts_digest: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Store `row` as the checkpoint, replacing any other, in one transaction that first
    /// checks event `row.height - 1` is stored with id `row.head` (a snapshot of a state that
    /// is not the stored chain's is refused as `Corrupt`). Height 0 stores nothing.
    pub fn chain_checkpoint_write(
        &mut self,
        row: &CheckpointRow,
        now: u64,
    ) -> Result<(), StoreError> {
        if row.height == 0 {
            return Ok(());
        }
        let tx = write_tx(&mut self.conn)?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT event_id FROM infonet_chain WHERE idx = ?1",
                params![to_i64(row.height - 1)],
                |r| r.get(0),
            )
            .optional()?;
        if stored.as_deref() != Some(row.head.as_str()) {
            return Err(StoreError::Corrupt(format!(
                "checkpoint head is not event {} of the stored chain",
                row.height - 1
            )));
        }
        tx.execute(
            "INSERT OR REPLACE INTO chain_checkpoint
                 (id, height, head, snapshot, texts_digest, written_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)",
            params![
                to_i64(row.height),
                row.head,
                row.snapshot,
                row.texts_digest,
                to_i64(now)
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Drop the checkpoint.
    pub fn chain_checkpoint_clear(&mut self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM chain_checkpoint", [])?;
        Ok(())
    }

    /// Events `0..limit` in order, visited as `(event_id column, event_type column, json)`
    /// without parsing anything. A gap in the stored positions is `Corrupt`.
    pub fn chain_rows_for_each(
        &self,
        limit: u64,
        mut f: impl FnMut(String, &str, &str),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, event_id, event_type, event FROM infonet_chain
             WHERE idx < ?1 ORDER BY idx ASC",
        )?;
        let mut rows = stmt.query(params![to_i64(limit)])?;
        let mut next = 0u64;
        while let Some(row) = rows.next()? {
            if to_u64(row.get(0)?) != next {
                return Err(StoreError::Corrupt(format!(
                    "chain event {next}: gap in stored positions"
                )));
            }
            let text = |i: usize| -> Result<&str, StoreError> {
                row.get_ref(i)?
                    .as_str()
                    .map_err(|e| StoreError::Corrupt(format!("chain event {next}: {e}")))
            };
            f(row.get(1)?, text(2)?, text(3)?);
            next += 1;
        }
        Ok(())
    }

    /// Exact JSON of chain event `idx`.
    pub fn chain_event(&self, idx: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT event FROM infonet_chain WHERE idx = ?1",
                params![to_i64(idx)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Visit chain events `from..to` in order: `(idx, event_id column, json, received_at)`.
    pub fn chain_span_for_each(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &str, &str, u64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, event_id, event, received_at FROM infonet_chain
             WHERE idx >= ?1 AND idx < ?2 ORDER BY idx ASC",
        )?;
        let mut rows = stmt.query(params![to_i64(from), to_i64(to)])?;
        while let Some(row) = rows.next()? {
            let idx: i64 = row.get(0)?;
            let id: String = row.get(1)?;
            let json: String = row.get(2)?;
            let received_at: i64 = row.get(3)?;
            f(to_u64(idx), &id, &json, to_u64(received_at))?;
        }
        Ok(())
    }
}

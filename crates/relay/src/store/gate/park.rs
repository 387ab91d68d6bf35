//! Epoch acceptance (client or peer) and parking of gate items a peer sent before their
//! predecessor (an epoch record whose previous epoch, or a message whose epoch, is not here
//! yet): kept aside (bounded, expiring), never served or forwarded, and re-run through the
//! same core checks once the missing epoch arrives.
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{EpochOutcome, GateDeposit};
use crate::store::error::{to_i64, to_u64};
use crate::store::{Outbox, Store, StoreError};

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
    Refused(postern_core::gate::ChainError),
    /// Core's gate cost caps refused the epoch record.
    Capped(postern_core::gate::GateCapError),
    /// The message is sealed for an epoch older than the gate's head here (core's
    /// `gate::check_message_epoch`, the same rule as for a client): refused, not stored.
    StaleEpoch { epoch: u64, head: u64 },
}

/// Accepting epoch records (which may unblock parked items), and peer gate items: stored like
/// a client's, or parked until their predecessor arrives.
impl Store {
    /// Publish a gate epoch record: genesis for an unknown gate, else core's
    /// `GateState::apply` against the stored chain (re-verified from the stored records). One
    /// transaction; committed (fsynced) before returning. An accepted record is queued for the
    /// outbound peers in the same transaction (see [`Store::gate_add_epoch_from`]).
    pub fn gate_add_epoch(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        now: u64,
    ) -> Result<EpochOutcome, StoreError> {
        self.gate_add_epoch_from(record, None, now, None)
    }

    /// [`Store::gate_add_epoch`] for a record that came from peer `from` (`None`: a client),
    /// `verified` its `EpochRecord::verify` done by the caller outside the lock (`None`: verify
    /// here): an accepted record is queued for every outbound peer except `from`, and parked
    /// items it unblocks are applied, all in one transaction.
    pub fn gate_add_epoch_from(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        verified: Option<postern_core::gate::Epoch>,
        now: u64,
        from: Option<&str>,
    ) -> Result<EpochOutcome, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let heads = &mut self.gate_heads;
        let (out, wake) =
            Self::gate_epoch_unpark_tx(tx, &self.outbox, heads, record, verified, now, from)?;
        self.wake(&wake);
        Ok(out)
    }

    /// Apply an epoch record in `tx` and, when it is accepted, the parked items it makes
    /// applicable, then commit; a refused record commits nothing. Returns the outcome and the
    /// outbox peers to wake.
    fn gate_epoch_unpark_tx(
        tx: rusqlite::Transaction<'_>,
        outbox: &Outbox,
        heads: &mut super::GateHeads,
        record: &postern_core::gate::EpochRecord,
        verified: Option<postern_core::gate::Epoch>,
        now: u64,
        from: Option<&str>,
    ) -> Result<(EpochOutcome, Vec<usize>), StoreError> {
        let (out, mut wake) = Self::gate_epoch_tx(&tx, outbox, heads, record, verified, now, from)?;
        if !matches!(out, EpochOutcome::Accepted { .. }) {
            return Ok((out, Vec::new()));
        }
        wake.extend(Self::gate_unpark_tx(&tx, outbox, heads, &record.gate, now)?);
        tx.commit()?;
        Ok((out, wake))
    }

    /// Re-run the parked items of `gate` that became applicable (epoch records of the next
    /// epoch, messages of held epochs) through the same checks, in `tx`, until nothing more
    /// applies, in epoch order (the messages of an epoch before the next epoch's record, so
    /// they are not stale yet). Each is removed from the parking either way; refusals are
    /// logged.
    fn gate_unpark_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        heads: &mut super::GateHeads,
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
                     ORDER BY epoch, kind = 'message', id LIMIT 1",
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
                match Self::gate_epoch_tx(tx, outbox, heads, &record, None, now, from.as_deref())? {
                    (EpochOutcome::Accepted { epoch, .. }, w) => {
                        tracing::info!(epoch, "parked gate epoch accepted");
                        wake.extend(w);
                    }
                    (EpochOutcome::Refused(e), _) => {
                        tracing::info!(error = %e, "parked gate epoch refused")
                    }
                    (EpochOutcome::Capped(e), _) => {
                        tracing::info!(error = %e, "parked gate epoch over the caps")
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
                match out {
                    GateDeposit::Stored { .. } => {
                        tracing::info!(epoch = msg.epoch, "parked gate message stored");
                        wake.extend(w);
                    }
                    GateDeposit::StaleEpoch { head } => {
                        tracing::info!(epoch = msg.epoch, head, "parked gate message stale")
                    }
                    _ => {}
                }
            }
        }
    }

    /// Park a verified-as-far-as-possible item until its predecessor arrives (idempotent).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::store) fn gate_park_tx(
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

    /// An epoch record pushed by peer `from`: the client path's checks (core), except that a
    /// record for a later epoch than the next one (or a non-genesis record of an unknown gate)
    /// whose own signature verifies is parked until the missing epochs arrive.
    pub fn gate_peer_epoch(
        &mut self,
        record: &postern_core::gate::EpochRecord,
        verified: Option<postern_core::gate::Epoch>,
        now: u64,
        from: &str,
    ) -> Result<PeerGateOutcome, StoreError> {
        use postern_core::gate::{ChainError, FormatError};
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let head = Self::gate_head(&tx, &record.gate)?;
        let early = match head {
            None => record.epoch > 1,
            Some(h) => record.epoch > h.saturating_add(1),
        };
        if early {
            if verified.is_none() {
                if let Err(e) = record.verify() {
                    return Ok(PeerGateOutcome::Refused(e.into()));
                }
            }
            let body = serde_json::to_string(record).map_err(|_| {
                StoreError::Corrupt(FormatError::Malformed("epoch record JSON").to_string())
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
        let heads = &mut self.gate_heads;
        let (out, wake) =
            Self::gate_epoch_unpark_tx(tx, &self.outbox, heads, record, verified, now, Some(from))?;
        match out {
            EpochOutcome::Accepted { epoch, .. } => {
                self.wake(&wake);
                Ok(PeerGateOutcome::Accepted { epoch })
            }
            EpochOutcome::Refused(ChainError::ReplayedEpoch { epoch }) => {
                Ok(PeerGateOutcome::Duplicate { epoch })
            }
            EpochOutcome::Refused(e) => Ok(PeerGateOutcome::Refused(e)),
            EpochOutcome::Capped(e) => Ok(PeerGateOutcome::Capped(e)),
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
            GateDeposit::StaleEpoch { head } => PeerGateOutcome::StaleEpoch { epoch, head },
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

//! Private gate storage: epoch chains, rosters, messages and the gate pull feed. Core decides
//! every rule; this module stores what core accepted. Accepting epoch records and items from
//! peers that arrive before their predecessor (parking) are in [`park`]; the cache of verified
//! heads that makes an epoch publish incremental is in [`heads`].
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::error::{to_i64, to_u64};
use super::Outbox;
use super::{NonceUse, Store, StoreError};

mod heads;
mod park;

pub use heads::{GateHeads, GATE_HEADS_CAP};
pub use park::{PeerGateOutcome, GATE_PARK_MAX_PER_GATE, GATE_PARK_MAX_TOTAL, GATE_PARK_TTL_SECS};

/// Result of publishing a gate epoch record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochOutcome {
    Accepted {
        epoch: u64,
        hash: String,
        genesis_hash: String,
    },
    /// Core refused the record against the stored chain.
    Refused(postern_core::gate::ChainError),
    /// Core's gate cost caps refused the record (`gate::check_gate_epoch`), before any
    /// signature work.
    Capped(postern_core::gate::GateCapError),
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
    /// The message's epoch is older than the gate's current epoch (core's
    /// `gate::check_message_epoch`): refused, nothing stored.
    StaleEpoch {
        head: u64,
    },
}

/// One page of a gate's epoch records (`GateRead::Ok` of [`Store::gate_epochs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochsPage {
    /// Oldest first.
    pub records: Vec<postern_core::gate::EpochRecord>,
    /// More records follow the last one returned.
    pub more: bool,
    /// The gate's current epoch here.
    pub head: u64,
}

/// Result of a signed gate read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateRead<T> {
    Ok(T),
    Replayed,
    /// The requester is in no roster of the gate (or the gate does not exist).
    NotAMember,
}

/// A stored gate item as the pull feed lists it: an epoch record (`item_ref` = epoch) or a
/// message (`item_ref` = its seq), with its exact stored JSON.
struct FeedItem<'a> {
    gate: &'a str,
    kind: &'static str,
    item_ref: u64,
    json: &'a str,
}

/// Client-facing gate writes and signed reads.
impl Store {
    pub(super) fn gate_records(
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
    /// Only a message of the gate's current epoch is stored (core's `check_message_epoch`). A
    /// stored message is queued for the outbound peers in the same transaction.
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

    /// At most `limit` epoch records of `gate` after epoch `after` (oldest first) for a
    /// member, with whether more follow and the head epoch; consumes the nonce.
    pub fn gate_epochs(
        &mut self,
        nonce: NonceUse<'_>,
        gate: &str,
        after: u64,
        limit: u32,
        now: u64,
    ) -> Result<GateRead<EpochsPage>, StoreError> {
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
        let head = Self::gate_head(&tx, gate)?.unwrap_or(0);
        let mut records = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT record FROM gate_epochs WHERE gate = ?1 AND epoch > ?2
                 ORDER BY epoch ASC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![gate, to_i64(after), i64::from(limit).saturating_add(1)],
                |r| r.get::<_, String>(0),
            )?;
            for row in rows {
                records.push(serde_json::from_str(&row?).map_err(|_| {
                    StoreError::Corrupt("stored epoch record does not parse".into())
                })?);
            }
        }
        tx.commit()?;
        let more = records.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        records.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(GateRead::Ok(EpochsPage {
            records,
            more,
            head,
        }))
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

    /// The stored chains (records genesis first) of at most `limit` gates, by gate id after
    /// `after`, whose member index lists the requester, and the cursor of the next page (the
    /// last gate id returned) when more follow; `None` when the nonce was already used. The
    /// caller decides membership with core (`api::gate::mine_entry`); consumes the nonce.
    #[allow(clippy::type_complexity)]
    pub fn gate_chains_of(
        &mut self,
        nonce: NonceUse<'_>,
        after: Option<&str>,
        limit: u32,
        now: u64,
    ) -> Result<Option<(Vec<Vec<postern_core::gate::EpochRecord>>, Option<String>)>, StoreError>
    {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if Self::consume_nonce(&tx, nonce, now)?.is_err() {
            return Ok(None);
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut gates: Vec<String> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT gate FROM gate_members WHERE member_id = ?1 AND gate > ?2
                 ORDER BY gate ASC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![
                    nonce.node_id,
                    after.unwrap_or(""),
                    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
                ],
                |r| r.get::<_, String>(0),
            )?;
            rows.collect::<Result<_, _>>()?
        };
        let more = gates.len() > limit;
        gates.truncate(limit);
        let mut out = Vec::with_capacity(gates.len());
        for gate in &gates {
            out.push(Self::gate_records(&tx, gate)?);
        }
        tx.commit()?;
        let next_after = if more { gates.last().cloned() } else { None };
        Ok(Some((out, next_after)))
    }
}

/// The transaction-level gate writes shared by client and peer submissions, and the pull feed.
impl Store {
    pub(super) fn gate_head(
        tx: &rusqlite::Transaction<'_>,
        gate: &str,
    ) -> Result<Option<u64>, StoreError> {
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
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gate_epoch_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        heads: &mut GateHeads,
        record: &postern_core::gate::EpochRecord,
        verified: Option<postern_core::gate::Epoch>,
        now: u64,
        from: Option<&str>,
    ) -> Result<(EpochOutcome, Vec<usize>), StoreError> {
        use postern_core::gate::{FormatError, GateState};
        if let Some(e) = Self::gate_caps_tx(tx, record)? {
            return Ok((EpochOutcome::Capped(e), Vec::new()));
        }
        // The record's own checks (signatures) were normally done by the caller outside the
        // lock; only the link to the cached verified head is checked here.
        let verified = match verified {
            Some(e) => e,
            None => match record.verify() {
                Ok(e) => e,
                Err(e) => return Ok((EpochOutcome::Refused(e.into()), Vec::new())),
            },
        };
        let (state, epoch, genesis_hash) = match Self::gate_state_tx(tx, heads, &record.gate)? {
            None => {
                let state = match GateState::from_verified_genesis(verified) {
                    Ok(s) => s,
                    Err(e) => return Ok((EpochOutcome::Refused(e), Vec::new())),
                };
                let g = hex::encode(state.genesis_hash());
                tx.execute(
                    "INSERT INTO gates (gate, genesis_hash, head_epoch, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![record.gate, g, to_i64(state.epoch()), to_i64(now)],
                )?;
                let epoch = state.head().clone();
                (state, epoch, g)
            }
            Some(mut state) => {
                let epoch = match state.apply_verified(verified) {
                    Ok(e) => e,
                    Err(e) => return Ok((EpochOutcome::Refused(e), Vec::new())),
                };
                tx.execute(
                    "UPDATE gates SET head_epoch = ?2 WHERE gate = ?1",
                    params![record.gate, to_i64(epoch.number())],
                )?;
                let g = hex::encode(state.genesis_hash());
                (state, epoch, g)
            }
        };
        let json = serde_json::to_string(record).map_err(|_| {
            StoreError::Corrupt(FormatError::Malformed("epoch record JSON").to_string())
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
        let item = FeedItem {
            gate: &record.gate,
            kind: "epoch",
            item_ref: epoch.number(),
            json: &json,
        };
        let wake = Self::gate_feed_and_queue(tx, outbox, item, from, now)?;
        // Checked against the stored head on every use, so an uncommitted head never serves.
        heads.put(state);
        Ok((
            EpochOutcome::Accepted {
                epoch: epoch.number(),
                hash,
                genesis_hash,
            },
            wake,
        ))
    }

    /// Core's cost caps (`gate::check_gate_epoch`) for a record that would be the gate's next
    /// epoch (genesis of an unknown gate, or head + 1; anything else is left to the chain
    /// rules): its number, its roster size, and, for each member it adds to the head's roster,
    /// the number of gates whose current roster already holds that member here.
    fn gate_caps_tx(
        tx: &rusqlite::Transaction<'_>,
        record: &postern_core::gate::EpochRecord,
    ) -> Result<Option<postern_core::gate::GateCapError>, StoreError> {
        let head = Self::gate_head(tx, &record.gate)?;
        if record.epoch != head.unwrap_or(0).saturating_add(1) {
            return Ok(None);
        }
        let current: Vec<String> = match head {
            None => Vec::new(),
            Some(h) => {
                let mut stmt = tx.prepare_cached(
                    "SELECT member_id FROM gate_members WHERE gate = ?1 AND epoch = ?2",
                )?;
                let rows =
                    stmt.query_map(params![record.gate, to_i64(h)], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            }
        };
        let mut added = Vec::new();
        // An oversized roster is refused by its size before anything is counted.
        if record.roster.len() <= postern_core::gate::MAX_MEMBERS_PER_GATE {
            for entry in &record.roster {
                if current.contains(&entry.member_id) {
                    continue;
                }
                let gates: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM gate_members m JOIN gates g
                     ON g.gate = m.gate AND g.head_epoch = m.epoch
                     WHERE m.member_id = ?1 AND m.gate != ?2",
                    params![entry.member_id, record.gate],
                    |r| r.get(0),
                )?;
                added.push((
                    entry.member_id.as_str(),
                    usize::try_from(gates).unwrap_or(usize::MAX),
                ));
            }
        }
        Ok(postern_core::gate::check_gate_epoch(record.epoch, record.roster.len(), added).err())
    }

    /// Store a validated gate message inside `tx` and queue it for the outbound peers except
    /// `from`. A stored copy (same gate and nonce) is answered `Duplicate` first; otherwise the
    /// message's epoch must be the gate's head epoch (core's `gate::check_message_epoch`: older
    /// is `StaleEpoch`, newer `UnknownEpoch`). Nothing is written unless stored.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gate_message_tx(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        gate: &str,
        epoch: u64,
        nonce: &str,
        json: &str,
        now: u64,
        from: Option<&str>,
    ) -> Result<(GateDeposit, Vec<usize>), StoreError> {
        use postern_core::gate::{check_message_epoch, MessageEpochError};
        let Some(head) = Self::gate_head(tx, gate)? else {
            return Ok((GateDeposit::UnknownGate, Vec::new()));
        };
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
        match check_message_epoch(epoch, head) {
            Ok(()) => {}
            Err(MessageEpochError::Stale { .. }) => {
                return Ok((GateDeposit::StaleEpoch { head }, Vec::new()))
            }
            Err(MessageEpochError::Unknown { .. }) => {
                return Ok((GateDeposit::UnknownEpoch { head }, Vec::new()))
            }
        }
        tx.execute(
            "INSERT INTO gate_messages (gate, epoch, nonce, message, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![gate, to_i64(epoch), nonce, json, to_i64(now)],
        )?;
        let seq = to_u64(tx.last_insert_rowid());
        let item = FeedItem {
            gate,
            kind: "message",
            item_ref: seq,
            json,
        };
        let wake = Self::gate_feed_and_queue(tx, outbox, item, from, now)?;
        Ok((GateDeposit::Stored { seq }, wake))
    }

    /// List a stored gate item in the pull feed and queue it (its exact stored JSON spliced into
    /// a peer-push body, `{"record": …}` or `{"message": …}`) for every outbound peer except
    /// `from`, inside `tx`.
    fn gate_feed_and_queue(
        tx: &rusqlite::Transaction<'_>,
        outbox: &Outbox,
        item: FeedItem<'_>,
        from: Option<&str>,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        tx.execute(
            "INSERT INTO gate_feed (gate, kind, item_ref) VALUES (?1, ?2, ?3)",
            params![item.gate, item.kind, to_i64(item.item_ref)],
        )?;
        let field = if item.kind == "epoch" {
            "record"
        } else {
            "message"
        };
        let body = format!("{{\"{field}\":{}}}", item.json);
        Self::enqueue_raw(
            tx,
            outbox,
            postern_core::api::gate::PATH_PEER_PUSH,
            &body,
            from,
            now,
        )
    }

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
}

/// The cache of verified gate heads ([`heads`]): warming it outside the lock, and the head of a
/// gate inside a transaction.
impl Store {
    /// The stored head of `gate`: (epoch number, hex hash), if the gate exists.
    fn gate_stored_head(
        conn: &rusqlite::Connection,
        gate: &str,
    ) -> Result<Option<(u64, String)>, StoreError> {
        Ok(conn
            .query_row(
                "SELECT g.head_epoch, e.hash FROM gates g
                 JOIN gate_epochs e ON e.gate = g.gate AND e.epoch = g.head_epoch
                 WHERE g.gate = ?1",
                params![gate],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(e, h)| (to_u64(e), h)))
    }

    /// The stored records of `gate` (genesis first) when its verified head is not cached, for
    /// the caller to verify outside the store lock and hand back with
    /// [`Store::gate_head_put`]; `None` when the head is cached or the gate is unknown.
    pub fn gate_head_missing(
        &self,
        gate: &str,
    ) -> Result<Option<Vec<postern_core::gate::EpochRecord>>, StoreError> {
        let Some((head, hash)) = Self::gate_stored_head(&self.conn, gate)? else {
            return Ok(None);
        };
        if self.gate_heads.matching(gate, head, &hash).is_some() {
            return Ok(None);
        }
        let tx = self.conn.unchecked_transaction()?;
        let records = Self::gate_records(&tx, gate)?;
        tx.commit()?;
        Ok(Some(records))
    }

    /// Cache a head verified outside the lock, if it is still the stored head.
    pub fn gate_head_put(
        &mut self,
        state: postern_core::gate::GateState,
    ) -> Result<(), StoreError> {
        let stored = Self::gate_stored_head(&self.conn, state.gate().as_str())?;
        if stored
            .is_some_and(|(h, hash)| h == state.epoch() && hash == hex::encode(state.head().hash()))
        {
            self.gate_heads.put(state);
        }
        Ok(())
    }

    /// Cached verified heads (metrics, tests).
    pub fn gate_heads_len(&self) -> usize {
        self.gate_heads.len()
    }

    /// The verified head of `gate` inside `tx`: the cached one if it matches the stored head,
    /// else the stored chain verified now (the cold path, once per gate and process unless the
    /// caller warmed the cache outside the lock). `None` for an unknown gate.
    pub(in crate::store) fn gate_state_tx(
        tx: &rusqlite::Transaction<'_>,
        heads: &GateHeads,
        gate: &str,
    ) -> Result<Option<postern_core::gate::GateState>, StoreError> {
        let Some((head, hash)) = Self::gate_stored_head(tx, gate)? else {
            return Ok(None);
        };
        if let Some(s) = heads.matching(gate, head, &hash) {
            return Ok(Some(s.clone()));
        }
        tracing::debug!(
            gate,
            head = to_i64(head),
            "gate head not cached; verifying stored chain"
        );
        let records = Self::gate_records(tx, gate)?;
        let state = postern_core::gate::verify_epoch_chain(&records)
            .map_err(|e| StoreError::Corrupt(format!("stored gate chain: {e}")))?;
        Ok(Some(state))
    }
}

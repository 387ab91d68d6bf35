//! DM spool storage: registered keys, the mailbox, ack tombstones and the DM pull feed.
use postern_core::api::dm::{DeliveryState, StoredDm};
use postern_core::caps::{
    check_budgeted, Budget, BudgetedState, CapError, DepositDecision, SpoolLimits,
    DEFAULT_STRANGER_CAP,
};
use postern_core::dm::DmEnvelope;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::error::{to_i64, to_u64};
use super::outbox::Job;
use super::{NonceUse, Replayed, Store, StoreError};

/// Result of a deposit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deposit {
    Stored { expires_at: u64 },
    Duplicate { expires_at: u64 },
    RecipientUnknown,
    Refused(CapError),
}

/// One deposit of a group commit ([`Store::deposit_batch`]): an envelope that already passed
/// `DmEnvelope::validate`, and for a replica its origin's expiry and the peer it came from.
#[derive(Debug, Clone, Copy)]
pub struct DepositRequest<'a> {
    pub envelope: &'a DmEnvelope,
    pub replica: Option<(u64, &'a str)>,
    /// The request's clock.
    pub now: u64,
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

/// DM spool: every check-then-write in one `BEGIN IMMEDIATE` transaction.
impl Store {
    fn prune_messages(tx: &rusqlite::Connection, now: u64) -> Result<(), StoreError> {
        // Cached: every deposit runs these (and the DELETE's compiled triggers).
        for sql in [
            "DELETE FROM messages WHERE expires_at <= ?1",
            "DELETE FROM dm_tombstones WHERE expires_at <= ?1",
            "DELETE FROM dm_feed WHERE expires_at <= ?1",
        ] {
            tx.prepare_cached(sql)?.execute(params![to_i64(now)])?;
        }
        Ok(())
    }

    /// Record an owner-signed ack in the pull feed (and drop the acked envelopes from it).
    fn feed_ack(
        tx: &rusqlite::Transaction<'_>,
        job: &Job,
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
        let (_, body) = job.body_text()?;
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
            let job = Job::Ack {
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

    /// Replace the signer's contact list (already validated: canonical, bounded); consumes the
    /// request nonce. Returns the number of sender_refs on it.
    pub fn set_contacts(
        &mut self,
        nonce: NonceUse<'_>,
        sender_refs: &[String],
        now: u64,
    ) -> Result<Result<u64, Replayed>, StoreError> {
        let owner_id = nonce.node_id;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Err(r) = Self::consume_nonce(&tx, nonce, now)? {
            return Ok(Err(r));
        }
        tx.execute(
            "DELETE FROM dm_contacts WHERE owner_id = ?1",
            params![owner_id],
        )?;
        {
            let mut stmt =
                tx.prepare("INSERT INTO dm_contacts (owner_id, sender_ref) VALUES (?1, ?2)")?;
            for r in sender_refs {
                stmt.execute(params![owner_id, r])?;
            }
        }
        tx.execute(
            "INSERT INTO dm_contact_lists (owner_id, updated_at) VALUES (?1, ?2)
             ON CONFLICT(owner_id) DO UPDATE SET updated_at = excluded.updated_at",
            params![owner_id, to_i64(now)],
        )?;
        tx.commit()?;
        Ok(Ok(sender_refs.len() as u64))
    }

    /// The budget a deposit from `sender_ref` to `owner_id` counts against
    /// (`caps::Budget::of` over the stored contact list).
    fn budget_of(
        tx: &rusqlite::Connection,
        owner_id: &str,
        sender_ref: &str,
    ) -> Result<Budget, StoreError> {
        let has_list = tx
            .prepare_cached("SELECT 1 FROM dm_contact_lists WHERE owner_id = ?1")?
            .query_row(params![owner_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !has_list {
            return Ok(Budget::Shared);
        }
        let listed = tx
            .prepare_cached("SELECT 1 FROM dm_contacts WHERE owner_id = ?1 AND sender_ref = ?2")?
            .query_row(params![owner_id, sender_ref], |_| Ok(()))
            .optional()?
            .is_some();
        Ok(if listed {
            Budget::Contact
        } else {
            Budget::Stranger
        })
    }

    /// The maintained counts (migration 11) a deposit's caps read: messages from its sender_ref
    /// to its recipient, and the recipient's total and contact messages (expired ones count
    /// until pruned: callers prune first).
    fn mailbox_counts(
        tx: &rusqlite::Connection,
        env: &DmEnvelope,
    ) -> Result<(usize, usize, usize), StoreError> {
        let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        let pair: i64 = tx
            .prepare_cached(
                "SELECT n FROM dm_pair_counts WHERE recipient_id = ?1 AND sender_ref = ?2",
            )?
            .query_row(params![env.recipient_id, env.sender_ref], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        let (total, contacts): (i64, i64) = tx
            .prepare_cached(
                "SELECT total, contacts FROM dm_mailbox_counts WHERE recipient_id = ?1",
            )?
            .query_row(params![env.recipient_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, 0));
        Ok((count(pair), count(total), count(contacts)))
    }

    fn deposit_with(
        &mut self,
        env: &DmEnvelope,
        limits: &SpoolLimits,
        now: u64,
        replica_expires_at: Option<u64>,
        from: Option<&str>,
    ) -> Result<Deposit, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (outcome, wake) = Self::deposit_in(
            &tx,
            &self.outbox,
            env,
            limits,
            now,
            replica_expires_at,
            from,
        )?;
        if matches!(outcome, Deposit::RecipientUnknown | Deposit::Refused(_)) {
            // Nothing to keep: roll back (only the pruning could have run).
            drop(tx);
        } else {
            tx.commit()?;
        }
        self.wake(&wake);
        Ok(outcome)
    }

    /// Deposits of several requests in one transaction (one fsync: group commit), in order, each
    /// seeing the ones before it (caps included); each runs in a savepoint, so a storage error
    /// undoes only its own writes. The outcomes are durable once this returns `Ok`; a failed
    /// commit fails every request (nothing was stored).
    pub fn deposit_batch(
        &mut self,
        reqs: &[DepositRequest<'_>],
        limits: &SpoolLimits,
    ) -> Result<Vec<Result<Deposit, StoreError>>, StoreError> {
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(reqs.len());
        let mut wake = Vec::new();
        for r in reqs {
            let sp = tx.savepoint()?;
            let (expires, from) = match r.replica {
                Some((e, f)) => (Some(e), Some(f)),
                None => (None, None),
            };
            match Self::deposit_in(&sp, &self.outbox, r.envelope, limits, r.now, expires, from) {
                Ok((outcome, w)) => {
                    sp.commit()?;
                    wake.extend(w);
                    out.push(Ok(outcome));
                }
                // The savepoint rolls back on drop.
                Err(e) => out.push(Err(e)),
            }
        }
        tx.commit()?;
        wake.sort_unstable();
        wake.dedup();
        self.wake(&wake);
        Ok(out)
    }

    /// One deposit inside `tx` (nothing committed here): the outcome and the peers to wake once
    /// `tx` commits. A refusal may leave only the expiry pruning behind.
    fn deposit_in(
        tx: &rusqlite::Connection,
        outbox: &super::Outbox,
        env: &DmEnvelope,
        limits: &SpoolLimits,
        now: u64,
        replica_expires_at: Option<u64>,
        from: Option<&str>,
    ) -> Result<(Deposit, Vec<usize>), StoreError> {
        let json = serde_json::to_string(env).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let known: bool = tx
            .prepare_cached("SELECT 1 FROM nodes WHERE node_id = ?1")?
            .query_row(params![env.recipient_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !known && replica_expires_at.is_none() {
            return Ok((Deposit::RecipientUnknown, Vec::new()));
        }
        Self::prune_messages(tx, now)?;
        // Acked already (here or on a peer): a late replica or a re-deposit is a duplicate,
        // neither stored nor passed on.
        let tomb: Option<i64> = tx
            .prepare_cached(
                "SELECT expires_at FROM dm_tombstones WHERE recipient_id = ?1 AND msg_id = ?2",
            )?
            .query_row(params![env.recipient_id, env.msg_id], |r| r.get(0))
            .optional()?;
        if let Some(e) = tomb {
            let dup = Deposit::Duplicate {
                expires_at: to_u64(e),
            };
            return Ok((dup, Vec::new()));
        }
        let existing: Option<i64> = tx
            .prepare_cached(
                "SELECT expires_at FROM messages WHERE recipient_id = ?1 AND msg_id = ?2",
            )?
            .query_row(params![env.recipient_id, env.msg_id], |r| r.get(0))
            .optional()?;
        let (pair_len, total, contacts) = Self::mailbox_counts(tx, env)?;
        let budget = Self::budget_of(tx, &env.recipient_id, &env.sender_ref)?;
        let budget_len = match budget {
            Budget::Shared => total,
            Budget::Contact => contacts,
            Budget::Stranger => total.saturating_sub(contacts),
        };
        let state = BudgetedState {
            already_stored: existing.is_some(),
            pair_len,
            budget,
            budget_len,
        };
        match check_budgeted(limits, DEFAULT_STRANGER_CAP.min(limits.mailbox_cap), state) {
            Err(cap) => Ok((Deposit::Refused(cap), Vec::new())),
            // Nothing was written except possibly pruning; keep that.
            Ok(DepositDecision::Duplicate) => Ok((
                Deposit::Duplicate {
                    expires_at: to_u64(existing.unwrap_or(0)),
                },
                Vec::new(),
            )),
            Ok(DepositDecision::Store) => {
                let own = now.saturating_add(limits.ttl_secs);
                let expires_at = replica_expires_at.map_or(own, |e| e.min(own));
                tx.prepare_cached(
                    "INSERT INTO messages (recipient_id, msg_id, sender_ref, envelope, received_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                        env.recipient_id,
                        env.msg_id,
                        env.sender_ref,
                        json,
                        to_i64(now),
                        to_i64(expires_at)
                    ])?;
                let job = Job::Envelope {
                    envelope: env.clone(),
                    expires_at,
                };
                // The feed row points at the spooled message (body '' = read it from
                // `messages`), so the envelope is stored once.
                tx.prepare_cached(
                    "INSERT INTO dm_feed (kind, recipient_id, msg_id, body, expires_at) VALUES ('envelope', ?1, ?2, '', ?3)",
                )?
                .execute(params![env.recipient_id, env.msg_id, to_i64(expires_at)])?;
                let wake = Self::enqueue(tx, outbox, &job, from, now)?;
                Ok((Deposit::Stored { expires_at }, wake))
            }
        }
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
        let total: i64 = tx
            .query_row(
                "SELECT total FROM dm_mailbox_counts WHERE recipient_id = ?1",
                params![nonce.node_id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
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
            let job = Job::Ack {
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

    /// Feed rows after `after`, oldest first: at most `limit` rows and (beyond the first row)
    /// about `max_bytes` of bodies. The flag says whether more rows follow. Expired rows are
    /// never served, nor an envelope row whose message has left the spool (acked or expired).
    pub fn dm_feed_page(
        &self,
        after: u64,
        limit: u32,
        max_bytes: usize,
        now: u64,
    ) -> Result<(Vec<FeedRow>, bool), StoreError> {
        // An envelope row's body is '' (migration 13): the request is rebuilt from the spooled
        // message. Rows are stepped lazily, so the skipped ones need no LIMIT slack.
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.seq, f.kind, f.body, m.envelope, f.expires_at FROM dm_feed f
             LEFT JOIN messages m ON f.kind = 'envelope' AND f.body = ''
                 AND m.recipient_id = f.recipient_id AND m.msg_id = f.msg_id
             WHERE f.seq > ?1 AND f.expires_at > ?2 ORDER BY f.seq ASC",
        )?;
        let rows = stmt.query_map(params![to_i64(after), to_i64(now)], |r| {
            Ok((
                to_u64(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                to_u64(r.get(4)?),
            ))
        })?;
        let (mut out, mut bytes, mut more) = (Vec::new(), 0usize, false);
        for row in rows {
            let (seq, kind, body, spooled, expires_at) = row?;
            let body = match (body.is_empty(), spooled) {
                (false, _) => body,
                (true, Some(envelope)) => feed_envelope_body(&envelope, expires_at)?,
                (true, None) => continue,
            };
            if out.len() >= limit as usize || (!out.is_empty() && bytes + body.len() > max_bytes) {
                more = true;
                break;
            }
            bytes += body.len();
            out.push(FeedRow { seq, kind, body });
        }
        Ok((out, more))
    }
}

/// The replicate-envelope request of a spooled message (its stored envelope JSON), as the feed
/// serves it.
fn feed_envelope_body(envelope: &str, expires_at: u64) -> Result<String, StoreError> {
    let envelope: DmEnvelope =
        serde_json::from_str(envelope).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let (_, body) = Job::Envelope {
        envelope,
        expires_at,
    }
    .body_text()?;
    Ok(body)
}

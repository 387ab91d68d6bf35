//! The private gate service: the relay side of `postern-gate/1`, for clients and peer relays.
//!
//! Every rule is `postern-core`'s. An epoch record is checked on its own (`EpochRecord::verify`)
//! on the blocking pool before the store lock is taken, and then accepted only if
//! `GateState::from_verified_genesis` (unknown gate) or `GateState::apply_verified` against the
//! gate's cached verified head accepts it (incremental: a publish never re-verifies the stored
//! chain; the cache is `store::gate::heads`), within core's cost caps (`check_gate_epoch`); a message must pass the `gate_message` schema (`schema::validate_for_append`,
//! private lane) and `GateMessage::validate` ([`validate_message`]). A new message must be
//! sealed for the gate's current epoch (core's `gate::check_message_epoch`; older: 409
//! `stale_epoch`, from a client or a peer alike). Reads are signed (`gate.read`)
//! by a node in the roster of at least one epoch of the gate, and return only the messages of
//! the epochs whose roster holds the requester; `gate.list` names the gates whose rosters hold
//! the requester (core's `api::gate::mine_entry` re-verifies each chain and decides).
//!
//! Items from a peer ([`Services::gate_peer_item`]) run exactly the client checks; one whose
//! predecessor is missing is parked by the store until it arrives.
use postern_core::api::gate::{
    mine_entry, MineGate, PeerPushOutcome, PeerPushRequest, PeerPushResponse, StoredGateMessage,
    MAX_MESSAGES_LIMIT, PEER_PULL_MAX_LIMIT,
};
use postern_core::auth::RequestAuth;
use postern_core::gate::{
    check_gate_epoch, is_valid_gate_id, verify_epoch_chain, ChainError, Epoch, EpochRecord,
    GateCapError, GateIdError, GateMessage,
};
use postern_core::json::Value;
use postern_core::schema;

use super::{Internal, Services};
use crate::store::{EpochOutcome, EpochsPage, GateDeposit, GateRead, Nonce, PeerGateOutcome};

/// Largest gate peer-pull response body this relay builds (at least one item is always sent).
const PULL_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Why a gate operation was refused (`http::error` maps each to its status and code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateFailure {
    /// Malformed input (400 `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// Core refused the epoch record against the stored chain.
    #[error("{0}")]
    Epoch(ChainError),
    /// Core's gate cost caps refused the epoch record (`gate::check_gate_epoch`).
    #[error("{0}")]
    Cap(GateCapError),
    /// Core's schema or `GateMessage::validate` refused the message.
    #[error("{0}")]
    InvalidMessage(String),
    /// The message is over the payload cap.
    #[error("{0}")]
    MessageTooLarge(String),
    #[error("no epoch of this gate is known to this relay; publish the genesis record first")]
    UnknownGate,
    #[error("epoch {epoch} is not on this relay (current epoch {head}); publish its record first")]
    UnknownEpoch { epoch: u64, head: u64 },
    /// Core's `gate::check_message_epoch`: sealed for an epoch older than the head.
    #[error("the message is sealed for epoch {epoch}, older than the gate's current epoch {head}; re-seal it under epoch {head}")]
    StaleEpoch { epoch: u64, head: u64 },
    #[error("the requester is in no roster of this gate")]
    NotAMember,
    #[error("this request nonce was already used; sign a fresh request")]
    Replayed,
    /// A peer push must carry exactly one of record / message.
    #[error("expected exactly one of record or message")]
    OneItem,
    /// Too many out-of-order peer items are parked (the peer retries later).
    #[error("too many out-of-order gate items waiting here; retry later")]
    ParkingFull,
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl GateFailure {
    /// Worth retrying later (the item itself was not refused).
    pub fn is_retryable(&self) -> bool {
        matches!(self, GateFailure::ParkingFull | GateFailure::Internal(_))
    }
}

/// An accepted epoch record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochAccepted {
    pub gate: String,
    pub epoch: u64,
    pub hash: String,
    pub genesis_hash: String,
}

/// A gate id must be well-formed before anything is looked up or verified.
pub fn check_gate_id(gate: &str) -> Result<(), GateFailure> {
    if is_valid_gate_id(gate) {
        Ok(())
    } else {
        Err(GateFailure::BadRequest(GateIdError.to_string()))
    }
}

/// The limit of a signed messages read.
pub fn check_messages_limit(limit: u32) -> Result<(), GateFailure> {
    if (1..=MAX_MESSAGES_LIMIT).contains(&limit) {
        Ok(())
    } else {
        Err(GateFailure::BadRequest(format!(
            "limit must be 1..={MAX_MESSAGES_LIMIT}"
        )))
    }
}

/// The optional `limit` of a paginated read (epochs, gate list): absent, or 1..=`max`.
pub fn check_page_limit(limit: Option<u32>, max: u32) -> Result<(), GateFailure> {
    match limit {
        Some(l) if !(1..=max).contains(&l) => {
            Err(GateFailure::BadRequest(format!("limit must be 1..={max}")))
        }
        _ => Ok(()),
    }
}

/// Every check a gate message gets, from a client or a peer relay: core's `gate_message`
/// schema (plaintext tripwires, sealed bytes, transport lock), then `GateMessage::validate`.
/// Returns the message and its typed re-encoding (exactly the validated fields), which is
/// what is stored and replicated.
pub fn validate_message(message: &Value) -> Result<(GateMessage, String), GateFailure> {
    let invalid = |d: String| GateFailure::InvalidMessage(d);
    schema::validate_for_append("gate_message", message, true).map_err(|e| {
        if matches!(e, schema::SchemaError::PayloadTooLarge) {
            GateFailure::MessageTooLarge(e.to_string())
        } else {
            GateFailure::InvalidMessage(e.to_string())
        }
    })?;
    let json = serde_json::to_string(message).map_err(|e| invalid(e.to_string()))?;
    let msg = GateMessage::from_json(&json).map_err(|e| invalid(e.to_string()))?;
    msg.validate().map_err(|e| invalid(e.to_string()))?;
    let stored = msg.to_json().map_err(|e| invalid(e.to_string()))?;
    Ok((msg, stored))
}

/// Run CPU-bound verification on the blocking pool (off the async executor, no lock held).
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R, Internal> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "gate verification task failed");
        Internal
    })
}

impl Services {
    /// The work on a new epoch record that needs no lock: core's size caps (no signature work
    /// for an oversized roster or a gate past its epoch cap), then the record's own checks
    /// (`EpochRecord::verify`: roster, bindings, the rotator's signature) on the blocking pool,
    /// then warming the gate's cached verified head (the stored chain is verified outside the
    /// store lock, once per gate and process). The store then only links the record to the
    /// cached head (`GateState::apply_verified`).
    async fn prepare_epoch(&self, record: &EpochRecord) -> Result<Epoch, GateFailure> {
        check_gate_epoch(record.epoch, record.roster.len(), []).map_err(GateFailure::Cap)?;
        let r = record.clone();
        let epoch = blocking(move || r.verify())
            .await?
            .map_err(|e| GateFailure::Epoch(e.into()))?;
        let gate = record.gate.clone();
        let missing = self
            .store
            .run("gate_head_missing", move |s| s.gate_head_missing(&gate))
            .await?;
        if let Some(records) = missing {
            match blocking(move || verify_epoch_chain(&records)).await? {
                Ok(state) => {
                    self.store
                        .run("gate_head_put", move |s| s.gate_head_put(state))
                        .await?
                }
                Err(e) => tracing::warn!(error = %e, "stored gate chain does not verify"),
            }
        }
        Ok(epoch)
    }

    /// Publish an epoch record from a client (see the module docs).
    pub async fn publish_epoch(&self, record: EpochRecord) -> Result<EpochAccepted, GateFailure> {
        let now = self.now();
        let gate = record.gate.clone();
        let verified = self.prepare_epoch(&record).await?;
        let outcome = self
            .store
            .run("gate_epoch", move |s| {
                s.gate_add_epoch_from(&record, Some(verified), now, None)
            })
            .await?;
        match outcome {
            EpochOutcome::Accepted {
                epoch,
                hash,
                genesis_hash,
            } => {
                tracing::info!(epoch, "gate epoch accepted");
                Ok(EpochAccepted {
                    gate,
                    epoch,
                    hash,
                    genesis_hash,
                })
            }
            EpochOutcome::Refused(e) => {
                tracing::info!(error = %e, "gate epoch refused");
                Err(GateFailure::Epoch(e))
            }
            EpochOutcome::Capped(e) => {
                tracing::info!(error = %e, "gate epoch over the caps");
                Err(GateFailure::Cap(e))
            }
        }
    }

    /// Deposit a client's gate message: `(seq, duplicate)`.
    pub async fn deposit_gate_message(&self, message: &Value) -> Result<(u64, bool), GateFailure> {
        let now = self.now();
        let (msg, stored) = validate_message(message)?;
        let (gate, epoch, nonce) = (msg.gate.clone(), msg.epoch, msg.nonce.clone());
        let outcome = self
            .store
            .run("gate_message", move |s| {
                s.gate_deposit(&gate, epoch, &nonce, &stored, now)
            })
            .await?;
        match outcome {
            GateDeposit::Stored { seq } => Ok((seq, false)),
            GateDeposit::Duplicate { seq } => Ok((seq, true)),
            GateDeposit::UnknownGate => Err(GateFailure::UnknownGate),
            GateDeposit::UnknownEpoch { head } => Err(GateFailure::UnknownEpoch { epoch, head }),
            GateDeposit::StaleEpoch { head } => Err(GateFailure::StaleEpoch { epoch, head }),
        }
    }

    /// At most `limit` epoch records of `gate` after epoch `after` (oldest first) for a member
    /// (`auth` already verified).
    pub async fn read_epochs(
        &self,
        auth: &RequestAuth,
        gate: String,
        after: u64,
        limit: u32,
        now: u64,
    ) -> Result<EpochsPage, GateFailure> {
        let n = Nonce::of(auth);
        let outcome = self
            .store
            .run("gate_epochs", move |s| {
                s.gate_epochs(n.as_use(), &gate, after, limit, now)
            })
            .await?;
        read(outcome)
    }

    /// Messages of `gate` after `after`, oldest first, of the epochs whose roster holds the
    /// signer (`auth` already verified).
    pub async fn read_messages(
        &self,
        auth: &RequestAuth,
        gate: String,
        after: u64,
        limit: u32,
        now: u64,
    ) -> Result<Vec<StoredGateMessage>, GateFailure> {
        let n = Nonce::of(auth);
        let outcome = self
            .store
            .run("gate_messages", move |s| {
                s.gate_messages(n.as_use(), &gate, after, limit, now)
            })
            .await?;
        read(outcome)
    }

    /// One page of the gates whose roster, in any epoch, holds the signer: at most `limit`
    /// candidates after gate id `after`, and the cursor of the next page if more remain. The
    /// store's member index only proposes candidates; core's `mine_entry` re-verifies each
    /// stored chain and decides (off the async executor, outside the store lock).
    pub async fn gates_of(
        &self,
        auth: &RequestAuth,
        after: Option<String>,
        limit: u32,
        now: u64,
    ) -> Result<(Vec<MineGate>, Option<String>), GateFailure> {
        let n = Nonce::of(auth);
        let (chains, next_after) = self
            .store
            .run("gate_mine", move |s| {
                s.gate_chains_of(n.as_use(), after.as_deref(), limit, now)
            })
            .await?
            .ok_or(GateFailure::Replayed)?;
        let member = auth.node_id.clone();
        let gates = tokio::task::spawn_blocking(move || mine_entries(&chains, &member))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "gate listing task failed");
                Internal
            })?;
        Ok((gates, next_after))
    }

    /// Run one item pushed or pulled from `peer` through the client checks and store it (or
    /// park it until its predecessor arrives). Refusals are final for the item unless
    /// [`GateFailure::is_retryable`].
    pub async fn gate_peer_item(
        &self,
        peer: &str,
        req: PeerPushRequest,
    ) -> Result<PeerPushResponse, GateFailure> {
        let now = self.now();
        let from = peer.to_string();
        let (gate, outcome) = match (req.record, req.message) {
            (Some(record), None) => {
                let gate = record.gate.clone();
                let verified = self.prepare_epoch(&record).await?;
                let out = self
                    .store
                    .run("gate_peer_epoch", move |s| {
                        s.gate_peer_epoch(&record, Some(verified), now, &from)
                    })
                    .await?;
                (gate, out)
            }
            (None, Some(message)) => {
                let (msg, stored) = validate_message(&message)?;
                let (gate, epoch, nonce) = (msg.gate, msg.epoch, msg.nonce);
                let g = gate.clone();
                let out = self
                    .store
                    .run("gate_peer_message", move |s| {
                        s.gate_peer_message(&g, epoch, &nonce, &stored, now, &from)
                    })
                    .await?;
                (gate, out)
            }
            _ => return Err(GateFailure::OneItem),
        };
        let (outcome, epoch) = match outcome {
            PeerGateOutcome::Accepted { epoch } => (PeerPushOutcome::Accepted, epoch),
            PeerGateOutcome::Duplicate { epoch } => (PeerPushOutcome::Duplicate, epoch),
            PeerGateOutcome::Parked { epoch } => (PeerPushOutcome::Parked, epoch),
            PeerGateOutcome::ParkingFull => {
                tracing::warn!(peer = %peer, "gate parking full; peer will retry");
                return Err(GateFailure::ParkingFull);
            }
            PeerGateOutcome::Refused(e) => {
                tracing::info!(peer = %peer, error = %e, "peer gate epoch refused");
                return Err(GateFailure::Epoch(e));
            }
            PeerGateOutcome::Capped(e) => {
                tracing::info!(peer = %peer, error = %e, "peer gate epoch over the caps");
                return Err(GateFailure::Cap(e));
            }
            PeerGateOutcome::StaleEpoch { epoch, head } => {
                tracing::info!(peer = %peer, epoch, head, "peer gate message stale");
                return Err(GateFailure::StaleEpoch { epoch, head });
            }
        };
        tracing::info!(peer = %peer, epoch, outcome = ?outcome, "gate item from peer");
        Ok(PeerPushResponse {
            ok: true,
            outcome,
            gate,
            epoch,
        })
    }

    /// This relay's gate feed after `after` as the exact peer-pull response JSON (stored items
    /// spliced) and the number of items.
    pub async fn gate_feed_page(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<(String, usize), GateFailure> {
        if !(1..=PEER_PULL_MAX_LIMIT).contains(&limit) {
            return Err(GateFailure::BadRequest(format!(
                "limit must be 1..={PEER_PULL_MAX_LIMIT}"
            )));
        }
        let page = self
            .store
            .run("gate_peer_pull", move |s| {
                s.gate_feed_page(after, limit, PULL_MAX_BYTES)
            })
            .await?;
        let next_after = page.last().map_or(after, |(seq, _)| *seq);
        let n = page.len();
        // The exact stored JSON, spliced.
        let items: Vec<String> = page.into_iter().map(|(_, b)| b).collect();
        let json = format!(
            "{{\"ok\":true,\"items\":[{}],\"next_after\":{next_after}}}",
            items.join(",")
        );
        Ok((json, n))
    }
}

/// Core's `mine_entry` for each stored chain (a chain that no longer verifies is not listed).
fn mine_entries(chains: &[Vec<EpochRecord>], member: &str) -> Vec<MineGate> {
    let mut gates = Vec::with_capacity(chains.len());
    for chain in chains {
        match mine_entry(chain, member) {
            Ok(Some(g)) => gates.push(g),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "stored gate chain does not verify; not listed")
            }
        }
    }
    gates
}

fn read<T>(outcome: GateRead<T>) -> Result<T, GateFailure> {
    match outcome {
        GateRead::Ok(v) => Ok(v),
        GateRead::Replayed => Err(GateFailure::Replayed),
        GateRead::NotAMember => Err(GateFailure::NotAMember),
    }
}

//! The DM spool service: registration, the one deposit path (local sends and replicas from
//! peers alike), polls, acks (local and owner-signed replicated), delivery status and the DM
//! pull feed served to peers. Every rule is core's (`DmEnvelope::validate`,
//! `caps::check_deposit` in the store's transaction, `api::peer::check_replicated_ack`).
use postern_core::api::dm::{MsgStatus, RegisterRequest, StatusRequest, StoredDm, MAX_ACK_IDS};
use postern_core::api::peer::{
    codes as pcodes, PeerPullItem, PeerPullResponse, ReplicateAckRequest, ReplicateEnvelopeRequest,
    MAX_PEER_PULL_LIMIT,
};
use postern_core::auth::RequestAuth;
use postern_core::b64;
use postern_core::caps::CapError;
use postern_core::dm::DmEnvelope;
use postern_core::identity::{is_valid_node_id, IdentityError};

use super::{Internal, Services};
use crate::store::{Deposit, NodeRecord, Nonce, Replayed};

/// Bodies served per DM feed page beyond the first item (a page always holds at least one).
const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Why a DM operation was refused (`http::error` maps each to its status and code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmError {
    /// Malformed input (400 `bad_request`).
    #[error("{0}")]
    BadRequest(String),
    /// The request nonce was already used.
    #[error("this request nonce was already used; sign a fresh request")]
    Replayed,
    /// No DH key is registered for the recipient here (local sends only).
    #[error("no DH key is registered for this node id on this relay")]
    RecipientUnknown,
    /// A spool cap (`caps::check_deposit`).
    #[error("{0}")]
    Cap(CapError),
    /// A replica whose origin expiry is already past.
    #[error("expires_at is already past")]
    Expired,
    /// Core refused a replicated ack's owner statement (`code` as core names it).
    #[error("{detail}")]
    AckRefused { code: &'static str, detail: String },
    #[error(transparent)]
    Internal(#[from] Internal),
}

impl From<Replayed> for DmError {
    fn from(_: Replayed) -> Self {
        DmError::Replayed
    }
}

/// Where an envelope comes from: a client of this relay, or a peer relay that spooled it first.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Local,
    Peer {
        /// The authenticated peer URL (never forwarded back to it).
        peer: &'a str,
        /// The origin's expiry (kept at most this relay's TTL).
        expires_at: u64,
    },
}

/// A spooled (or already spooled) envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposited {
    pub msg_id: String,
    pub duplicate: bool,
    pub expires_at: u64,
}

fn short(node_id: &str) -> &str {
    node_id.get(..12).unwrap_or(node_id)
}

impl Services {
    /// Register (or refresh) the signer's keys. `auth` was verified over `dh`; core's
    /// [`RegisterRequest::identity`] checks both keys and the binding signature, if any, which is
    /// stored and served by `pubkey` (identity v2). Returns the node id.
    pub async fn register(&self, req: &RegisterRequest, now: u64) -> Result<String, DmError> {
        let identity = req.identity().map_err(|e| match e {
            IdentityError::BadBinding => DmError::BadRequest(
                "the binding signature does not cover these keys (identity altered?)".into(),
            ),
            e => DmError::BadRequest(e.to_string()),
        })?;
        let public_key = b64::encode_std(identity.verifying_key().as_bytes());
        let dh_pub_key = b64::encode_std(identity.dh_public().as_bytes());
        let binding = identity.binding().map(|b| b64::encode_std(b));
        let n = Nonce::of(&req.auth);
        let node_id = n.node_id.clone();
        self.store
            .run("register", move |s| {
                s.register(
                    n.as_use(),
                    &public_key,
                    &dh_pub_key,
                    binding.as_deref(),
                    now,
                )
            })
            .await??;
        tracing::info!(node = %short(&node_id), "node registered");
        Ok(node_id)
    }

    /// The registered keys of `node_id`.
    pub async fn pubkey(&self, node_id: String) -> Result<NodeRecord, DmError> {
        if !is_valid_node_id(&node_id) {
            return Err(DmError::BadRequest(
                "node_id must be !sb_ followed by 32 lower-case hex characters".into(),
            ));
        }
        self.store
            .run("pubkey", move |s| s.node(&node_id))
            .await?
            .ok_or(DmError::RecipientUnknown)
    }

    /// The one deposit path: `DmEnvelope::validate`, then (for a replica) the origin's expiry,
    /// then the store's `caps::check_deposit` and insert in one transaction, which also lists
    /// the envelope in the DM feed and queues it for every outbound peer except its origin.
    pub async fn deposit(
        &self,
        envelope: DmEnvelope,
        origin: Origin<'_>,
    ) -> Result<Deposited, DmError> {
        let now = self.now();
        envelope
            .validate()
            .map_err(|e| DmError::BadRequest(e.to_string()))?;
        let replica = match origin {
            Origin::Local => None,
            Origin::Peer { peer, expires_at } => {
                if expires_at <= now {
                    return Err(DmError::Expired);
                }
                Some((expires_at, peer.to_string()))
            }
        };
        let from = replica.as_ref().map(|(_, p)| p.clone());
        let msg_id = envelope.msg_id.clone();
        // Answered once the transaction holding it (shared with concurrent deposits) is
        // committed.
        let outcome = self.deposits.deposit(envelope, replica, now).await?;
        let (duplicate, expires_at) = match outcome {
            Deposit::Stored { expires_at } => {
                // Queued for the peers by the store, in the deposit's transaction (a duplicate
                // or tombstoned msg_id is never forwarded).
                match &from {
                    None => tracing::info!("message spooled"),
                    Some(peer) => tracing::info!(peer = %peer, "replica spooled"),
                }
                (false, expires_at)
            }
            Deposit::Duplicate { expires_at } => (true, expires_at),
            Deposit::RecipientUnknown => return Err(DmError::RecipientUnknown),
            Deposit::Refused(cap) => {
                tracing::info!(
                    code = cap.code(),
                    replica = from.is_some(),
                    "deposit refused by cap"
                );
                return Err(DmError::Cap(cap));
            }
        };
        Ok(Deposited {
            msg_id,
            duplicate,
            expires_at,
        })
    }

    /// Replace the caller's contact list (validated by the handler: canonical, bounded).
    pub async fn set_contacts(
        &self,
        auth: &RequestAuth,
        sender_refs: Vec<String>,
        now: u64,
    ) -> Result<u64, DmError> {
        let n = Nonce::of(auth);
        Ok(self
            .store
            .run("contacts", move |s| {
                s.set_contacts(n.as_use(), &sender_refs, now)
            })
            .await??)
    }

    /// The caller's messages, oldest first (at most `limit`), and the mailbox total.
    pub async fn poll(
        &self,
        auth: &RequestAuth,
        limit: u32,
        now: u64,
    ) -> Result<(Vec<StoredDm>, u64), DmError> {
        let n = Nonce::of(auth);
        Ok(self
            .store
            .run("poll", move |s| s.poll(n.as_use(), limit, now))
            .await??)
    }

    /// Remove `msg_ids` from the caller's mailbox; `auth` (its own signed ack) is the statement
    /// peers verify before they remove anything. The store tombstones the ids and queues the ack
    /// for every peer (even ids not present here: the message may live only on a peer), in the
    /// ack's transaction.
    pub async fn ack(
        &self,
        auth: &RequestAuth,
        msg_ids: Vec<String>,
        now: u64,
    ) -> Result<u64, DmError> {
        let n = Nonce::of(auth);
        let proof = auth.clone();
        let ttl = self.limits.ttl_secs;
        Ok(self
            .store
            .run("ack", move |s| {
                s.ack(n.as_use(), &msg_ids, &proof, ttl, now)
            })
            .await??)
    }

    /// Delivery state of each listed message (unsigned: a random msg_id is the capability).
    pub async fn delivery_status(&self, req: StatusRequest) -> Result<Vec<MsgStatus>, DmError> {
        let now = self.now();
        req.validate()
            .map_err(|e| DmError::BadRequest(e.to_string()))?;
        let StatusRequest {
            recipient_id,
            msg_ids,
        } = req;
        Ok(self
            .store
            .run("dm_status", move |s| {
                let states = s.delivery_states(&recipient_id, &msg_ids, now)?;
                Ok(msg_ids
                    .into_iter()
                    .zip(states)
                    .map(|(msg_id, state)| MsgStatus { msg_id, state })
                    .collect())
            })
            .await?)
    }

    /// Apply an ack relayed by `peer` (pushed or pulled): core checks the mailbox owner's signed
    /// ack ([`postern_core::api::peer::check_replicated_ack`]) before anything is removed; a
    /// missing, forged or other-owner proof is refused and nothing changes. Returns how many
    /// messages were removed here.
    pub async fn ingest_ack(&self, req: ReplicateAckRequest, peer: &str) -> Result<u64, DmError> {
        let now = self.now();
        if req.msg_ids.len() > MAX_ACK_IDS {
            return Err(DmError::BadRequest(format!(
                "at most {MAX_ACK_IDS} msg_ids per ack"
            )));
        }
        if !is_valid_node_id(&req.recipient_id) {
            return Err(DmError::BadRequest("recipient_id is not a node id".into()));
        }
        if let Err((code, detail)) = postern_core::api::peer::check_replicated_ack(&req) {
            tracing::warn!(peer = %peer, code, "replicated ack refused");
            return Err(DmError::AckRefused { code, detail });
        }
        let Some(proof) = req.owner_ack else {
            return Err(DmError::AckRefused {
                code: pcodes::ACK_UNSIGNED,
                detail: "missing owner_ack".into(),
            });
        };
        let (rid, ids) = (req.recipient_id, req.msg_ids);
        let ttl = self.limits.ttl_secs;
        let from = peer.to_string();
        // Tombstones every id; when that changed anything here, forwards (durably, same
        // transaction) the owner's statement unchanged: an ack that comes back changes nothing.
        let removed = self
            .store
            .run("replicate_ack", move |s| {
                s.remove_messages(&rid, &ids, &proof, Some(&from), ttl, now)
            })
            .await?;
        Ok(removed.len() as u64)
    }

    /// This relay's DM feed after `after` for a peer: at most `limit` items and about 1 MiB.
    pub async fn dm_feed_page(&self, after: u64, limit: u32) -> Result<PeerPullResponse, DmError> {
        if !(1..=MAX_PEER_PULL_LIMIT).contains(&limit) {
            return Err(DmError::BadRequest(format!(
                "limit must be 1..={MAX_PEER_PULL_LIMIT}"
            )));
        }
        let now = self.now();
        let (rows, more) = self
            .store
            .run("dm_peer_pull", move |s| {
                s.dm_feed_page(after, limit, MAX_PAGE_BYTES, now)
            })
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        let mut next_after = after;
        for row in rows {
            next_after = row.seq;
            let item = match row.kind.as_str() {
                "envelope" => serde_json::from_str::<ReplicateEnvelopeRequest>(&row.body)
                    .ok()
                    .map(|e| PeerPullItem {
                        seq: row.seq,
                        envelope: Some(e),
                        ack: None,
                    }),
                "ack" => serde_json::from_str::<ReplicateAckRequest>(&row.body)
                    .ok()
                    .map(|a| PeerPullItem {
                        seq: row.seq,
                        envelope: None,
                        ack: Some(a),
                    }),
                _ => None,
            };
            match item {
                Some(i) => items.push(i),
                None => tracing::error!(seq = row.seq, "unreadable DM feed row skipped"),
            }
        }
        Ok(PeerPullResponse {
            ok: true,
            items,
            next_after,
            more,
        })
    }
}

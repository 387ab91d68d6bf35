//! Signed tree heads on the relay: signing the settled prefix of the chain with the relay's
//! tree-head key (never two roots for one size), serving heads and consistency proofs, and
//! checking a peer's head against the pin kept for it (core's `HeadPin`), keeping evidence.
use std::collections::BTreeSet;

use postern_core::api::heads::{ConsistencyResponse, PeerForks, PeerHeadStatus, TreeHeadResponse};
use postern_core::canonical::NETWORK_ID;
use postern_core::head_pin::{EvidenceKind, HeadPin, PinError, PinOutcome};
use postern_core::rfc9162::Hash;
use postern_core::tree_head::{self, SignedTreeHead, TreeHeadError, TreeHeadKey, TreeHeadWire};
use rand_core::{OsRng, RngCore};

use super::Chain;
use crate::store::{PeerHeadRow, StoreError};

/// Name of the tree-head key in the store.
const TREE_HEAD_KEY: &str = "tree_head";
/// Default settling window: an event joins a signed head once it held its position this long.
pub const DEFAULT_SETTLE_SECS: u64 = 30;
/// Default interval between signing attempts.
pub const DEFAULT_TREE_HEAD_INTERVAL_SECS: u64 = 5;

/// Why a consistency proof was not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefusal {
    #[error("first {first} is greater than second {second}")]
    Order { first: u64, second: u64 },
    #[error("second {second} is beyond the newest signed size {signed}")]
    Unsigned { second: u64, signed: u64 },
    #[error("consistency proofs start at size 1")]
    Empty,
}

/// What checking a peer's head found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerHeadCheck {
    /// First head from this peer, pinned.
    Pinned,
    /// Same, extended or older: consistent with the pin.
    Consistent(PinOutcome),
    /// Misbehaviour, evidence kept.
    Misbehaviour(String),
    /// The head is invalid (bad signature, wrong network or relay key): not pinned.
    Invalid(String),
}

fn key(chain: &mut Chain, now: u64) -> Result<TreeHeadKey, StoreError> {
    if let Some(seed) = &chain.tree_head_seed {
        return Ok(TreeHeadKey::from_seed(seed));
    }
    if let Some(seed) = chain.store().relay_key_seed(TREE_HEAD_KEY)? {
        return Ok(TreeHeadKey::from_seed(&seed));
    }
    let mut fresh = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(fresh.as_mut());
    let seed = zeroize::Zeroizing::new(chain.store_mut().init_relay_key_seed(
        TREE_HEAD_KEY,
        &fresh,
        now,
    )?);
    Ok(TreeHeadKey::from_seed(&seed))
}

fn parse(json: &str) -> Result<SignedTreeHead, String> {
    let wire: TreeHeadWire = serde_json::from_str(json).map_err(|e| e.to_string())?;
    SignedTreeHead::from_wire(&wire).map_err(|e| e.to_string())
}

/// Read the 32-byte tree-head key seed at `path`, or create the file (mode 0600) with a fresh
/// one when it does not exist.
pub fn load_or_create_key_file(
    path: &std::path::Path,
) -> Result<zeroize::Zeroizing<[u8; 32]>, String> {
    use std::io::Write;
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = zeroize::Zeroizing::new(bytes);
            let seed = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                format!("tree-head key file {shown} does not hold exactly 32 bytes")
            })?;
            Ok(zeroize::Zeroizing::new(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(seed.as_mut());
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(path)
                .map_err(|e| format!("cannot create tree-head key file {shown}: {e}"))?;
            f.write_all(seed.as_ref())
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("cannot write tree-head key file {shown}: {e}"))?;
            Ok(seed)
        }
        Err(e) => Err(format!("cannot read tree-head key file {shown}: {e}")),
    }
}

impl Chain {
    /// Use this seed as the tree-head key instead of the one in the store
    /// (`--tree-head-key-file`).
    pub fn set_tree_head_seed(&mut self, seed: zeroize::Zeroizing<[u8; 32]>) {
        self.tree_head_seed = Some(seed);
    }

    /// The relay's tree-head public key (made on first use).
    pub fn tree_head_key(&mut self, now: u64) -> Result<[u8; 32], StoreError> {
        Ok(key(self, now)?.public())
    }

    /// The newest signed head.
    pub fn latest_tree_head(&self) -> Result<Option<SignedTreeHead>, StoreError> {
        match self.store().own_head_latest()? {
            None => Ok(None),
            Some((_, json)) => parse(&json).map(Some).map_err(StoreError::Corrupt),
        }
    }

    /// `GET tree-head`.
    pub fn tree_head_response(&self) -> Result<TreeHeadResponse, StoreError> {
        Ok(TreeHeadResponse {
            tree_head: self.latest_tree_head()?.map(|h| h.to_wire()),
            chain_size: self.event_ids().len() as u64,
        })
    }

    /// Sign a head over the settled prefix (events stored at or before `now - settle_secs`) if
    /// it grew since the last signed head. Refuses (error, nothing signed) if the chain no
    /// longer extends the last signed head: signed history is never rewritten.
    pub fn sign_settled(
        &mut self,
        settle_secs: u64,
        now: u64,
        now_ms: u64,
    ) -> Result<Option<SignedTreeHead>, StoreError> {
        let settled = self
            .store()
            .chain_settled_size(now.saturating_sub(settle_secs))?
            .min(self.event_ids().len() as u64);
        let last = self.latest_tree_head()?;
        if let Some(last) = &last {
            if settled <= last.head.size {
                return Ok(None);
            }
            if let Err(e) = tree_head::check_against_ids(last, self.event_ids()) {
                return Err(StoreError::Corrupt(format!(
                    "the chain no longer extends the signed head of size {}: {e}",
                    last.head.size
                )));
            }
        } else if settled == 0 {
            return Ok(None);
        }
        let key = key(self, now)?;
        let ids = self
            .event_ids()
            .get(..usize::try_from(settled).unwrap_or(usize::MAX))
            .unwrap_or_default();
        let time = last.map_or(now_ms, |l| now_ms.max(l.head.timestamp_ms));
        let sth = key.sign(NETWORK_ID, ids, time);
        let json = serde_json::to_string(&sth.to_wire())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.store_mut().own_head_insert(settled, &json, now)?;
        Ok(Some(sth))
    }

    /// The consistency proof between two sizes, the larger at most the newest signed size.
    pub fn consistency_proof(
        &self,
        first: u64,
        second: u64,
    ) -> Result<Result<ConsistencyResponse, ProofRefusal>, StoreError> {
        let signed = self.latest_tree_head()?.map_or(0, |h| h.head.size);
        if first > second {
            return Ok(Err(ProofRefusal::Order { first, second }));
        }
        if second > signed {
            return Ok(Err(ProofRefusal::Unsigned { second, signed }));
        }
        if first == 0 && second > 0 {
            return Ok(Err(ProofRefusal::Empty));
        }
        let ids = self
            .event_ids()
            .get(..usize::try_from(second).unwrap_or(usize::MAX))
            .unwrap_or_default();
        let proof = tree_head::consistency(ids, first)
            .map_err(|e| StoreError::Corrupt(format!("consistency proof: {e}")))?;
        Ok(Ok(ConsistencyResponse {
            first,
            second,
            proof: proof.iter().map(hex::encode).collect(),
        }))
    }

    /// The pin kept for `peer`: its head and the pin state.
    pub fn peer_pin(&self, peer: &str) -> Result<Option<SignedTreeHead>, StoreError> {
        match self.store().peer_head(peer)? {
            None => Ok(None),
            Some(row) => parse(&row.head_json).map(Some).map_err(StoreError::Corrupt),
        }
    }

    /// Check `new` (a head `peer` served) against the pin kept for it, with the peer's
    /// consistency `proof` between the pinned size and the new one; pin, or keep evidence.
    pub fn check_peer_head(
        &mut self,
        peer: &str,
        new: SignedTreeHead,
        proof: &[Hash],
        now: u64,
    ) -> Result<PeerHeadCheck, StoreError> {
        let row = |head: &SignedTreeHead, consistent: bool, last_error: String| PeerHeadRow {
            head_json: serde_json::to_string(&head.to_wire()).unwrap_or_default(),
            checked_at: now,
            consistent,
            last_error,
        };
        let Some(pinned) = self.peer_pin(peer)? else {
            if let Err(e) = HeadPin::first(new.clone(), NETWORK_ID) {
                return Ok(PeerHeadCheck::Invalid(e.to_string()));
            }
            self.store_mut()
                .set_peer_head(peer, &row(&new, true, String::new()))?;
            return Ok(PeerHeadCheck::Pinned);
        };
        let mut pin = HeadPin::first(pinned.clone(), NETWORK_ID)
            .map_err(|e| StoreError::Corrupt(format!("pinned head of {peer}: {e}")))?;
        match pin.check(new, proof) {
            Ok(outcome) => {
                self.store_mut()
                    .set_peer_head(peer, &row(pin.head(), true, String::new()))?;
                Ok(PeerHeadCheck::Consistent(outcome))
            }
            Err(PinError::Misbehaviour(evidence)) => {
                let kind = kind_name(evidence.kind);
                let json = serde_json::to_string(&*evidence).unwrap_or_default();
                let detail = format!("{kind}: the peer's new head conflicts with its pinned head");
                let store = self.store_mut();
                store.add_head_evidence(peer, &kind, &json, now)?;
                store.set_peer_head(peer, &row(&pinned, false, detail.clone()))?;
                Ok(PeerHeadCheck::Misbehaviour(detail))
            }
            Err(PinError::Invalid(e)) => Ok(PeerHeadCheck::Invalid(invalid(&e))),
        }
    }

    /// What this relay knows of `peer`'s heads, and the forks met with its events since start.
    pub fn peer_head_status(&self, peer: &str) -> Result<PeerHeadStatus, StoreError> {
        let row = self.store().peer_head(peer)?;
        let evidence = self
            .store()
            .head_evidence(peer)?
            .into_iter()
            .filter_map(|(kind, _)| serde_json::from_value(serde_json::Value::String(kind)).ok())
            .collect();
        let (forks, equivocations) = self.peer_counts_of(peer)?;
        let Some(row) = row else {
            return Ok(PeerHeadStatus {
                peer: peer.to_string(),
                evidence,
                forks,
                equivocations,
                ..Default::default()
            });
        };
        let head = parse(&row.head_json).map_err(StoreError::Corrupt)?;
        let matches = (head.head.size <= self.event_ids().len() as u64)
            .then(|| tree_head::check_against_ids(&head, self.event_ids()).is_ok());
        Ok(PeerHeadStatus {
            peer: peer.to_string(),
            last_head: Some(head.to_wire()),
            consistent: Some(row.consistent),
            checked_at: row.checked_at,
            matches_our_chain: matches,
            evidence,
            last_error: row.last_error,
            forks,
            equivocations,
        })
    }

    /// Every peer with a pinned head, evidence, or a fork met with its events since start.
    fn known_peers(&self) -> Result<BTreeSet<String>, StoreError> {
        let mut peers: BTreeSet<String> = self.store().peers_with_heads()?.into_iter().collect();
        peers.extend(self.peer_fork_stats().keys().cloned());
        Ok(peers)
    }

    /// [`Chain::peer_head_status`] of every known peer, sorted by peer.
    pub fn peer_head_statuses(&self) -> Result<Vec<PeerHeadStatus>, StoreError> {
        self.known_peers()?
            .iter()
            .map(|p| self.peer_head_status(p))
            .collect()
    }

    /// The forks met with `peer`'s events since start and the equivocations kept against it.
    fn peer_counts_of(&self, peer: &str) -> Result<(PeerForks, u64), StoreError> {
        let equivocations = self
            .store()
            .head_evidence_count(peer, &kind_name(EvidenceKind::Equivocation))?;
        let forks = self
            .peer_fork_stats()
            .get(peer)
            .map(|f| PeerForks {
                adopted: f.adopted,
                kept: f.kept,
                split: f.splits,
                rebased: f.relinked,
                dropped: f.dropped,
            })
            .unwrap_or_default();
        Ok((forks, equivocations))
    }

    /// Per known peer (sorted): the forks met with its events since start and the
    /// equivocations kept against it (`/metrics`; cheaper than the full status).
    pub fn peer_counts(&self) -> Result<Vec<(String, PeerForks, u64)>, StoreError> {
        self.known_peers()?
            .into_iter()
            .map(|p| {
                let (f, e) = self.peer_counts_of(&p)?;
                Ok((p, f, e))
            })
            .collect()
    }
}

/// The stored name of an evidence kind (its serde name, as `check_peer_head` stores it).
fn kind_name(kind: EvidenceKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Sign a new head over the settled chain every `interval` (a schedule, not a wait for a
/// condition); a refusal to sign (the chain no longer extends the signed head) is logged.
pub async fn run_signer(svc: super::Services, settle_secs: u64, interval: std::time::Duration) {
    loop {
        let now = svc.now();
        let signed = svc
            .chain()
            .run("sign_tree_head", move |c| {
                c.sign_settled(settle_secs, now, now.saturating_mul(1000))
            })
            .await;
        if let Ok(Some(sth)) = signed {
            tracing::debug!(size = sth.head.size, "signed a tree head");
        }
        tokio::time::sleep(interval).await;
    }
}

fn invalid(e: &TreeHeadError) -> String {
    format!("invalid tree head: {e}")
}

//! The relay's Infonet chain: two hash-linked lanes, each starting at genesis.
//!
//! * the **public** lane holds every type `postern-core` allows on the public ledger; it is what
//!   the sync endpoints serve and it verifies on its own with `postern verify-chain`;
//! * the **private** lane holds the ciphertext-only types core classifies as private
//!   (`schema::LEGACY_PUBLIC_LEDGER_EVENT_TYPES`: `gate_message`, `dm_message`) on its own
//!   prev_hash chain, stored in its own table and never served by the public endpoints.
//!
//! Every rule is `postern-core`'s: an append is checked with `schema::validate_for_append`,
//! `verify::verify_key_rotation_claim` (for `key_rotate`) and `ChainState::ingest` against the
//! lane's state; this module only decides the lane, fills what the relay owns (`prev_hash`,
//! `timestamp`, `event_id`) and stores the result, in its one canonical byte form
//! (`ChainEvent::canonical`; a pushed copy with altered unsigned fields is stored as the
//! canonical form, one without any is refused `non_canonical_event`). On startup each lane is replayed through
//! `ChainState::ingest` (at the clock it was appended with, no freshness window), so a database
//! that no longer verifies refuses to load instead of being served.
use postern_core::api::infonet::{codes as icodes, AppendRequest};
use postern_core::canonical::GENESIS_HASH;
use postern_core::event::{ChainEvent, NonCanonical};
use postern_core::json::{self, Value};
use postern_core::merkle;
use postern_core::schema::{self, SchemaError};
use postern_core::verify::{
    build_locator, match_locator, verify_key_rotation_claim, ChainState, EventRejection,
    FailReason, LocatorMatch, VerifyOptions, DEFAULT_MAX_EVENT_AGE_S,
};

use crate::store::{Lane, NewChainEvent, Store, StoreError};

/// How many of a node's newest events are compared when an append looks like a retry.
const RETRY_LOOKBACK: u64 = 16;

/// The lane an event type belongs to, as core classifies it.
pub fn lane_of(event_type: &str) -> Lane {
    if schema::LEGACY_PUBLIC_LEDGER_EVENT_TYPES.contains(&event_type) {
        Lane::Private
    } else {
        Lane::Public
    }
}

/// The class of a refusal (`http::error` answers each with its HTTP status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The event breaks a rule (422).
    Invalid,
    /// Sequence replay, duplicate id, or a fork (409).
    Conflict,
    /// Payload over the cap (413).
    TooLarge,
    /// Revoked key (403).
    Forbidden,
    /// DM spool full (429).
    SpoolFull,
}

/// Why an event was refused: its class and a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub code: &'static str,
    pub detail: String,
}

impl Refusal {
    fn from_rejection(r: EventRejection) -> Self {
        use FailReason::*;
        let kind = match r.reason {
            SequenceReplay | DuplicateEventId | PrevHashMismatch => RefusalKind::Conflict,
            PayloadTooLarge => RefusalKind::TooLarge,
            KeyRevoked => RefusalKind::Forbidden,
            DmSpoolFull => RefusalKind::SpoolFull,
            _ => RefusalKind::Invalid,
        };
        Refusal {
            kind,
            code: r.reason.as_str(),
            detail: r.detail,
        }
    }

    /// An event without a canonical form (`ChainEvent::canonical`): `non_canonical_event`,
    /// except a wrong protocol version, which keeps the verifier's code.
    fn from_non_canonical(e: NonCanonical) -> Self {
        let code = match e {
            NonCanonical::ProtocolVersion => icodes::UNSUPPORTED_PROTOCOL,
            _ => e.code(),
        };
        Refusal {
            kind: RefusalKind::Invalid,
            code,
            detail: e.to_string(),
        }
    }

    fn from_schema(e: SchemaError) -> Self {
        let (kind, code) = match e {
            SchemaError::PayloadTooLarge => (RefusalKind::TooLarge, icodes::PAYLOAD_TOO_LARGE),
            SchemaError::UnknownEventType => (
                RefusalKind::Invalid,
                FailReason::UnsupportedEventType.as_str(),
            ),
            SchemaError::ProtocolVersion => (RefusalKind::Invalid, icodes::UNSUPPORTED_PROTOCOL),
            SchemaError::NetworkId => (RefusalKind::Invalid, icodes::NETWORK_MISMATCH),
            _ => (RefusalKind::Invalid, icodes::INVALID_PAYLOAD),
        };
        Refusal {
            kind,
            code,
            detail: e.to_string(),
        }
    }
}

/// Result of a peer push.
#[derive(Debug, Clone)]
pub enum PushOutcome {
    Done {
        accepted: u64,
        duplicates: u64,
        head_hash: String,
    },
    Refused(PushRefusal),
}

/// The first refused event of a peer push and what was stored before it.
#[derive(Debug, Clone)]
pub struct PushRefusal {
    pub index: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub refusal: Refusal,
}

/// A stored (or already stored) event.
#[derive(Debug, Clone)]
pub struct Appended {
    pub lane: Lane,
    pub index: u64,
    pub event: ChainEvent,
    /// The same signed event was already on the lane (a client retry).
    pub duplicate: bool,
}

struct LaneState {
    state: ChainState,
    /// Merkle root for the first `.0` events.
    merkle: Option<(usize, String)>,
}

impl LaneState {
    fn load(store: &Store, lane: Lane) -> Result<LaneState, StoreError> {
        let mut state = ChainState::new();
        store.chain_for_each(lane, |idx, text, received_at| {
            let corrupt = |why: String| {
                StoreError::Corrupt(format!("{} lane event {idx}: {why}", lane.as_str()))
            };
            if idx != state.len() as u64 {
                return Err(corrupt("gap in stored positions".into()));
            }
            let v = json::parse(text.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
            let evt = ChainEvent::from_value(&v).map_err(|e| corrupt(e.to_string()))?;
            // Same clock as when it was accepted; history is not subject to freshness.
            let opts = VerifyOptions {
                now: received_at,
                max_event_age_s: 0,
                batch: false,
            };
            state
                .ingest(&evt, &opts)
                .map_err(|r| corrupt(format!("{} ({})", r.reason, r.detail)))
        })?;
        Ok(LaneState {
            state,
            merkle: None,
        })
    }
}

/// Both lanes and their storage (a connection of its own).
pub struct Chain {
    store: Store,
    public: LaneState,
    private: LaneState,
}

/// Where a `GET sync` page starts.
pub enum After {
    Found(Vec<String>),
    Unknown,
}

impl Chain {
    /// Load and re-verify both lanes from `store`.
    pub fn open(store: Store) -> Result<Chain, StoreError> {
        let public = LaneState::load(&store, Lane::Public)?;
        let private = LaneState::load(&store, Lane::Private)?;
        Ok(Chain {
            store,
            public,
            private,
        })
    }

    fn lane(&self, lane: Lane) -> &LaneState {
        match lane {
            Lane::Public => &self.public,
            Lane::Private => &self.private,
        }
    }

    fn lane_mut(&mut self, lane: Lane) -> &mut LaneState {
        match lane {
            Lane::Public => &mut self.public,
            Lane::Private => &mut self.private,
        }
    }

    /// Head and event count of a lane.
    pub fn head(&self, lane: Lane) -> (String, u64) {
        let l = self.lane(lane);
        (l.state.head().to_string(), l.state.len() as u64)
    }

    /// Queue accepted appends for the outbound peers (see [`Store::set_outbox`]).
    pub fn set_outbox(&mut self, outbox: crate::store::Outbox) {
        self.store.set_outbox(outbox);
    }

    /// The store connection of the chain (read-only lookups, metrics).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Merkle root of the public lane (cached per length).
    pub fn merkle_root(&mut self) -> String {
        let l = &mut self.public;
        let n = l.state.len();
        match &l.merkle {
            Some((len, root)) if *len == n => root.clone(),
            _ => {
                let root = merkle::merkle_root(l.state.event_ids());
                l.merkle = Some((n, root.clone()));
                root
            }
        }
    }

    /// Locator of the public lane.
    pub fn locator(&self, max_entries: usize) -> Vec<String> {
        build_locator(self.public.state.event_ids(), max_entries)
    }

    /// Public events after `after_hash` (genesis when `None`), at most `limit`.
    pub fn events_after(&self, after_hash: &str, limit: usize) -> Result<After, StoreError> {
        let start = if after_hash == GENESIS_HASH {
            0
        } else {
            match self.store.chain_index_of(Lane::Public, after_hash)? {
                Some(i) => i + 1,
                None => return Ok(After::Unknown),
            }
        };
        Ok(After::Found(self.store.chain_range(
            Lane::Public,
            start,
            limit as u64,
        )?))
    }

    /// Match a peer locator against the public lane and return the events after the match.
    pub fn events_for_locator(
        &self,
        locator: &[String],
        limit: usize,
    ) -> Result<(LocatorMatch, Vec<String>), StoreError> {
        let m = match_locator(self.public.state.event_ids(), locator);
        let events = self
            .store
            .chain_range(Lane::Public, m.start_index as u64, limit as u64)?;
        Ok((m, events))
    }

    /// Merkle inclusion proofs for public events `start..start+n`.
    pub fn proofs(
        &self,
        start: usize,
        n: usize,
    ) -> (String, Vec<(usize, String, Vec<merkle::ProofStep>)>) {
        let ids = self.public.state.event_ids();
        let levels = merkle::build_levels(ids);
        let root = levels
            .last()
            .and_then(|l| l.first().cloned())
            .unwrap_or_else(|| GENESIS_HASH.to_string());
        let mut out = Vec::new();
        for i in start..(start + n).min(ids.len()) {
            if let (Ok(p), Some(id)) = (merkle::proof_from_levels(&levels, i), ids.get(i)) {
                out.push((i, id.clone(), p));
            }
        }
        (root, out)
    }

    /// Verify and store a client-signed event at the head of its lane.
    ///
    /// `Ok(Err(_))` is a refusal (nothing stored); `Err(_)` a storage failure (nothing stored,
    /// the in-memory lane is reloaded from the database).
    pub fn append(
        &mut self,
        input: AppendRequest,
        now: u64,
    ) -> Result<Result<Appended, Refusal>, StoreError> {
        let lane = lane_of(&input.event_type);
        if let Err(e) =
            schema::validate_for_append(&input.event_type, &input.payload, lane == Lane::Private)
        {
            return Ok(Err(Refusal::from_schema(e)));
        }
        if input.event_type == "key_rotate" {
            if let Err(r) = verify_key_rotation_claim(&input.payload) {
                return Ok(Err(Refusal::from_rejection(r)));
            }
        }
        // Revocations live on the public lane; they bind the private lane too.
        if lane == Lane::Private && self.public.state.is_revoked(&input.public_key, now) {
            return Ok(Err(Refusal::from_rejection(EventRejection {
                reason: FailReason::KeyRevoked,
                detail: "public key is revoked".into(),
            })));
        }
        let l = self.lane_mut(lane);
        let evt = ChainEvent {
            event_id: String::new(),
            prev_hash: l.state.head().to_string(),
            event_type: input.event_type,
            node_id: input.node_id,
            payload: input.payload,
            timestamp: Value::Float(now as f64),
            sequence: Value::from(input.sequence),
            signature: input.signature,
            network_id: input.network_id,
            public_key: input.public_key,
            public_key_algo: input.public_key_algo,
            protocol_version: input.protocol_version,
        };
        let mut evt = match evt.canonical() {
            Ok(e) => e,
            Err(e) => return Ok(Err(Refusal::from_non_canonical(e))),
        };
        evt.event_id = evt.computed_event_id();
        let opts = VerifyOptions {
            now,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
            batch: false,
        };
        if let Err(r) = l.state.ingest(&evt, &opts) {
            if r.reason == FailReason::SequenceReplay {
                if let Some(prev) = self.find_retry(lane, &evt)? {
                    return Ok(Ok(prev));
                }
            }
            return Ok(Err(Refusal::from_rejection(r)));
        }
        let index = self.persist_ingested(lane, &evt, now, true)?;
        Ok(Ok(Appended {
            lane,
            index,
            event: evt,
            duplicate: false,
        }))
    }

    /// Ingest events pushed by an authenticated peer, in order, each into its lane with core
    /// verification and NO freshness window (history of any age is accepted). Events already
    /// stored are skipped; the first invalid event stops the push (the events before it stay
    /// stored). An event that extends neither the lane head nor an event we hold is a fork:
    /// refused with 409 `forked`, never merged.
    pub fn peer_push(&mut self, events: &[Value], now: u64) -> Result<PushOutcome, StoreError> {
        let (mut accepted, mut duplicates) = (0u64, 0u64);
        for (i, v) in events.iter().enumerate() {
            let refuse = |kind: RefusalKind, code: &'static str, detail: String| PushRefusal {
                index: i as u64,
                accepted,
                duplicates,
                refusal: Refusal { kind, code, detail },
            };
            let evt = match ChainEvent::from_value(v) {
                Ok(e) => e,
                Err(e) => {
                    return Ok(PushOutcome::Refused(refuse(
                        RefusalKind::Invalid,
                        icodes::INVALID_PAYLOAD,
                        format!("event {i} is not a chain event: {e}"),
                    )))
                }
            };
            // One byte form per event id: a copy with altered unsigned fields is stored (and
            // served) in the canonical form; one that has none is refused.
            let evt = match evt.canonical() {
                Ok(e) => e,
                Err(e) => {
                    let r = Refusal::from_non_canonical(e);
                    return Ok(PushOutcome::Refused(refuse(
                        r.kind,
                        r.code,
                        format!("event {i}: {}", r.detail),
                    )));
                }
            };
            let lane = lane_of(&evt.event_type);
            if evt.event_id == evt.computed_event_id()
                && self.store.chain_index_of(lane, &evt.event_id)?.is_some()
            {
                duplicates += 1;
                continue;
            }
            let head = self.lane(lane).state.head().to_string();
            if evt.prev_hash != head {
                let known = self.store.chain_index_of(lane, &evt.prev_hash)?.is_some();
                let why = if known {
                    "extends an event behind this relay's head"
                } else {
                    "extends an event this relay does not hold"
                };
                return Ok(PushOutcome::Refused(refuse(
                    RefusalKind::Conflict,
                    postern_core::api::peer::codes::FORKED,
                    format!(
                        "event {i} ({} lane) {why}; forks are never merged",
                        lane.as_str()
                    ),
                )));
            }
            if evt.event_type == "key_rotate" {
                if let Err(r) = verify_key_rotation_claim(&evt.payload) {
                    let r = Refusal::from_rejection(r);
                    return Ok(PushOutcome::Refused(refuse(
                        r.kind,
                        r.code,
                        format!("event {i}: {}", r.detail),
                    )));
                }
            }
            if lane == Lane::Private && self.public.state.is_revoked(&evt.public_key, now) {
                return Ok(PushOutcome::Refused(refuse(
                    RefusalKind::Forbidden,
                    FailReason::KeyRevoked.as_str(),
                    format!("event {i}: public key is revoked"),
                )));
            }
            let opts = VerifyOptions {
                now,
                max_event_age_s: 0,
                batch: false,
            };
            if let Err(r) = self.lane_mut(lane).state.ingest(&evt, &opts) {
                let r = Refusal::from_rejection(r);
                return Ok(PushOutcome::Refused(refuse(
                    r.kind,
                    r.code,
                    format!("event {i}: {}", r.detail),
                )));
            }
            self.persist_ingested(lane, &evt, now, false)?;
            accepted += 1;
        }
        Ok(PushOutcome::Done {
            accepted,
            duplicates,
            head_hash: self.head(Lane::Public).0,
        })
    }

    /// Store an event the lane's in-memory state has just ingested (one fsynced transaction) and
    /// return its index. If the write fails, the in-memory state is rebuilt from what is stored,
    /// so memory never runs ahead of disk.
    fn persist_ingested(
        &mut self,
        lane: Lane,
        evt: &ChainEvent,
        now: u64,
        replicate: bool,
    ) -> Result<u64, StoreError> {
        let index = self.lane(lane).state.len() as u64 - 1;
        let text = evt.to_value().to_json_ordered();
        let stored = self.store.chain_append(
            lane,
            NewChainEvent {
                idx: index,
                event_id: &evt.event_id,
                prev_hash: &evt.prev_hash,
                event_type: &evt.event_type,
                node_id: &evt.node_id,
                json: &text,
            },
            GENESIS_HASH,
            now,
            replicate,
        );
        if let Err(e) = stored {
            match LaneState::load(&self.store, lane) {
                Ok(fresh) => *self.lane_mut(lane) = fresh,
                Err(reload) => {
                    tracing::error!(lane = lane.as_str(), error = %reload, "reloading lane failed")
                }
            }
            return Err(e);
        }
        Ok(index)
    }

    /// A retried append: the same signed event (type, node, sequence, signature, payload) is
    /// already one of the node's newest events on the lane.
    fn find_retry(&self, lane: Lane, evt: &ChainEvent) -> Result<Option<Appended>, StoreError> {
        for text in self
            .store
            .chain_recent_by_node(lane, &evt.node_id, RETRY_LOOKBACK)?
        {
            let Ok(v) = json::parse(text.as_bytes()) else {
                continue;
            };
            let Ok(old) = ChainEvent::from_value(&v) else {
                continue;
            };
            if old.event_type == evt.event_type
                && old.sequence_int() == evt.sequence_int()
                && old.signature == evt.signature
                && old.public_key == evt.public_key
                && old.network_id == evt.network_id
                && old.payload.to_canonical() == evt.payload.to_canonical()
            {
                let index = self.store.chain_index_of(lane, &old.event_id)?.unwrap_or(0);
                return Ok(Some(Appended {
                    lane,
                    index,
                    event: old,
                    duplicate: true,
                }));
            }
        }
        Ok(None)
    }
}

/// Parse stored event texts back into exact JSON values for a response.
pub fn parse_stored(texts: &[String]) -> Result<Vec<Value>, StoreError> {
    texts
        .iter()
        .map(|t| {
            json::parse(t.as_bytes()).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use postern_core::chaingen::{author_key, sample_payload};
    use postern_core::event::sign_event;
    use postern_core::verify::verify_chain;

    fn input(key_no: usize, et: &str, i: u64, seq: u64) -> AppendRequest {
        let k = author_key(key_no);
        let e = sign_event(&k, "", et, &sample_payload(et, i), Value::Null, seq);
        AppendRequest {
            event_type: e.event_type,
            node_id: e.node_id,
            payload: e.payload,
            signature: e.signature,
            sequence: seq,
            public_key: e.public_key,
            public_key_algo: e.public_key_algo,
            protocol_version: e.protocol_version,
            network_id: e.network_id,
        }
    }

    #[test]
    fn lanes_append_reload_and_retry() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_780_000_000;
        let mut c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        for i in 0..6u64 {
            let a = c
                .append(input(1, "message", i, i + 1), now + i)
                .unwrap()
                .unwrap();
            assert_eq!((a.lane, a.index, a.duplicate), (Lane::Public, i, false));
            let g = c
                .append(input(1, "gate_message", i, i + 1), now + i)
                .unwrap()
                .unwrap();
            assert_eq!((g.lane, g.index), (Lane::Private, i));
        }
        // A retry answers the stored event; a different event with an old sequence is refused.
        let again = c
            .append(input(1, "message", 5, 6), now + 10)
            .unwrap()
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.index, 5);
        let replay = c
            .append(input(1, "message", 9, 6), now + 10)
            .unwrap()
            .unwrap_err();
        assert_eq!(replay.code, "sequence_replay");
        let (head, count) = c.head(Lane::Public);
        assert_eq!(count, 6);
        let texts = c.store.chain_range(Lane::Public, 0, 100).unwrap();
        let events: Vec<ChainEvent> = parse_stored(&texts)
            .unwrap()
            .iter()
            .map(|v| ChainEvent::from_value(v).unwrap())
            .collect();
        let report = verify_chain(&events, &VerifyOptions::at(now + 10));
        assert!(report.valid, "{:?}", report.error);
        assert_eq!(report.head.as_deref(), Some(head.as_str()));
        assert_eq!(report.merkle_root.unwrap(), c.merkle_root());
        drop(c);
        let c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        assert_eq!(c.head(Lane::Public), (head, 6));
        assert_eq!(c.head(Lane::Private).1, 6);
    }
}

//! The relay's Infonet chain: **one** hash-linked chain from genesis on which the public types
//! and the private ledger types (`gate_message`, `dm_message`) are interleaved, exactly as a
//! Shadowbroker node stores it (same head, same Merkle root over all event ids).
//!
//! Every rule is `postern-core`'s: an append is normalised and checked with
//! `append::normalize_for_append` (the reference's order: normalise, validate, then the
//! signature is verified over the normalised payload by `ChainState::ingest`),
//! `verify::verify_key_rotation_claim` (for `key_rotate`) and `ChainState::ingest`; this module
//! fills what the relay owns (`prev_hash`, `timestamp`, `event_id`) and stores the result in its
//! one canonical byte form (`ChainEvent::canonical`: a pushed copy with altered unsigned fields
//! is stored as the canonical form, one without any is refused `non_canonical_event`).
//! Readers get the chain in full ([`View::Full`], authenticated peer relays) or as core's public
//! view ([`View::Public`]: private events as link-only redaction stubs,
//! `postern_core::public_view`). On startup the state is restored from the stored checkpoint
//! and the events above it are replayed through `ChainState::ingest` (at the clock they were
//! appended with, no freshness window); without a checkpoint that passes its checks, every
//! event is (see `load`), so a database that no longer verifies refuses to load instead of
//! being served.
use std::collections::BTreeMap;

use postern_core::api::infonet::{codes as icodes, AppendRequest};
use postern_core::append::normalize_for_append;
use postern_core::canonical::GENESIS_HASH;
use postern_core::event::{ChainEvent, NonCanonical};
use postern_core::json::{self, Value};
use postern_core::merkle;
use postern_core::public_view::{is_private_type, redact_text};
use postern_core::schema::SchemaError;
use postern_core::verify::{
    build_locator, verify_key_rotation_claim, EventRejection, FailReason, LocatorMatch,
    VerifyOptions, DEFAULT_MAX_EVENT_AGE_S,
};
use postern_core::Statement;

use crate::store::{NewChainEvent, Store, StoreError};

mod checkpoint;
mod heal;
mod load;
mod push;
mod round;
pub use heal::Healed;
use load::{load, replay, Loaded};
pub use load::{StartupReport, DEFAULT_CHECKPOINT_EVERY};
pub use push::{prepare, prepare_on, Prepared};

/// How many of a node's newest events are compared when an append looks like a retry.
const RETRY_LOOKBACK: u64 = 16;

/// How a reader receives the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every event in full (authenticated peer relays).
    Full,
    /// Core's public view: private events as link-only redaction stubs.
    Public,
}

/// `"private"` for the private ledger types, `"public"` otherwise (metrics and logs).
pub fn class_of(event_type: &str) -> &'static str {
    if is_private_type(event_type) {
        "private"
    } else {
        "public"
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
    /// A `forked` refusal because the event extends one this relay does not hold (a gap, not
    /// a fork): that event's id.
    pub missing: Option<String>,
}

/// A stored (or already stored) event.
#[derive(Debug, Clone)]
pub struct Appended {
    pub index: u64,
    pub event: ChainEvent,
    /// The same signed event was already on the chain (a client retry).
    pub duplicate: bool,
}

/// Forks this relay met since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForkStats {
    /// Forks where the peer's branch won and we adopted it.
    pub adopted: u64,
    /// Forks where our branch won (the peer was told `forked`).
    pub kept: u64,
    /// Our events re-linked onto a winning branch.
    pub relinked: u64,
    /// Our events dropped because they no longer fit the winner (reported).
    pub dropped: u64,
    /// Forks below our signed tree head (splits): refused, never healed.
    pub splits: u64,
}

/// The chain and its storage (a connection of its own).
pub struct Chain {
    store: Store,
    loaded: Loaded,
    /// Merkle root for the first `.0` events.
    merkle: Option<(usize, String)>,
    /// Forks met since start (see `heal`).
    forks: ForkStats,
    /// The same, per peer whose events met the fork (its normalised URL), since start.
    peer_forks: BTreeMap<String, ForkStats>,
    /// Tree-head key seed from `--tree-head-key-file`, used instead of the one in the store.
    pub(super) tree_head_seed: Option<zeroize::Zeroizing<[u8; 32]>>,
    /// How the state was built at open (`load`).
    startup: StartupReport,
    /// Events appended between two checkpoints (`load`).
    checkpoint_every: u64,
    /// Height of the last checkpoint written or restored (0: none).
    checkpoint_height: u64,
}

/// Where a `GET sync` page starts.
pub enum After {
    Found(Vec<String>),
    Unknown,
}

impl Chain {
    /// Load and re-verify the chain from `store`: from its checkpoint and the events above it,
    /// or every event (see `load`; [`Chain::startup`] says which).
    pub fn open(store: Store) -> Result<Chain, StoreError> {
        let (loaded, startup) = replay(&store, u64::MAX)?;
        tracing::info!(
            events = loaded.state.len(),
            checkpoint = startup.checkpoint.unwrap_or(0),
            replayed = startup.replayed,
            "chain state loaded"
        );
        Ok(Chain {
            store,
            loaded,
            merkle: None,
            forks: ForkStats::default(),
            peer_forks: BTreeMap::new(),
            tree_head_seed: None,
            checkpoint_height: startup.checkpoint.unwrap_or(0),
            startup,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        })
    }

    /// Head and event count of the chain.
    pub fn head(&self) -> (String, u64) {
        let s = &self.loaded.state;
        (s.head().to_string(), s.len() as u64)
    }

    /// Private ledger events on the chain.
    pub fn private_count(&self) -> u64 {
        self.loaded.private
    }

    /// Queue accepted appends for the outbound peers (see [`Store::set_outbox`]).
    pub fn set_outbox(&mut self, outbox: crate::store::Outbox) {
        self.store.set_outbox(outbox);
    }

    /// The store connection of the chain (read-only lookups, metrics).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store connection of the chain, to write what belongs with it (signed heads).
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Every event id on the chain, in order.
    pub fn event_ids(&self) -> &[String] {
        self.loaded.state.event_ids()
    }

    /// Merkle root over every event id (cached per length).
    pub fn merkle_root(&mut self) -> String {
        let n = self.loaded.state.len();
        match &self.merkle {
            Some((len, root)) if *len == n => root.clone(),
            _ => {
                let root = merkle::merkle_root(self.loaded.state.event_ids());
                self.merkle = Some((n, root.clone()));
                root
            }
        }
    }

    /// Locator of the chain.
    pub fn locator(&self, max_entries: usize) -> Vec<String> {
        build_locator(self.loaded.state.event_ids(), max_entries)
    }

    /// Whether `event_id` is on the chain (genesis counts).
    pub fn holds(&self, event_id: &str) -> Result<bool, StoreError> {
        Ok(event_id == GENESIS_HASH || self.store.chain_index_of(event_id)?.is_some())
    }

    /// Stored texts as `view` serves them.
    fn render(texts: Vec<String>, view: View) -> Result<Vec<String>, StoreError> {
        match view {
            View::Full => Ok(texts),
            View::Public => texts
                .iter()
                .map(|t| {
                    redact_text(t).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
                })
                .collect(),
        }
    }

    /// Events after `after_hash` (genesis when `None`), at most `limit`, as `view` serves them.
    pub fn events_after(
        &self,
        after_hash: &str,
        limit: usize,
        view: View,
    ) -> Result<After, StoreError> {
        let start = if after_hash == GENESIS_HASH {
            0
        } else {
            match self.store.chain_index_of(after_hash)? {
                Some(i) => i + 1,
                None => return Ok(After::Unknown),
            }
        };
        let texts = self.store.chain_range(start, limit as u64)?;
        Ok(After::Found(Self::render(texts, view)?))
    }

    /// Match a peer locator against the chain and return the events after the match, as
    /// `view` serves them. A locator sharing nothing with the chain (not even genesis) gets no
    /// events, as Shadowbroker answers it (`forked`, no `matched_hash`).
    pub fn events_for_locator(
        &self,
        locator: &[String],
        limit: usize,
        view: View,
    ) -> Result<(LocatorMatch, Vec<String>), StoreError> {
        let m = self.loaded.state.match_locator(locator);
        if m.matched_hash.is_none() {
            return Ok((m, Vec::new()));
        }
        let texts = self.store.chain_range(m.start_index as u64, limit as u64)?;
        Ok((m, Self::render(texts, view)?))
    }

    /// Merkle inclusion proofs for events `start..start+n` (over every event id).
    pub fn proofs(
        &self,
        start: usize,
        n: usize,
    ) -> (String, Vec<(usize, String, Vec<merkle::ProofStep>)>) {
        let ids = self.loaded.state.event_ids();
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

    /// Verify and store a client-signed event at the head of the chain, in the reference's
    /// append order: normalise and validate the payload as sent (core's
    /// `normalize_for_append`), then verify everything, the signature over the normalised
    /// payload included (`ChainState::ingest`). The stored event carries the normalised payload.
    ///
    /// `timestamp` is the relay's clock with sub-second precision (like `time.time()`); `now`
    /// the same clock in whole seconds, for the checks.
    ///
    /// `Ok(Err(_))` is a refusal (nothing stored); `Err(_)` a storage failure (nothing stored,
    /// the in-memory chain is reloaded from the database).
    pub fn append(
        &mut self,
        input: AppendRequest,
        now: u64,
        timestamp: f64,
    ) -> Result<Result<Appended, Refusal>, StoreError> {
        let payload = match normalize_for_append(&input.event_type, &input.payload) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Refusal::from_schema(e))),
        };
        if input.event_type == "key_rotate" {
            if let Err(r) = verify_key_rotation_claim(&payload) {
                return Ok(Err(Refusal::from_rejection(r)));
            }
        }
        let evt = ChainEvent {
            event_id: String::new(),
            prev_hash: self.loaded.state.head().to_string(),
            event_type: input.event_type,
            node_id: input.node_id,
            payload,
            timestamp: Value::Float(timestamp),
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
        if let Err(r) = self.loaded.state.ingest(&evt, &opts) {
            if r.reason == FailReason::SequenceReplay {
                if let Some(prev) = self.find_retry(&evt)? {
                    return Ok(Ok(prev));
                }
            }
            return Ok(Err(Refusal::from_rejection(r)));
        }
        let index = self.persist_ingested(&evt, now, true)?;
        Ok(Ok(Appended {
            index,
            event: evt,
            duplicate: false,
        }))
    }

    /// Store an event the in-memory state has just ingested (one fsynced transaction) and
    /// return its index. If the write fails, the in-memory state is rebuilt from what is
    /// stored, so memory never runs ahead of disk.
    fn persist_ingested(
        &mut self,
        evt: &ChainEvent,
        now: u64,
        replicate: bool,
    ) -> Result<u64, StoreError> {
        let index = (self.loaded.state.len() as u64).saturating_sub(1);
        let text = evt.to_value().to_json_ordered();
        let stored = self.store.chain_append(
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
            match load(&self.store) {
                Ok(fresh) => self.loaded = fresh,
                Err(reload) => tracing::error!(error = %reload, "reloading the chain failed"),
            }
            return Err(e);
        }
        self.loaded.stored(&evt.event_type, &text);
        self.maybe_checkpoint(now);
        Ok(index)
    }

    /// A retried append: the same signed event (type, node, sequence, signature, payload) is
    /// already one of the node's newest events on the chain.
    fn find_retry(&self, evt: &ChainEvent) -> Result<Option<Appended>, StoreError> {
        for text in self
            .store
            .chain_recent_by_node(&evt.node_id, RETRY_LOOKBACK)?
        {
            let Ok(v) = json::parse(text.as_bytes()) else {
                continue;
            };
            let Ok(old) = ChainEvent::from_value(&v) else {
                continue;
            };
            // The same statement (core's key: node, type, sequence, signature), whatever head
            // it was linked onto, plus what else the signature covers.
            if Statement::of(&old) == Statement::of(evt)
                && old.public_key == evt.public_key
                && old.network_id == evt.network_id
                && old.payload.to_canonical() == evt.payload.to_canonical()
            {
                let index = self.store.chain_index_of(&old.event_id)?.unwrap_or(0);
                return Ok(Some(Appended {
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
    use postern_core::public_view::{is_stub, leaks_private_material, verify_public_view};
    use postern_core::verify::verify_chain;

    fn input(key_no: usize, et: &str, i: u64, seq: u64) -> AppendRequest {
        let k = author_key(key_no);
        let e = sign_event(&k, "", et, &sample_payload(et, i), Value::Null, seq);
        AppendRequest::for_signed(e, seq)
    }

    #[test]
    fn a_channel_post_built_by_core_appends_once_and_its_retry_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_780_000_000;
        let mut c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        let me = postern_core::Identity::from_secrets(&[7; 32], &[8; 32]);
        let req = postern_core::build_post(&me, "LongFast", "hello", 1_780_000_000_123).unwrap();
        let first = c.append(req.clone(), now, now as f64).unwrap().unwrap();
        assert!(!first.duplicate);
        let again = c
            .append(req.clone(), now + 5, now as f64 + 5.0)
            .unwrap()
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.event.event_id, first.event.event_id);
        assert_eq!(
            Statement::of(&again.event),
            postern_core::request_statement(&req)
        );
        assert_eq!(c.head().1, 1, "the retry added nothing");
    }

    #[test]
    fn one_chain_append_reload_retry_and_public_view() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_780_000_000;
        let mut c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        for i in 0..6u64 {
            let a = c
                .append(input(1, "message", i, i + 1), now + i, now as f64 + 0.25)
                .unwrap()
                .unwrap();
            assert_eq!((a.index, a.duplicate), (2 * i, false));
            assert_eq!(a.event.timestamp, Value::Float(now as f64 + 0.25));
            // Gate messages share the chain, in their own sequence domain.
            let g = c
                .append(
                    input(1, "gate_message", i, i + 1),
                    now + i,
                    now as f64 + 0.25,
                )
                .unwrap()
                .unwrap();
            assert_eq!(g.index, 2 * i + 1);
            assert_eq!(g.event.prev_hash, a.event.event_id);
        }
        // A retry answers the stored event; a different event with an old sequence is refused.
        let again = c
            .append(input(1, "message", 5, 6), now + 10, now as f64 + 0.25)
            .unwrap()
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.index, 10);
        let replay = c
            .append(input(1, "message", 9, 6), now + 10, now as f64 + 0.25)
            .unwrap()
            .unwrap_err();
        assert_eq!(replay.code, "sequence_replay");
        let (head, count) = c.head();
        assert_eq!((count, c.private_count()), (12, 6));
        let texts = c.store.chain_range(0, 100).unwrap();
        let events: Vec<ChainEvent> = parse_stored(&texts)
            .unwrap()
            .iter()
            .map(|v| ChainEvent::from_value(v).unwrap())
            .collect();
        let report = verify_chain(&events, &VerifyOptions::at(now + 10));
        assert!(report.valid, "{:?}", report.error);
        assert_eq!(report.head.as_deref(), Some(head.as_str()));
        assert_eq!(report.merkle_root.unwrap(), c.merkle_root());
        // The public view: same ids, stubs for the gate messages; it verifies link-only.
        let After::Found(public) = c.events_after(GENESIS_HASH, 100, View::Public).unwrap() else {
            panic!("genesis is always known")
        };
        let values = parse_stored(&public).unwrap();
        assert_eq!(values.iter().filter(|v| is_stub(v)).count(), 6);
        assert!(!values.iter().any(leaks_private_material));
        let r = verify_public_view(&values, &VerifyOptions::at(now + 10));
        assert!(r.report.valid, "{:?}", r.report.error);
        assert_eq!(r.report.head.as_deref(), Some(head.as_str()));
        assert_eq!(r.report.merkle_root.unwrap(), c.merkle_root());
        let After::Found(full) = c.events_after(GENESIS_HASH, 100, View::Full).unwrap() else {
            panic!("genesis is always known")
        };
        assert_eq!(full, texts);
        drop(c);
        let c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        assert_eq!(c.head(), (head, 12));
        assert_eq!(c.private_count(), 6);
    }

    #[test]
    fn append_normalises_before_validating_and_signs_the_normalised_payload() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
        // Sign the normalised payload; send it un-normalised (a numeric text with `_`).
        let k = author_key(3);
        let mut signed_payload = sample_payload("prediction", 0);
        signed_payload.insert("stake_amount", Value::Float(1000.0));
        let e = sign_event(&k, "", "prediction", &signed_payload, Value::Null, 1);
        let mut sent = signed_payload.clone();
        sent.insert("stake_amount", Value::from("1_000"));
        let req = AppendRequest {
            payload: sent,
            ..AppendRequest::for_signed(e, 1)
        };
        let a = c.append(req, 1_780_000_000, 1_780_000_000.0).unwrap();
        let a = a.unwrap_or_else(|r| panic!("{r:?}"));
        assert_eq!(
            a.event
                .payload
                .get("stake_amount")
                .and_then(|v| v.py_float()),
            Some(1000.0)
        );
    }
}

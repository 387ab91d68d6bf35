//! [`ChainState`]: incremental ingest of one event at a time, in the reference's check order.

use std::collections::HashMap;

mod id_index;
mod link_only;
mod snapshot;
mod view_batch;

use id_index::IdIndex;

pub use snapshot::{
    snapshot_header, ListDigest, SnapshotError, SnapshotHeader, SNAPSHOT_MAGIC, SNAPSHOT_VERSION,
};
pub use view_batch::{view_crypto_failure, ViewEntry};

use super::outcome::{
    EventRejection, FailReason, VerifyOptions, BATCH_SIZE, DM_SPOOL_LIMIT, DM_SPOOL_SENDER_LIMIT,
    DM_SPOOL_TTL_S, SEQUENCE_DOMAIN_DM, SEQUENCE_DOMAIN_GATE,
};
use ed25519_dalek::VerifyingKey as EdKey;

use crate::canonical::{
    gate_signature_payload_variants, signature_string_with_network, verify_node_binding,
    GENESIS_HASH, NETWORK_ID, PROTOCOL_VERSION,
};
use crate::event::ChainEvent;
use crate::json::{py_lower, py_strip, BigInt, Value};
use crate::schema::{
    self, ACTIVE_PUBLIC_LEDGER_EVENT_TYPES, LEGACY_PUBLIC_LEDGER_EVENT_TYPES, MAX_PAYLOAD_BYTES,
};
use crate::signature::{
    decode_public_key, ed25519_key_batch_safe, parse_public_key_algo, py_fromhex, verify_signature,
    PublicKey, PublicKeyAlgo,
};
use crate::strict_batch::verify_batch_strict;

/// Decoded keys (and whether an Ed25519 key may be batch-verified), by base64 text and algo:
/// each author's key is decoded and checked (canonical, prime order) once, looked up without
/// allocating. Keep one across calls of [`first_crypto_failure_with`] (e.g. a relay's batches
/// of pushed events) so an author's key is decoded and checked once, not once per batch.
#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    keys: HashMap<String, Vec<(PublicKeyAlgo, DecodedKey)>>,
}

/// A decoded key and whether it may be batch-verified; `None` when the text does not decode.
type DecodedKey = Option<(PublicKey, bool)>;

/// Distinct keys a [`ChainState`] keeps decoded between calls (cleared when exceeded).
const KEY_CACHE_MAX: usize = 16_384;

impl KeyCache {
    pub(super) fn get(&mut self, algo: PublicKeyAlgo, b64: &str) -> Option<(PublicKey, bool)> {
        if let Some(hit) = self
            .keys
            .get(b64)
            .and_then(|v| v.iter().find(|(a, _)| *a == algo))
        {
            return hit.1.clone();
        }
        if self.keys.len() >= KEY_CACHE_MAX {
            self.keys.clear();
        }
        let entry = decode_public_key(algo, b64).ok().map(|k| {
            let safe = match &k {
                PublicKey::Ed25519(vk) => ed25519_key_batch_safe(vk),
                PublicKey::EcdsaP256(_) => false,
            };
            (k, safe)
        });
        self.keys
            .entry(b64.to_string())
            .or_default()
            .push((algo, entry.clone()));
        entry
    }
}

#[derive(Debug, Clone)]
struct Revocation {
    revoked_at: BigInt,
    grace_until: BigInt,
}

#[derive(Debug, Clone)]
struct DmSpoolEntry {
    delivery_class: String,
    key: String,
    node_id: String,
    ts: f64,
}

/// A signature check postponed for batching.
#[derive(Debug, Clone)]
pub(super) struct SigJob {
    key: EdKey,
    sig: Vec<u8>,
    msg: Vec<u8>,
}

/// Incremental chain state: the ingest side of a node (relay or browser).
#[derive(Debug, Clone, Default)]
pub struct ChainState {
    head: Option<String>,
    ids: Vec<String>,
    /// Position of each id in `ids` (the ids are held once, in `ids`).
    index: IdIndex,
    sequences: HashMap<String, BigInt>,
    bindings: HashMap<String, String>,
    revocations: HashMap<String, Revocation>,
    dm_spool: Vec<DmSpoolEntry>,
    /// Authors' keys decoded and checked once, reused by later calls.
    keys: KeyCache,
}

fn sequence_key(event_type: &str, node_id: &str) -> String {
    match py_lower(py_strip(event_type)).as_str() {
        SEQUENCE_DOMAIN_GATE => format!("{node_id}|{SEQUENCE_DOMAIN_GATE}"),
        SEQUENCE_DOMAIN_DM => format!("{node_id}|{SEQUENCE_DOMAIN_DM}"),
        _ => node_id.to_string(),
    }
}

fn int_or(v: Option<&Value>, default: BigInt) -> BigInt {
    match v {
        Some(v) if v.py_truthy() => v.py_int().unwrap_or(default),
        _ => default,
    }
}

fn dm_target(p: &Value) -> (String, String) {
    let get = |k: &str| match p.get(k) {
        Some(v) if v.py_truthy() => v.py_str(),
        _ => String::new(),
    };
    let dc = py_lower(py_strip(&get("delivery_class")));
    let key = if dc == "shared" {
        get("recipient_token")
    } else {
        get("recipient_id")
    };
    (dc, py_strip(&key).to_string())
}

pub(super) enum SigOutcome {
    Done,
    Deferred(Box<SigJob>),
}

/// A failed check, carrying the event's postponed signature check (the signature is checked
/// before the event id, so a bad signature must win over a later failure of the same event).
pub(super) type CheckFail = Box<(EventRejection, Option<Box<SigJob>>)>;

impl ChainState {
    /// Empty chain at genesis.
    pub fn new() -> Self {
        Self::default()
    }
    /// Current head (genesis hash when empty).
    pub fn head(&self) -> &str {
        self.head.as_deref().unwrap_or(GENESIS_HASH)
    }
    /// Accepted event ids in order.
    pub fn event_ids(&self) -> &[String] {
        &self.ids
    }
    /// Position of `event_id` among the accepted events (through the id index).
    pub fn position(&self, event_id: &str) -> Option<usize> {
        self.index.position(&self.ids, event_id)
    }
    /// Where a peer's locator meets the accepted events: [`super::match_locator`]'s answer,
    /// looked up in the id index instead of a map of every id built per call.
    pub fn match_locator(&self, locator: &[String]) -> super::LocatorMatch {
        let head = self.ids.last().map(String::as_str);
        super::match_locator_by(head, |h| self.position(h), locator)
    }
    /// Number of accepted events.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// No accepted events?
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// Is the key revoked (past its grace time) at `now`?
    pub fn is_revoked(&self, public_key: &str, now: u64) -> bool {
        self.revocations
            .get(public_key)
            .is_some_and(|r| BigInt::from(now) > r.grace_until)
    }

    /// Check `evt` as the next event and, if it passes, append it.
    pub fn ingest(&mut self, evt: &ChainEvent, opts: &VerifyOptions) -> Result<(), EventRejection> {
        let mut cache = std::mem::take(&mut self.keys);
        let out = match self.check(evt, opts, false, true, true, &mut cache) {
            Ok(_) => {
                self.apply(evt);
                Ok(())
            }
            Err(f) => Err(f.0),
        };
        self.keys = cache;
        out
    }

    pub(super) fn check(
        &self,
        evt: &ChainEvent,
        opts: &VerifyOptions,
        defer: bool,
        check_link: bool,
        crypto: bool,
        cache: &mut KeyCache,
    ) -> Result<SigOutcome, CheckFail> {
        use FailReason::*;
        let fail = |r: FailReason, d: &str| Err(Box::new((EventRejection::new(r, d), None)));
        let et = evt.event_type.as_str();
        if !ACTIVE_PUBLIC_LEDGER_EVENT_TYPES.contains(&et)
            && !LEGACY_PUBLIC_LEDGER_EVENT_TYPES.contains(&et)
        {
            return fail(UnsupportedEventType, "Unsupported event_type");
        }
        if evt.event_id.is_empty() || evt.prev_hash.is_empty() {
            return fail(MissingFields, "Missing event_id or prev_hash");
        }
        if self.index.contains(&self.ids, &evt.event_id) {
            return fail(DuplicateEventId, "event_id already on chain");
        }
        if check_link && evt.prev_hash != self.head() {
            return fail(PrevHashMismatch, "prev_hash does not match head");
        }
        if evt.network_id != NETWORK_ID {
            return fail(NetworkMismatch, "network_id mismatch");
        }
        let seq = evt.sequence_value();
        if seq <= BigInt::zero() {
            return fail(InvalidSequence, "Invalid sequence");
        }
        let skey = sequence_key(et, &evt.node_id);
        let last = self
            .sequences
            .get(&skey)
            .cloned()
            .unwrap_or_else(BigInt::zero);
        if seq <= last {
            return fail(
                SequenceReplay,
                &format!("Replay detected: sequence {seq} <= last {last}"),
            );
        }
        if opts.max_event_age_s > 0 {
            let ts = int_or(Some(&evt.timestamp), BigInt::zero());
            if ts > BigInt::zero() {
                let age = ts
                    .to_i128()
                    .map(|t| (i128::from(opts.now) - t).unsigned_abs());
                if age.is_none_or(|a| a > u128::from(opts.max_event_age_s)) {
                    return fail(StaleTimestamp, "Event timestamp outside freshness window");
                }
            }
        }
        let p = &evt.payload;
        if let Err(e) = schema::validate_event_payload(et, p) {
            return fail(InvalidPayload, &e.to_string());
        }
        let lane = match et {
            "gate_message" => schema::validate_private_gate_ledger_payload(p),
            "dm_message" => schema::validate_private_dm_ledger_payload(p),
            _ => schema::validate_public_ledger_payload(et, p),
        };
        if let Err(e) = lane {
            return fail(InvalidPayload, &e.to_string());
        }
        if et == "dm_message" {
            let (total, sender) = self.dm_spool_counts(p, &evt.node_id, opts.now);
            if sender >= DM_SPOOL_SENDER_LIMIT {
                return fail(DmSpoolFull, "DM hashchain sender spool full for recipient");
            }
            if total >= DM_SPOOL_LIMIT {
                return fail(DmSpoolFull, "DM hashchain spool full for recipient");
            }
        }
        if et == "message" && !p.contains_key("ephemeral") {
            return fail(InvalidPayload, "Missing ephemeral flag");
        }
        if p.to_canonical().len() > MAX_PAYLOAD_BYTES {
            return fail(PayloadTooLarge, "Payload too large");
        }
        let proto = if evt.protocol_version.is_empty() {
            PROTOCOL_VERSION
        } else {
            evt.protocol_version.as_str()
        };
        if proto != PROTOCOL_VERSION {
            return fail(UnsupportedProtocolVersion, "Unsupported protocol_version");
        }
        if evt.signature.is_empty() || evt.public_key.is_empty() || evt.public_key_algo.is_empty() {
            return fail(MissingSignatureFields, "Missing signature fields");
        }
        let Some(algo) = parse_public_key_algo(&evt.public_key_algo) else {
            return fail(UnsupportedPublicKeyAlgo, "Unsupported public_key_algo");
        };
        if et == "key_revoke" {
            let differs = |k: &str, want: &str| match p.get(k) {
                Some(v) if v.py_truthy() => v.as_str() != Some(want),
                _ => false,
            };
            if differs("revoked_public_key", &evt.public_key) {
                return fail(
                    RevokedKeyMismatch,
                    "revoked_public_key must match public_key",
                );
            }
            if differs("revoked_public_key_algo", &evt.public_key_algo) {
                return fail(
                    RevokedKeyMismatch,
                    "revoked_public_key_algo must match public_key_algo",
                );
            }
        }
        if et != "key_revoke" && self.is_revoked(&evt.public_key, opts.now) {
            return fail(KeyRevoked, "public key is revoked");
        }
        if !verify_node_binding(&evt.node_id, &evt.public_key) {
            return fail(NodeIdMismatch, "node_id mismatch");
        }
        if let Some(bound) = self.bindings.get(&evt.public_key) {
            if bound != &evt.node_id {
                return fail(
                    PublicKeyBindingConflict,
                    &format!("public key already bound to {bound}"),
                );
            }
        }
        if !crypto {
            // `verify_chain_structure`: signature and event id are checked by `first_crypto_failure`.
            return Ok(SigOutcome::Done);
        }
        let sig_outcome = check_signature(evt, algo, &seq, defer, cache);
        let sig_outcome = match sig_outcome {
            Ok(o) => o,
            Err(()) => return fail(InvalidSignature, "Invalid signature"),
        };
        if !evt.timestamp.py_truthy() || evt.computed_event_id() != evt.event_id {
            let job = match sig_outcome {
                SigOutcome::Deferred(j) => Some(j),
                SigOutcome::Done => None,
            };
            return Err(Box::new((
                EventRejection::new(EventIdMismatch, "event_id mismatch"),
                job,
            )));
        }
        Ok(sig_outcome)
    }

    fn dm_spool_counts(&self, p: &Value, sender: &str, now: u64) -> (usize, usize) {
        let (dc, key) = dm_target(p);
        if key.is_empty() {
            return (0, 0);
        }
        let sender = py_strip(sender);
        let (mut total, mut from_sender) = (0usize, 0usize);
        for e in self.dm_spool.iter().rev() {
            if e.delivery_class != dc || e.key != key {
                continue;
            }
            if e.ts > 0.0 && now as f64 - e.ts > DM_SPOOL_TTL_S as f64 {
                continue;
            }
            total += 1;
            if !sender.is_empty() && py_strip(&e.node_id) == sender {
                from_sender += 1;
            }
            if total >= DM_SPOOL_LIMIT
                && (sender.is_empty() || from_sender >= DM_SPOOL_SENDER_LIMIT)
            {
                break;
            }
        }
        (total, from_sender)
    }

    pub(super) fn apply(&mut self, evt: &ChainEvent) {
        let seq = evt.sequence_value();
        self.sequences
            .insert(sequence_key(&evt.event_type, &evt.node_id), seq);
        self.bindings
            .entry(evt.public_key.clone())
            .or_insert_with(|| evt.node_id.clone());
        self.index.insert(&self.ids, &evt.event_id, self.ids.len());
        self.ids.push(evt.event_id.clone());
        self.head = Some(evt.event_id.clone());
        let p = &evt.payload;
        if evt.event_type == "dm_message" {
            let (delivery_class, key) = dm_target(p);
            let ts = match p.get("timestamp") {
                Some(v) => v.clone(),
                None => evt.timestamp.clone(),
            };
            let ts = if ts.py_truthy() {
                ts.py_float().unwrap_or(0.0)
            } else {
                0.0
            };
            self.dm_spool.push(DmSpoolEntry {
                delivery_class,
                key,
                node_id: evt.node_id.clone(),
                ts,
            });
        }
        if evt.event_type == "key_revoke" {
            let pk = match p.get("revoked_public_key") {
                Some(v) if v.py_truthy() => v.py_str(),
                _ => evt.public_key.clone(),
            };
            if pk.is_empty() {
                return;
            }
            let revoked_at = int_or(p.get("revoked_at"), BigInt::zero());
            let grace_until = int_or(p.get("grace_until"), revoked_at.clone());
            let replace = self
                .revocations
                .get(&pk)
                .is_none_or(|r| revoked_at >= r.revoked_at);
            if replace {
                self.revocations.insert(
                    pk,
                    Revocation {
                        revoked_at,
                        grace_until,
                    },
                );
            }
        }
    }
}

/// Candidate signed strings for an event (gate messages accept legacy variants).
pub fn signed_messages(evt: &ChainEvent, sequence: &BigInt) -> Vec<String> {
    let seq = sequence.to_string();
    let payloads = if evt.event_type == "gate_message" {
        gate_signature_payload_variants(&evt.payload)
    } else {
        vec![evt.payload.clone()]
    };
    payloads
        .iter()
        .map(|p| signature_string_with_network(NETWORK_ID, &evt.event_type, &evt.node_id, &seq, p))
        .collect()
}

pub(super) fn check_signature(
    evt: &ChainEvent,
    algo: PublicKeyAlgo,
    seq: &BigInt,
    defer: bool,
    cache: &mut KeyCache,
) -> Result<SigOutcome, ()> {
    let sig = py_fromhex(&evt.signature).ok_or(())?;
    let (key, key_safe) = cache.get(algo, &evt.public_key).ok_or(())?;
    let mut msgs = signed_messages(evt, seq);
    // R and s are checked by the strict batch itself (strict_batch::verify_batch_strict).
    if let (true, true, PublicKey::Ed25519(vk), 1) = (defer, key_safe, &key, msgs.len()) {
        if let Some(only) = msgs.pop() {
            return Ok(SigOutcome::Deferred(Box::new(SigJob {
                key: *vk,
                sig,
                msg: only.into_bytes(),
            })));
        }
    }
    if msgs
        .iter()
        .any(|m| verify_signature(&key, &sig, m.as_bytes()).is_ok())
    {
        Ok(SigOutcome::Done)
    } else {
        Err(())
    }
}

impl ChainState {
    /// [`ChainState::ingest`] for consecutive events, reusing the decoded public keys across
    /// them (a browser syncing a chain page by page). Each event is fully checked before the
    /// next one; returns how many were accepted and the first rejection, if any.
    pub fn ingest_all(
        &mut self,
        events: &[ChainEvent],
        opts: &VerifyOptions,
    ) -> (usize, Option<EventRejection>) {
        let mut cache = std::mem::take(&mut self.keys);
        let mut out = (events.len(), None);
        for (i, evt) in events.iter().enumerate() {
            if let Err(f) = self.check(evt, opts, false, true, true, &mut cache) {
                out = (i, Some(f.0));
                break;
            }
            self.apply(evt);
        }
        self.keys = cache;
        out
    }

    /// [`ChainState::ingest_all`] with the signatures and event ids checked first, in batches
    /// ([`first_crypto_failure`]), then the sequential rules without crypto: the same
    /// accepted prefix and the same first rejection (index, reason, detail) as `ingest_all`.
    pub fn ingest_batch(
        &mut self,
        events: &[ChainEvent],
        opts: &VerifyOptions,
    ) -> (usize, Option<EventRejection>) {
        let crypto = first_crypto_failure(events);
        self.ingest_prechecked(events, opts, crypto)
    }

    /// The sequential half of [`ChainState::ingest_batch`], given `crypto` =
    /// `first_crypto_failure(events)` (computed by the caller, e.g. on several threads).
    pub fn ingest_prechecked(
        &mut self,
        events: &[ChainEvent],
        opts: &VerifyOptions,
        crypto: Option<(usize, FailReason)>,
    ) -> (usize, Option<EventRejection>) {
        let limit = crypto.map_or(events.len(), |(i, _)| i.min(events.len()));
        let mut cache = std::mem::take(&mut self.keys);
        let mut out = (limit, None);
        for (i, evt) in events.iter().enumerate().take(limit) {
            if let Err(f) = self.check(evt, opts, false, true, false, &mut cache) {
                out = (i, Some(f.0));
                break;
            }
            self.apply(evt);
        }
        if let (None, Some((i, reason)), Some(evt)) = (&out.1, crypto, events.get(limit)) {
            out = (
                i,
                Some(self.crypto_rejection(evt, reason, opts, &mut cache)),
            );
        }
        self.keys = cache;
        out
    }

    /// The rejection of the event whose signature or id failed in a batch: the rules before the
    /// signature come first for it too (as one-by-one ingest would report them).
    pub(super) fn crypto_rejection(
        &self,
        evt: &ChainEvent,
        reason: FailReason,
        opts: &VerifyOptions,
        cache: &mut KeyCache,
    ) -> EventRejection {
        match self.check(evt, opts, false, true, false, cache) {
            Err(f) => f.0,
            Ok(_) => {
                let detail = match reason {
                    FailReason::InvalidSignature => "Invalid signature",
                    _ => "event_id mismatch",
                };
                EventRejection::new(reason, detail)
            }
        }
    }
}

/// First index in `jobs` whose signature fails, verifying in batches.
pub(super) fn first_bad_signature(jobs: &[(usize, Box<SigJob>)]) -> Option<usize> {
    for chunk in jobs.chunks(BATCH_SIZE) {
        let msgs: Vec<&[u8]> = chunk.iter().map(|(_, j)| j.msg.as_slice()).collect();
        let sigs: Vec<&[u8]> = chunk.iter().map(|(_, j)| j.sig.as_slice()).collect();
        let keys: Vec<EdKey> = chunk.iter().map(|(_, j)| j.key).collect();
        // Every key here passed `ed25519_key_batch_safe` (KeyCache).
        if verify_batch_strict(&msgs, &sigs, &keys, true) {
            continue;
        }
        for (i, j) in chunk {
            if verify_signature(&PublicKey::Ed25519(j.key), &j.sig, &j.msg).is_err() {
                return Some(*i);
            }
        }
    }
    None
}

/// Parallel chain verification, per-event half: for a slice of a chain, the first index (within
/// `events`) whose signature (Ed25519 in batches of [`BATCH_SIZE`], as [`super::verify_chain`]) or
/// recomputed event id fails, with the reason `verify_chain` gives (a bad signature wins over a
/// bad id of the same event). Events with an unsupported `public_key_algo` are skipped: the
/// structural half rejects them. Independent of chain state, so slices can be checked on
/// separate threads.
pub fn first_crypto_failure(events: &[ChainEvent]) -> Option<(usize, FailReason)> {
    first_crypto_failure_with(events, &mut KeyCache::default())
}

/// [`first_crypto_failure`] with a key cache kept by the caller across calls (same verdicts:
/// the cache holds only what decoding each key text gives).
pub fn first_crypto_failure_with(
    events: &[ChainEvent],
    cache: &mut KeyCache,
) -> Option<(usize, FailReason)> {
    first_crypto_failure_of(events, cache)
}

/// [`first_crypto_failure_with`] where the caller already compared each event's recomputed id:
/// `ids_ok[i]` must be `events[i].computed_event_id() == events[i].event_id` (a missing entry
/// counts as a mismatch). Same verdicts; the ids are not hashed a second time.
pub fn first_crypto_failure_known_ids(
    events: &[ChainEvent],
    ids_ok: &[bool],
    cache: &mut KeyCache,
) -> Option<(usize, FailReason)> {
    first_crypto_failure_ids(events, Some(ids_ok), cache)
}

/// [`first_crypto_failure_with`] over any sequence of events (indexes count its items).
pub(super) fn first_crypto_failure_of<'a>(
    events: impl IntoIterator<Item = &'a ChainEvent>,
    cache: &mut KeyCache,
) -> Option<(usize, FailReason)> {
    first_crypto_failure_ids(events, None, cache)
}

/// The body of the `first_crypto_failure*` functions: ids recomputed here unless `ids_ok`.
fn first_crypto_failure_ids<'a>(
    events: impl IntoIterator<Item = &'a ChainEvent>,
    ids_ok: Option<&[bool]>,
    cache: &mut KeyCache,
) -> Option<(usize, FailReason)> {
    let mut jobs: Vec<(usize, Box<SigJob>)> = Vec::new();
    let mut inline: Option<(usize, FailReason)> = None;
    for (i, evt) in events.into_iter().enumerate() {
        let Some(algo) = parse_public_key_algo(&evt.public_key_algo) else {
            continue;
        };
        match check_signature(evt, algo, &evt.sequence_value(), true, cache) {
            Err(()) => {
                inline = Some((i, FailReason::InvalidSignature));
                break;
            }
            Ok(SigOutcome::Deferred(job)) => jobs.push((i, job)),
            Ok(SigOutcome::Done) => {}
        }
        let id_ok = match ids_ok {
            Some(known) => known.get(i).copied().unwrap_or(false),
            None => evt.computed_event_id() == evt.event_id,
        };
        if !evt.timestamp.py_truthy() || !id_ok {
            inline = Some((i, FailReason::EventIdMismatch));
            break;
        }
    }
    match (first_bad_signature(&jobs), inline) {
        (Some(b), Some((i, _))) if b <= i => Some((b, FailReason::InvalidSignature)),
        (Some(b), None) => Some((b, FailReason::InvalidSignature)),
        (_, inline) => inline,
    }
}

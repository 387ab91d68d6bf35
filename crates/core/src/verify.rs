//! Event and chain verification with the Infonet/2 ingest rules.
//!
//! Checks run per event in the reference's ingest order, so the *first* failure and its reason
//! match what a Shadowbroker node reports when ingesting the chain from genesis:
//! event type → required ids → duplicate id → `prev_hash` link → network → sequence (per-node,
//! separate domains for `gate_message` and `dm_message`) → freshness window → payload schema and
//! lane rules → size cap → protocol → signature fields → algorithm → revocation rules → node-id
//! binding → key binding → signature → recomputed event id.
//!
//! Ed25519 signatures are checked in batches; pairs whose encodings could make the (cofactored)
//! batch equation disagree with `verify_strict` are checked singly, and a failed batch is
//! re-checked one by one to locate the first bad signature.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey as EdKey;
use serde::{Deserialize, Serialize};

use crate::canonical::{
    gate_signature_payload_variants, signature_string_with_network, verify_node_binding,
    GENESIS_HASH, NETWORK_ID, PROTOCOL_VERSION,
};
use crate::event::ChainEvent;
use crate::json::{py_lower, py_strip, BigInt, Value};
use crate::merkle::merkle_root;
use crate::schema::{
    self, ACTIVE_PUBLIC_LEDGER_EVENT_TYPES, LEGACY_PUBLIC_LEDGER_EVENT_TYPES, MAX_PAYLOAD_BYTES,
};
use crate::signature::{
    decode_public_key, ed25519_key_batch_safe, ed25519_sig_batch_safe, ed25519_verify_batch,
    parse_public_key_algo, py_fromhex, verify_signature, PublicKey, PublicKeyAlgo,
};

/// Decoded keys (and whether an Ed25519 key may be batch-verified), by (algo, base64 text).
#[derive(Default)]
struct KeyCache {
    keys: HashMap<(PublicKeyAlgo, String), Option<(PublicKey, bool)>>,
}

impl KeyCache {
    fn get(&mut self, algo: PublicKeyAlgo, b64: &str) -> Option<(PublicKey, bool)> {
        if let Some(hit) = self.keys.get(&(algo, b64.to_string())) {
            return hit.clone();
        }
        let entry = decode_public_key(algo, b64).ok().map(|k| {
            let safe = match &k {
                PublicKey::Ed25519(vk) => ed25519_key_batch_safe(vk),
                PublicKey::EcdsaP256(_) => false,
            };
            (k, safe)
        });
        self.keys.insert((algo, b64.to_string()), entry.clone());
        entry
    }
}

/// Default freshness window for ingested events (seconds either side of `now`; 0 disables).
pub const DEFAULT_MAX_EVENT_AGE_S: u64 = 86_400;
/// Max live DM spool entries per mailbox target on the chain.
pub const DM_SPOOL_LIMIT: usize = 2;
/// Max live DM spool entries per (sender, mailbox target).
pub const DM_SPOOL_SENDER_LIMIT: usize = 1;
/// Lifetime of a DM spool entry (seconds).
pub const DM_SPOOL_TTL_S: u64 = 3_600;
/// Ed25519 signatures per batch.
pub const BATCH_SIZE: usize = 256;
/// Number of most-recent ids in a locator before the step starts doubling.
pub const LOCATOR_DENSE_ENTRIES: usize = 10;
/// Default locator size.
pub const DEFAULT_LOCATOR_ENTRIES: usize = 32;
/// Sequence domain label of gate messages.
pub const SEQUENCE_DOMAIN_GATE: &str = "gate_message";
/// Sequence domain label of DM messages.
pub const SEQUENCE_DOMAIN_DM: &str = "dm_message";

/// Verification options (the clock is injected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Current time, UNIX seconds: revocation grace, freshness and DM spool expiry use it.
    pub now: u64,
    /// Freshness window; 0 disables the check.
    pub max_event_age_s: u64,
    /// Verify Ed25519 signatures in batches.
    pub batch: bool,
}

impl VerifyOptions {
    /// Defaults with the given clock.
    pub fn at(now: u64) -> Self {
        VerifyOptions {
            now,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
            batch: true,
        }
    }
}

/// Why an event was rejected. The snake_case string form is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    NotAnObject,
    UnsupportedEventType,
    MissingFields,
    DuplicateEventId,
    PrevHashMismatch,
    NetworkMismatch,
    InvalidSequence,
    SequenceReplay,
    StaleTimestamp,
    InvalidPayload,
    DmSpoolFull,
    PayloadTooLarge,
    UnsupportedProtocolVersion,
    MissingSignatureFields,
    UnsupportedPublicKeyAlgo,
    RevokedKeyMismatch,
    KeyRevoked,
    NodeIdMismatch,
    PublicKeyBindingConflict,
    InvalidSignature,
    EventIdMismatch,
}

impl FailReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        use FailReason::*;
        match self {
            NotAnObject => "not_an_object",
            UnsupportedEventType => "unsupported_event_type",
            MissingFields => "missing_fields",
            DuplicateEventId => "duplicate_event_id",
            PrevHashMismatch => "prev_hash_mismatch",
            NetworkMismatch => "network_mismatch",
            InvalidSequence => "invalid_sequence",
            SequenceReplay => "sequence_replay",
            StaleTimestamp => "stale_timestamp",
            InvalidPayload => "invalid_payload",
            DmSpoolFull => "dm_spool_full",
            PayloadTooLarge => "payload_too_large",
            UnsupportedProtocolVersion => "unsupported_protocol_version",
            MissingSignatureFields => "missing_signature_fields",
            UnsupportedPublicKeyAlgo => "unsupported_public_key_algo",
            RevokedKeyMismatch => "revoked_key_mismatch",
            KeyRevoked => "key_revoked",
            NodeIdMismatch => "node_id_mismatch",
            PublicKeyBindingConflict => "public_key_binding_conflict",
            InvalidSignature => "invalid_signature",
            EventIdMismatch => "event_id_mismatch",
        }
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event-level rejection with a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRejection {
    pub reason: FailReason,
    pub detail: String,
}

impl EventRejection {
    fn new(reason: FailReason, detail: impl Into<String>) -> Self {
        EventRejection {
            reason,
            detail: detail.into(),
        }
    }
}

/// The first failure of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFailure {
    pub index: usize,
    pub event_id: String,
    pub reason: FailReason,
    pub detail: String,
}

/// Result of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub valid: bool,
    pub count: usize,
    /// Head event id (genesis hash for an empty chain); `None` when invalid.
    pub head: Option<String>,
    /// Infonet Merkle root; `None` when invalid.
    pub merkle_root: Option<String>,
    pub error: Option<ChainFailure>,
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
struct SigJob {
    key: EdKey,
    sig: Vec<u8>,
    msg: Vec<u8>,
}

/// Incremental chain state: the ingest side of a node (relay or browser).
#[derive(Debug, Clone, Default)]
pub struct ChainState {
    head: Option<String>,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    sequences: HashMap<String, BigInt>,
    bindings: HashMap<String, String>,
    revocations: HashMap<String, Revocation>,
    dm_spool: Vec<DmSpoolEntry>,
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

enum SigOutcome {
    Done,
    Deferred(Box<SigJob>),
}

/// A failed check, carrying the event's postponed signature check (the signature is checked
/// before the event id, so a bad signature must win over a later failure of the same event).
type CheckFail = Box<(EventRejection, Option<Box<SigJob>>)>;

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
        match self.check(evt, opts, false, true, true, &mut KeyCache::default()) {
            Ok(_) => {
                self.apply(evt);
                Ok(())
            }
            Err(f) => Err(f.0),
        }
    }

    fn check(
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
        if self.index.contains_key(&evt.event_id) {
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

    fn apply(&mut self, evt: &ChainEvent) {
        let seq = evt.sequence_value();
        self.sequences
            .insert(sequence_key(&evt.event_type, &evt.node_id), seq);
        self.bindings
            .entry(evt.public_key.clone())
            .or_insert_with(|| evt.node_id.clone());
        self.index.insert(evt.event_id.clone(), self.ids.len());
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

fn check_signature(
    evt: &ChainEvent,
    algo: PublicKeyAlgo,
    seq: &BigInt,
    defer: bool,
    cache: &mut KeyCache,
) -> Result<SigOutcome, ()> {
    let sig = py_fromhex(&evt.signature).ok_or(())?;
    let (key, key_safe) = cache.get(algo, &evt.public_key).ok_or(())?;
    let msgs = signed_messages(evt, seq);
    if let (true, true, PublicKey::Ed25519(vk), [only]) = (defer, key_safe, &key, msgs.as_slice()) {
        if ed25519_sig_batch_safe(&sig) {
            return Ok(SigOutcome::Deferred(Box::new(SigJob {
                key: *vk,
                sig,
                msg: only.clone().into_bytes(),
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

/// Verify a single event on its own (no chain context: link, duplicates, sequences and
/// revocations are not considered).
pub fn verify_event(evt: &ChainEvent, opts: &VerifyOptions) -> Result<(), EventRejection> {
    ChainState::new()
        .check(evt, opts, false, false, true, &mut KeyCache::default())
        .map(|_| ())
        .map_err(|f| f.0)
}

/// First index in `jobs` whose signature fails, verifying in batches.
fn first_bad_signature(jobs: &[(usize, Box<SigJob>)]) -> Option<usize> {
    for chunk in jobs.chunks(BATCH_SIZE) {
        let msgs: Vec<&[u8]> = chunk.iter().map(|(_, j)| j.msg.as_slice()).collect();
        let sigs: Vec<&[u8]> = chunk.iter().map(|(_, j)| j.sig.as_slice()).collect();
        let keys: Vec<EdKey> = chunk.iter().map(|(_, j)| j.key).collect();
        if ed25519_verify_batch(&msgs, &sigs, &keys) {
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

/// Verify a whole chain from genesis and report the first failure.
pub fn verify_chain(events: &[ChainEvent], opts: &VerifyOptions) -> ChainReport {
    let mut state = ChainState::new();
    let mut jobs: Vec<(usize, Box<SigJob>)> = Vec::new();
    let mut failure: Option<(usize, EventRejection)> = None;
    let mut cache = KeyCache::default();
    for (i, evt) in events.iter().enumerate() {
        match state.check(evt, opts, opts.batch, true, true, &mut cache) {
            Ok(SigOutcome::Deferred(job)) => {
                jobs.push((i, job));
                state.apply(evt);
            }
            Ok(SigOutcome::Done) => state.apply(evt),
            Err(f) => {
                let (rej, job) = *f;
                if let Some(job) = job {
                    jobs.push((i, job));
                }
                failure = Some((i, rej));
                break;
            }
        }
    }
    if let Some(bad) = first_bad_signature(&jobs) {
        failure = Some((
            bad,
            EventRejection::new(FailReason::InvalidSignature, "Invalid signature"),
        ));
    }
    match failure {
        Some((index, rej)) => ChainReport {
            valid: false,
            count: events.len(),
            head: None,
            merkle_root: None,
            error: Some(ChainFailure {
                index,
                event_id: events
                    .get(index)
                    .map(|e| e.event_id.clone())
                    .unwrap_or_default(),
                reason: rej.reason,
                detail: rej.detail,
            }),
        },
        None => ChainReport {
            valid: true,
            count: events.len(),
            head: Some(state.head().to_string()),
            merkle_root: Some(merkle_root(state.event_ids())),
            error: None,
        },
    }
}

/// Parallel chain verification, sequential half: every rule of [`verify_chain`] (links,
/// duplicates, network, sequences and replay, freshness, schema, revocations, node and key
/// bindings, DM spool) **except** the signature check and the event-id recomputation, which
/// [`first_crypto_failure`] does on any number of threads. When both halves pass, the chain is
/// exactly as valid as under [`verify_chain`] and the report (head, Merkle root) is the same.
/// On a failure either half may report a later index than `verify_chain` would: callers that
/// need the exact first failure re-run [`verify_chain`] (postern-wasm's `verifyChainParallel` does).
pub fn verify_chain_structure(events: &[ChainEvent], opts: &VerifyOptions) -> ChainReport {
    let mut state = ChainState::new();
    let mut cache = KeyCache::default();
    for (i, evt) in events.iter().enumerate() {
        if let Err(f) = state.check(evt, opts, false, true, false, &mut cache) {
            let rej = f.0;
            return ChainReport {
                valid: false,
                count: events.len(),
                head: None,
                merkle_root: None,
                error: Some(ChainFailure {
                    index: i,
                    event_id: evt.event_id.clone(),
                    reason: rej.reason,
                    detail: rej.detail,
                }),
            };
        }
        state.apply(evt);
    }
    ChainReport {
        valid: true,
        count: events.len(),
        head: Some(state.head().to_string()),
        merkle_root: Some(merkle_root(state.event_ids())),
        error: None,
    }
}

/// Parallel chain verification, per-event half: for a slice of a chain, the first index (within
/// `events`) whose signature (Ed25519 in batches of [`BATCH_SIZE`], as [`verify_chain`]) or
/// recomputed event id fails, with the reason `verify_chain` gives (a bad signature wins over a
/// bad id of the same event). Events with an unsupported `public_key_algo` are skipped: the
/// structural half rejects them. Independent of chain state, so slices can be checked on
/// separate threads.
pub fn first_crypto_failure(events: &[ChainEvent]) -> Option<(usize, FailReason)> {
    let mut cache = KeyCache::default();
    let mut jobs: Vec<(usize, Box<SigJob>)> = Vec::new();
    let mut inline: Option<(usize, FailReason)> = None;
    for (i, evt) in events.iter().enumerate() {
        let Some(algo) = parse_public_key_algo(&evt.public_key_algo) else {
            continue;
        };
        match check_signature(evt, algo, &evt.sequence_value(), true, &mut cache) {
            Err(()) => {
                inline = Some((i, FailReason::InvalidSignature));
                break;
            }
            Ok(SigOutcome::Deferred(job)) => jobs.push((i, job)),
            Ok(SigOutcome::Done) => {}
        }
        if !evt.timestamp.py_truthy() || evt.computed_event_id() != evt.event_id {
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

/// Verify a chain given as exact JSON values (non-objects fail with `not_an_object`).
pub fn verify_chain_values(events: &[Value], opts: &VerifyOptions) -> ChainReport {
    let mut parsed = Vec::with_capacity(events.len());
    for (i, v) in events.iter().enumerate() {
        match ChainEvent::from_value(v) {
            Ok(e) => parsed.push(e),
            Err(_) => {
                // Verify the prefix first: an earlier failure wins.
                let mut report = verify_chain(&parsed, opts);
                report.count = events.len();
                if report.valid {
                    report = ChainReport {
                        valid: false,
                        count: events.len(),
                        head: None,
                        merkle_root: None,
                        error: Some(ChainFailure {
                            index: i,
                            event_id: String::new(),
                            reason: FailReason::NotAnObject,
                            detail: "Event is not an object".into(),
                        }),
                    };
                }
                return report;
            }
        }
    }
    verify_chain(&parsed, opts)
}

/// Block locator: the `LOCATOR_DENSE_ENTRIES` most recent ids, then exponentially sparser ids,
/// always ending with the genesis hash; at most `max_entries` entries (minimum 2).
pub fn build_locator<S: AsRef<str>>(event_ids: &[S], max_entries: usize) -> Vec<String> {
    let max_entries = max_entries.max(2);
    let mut out = Vec::new();
    let mut idx = event_ids.len() as i128 - 1;
    let mut step: i128 = 1;
    let mut count = 0usize;
    while idx >= 0 && out.len() < max_entries - 1 {
        if let Some(id) = usize::try_from(idx).ok().and_then(|i| event_ids.get(i)) {
            out.push(id.as_ref().to_string());
        }
        if count + 1 >= LOCATOR_DENSE_ENTRIES {
            step = step.saturating_mul(2);
        }
        idx -= step;
        count += 1;
    }
    out.push(GENESIS_HASH.to_string());
    out
}

/// Where a peer's locator meets our chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatorMatch {
    /// Common ancestor (genesis hash when only genesis is shared); `None` when nothing matches.
    pub matched_hash: Option<String>,
    /// Index of our first event after the match (0 for genesis).
    pub start_index: usize,
    /// The reference relay's `forked` flag: nothing matched, or only genesis matched although
    /// the peer sent a longer locator.
    pub forked: bool,
    /// Both sides have events after the common ancestor (or there is no common ancestor).
    pub diverged: bool,
}

/// Match a peer's locator against our event ids (first locator entry we know wins; an empty
/// locator means genesis).
pub fn match_locator<S: AsRef<str>>(local_ids: &[S], locator: &[String]) -> LocatorMatch {
    let genesis = [GENESIS_HASH.to_string()];
    let locator = if locator.is_empty() {
        &genesis[..]
    } else {
        locator
    };
    let local_head = local_ids.last().map(|s| s.as_ref()).unwrap_or(GENESIS_HASH);
    let peer_head = locator.first().map(String::as_str).unwrap_or(GENESIS_HASH);
    let index: HashMap<&str, usize> = local_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_ref(), i))
        .collect();
    for h in locator {
        let start = if h == GENESIS_HASH {
            Some(0)
        } else {
            index.get(h.as_str()).map(|i| i + 1)
        };
        if let Some(start) = start {
            let diverged = h != peer_head && h != local_head;
            let forked = h == GENESIS_HASH && locator.len() > 1;
            return LocatorMatch {
                matched_hash: Some(h.clone()),
                start_index: start,
                forked,
                diverged,
            };
        }
    }
    LocatorMatch {
        matched_hash: None,
        start_index: 0,
        forked: true,
        diverged: true,
    }
}

/// Check the old key's signature inside a `key_rotate` payload: the old key signs the
/// Infonet/2 string for `key_rotate` with its own node id, sequence 0 and the rotation claim
/// (`old_node_id`, `old_public_key`, `old_public_key_algo`, `new_public_key`,
/// `new_public_key_algo`, `timestamp`; `old_signature` normalises to `""`).
///
/// The reference checks this when a rotation is submitted, not when a chain is ingested, so
/// [`verify_chain`] does not call it; relays should call it on new `key_rotate` appends.
pub fn verify_key_rotation_claim(payload: &Value) -> Result<(), EventRejection> {
    let text = |k: &str| payload.get(k).map(Value::py_str).unwrap_or_default();
    let old_node_id = text("old_node_id");
    let old_key = text("old_public_key");
    let old_algo = text("old_public_key_algo");
    if !verify_node_binding(&old_node_id, &old_key) {
        return Err(EventRejection::new(
            FailReason::NodeIdMismatch,
            "node_id does not match public key",
        ));
    }
    let Some(algo) = parse_public_key_algo(&old_algo) else {
        return Err(EventRejection::new(
            FailReason::UnsupportedPublicKeyAlgo,
            "Unsupported public_key_algo",
        ));
    };
    let mut claim = Value::object();
    for k in [
        "old_node_id",
        "old_public_key",
        "old_public_key_algo",
        "new_public_key",
        "new_public_key_algo",
        "timestamp",
    ] {
        if let Some(v) = payload.get(k) {
            claim.insert(k, v.clone());
        }
    }
    let msg = signature_string_with_network(NETWORK_ID, "key_rotate", &old_node_id, "0", &claim);
    let ok = py_fromhex(&text("old_signature"))
        .zip(decode_public_key(algo, &old_key).ok())
        .is_some_and(|(sig, key)| verify_signature(&key, &sig, msg.as_bytes()).is_ok());
    if ok {
        Ok(())
    } else {
        Err(EventRejection::new(
            FailReason::InvalidSignature,
            "Invalid old_signature",
        ))
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
        let mut cache = KeyCache::default();
        for (i, evt) in events.iter().enumerate() {
            if let Err(f) = self.check(evt, opts, false, true, true, &mut cache) {
                return (i, Some(f.0));
            }
            self.apply(evt);
        }
        (events.len(), None)
    }
}

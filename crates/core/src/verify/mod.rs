//! Event and chain verification with the Infonet/2 ingest rules.
//!
//! Checks run per event in the reference's ingest order, so the *first* failure and its reason
//! match what a Shadowbroker node reports when ingesting the chain from genesis:
//! event type → required ids → duplicate id → `prev_hash` link → network → sequence (per-node,
//! separate domains for `gate_message` and `dm_message`) → freshness window → payload schema and
//! lane rules → size cap → protocol → signature fields → algorithm → revocation rules → node-id
//! binding → key binding → signature → recomputed event id.
//!
//! Ed25519 signatures are checked in batches with `verify_strict`'s verdict
//! ([`crate::strict_batch`]: keys decoded and checked once per author, the `R`s' prime-order
//! check batched); keys that could make the batch equation disagree with `verify_strict` are
//! checked singly, and a failed batch is re-checked one by one to locate the first bad signature.

mod ingest;
mod locator;
mod outcome;
mod rotation;

pub use ingest::{
    first_crypto_failure, first_crypto_failure_known_ids, first_crypto_failure_with,
    signed_messages, snapshot_header, view_crypto_failure, ChainState, KeyCache, ListDigest,
    SnapshotError, SnapshotHeader, ViewEntry, SNAPSHOT_MAGIC, SNAPSHOT_VERSION,
};
pub use locator::{build_locator, match_locator, match_locator_by, LocatorMatch};
pub use outcome::{
    ChainFailure, ChainReport, EventRejection, FailReason, VerifyOptions, BATCH_SIZE,
    DEFAULT_LOCATOR_ENTRIES, DEFAULT_MAX_EVENT_AGE_S, DM_SPOOL_LIMIT, DM_SPOOL_SENDER_LIMIT,
    DM_SPOOL_TTL_S, LOCATOR_DENSE_ENTRIES, SEQUENCE_DOMAIN_DM, SEQUENCE_DOMAIN_GATE,
};
pub use rotation::verify_key_rotation_claim;

use crate::event::ChainEvent;
use crate::json::Value;
use crate::merkle::merkle_root;
use ingest::{first_bad_signature, SigJob, SigOutcome};

/// Verify a single event on its own (no chain context: link, duplicates, sequences and
/// revocations are not considered).
pub fn verify_event(evt: &ChainEvent, opts: &VerifyOptions) -> Result<(), EventRejection> {
    ChainState::new()
        .check(evt, opts, false, false, true, &mut KeyCache::default())
        .map(|_| ())
        .map_err(|f| f.0)
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

//! Building the chain state from the database: from the stored checkpoint (core's
//! `ChainState` snapshot) plus a replay of the events above it, or, when there is none or it
//! cannot be trusted, a replay of every stored event (writing them: `checkpoint`).
//!
//! **What a start from a checkpoint checks.** Core checks the snapshot's version, its closing
//! digest (a domain-separated SHA-256 over its bytes) and its canonical form. The relay reads
//! every stored row below the checkpoint's height **unparsed** (id column, type column, event
//! text): core checks the ids' count, their digest against the one in the snapshot (any id
//! changed, missing, added or moved below the height is caught) and that the last one is the
//! checkpoint's head; the relay checks the digest of the event texts against the one the
//! checkpoint recorded (kept as each verified event was stored: any byte of any stored event
//! below the height changed is caught), and parses the event at the height, which must hash to
//! the head. What is not repeated is the parsing and rule checks of the events below the
//! height: they passed them when they were stored, and their bytes are those. Any failure is
//! a WARN line and the full replay; a checkpoint is never trusted in part.
use postern_core::event::ChainEvent;
use postern_core::json;
use postern_core::public_view::is_private_type;
use postern_core::verify::{snapshot_header, ChainState, ListDigest, VerifyOptions};

use crate::store::{CheckpointRow, Store, StoreError};

/// Events appended between two checkpoints, by default.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 10_000;

/// The verified chain in memory: core's state and what the relay reports about it.
pub(super) struct Loaded {
    pub(super) state: ChainState,
    /// Private ledger events on the chain (`gate_message`, `dm_message`).
    pub(super) private: u64,
    /// Digest of the stored texts of every event in `state`, in order.
    pub(super) texts: ListDigest,
}

impl Loaded {
    /// Account for `text`, the stored text of the event `state` has just ingested.
    pub(super) fn stored(&mut self, event_type: &str, text: &str) {
        self.private += u64::from(is_private_type(event_type));
        self.texts.push(text);
    }
}

/// How the chain state was built when the relay started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupReport {
    /// Height of the checkpoint the state was restored from (`None`: replayed from genesis).
    pub checkpoint: Option<u64>,
    /// Events replayed through the chain rules (above the checkpoint, or all of them).
    pub replayed: u64,
    /// Why a stored checkpoint was refused, if one was.
    pub refused: Option<String>,
}

/// The chain state of every stored event (see [`replay`]).
pub(super) fn load(store: &Store) -> Result<Loaded, StoreError> {
    replay(store, u64::MAX).map(|(l, _)| l)
}

/// The chain state of the first `upto` stored events (all of them at start-up; the events
/// before a fork point when healing one): from the checkpoint when it lies at or below `upto`
/// and passes every check (module docs), else from genesis.
///
/// Every event's signature was verified before it was stored, so the replay checks the
/// database **by hashes**: each replayed event's id is recomputed from its content (and
/// compared with the row's `event_id` column) and every
/// chain rule (links, sequences, schema, revocations) is applied again, with the event's own
/// acceptance clock; only the signature checks are not repeated. An event whose stored bytes no
/// longer hash to its id is `Corrupt`.
pub(super) fn replay(store: &Store, upto: u64) -> Result<(Loaded, StartupReport), StoreError> {
    let mut report = StartupReport::default();
    let base = match store.chain_checkpoint() {
        Ok(Some(row)) if row.height <= upto => match restore(store, &row) {
            Ok(base) => {
                report.checkpoint = Some(row.height);
                Some(base)
            }
            Err(why) => {
                tracing::warn!(
                    height = row.height,
                    reason = %why,
                    "chain checkpoint refused; replaying the whole chain"
                );
                report.refused = Some(why);
                None
            }
        },
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "chain checkpoint unreadable; replaying the whole chain");
            report.refused = Some(e.to_string());
            None
        }
    };
    let base = base.unwrap_or(Loaded {
        state: ChainState::new(),
        private: 0,
        texts: ListDigest::texts(),
    });
    let from = base.state.len() as u64;
    let loaded = replay_from(store, base, upto)?;
    report.replayed = loaded.state.len() as u64 - from;
    Ok((loaded, report))
}

/// The state of checkpoint `row`, if every check of the module docs passes.
fn restore(store: &Store, row: &CheckpointRow) -> Result<Loaded, String> {
    let header = snapshot_header(&row.snapshot).map_err(|e| e.to_string())?;
    if header.count != row.height || header.head.as_deref() != Some(row.head.as_str()) {
        return Err("checkpoint row disagrees with its snapshot".into());
    }
    let mut ids = Vec::with_capacity(usize::try_from(row.height).unwrap_or(0));
    let mut private = 0u64;
    let mut texts = ListDigest::texts();
    store
        .chain_rows_for_each(row.height, |id, et, text| {
            ids.push(id);
            private += u64::from(is_private_type(et));
            texts.push(text);
        })
        .map_err(|e| e.to_string())?;
    let state = ChainState::from_snapshot(&row.snapshot, ids).map_err(|e| e.to_string())?;
    if texts.finish().as_slice() != row.texts_digest.as_slice() {
        return Err("stored event texts below the checkpoint changed".into());
    }
    let last = row.height.checked_sub(1).ok_or("checkpoint at height 0")?;
    let text = store
        .chain_event(last)
        .map_err(|e| e.to_string())?
        .ok_or("no stored event at the checkpoint's height")?;
    let head = json::parse(text.as_bytes())
        .ok()
        .and_then(|v| ChainEvent::from_value(&v).ok())
        .map(|e| e.computed_event_id());
    if head.as_deref() != Some(row.head.as_str()) {
        return Err("the event at the checkpoint's height does not hash to its head".into());
    }
    Ok(Loaded {
        state,
        private,
        texts,
    })
}

/// Replay stored events `base.state.len()..upto` onto `base`.
fn replay_from(store: &Store, base: Loaded, upto: u64) -> Result<Loaded, StoreError> {
    let mut loaded = base;
    let from = loaded.state.len() as u64;
    store.chain_span_for_each(from, upto, |idx, id_column, text, received_at| {
        let corrupt = |why: String| StoreError::Corrupt(format!("chain event {idx}: {why}"));
        if idx != loaded.state.len() as u64 {
            return Err(corrupt("gap in stored positions".into()));
        }
        let v = json::parse(text.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
        let evt = ChainEvent::from_value(&v).map_err(|e| corrupt(e.to_string()))?;
        if evt.computed_event_id() != evt.event_id {
            return Err(corrupt(
                "stored content does not hash to its event_id".into(),
            ));
        }
        // The lookup column (positions of ids, checkpoint ids) must say the same.
        if id_column != evt.event_id {
            return Err(corrupt(
                "event_id column differs from the stored event".into(),
            ));
        }
        // Same clock as when it was accepted; history is not subject to freshness.
        let opts = VerifyOptions {
            now: received_at,
            max_event_age_s: 0,
            batch: false,
        };
        let (_, rejection) =
            loaded
                .state
                .ingest_prechecked(std::slice::from_ref(&evt), &opts, None);
        if let Some(r) = rejection {
            return Err(corrupt(format!("{} ({})", r.reason, r.detail)));
        }
        loaded.stored(&evt.event_type, text);
        Ok(())
    })?;
    Ok(loaded)
}

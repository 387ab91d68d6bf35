//! Resuming the chain verifier on start and keeping what lets it resume: restore the worker
//! from the stored snapshot record (`model::chain::snapshot`) and replay only the stored
//! events above it — or, when there is none or anything about it is off, replay the stored
//! chain in full with a console warning — reading stored events in bounded ranges of page records; and
//! store a fresh snapshot after verified pages were stored (every `SNAPSHOT_EVERY` events
//! and at the end of a round), strictly after the events it covers committed.
use yew::Callback;

use super::fetch::RoundError;
use super::msg::Msg;
use super::worker::Bridge;
use crate::model::chain::snapshot::{
    check_restored, plan, read_meta, ResumePlan, SnapshotRefused, SNAPSHOT_EVERY,
};
use crate::model::chain::{Rejected, SyncHead, ToWorker};
use crate::platform::clock::now_secs;
use crate::platform::idb::Storage;

/// Stored events read and sent to the verifier per replay request.
const REPLAY_CHUNK: u64 = 1_000;

/// `console.warn(text)` (the snapshot was not used; nothing is lost, the chain is replayed).
fn warn(text: &str) {
    use wasm_bindgen::{JsCast, JsValue};
    let console = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("console"));
    let Ok(console) = console else { return };
    let f = js_sys::Reflect::get(&console, &JsValue::from_str("warn"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(f) = f {
        let _ = f.call1(&console, &JsValue::from_str(text));
    }
}

/// Rebuild the (just reset) verifier for the stored chain `cursor`: from the snapshot when it
/// fits, then the stored events above it. A stored copy that fails verification is cleared
/// (`cursor` reset) and the round fails with why, as before.
pub(super) async fn resume(
    report: &Callback<Msg>,
    storage: &Storage,
    bridge: &Bridge,
    cursor: &mut SyncHead,
) -> Result<u64, RoundError> {
    let from = restore(report, storage, bridge, cursor).await?;
    replay_from(report, storage, bridge, cursor, from).await?;
    Ok(from)
}

/// Restore the worker from the stored snapshot; the height restored (0: none, replay all).
async fn restore(
    report: &Callback<Msg>,
    storage: &Storage,
    bridge: &Bridge,
    cursor: &SyncHead,
) -> Result<u64, RoundError> {
    let record = storage
        .chain_snapshot()
        .await
        .map_err(|e| SnapshotRefused::Unreadable(e.to_string()));
    let meta = match &record {
        Ok(Some(r)) => read_meta(r).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e.clone()),
    };
    // The one stored event the snapshot must end with (never every record).
    let at_height = match &meta {
        Ok(Some(m)) if m.count >= 1 && m.count <= cursor.count => {
            storage.event_text(m.count - 1).await.ok().flatten()
        }
        _ => None,
    };
    let why = match plan(meta.clone(), cursor, |_| at_height) {
        ResumePlan::Full { why } => why,
        ResumePlan::Restore { from } => {
            let (Ok(Some(record)), Ok(Some(meta))) = (record, meta) else {
                return Ok(0);
            };
            // The record (MBs) goes as bytes beside the request, never JSON-escaped.
            let ans = bridge
                .call_with_text(ToWorker::restore(bridge.next_id(), String::new()), &record)
                .await
                .map_err(RoundError::Worker)?;
            match check_restored(&meta, &ans) {
                Ok(()) => {
                    // The next record stored carries only the ids above its full segments.
                    storage.snapshot_restored(&meta);
                    report.emit(Msg::Verified(ans));
                    report.emit(Msg::Resumed(from));
                    return Ok(from);
                }
                Err(e) => {
                    bridge
                        .call(ToWorker::reset(bridge.next_id()))
                        .await
                        .map_err(RoundError::Worker)?;
                    Some(e)
                }
            }
        }
    };
    if let Some(e) = why {
        warn(&format!(
            "Postern: the stored chain-verifier snapshot was not used ({e}); re-verifying the {} stored events",
            cursor.count
        ));
    }
    Ok(0)
}

/// Replay the stored events `from..cursor.count` through the verifier, one range at a time.
async fn replay_from(
    report: &Callback<Msg>,
    storage: &Storage,
    bridge: &Bridge,
    cursor: &mut SyncHead,
    from: u64,
) -> Result<(), RoundError> {
    let storage_err = |e: crate::platform::idb::StorageError| RoundError::Storage(e.to_string());
    let mut start = from;
    while start < cursor.count {
        let end = cursor.count.min(start + REPLAY_CHUNK);
        let texts = storage
            .event_texts_range(start, end)
            .await
            .map_err(storage_err)?;
        let got = texts.len() as u64;
        let ans = bridge
            .call(ToWorker::replay(bridge.next_id(), texts, now_secs()))
            .await
            .map_err(RoundError::Worker)?;
        let mut err = ans.error.clone();
        report.emit(Msg::Verified(ans));
        if err.is_none() && got != end - start {
            err = Some(Rejected {
                index: start + got,
                event_id: String::new(),
                reason: "malformed_page".into(),
                detail: format!("stored event #{} is missing", start + got),
                incomplete: None,
            });
        }
        if let Some(r) = err {
            // The stored copy is bad: drop it and sync again from genesis.
            storage.clear_events().await.map_err(storage_err)?;
            bridge
                .call(ToWorker::reset(bridge.next_id()))
                .await
                .map_err(RoundError::Worker)?;
            report.emit(Msg::Reset);
            *cursor = SyncHead {
                scheduler: cursor.scheduler.clone(),
                ..SyncHead::default()
            };
            return Err(RoundError::Invalid(Rejected {
                detail: format!(
                    "stored copy failed verification ({}); cleared, syncing again",
                    r.detail
                ),
                ..r
            }));
        }
        start = end;
    }
    Ok(())
}

/// After a page that brought the verifier to `verified` events: its snapshot record when
/// `SNAPSHOT_EVERY` events passed since `*last` (then `*last` moves on). Asked before the next
/// page is verified, so it covers exactly the events of the pages handed to the store so far.
pub(super) async fn snapshot_due(
    bridge: &Bridge,
    storage: &Storage,
    verified: u64,
    last: &mut u64,
) -> Option<String> {
    if verified < last.saturating_add(SNAPSHOT_EVERY) {
        return None;
    }
    let record = take_snapshot(bridge, storage, verified).await?;
    *last = verified;
    Some(record)
}

/// The verifier's snapshot record, if it holds exactly `count` events, carrying the ids above
/// those `storage` holds in full segments (stored records are written one after another, so
/// that is still so when this one is stored).
pub(super) async fn take_snapshot(
    bridge: &Bridge,
    storage: &Storage,
    count: u64,
) -> Option<String> {
    let from = storage.snapshot_ids_stored();
    let ans = bridge
        .call(ToWorker::snapshot(bridge.next_id(), from))
        .await
        .ok()?;
    (ans.verified == count && count > 0)
        .then_some(ans.snapshot)
        .flatten()
}

/// Store a snapshot record taken earlier (called once the events it covers committed). A
/// failed write only costs a longer replay on the next start.
pub(super) async fn store(storage: &Storage, record: Option<String>) {
    if let Some(r) = record {
        if let Err(e) = storage.put_chain_snapshot(r).await {
            warn(&format!("Postern: chain-verifier snapshot not stored: {e}"));
        }
    }
}

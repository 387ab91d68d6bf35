//! One sync round of the chain view: resume the verifier from IndexedDB when needed (`super::resume`), page
//! through the relay's chain in units of up to two pages (each unit's write overlapped with
//! fetching and verifying the next), follow a fork heal above what the relay signed, and
//! compare Merkle roots.
use std::future::Future;
use std::pin::Pin;

use futures_util::future::join;
use postern_core::api::infonet::{
    MerkleResponse, StatusResponse, PATH_MERKLE, PATH_STATUS, PATH_SYNC,
};
use yew::Callback;

use super::fetch::{get_json, post_text, RoundError};
use super::msg::{Msg, RelayInfo, SYNC_CONFIG};
use super::resume;
use super::worker::{Bridge, UnitWorkers};
use crate::model::chain::resync::{
    count_through, locator_request, read_answer, rewind_keep, Resync,
};
use crate::model::chain::unit::{verify_unit, Unit};
use crate::model::chain::{compare_merkle, MerkleCheck, SyncHead, ToWorker, PAGE_LIMIT};
use crate::platform::clock::{next_task, now_secs};
use crate::platform::idb::Storage;

/// The relay does not hold our head: ask with the verified copy's locator. A fork heal above
/// what the relay signed is followed (the copy cut back to the match point: `Rewound`);
/// anything else fails the round with what the answer says (nothing is stored; retried on the
/// failure schedule).
async fn resync(storage: &Storage, bridge: &Bridge, cursor: &mut SyncHead) -> RoundError {
    let ours = cursor.head.clone();
    let locator = match bridge.call(ToWorker::locator(bridge.next_id())).await {
        Ok(a) => a.locator,
        Err(e) => return RoundError::Worker(e),
    };
    let text = match post_text(PATH_SYNC, &locator_request(locator)).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let r = match read_answer(&text, &ours) {
        Ok(r) => r,
        Err(detail) => {
            return RoundError::Http {
                status: 200,
                retry_after_s: 0,
                detail,
            }
        }
    };
    let failed = RoundError::Resync {
        fork: r.is_fork(),
        reason: r.reason(&ours),
    };
    let matched = match &r {
        Resync::Diverged { matched, .. } => matched.clone(),
        _ => String::new(),
    };
    let (Ok((settled, signed)), Ok(texts)) = (
        super::heads::settled(storage).await,
        storage.event_texts().await,
    ) else {
        return failed;
    };
    let Some(keep) = rewind_keep(&r, count_through(&texts, &matched), settled) else {
        return failed;
    };
    let head = if keep == 0 { String::new() } else { matched };
    let next = SyncHead {
        count: keep,
        head,
        scheduler: cursor.scheduler.clone(),
    };
    let from = texts.len() as u64;
    if let Err(e) = storage.truncate_events(&next).await {
        return RoundError::Storage(e.to_string());
    }
    *cursor = next;
    RoundError::Rewound {
        kept: keep,
        from,
        signed,
    }
}

/// One sync round. Returns the cursor to keep (scheduler finished ok or with an error).
pub(super) async fn round(
    report: &Callback<Msg>,
    storage: &Storage,
    bridge: &Bridge,
    mut cursor: SyncHead,
    replay: bool,
) -> Result<(SyncHead, MerkleCheck), (SyncHead, RoundError)> {
    let mut result = round_inner(report, storage, bridge, &mut cursor, replay).await;
    if let Err(e @ RoundError::Rewound { .. }) = &result {
        // The copy was cut back to where the relay's healed chain leaves it: say so, verify
        // what is kept again and sync on at once (once per round).
        report.emit(Msg::Rewound(e.reason()));
        result = round_inner(report, storage, bridge, &mut cursor, true).await;
    }
    // Even after a refused page: the relay's signed head is checked against what we verified.
    if !matches!(result, Err(RoundError::Unreachable(_))) {
        if let Ok((v, rec)) = super::heads::check(storage, bridge, cursor.count).await {
            report.emit(Msg::Head(v, rec));
        }
    }
    let now = now_secs();
    let out = match result {
        Ok((merkle, head)) => {
            cursor.scheduler = cursor
                .scheduler
                .finish_ok(&SYNC_CONFIG, "", &head, false, now);
            Ok((cursor.clone(), merkle))
        }
        Err(e) => {
            let retry = match &e {
                RoundError::Http { retry_after_s, .. } => *retry_after_s,
                _ => 0,
            };
            let fork = matches!(&e, RoundError::Resync { fork: true, .. });
            cursor.scheduler =
                cursor
                    .scheduler
                    .finish_err(&SYNC_CONFIG, "", &e.reason(), fork, retry, now);
            Err((cursor.clone(), e))
        }
    };
    // The scheduler state survives reloads (a pending Retry-After is honoured).
    let _ = storage.put_sync_head(&cursor).await;
    out
}

/// A page's IndexedDB write in flight; gives the cursor its commit moves to.
type PageWrite<'a> = Pin<Box<dyn Future<Output = Result<SyncHead, RoundError>> + 'a>>;

async fn round_inner(
    report: &Callback<Msg>,
    storage: &Storage,
    bridge: &Bridge,
    cursor: &mut SyncHead,
    replay: bool,
) -> Result<(MerkleCheck, String), RoundError> {
    let worker = |e: String| RoundError::Worker(e);
    // Height of the stored snapshot as far as this round knows (a new one is due every
    // `SNAPSHOT_EVERY` events above it and at the end of the round).
    let mut snap_at = cursor.count;
    if replay {
        // Resume: the verifier restores its stored snapshot and replays only the stored
        // events above it (all of them when there is none or it does not fit).
        report.emit(Msg::Phase("verifying stored chain"));
        bridge
            .call(ToWorker::reset(bridge.next_id()))
            .await
            .map_err(worker)?;
        report.emit(Msg::Reset);
        snap_at = resume::resume(report, storage, bridge, cursor).await?;
    }
    report.emit(Msg::Phase("asking relay"));
    let status: StatusResponse = get_json(PATH_STATUS).await?;
    report.emit(Msg::Relay(RelayInfo {
        reachable: true,
        total: status.total_events,
        head: status.head_hash_full.clone(),
        merkle_root: String::new(),
    }));
    // Pipelined: while unit k is written to IndexedDB, unit k+1 is fetched and verified (its
    // first page's `after_hash` is unit k's verified head). Writes stay in order, and the
    // cursor moves only once a write has committed.
    let mut after = if cursor.count == 0 {
        String::new()
    } else {
        cursor.head.clone()
    };
    let mut writing: Option<PageWrite<'_>> = None;
    let io = UnitWorkers(bridge);
    loop {
        report.emit(Msg::Phase("syncing + verifying"));
        // One or two pages (`model::chain::unit`), verified while the last unit is written.
        let fetched = verify_unit(&io, &after, now_secs());
        let unit = match writing.take() {
            Some(w) => {
                let (written, unit) = join(w, fetched).await;
                *cursor = written?;
                unit?
            }
            None => fetched.await?,
        };
        let Unit {
            answer: mut ans,
            next,
            last_received,
        } = unit;
        if ans.unknown_after_hash {
            report.emit(Msg::Phase("resyncing with a locator"));
            return Err(resync(storage, bridge, cursor).await);
        }
        if !ans.accepted.is_empty() {
            // The accepted texts as the worker wrote them (one page container), stored as is
            // (cut into page records of `PAGE_MAX` from `first`).
            let first = ans.accepted[0].index;
            let page = ans
                .page
                .take()
                .ok_or_else(|| worker("the answer carries no event texts".into()))?;
            let next = SyncHead {
                count: ans.verified,
                head: ans.head.clone(),
                scheduler: cursor.scheduler.clone(),
            };
            after = ans.head.clone();
            // Taken now (the verifier is at this unit), stored once the unit committed.
            let snapshot = match ans.error {
                None => resume::snapshot_due(bridge, storage, ans.verified, &mut snap_at).await,
                Some(_) => None,
            };
            writing = Some(Box::pin(async move {
                // Sealed in a task of its own, not in the one that read the worker's answer.
                next_task().await;
                let written = storage
                    .append_page(first, &page, &next)
                    .await
                    .map(|()| next)
                    .map_err(|e| RoundError::Storage(e.to_string()));
                if written.is_ok() {
                    resume::store(storage, snapshot).await;
                }
                written
            }));
        }
        let err = ans.error.clone();
        report.emit(Msg::Verified(ans));
        if let Some(r) = err {
            if let Some(w) = writing.take() {
                *cursor = w.await?;
            }
            return Err(RoundError::Invalid(r));
        }
        if let Some(next) = next {
            // The second page, answered on its own after the first (it carries no events):
            // handled once the first is stored.
            if let Some(w) = writing.take() {
                *cursor = w.await?;
            }
            let b = next?;
            if b.unknown_after_hash {
                report.emit(Msg::Phase("resyncing with a locator"));
                return Err(resync(storage, bridge, cursor).await);
            }
            let err = b.error.clone();
            report.emit(Msg::Verified(b));
            if let Some(r) = err {
                return Err(RoundError::Invalid(r));
            }
        }
        if (last_received as usize) < PAGE_LIMIT {
            break;
        }
    }
    if let Some(w) = writing.take() {
        *cursor = w.await?;
    }
    if cursor.count > snap_at {
        let record = resume::take_snapshot(bridge, storage, cursor.count).await;
        resume::store(storage, record).await;
    }
    report.emit(Msg::Phase("comparing Merkle root"));
    let relay: MerkleResponse = get_json(PATH_MERKLE).await?;
    let local = bridge
        .call(ToWorker::root(bridge.next_id()))
        .await
        .map_err(worker)?;
    let local_root = local.merkle_root.unwrap_or_default();
    report.emit(Msg::Relay(RelayInfo {
        reachable: true,
        total: relay.count,
        head: relay.head_hash.clone(),
        merkle_root: relay.merkle_root.clone(),
    }));
    Ok((
        compare_merkle(&local_root, local.verified, &relay.merkle_root, relay.count),
        local.head,
    ))
}

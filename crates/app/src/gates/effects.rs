//! The I/O of the gates panel: IndexedDB reads and writes and signed relay requests (gate
//! list, epochs, messages, publish, post); each async effect answers with one [`Action`].
use std::rc::Rc;

use postern_core::gate::{create_genesis, EpochRecord, GateId};
use postern_core::Identity;
use rand_core::OsRng;

use super::state::{Action, Compose, Discovered, DrainKey, Effect, GateRt, Streams, SyncOut};
use crate::model::delivery::{is_permanent_gate_post_error, RelayError};
use crate::model::gate_pin::{check_pin, sealed_while_current};
use crate::model::gate_stream::{admit, rebuild};
use crate::model::gates::{decode_outbox, derive, opened, QueuedPost, StoredGate};
use crate::platform::clock::{now_millis, now_secs};
use crate::platform::idb::Storage;
use crate::platform::{dom, relay_client as relay};

/// Messages fetched per page, pages per gate per round.
const PAGE: u32 = 100;
const MAX_PAGES: usize = 5;

/// Run one async effect (`Post` is the component's).
pub async fn run(effect: Effect, storage: Rc<Storage>, me: Rc<Identity>) -> Option<Action> {
    Some(match effect {
        Effect::Reload(gen) => {
            let queued = read_outbox(&storage).await;
            Action::Loaded(gen, load(storage).await, queued)
        }
        Effect::Drain(keys, hold) => Action::Drained(drain(&storage, &keys, &hold).await),
        Effect::Sync { jobs, skip, queued } => {
            let found = discover(me.clone(), skip).await;
            let mut out = Vec::new();
            for (meta, pinned, streams) in jobs {
                let id = meta.gate_id.clone();
                let r = sync_gate(storage.clone(), me.clone(), meta, &pinned, &streams).await;
                if let Ok(o) = &r {
                    // Queued posts the relay already has are settled.
                    for n in o.seen.iter().filter(|n| queued.contains(n)) {
                        let _ = storage.delete_gate_post(n).await;
                    }
                }
                out.push(r.map_err(|e| (id, e)));
            }
            Action::Synced(out, found)
        }
        Effect::StoreGate { meta, records } => {
            for r in &records {
                let _ = storage.put_gate_epoch(r).await;
            }
            let _ = storage.put_gate(&meta).await;
            Action::Stored
        }
        Effect::Create(name) => Action::Created(create(&storage, &me, name).await),
        Effect::Publish(rec) => Action::Rotated(match rec {
            Ok(rec) => relay::gate_publish_epoch(rec)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        }),
        Effect::SealPost(c) => Action::PostQueued(queue_post(&storage, &me, c).await),
        Effect::Requeue { drop, put } => {
            let stored = match &put {
                Some(p) => match serde_json::to_string(p) {
                    Ok(j) => storage.put_gate_post(&p.message.nonce, j).await.is_ok(),
                    Err(_) => false,
                },
                None => true,
            };
            // The old copy goes only once its replacement is stored.
            if stored {
                let _ = storage.delete_gate_post(&drop).await;
            }
            Action::Queued(stored)
        }
        Effect::Copy(code) => {
            let ok = dom::copy_to_clipboard(code).await;
            Action::Copied(ok || dom::select_and_copy("gate-invite-code"))
        }
        Effect::Post(_) => return None,
    })
}

/// Seal a composed post under my next counter of its gate and store it (one transaction).
async fn queue_post(storage: &Storage, me: &Identity, c: Compose) -> Result<QueuedPost, String> {
    let Compose {
        gate,
        body,
        timestamp,
        queued_at,
        derived,
        seen,
    } = c;
    storage
        .queue_counted_gate_post(&gate, seen, |counter| {
            let message = derived
                .keyring
                .seal_counted(me, body.as_bytes(), timestamp, counter, &mut OsRng)
                .map_err(|e| format!("could not seal: {e}"))?;
            Ok(QueuedPost {
                gate: gate.clone(),
                message,
                queued_at,
            })
        })
        .await
}

/// The stored gate outbox (one `meta` record per queued post), oldest first.
pub async fn read_outbox(s: &Storage) -> Vec<QueuedPost> {
    decode_outbox(&s.gate_posts().await.unwrap_or_default())
}

async fn load(storage: Rc<Storage>) -> Vec<GateRt> {
    let metas = storage.gates().await.unwrap_or_default();
    let records = storage.gate_epochs().await.unwrap_or_default();
    let msgs = storage.gate_messages().await.unwrap_or_default();
    metas
        .into_iter()
        .map(|meta| {
            let recs: Vec<EpochRecord> = records
                .iter()
                .filter(|r| r.gate == meta.gate_id)
                .cloned()
                .collect();
            let mut messages = Vec::new();
            for m in msgs.iter().filter(|m| m.gate == meta.gate_id) {
                crate::model::gate_stream::insert(&mut messages, m.clone());
            }
            GateRt {
                streams: Streams::new(rebuild(&messages).into()),
                messages,
                records: recs,
                derived: None,
                error: None,
                meta,
            }
        })
        .collect()
}

/// Create a gate: genesis (core), publish it, store the entry and the record.
async fn create(
    storage: &Storage,
    me: &Identity,
    name: String,
) -> Result<(StoredGate, EpochRecord), String> {
    let gid = GateId::generate(&mut OsRng);
    let rec = create_genesis(me, &gid, now_secs(), &mut OsRng).map_err(|e| e.to_string())?;
    let resp = relay::gate_publish_epoch(rec.clone())
        .await
        .map_err(|e| e.to_string())?;
    let meta = StoredGate {
        gate_id: gid.to_string(),
        name,
        genesis_hash: resp.genesis_hash,
        after: 0,
        added_at: now_millis(),
        alarm: None,
        hidden: Default::default(),
        invited_by: None,
    };
    storage.put_gate(&meta).await.map_err(|e| e.to_string())?;
    storage
        .put_gate_epoch(&rec)
        .await
        .map_err(|e| e.to_string())?;
    Ok((meta, rec))
}

/// Send every stored queued post, oldest first; stop at the first unreachable answer. A
/// settled post's record is deleted (and a sent one's opened message stored) before returning.
async fn drain(
    storage: &Storage,
    keys: &[DrainKey],
    hold: &[String],
) -> Vec<super::state::DrainResult> {
    let mut out = Vec::new();
    for p in read_outbox(storage).await {
        let behind = keys
            .iter()
            .find(|(g, _, _)| *g == p.gate)
            .is_some_and(|(_, d, _)| p.message.epoch < d.head().number());
        if hold.contains(&p.gate) || behind {
            // Alarmed gate: not sent. Sealed before a rotation: the sync re-seals it.
            continue;
        }
        let r = relay::gate_post_message(&p.message).await.map(|r| r.seq);
        let nonce = p.message.nonce.clone();
        let mut stored = None;
        match &r {
            Ok(seq) => {
                // Judged by the gate's streams like any message (left out when a sync round
                // has already read it from the relay).
                stored = keys
                    .iter()
                    .find(|(g, _, _)| *g == p.gate)
                    .and_then(|(_, d, s)| {
                        let m = opened(&p.gate, *seq, d, &p.message)?;
                        admit(&mut s.borrow_mut(), m).ok()
                    });
                if let Some(m) = &stored {
                    let _ = storage.put_gate_message(m).await;
                }
                let _ = storage.delete_gate_post(&nonce).await;
            }
            Err(e) if is_permanent_gate_post_error(e) => {
                let _ = storage.delete_gate_post(&nonce).await;
            }
            Err(_) => {}
        }
        let stop = matches!(r, Err(RelayError::Unreachable(_)));
        out.push((nonce, r, stored));
        if stop {
            break;
        }
    }
    out
}

/// Fetch the chain (signed read), verify it with core, persist it, then fetch, open and
/// persist new messages.
async fn sync_gate(
    storage: Rc<Storage>,
    me: Rc<Identity>,
    mut meta: StoredGate,
    pinned: &[[u8; 32]],
    streams: &Streams,
) -> Result<SyncOut, String> {
    let resp = relay::gate_epochs(&me, &meta.gate_id)
        .await
        .map_err(|e| e.to_string())?;
    let records = resp.records;
    let derived = derive(&me, &meta.gate_id, &meta.genesis_hash, &records)?;
    if let Err(alarm) = check_pin(pinned, &derived) {
        // A rollback or a fork: keep the pinned chain, store the alarm, read no messages.
        meta.alarm = Some(alarm);
        storage.put_gate(&meta).await.map_err(|e| e.to_string())?;
        return Ok(SyncOut {
            gate_id: meta.gate_id.clone(),
            meta,
            records: None,
            new_messages: Vec::new(),
            seen: Vec::new(),
        });
    }
    meta.alarm = None;
    for r in records.iter().skip(pinned.len().min(records.len())) {
        storage.put_gate_epoch(r).await.map_err(|e| e.to_string())?;
    }
    let mut new_messages = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = relay::gate_messages(&me, &meta.gate_id, meta.after, PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let n = page.messages.len();
        for sm in page.messages {
            seen.push(sm.message.nonce.clone());
            // Identified by nonce and judged once by the gate's streams: a message served
            // again (under any seq) or a used counter is not stored or shown.
            // Hidden ones are counted with the gate (a replay, a reused counter, a post
            // sealed for an epoch already replaced) and said under its conversation.
            let shown = match opened(&meta.gate_id, sm.seq, &derived, &sm.message) {
                Some(m) if !sealed_while_current(&derived, m.epoch, m.timestamp) => {
                    meta.hidden.stale = meta.hidden.stale.saturating_add(1);
                    None
                }
                Some(m) => admit(&mut streams.borrow_mut(), m)
                    .map_err(|why| why.count(&mut meta.hidden))
                    .ok(),
                None => None,
            };
            if let Some(m) = shown {
                storage
                    .put_gate_message(&m)
                    .await
                    .map_err(|e| e.to_string())?;
                new_messages.push(m);
            }
        }
        meta.after = page.next_after.max(meta.after);
        if n < PAGE as usize {
            break;
        }
    }
    storage.put_gate(&meta).await.map_err(|e| e.to_string())?;
    Ok(SyncOut {
        gate_id: meta.gate_id.clone(),
        meta,
        records: Some(records),
        new_messages,
        seen,
    })
}

/// Ask the relay which gates list me (signed `gate.list`), and for each one not in `skip`
/// fetch its chain (signed `gate.read`) and verify it with core against the listed genesis.
/// A listing or chain that fails is skipped: nothing is offered that core did not verify.
/// `None` when the listing itself failed (pending invitations are then kept as they are).
async fn discover(me: Rc<Identity>, skip: Vec<String>) -> Option<Vec<Discovered>> {
    let Ok(mine) = relay::gate_mine(&me).await else {
        return None;
    };
    let mut out = Vec::new();
    for g in mine.gates {
        if !g.current_member || skip.contains(&g.gate) {
            continue;
        }
        let Ok(resp) = relay::gate_epochs(&me, &g.gate).await else {
            continue;
        };
        if let Ok(d) = derive(&me, &g.gate, &g.genesis_hash, &resp.records) {
            out.push(Discovered {
                gate_id: g.gate,
                genesis_hash: g.genesis_hash,
                records: resp.records,
                derived: Rc::new(d),
            });
        }
    }
    Some(out)
}

//! Batch ingest of events pushed by a peer or pulled from one: [`Prepared::new`] does the CPU
//! work of a batch without the chain (parse, canonical form, event ids, stored JSON, and the
//! signatures and ids checked in batches by core's `first_crypto_failure`, on both cores), then
//! [`Chain::push_prepared`] applies the sequential rules under the chain's lock (core's
//! `ChainState::ingest_prechecked`, the same verdicts as `ChainState::ingest` event by event)
//! and stores the accepted events in one transaction.
use std::collections::HashSet;

use postern_core::api::infonet::codes as icodes;
use postern_core::api::peer::codes as pcodes;
use postern_core::canonical::GENESIS_HASH;
use postern_core::event::{ChainEvent, EventError};
use postern_core::json::Value;
use postern_core::verify::{
    first_crypto_failure_known_ids, verify_key_rotation_claim, FailReason, KeyCache, VerifyOptions,
};

use super::{load, Chain, Healed, PushOutcome, PushRefusal, Refusal, RefusalKind};
use crate::service::Internal;
use crate::store::{NewChainEvent, StoreError};

/// Below this many events per thread a batch is prepared on one thread.
const MIN_EVENTS_PER_THREAD: usize = 16;

/// Decoded author keys kept across pushed batches, one cache per preparing thread (taken for
/// a part, given back after): an author's key is decoded and checked (canonical, prime order)
/// once, not once per 50-event batch. Only a cache: verdicts do not depend on it.
static KEY_CACHES: std::sync::Mutex<Vec<KeyCache>> = std::sync::Mutex::new(Vec::new());
/// Caches kept in [`KEY_CACHES`] (each bounded by core).
const MAX_KEY_CACHES: usize = 8;

fn take_key_cache() -> KeyCache {
    KEY_CACHES
        .lock()
        .ok()
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

fn give_back_key_cache(cache: KeyCache) {
    if let Ok(mut v) = KEY_CACHES.lock() {
        if v.len() < MAX_KEY_CACHES {
            v.push(cache);
        }
    }
}

/// A batch of pushed events, prepared for [`Chain::push_prepared`].
#[derive(Debug, Clone)]
pub struct Prepared {
    values: Vec<Value>,
    /// Canonical forms of the events before the first one without a chain-event form.
    events: Vec<ChainEvent>,
    /// Per event: its `event_id` is the computed one.
    id_ok: Vec<bool>,
    /// Per event: the JSON text stored.
    texts: Vec<String>,
    /// The refusal of event `events.len()` (not a chain event, or no canonical form).
    stop: Option<Refusal>,
    /// First event of `events` whose signature or id fails (`first_crypto_failure`).
    crypto: Option<(usize, FailReason)>,
}

/// One slice of a batch, prepared on one thread.
struct Part {
    events: Vec<ChainEvent>,
    id_ok: Vec<bool>,
    texts: Vec<String>,
    stop: Option<Refusal>,
    crypto: Option<(usize, FailReason)>,
}

fn prepare_part(values: &[Value], offset: usize) -> Part {
    prepare_events(values.iter(), offset, ChainEvent::from_value)
}

/// [`prepare_part`] of `values` read by `to_event` (borrowed, or taken: no copy of the fields).
fn prepare_events<V>(
    values: impl ExactSizeIterator<Item = V>,
    offset: usize,
    to_event: impl Fn(V) -> Result<ChainEvent, EventError>,
) -> Part {
    let mut part = Part {
        events: Vec::with_capacity(values.len()),
        id_ok: Vec::with_capacity(values.len()),
        texts: Vec::with_capacity(values.len()),
        stop: None,
        crypto: None,
    };
    for (k, v) in values.enumerate() {
        let i = offset + k;
        let evt = match to_event(v) {
            Ok(e) => e,
            Err(e) => {
                part.stop = Some(Refusal {
                    kind: RefusalKind::Invalid,
                    code: icodes::INVALID_PAYLOAD,
                    detail: format!("event {i} is not a chain event: {e}"),
                });
                break;
            }
        };
        // One byte form per event id: a copy with altered unsigned fields is stored (and
        // served) in the canonical form; one that has none is refused.
        let evt = match evt.into_canonical() {
            Ok(e) => e,
            Err(e) => {
                let r = Refusal::from_non_canonical(e);
                part.stop = Some(Refusal {
                    detail: format!("event {i}: {}", r.detail),
                    ..r
                });
                break;
            }
        };
        part.id_ok.push(evt.event_id == evt.computed_event_id());
        part.texts.push(evt.to_json_ordered());
        part.events.push(evt);
    }
    let mut keys = take_key_cache();
    // Each id was recomputed once above (`id_ok`): not hashed again.
    part.crypto = first_crypto_failure_known_ids(&part.events, &part.id_ok, &mut keys);
    give_back_key_cache(keys);
    part
}

impl Prepared {
    /// Prepare `values` on up to `threads` threads.
    pub fn new(values: Vec<Value>, threads: usize) -> Prepared {
        Self::prepare(values, threads, true)
    }

    /// [`Prepared::new`] that does not keep the events as received ([`Prepared::values`] is
    /// empty): on one thread their fields are taken, not copied, and the received trees are
    /// freed here rather than by the writer that applies the batch (a peer push: the received
    /// form is not used after preparation).
    pub fn taking(values: Vec<Value>, threads: usize) -> Prepared {
        Self::prepare(values, threads, false)
    }

    fn prepare(values: Vec<Value>, threads: usize, keep: bool) -> Prepared {
        let threads = threads.min(values.len() / MIN_EVENTS_PER_THREAD).max(1);
        if threads == 1 && !keep {
            let part = prepare_events(values.into_iter(), 0, ChainEvent::from_value_owned);
            return Prepared::from_parts(Vec::new(), vec![part]);
        }
        let chunk = values.len().div_ceil(threads).max(1);
        let parts: Vec<Part> = if threads == 1 {
            vec![prepare_part(&values, 0)]
        } else {
            std::thread::scope(|s| {
                let mut slices = values.chunks(chunk).enumerate();
                let first = slices.next();
                let workers: Vec<_> = slices
                    .map(|(n, slice)| s.spawn(move || prepare_part(slice, n * chunk)))
                    .collect();
                let mut parts: Vec<Part> = first
                    .map(|(_, slice)| prepare_part(slice, 0))
                    .into_iter()
                    .collect();
                for (n, w) in workers.into_iter().enumerate() {
                    // A worker that panicked: prepare its slice again here.
                    let offset = (n + 1) * chunk;
                    let slice = values.get(offset..).unwrap_or(&[]);
                    let slice = slice.get(..chunk.min(slice.len())).unwrap_or(&[]);
                    parts.push(w.join().unwrap_or_else(|_| prepare_part(slice, offset)));
                }
                parts
            })
        };
        Prepared::from_parts(if keep { values } else { Vec::new() }, parts)
    }

    /// The batch of `parts` (prepared slices, in order).
    fn from_parts(values: Vec<Value>, parts: Vec<Part>) -> Prepared {
        let n = parts.iter().map(|p| p.events.len()).sum();
        let mut p = Prepared {
            events: Vec::with_capacity(n),
            id_ok: Vec::with_capacity(n),
            texts: Vec::with_capacity(n),
            values,
            stop: None,
            crypto: None,
        };
        for part in parts {
            let base = p.events.len();
            if p.crypto.is_none() {
                p.crypto = part.crypto.map(|(i, r)| (base + i, r));
            }
            p.events.extend(part.events);
            p.id_ok.extend(part.id_ok);
            p.texts.extend(part.texts);
            if part.stop.is_some() {
                p.stop = part.stop;
                break;
            }
        }
        p
    }

    /// The events as received (empty when prepared by [`Prepared::taking`]).
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The `prev_hash` of the first event that is not a stored duplicate (`stored(id)`), as
    /// [`Chain::push_prepared_from`] meets it; `None` when every event is one.
    pub(super) fn first_new(
        &self,
        mut stored: impl FnMut(&str) -> Result<bool, StoreError>,
    ) -> Result<Option<&str>, StoreError> {
        for (i, evt) in self.events.iter().enumerate() {
            if self.id_ok.get(i).copied().unwrap_or(false) && stored(&evt.event_id)? {
                continue;
            }
            return Ok(Some(&evt.prev_hash));
        }
        Ok(None)
    }
}

/// [`Prepared::new`] on the blocking pool, using every core.
pub async fn prepare(values: Vec<Value>) -> Result<Prepared, Internal> {
    prepare_on(values, postern_core::parallel::default_threads()).await
}

/// [`Prepared::new`] on the blocking pool on up to `threads` threads (one: a pull prepares
/// several pages at once, each whole, so its signatures get the checks of a large batch).
pub async fn prepare_on(values: Vec<Value>, threads: usize) -> Result<Prepared, Internal> {
    tokio::task::spawn_blocking(move || Prepared::new(values, threads))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "push preparation task failed");
            Internal
        })
}

impl Chain {
    /// Ingest events pushed by an authenticated peer (or pulled from one), in order, with core
    /// verification and NO freshness window (history of any age is accepted). Events already
    /// stored are skipped; the first invalid event stops the push (the events before it stay
    /// stored). An event that does not extend the head is refused with 409 `forked`, never
    /// merged: it extends an event behind the head (a fork) or one this relay does not hold (a
    /// gap, e.g. a private event the sender withheld).
    pub fn peer_push(&mut self, events: &[Value], now: u64) -> Result<PushOutcome, StoreError> {
        let threads = postern_core::parallel::default_threads();
        self.push_prepared(&Prepared::new(events.to_vec(), threads), now)
    }

    /// [`Chain::peer_push`] of a prepared batch: the accepted events are stored in one
    /// transaction (also when a later event is refused; inside a round, a savepoint of the
    /// round's transaction, committed with it: `round`). On a storage failure nothing of the
    /// batch is stored and the in-memory chain is reloaded from the database.
    pub fn push_prepared(&mut self, p: &Prepared, now: u64) -> Result<PushOutcome, StoreError> {
        self.push_prepared_from(p, now, None)
    }

    /// [`Chain::push_prepared`] of events pushed by or pulled from `peer` (its normalised URL):
    /// forks they meet are counted for that peer too ([`Chain::peer_fork_stats`]).
    pub fn push_prepared_from(
        &mut self,
        p: &Prepared,
        now: u64,
        peer: Option<&str>,
    ) -> Result<PushOutcome, StoreError> {
        let (mut accepted, mut duplicates) = (0u64, 0u64);
        let mut crypto = p.crypto;
        let mut fresh: Vec<usize> = Vec::new();
        let mut fresh_ids: HashSet<&str> = HashSet::new();
        let opts = VerifyOptions {
            now,
            max_event_age_s: 0,
            batch: false,
        };
        let mut refused: Option<(usize, Refusal)> = None;
        let mut missing: Option<String> = None;
        let mut i = 0usize;
        while let Some(evt) = p.events.get(i) {
            let refuse = |kind: RefusalKind, code: &'static str, detail: String| {
                Some((i, Refusal { kind, code, detail }))
            };
            // Stored already? The in-memory state holds exactly the stored chain (loading
            // refuses a stored event it would not accept; a failed write reloads it) plus this
            // batch's `fresh` events: its id index answers without a query (and the SQLite read
            // transaction and file locks of one) per event.
            let stored = |c: &Chain| {
                fresh_ids.contains(evt.event_id.as_str())
                    || c.loaded.state.position(&evt.event_id).is_some()
            };
            if p.id_ok.get(i).copied().unwrap_or(false) && stored(self) {
                duplicates += 1;
                if matches!(crypto, Some((c, _)) if c == i) {
                    // The skipped copy was the first failure: check what follows it.
                    let rest = p.events.get(i + 1..).unwrap_or(&[]);
                    let mut keys = take_key_cache();
                    let ids = p.id_ok.get(i + 1..).unwrap_or(&[]);
                    crypto = first_crypto_failure_known_ids(rest, ids, &mut keys)
                        .map(|(j, r)| (i + 1 + j, r));
                    give_back_key_cache(keys);
                }
                i += 1;
                continue;
            }
            if evt.prev_hash != self.loaded.state.head() {
                let in_batch = fresh_ids.contains(evt.prev_hash.as_str());
                if !in_batch && self.holds(&evt.prev_hash)? {
                    // A fork from a stored event: core's rule decides (see `heal`). What this
                    // batch added so far is stored first; the healed chain replaces the rest.
                    self.persist_batch(p, &fresh, now)?;
                    fresh.clear();
                    fresh_ids.clear();
                    let run = p
                        .events
                        .get(i..crypto.map_or(p.events.len(), |(c, _)| c.max(i)));
                    match self.heal(run.unwrap_or_default(), now, peer)? {
                        Healed::Adopted { taken, .. } if taken > 0 => {
                            accepted += taken as u64;
                            i += taken;
                            continue;
                        }
                        Healed::Adopted { .. } | Healed::Kept => {
                            refused = refuse(
                                RefusalKind::Conflict,
                                pcodes::FORKED,
                                format!(
                                    "event {i} forks from this relay's chain and this relay's \
                                     branch wins (smaller first event id): pull and adopt it"
                                ),
                            );
                        }
                        Healed::Refused(why) => {
                            refused = refuse(
                                RefusalKind::Conflict,
                                pcodes::FORKED,
                                format!("event {i} forks from this relay's chain: {why}"),
                            );
                        }
                        Healed::Invalid { index, rejection } => {
                            let r = Refusal::from_rejection(rejection);
                            refused = Some((
                                i + index,
                                Refusal {
                                    detail: format!("event {}: {}", i + index, r.detail),
                                    ..r
                                },
                            ));
                        }
                    }
                    break;
                }
                let why = if in_batch {
                    "extends an event behind this relay's head"
                } else {
                    missing = Some(evt.prev_hash.clone());
                    "extends an event this relay does not hold"
                };
                refused = refuse(
                    RefusalKind::Conflict,
                    pcodes::FORKED,
                    format!("event {i} {why}; forks are never merged"),
                );
                break;
            }
            if evt.event_type == "key_rotate" {
                if let Err(r) = verify_key_rotation_claim(&evt.payload) {
                    let r = Refusal::from_rejection(r);
                    refused = refuse(r.kind, r.code, format!("event {i}: {}", r.detail));
                    break;
                }
            }
            // Signatures and ids were checked in `Prepared::new`: pass this event's failure.
            let pre = crypto.filter(|(c, _)| *c == i).map(|(_, r)| (0, r));
            let (_, rejection) =
                self.loaded
                    .state
                    .ingest_prechecked(std::slice::from_ref(evt), &opts, pre);
            if let Some(r) = rejection {
                let r = Refusal::from_rejection(r);
                refused = refuse(r.kind, r.code, format!("event {i}: {}", r.detail));
                break;
            }
            fresh.push(i);
            fresh_ids.insert(&evt.event_id);
            accepted += 1;
            i += 1;
        }
        if refused.is_none() {
            refused = p.stop.clone().map(|r| (p.events.len(), r));
        }
        self.persist_batch(p, &fresh, now)?;
        Ok(match refused {
            Some((index, refusal)) => PushOutcome::Refused(PushRefusal {
                index: index as u64,
                accepted,
                duplicates,
                refusal,
                missing,
            }),
            None => PushOutcome::Done {
                accepted,
                duplicates,
                head_hash: self.head().0,
            },
        })
    }

    /// Store events `fresh` of `p`, which the in-memory state has just ingested as its last
    /// `fresh.len()` events, in one transaction. If the write fails, the in-memory state is
    /// rebuilt from what is stored, so memory never runs ahead of disk.
    fn persist_batch(&mut self, p: &Prepared, fresh: &[usize], now: u64) -> Result<(), StoreError> {
        let first = (self.loaded.state.len() - fresh.len()) as u64;
        let rows: Vec<NewChainEvent<'_>> = fresh
            .iter()
            .zip(first..)
            .filter_map(|(&i, idx)| {
                let (evt, text) = (p.events.get(i)?, p.texts.get(i)?);
                Some(NewChainEvent {
                    idx,
                    event_id: &evt.event_id,
                    prev_hash: &evt.prev_hash,
                    event_type: &evt.event_type,
                    node_id: &evt.node_id,
                    json: text,
                })
            })
            .collect();
        if let Err(e) = self
            .store
            .chain_append_many(&rows, GENESIS_HASH, now, false)
        {
            match load(&self.store) {
                Ok(fresh) => self.loaded = fresh,
                Err(reload) => tracing::error!(error = %reload, "reloading the chain failed"),
            }
            return Err(e);
        }
        for r in &rows {
            self.loaded.stored(r.event_type, r.json);
        }
        self.maybe_checkpoint(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

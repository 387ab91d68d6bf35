//! Link-only ingest of a redaction stub of the public view (`crate::public_view`).

use super::{sequence_key, ChainState};
use crate::event::ChainEvent;
use crate::json::BigInt;
use crate::schema::LEGACY_PUBLIC_LEDGER_EVENT_TYPES;
use crate::verify::{EventRejection, FailReason, VerifyOptions};

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl ChainState {
    /// Ingest a redaction stub (a private event without payload, signature or key) as the next
    /// event, checking only what a stub carries: a private type, 64-hex `event_id` and
    /// `prev_hash`, not a duplicate, extends the head, sequence positive and above the author's
    /// last in the type's domain, and freshness when `opts` applies a window. Its signature and
    /// recomputed id cannot be checked; the state records its id, link and sequence only (no key
    /// binding, DM spool entry or revocation), so later events are judged as on the full chain
    /// except for rules that need a private payload.
    pub fn ingest_link_only(
        &mut self,
        evt: &ChainEvent,
        opts: &VerifyOptions,
    ) -> Result<(), EventRejection> {
        use FailReason::*;
        let fail = |r: FailReason, d: &str| Err(EventRejection::new(r, d));
        if !LEGACY_PUBLIC_LEDGER_EVENT_TYPES.contains(&evt.event_type.as_str()) {
            return fail(
                UnsupportedEventType,
                "a redaction stub must be a gate_message or dm_message",
            );
        }
        if !is_hex64(&evt.event_id) || !is_hex64(&evt.prev_hash) {
            return fail(
                MissingFields,
                "a redaction stub needs a 64-hex event_id and prev_hash",
            );
        }
        if self.index.contains(&self.ids, &evt.event_id) {
            return fail(DuplicateEventId, "event_id already on chain");
        }
        if evt.prev_hash != self.head() {
            return fail(PrevHashMismatch, "prev_hash does not match head");
        }
        let seq = evt.sequence_value();
        if seq <= BigInt::zero() {
            return fail(InvalidSequence, "Invalid sequence");
        }
        let skey = sequence_key(&evt.event_type, &evt.node_id);
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
            let ts = match &evt.timestamp {
                v if v.py_truthy() => v.py_int().unwrap_or_else(BigInt::zero),
                _ => BigInt::zero(),
            };
            if ts > BigInt::zero() {
                let age = ts
                    .to_i128()
                    .map(|t| (i128::from(opts.now) - t).unsigned_abs());
                if age.is_none_or(|a| a > u128::from(opts.max_event_age_s)) {
                    return fail(StaleTimestamp, "Event timestamp outside freshness window");
                }
            }
        }
        self.sequences.insert(skey, seq);
        self.index.insert(&self.ids, &evt.event_id, self.ids.len());
        self.ids.push(evt.event_id.clone());
        self.head = Some(evt.event_id.clone());
        Ok(())
    }
}

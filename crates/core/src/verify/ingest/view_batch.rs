//! Batched ingest of a public-view page: signatures and event ids checked apart from the
//! sequential rules (possibly on another thread or worker), with `ingest_view_entry`'s verdicts.

use super::{first_crypto_failure_of, ChainState, KeyCache};
use crate::event::ChainEvent;
use crate::json::Value;
use crate::public_view::{is_stub, stub_event};
use crate::verify::{EventRejection, FailReason, VerifyOptions};

/// One element of a public view, read once: a redaction stub, a full event, or not an event.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewEntry {
    Stub(ChainEvent),
    Full(ChainEvent),
    NotAnObject,
}

impl ViewEntry {
    /// Read one element as `ChainState::ingest_view_entry` does.
    pub fn read(v: &Value) -> ViewEntry {
        if is_stub(v) {
            return ViewEntry::Stub(stub_event(v));
        }
        match ChainEvent::from_value(v) {
            Ok(e) => ViewEntry::Full(e),
            Err(_) => ViewEntry::NotAnObject,
        }
    }

    /// The event (stub or full).
    pub fn event(&self) -> Option<&ChainEvent> {
        match self {
            ViewEntry::Stub(e) | ViewEntry::Full(e) => Some(e),
            ViewEntry::NotAnObject => None,
        }
    }

    pub fn is_stub(&self) -> bool {
        matches!(self, ViewEntry::Stub(_))
    }
}

/// The crypto half for a slice of a public view: the first element (index within `entries`)
/// whose signature or recomputed event id fails, as [`super::first_crypto_failure`] judges full
/// events (stubs carry neither). Scanning stops at the first element that is not an event (the
/// sequential rules refuse it). Independent of chain state: slices can be checked anywhere.
pub fn view_crypto_failure(
    entries: &[ViewEntry],
    cache: &mut KeyCache,
) -> Option<(usize, FailReason)> {
    let mut at = Vec::new();
    let mut full = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e {
            ViewEntry::Full(evt) => {
                at.push(i);
                full.push(evt);
            }
            ViewEntry::Stub(_) => {}
            ViewEntry::NotAnObject => break,
        }
    }
    let (j, reason) = first_crypto_failure_of(full, cache)?;
    at.get(j).map(|&i| (i, reason))
}

impl ChainState {
    /// Ingest public-view elements in order, given `crypto` = [`view_crypto_failure`] of all of
    /// them (computed by the caller, e.g. in halves on two workers): the same accepted prefix
    /// and first rejection (index, reason, detail) as `ingest_view_entry` on each in turn.
    pub fn ingest_view_prechecked(
        &mut self,
        entries: &[ViewEntry],
        opts: &VerifyOptions,
        crypto: Option<(usize, FailReason)>,
    ) -> (usize, Option<EventRejection>) {
        let limit = crypto.map_or(entries.len(), |(i, _)| i.min(entries.len()));
        let mut cache = std::mem::take(&mut self.keys);
        let mut out = (limit, None);
        for (i, e) in entries.iter().enumerate().take(limit) {
            let step = match e {
                ViewEntry::Stub(evt) => self.ingest_link_only(evt, opts),
                ViewEntry::Full(evt) => match self.check(evt, opts, false, true, false, &mut cache)
                {
                    Ok(_) => {
                        self.apply(evt);
                        Ok(())
                    }
                    Err(f) => Err(f.0),
                },
                ViewEntry::NotAnObject => Err(EventRejection::new(
                    FailReason::NotAnObject,
                    "Event is not an object",
                )),
            };
            if let Err(rej) = step {
                out = (i, Some(rej));
                break;
            }
        }
        if let (None, Some((i, reason)), Some(ViewEntry::Full(evt))) =
            (&out.1, crypto, entries.get(limit))
        {
            out = (
                i,
                Some(self.crypto_rejection(evt, reason, opts, &mut cache)),
            );
        }
        self.keys = cache;
        out
    }
}

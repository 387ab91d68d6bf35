//! The verifier's page ingest in batches: a page's (or a held unit of pages') signatures and
//! event ids checked together (Ed25519 batch verification, core's `view_crypto_failure`), part
//! of them on another worker (`Op::Crypto`), then core's sequential rules over them in one place
//! (`ChainState::ingest_view_prechecked`, the verdicts of `ingest_view_entry` one by one).
use postern_core::json::{self, Value};
use postern_core::public_view::{classify_pulled_refusal, is_private_type, is_stub};
use postern_core::verify::{view_crypto_failure, FailReason, ViewEntry};

use super::resync::page_says_unknown_after_hash;
use super::{options, stored_text, summary, FromWorker, Op, Pending, Rejected, ToWorker, Verifier};

/// The `events` of a raw `/sync` page body, and whether it says `unknown_after_hash`; or the
/// `malformed_page` detail. A page that says `unknown_after_hash` has no events, whatever it
/// carries: the relay does not hold our head, so nothing it sends after it is taken (a hostile
/// relay's linking events would otherwise be verified and stored before the resync).
fn read_page(body: &str) -> Result<(Vec<Value>, bool), (&'static str, String)> {
    let v =
        json::parse(body.as_bytes()).map_err(|e| ("malformed_page", format!("not JSON: {e}")))?;
    if page_says_unknown_after_hash(&v) {
        return Ok((Vec::new(), true));
    }
    match v {
        Value::Object(mut members) => {
            let at = members.iter().position(|(k, _)| k == "events");
            match at.map(|i| members.swap_remove(i).1) {
                Some(Value::Array(events)) => Ok((events, false)),
                _ => Err(("malformed_page", "no `events` array".into())),
            }
        }
        _ => Err(("malformed_page", "no `events` array".into())),
    }
}

fn to_index(i: usize) -> u64 {
    i as u64
}

impl Verifier {
    /// Verify the events of a raw `/sync` page body.
    pub fn page(&mut self, id: u32, body: &str, now: u64) -> FromWorker {
        let mut out = self.answer(id);
        self.pending = None;
        match read_page(body) {
            Ok((values, unknown)) => {
                out.unknown_after_hash = unknown;
                self.ingest_values(&mut out, &values, now, true);
            }
            Err((reason, detail)) => self.reject(&mut out, reason, detail),
        }
        out.verified = self.len();
        out.head = self.head().to_string();
        out
    }

    /// Ingest parsed elements of the public view in order, every check done here.
    pub(super) fn ingest_values(
        &mut self,
        out: &mut FromWorker,
        values: &[Value],
        now: u64,
        keep_json: bool,
    ) {
        let entries: Vec<ViewEntry> = values.iter().map(ViewEntry::read).collect();
        let crypto = view_crypto_failure(&entries, &mut self.keys);
        self.ingest_checked(out, values, &entries, crypto, now, keep_json);
    }

    /// The sequential rules over `entries` (read from `values`), given `crypto` =
    /// `view_crypto_failure` of all of them; stops at the first refusal.
    fn ingest_checked(
        &mut self,
        out: &mut FromWorker,
        values: &[Value],
        entries: &[ViewEntry],
        crypto: Option<(usize, FailReason)>,
        now: u64,
        keep_json: bool,
    ) {
        out.received = to_index(values.len());
        let start = self.len();
        let (n, rejected) = self
            .state
            .ingest_view_prechecked(entries, &options(now), crypto);
        for (k, (v, e)) in values.iter().zip(entries).take(n).enumerate() {
            let Some(evt) = e.event() else { continue };
            let private = is_private_type(&evt.event_type);
            self.sealed += u64::from(private);
            let json = keep_json.then(|| stored_text(v, private));
            out.accepted.push(summary(start + to_index(k), evt, json));
        }
        if let (Some(r), Some(v)) = (rejected, values.get(n)) {
            // A gap or a redacted payload: the relay served a view it cannot verify.
            let prev = v.get("prev_hash").map(Value::py_str).unwrap_or_default();
            let incomplete = if is_stub(v) || r.reason == FailReason::NotAnObject {
                None
            } else {
                classify_pulled_refusal(v, r.reason, self.holds(&prev))
            };
            out.error = Some(Rejected {
                index: self.len(),
                event_id: v.get("event_id").map(Value::py_str).unwrap_or_default(),
                reason: r.reason.as_str().into(),
                detail: r.detail,
                incomplete,
            });
        }
        out.sealed = self.sealed;
        out.verified = self.len();
        out.head = self.head().to_string();
    }

    /// `Op::Hold` / `Op::HoldNext`: read a page and hold its events (a new unit, or after the
    /// held ones); nothing is checked yet. A page that cannot be read is refused at once and
    /// leaves the held unit as it was (`HoldNext`) or empty (`Hold`).
    pub(super) fn hold(&mut self, req: &ToWorker) -> FromWorker {
        let mut out = self.answer(req.id);
        if req.op == Op::Hold {
            self.pending = None;
        }
        match read_page(&req.body) {
            Ok((values, unknown_after_hash)) => {
                out.received = to_index(values.len());
                out.unknown_after_hash = unknown_after_hash;
                out.last = values
                    .last()
                    .and_then(|v| v.get("event_id"))
                    .map(Value::py_str)
                    .unwrap_or_default();
                let entries = values.iter().map(ViewEntry::read);
                let p = self.pending.get_or_insert_with(|| Pending {
                    values: Vec::new(),
                    entries: Vec::new(),
                    own: None,
                    checked: 0,
                    unknown_after_hash,
                    now: req.now,
                });
                p.entries.extend(entries);
                p.values.extend(values);
            }
            Err((reason, detail)) => self.reject(&mut out, reason, detail),
        }
        out
    }

    /// The held events from the first unchecked one up to `to` (exclusive) crypto-checked here.
    fn check_held(&mut self, to: usize) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        let to = to.min(p.entries.len());
        if p.own.is_none() && p.checked < to {
            p.own = view_crypto_failure(&p.entries[p.checked..to], &mut self.keys)
                .map(|(i, r)| (i + p.checked, r));
        }
        p.checked = p.checked.max(to);
    }

    /// `Op::Check`: the held events before `split` checked here (answered with the state).
    pub(super) fn check(&mut self, req: &ToWorker) -> FromWorker {
        let to = usize::try_from(req.split.unwrap_or(0)).unwrap_or(usize::MAX);
        self.check_held(to);
        self.answer(req.id)
    }

    /// `Op::Crypto` (stateless): the first crypto failure among the page's events from
    /// `split` on, as an index into the whole page.
    pub(super) fn crypto_half(&mut self, req: &ToWorker) -> FromWorker {
        let mut out = self.answer(req.id);
        match read_page(&req.body) {
            Ok((values, _)) => {
                let split = usize::try_from(req.split.unwrap_or(0)).unwrap_or(usize::MAX);
                let rest: Vec<ViewEntry> = values.iter().skip(split).map(ViewEntry::read).collect();
                out.received = to_index(values.len());
                out.crypto = view_crypto_failure(&rest, &mut self.keys)
                    .map(|(i, r)| (to_index(i.saturating_add(split)), r));
            }
            Err((reason, detail)) => self.reject(&mut out, reason, detail),
        }
        out
    }

    /// `Op::Finish`: the held unit ingested, with the other worker's crypto result for the
    /// events this worker did not check (or, `check_rest`, every one checked here).
    pub(super) fn finish(&mut self, req: &ToWorker) -> FromWorker {
        let mut out = self.answer(req.id);
        if req.check_rest {
            self.check_held(usize::MAX);
        }
        let Some(p) = self.pending.take() else {
            self.reject(
                &mut out,
                "bad_request",
                "no page is waiting for `finish`".into(),
            );
            return out;
        };
        // An index outside the other half (never sent by a working worker) refuses that half.
        let other = req.crypto.map(|(i, r)| match usize::try_from(i) {
            Ok(i) if (p.checked..p.entries.len()).contains(&i) => (i, r),
            _ => (p.checked, FailReason::InvalidSignature),
        });
        let crypto = p.own.or(other);
        out.unknown_after_hash = p.unknown_after_hash;
        self.ingest_checked(&mut out, &p.values, &p.entries, crypto, p.now, true);
        out
    }
}

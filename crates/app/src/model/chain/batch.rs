//! The verifier's page ingest in batches: a page's signatures and event ids checked together
//! (Ed25519 batch verification, core's `view_crypto_failure`), optionally the second half on
//! another worker (`Op::Crypto`), then core's sequential rules over the page in one place
//! (`ChainState::ingest_view_prechecked`, the verdicts of `ingest_view_entry` one by one).
use postern_core::json::{self, Value};
use postern_core::public_view::{classify_pulled_refusal, is_private_type, is_stub};
use postern_core::verify::{view_crypto_failure, FailReason, ViewEntry};

use super::resync::page_says_unknown_after_hash;
use super::{options, stored_text, summary, FromWorker, Pending, Rejected, ToWorker, Verifier};

/// The `events` of a raw `/sync` page body, and whether it says `unknown_after_hash`; or the
/// `malformed_page` detail.
fn read_page(body: &str) -> Result<(Vec<Value>, bool), (&'static str, String)> {
    let v =
        json::parse(body.as_bytes()).map_err(|e| ("malformed_page", format!("not JSON: {e}")))?;
    let unknown = page_says_unknown_after_hash(&v);
    match v {
        Value::Object(mut members) => {
            let at = members.iter().position(|(k, _)| k == "events");
            match at.map(|i| members.swap_remove(i).1) {
                Some(Value::Array(events)) => Ok((events, unknown)),
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

    /// `Op::Page` with `split`: read the page, check the crypto of its events before `split`
    /// and keep it for `Op::Finish` (answered with the state only; a page that cannot be read
    /// is refused at once).
    pub(super) fn page_split(&mut self, req: &ToWorker, split: u64) -> FromWorker {
        let mut out = self.answer(req.id);
        self.pending = None;
        match read_page(&req.body) {
            Ok((values, unknown_after_hash)) => {
                let entries: Vec<ViewEntry> = values.iter().map(ViewEntry::read).collect();
                let cut = usize::try_from(split)
                    .unwrap_or(usize::MAX)
                    .min(entries.len());
                let own = view_crypto_failure(&entries[..cut], &mut self.keys);
                self.pending = Some(Pending {
                    values,
                    entries,
                    own,
                    split: cut,
                    unknown_after_hash,
                    now: req.now,
                });
            }
            Err((reason, detail)) => self.reject(&mut out, reason, detail),
        }
        out
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

    /// `Op::Finish`: the pending page ingested with both halves' crypto results.
    pub(super) fn finish(&mut self, req: &ToWorker) -> FromWorker {
        let mut out = self.answer(req.id);
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
            Ok(i) if (p.split..p.entries.len()).contains(&i) => (i, r),
            _ => (p.split, FailReason::InvalidSignature),
        });
        let crypto = p.own.or(other);
        out.unknown_after_hash = p.unknown_after_hash;
        self.ingest_checked(&mut out, &p.values, &p.entries, crypto, p.now, true);
        out
    }
}

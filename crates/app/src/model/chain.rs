//! Pure parts of the chain sync view: the worker protocol, page ingest of the relay's public
//! view (core's `ChainState::ingest_view_entry`: full events with every rule, private events'
//! redaction stubs link-only), the events/s meter and the verification badge. No web APIs here.
use postern_core::api::infonet::{LOCATOR_LIMIT_DEFAULT, SYNC_LIMIT_MAX};
use postern_core::canonical::GENESIS_HASH;
use postern_core::event::ChainEvent;
use postern_core::json::{self, Value};
use postern_core::merkle::merkle_root;
use postern_core::public_view::{is_private_type, is_stub, redact, IncompleteReason};
use postern_core::tree_head::TreeHeadWire;
use postern_core::verify::{
    build_locator, ChainState, FailReason, KeyCache, VerifyOptions, ViewEntry,
};
use serde::{Deserialize, Serialize};

use super::heads::{check_head, HeadVerdict};

/// Events requested per `GET /api/mesh/infonet/sync` page (the relay's maximum).
pub const PAGE_LIMIT: usize = SYNC_LIMIT_MAX;

/// What a [`ToWorker`] request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Forget the chain (start again from genesis).
    Reset,
    /// `body` is the raw body of a `GET /api/mesh/infonet/sync` answer: verify its events as
    /// the next ones and hand back each accepted event's exact JSON for storage.
    Page,
    /// `events` are texts read back from IndexedDB (chain order): verify them again.
    Replay,
    /// Merkle root of everything accepted so far.
    Root,
    /// Locator of everything accepted so far (to resync when the relay lost our head).
    Locator,
    /// `body` is the raw body of a `GET /api/mesh/infonet/tree-head` answer: check the signed
    /// head against `pin` and the ids verified here (`model::heads::check_head`).
    Head,
    /// The verifier's state as a record to store (`snapshot`, resumed after a reload).
    Snapshot,
    /// `body` is a stored snapshot record: restore from it (refused: left empty, `error` set).
    Restore,
    /// Stateless, on a second worker: the signatures and ids of a raw page body's events from
    /// view index `split` on (answer: `crypto`, the first failure).
    Crypto,
    /// Completes the held unit ([`Op::Hold`]): its events are ingested in order, with the
    /// crypto of those before `Check`'s bound from here and of the rest from `crypto` (the
    /// other worker's `Crypto` answer, indexes in the unit) or, with `check_rest`, from here.
    Finish,
    /// `body` is a raw `/sync` page: read it and hold it as the first page of a verification
    /// unit (nothing checked yet; answer: its `received`, `last` and `unknown_after_hash`).
    Hold,
    /// `body` is the next raw page of the held unit: read it and hold it after the others.
    HoldNext,
    /// Check the signatures and ids of the held events before view index `split` (of the unit).
    Check,
}

/// A request to the verifier (the Web Worker; there is no page-thread fallback). A plain
/// struct rather than a tagged enum: its deserializer is much smaller in the wasm bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToWorker {
    pub op: Op,
    pub id: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Verifier clock (UNIX seconds).
    #[serde(default)]
    pub now: u64,
    /// [`Op::Head`]: the head pinned for this relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<TreeHeadWire>,
    /// [`Op::Head`]: the relay's consistency proof between the pin and its head, if fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<Vec<String>>,
    /// [`Op::Page`] / [`Op::Crypto`]: the view index where the two workers' halves meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<u64>,
    /// [`Op::Finish`]: the other half's first crypto failure (index in the page, reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto: Option<(u64, FailReason)>,
    /// [`Op::Finish`]: no other worker checked the rest of the unit; check it here.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_rest: bool,
}

impl ToWorker {
    fn base(op: Op, id: u32) -> Self {
        ToWorker {
            op,
            id,
            body: String::new(),
            events: Vec::new(),
            now: 0,
            pin: None,
            proof: None,
            split: None,
            crypto: None,
            check_rest: false,
        }
    }
    pub fn reset(id: u32) -> Self {
        Self::base(Op::Reset, id)
    }
    pub fn page(id: u32, body: String, now: u64) -> Self {
        ToWorker {
            body,
            now,
            ..Self::base(Op::Page, id)
        }
    }
    /// Hold a page as the first (`next` false) or next page of a verification unit.
    pub fn hold(id: u32, body: String, now: u64, next: bool) -> Self {
        let op = if next { Op::HoldNext } else { Op::Hold };
        ToWorker {
            body,
            now,
            ..Self::base(op, id)
        }
    }
    /// Check the held events before `split` here.
    pub fn check(id: u32, split: u64) -> Self {
        ToWorker {
            split: Some(split),
            ..Self::base(Op::Check, id)
        }
    }
    /// [`ToWorker::finish`] with the rest of the unit checked here (no other worker).
    pub fn finish_here(id: u32) -> Self {
        ToWorker {
            check_rest: true,
            ..Self::base(Op::Finish, id)
        }
    }
    pub fn crypto(id: u32, body: String, split: u64) -> Self {
        ToWorker {
            body,
            split: Some(split),
            ..Self::base(Op::Crypto, id)
        }
    }
    pub fn finish(id: u32, crypto: Option<(u64, FailReason)>) -> Self {
        ToWorker {
            crypto,
            ..Self::base(Op::Finish, id)
        }
    }
    pub fn replay(id: u32, events: Vec<String>, now: u64) -> Self {
        ToWorker {
            events,
            now,
            ..Self::base(Op::Replay, id)
        }
    }
    pub fn root(id: u32) -> Self {
        Self::base(Op::Root, id)
    }
    pub fn head(
        id: u32,
        body: String,
        pin: Option<TreeHeadWire>,
        proof: Option<Vec<String>>,
    ) -> Self {
        ToWorker {
            body,
            pin,
            proof,
            ..Self::base(Op::Head, id)
        }
    }
    pub fn locator(id: u32) -> Self {
        Self::base(Op::Locator, id)
    }
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// One accepted event, as the list and explorer need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    /// Position on the chain (0 = first event after genesis).
    pub index: u64,
    pub event_id: String,
    pub event_type: String,
    pub node_id: String,
    pub timestamp: f64,
    pub sequence: String,
    /// A private event (`gate_message`, `dm_message`): shown sealed, stored as its redaction
    /// stub (no payload, signature or key), verified link-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sealed: bool,
    /// Exact JSON text to store (pages only; replayed events are stored already). For a private
    /// event this is always its stub, even if the relay served more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
}

/// The first event the verifier refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub index: u64,
    pub event_id: String,
    /// Core's stable `FailReason` name (`invalid_signature`, `prev_hash_mismatch`, …), or
    /// `malformed_page` when the page itself could not be read.
    pub reason: String,
    pub detail: String,
    /// The relay served a *view* of its chain that cannot be verified (a Shadowbroker clearnet
    /// view: private events dropped, or payloads redacted), not a forged or forked chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<IncompleteReason>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The verifier's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FromWorker {
    pub id: u32,
    /// Events accepted in total (the local chain length).
    pub verified: u64,
    /// Of those, private events held as redaction stubs (verified link-only).
    #[serde(default)]
    pub sealed: u64,
    /// Local head after this request.
    pub head: String,
    /// Events in the request (accepted or not).
    pub received: u64,
    pub accepted: Vec<EventSummary>,
    #[serde(default)]
    pub error: Option<Rejected>,
    #[serde(default)]
    pub merkle_root: Option<String>,
    /// Time spent verifying this request (ms, the verifier's clock).
    #[serde(default)]
    pub busy_ms: f64,
    /// Answered from a Web Worker (not the UI thread).
    #[serde(default)]
    pub in_worker: bool,
    /// The page said its `after_hash` (our head) is not on the relay's chain
    /// ([`resync`]); it carried no events.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unknown_after_hash: bool,
    /// Locator of the accepted chain (`Op::Locator` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locator: Vec<String>,
    /// [`Op::Head`]: what the tree-head check found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_check: Option<HeadVerdict>,
    /// [`Op::Snapshot`]: the record to store ([`snapshot`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// [`Op::Crypto`]: the first event (index in the page) whose signature or id fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crypto: Option<(u64, FailReason)>,
    /// [`Op::Hold`] / [`Op::HoldNext`]: the `event_id` of the page's last element as the
    /// relay sent it (unverified: where the next page is asked from).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last: String,
    /// What follows this answer's JSON on the wire (`wire`: `page`, `snapshot` or nothing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trailer: String,
    /// The accepted events' texts as one page container (read from the trailer).
    #[serde(skip)]
    pub page: Option<String>,
}

/// A verification unit held by `Op::Hold` / `HoldNext`: its pages' events in order, the
/// first `checked` of them crypto-checked here (first failure `own`), waiting for `Op::Finish`.
struct Pending {
    values: Vec<Value>,
    entries: Vec<ViewEntry>,
    own: Option<(usize, FailReason)>,
    checked: usize,
    unknown_after_hash: bool,
    now: u64,
}

/// Incremental verifier of the relay's public view: core's ingest rules, one event after the
/// other, from genesis; redaction stubs link-only.
#[derive(Default)]
pub struct Verifier {
    state: ChainState,
    /// Accepted private events (each held as a stub).
    sealed: u64,
    /// Authors' keys for the crypto checks done here.
    keys: KeyCache,
    /// A `Page` sent with `split`, waiting for its `Finish`.
    pending: Option<Pending>,
}

fn options(now: u64) -> VerifyOptions {
    // History of any age is accepted (like a relay's peer push): the freshness window only
    // applies to live appends.
    VerifyOptions {
        now,
        max_event_age_s: 0,
        batch: true,
    }
}

fn summary(index: u64, e: &ChainEvent, json: Option<String>) -> EventSummary {
    EventSummary {
        index,
        event_id: e.event_id.clone(),
        event_type: e.event_type.clone(),
        node_id: e.node_id.clone(),
        timestamp: e.timestamp.py_float().unwrap_or(0.0),
        sequence: e.sequence_value().to_string(),
        sealed: is_private_type(&e.event_type),
        json,
    }
}

/// What is stored for an accepted element of the view: its exact JSON, or for a private event
/// its redaction stub (a relay that served a full private event publicly does not get its
/// payload into IndexedDB; the stub has the same id, link and place in the Merkle root).
fn stored_text(v: &Value, private: bool) -> String {
    if private && !is_stub(v) {
        redact(v).to_json_ordered()
    } else {
        v.to_json_ordered()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> u64 {
        self.state.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    pub fn head(&self) -> &str {
        self.state.head()
    }

    pub fn merkle_root(&self) -> String {
        merkle_root(self.state.event_ids())
    }

    /// Accepted private events (held as stubs).
    pub fn sealed(&self) -> u64 {
        self.sealed
    }

    /// Does the local chain hold `hash` (genesis included)?
    fn holds(&self, hash: &str) -> bool {
        hash == GENESIS_HASH || self.state.event_ids().iter().any(|id| id == hash)
    }

    /// An answer to request `id` carrying the verifier's state and nothing else.
    pub fn answer(&self, id: u32) -> FromWorker {
        FromWorker {
            id,
            verified: self.len(),
            sealed: self.sealed,
            head: self.head().to_string(),
            received: 0,
            accepted: Vec::new(),
            error: None,
            merkle_root: None,
            busy_ms: 0.0,
            in_worker: false,
            unknown_after_hash: false,
            locator: Vec::new(),
            head_check: None,
            snapshot: None,
            crypto: None,
            last: String::new(),
            trailer: String::new(),
            page: None,
        }
    }

    fn reject(&self, out: &mut FromWorker, reason: &str, detail: String) {
        out.error = Some(Rejected {
            index: self.len(),
            event_id: String::new(),
            reason: reason.into(),
            detail,
            incomplete: None,
        });
    }

    /// Verify stored event texts again (resume after a reload).
    pub fn replay(&mut self, id: u32, texts: &[String], now: u64) -> FromWorker {
        let mut out = self.answer(id);
        let mut values = Vec::with_capacity(texts.len());
        for t in texts {
            match json::parse(t.as_bytes()) {
                Ok(v) => values.push(v),
                Err(e) => {
                    // Verify what came before it; then report the unreadable record.
                    self.ingest_values(&mut out, &values, now, false);
                    if out.error.is_none() {
                        self.reject(
                            &mut out,
                            "malformed_page",
                            format!("stored event is not JSON: {e}"),
                        );
                    }
                    out.received = texts.len() as u64;
                    out.verified = self.len();
                    out.head = self.head().to_string();
                    return out;
                }
            }
        }
        self.ingest_values(&mut out, &values, now, false);
        out.verified = self.len();
        out.head = self.head().to_string();
        out
    }

    /// Handle one request (what the worker runs for each message).
    pub fn handle(&mut self, req: &ToWorker) -> FromWorker {
        match req.op {
            Op::Reset => {
                *self = Verifier::new();
                self.answer(req.id)
            }
            Op::Page => self.page(req.id, &req.body, req.now),
            Op::Hold | Op::HoldNext => self.hold(req),
            Op::Check => self.check(req),
            Op::Crypto => self.crypto_half(req),
            Op::Finish => self.finish(req),
            Op::Replay => self.replay(req.id, &req.events, req.now),
            Op::Snapshot | Op::Restore => self.handle_snapshot(req),
            Op::Head => {
                let mut out = self.answer(req.id);
                out.head_check = Some(check_head(
                    &req.body,
                    req.pin.as_ref(),
                    self.state.event_ids(),
                    req.proof.as_deref(),
                ));
                out
            }
            Op::Root => {
                let mut out = self.answer(req.id);
                out.merkle_root = Some(self.merkle_root());
                out
            }
            Op::Locator => {
                let mut out = self.answer(req.id);
                out.locator = build_locator(self.state.event_ids(), LOCATOR_LIMIT_DEFAULT);
                out
            }
        }
    }
}

/// State of the Merkle comparison with the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerkleCheck {
    /// Not compared yet.
    Pending,
    /// Local root over `count` events equals the relay's.
    Match { root: String, count: u64 },
    /// Same length, different root.
    Mismatch {
        local: String,
        relay: String,
        count: u64,
    },
    /// The relay answered for a different length (it moved on); compared next round.
    Stale { local_count: u64, relay_count: u64 },
}

/// Compare the locally computed root with the relay's `/merkle` answer.
pub fn compare_merkle(
    local_root: &str,
    local_count: u64,
    relay_root: &str,
    relay_count: u64,
) -> MerkleCheck {
    if relay_count != local_count {
        MerkleCheck::Stale {
            local_count,
            relay_count,
        }
    } else if local_root == relay_root {
        MerkleCheck::Match {
            root: local_root.to_string(),
            count: local_count,
        }
    } else {
        MerkleCheck::Mismatch {
            local: local_root.to_string(),
            relay: relay_root.to_string(),
            count: local_count,
        }
    }
}

/// The verification badge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Badge {
    /// Nothing synced and nothing checked yet.
    Unverified,
    /// Verification running.
    Verifying,
    /// Every link checked, and every signature the view carries: `sealed` of the `count`
    /// events are private events served as stubs (link-only). The Merkle root is as in `merkle`.
    Checked {
        count: u64,
        sealed: u64,
        merkle: MerkleCheck,
    },
    /// An event was refused: the chain (from that event on) is not trusted.
    Invalid(Rejected),
}

impl Badge {
    /// `data-state` of `#sync-badge`.
    pub fn state(&self) -> &'static str {
        match self {
            Badge::Unverified => "unverified",
            Badge::Verifying => "verifying",
            Badge::Checked {
                merkle: MerkleCheck::Match { .. },
                ..
            } => "verified",
            Badge::Checked {
                merkle: MerkleCheck::Mismatch { .. },
                ..
            } => "mismatch",
            Badge::Checked { .. } => "partial",
            Badge::Invalid(_) => "invalid",
        }
    }

    /// `data-signatures` / `data-links`: "ok" when every event so far passed, "failed" on a
    /// refusal, "pending" otherwise.
    pub fn chain_checks(&self) -> (&'static str, &'static str) {
        match self {
            Badge::Checked { .. } => ("ok", "ok"),
            Badge::Invalid(r) => match r.reason.as_str() {
                "invalid_signature" | "event_id_mismatch" | "node_id_mismatch" => ("failed", "ok"),
                "prev_hash_mismatch" | "duplicate_event_id" => ("ok", "failed"),
                _ => ("failed", "failed"),
            },
            _ => ("pending", "pending"),
        }
    }

    /// `data-merkle`: match / mismatch / pending.
    pub fn merkle_state(&self) -> &'static str {
        match self {
            Badge::Checked {
                merkle: MerkleCheck::Match { .. },
                ..
            } => "match",
            Badge::Checked {
                merkle: MerkleCheck::Mismatch { .. },
                ..
            } => "mismatch",
            _ => "pending",
        }
    }

    /// One line for the badge.
    pub fn label(&self) -> String {
        match self {
            Badge::Unverified => "Not verified yet".into(),
            Badge::Verifying => "Verifying…".into(),
            Badge::Checked {
                count,
                sealed,
                merkle,
            } => match merkle {
                MerkleCheck::Match { root, .. } => format!(
                    "Verified: {}{}, signatures ✓, links ✓, Merkle root {} = relay's",
                    events(*count),
                    sealed_note(*sealed),
                    short(root)
                ),
                MerkleCheck::Mismatch { local, relay, .. } => format!(
                    "Merkle root MISMATCH: local {} ≠ relay {} ({})",
                    short(local),
                    short(relay),
                    events(*count)
                ),
                MerkleCheck::Stale { relay_count, .. } => format!(
                    "{} verified{} (signatures ✓, links ✓); relay now has {relay_count}, Merkle check next round",
                    events(*count),
                    sealed_note(*sealed)
                ),
                MerkleCheck::Pending => format!(
                    "{} verified{} (signatures ✓, links ✓); Merkle check pending",
                    events(*count),
                    sealed_note(*sealed)
                ),
            },
            Badge::Invalid(r) => match r.incomplete {
                Some(why) => format!(
                    "Relay served an unverifiable view at event #{} ({}): {} ({}); the verified prefix is kept",
                    r.index, incomplete_text(why), r.reason, r.detail
                ),
                None => format!("Invalid chain at event #{}: {} ({})", r.index, r.reason, r.detail),
            },
        }
    }
}

/// First 16 characters of a hash.
pub fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

/// Why the next sync waits: the text shown next to the next-sync time.
pub fn backoff_reason(status: Option<u16>, retry_after_s: u64, error: &str) -> String {
    match status {
        Some(429) => format!("rate limited by the relay (429), Retry-After {retry_after_s} s"),
        Some(s) => format!("relay answered {s}: {error}"),
        None => error.to_string(),
    }
}

/// Does an event match the explorer filter (type exact or empty; node id substring or empty)?
pub fn matches_filter(e: &EventSummary, event_type: &str, node: &str) -> bool {
    (event_type.is_empty() || e.event_type == event_type)
        && (node.trim().is_empty() || e.node_id.contains(node.trim()))
}

/// DB v5's storage key of the event at `index` (zero-padded so keys sort in chain order); since
/// v6 only read to convert such records into pages (`pages::legacy_index`).
pub fn event_key(index: u64) -> String {
    format!("{index:012}")
}

/// Where the stored chain ends, written in the same transaction as the events it covers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncHead {
    /// Number of stored events.
    pub count: u64,
    /// Event id of the last stored event (genesis hash when empty).
    pub head: String,
    /// Scheduler state (last/next sync, failures) of `postern_core::sync`.
    #[serde(default)]
    pub scheduler: postern_core::sync::SyncWorkerState,
}

mod batch;
mod meter;
pub use meter::{progress_fraction, RateMeter};
pub mod pages;
pub mod resync;
pub mod segments;
pub mod snapshot;
pub mod unit;
pub mod wire;
mod words;
use words::sealed_note;
pub use words::{events, incomplete_text, rewound_note};
#[cfg(test)]
mod tests;

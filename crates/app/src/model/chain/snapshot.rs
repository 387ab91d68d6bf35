//! Resuming the verifier after a reload: the record that persists its state (core's versioned
//! `ChainState` snapshot, the event ids it covers and the sealed count) and the page's checks
//! that decide whether a stored record may be used (anything wrong: the stored chain is
//! replayed in full, as before).
//!
//! The record is text. Layout 2 (written now): three lines — a small JSON header
//! ([`SnapshotMeta`]: version, height, head, sealed count), core's snapshot in standard
//! base64, and `<from>:` then the ids `from..count` packed as 32 bytes each in standard base64.
//! A record taken for storage may start its ids at `from` > 0 (the ids below are already
//! stored: ids only grow, so each new record adds only what is new, `super::segments`); a
//! record to restore from always starts at 0. Layout 1 (older builds, and written still when an id is
//! not 64 lowercase hex digits): the header line, then a JSON body with the ids (packed, or as
//! hex texts) and the state. The page reads only the header; the worker reads the rest and
//! core checks the state's digest, count, head and ids digest. The page stores it sealed under
//! the profile's store key (its AEAD binds the store and record key), so a relay never sees or
//! shapes it; the page binds it to the stored chain by height and head (the stored event at
//! `count - 1` must carry `head`).
use postern_core::b64;
use postern_core::event::ChainEvent;
use postern_core::json::{self, Value};
use postern_core::public_view::{is_stub, stub_event};
use postern_core::verify::{ChainState, SnapshotError};
use serde::{Deserialize, Serialize};

use super::{EventSummary, FromWorker, Op, SyncHead, ToWorker, Verifier};

/// Version of the record layout written (header, state, ids from `from`); it and
/// [`RECORD_V1`] are read, any other is refused.
pub const RECORD_VERSION: u32 = 2;
/// The layout of older builds (header, JSON body with every id): still read, and written when
/// an id cannot be packed.
pub const RECORD_V1: u32 = 1;
/// Events verified and stored between two snapshots written during a round (one is also
/// written at the end of every round that stored events).
pub const SNAPSHOT_EVERY: u64 = 10_000;

/// The record's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub v: u32,
    /// Events covered (the height).
    pub count: u64,
    /// Id of the last event covered.
    pub head: String,
    /// Of those, private events held as stubs.
    pub sealed: u64,
}

#[derive(Serialize, Deserialize)]
struct Body {
    /// The ids as text: written only when one is not 64 lowercase hex digits (else `packed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
    /// The ids as 32 bytes each, concatenated, standard base64 (≈ 43 bytes per event instead
    /// of 67 as a JSON list of hex texts; records of older builds have `ids` instead).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    packed: String,
    /// Core's `ChainState::snapshot()`, standard base64.
    state: String,
}

/// `ids` as 32 bytes each, if every one is 64 lowercase hex digits (so unpacking gives them
/// back exactly).
fn pack_ids(ids: &[String]) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(ids.len() * 32);
    for id in ids {
        let hex = id.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        for pair in hex.chunks_exact(2) {
            out.push(digit(pair[0])? << 4 | digit(pair[1])?);
        }
    }
    Some(out)
}

/// The ids of a packed record (64 lowercase hex digits each).
fn unpack_ids(bytes: &[u8]) -> Result<Vec<String>, SnapshotRefused> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if bytes.len() % 32 != 0 {
        return Err(SnapshotRefused::Unreadable("packed ids: bad length".into()));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|id| {
            id.iter()
                .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
                .map(char::from)
                .collect()
        })
        .collect())
}

/// Why a stored snapshot was not used (the stored chain is then replayed in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRefused {
    /// The record's header or body does not parse.
    Unreadable(String),
    /// A record layout this build does not read.
    Version(u32),
    /// Nothing to resume (an empty snapshot or an empty stored chain).
    Empty,
    /// The snapshot covers more events than are stored.
    Above { snapshot: u64, stored: u64 },
    /// The stored chain does not end (at the snapshot's height) with the snapshot's head.
    Head,
    /// Core refused the state (digest, version, count, head, ids).
    Core(SnapshotError),
    /// The worker answered with another height or head than the header's.
    Restored { verified: u64, head: String },
}

impl std::fmt::Display for SnapshotRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "unreadable snapshot record: {e}"),
            Self::Version(v) => write!(f, "unknown snapshot record version {v}"),
            Self::Empty => write!(f, "empty snapshot"),
            Self::Above { snapshot, stored } => write!(
                f,
                "snapshot covers {snapshot} events, only {stored} are stored"
            ),
            Self::Head => write!(f, "snapshot head is not the stored event at its height"),
            Self::Core(e) => write!(f, "{e}"),
            Self::Restored { verified, head } => write!(
                f,
                "worker restored {verified} events to head {}",
                super::short(head)
            ),
        }
    }
}

impl std::error::Error for SnapshotRefused {}

/// Read the header line of a record (and check its version).
pub fn read_meta(record: &str) -> Result<SnapshotMeta, SnapshotRefused> {
    let line = record.split_once('\n').map_or(record, |(h, _)| h);
    let meta: SnapshotMeta =
        serde_json::from_str(line).map_err(|e| SnapshotRefused::Unreadable(e.to_string()))?;
    if meta.v != RECORD_VERSION && meta.v != RECORD_V1 {
        return Err(SnapshotRefused::Version(meta.v));
    }
    if meta.count == 0 {
        return Err(SnapshotRefused::Empty);
    }
    Ok(meta)
}

/// May a snapshot with header `meta` resume the stored chain `cursor`? It must not cover more
/// than is stored, and at the stored height it must end at the stored head.
pub fn check_meta(meta: &SnapshotMeta, cursor: &SyncHead) -> Result<(), SnapshotRefused> {
    if cursor.count == 0 {
        return Err(SnapshotRefused::Empty);
    }
    if meta.count > cursor.count {
        return Err(SnapshotRefused::Above {
            snapshot: meta.count,
            stored: cursor.count,
        });
    }
    if meta.count == cursor.count && meta.head != cursor.head {
        return Err(SnapshotRefused::Head);
    }
    Ok(())
}

/// The stored event at `meta.count - 1` (its text as read back) must be the snapshot's head.
pub fn check_stored_head(meta: &SnapshotMeta, stored: Option<&str>) -> Result<(), SnapshotRefused> {
    let id = stored
        .and_then(|t| json::parse(t.as_bytes()).ok())
        .and_then(|v| {
            v.get("event_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    if id.as_deref() == Some(meta.head.as_str()) {
        Ok(())
    } else {
        Err(SnapshotRefused::Head)
    }
}

/// The worker's answer to [`Op::Restore`] must hold exactly the header's height and head.
pub fn check_restored(meta: &SnapshotMeta, ans: &FromWorker) -> Result<(), SnapshotRefused> {
    if let Some(r) = &ans.error {
        return Err(SnapshotRefused::Unreadable(r.detail.clone()));
    }
    if ans.verified != meta.count || ans.head != meta.head {
        return Err(SnapshotRefused::Restored {
            verified: ans.verified,
            head: ans.head.clone(),
        });
    }
    Ok(())
}

/// What to do on start with the stored chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumePlan {
    /// Restore the snapshot, then replay the stored events from `from` (its height) on.
    Restore { from: u64 },
    /// Replay every stored event; `why` the snapshot was not used (`None`: there was none).
    Full { why: Option<SnapshotRefused> },
}

/// The page's decision before asking the worker: the record (`None`: none stored, `Err`: it
/// did not open) against the cursor and the stored text at the snapshot's height.
pub fn plan(
    record_meta: Result<Option<SnapshotMeta>, SnapshotRefused>,
    cursor: &SyncHead,
    stored_at_height: impl FnOnce(u64) -> Option<String>,
) -> ResumePlan {
    let meta = match record_meta {
        Ok(Some(m)) => m,
        Ok(None) => return ResumePlan::Full { why: None },
        Err(e) => return ResumePlan::Full { why: Some(e) },
    };
    let checked = check_meta(&meta, cursor)
        .and_then(|()| check_stored_head(&meta, stored_at_height(meta.count - 1).as_deref()));
    match checked {
        Ok(()) => ResumePlan::Restore { from: meta.count },
        Err(e) => ResumePlan::Full { why: Some(e) },
    }
}

/// The explorer's rows for stored texts read back from index `start` on (events restored from
/// a snapshot were verified in an earlier session; this only reads them, it verifies nothing).
/// A text that does not read as an event is skipped.
pub fn stored_summaries(start: u64, texts: &[String]) -> Vec<EventSummary> {
    texts
        .iter()
        .zip(start..)
        .filter_map(|(t, i)| {
            let v = json::parse(t.as_bytes()).ok()?;
            let e = if is_stub(&v) {
                stub_event(&v)
            } else {
                ChainEvent::from_value(&v).ok()?
            };
            Some(super::summary(i, &e, None))
        })
        .collect()
}

/// `record` cut into consecutive parts of at most `max` bytes (at least one character each),
/// on character boundaries; joined in order they are `record` again (stored as separate
/// sealed records: `platform::idb::chain_snapshot`).
pub fn parts(record: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = record;
    loop {
        let mut at = max.min(rest.len());
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        if at == 0 && !rest.is_empty() {
            at = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (part, tail) = rest.split_at(at);
        out.push(part);
        if tail.is_empty() {
            return out;
        }
        rest = tail;
    }
}

impl ToWorker {
    /// Ask for the verifier's snapshot record ([`FromWorker::snapshot`]) carrying the ids from
    /// index `from` on (those below are stored already; 0: every id).
    pub fn snapshot(id: u32, from: u64) -> Self {
        ToWorker {
            op: Op::Snapshot,
            split: Some(from),
            ..Self::root(id)
        }
    }
    /// Replace the verifier's state with a stored snapshot record.
    pub fn restore(id: u32, record: String) -> Self {
        ToWorker {
            op: Op::Restore,
            body: record,
            ..Self::root(id)
        }
    }
}

impl Verifier {
    fn snapshot_meta(&self, v: u32) -> SnapshotMeta {
        SnapshotMeta {
            v,
            count: self.len(),
            head: self.head().to_string(),
            sealed: self.sealed,
        }
    }

    /// The snapshot record of everything accepted so far, every id in it.
    pub fn snapshot_record(&self) -> String {
        self.snapshot_record_from(0)
    }

    /// The snapshot record (layout 2) carrying the ids from index `from` on (`from` above the
    /// height: all of them). When an id cannot be packed, the whole record in layout 1.
    pub fn snapshot_record_from(&self, from: u64) -> String {
        let all = self.state.event_ids();
        let from = if from <= self.len() { from } else { 0 };
        let rest = usize::try_from(from)
            .ok()
            .and_then(|f| all.get(f..))
            .unwrap_or(all);
        // (The ids below `from` were packed into the records stored before.)
        let Some(packed) = pack_ids(rest) else {
            return self.snapshot_record_v1();
        };
        let meta = self.snapshot_meta(RECORD_VERSION);
        // Plain struct of strings and integers: serialising cannot fail.
        let meta = serde_json::to_string(&meta).unwrap_or_default();
        let state = b64::encode_std(&self.state.snapshot());
        let ids = b64::encode_std(&packed);
        format!("{meta}\n{state}\n{from}:{ids}")
    }

    /// The record in layout 1 (every id listed as text).
    fn snapshot_record_v1(&self) -> String {
        let body = Body {
            ids: self.state.event_ids().to_vec(),
            packed: String::new(),
            state: b64::encode_std(&self.state.snapshot()),
        };
        // Plain structs of strings and integers: serialising cannot fail.
        let meta = serde_json::to_string(&self.snapshot_meta(RECORD_V1)).unwrap_or_default();
        let body = serde_json::to_string(&body).unwrap_or_default();
        format!("{meta}\n{body}")
    }

    /// Restore from a snapshot record (every id in it); on any refusal the verifier is left
    /// empty.
    pub fn restore(&mut self, record: &str) -> Result<(), SnapshotRefused> {
        *self = Verifier::new();
        let meta = read_meta(record)?;
        let unreadable = |e: String| SnapshotRefused::Unreadable(e);
        let (state, ids) = if meta.v == RECORD_V1 {
            let body = record
                .split_once('\n')
                .map(|(_, b)| b)
                .ok_or_else(|| unreadable("no body".into()))?;
            let body: Body = serde_json::from_str(body).map_err(|e| unreadable(e.to_string()))?;
            let ids = match body.packed.is_empty() {
                true => body.ids,
                false => unpack_ids(
                    &b64::decode_std(&body.packed).map_err(|e| unreadable(e.to_string()))?,
                )?,
            };
            (body.state, ids)
        } else {
            let mut lines = record.splitn(3, '\n').skip(1);
            let (Some(state), Some(ids)) = (lines.next(), lines.next()) else {
                return Err(unreadable("no state or ids".into()));
            };
            let Some(ids) = ids.strip_prefix("0:") else {
                return Err(unreadable("not every id (a record to store)".into()));
            };
            let ids = unpack_ids(&b64::decode_std(ids).map_err(|e| unreadable(e.to_string()))?)?;
            (state.to_string(), ids)
        };
        let bytes = b64::decode_std(&state).map_err(|e| unreadable(e.to_string()))?;
        let state = ChainState::from_snapshot(&bytes, ids).map_err(SnapshotRefused::Core)?;
        if state.len() as u64 != meta.count || state.head() != meta.head {
            return Err(SnapshotRefused::Restored {
                verified: state.len() as u64,
                head: state.head().to_string(),
            });
        }
        if meta.sealed > meta.count {
            return Err(unreadable("sealed above count".into()));
        }
        self.state = state;
        self.sealed = meta.sealed;
        Ok(())
    }

    /// [`Op::Snapshot`] / [`Op::Restore`].
    pub(super) fn handle_snapshot(&mut self, req: &ToWorker) -> FromWorker {
        if req.op == Op::Restore {
            let res = self.restore(&req.body);
            let mut out = self.answer(req.id);
            if let Err(e) = res {
                self.reject(&mut out, "snapshot_refused", e.to_string());
            }
            return out;
        }
        let mut out = self.answer(req.id);
        out.snapshot = Some(self.snapshot_record_from(req.split.unwrap_or(0)));
        out
    }
}

//! How a snapshot record (layout 2, `super::snapshot`) is kept in IndexedDB so that storing a
//! new one costs what is new, not the whole chain: a head (the header and core's state) and
//! the packed ids in segments of [`SEGMENT_IDS`] ids. Ids only grow, so a full segment never
//! changes: a record taken with the ids from the first segment not yet stored in full
//! ([`full_ids`]) rewrites the head, the last (partial) segment and the new ones. Read back,
//! the head and every segment join into the whole record again (ids from 0), which the worker
//! restores and core checks (ids digest, count, head): a segment that is missing, extra, of
//! the wrong length or from another chain is refused like any damaged record.
use super::snapshot::{read_meta, SnapshotRefused, RECORD_VERSION};

/// Ids per stored segment: a multiple of 3, so a segment's base64 has no padding and segments
/// join into one base64 text; 6,144 ids are 256 KiB of base64 (one sealing task).
pub const SEGMENT_IDS: u64 = 6_144;

/// Bytes of a packed id.
const ID_BYTES: u64 = 32;

/// Length of the padded standard base64 of `bytes` bytes.
fn b64_len(bytes: u64) -> u64 {
    bytes.div_ceil(3).saturating_mul(4)
}

/// The ids held by the full segments of a record of `count` ids (segments of `seg` ids).
pub fn full_ids(count: u64, seg: u64) -> u64 {
    match seg {
        0 => 0,
        _ => count / seg * seg,
    }
}

/// A record cut for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    /// The header and core's state: what the head record holds.
    pub head: &'a str,
    /// Index of the first segment in `segments` (the ones below are stored already).
    pub first: u64,
    /// The segments' base64 texts, from segment `first` on.
    pub segments: Vec<&'a str>,
    /// The height (events, and ids, the record covers).
    pub count: u64,
}

fn unreadable(e: &str) -> SnapshotRefused {
    SnapshotRefused::Unreadable(e.into())
}

/// Base64 characters of a full segment of `seg` ids (a positive multiple of 3).
fn seg_chars(seg: u64) -> Result<u64, SnapshotRefused> {
    match seg {
        0 => Err(unreadable("empty segments")),
        _ if seg % 3 != 0 => Err(unreadable("segments not of 3n ids")),
        _ => Ok(b64_len(seg.saturating_mul(ID_BYTES))),
    }
}

/// The header and state of a layout-2 record or head, its height, and the rest after them.
fn head_of(text: &str) -> Result<(&str, u64, Option<&str>), SnapshotRefused> {
    let meta = read_meta(text)?;
    if meta.v != RECORD_VERSION {
        return Err(SnapshotRefused::Version(meta.v));
    }
    let mut lines = text.splitn(3, '\n');
    let (Some(header), Some(state), rest) = (lines.next(), lines.next(), lines.next()) else {
        return Err(unreadable("no state"));
    };
    let head = text.get(..header.len() + 1 + state.len()).unwrap_or(text);
    Ok((head, meta.count, rest))
}

/// Cut a layout-2 `record` (its ids from `from`) into the head and its segments of `seg` ids,
/// when the store holds the first `stored` ids in full segments: `from` must be a segment
/// boundary not above them (else the ids between would be missing).
pub fn split(record: &str, seg: u64, stored: u64) -> Result<Split<'_>, SnapshotRefused> {
    let chars = seg_chars(seg)?;
    let (head, count, rest) = head_of(record)?;
    let (from, ids) = rest
        .and_then(|r| r.split_once(':'))
        .ok_or_else(|| unreadable("no ids"))?;
    let from: u64 = from.parse().map_err(|_| unreadable("bad ids start"))?;
    if from > count || from % seg != 0 || from > stored {
        return Err(unreadable("ids not after the stored segments"));
    }
    if ids.len() as u64 != b64_len((count - from).saturating_mul(ID_BYTES)) || !ids.is_ascii() {
        return Err(unreadable("ids text of the wrong length"));
    }
    // ASCII checked: every byte boundary is a character boundary.
    let segments = ids
        .as_bytes()
        .chunks(usize::try_from(chars).unwrap_or(usize::MAX))
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok(Split {
        head,
        first: from / seg,
        segments,
        count,
    })
}

/// Is `head` (a stored head record, or the first part of a layout-1 record) the head of a
/// segmented (layout 2) record?
pub fn is_segmented(head: &str) -> bool {
    read_meta(head).is_ok_and(|m| m.v == RECORD_VERSION)
}

/// The whole record (ids from 0) from a stored `head` and the stored segments (segments of
/// `seg` ids, in order from segment 0): exactly as many as the height needs, each full but
/// the last, the last as long as the ids it holds.
pub fn assemble(head: &str, segments: &[&str], seg: u64) -> Result<String, SnapshotRefused> {
    let chars = seg_chars(seg)?;
    let (whole, count, rest) = head_of(head)?;
    if rest.is_some() || whole.len() != head.len() {
        return Err(unreadable("not a head"));
    }
    let n = count.div_ceil(seg);
    let last = b64_len((count - n.saturating_sub(1) * seg) * ID_BYTES);
    let fits = segments.len() as u64 == n
        && segments.iter().enumerate().all(|(i, s)| {
            let want = if i as u64 + 1 == n { last } else { chars };
            s.len() as u64 == want
        });
    if !fits {
        return Err(unreadable("id segments missing or of the wrong length"));
    }
    let mut out =
        String::with_capacity(head.len() + 3 + segments.iter().map(|s| s.len()).sum::<usize>());
    out.push_str(head);
    out.push_str("\n0:");
    for s in segments {
        out.push_str(s);
    }
    Ok(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "segments_tests.rs"]
mod tests;

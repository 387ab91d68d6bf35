//! How a snapshot record (layout 2, `super::snapshot`) is kept in IndexedDB so that storing a
//! new one costs what is new, not the whole chain: a head (the header and core's state) and
//! the packed ids in segments of [`SEGMENT_IDS`] ids. Ids only grow, so a full segment never
//! changes: a record taken with the ids from the first segment not yet stored in full
//! ([`full_ids`]) rewrites the head, the last (partial) segment and the new ones. Read back,
//! the head and every segment join into the whole record again (ids from 0), which the worker
//! restores and core checks (ids digest, count, head): a segment that is missing, extra, of
//! the wrong length or from another chain is refused like any damaged record.
use super::snapshot::{read_meta, SnapshotMeta, SnapshotRefused, RECORD_VERSION};

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
    /// The header (with `from` = 0) and core's state: what the head record holds.
    pub head: String,
    /// Index of the first segment in `segments` (the ones below are stored already).
    pub first: u64,
    /// The segments' base64 texts, from segment `first` on.
    pub segments: Vec<&'a str>,
    /// The height (events, and ids, the record covers).
    pub count: u64,
}

fn unreadable(e: impl std::fmt::Display) -> SnapshotRefused {
    SnapshotRefused::Unreadable(e.to_string())
}

fn check_seg(seg: u64) -> Result<u64, SnapshotRefused> {
    if seg == 0 || seg % 3 != 0 {
        return Err(unreadable(format!("segments of {seg} ids")));
    }
    // Chars of a full segment's base64; fits in memory or the record could not exist.
    usize::try_from(b64_len(seg * ID_BYTES)).map_err(unreadable)?;
    Ok(b64_len(seg * ID_BYTES))
}

/// Cut a layout-2 `record` (its ids from `from`) into the head and its segments of `seg` ids,
/// when the store holds the first `stored` ids in full segments: `from` must be a segment
/// boundary not above them (else the ids between would be missing).
pub fn split(record: &str, seg: u64, stored: u64) -> Result<Split<'_>, SnapshotRefused> {
    let seg_chars = check_seg(seg)?;
    let meta = read_meta(record)?;
    if meta.v != RECORD_VERSION {
        return Err(SnapshotRefused::Version(meta.v));
    }
    if meta.from % seg != 0 || meta.from > stored {
        return Err(unreadable(format!(
            "ids from {}, {stored} stored in segments of {seg}",
            meta.from
        )));
    }
    let mut lines = record.splitn(3, '\n').skip(1);
    let (Some(state), Some(ids)) = (lines.next(), lines.next()) else {
        return Err(unreadable("no state or ids"));
    };
    let want = b64_len((meta.count - meta.from).saturating_mul(ID_BYTES));
    if ids.len() as u64 != want || !ids.is_ascii() {
        return Err(unreadable(format!(
            "{} base64 characters of ids for {} ids",
            ids.len(),
            meta.count - meta.from
        )));
    }
    let head = head_text(&meta, state);
    // ASCII checked: every byte boundary is a character boundary.
    let segments = ids
        .as_bytes()
        .chunks(seg_chars as usize)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok(Split {
        head,
        first: meta.from / seg,
        segments,
        count: meta.count,
    })
}

/// The head record: the header with `from` = 0, `\n`, the state.
fn head_text(meta: &SnapshotMeta, state: &str) -> String {
    let meta = SnapshotMeta {
        from: 0,
        ..meta.clone()
    };
    // Plain struct of strings and integers: serialising cannot fail.
    let line = serde_json::to_string(&meta).unwrap_or_default();
    format!("{line}\n{state}")
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
    let seg_chars = check_seg(seg)?;
    let meta = read_meta(head)?;
    if meta.v != RECORD_VERSION || meta.from != 0 || head.matches('\n').count() != 1 {
        return Err(unreadable("not the head of a segmented record"));
    }
    let n = meta.count.div_ceil(seg);
    if segments.len() as u64 != n {
        return Err(unreadable(format!(
            "{} id segments stored for {} ids",
            segments.len(),
            meta.count
        )));
    }
    let last = b64_len((meta.count - (n - 1) * seg) * ID_BYTES);
    for (i, s) in segments.iter().enumerate() {
        let want = if i as u64 + 1 == n { last } else { seg_chars };
        if s.len() as u64 != want {
            return Err(unreadable(format!(
                "id segment {i} holds {} characters, not {want}",
                s.len()
            )));
        }
    }
    let mut out =
        String::with_capacity(head.len() + 1 + segments.iter().map(|s| s.len()).sum::<usize>());
    out.push_str(head);
    out.push('\n');
    for s in segments {
        out.push_str(s);
    }
    Ok(out)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "segments_tests.rs"]
mod tests;

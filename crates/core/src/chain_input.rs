//! Reading `verify-chain` input on several threads (native only): array slices to [`ChainEvent`]s.
//!
//! The top-level JSON array is split at its element boundaries and each run of elements is
//! parsed and converted on a scoped thread.
//!
//! This is a fast path with one answer: the events exactly as the sequential reader would give
//! them, or `None` — for anything it does not handle identically (input over the size limit,
//! malformed JSON anywhere, a non-object item, a public-view stub, an object input) — and the
//! caller then takes the sequential path, which reports the exact error. A whole-document parse
//! succeeds exactly when every element slice parses (with one nesting level less, the array's)
//! and the bytes between slices are `[`, `,`, `]` and whitespace, so the events are the same.

use std::collections::HashMap;
use std::ops::Range;

use crate::event::ChainEvent;
use crate::json::{parse_with_limits, Limits, Value, DEFAULT_MAX_DEPTH, DEFAULT_MAX_INPUT_BYTES};
use crate::public_view::is_stub;

/// The events of a `verify-chain` input, exact duplicates skipped.
#[derive(Debug)]
pub struct ChainInput {
    /// The kept events, in input order.
    pub events: Vec<ChainEvent>,
    /// Each kept event's index in the input.
    pub positions: Vec<usize>,
    /// Exact duplicates skipped (same `event_id` string, identical ordered JSON).
    pub duplicates: usize,
    /// Items in the input array (kept + skipped).
    pub count: usize,
    /// The largest `timestamp` read as a Python `int()` that fits a `u64` (0 if none).
    pub latest_timestamp: u64,
}

/// One element as read by a worker thread.
struct Item {
    event: ChainEvent,
    /// Was `event_id` a JSON string (only those take part in the duplicate check)?
    id_is_str: bool,
}

/// Read `input` (a JSON array of event objects) on `threads` threads; `None` when the
/// sequential path must decide (see module docs).
pub fn read_chain_input(input: &[u8], threads: usize) -> Option<ChainInput> {
    if input.len() > DEFAULT_MAX_INPUT_BYTES {
        return None;
    }
    let ranges = split_top_array(input)?;
    let threads = threads.clamp(1, ranges.len().max(1));
    let per = ranges.len().div_ceil(threads).max(1);
    let slices: Vec<Option<(Vec<Item>, u64)>> = std::thread::scope(|s| {
        let workers: Vec<_> = ranges
            .chunks(per)
            .map(|chunk| s.spawn(move || read_slice(input, chunk)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().ok().flatten())
            .collect()
    });
    let mut items = Vec::with_capacity(ranges.len());
    let mut latest = 0u64;
    for slice in slices {
        let (part, ts) = slice?;
        latest = latest.max(ts);
        items.extend(part);
    }
    let keep = keep_mask(input, &ranges, &items)?;
    let count = items.len();
    let mut events = Vec::with_capacity(count);
    let mut positions = Vec::with_capacity(count);
    for (i, (item, k)) in items.into_iter().zip(&keep).enumerate() {
        if *k {
            events.push(item.event);
            positions.push(i);
        }
    }
    Some(ChainInput {
        duplicates: count - events.len(),
        events,
        positions,
        count,
        latest_timestamp: latest,
    })
}

/// Limits for one element: the array takes one nesting level; the size was checked whole.
fn element_limits() -> Limits {
    Limits {
        max_depth: DEFAULT_MAX_DEPTH.saturating_sub(1),
        max_input_bytes: usize::MAX,
    }
}

fn parse_element(input: &[u8], r: &Range<usize>) -> Option<Value> {
    parse_with_limits(input.get(r.clone())?, element_limits()).ok()
}

/// Parse and convert one run of elements; `None` on anything the fast path does not take.
fn read_slice(input: &[u8], ranges: &[Range<usize>]) -> Option<(Vec<Item>, u64)> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut latest = 0u64;
    for r in ranges {
        let v = parse_element(input, r)?;
        if !matches!(v, Value::Object(_)) || is_stub(&v) {
            return None;
        }
        if let Some(t) = v
            .get("timestamp")
            .and_then(Value::py_int)
            .and_then(|t| t.to_u64())
        {
            latest = latest.max(t);
        }
        let id_is_str = matches!(v.get("event_id"), Some(Value::Str(_)));
        let event = ChainEvent::from_value_owned(v).ok()?;
        out.push(Item { event, id_is_str });
    }
    Some((out, latest))
}

/// Which items to keep: an item whose string `event_id` was seen before with identical ordered
/// JSON is an exact duplicate (skipped); a different item under a known id is kept (the
/// verifier refuses it). Compared with the *first* item of each id, as the sequential reader.
fn keep_mask(input: &[u8], ranges: &[Range<usize>], items: &[Item]) -> Option<Vec<bool>> {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut keep = vec![true; items.len()];
    for (i, item) in items.iter().enumerate() {
        if !item.id_is_str {
            continue;
        }
        match first.get(item.event.event_id.as_str()) {
            None => {
                first.insert(item.event.event_id.as_str(), i);
            }
            Some(&j) => {
                if same_json(input, ranges.get(j)?, ranges.get(i)?)? {
                    keep[i] = false;
                }
            }
        }
    }
    Some(keep)
}

/// Do two elements have the same ordered JSON text? Identical bytes do; otherwise both are
/// parsed again and rendered (rare: only for a repeated id).
fn same_json(input: &[u8], a: &Range<usize>, b: &Range<usize>) -> Option<bool> {
    let (ta, tb) = (input.get(a.clone())?, input.get(b.clone())?);
    if ta.trim_ascii() == tb.trim_ascii() {
        return Some(true);
    }
    let (va, vb) = (parse_element(input, a)?, parse_element(input, b)?);
    Some(va.to_json_ordered() == vb.to_json_ordered())
}

/// Byte ranges of the items of a top-level array (each may hold surrounding whitespace), found
/// by a lexical scan of strings and brackets. `None` unless the input is `[`, items separated
/// by top-level commas, `]`, all within optional whitespace. The scan does not validate items:
/// each range is parsed strictly afterwards.
fn split_top_array(input: &[u8]) -> Option<Vec<Range<usize>>> {
    let is_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let open = input.iter().position(|&b| !is_ws(b))?;
    if input.get(open) != Some(&b'[') {
        return None;
    }
    // Items are ≥ 2 bytes with their comma: a cheap bound that avoids regrowth on big files.
    let mut ranges = Vec::with_capacity(input.len() / 512);
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    let mut start = open + 1;
    let mut pos = start;
    while let Some(&b) = input.get(pos) {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth > 0 => depth -= 1,
                b']' => {
                    ranges.push(start..pos);
                    let rest = input.get(pos + 1..)?;
                    return rest.iter().all(|&c| is_ws(c)).then_some(ranges);
                }
                b'}' => return None,
                b',' if depth == 0 => {
                    ranges.push(start..pos);
                    start = pos + 1;
                }
                _ => {}
            }
        }
        pos += 1;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_commas_only() {
        let r = split_top_array(br#" [ {"a":[1,2],"b":"x,]\"}"} , 3,"s"] "#).unwrap();
        assert_eq!(r.len(), 3);
        assert!(split_top_array(br#"[1,2] x"#).is_none());
        assert!(split_top_array(br#"{"events":[]}"#).is_none());
        assert!(split_top_array(br#"[1,{"a":2]"#).is_none());
        assert!(split_top_array(b"[1,2").is_none());
    }

    #[test]
    fn hostile_inputs_take_the_sequential_path() {
        for bad in [
            &b"[]"[..],
            b"[ ]",
            b"[1]",
            b"[{},]",
            b"[,{}]",
            b"[{}}]",
            b"[{\"a\":1e999}]",
            b"[{\"a\":\"\xff\"}]",
            b"",
        ] {
            assert!(read_chain_input(bad, 2).is_none(), "{bad:?}");
        }
        assert_eq!(read_chain_input(b"[{},{}]", 3).unwrap().count, 2);
    }
}

//! Reading `verify-chain` input on several threads (native only): array slices to [`ChainEvent`]s.
//!
//! The top-level JSON array is split at its element boundaries and each run of elements is
//! parsed and converted on a scoped thread.
//!
//! An object input (`{"events": [...], ...}`, the form of the shared vectors) is split the same
//! way one level down: its members are found by the same lexical scan, each key and each other
//! member's value is parsed strictly on its own (so the whole document is valid JSON exactly when
//! the sequential reader's parse succeeds), and the elements of the last `events` member (the
//! one the sequential reader's object keeps) are read in parallel with two nesting levels less.
//!
//! This is a fast path with one answer: the events exactly as the sequential reader would give
//! them, or `None` — for anything it does not handle identically (input over the size limit,
//! malformed JSON anywhere, a non-object item, a public-view stub, an object without an
//! `events` array) — and the caller then takes the sequential path, which reports the exact
//! error. A whole-document parse succeeds exactly when every element slice parses (with the
//! nesting levels of its containers less) and the bytes between slices are the containers'
//! structural characters and whitespace, so the events are the same.

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
    let (ranges, limits) = match input.get(first_non_ws(input)?) {
        Some(b'[') => (split_top_array(input, 0..input.len())?, element_limits(1)),
        Some(b'{') => (object_events(input)?, element_limits(2)),
        _ => return None,
    };
    let threads = threads.clamp(1, ranges.len().max(1));
    let per = ranges.len().div_ceil(threads).max(1);
    let slices: Vec<Option<(Vec<Item>, u64)>> = std::thread::scope(|s| {
        let workers: Vec<_> = ranges
            .chunks(per)
            .map(|chunk| s.spawn(move || read_slice(input, chunk, limits)))
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
    let keep = keep_mask(input, &ranges, &items, limits)?;
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

/// Limits for a value inside `levels` containers: each takes one nesting level; the size was
/// checked whole.
fn element_limits(levels: usize) -> Limits {
    Limits {
        max_depth: DEFAULT_MAX_DEPTH.saturating_sub(levels),
        max_input_bytes: usize::MAX,
    }
}

fn parse_element(input: &[u8], r: &Range<usize>, limits: Limits) -> Option<Value> {
    parse_with_limits(input.get(r.clone())?, limits).ok()
}

/// Parse and convert one run of elements; `None` on anything the fast path does not take.
fn read_slice(input: &[u8], ranges: &[Range<usize>], limits: Limits) -> Option<(Vec<Item>, u64)> {
    let mut out = Vec::with_capacity(ranges.len());
    let mut latest = 0u64;
    for r in ranges {
        let v = parse_element(input, r, limits)?;
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
fn keep_mask(
    input: &[u8],
    ranges: &[Range<usize>],
    items: &[Item],
    limits: Limits,
) -> Option<Vec<bool>> {
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
                if same_json(input, ranges.get(j)?, ranges.get(i)?, limits)? {
                    keep[i] = false;
                }
            }
        }
    }
    Some(keep)
}

/// Do two elements have the same ordered JSON text? Identical bytes do; otherwise both are
/// parsed again and rendered (rare: only for a repeated id).
fn same_json(input: &[u8], a: &Range<usize>, b: &Range<usize>, limits: Limits) -> Option<bool> {
    let (ta, tb) = (input.get(a.clone())?, input.get(b.clone())?);
    if ta.trim_ascii() == tb.trim_ascii() {
        return Some(true);
    }
    let (va, vb) = (
        parse_element(input, a, limits)?,
        parse_element(input, b, limits)?,
    );
    Some(va.to_json_ordered() == vb.to_json_ordered())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Position of the first non-whitespace byte.
fn first_non_ws(input: &[u8]) -> Option<usize> {
    input.iter().position(|&b| !is_ws(b))
}

/// Lexical state of a scan: inside a string, after a backslash, container depth.
#[derive(Default)]
struct Lex {
    depth: usize,
    in_str: bool,
    esc: bool,
}

/// A byte outside strings at container depth 0 that ends a value: `,` or the closer.
enum Stop {
    Comma,
    Close,
}

impl Lex {
    /// Feed one byte; `Some` at a top-level `,` or `close` (the enclosing container's closer),
    /// `Err` at the other closer unbalanced (a scan error).
    fn step(&mut self, b: u8, close: u8) -> Result<Option<Stop>, ()> {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            } else if b == b'"' {
                self.in_str = false;
            }
            return Ok(None);
        }
        match b {
            b'"' => self.in_str = true,
            b'[' | b'{' => self.depth += 1,
            b']' | b'}' if self.depth > 0 => self.depth -= 1,
            b']' | b'}' if b == close => return Ok(Some(Stop::Close)),
            b']' | b'}' => return Err(()),
            b',' if self.depth == 0 => return Ok(Some(Stop::Comma)),
            _ => {}
        }
        Ok(None)
    }
}

/// Byte ranges of the items of the array that `within` holds (each may hold surrounding
/// whitespace), found by a lexical scan of strings and brackets. `None` unless `within` is `[`,
/// items separated by top-level commas, `]`, all within optional whitespace. The scan does not
/// validate items: each range is parsed strictly afterwards.
fn split_top_array(input: &[u8], within: Range<usize>) -> Option<Vec<Range<usize>>> {
    let end = within.end;
    let body = input.get(within.clone())?;
    let open = within.start + first_non_ws(body)?;
    if input.get(open) != Some(&b'[') {
        return None;
    }
    // Items are ≥ 2 bytes with their comma: a cheap bound that avoids regrowth on big files.
    let mut ranges = Vec::with_capacity(body.len() / 512);
    let mut lex = Lex::default();
    let mut start = open + 1;
    for pos in open + 1..end {
        match lex.step(*input.get(pos)?, b']').ok()? {
            None => {}
            Some(Stop::Comma) => {
                ranges.push(start..pos);
                start = pos + 1;
            }
            Some(Stop::Close) => {
                ranges.push(start..pos);
                let rest = input.get(pos + 1..end)?;
                return rest.iter().all(|&c| is_ws(c)).then_some(ranges);
            }
        }
    }
    None
}

/// Members of a top-level object: each key's range (from its opening quote to its closing one)
/// and its value's range (with surrounding whitespace). `None` unless the input is `{`, members
/// `"key" : value` separated by top-level commas, `}`, all within optional whitespace; keys end
/// at their first unescaped quote, values are not validated (parsed strictly afterwards).
fn split_top_object(input: &[u8]) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    let open = first_non_ws(input)?;
    if input.get(open) != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut pos = open + 1;
    let skip_ws = |mut p: usize| {
        while input.get(p).is_some_and(|&b| is_ws(b)) {
            p += 1;
        }
        p
    };
    pos = skip_ws(pos);
    if input.get(pos) == Some(&b'}') {
        let rest = input.get(pos + 1..)?;
        return rest.iter().all(|&c| is_ws(c)).then_some(members);
    }
    loop {
        // Key: a string.
        if input.get(pos) != Some(&b'"') {
            return None;
        }
        let key_start = pos;
        let mut esc = false;
        pos += 1;
        loop {
            let b = *input.get(pos)?;
            pos += 1;
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => break,
                _ => {}
            }
        }
        let key = key_start..pos;
        pos = skip_ws(pos);
        if input.get(pos) != Some(&b':') {
            return None;
        }
        pos += 1;
        let value_start = pos;
        let mut lex = Lex::default();
        let stop = loop {
            let b = *input.get(pos)?;
            if let Some(stop) = lex.step(b, b'}').ok()? {
                break stop;
            }
            pos += 1;
        };
        members.push((key, value_start..pos));
        pos += 1;
        match stop {
            Stop::Comma => pos = skip_ws(pos),
            Stop::Close => {
                let rest = input.get(pos..)?;
                return rest.iter().all(|&c| is_ws(c)).then_some(members);
            }
        }
    }
}

/// The element ranges of an object input's `events` array (the last `events` member, which the
/// sequential reader's object keeps), after checking that every key and every other member's
/// value parses (so that the whole document does). `None` for anything else.
fn object_events(input: &[u8]) -> Option<Vec<Range<usize>>> {
    let members = split_top_object(input)?;
    let mut events = None;
    for (i, (key, _)) in members.iter().enumerate() {
        match parse_with_limits(input.get(key.clone())?, element_limits(1)).ok()? {
            Value::Str(k) if k == "events" => events = Some(i),
            Value::Str(_) => {}
            _ => return None,
        }
    }
    let events = events?;
    for (i, (_, value)) in members.iter().enumerate() {
        if i != events {
            parse_with_limits(input.get(value.clone())?, element_limits(1)).ok()?;
        }
    }
    let (_, value) = members.get(events)?;
    split_top_array(input, value.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Option<Vec<Range<usize>>> {
        split_top_array(input, 0..input.len())
    }

    #[test]
    fn splits_at_top_level_commas_only() {
        let r = split(br#" [ {"a":[1,2],"b":"x,]\"}"} , 3,"s"] "#).unwrap();
        assert_eq!(r.len(), 3);
        assert!(split(br#"[1,2] x"#).is_none());
        assert!(split(br#"{"events":[]}"#).is_none());
        assert!(split(br#"[1,{"a":2]"#).is_none());
        assert!(split(b"[1,2").is_none());
    }

    #[test]
    fn splits_object_members_and_takes_the_last_events() {
        let doc =
            br#" { "m" : {"a":"}\",]"} , "ev\u0065nts":[{"x":1}], "events" : [ {"y":2} ,{}] } "#;
        let m = split_top_object(doc).unwrap();
        assert_eq!(m.len(), 3);
        let r = object_events(doc).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(doc[r[0].clone()].trim_ascii(), br#"{"y":2}"#);
        assert_eq!(split_top_object(b"{ }").unwrap().len(), 0);
        for bad in [
            &br#"{"events":[{}],}"#[..],
            br#"{"events":[{}]"#,
            br#"{"events" [{}]}"#,
            br#"{events:[{}]}"#,
            br#"{"events":[{}]]"#,
            br#"{"events":[{}]} x"#,
        ] {
            assert!(object_events(bad).is_none(), "{bad:?}");
        }
        // Another member that does not parse, or no events array: the sequential path.
        assert!(object_events(br#"{"a":[1,],"events":[{}]}"#).is_none());
        assert!(object_events(br#"{"events":{}}"#).is_none());
        assert!(object_events(br#"{"a":[{}]}"#).is_none());
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

//! Page layout of the stored chain (IndexedDB `events` store, DB v6): one sealed record per
//! run of at most [`PAGE_MAX`] consecutive events, keyed `p` + the 12-digit index of its first
//! event; the record is a length-prefixed container of the events' exact JSON texts. Here:
//! keys, the container (strict decode: damaged bytes are an error, never a panic), which pages
//! a range read opens, the cut of a fork heal, and the plan converting v5's per-event records.
use std::ops::Range;

/// Most events one page record holds (one relay page: `PAGE_LIMIT`).
pub const PAGE_MAX: u64 = 500;
/// Exclusive upper bound of every page key (`p…` < `q`); the snapshot key `#…` and the
/// legacy per-event keys (digits) sort before every page key.
pub const PAGES_END: &str = "q";
/// First key of the legacy (v5) per-event records (12-digit indexes) and the bound after them.
pub const LEGACY_FROM: &str = "0";
pub const LEGACY_END: &str = ":";
/// Container header tag (a layout this build reads).
const TAG: &str = "pg1 ";

/// Key of the page record whose first event has index `start`.
pub fn page_key(start: u64) -> String {
    format!("p{start:012}")
}

/// The first index of a page key (`None`: not a page key).
pub fn page_start(key: &str) -> Option<u64> {
    digits12(key.strip_prefix('p')?)
}

/// The index of a legacy per-event key (`model::chain::event_key`; `None`: not one).
pub fn legacy_index(key: &str) -> Option<u64> {
    digits12(key)
}

fn digits12(s: &str) -> Option<u64> {
    (s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Why a page record (or a run of events to store) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageError {
    /// The container's header is missing or not this layout's.
    Header,
    /// A length prefix is missing, not a number or points past the end.
    Length(usize),
    /// A text does not end on a character boundary.
    Boundary(usize),
    /// Bytes left after the last text the header announced.
    Trailing,
    /// A page key that is not `p` + 12 digits.
    Key(String),
    /// Events handed to the store are not consecutive from the first one's index.
    NotConsecutive { expected: u64, got: u64 },
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header => write!(f, "page record: unknown header"),
            Self::Length(i) => write!(f, "page record: bad length of text {i}"),
            Self::Boundary(i) => write!(f, "page record: text {i} is not UTF-8"),
            Self::Trailing => write!(f, "page record: bytes after the last text"),
            Self::Key(k) => write!(f, "not a page key: {k:?}"),
            Self::NotConsecutive { expected, got } => {
                write!(f, "events to store jump from #{expected} to #{got}")
            }
        }
    }
}

impl std::error::Error for PageError {}

/// The container of a page: `pg1 <count>\n` then each text as `<byte length>:<text>`.
pub fn encode<S: AsRef<str>>(texts: &[S]) -> String {
    let body: usize = texts.iter().map(|t| t.as_ref().len() + 8).sum();
    let mut out = String::with_capacity(body + 16);
    out.push_str(TAG);
    out.push_str(&texts.len().to_string());
    out.push('\n');
    for t in texts {
        let t = t.as_ref();
        out.push_str(&t.len().to_string());
        out.push(':');
        out.push_str(t);
    }
    out
}

/// Read a decimal number of at most 10 digits up to `end` at the start of `s`; the rest after it.
fn number(s: &str, end: u8) -> Option<(usize, &str)> {
    let stop = s.bytes().position(|b| b == end)?;
    let digits = &s[..stop];
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, &s[stop + 1..]))
}

/// The texts of a page container, exactly as stored (strict: anything off is an error).
pub fn decode(s: &str) -> Result<Vec<&str>, PageError> {
    let rest = s.strip_prefix(TAG).ok_or(PageError::Header)?;
    let (count, mut rest) = number(rest, b'\n').ok_or(PageError::Header)?;
    // Each text needs at least its `0:` prefix: a count above that cannot be honest.
    if count > rest.len() / 2 {
        return Err(PageError::Header);
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let (len, after) = number(rest, b':').ok_or(PageError::Length(i))?;
        if len > after.len() {
            return Err(PageError::Length(i));
        }
        let text = after.get(..len).ok_or(PageError::Boundary(i))?;
        out.push(text);
        rest = &after[len..];
    }
    if !rest.is_empty() {
        return Err(PageError::Trailing);
    }
    Ok(out)
}

/// Lowest page start a page covering index `start` can have (pages hold ≤ [`PAGE_MAX`]).
pub fn first_candidate(start: u64) -> u64 {
    start.saturating_sub(PAGE_MAX - 1)
}

/// Of the page starts read for a range from `start` (sorted), the first page worth opening:
/// a page is skipped when the next one starts at or before `start` (pages never overlap, so
/// it ends before `start`).
pub fn first_to_open(starts: &[u64], start: u64) -> usize {
    let mut i = 0;
    while i + 1 < starts.len() && starts[i + 1] <= start {
        i += 1;
    }
    i
}

/// The texts with index in `start..end` of `pages` (`(first index, texts)`, in key order), in
/// chain order; stops at the first index no page holds (a gap), so the result is always the
/// events `start..start + len`.
pub fn collect<'a, I>(pages: I, start: u64, end: u64) -> Vec<String>
where
    I: IntoIterator<Item = (u64, Vec<&'a str>)>,
{
    let mut want = start;
    let mut out = Vec::new();
    for (first, texts) in pages {
        if want >= end || first > want {
            break;
        }
        let skip = (want - first) as usize;
        for t in texts.iter().skip(skip) {
            if want >= end {
                break;
            }
            out.push((*t).to_string());
            want += 1;
        }
    }
    out
}

/// The first index of events handed to the store with their indexes, checked consecutive
/// (`None`: no events).
pub fn run_start(indexes: impl IntoIterator<Item = u64>) -> Result<Option<u64>, PageError> {
    let mut it = indexes.into_iter();
    let Some(first) = it.next() else {
        return Ok(None);
    };
    for (expected, got) in (first + 1..).zip(it) {
        if got != expected {
            return Err(PageError::NotConsecutive { expected, got });
        }
    }
    Ok(Some(first))
}

/// How `n` consecutive events from index `first` are split into page records: `(page start,
/// positions in the run)`, each at most [`PAGE_MAX`] events.
pub fn split(first: u64, n: usize) -> Vec<(u64, Range<usize>)> {
    let max = PAGE_MAX as usize;
    (0..n)
        .step_by(max)
        .map(|at| (first + at as u64, at..(at + max).min(n)))
        .collect()
}

/// The plaintext of page record `run` (one of [`split`]'s runs of the container's decoded
/// `texts`) when a verified container of consecutive events is stored: the container itself
/// when it is the only record (at most [`PAGE_MAX`] texts), else the run's own container. The
/// store seals each record in a task of its own (issue 16).
pub fn record_body<'a>(
    container: &'a str,
    texts: &[&str],
    run: Range<usize>,
) -> std::borrow::Cow<'a, str> {
    if run.len() == texts.len() {
        std::borrow::Cow::Borrowed(container)
    } else {
        std::borrow::Cow::Owned(encode(&texts[run]))
    }
}

/// What a cut of the stored chain back to `count` events does to the page starting at `start`
/// with `len` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Wholly below `count`: unchanged.
    Keep,
    /// Straddles `count`: rewritten with its first `n` events.
    Prefix(usize),
    /// Wholly at or above `count`: deleted.
    Drop,
}

pub fn cut(start: u64, len: usize, count: u64) -> Cut {
    if start >= count {
        Cut::Drop
    } else if start + len as u64 <= count {
        Cut::Keep
    } else {
        Cut::Prefix((count - start) as usize)
    }
}

/// One step of converting legacy per-event records (keys read in order, at most a chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrate {
    /// Nothing legacy left.
    Done,
    /// `keys[..n]` are not per-event keys: left alone, read on after them.
    Skip(usize),
    /// Put `keys[run]` (consecutive indexes from `start`) as one page and delete them.
    Convert { start: u64, run: Range<usize> },
}

/// The next step for the legacy keys read (in key order, from where the last step left off):
/// the leading run of consecutive indexes, at most [`PAGE_MAX`] long.
pub fn migrate_step(keys: &[String]) -> Migrate {
    let Some(first) = keys.first() else {
        return Migrate::Done;
    };
    let Some(start) = legacy_index(first) else {
        let n = keys
            .iter()
            .take_while(|k| legacy_index(k).is_none())
            .count();
        return Migrate::Skip(n);
    };
    let n = keys
        .iter()
        .enumerate()
        .take(PAGE_MAX as usize)
        .take_while(|(i, k)| legacy_index(k) == Some(start + *i as u64))
        .count();
    Migrate::Convert { start, run: 0..n }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "pages_tests.rs"]
mod tests;

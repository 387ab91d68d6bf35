//! Page layout of the stored chain: keys sort after the snapshot and the legacy per-event keys,
//! the container round-trips any texts and refuses damaged bytes without panicking, range reads
//! over any page split give exactly the events asked for, a cut at any point keeps exactly the
//! prefix, and converting legacy per-event records keeps every event once.
use proptest::prelude::*;

use super::*;
use crate::model::chain::{event_key, PAGE_LIMIT};

#[test]
fn keys_sort_after_the_snapshot_and_legacy_keys_and_parse_back() {
    assert_eq!(PAGE_MAX, PAGE_LIMIT as u64);
    assert_eq!(page_key(0), "p000000000000");
    assert_eq!(page_key(1_500), "p000000001500");
    assert!("#chain_snapshot" < page_key(0).as_str());
    assert!(event_key(999_999_999_999).as_str() < page_key(0).as_str());
    assert!(
        event_key(0).as_str() >= LEGACY_FROM && event_key(999_999_999_999).as_str() < LEGACY_END
    );
    assert!(page_key(999_999_999_999).as_str() < PAGES_END);
    assert!(page_key(499) < page_key(500));
    assert_eq!(page_start(&page_key(1_500)), Some(1_500));
    assert_eq!(legacy_index(&event_key(42)), Some(42));
    for bad in [
        "",
        "p",
        "p00000000000",
        "p0000000000000",
        "p00000000000x",
        "#chain_snapshot",
        "000000000001",
    ] {
        assert_eq!(page_start(bad), None, "{bad}");
    }
    for bad in [
        "",
        "p000000000001",
        "00000000001",
        "0000000000001",
        "+00000000001",
    ] {
        assert_eq!(legacy_index(bad), None, "{bad}");
    }
}

#[test]
fn the_container_is_strict() {
    let texts = ["{\"a\":1}", "", "é:\n9:x"];
    let s = encode(&texts);
    assert_eq!(decode(&s).unwrap(), texts);
    assert_eq!(decode(&encode::<&str>(&[])).unwrap(), Vec::<&str>::new());
    assert_eq!(decode(""), Err(PageError::Header));
    assert_eq!(decode("pg2 1\n1:x"), Err(PageError::Header));
    assert_eq!(decode("pg1 1\n"), Err(PageError::Header));
    assert_eq!(decode("pg1 2\n1:x"), Err(PageError::Header));
    assert_eq!(decode("pg1 1\n2:x"), Err(PageError::Length(0)));
    assert_eq!(decode("pg1 1\n:x"), Err(PageError::Length(0)));
    assert_eq!(decode("pg1 1\n1:xy"), Err(PageError::Trailing));
    assert_eq!(decode("pg1 2\n1:x99999999999:y"), Err(PageError::Length(1)));
    // A length ending inside a character.
    assert_eq!(decode("pg1 1\n1:é"), Err(PageError::Boundary(0)));
}

#[test]
fn range_reads_open_only_the_pages_needed() {
    assert_eq!(first_candidate(0), 0);
    assert_eq!(first_candidate(1_000), 501);
    assert_eq!(first_to_open(&[], 7), 0);
    assert_eq!(first_to_open(&[500, 1_000], 1_000), 1);
    assert_eq!(first_to_open(&[500, 1_000], 999), 0);
    assert_eq!(first_to_open(&[600, 700, 800], 900), 2);
}

#[test]
fn collect_stops_at_a_gap() {
    let pages = vec![(0, vec!["a", "b"]), (3, vec!["d"])];
    assert_eq!(collect(pages.clone(), 0, 10), ["a", "b"]);
    assert_eq!(collect(pages.clone(), 1, 2), ["b"]);
    assert_eq!(collect(pages.clone(), 1, 10), ["b"]);
    assert_eq!(collect(pages.clone(), 3, 4), ["d"]);
    assert_eq!(collect(pages, 2, 4), Vec::<String>::new());
}

#[test]
fn runs_must_be_consecutive_and_split_into_pages() {
    assert_eq!(run_start([]), Ok(None));
    assert_eq!(run_start([7, 8, 9]), Ok(Some(7)));
    assert_eq!(
        run_start([7, 9]),
        Err(PageError::NotConsecutive {
            expected: 8,
            got: 9
        })
    );
    assert_eq!(split(10, 0), vec![]);
    assert_eq!(split(10, 3), vec![(10, 0..3)]);
    assert_eq!(
        split(0, 1_001),
        vec![(0, 0..500), (500, 500..1_000), (1_000, 1_000..1_001)]
    );
}

#[test]
fn a_cut_keeps_drops_or_shortens_a_page() {
    assert_eq!(cut(0, 500, 500), Cut::Keep);
    assert_eq!(cut(0, 500, 499), Cut::Prefix(499));
    assert_eq!(cut(500, 10, 500), Cut::Drop);
    assert_eq!(cut(500, 10, 0), Cut::Drop);
}

#[test]
fn migration_steps_convert_leading_runs_and_skip_strangers() {
    let keys = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(migrate_step(&[]), Migrate::Done);
    assert_eq!(
        migrate_step(&keys(&["0001", "00x", &event_key(3)])),
        Migrate::Skip(2)
    );
    let run: Vec<String> = (5..9).map(event_key).collect();
    assert_eq!(
        migrate_step(&run),
        Migrate::Convert {
            start: 5,
            run: 0..4
        }
    );
    let gap = keys(&[&event_key(5), &event_key(6), &event_key(8)]);
    assert_eq!(
        migrate_step(&gap),
        Migrate::Convert {
            start: 5,
            run: 0..2
        }
    );
    let long: Vec<String> = (0..700).map(event_key).collect();
    assert_eq!(
        migrate_step(&long),
        Migrate::Convert {
            start: 0,
            run: 0..500
        }
    );
}

/// A store of page records as `append_events` / `truncate_events` / the migration keep it.
#[derive(Default)]
struct Store {
    pages: std::collections::BTreeMap<String, String>,
}

impl Store {
    fn append(&mut self, first: u64, texts: &[String]) {
        for (start, run) in split(first, texts.len()) {
            self.pages.insert(page_key(start), encode(&texts[run]));
        }
    }

    fn starts_from(&self, lo: u64, hi: u64) -> Vec<(u64, &String)> {
        self.pages
            .range(page_key(lo)..page_key(hi))
            .map(|(k, v)| (page_start(k).unwrap(), v))
            .collect()
    }

    fn range(&self, start: u64, end: u64) -> Vec<String> {
        let read = self.starts_from(first_candidate(start), end);
        let starts: Vec<u64> = read.iter().map(|(s, _)| *s).collect();
        let from = first_to_open(&starts, start);
        collect(
            read[from..].iter().map(|(s, v)| (*s, decode(v).unwrap())),
            start,
            end,
        )
    }

    fn truncate(&mut self, count: u64) {
        let below = self.starts_from(first_candidate(count), count);
        if let Some((s, v)) = below.last().map(|(s, v)| (*s, (*v).clone())) {
            let texts = decode(&v).unwrap();
            match cut(s, texts.len(), count) {
                Cut::Prefix(n) => {
                    let prefix = encode(&texts[..n]);
                    self.pages.insert(page_key(s), prefix);
                }
                Cut::Keep => {}
                Cut::Drop => unreachable!("starts below count"),
            }
        }
        let above: Vec<String> = self
            .pages
            .range(page_key(count)..)
            .map(|(k, _)| k.clone())
            .collect();
        for k in above {
            self.pages.remove(&k);
        }
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{{\"i\":{i},\"s\":\"é{i}:\"}}"))
        .collect()
}

proptest! {
    /// The records built one at a time are the ones stored before (issue 16): the container
    /// itself when it fits one page, else one container per `split` run, starts from `first`;
    /// read back in order they give every text once, in order.
    #[test]
    fn records_one_at_a_time_are_the_container_or_its_split(
        first in 0u64..2_000,
        n in 0usize..1_300,
    ) {
        let all = texts(n);
        let container = encode(&all);
        let decoded = decode(&container).unwrap();
        let records: Vec<(u64, String)> = split(first, n)
            .into_iter()
            .map(|(s, run)| (s, record_body(&container, &decoded, run).into_owned()))
            .collect();
        if n as u64 <= PAGE_MAX {
            let expect = (n > 0).then(|| (first, container.clone()));
            prop_assert_eq!(records.clone(), expect.into_iter().collect::<Vec<_>>());
        } else {
            let expect: Vec<(u64, String)> = split(first, n)
                .into_iter()
                .map(|(s, run)| (s, encode(&all[run])))
                .collect();
            prop_assert_eq!(records.clone(), expect);
        }
        let mut back = Vec::new();
        let mut next = first;
        for (s, body) in &records {
            prop_assert_eq!(*s, next);
            let t = decode(body).unwrap();
            prop_assert!(!t.is_empty() && t.len() as u64 <= PAGE_MAX);
            next += t.len() as u64;
            back.extend(t.into_iter().map(str::to_string));
        }
        prop_assert_eq!(back, all);
    }

    #[test]
    fn container_round_trips(v in proptest::collection::vec(".{0,40}", 0..30)) {
        let s = encode(&v);
        prop_assert_eq!(decode(&s).unwrap(), v.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn damaged_containers_are_errors_never_panics(
        v in proptest::collection::vec("[a-z{}\":é]{0,12}", 1..8),
        at in any::<prop::sample::Index>(),
        cut_at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let s = encode(&v);
        // Truncated: always an error (the header announces every text).
        let mut end = cut_at.index(s.len());
        while !s.is_char_boundary(end) { end -= 1; }
        prop_assert!(decode(&s[..end]).is_err());
        // One byte changed: an error or some texts, never a panic.
        let mut bytes = s.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(t) = String::from_utf8(bytes) {
            let _ = decode(&t);
        }
    }

    #[test]
    fn ranges_over_any_page_split_and_cut_read_exactly(
        sizes in proptest::collection::vec(1usize..=500, 1..8),
        cut_frac in 0.0f64..=1.0,
        a in 0.0f64..=1.0,
        b in 0.0f64..=1.0,
    ) {
        let total: usize = sizes.iter().sum();
        let all = texts(total);
        let mut st = Store::default();
        let mut at = 0;
        for n in &sizes {
            st.append(at as u64, &all[at..at + n]);
            at += n;
        }
        let (lo, hi) = ((a.min(b) * total as f64) as u64, (a.max(b) * total as f64) as u64);
        prop_assert_eq!(st.range(lo, hi), all[lo as usize..hi as usize].to_vec());
        prop_assert_eq!(st.range(0, u64::MAX / 2), all.clone());
        let count = (cut_frac * total as f64) as u64;
        st.truncate(count);
        prop_assert_eq!(st.range(0, u64::MAX / 2), all[..count as usize].to_vec());
        // The chain grows again from the cut.
        let more = texts(total + 3);
        st.append(count, &more[count as usize..]);
        let mut want = all[..count as usize].to_vec();
        want.extend_from_slice(&more[count as usize..]);
        prop_assert_eq!(st.range(0, u64::MAX / 2), want);
    }

    #[test]
    fn migrating_legacy_records_keeps_every_event_once(
        n in 0usize..1_400,
        gap in proptest::option::of(0usize..1_400),
        interrupt_after in 0usize..5,
    ) {
        let all = texts(n);
        let mut legacy: std::collections::BTreeMap<String, String> =
            (0..n).filter(|i| Some(*i) != gap).map(|i| (event_key(i as u64), all[i].clone())).collect();
        let mut st = Store::default();
        // Every step is one transaction; an interrupted run resumes from what is left.
        for pass in 0..2 {
            let mut steps = 0;
            loop {
                if pass == 0 && steps == interrupt_after { break; }
                let keys: Vec<String> = legacy.keys().take(600).cloned().collect();
                match migrate_step(&keys) {
                    Migrate::Done => break,
                    Migrate::Skip(_) => unreachable!("only legacy keys"),
                    Migrate::Convert { start, run } => {
                        let page: Vec<String> = keys[run.clone()].iter().map(|k| legacy[k].clone()).collect();
                        st.pages.insert(page_key(start), encode(&page));
                        for k in &keys[run] { legacy.remove(k); }
                    }
                }
                steps += 1;
            }
        }
        prop_assert!(legacy.is_empty());
        let want: Vec<String> = match gap { Some(g) if g < n => all[..g].to_vec(), _ => all.clone() };
        prop_assert_eq!(st.range(0, n as u64), want);
        if let Some(g) = gap.filter(|g| g + 1 < n) {
            prop_assert_eq!(st.range(g as u64 + 1, n as u64), all[g + 1..].to_vec());
        }
    }
}

//! Tests of the board fed by the sync: a board that folds each page as the sync stores it
//! (and a cut as the sync makes it) equals the board read back from storage after the same
//! writes, and `channels::group` over the stored chain, whatever the pages, the mix of board,
//! other and private events, the records they fall into, the rewinds, and when the reads the
//! board asks for are answered.
use std::collections::VecDeque;

use postern_core::channels::{group, Board};
use postern_core::json::Value;
use postern_core::public_view::redact;
use postern_core::{ChainEvent, Identity};
use proptest::strategy::Strategy;
use rand_core::OsRng;

use super::super::{Action, ChainRead, ChannelsModel, Effect, Env, ReadOut, Stored};
use super::*;
use crate::model::chain::pages::{self, PAGE_MAX};

/// The stored chain as `platform::idb` keeps it: page records (first index, container), each
/// append one record (cut into `PAGE_MAX` ones when longer), a cut rewriting the straddling
/// record and dropping those above; and the cursor.
#[derive(Default)]
struct Store {
    records: Vec<(u64, String)>,
    cursor: (u64, String),
}

impl Store {
    fn append(&mut self, first: u64, texts: &[String]) {
        assert_eq!(first, self.cursor.0, "the sync appends at the cursor");
        self.records.retain(|(s, _)| *s < first);
        for (start, run) in pages::split(first, texts.len()) {
            self.records.push((start, pages::encode(&texts[run])));
        }
        let head = field(texts.last().unwrap(), "event_id").unwrap();
        self.cursor = (first + texts.len() as u64, head);
    }

    fn cut(&mut self, count: u64, head: String) {
        let mut kept = Vec::new();
        for (start, c) in std::mem::take(&mut self.records) {
            let texts = pages::decode(&c).unwrap();
            match pages::cut(start, texts.len(), count) {
                pages::Cut::Keep => kept.push((start, c.clone())),
                pages::Cut::Prefix(n) => kept.push((start, pages::encode(&texts[..n]))),
                pages::Cut::Drop => {}
            }
        }
        self.records = kept;
        self.cursor = (count, head);
    }

    /// `Storage::event_texts_range`: the records covering `start..end`, each opened once.
    fn texts(&self, start: u64, end: u64) -> Vec<String> {
        if end <= start {
            return Vec::new();
        }
        let starts: Vec<u64> = self.records.iter().map(|r| r.0).collect();
        let from = pages::first_to_open(&starts, start);
        let decoded = self.records[from..]
            .iter()
            .map(|(s, c)| (*s, pages::decode(c).unwrap()));
        pages::collect(decoded, start, end)
    }

    /// `channels::effects::read` on this store (the same steps and functions; one record's
    /// worth of texts per read).
    fn read(&self, count: u64, head: &str, outbox: bool) -> ReadOut {
        let chunk = |start: u64| {
            let end = self.cursor.0.min((start / PAGE_MAX + 1) * PAGE_MAX);
            self.texts(start, end)
        };
        let chain = if self.cursor.0 == count && self.cursor.1 == head {
            None
        } else {
            let mut from = read_start(count, self.cursor.0);
            let mut page = chunk(from);
            if from > 0 && !continues(page.first().map(String::as_str), head) {
                from = 0;
                page = chunk(0);
            }
            let events = board_events(&page);
            Some(stored_read(
                (count, head),
                from,
                &page,
                events,
                self.cursor.clone(),
            ))
        };
        ReadOut {
            chain,
            outbox: outbox.then(Vec::new),
            sync_ok_at: 0,
        }
    }

    fn all_texts(&self) -> Vec<String> {
        self.texts(0, self.cursor.0)
    }
}

/// Small deterministic generator for the events' contents (the shape comes from proptest).
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The stored text of event `index` of chain generation `gen` (a rewind writes a new
/// generation: new ids), linked on `prev`: a post, a vote or report (on an earlier post, a
/// node, or nothing known), another public type (some with board words in the payload),
/// or a private event's stub.
fn text(g: &mut Gen, gen: u64, index: u64, prev: &str, posts: &mut Vec<String>) -> String {
    let id = format!("{gen:016x}{index:048x}");
    let node = format!("!sb_{}", g.next(4));
    let target = match g.next(3) {
        0 if !posts.is_empty() => posts[g.next(posts.len() as u64) as usize].clone(),
        1 => format!("!sb_{}", g.next(5)),
        _ => format!("{:064x}", g.next(1000)),
    };
    let (t, payload) = match g.next(8) {
        0..=2 => {
            posts.push(id.clone());
            let channel = ["LongFast", "ops", "x"][g.next(3) as usize];
            (
                "message",
                format!(
                    r#"{{"channel":"{channel}","message":"m{index}","destination":"broadcast"}}"#
                ),
            )
        }
        3 => (
            "vote",
            format!(
                r#"{{"target_id":"{target}","vote":{}}}"#,
                [1, -1, 0][g.next(3) as usize]
            ),
        ),
        4 => (
            "abuse_report",
            format!(r#"{{"target_id":"{target}","reason":"r"}}"#),
        ),
        5 => (
            "prediction",
            r#"{"m":"vote","message":"message"}"#.to_string(),
        ),
        _ => ("gate_message", r#"{"ciphertext":"c"}"#.to_string()),
    };
    let e = ChainEvent {
        event_id: id,
        prev_hash: prev.to_string(),
        event_type: t.into(),
        node_id: node,
        payload: postern_core::json::parse(payload.as_bytes()).unwrap(),
        timestamp: Value::Float(1_700_000_000.0 + index as f64),
        sequence: Value::from(index + 1),
        signature: format!("{index:0128x}"),
        network_id: "sb-testnet-0".into(),
        public_key: "k".into(),
        public_key_algo: "Ed25519".into(),
        protocol_version: "infonet/2".into(),
    };
    let v = e.to_value();
    // The relay serves private events as stubs; those are what is stored.
    if t == "gate_message" {
        redact(&v).to_json_ordered()
    } else {
        v.to_json_ordered()
    }
}

/// What the sync does next.
#[derive(Debug, Clone)]
enum Op {
    /// Store a verified page of `n` events.
    Append(u64),
    /// A fork heal: cut back to `keep`‰ of the stored chain (a new generation follows).
    Rewind(u64),
}

/// One board fed as the sync stores, with the reads it asks for answered `delay` writes later
/// (each read seen at the time it was asked: a stale answer is what it would get).
struct Fed<'a> {
    m: ChannelsModel,
    env: Env<'a>,
    pending: VecDeque<(usize, ReadOut)>,
}

impl Fed<'_> {
    fn asked(&mut self, store: &Store, delay: usize) {
        for fx in self.m.take_effects() {
            if let Effect::Read {
                count,
                head,
                outbox,
            } = fx
            {
                self.pending
                    .push_back((delay, store.read(count, &head, outbox)));
            }
        }
    }

    /// One write passed: answer the reads that are due.
    fn step(&mut self, store: &Store, delay: usize) {
        for p in self.pending.iter_mut() {
            p.0 = p.0.saturating_sub(1);
        }
        while self.pending.front().is_some_and(|p| p.0 == 0) {
            let (_, out) = self.pending.pop_front().unwrap();
            self.m.reduce(Action::Read(Ok(out)), &self.env);
            self.asked(store, delay);
        }
    }

    fn tell(&mut self, store: &Store, change: Stored, delay: usize) {
        self.m.reduce(Action::Stored(change), &self.env);
        self.asked(store, delay);
    }

    /// Answer everything, now.
    fn settle(&mut self, store: &Store) {
        while let Some((_, out)) = self.pending.pop_front() {
            self.m.reduce(Action::Read(Ok(out)), &self.env);
            self.asked(store, 0);
        }
    }
}

/// A board read from storage only (a reload): tick, then every page it asks for.
fn read_back(store: &Store, env: &Env) -> ChannelsModel {
    let mut m = ChannelsModel::new();
    m.reduce(Action::Tick, env);
    let mut reads = 0;
    while let Some(Effect::Read {
        count,
        head,
        outbox,
    }) = m
        .take_effects()
        .into_iter()
        .find(|f| matches!(f, Effect::Read { .. }))
    {
        reads += 1;
        assert!(reads < 1000, "a read-back ends");
        m.reduce(Action::Read(Ok(store.read(count, &head, outbox))), env);
    }
    m
}

fn expected(store: &Store) -> Board {
    let texts = store.all_texts();
    let events = board_events(&texts);
    group(events.iter().map(|e| (e, true)))
}

/// Run `ops`; after every write the fed board equals the read-back and `group` once its
/// reads are answered; returns how many writes it followed without any read.
fn run(ops: &[(Op, usize)], seed: u64) -> usize {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: false,
        now_ms: 1,
    };
    let mut g = Gen(seed | 1);
    let mut store = Store::default();
    let mut fed = Fed {
        m: ChannelsModel::new(),
        env: Env { ..env },
        pending: VecDeque::new(),
    };
    // The board's first read (app start), before anything is stored.
    fed.m.reduce(Action::Tick, &fed.env);
    fed.asked(&store, 0);
    fed.step(&store, 0);
    let (mut gen, mut posts) = (0u64, Vec::new());
    let mut followed = 0;
    for (op, delay) in ops {
        match op {
            Op::Append(n) => {
                let first = store.cursor.0;
                let mut prev = store.cursor.1.clone();
                let texts: Vec<String> = (first..first + n)
                    .map(|i| {
                        let t = text(&mut g, gen, i, &prev, &mut posts);
                        prev = field(&t, "event_id").unwrap();
                        t
                    })
                    .collect();
                store.append(first, &texts);
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let page = page_read(first, &refs, store.cursor.0, &store.cursor.1);
                let before = fed.pending.len();
                fed.tell(&store, Stored::Page(page), *delay);
                if fed.pending.len() == before {
                    followed += 1;
                }
            }
            Op::Rewind(per_mille) => {
                let keep = store.cursor.0 * per_mille / 1000;
                let head = match keep {
                    0 => String::new(),
                    k => field(&store.texts(k - 1, k)[0], "event_id").unwrap(),
                };
                store.cut(keep, head);
                gen += 1;
                posts.clear();
                fed.tell(&store, Stored::Cut(keep), *delay);
            }
        }
        fed.step(&store, *delay);
        // Checked on a copy whose reads are all answered now; the run goes on with the
        // pending ones (answered later, stale or not).
        let mut now = Fed {
            m: fed.m.clone(),
            env: Env { ..env },
            pending: fed.pending.clone(),
        };
        now.settle(&store);
        let back = read_back(&store, &env);
        assert_eq!(now.m.chain, store.cursor, "after {op:?}");
        assert_eq!(back.chain, store.cursor);
        assert_eq!(now.m.board, back.board, "fed vs read back after {op:?}");
        assert_eq!(now.m.board, expected(&store), "fed vs group after {op:?}");
    }
    followed
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn a_board_fed_page_by_page_equals_the_board_read_from_storage(
        ops in proptest::collection::vec(
            (
                proptest::prop_oneof![
                    4 => (1u64..=700).prop_map(Op::Append),
                    1 => (0u64..=1000).prop_map(Op::Rewind),
                ],
                0usize..3,
            ),
            1..10,
        ),
        seed in proptest::prelude::any::<u64>(),
    ) {
        run(&ops, seed);
    }
}

/// Pages stored one after another while no read is out are followed without any read, pages
/// longer than a record included; a rewind makes the board start over from storage (the
/// checks in `run`).
#[test]
fn stored_pages_are_followed_without_reads_and_a_rewind_reads_storage() {
    let ops = [
        (Op::Append(500), 0),
        (Op::Append(700), 0),
        (Op::Append(3), 0),
        (Op::Rewind(500), 0),
        (Op::Append(40), 0),
    ];
    // The rewind's read-back is answered before the next page: every append followed.
    assert_eq!(run(&ops, 7), 4);
}

/// A page the board cannot place (it does not link to the board's head, or comes while the
/// board is behind) is never folded: the board reads storage instead.
#[test]
fn a_page_that_does_not_follow_the_board_is_not_folded() {
    let me = Identity::generate(&mut OsRng);
    let env = Env {
        identity: &me,
        leader: false,
        now_ms: 1,
    };
    let mut m = ChannelsModel::new();
    let post = |i: u64, prev: &str| {
        let mut g = Gen(i + 3);
        let mut posts = Vec::new();
        loop {
            let t = text(&mut g, 9, i, prev, &mut posts);
            if !posts.is_empty() {
                return t;
            }
        }
    };
    let a = post(0, "");
    let a_id = field(&a, "event_id").unwrap();
    m.reduce(
        Action::Stored(Stored::Page(page_read(0, &[&a], 1, &a_id))),
        &env,
    );
    assert_eq!(m.chain, (1, a_id.clone()));
    assert!(m.take_effects().is_empty(), "followed without a read");
    // Index 1, but linked to another head (a page of another fork): not folded, read.
    let b = post(1, "ff");
    let b_id = field(&b, "event_id").unwrap();
    m.reduce(
        Action::Stored(Stored::Page(page_read(1, &[&b], 2, &b_id))),
        &env,
    );
    assert_eq!(m.chain, (1, a_id.clone()));
    assert_eq!(
        m.take_effects(),
        vec![Effect::Read {
            count: 1,
            head: a_id.clone(),
            outbox: false
        }]
    );
    // While that read is out, a page at the board's head is followed, and the read's answer
    // (for the board as it was) is dropped and asked again.
    let c = post(1, &a_id);
    let c_id = field(&c, "event_id").unwrap();
    m.reduce(
        Action::Stored(Stored::Page(page_read(1, &[&c], 2, &c_id))),
        &env,
    );
    assert_eq!(m.chain, (2, c_id.clone()));
    let stale = ChainRead {
        after: Some((1, a_id.clone())),
        count: 2,
        head: b_id,
        events: board_events(&[b]),
        more: false,
    };
    m.reduce(
        Action::Read(Ok(ReadOut {
            chain: Some(stale),
            outbox: None,
            sync_ok_at: 0,
        })),
        &env,
    );
    assert_eq!(m.chain, (2, c_id.clone()));
    let (ea, ec) = (board_events(&[&a]), board_events(&[&c]));
    assert_eq!(m.board, group(ea.iter().chain(&ec).map(|e| (e, true))));
    assert_eq!(
        m.take_effects(),
        vec![Effect::Read {
            count: 2,
            head: c_id,
            outbox: false
        }]
    );
}

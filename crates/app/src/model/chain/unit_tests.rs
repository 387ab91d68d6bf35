//! Native tests of the verification units: against the page-by-page path as the oracle (same
//! accepted events, same first refusal, same ending), with hostile relays — a lie about page
//! A's last id, a page B that does not link, forged events in either page, an unreadable or
//! `unknown_after_hash` page B, a failing fetch — and without the second worker.
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::Value;

use super::*;
use crate::model::chain::{Rejected, Verifier};

const NOW: u64 = 1_780_100_000;

/// Every fake future is ready at once: one poll.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a fake future waited"),
    }
}

fn chain() -> &'static [Value] {
    static CHAIN: OnceLock<Vec<Value>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let opts = GenOptions {
            authors: 3,
            start_timestamp: 1_780_000_000,
            include_gate_messages: false,
        };
        generate_chain(2 * PAGE_LIMIT + 230, opts)
            .iter()
            .map(|e| e.to_value())
            .collect()
    })
}

fn id(v: &Value) -> String {
    v.get("event_id").map(Value::py_str).unwrap_or_default()
}

/// A `/sync` body.
fn body(events: &[Value], unknown: bool) -> String {
    let items: Vec<String> = events.iter().map(Value::to_json_ordered).collect();
    let flag = if unknown {
        r#","unknown_after_hash":true"#
    } else {
        ""
    };
    format!(
        r#"{{"count":{},"protocol_version":"infonet/2"{flag},"events":[{}]}}"#,
        events.len(),
        items.join(",")
    )
}

/// An honest relay over `events`: the page after `after` (unknown id: `unknown_after_hash`).
fn serve(events: &[Value], after: &str) -> String {
    let from = if after.is_empty() {
        Some(0)
    } else {
        events.iter().position(|e| id(e) == after).map(|i| i + 1)
    };
    match from {
        Some(i) => body(
            &events[i.min(events.len())..(i + PAGE_LIMIT).min(events.len())],
            false,
        ),
        None => body(&[], true),
    }
}

type Relay<'r> = dyn Fn(&str) -> Result<String, String> + 'r;

struct Fake<'a> {
    relay: &'a Relay<'a>,
    verifier: RefCell<Verifier>,
    helper: Option<RefCell<Verifier>>,
    ids: Cell<u32>,
}

impl UnitIo for Fake<'_> {
    type Body = String;
    type Err = String;
    async fn fetch(&self, after: &str) -> Result<String, String> {
        (self.relay)(after)
    }
    async fn verifier(&self, req: ToWorker, body: Option<String>) -> Result<FromWorker, String> {
        let req = ToWorker {
            body: body.unwrap_or_default(),
            ..req
        };
        Ok(self.verifier.borrow_mut().handle(&req))
    }
    async fn helper(&self, req: ToWorker, body: String) -> Option<FromWorker> {
        let h = self.helper.as_ref()?;
        let out = h.borrow_mut().handle(&ToWorker { body, ..req });
        assert_eq!(h.borrow().len(), 0, "the second worker keeps no chain");
        Some(out)
    }
    fn next_id(&self) -> u32 {
        self.ids.set(self.ids.get() + 1);
        self.ids.get()
    }
}

/// How a sync ended.
#[derive(Debug, PartialEq)]
enum End {
    Done,
    Refused(Rejected),
    Resync,
    Fetch(String),
}

/// What a sync accepted (index, id, stored text), how it ended, and the verifier's head.
type Outcome = (Vec<(u64, String, Option<String>)>, End, u64, String);

fn keep(out: &mut Vec<(u64, String, Option<String>)>, answer: &FromWorker) {
    let texts = answer.page.as_deref().map(|p| {
        super::super::pages::decode(p)
            .expect("container")
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
    });
    for (k, e) in answer.accepted.iter().enumerate() {
        let text = e
            .json
            .clone()
            .or_else(|| texts.as_ref().map(|t| t[k].clone()));
        out.push((e.index, e.event_id.clone(), text));
    }
}

/// The oracle: one page at a time, each after the verified head.
fn page_by_page(relay: &Relay<'_>) -> Outcome {
    let mut v = Verifier::new();
    let mut accepted = Vec::new();
    let mut after = String::new();
    let end = loop {
        let page = match relay(&after) {
            Ok(p) => p,
            Err(e) => break End::Fetch(e),
        };
        let a = v.page(1, &page, NOW);
        keep(&mut accepted, &a);
        if a.unknown_after_hash {
            break End::Resync;
        }
        if let Some(r) = a.error {
            break End::Refused(r);
        }
        if (a.received as usize) < PAGE_LIMIT {
            break End::Done;
        }
        after = a.head;
    };
    (accepted, end, v.len(), v.head().to_string())
}

/// The same sync in units, as `sync::round` runs them (encoded answers, as on the wire).
fn in_units(relay: &Relay<'_>, two_workers: bool) -> Outcome {
    let io = Fake {
        relay,
        verifier: RefCell::new(Verifier::new()),
        helper: two_workers.then(|| RefCell::new(Verifier::new())),
        ids: Cell::new(0),
    };
    let mut accepted = Vec::new();
    let mut after = String::new();
    let wire = |a: FromWorker| {
        super::super::wire::decode_answer(&super::super::wire::encode_answer(a)).expect("wire")
    };
    let end = loop {
        let unit = match block_on(verify_unit(&io, &after, NOW)) {
            Ok(u) => u,
            Err(e) => break End::Fetch(e),
        };
        let a = wire(unit.answer);
        keep(&mut accepted, &a);
        if a.unknown_after_hash {
            break End::Resync;
        }
        if let Some(r) = a.error {
            break End::Refused(r);
        }
        match unit.next {
            Some(Err(e)) => break End::Fetch(e),
            Some(Ok(b)) => {
                assert!(b.accepted.is_empty());
                if b.unknown_after_hash {
                    break End::Resync;
                }
                if let Some(r) = b.error {
                    break End::Refused(r);
                }
            }
            None => {}
        }
        if (unit.last_received as usize) < PAGE_LIMIT {
            break End::Done;
        }
        after = a.head;
    };
    let v = io.verifier.borrow();
    (accepted, end, v.len(), v.head().to_string())
}

fn same_as_page_by_page(relay: &Relay<'_>, what: &str) -> Outcome {
    let oracle = page_by_page(relay);
    for two in [true, false] {
        assert_eq!(in_units(relay, two), oracle, "{what}, two workers: {two}");
    }
    oracle
}

fn forged(events: &mut [Value], at: usize) {
    let sig = events[at - 1].get("signature").cloned();
    events[at].insert("signature", sig.unwrap_or(Value::Null));
}

#[test]
fn an_honest_chain_verifies_in_units_as_page_by_page() {
    for n in [
        0,
        7,
        PAGE_LIMIT - 1,
        PAGE_LIMIT,
        PAGE_LIMIT + 1,
        2 * PAGE_LIMIT,
        chain().len(),
    ] {
        let events = &chain()[..n];
        let (accepted, end, len, head) =
            same_as_page_by_page(&|after: &str| Ok(serve(events, after)), "honest");
        assert_eq!(
            (end, len, accepted.len()),
            (End::Done, n as u64, n),
            "n = {n}"
        );
        assert_eq!(head, events.last().map(id).unwrap_or_else(|| head.clone()));
        assert!(accepted
            .iter()
            .zip(events)
            .all(|(a, e)| a.1 == id(e) && a.2.is_some()));
    }
}

#[test]
fn a_forged_event_in_either_page_is_the_first_refusal() {
    for at in [
        1,
        250,
        PAGE_LIMIT - 1,
        PAGE_LIMIT,
        PAGE_LIMIT + 300,
        2 * PAGE_LIMIT - 1,
        2 * PAGE_LIMIT + 5,
    ] {
        let mut events = chain().to_vec();
        forged(&mut events, at);
        let (accepted, end, len, _) =
            same_as_page_by_page(&|after: &str| Ok(serve(&events, after)), "forged");
        assert_eq!((accepted.len(), len), (at, at as u64), "at {at}");
        assert!(
            matches!(end, End::Refused(ref r) if r.index == at as u64 && r.reason == "invalid_signature"),
            "at {at}: {end:?}"
        );
    }
    // A forged event in each page: the first one wins.
    let mut events = chain().to_vec();
    forged(&mut events, 420);
    forged(&mut events, PAGE_LIMIT + 10);
    let (_, end, len, _) =
        same_as_page_by_page(&|after: &str| Ok(serve(&events, after)), "two forged");
    assert!(matches!(end, End::Refused(ref r) if r.index == 420));
    assert_eq!(len, 420);
}

#[test]
fn a_relay_lying_about_page_as_last_id_gains_nothing() {
    let honest = chain().to_vec();
    let fake_id = "ab".repeat(32);
    let last = PAGE_LIMIT - 1;
    // Page A's last event carries another id; B is served after it, linking to it.
    let relay = |after: &str| {
        let mut events = honest.clone();
        events[last].insert("event_id", Value::Str(fake_id.clone()));
        if after == fake_id {
            let mut b = honest[PAGE_LIMIT..2 * PAGE_LIMIT].to_vec();
            b[0].insert("prev_hash", Value::Str(fake_id.clone()));
            return Ok(body(&b, false));
        }
        Ok(serve(&events, after))
    };
    let (accepted, end, len, _) = same_as_page_by_page(&relay, "lie about A's last id");
    assert_eq!((accepted.len(), len), (last, last as u64));
    assert!(
        matches!(end, End::Refused(ref r) if r.index == last as u64),
        "{end:?}"
    );
    // The same lie where the relay does not know its own id: `unknown_after_hash` for B.
    let relay = |after: &str| {
        let mut events = honest.clone();
        events[last].insert("event_id", Value::Str(fake_id.clone()));
        Ok(serve(&events, after))
    };
    let (_, end, len, _) = same_as_page_by_page(&relay, "lie, B unknown");
    assert!(
        matches!(end, End::Refused(ref r) if r.index == last as u64),
        "{end:?}"
    );
    assert_eq!(len, last as u64);
    // A last id that is not an id at all (it would go into the next URL): A alone, then the
    // next page after the verified head, as page by page.
    let relay = |after: &str| {
        let mut events = honest.clone();
        events[last].insert("event_id", Value::Str("x&limit=9".into()));
        Ok(serve(&events, after))
    };
    let (_, end, len, _) = same_as_page_by_page(&relay, "last id not an id");
    assert!(
        matches!(end, End::Refused(ref r) if r.index == last as u64),
        "{end:?}"
    );
    assert_eq!(len, last as u64);
}

#[test]
fn a_second_page_that_does_not_link_is_refused_at_its_first_event() {
    // The relay drops event #PAGE_LIMIT: B starts one event late.
    let mut events = chain().to_vec();
    events.remove(PAGE_LIMIT);
    let (accepted, end, len, _) =
        same_as_page_by_page(&|after: &str| Ok(serve(&events, after)), "gap");
    assert_eq!((accepted.len(), len), (PAGE_LIMIT, PAGE_LIMIT as u64));
    assert!(
        matches!(end, End::Refused(ref r) if r.index == PAGE_LIMIT as u64 && r.reason == "prev_hash_mismatch"),
        "{end:?}"
    );
}

#[test]
fn a_second_page_that_fails_to_arrive_read_or_resolve_ends_after_the_first() {
    let events = chain();
    let a_last = id(&events[PAGE_LIMIT - 1]);
    let cases: [(&str, Box<Relay<'_>>); 5] = [
        (
            "B not JSON",
            Box::new(|after: &str| {
                Ok(if after == a_last {
                    "{\"events\":[".into()
                } else {
                    serve(events, after)
                })
            }),
        ),
        (
            "B unknown_after_hash",
            Box::new(|after: &str| {
                Ok(if after == a_last {
                    body(&[], true)
                } else {
                    serve(events, after)
                })
            }),
        ),
        (
            // A hostile relay: the page says it does not know A's last id, yet carries B's
            // (valid, linking) events: none of them is taken, page by page (the oracle) and
            // in units alike, and the sync ends in a resync.
            "B unknown_after_hash with events",
            Box::new(|after: &str| {
                Ok(if after == a_last {
                    body(&events[PAGE_LIMIT..2 * PAGE_LIMIT], true)
                } else {
                    serve(events, after)
                })
            }),
        ),
        (
            "B fetch fails",
            Box::new(|after: &str| {
                if after == a_last {
                    Err("offline".into())
                } else {
                    Ok(serve(events, after))
                }
            }),
        ),
        ("A fetch fails", Box::new(|_: &str| Err("offline".into()))),
    ];
    for (what, relay) in cases {
        let (accepted, end, len, _) = same_as_page_by_page(relay.as_ref(), what);
        let want = if what.starts_with('A') { 0 } else { PAGE_LIMIT };
        assert_eq!((accepted.len(), len), (want, want as u64), "{what}");
        assert!(!matches!(end, End::Done), "{what}");
        if what.contains("unknown_after_hash") {
            assert_eq!(end, End::Resync, "{what}");
        }
    }
    // A page A that says `unknown_after_hash`: a resync, nothing accepted.
    let (accepted, end, ..) = same_as_page_by_page(&|_: &str| Ok(body(&[], true)), "A unknown");
    assert_eq!((accepted.len(), end), (0, End::Resync));
}

#[test]
fn a_second_worker_answer_outside_its_page_refuses_that_page() {
    // A misbehaving second worker (an index before its page): page B refused at its first
    // event, page A kept.
    let events = chain();
    let mut v = Verifier::new();
    let page = |k: usize| body(&events[k * PAGE_LIMIT..(k + 1) * PAGE_LIMIT], false);
    v.handle(&ToWorker {
        body: page(0),
        ..ToWorker::hold(1, String::new(), NOW, false)
    });
    v.handle(&ToWorker::check(2, PAGE_LIMIT as u64));
    v.handle(&ToWorker {
        body: page(1),
        ..ToWorker::hold(3, String::new(), NOW, true)
    });
    let out = v.handle(&ToWorker::finish(
        4,
        Some((3, postern_core::verify::FailReason::EventIdMismatch)),
    ));
    assert_eq!(out.accepted.len(), PAGE_LIMIT);
    assert_eq!(
        out.error.map(|e| (e.index, e.reason)),
        Some((PAGE_LIMIT as u64, "invalid_signature".to_string()))
    );
}

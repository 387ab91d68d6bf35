//! Tests of public channels: posts built and linked as the relay does, the board's grouping,
//! and folding a chain in chunks.
use super::*;
use crate::canonical::GENESIS_HASH;
use crate::verify::{ChainState, VerifyOptions};
use rand_core::OsRng;

/// What the relay does with an append request (crates/relay service `append`): the same
/// normalisation, then the event linked at `prev` and verified by core.
fn append(state: &mut ChainState, r: &AppendRequest, ts: f64) -> ChainEvent {
    let payload = normalize_for_append(&r.event_type, &r.payload).unwrap();
    assert_eq!(
        payload, r.payload,
        "the client signed the normalised payload"
    );
    let mut e = ChainEvent {
        event_id: String::new(),
        prev_hash: state.head().to_string(),
        event_type: r.event_type.clone(),
        node_id: r.node_id.clone(),
        payload,
        timestamp: Value::Float(ts),
        sequence: Value::from(r.sequence),
        signature: r.signature.clone(),
        network_id: r.network_id.clone(),
        public_key: r.public_key.clone(),
        public_key_algo: r.public_key_algo.clone(),
        protocol_version: r.protocol_version.clone(),
    }
    .canonical()
    .unwrap();
    e.event_id = e.computed_event_id();
    let opts = VerifyOptions {
        now: ts as u64,
        max_event_age_s: 0,
        batch: false,
    };
    state.ingest(&e, &opts).unwrap();
    e
}

fn signed(id: &Identity, t: &str, payload: Value, seq: u64, prev: &str) -> ChainEvent {
    let mut e = ChainEvent {
        event_id: String::new(),
        prev_hash: prev.into(),
        event_type: t.into(),
        node_id: id.node_id(),
        payload: crate::canonical::normalize_payload(t, &payload),
        timestamp: Value::Float(1_700_000_000.5),
        sequence: Value::from(seq),
        signature: String::new(),
        network_id: NETWORK_ID.into(),
        public_key: crate::b64::encode_std(id.verifying_key().as_bytes()),
        public_key_algo: ALGO_ED25519.into(),
        protocol_version: PROTOCOL_VERSION.into(),
    };
    let s = signature_string_with_network(NETWORK_ID, t, &e.node_id, &seq.to_string(), &e.payload);
    e.signature = hex::encode(id.sign(s.as_bytes()).to_bytes());
    e.event_id = e.computed_event_id();
    e
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

#[test]
fn a_built_post_verifies_where_the_relay_links_it_and_keeps_its_key_after_a_rebase() {
    let alice = Identity::generate(&mut OsRng);
    let r = build_post(&alice, " LongFast ", "hello channel", 42).unwrap();
    assert_eq!(r.payload.get("channel"), Some(&Value::from("LongFast")));
    let body: AppendRequest = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(
        body, r,
        "the body the browser sends reads back as the request"
    );
    let mut one = ChainState::new();
    let e1 = append(&mut one, &r, 1_700_000_000.25);
    // Another relay's chain with one foreign event first: the same request is re-linked
    // onto another head (new prev_hash and event_id), the statement key is the same.
    let bob = Identity::generate(&mut OsRng);
    let mut two = ChainState::new();
    append(&mut two, &build_post(&bob, "x", "first", 1).unwrap(), 1.0);
    let e2 = append(&mut two, &r, 1_700_000_001.0);
    assert_ne!(e1.event_id, e2.event_id);
    assert_eq!(Statement::of(&e1), Statement::of(&e2));
    assert_eq!(Statement::of(&e1), request_statement(&r));
    let board = group([(&e2, true)]);
    assert!(board.contains(&request_statement(&r)));
    // The fork rule's own re-link (what a relay does to its pending events) too.
    let moved = crate::fork::relink(std::slice::from_ref(&e1), &e2.event_id);
    assert_ne!(moved[0].event_id, e1.event_id);
    let board = group([(&moved[0], true)]);
    assert!(board.contains(&request_statement(&r)));
    assert!(!group([(&e1, true)]).channels[0].posts[0]
        .event_id
        .is_empty());
    assert_eq!(board.last_sequence.get(&alice.node_id()), Some(&42));
}

#[test]
fn build_post_refuses_what_the_relay_would() {
    let a = Identity::generate(&mut OsRng);
    assert_eq!(build_post(&a, "c", "  ", 1), Err(PostError::Empty));
    assert_eq!(build_post(&a, " ", "x", 1), Err(PostError::BadChannel));
    assert_eq!(
        build_post(&a, &"c".repeat(MAX_CHANNEL_CHARS + 1), "x", 1),
        Err(PostError::BadChannel)
    );
    assert_eq!(
        build_post(&a, "c", &"x".repeat(MAX_PUBLIC_MESSAGE_BYTES + 1), 1),
        Err(PostError::TooLong)
    );
    assert_eq!(build_post(&a, "c", "x", 0), Err(PostError::BadSequence));
    assert_eq!(next_sequence(5, 3), 6);
    assert_eq!(next_sequence(5, 1_000), 1_000);
    assert_eq!(next_sequence(u64::MAX, 0), u64::MAX);
}

#[test]
fn grouping_links_votes_and_reports_to_posts_and_authors() {
    let a = Identity::generate(&mut OsRng);
    let b = Identity::generate(&mut OsRng);
    let msg = |ch: &str, text: &str| {
        obj(&[
            ("message", Value::from(text)),
            ("destination", Value::from("broadcast")),
            ("channel", Value::from(ch)),
            ("priority", Value::from("normal")),
            ("ephemeral", Value::Bool(false)),
        ])
    };
    let m1 = signed(&a, "message", msg("LongFast", "one"), 1, GENESIS_HASH);
    let m2 = signed(&b, "message", msg("Other", "two"), 1, &m1.event_id);
    let m3 = signed(
        &a,
        "message",
        obj(&[("message", Value::from("three"))]),
        2,
        "x",
    );
    let vote = |id: &Identity, target: &str, v: i64, seq: u64| {
        let p = obj(&[
            ("target_id", Value::from(target)),
            ("vote", Value::from(v)),
            ("gate", Value::from("")),
        ]);
        signed(id, "vote", p, seq, "x")
    };
    let v1 = vote(&b, &m1.event_id, 1, 2);
    let v2 = vote(&b, &m1.event_id, -1, 3); // b changes its mind: counted once, down
    let v3 = vote(&a, &m1.event_id, 1, 3);
    let v4 = vote(&a, &b.node_id(), -1, 4);
    let v5 = vote(&a, "!sb_nobody", 1, 5);
    let rep = signed(
        &b,
        "abuse_report",
        obj(&[
            ("target_id", Value::from(a.node_id().as_str())),
            ("reason", Value::from("spam")),
        ]),
        4,
        "x",
    );
    let all = [&m1, &v1, &m2, &m3, &v2, &v3, &v4, &v5, &rep];
    let board = group(all.iter().map(|e| (*e, true)));
    let names: Vec<&str> = board.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["LongFast", "Other"]);
    let lf = board.channel("LongFast").unwrap();
    assert_eq!(
        lf.posts.len(),
        2,
        "a message without a channel is on LongFast"
    );
    assert_eq!(lf.posts[0].text, "one");
    assert_eq!(lf.posts[0].timestamp, 1_700_000_000.5);
    assert_eq!(lf.posts[0].notes.votes, Tally { up: 1, down: 1 });
    assert_eq!(board.authors[&b.node_id()].votes, Tally { up: 0, down: 1 });
    assert_eq!(board.authors[&a.node_id()].reports[0].reason, "spam");
    assert_eq!(board.unlinked, 1);
    assert_eq!(board.last_sequence[&a.node_id()], 2);
}

proptest::proptest! {
    #[test]
    fn grouping_never_panics(payloads in proptest::collection::vec(
        (0usize..4, "[ -~]{0,40}", proptest::option::of("[ -~]{0,12}"), -3i64..3), 0..24)
    ) {
        let types = ["message", "vote", "abuse_report", "dm_key"];
        let events: Vec<ChainEvent> = payloads
            .iter()
            .enumerate()
            .map(|(i, (t, text, ch, n))| {
                let mut p = vec![
                    ("message".to_string(), Value::from(text.as_str())),
                    ("target_id".to_string(), Value::from(format!("e{}", i / 2).as_str())),
                    ("vote".to_string(), Value::from(*n)),
                    ("reason".to_string(), Value::from(*n)),
                ];
                if let Some(c) = ch {
                    p.push(("channel".to_string(), Value::from(c.as_str())));
                }
                if *n == 0 {
                    p = vec![("channel".to_string(), Value::from(*n))];
                }
                ChainEvent {
                    event_id: format!("e{i}"),
                    event_type: types[*t].to_string(),
                    node_id: format!("n{}", n.rem_euclid(2)),
                    payload: if *n == 2 { Value::from(text.as_str()) } else { Value::Object(p) },
                    timestamp: Value::from(text.as_str()),
                    sequence: Value::from(*n),
                    ..ChainEvent::from_value(&Value::object()).unwrap()
                }
            })
            .collect();
        let board = group(events.iter().map(|e| (e, true)));
        let total: usize = board.channels.iter().map(|c| c.posts.len()).sum();
        let messages = events.iter().filter(|e| e.event_type == "message").count();
        proptest::prop_assert_eq!(total, messages);
    }
}

/// The board as `group` built it before it could grow (session 12): every post first, then
/// the votes (each voter's latest per target) and reports linked at the end. Kept as the
/// reference the fold is checked against.
fn group_at_once(events: &[(ChainEvent, bool)]) -> Board {
    let mut board = Board::default();
    let mut by_id: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut votes: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut reports: Vec<(String, Report)> = Vec::new();
    for (e, verified) in events {
        match e.event_type.as_str() {
            MESSAGE_TYPE => {
                let (name, text) = channel_and_text(&e.payload);
                if !board.channels.iter().any(|c| c.name == name) {
                    board.channels.push(Channel {
                        name: name.clone(),
                        posts: Vec::new(),
                    });
                }
                let ch = board.channels.iter_mut().find(|c| c.name == name).unwrap();
                by_id.insert(e.event_id.clone(), (name, ch.posts.len()));
                if let Some(seq) = e.sequence_value().to_u64() {
                    let last = board.last_sequence.entry(e.node_id.clone()).or_insert(0);
                    *last = (*last).max(seq);
                }
                ch.posts.push(ChannelPost {
                    event_id: e.event_id.clone(),
                    key: Statement::of(e),
                    node_id: e.node_id.clone(),
                    timestamp: e
                        .timestamp
                        .py_float()
                        .filter(|t| t.is_finite())
                        .unwrap_or(0.0),
                    text,
                    verified: *verified,
                    notes: Notes::default(),
                });
            }
            VOTE_TYPE => {
                let up = e.payload.get("vote").and_then(Value::py_int);
                let up = match up.and_then(|v| v.to_i128()) {
                    Some(1) => true,
                    Some(-1) => false,
                    _ => continue,
                };
                votes.insert((target_of(&e.payload), e.node_id.clone()), up);
            }
            REPORT_TYPE => reports.push((
                target_of(&e.payload),
                Report {
                    event_id: e.event_id.clone(),
                    reporter: e.node_id.clone(),
                    reason: e
                        .payload
                        .get("reason")
                        .map(Value::py_str)
                        .unwrap_or_default(),
                },
            )),
            _ => {}
        }
    }
    // Each target's notes resolved at the end: the last post with that id, else an author
    // who posted, else unlinked.
    let notes_of = |board: &mut Board, target: &str| -> Option<Notes> {
        if let Some((c, p)) = by_id.get(target) {
            let ch = board.channels.iter_mut().find(|ch| &ch.name == c)?;
            return Some(std::mem::take(&mut ch.posts[*p].notes));
        }
        if board.last_sequence.contains_key(target) {
            return Some(board.authors.remove(target).unwrap_or_default());
        }
        board.unlinked += 1;
        None
    };
    let put_back = |board: &mut Board, target: &str, n: Notes| {
        if let Some((c, p)) = by_id.get(target) {
            let ch = board.channels.iter_mut().find(|ch| &ch.name == c).unwrap();
            ch.posts[*p].notes = n;
        } else {
            board.authors.insert(target.to_string(), n);
        }
    };
    for ((target, _), up) in votes {
        if let Some(mut n) = notes_of(&mut board, &target) {
            if up {
                n.votes.up += 1
            } else {
                n.votes.down += 1
            }
            put_back(&mut board, &target, n);
        }
    }
    for (target, report) in reports {
        if let Some(mut n) = notes_of(&mut board, &target) {
            n.reports.push(report);
            put_back(&mut board, &target, n);
        }
    }
    board.channels.sort_by(|a, b| a.name.cmp(&b.name));
    board
}

/// What a board shows (its index aside).
fn shown(
    b: &Board,
) -> (
    &[Channel],
    &BTreeMap<String, Notes>,
    u64,
    &BTreeMap<String, u64>,
) {
    (&b.channels, &b.authors, b.unlinked, &b.last_sequence)
}

/// Small values of every JSON kind (nested once), for arbitrary payload members.
fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(Value::from),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1.0),
            Just(1e300),
            Just(-1.5)
        ]
        .prop_map(Value::Float),
        "(e[0-5]|n[0-3]|x|LongFast|a|b| a |)".prop_map(|s| Value::from(s.as_str())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec(("(message|channel|vote|target_id|reason|x)", inner), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Chain-like events over few ids, nodes and channels: votes and reports before or after
/// their post, on authors, on nothing; duplicate event ids; other types; odd payloads.
fn any_events() -> impl proptest::strategy::Strategy<Value = Vec<(ChainEvent, bool)>> {
    use proptest::prelude::*;
    let types = prop_oneof![
        4 => Just("message"),
        3 => Just("vote"),
        2 => Just("abuse_report"),
        1 => Just("dm_key"),
        1 => Just("gate_message"),
    ];
    let payload = prop_oneof![
        // A well-formed payload of its kind (the type decides which members count).
        (
            "(e[0-5]|n[0-3]|x| e1 |)",
            -2i64..3,
            proptest::option::of("(LongFast|a|b| a | )"),
            "[a-z]{0,4}"
        )
            .prop_map(|(target, vote, channel, text)| {
                let mut m = vec![
                    ("message".to_string(), Value::from(text.as_str())),
                    ("target_id".to_string(), Value::from(target.as_str())),
                    ("vote".to_string(), Value::from(vote)),
                    ("reason".to_string(), Value::from(text.as_str())),
                ];
                if let Some(c) = channel {
                    m.push(("channel".to_string(), Value::from(c.as_str())));
                }
                Value::Object(m)
            }),
        any_value(),
    ];
    let event = (
        types,
        "e[0-5]",
        "n[0-3]",
        payload,
        any_value(),
        any_value(),
        any::<bool>(),
    )
        .prop_map(|(t, id, node, payload, ts, seq, verified)| {
            let e = ChainEvent {
                event_id: id,
                event_type: t.to_string(),
                node_id: node,
                payload,
                timestamp: ts,
                sequence: seq,
                ..ChainEvent::from_value(&Value::object()).unwrap()
            };
            (e, verified)
        });
    proptest::collection::vec(event, 0..40)
}

proptest::proptest! {
    #[test]
    fn folding_in_chunks_equals_grouping_at_once(
        events in any_events(),
        cuts in proptest::collection::vec(0usize..40, 0..6),
    ) {
        let all = group(events.iter().map(|(e, v)| (e, *v)));
        let reference = group_at_once(&events);
        proptest::prop_assert_eq!(shown(&all), shown(&reference));
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(events.len())).collect();
        cuts.push(0);
        cuts.push(events.len());
        cuts.sort_unstable();
        let mut folded = Board::default();
        for w in cuts.windows(2) {
            folded.extend(events[w[0]..w[1]].iter().map(|(e, v)| (e, *v)));
            // Every prefix is the board of that prefix.
            let prefix = group_at_once(&events[..w[1]]);
            proptest::prop_assert_eq!(shown(&folded), shown(&prefix));
        }
        proptest::prop_assert_eq!(&folded, &all);
        let posts: usize = folded.channels.iter().map(|c| c.posts.len()).sum();
        let messages = events.iter().filter(|(e, _)| e.event_type == "message").count();
        proptest::prop_assert_eq!(posts, messages);
    }
}

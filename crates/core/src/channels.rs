//! Public channels: verified public `message` events grouped by channel into timelines, votes
//! and abuse reports attached to what they target, and the signed public post a client appends.
//!
//! A post is identified across fork rebases by its [`Statement`] (node id, type, sequence,
//! signature; the fork rule's key): the relay owns `prev_hash`, `timestamp` and `event_id` and may re-link a pending
//! event onto another head (issue 13), but never changes what the author signed.
use std::collections::BTreeMap;

use thiserror::Error;

use crate::api::infonet::AppendRequest;
use crate::append::normalize_for_append;
use crate::canonical::{signature_string_with_network, NETWORK_ID, PROTOCOL_VERSION};
use crate::event::ChainEvent;
pub use crate::fork::Statement;
use crate::json::{py_strip, Value};
use crate::schema::{SchemaError, MAX_PUBLIC_MESSAGE_BYTES};
use crate::signature::ALGO_ED25519;
use crate::Identity;

/// Channel of a `message` without one (the reference's normalisation default).
pub const DEFAULT_CHANNEL: &str = "LongFast";
/// `destination` of a channel post (everyone on the channel).
pub const BROADCAST_DESTINATION: &str = "broadcast";
/// Longest channel name a client may post to (characters).
pub const MAX_CHANNEL_CHARS: usize = 64;
/// Event type of a channel post.
pub const MESSAGE_TYPE: &str = "message";
/// Event type of a vote.
pub const VOTE_TYPE: &str = "vote";
/// Event type of an abuse report.
pub const REPORT_TYPE: &str = "abuse_report";

/// The statement an append request will carry once appended (core's [`Statement`]: node id,
/// type, sequence, signature), the same whatever head the relay links it onto.
pub fn request_statement(r: &AppendRequest) -> Statement {
    Statement {
        node_id: r.node_id.clone(),
        event_type: r.event_type.clone(),
        sequence: i128::from(r.sequence),
        signature: r.signature.to_ascii_lowercase(),
    }
}

/// Why a post could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PostError {
    #[error("the message is empty")]
    Empty,
    #[error("the message is longer than {MAX_PUBLIC_MESSAGE_BYTES} bytes")]
    TooLong,
    #[error("the channel name must be 1 to {MAX_CHANNEL_CHARS} characters")]
    BadChannel,
    #[error("the sequence must be positive")]
    BadSequence,
    #[error("the payload breaks the append rules: {0}")]
    Schema(#[from] SchemaError),
}

/// The sequence of a new post: above every sequence this node used for `message` events
/// (`last_used`, from the chain and the outbox) and at least the caller's clock in ms, so a
/// fresh browser profile never collides with an earlier one of the same identity.
pub fn next_sequence(last_used: u64, now_ms: u64) -> u64 {
    last_used.saturating_add(1).max(now_ms)
}

/// A signed public `message` for `POST /api/infonet/append`: the payload is normalised by
/// [`normalize_for_append`] (the function the relay runs on it) and the signature covers the
/// normalised payload, so the relay stores exactly what was signed.
pub fn build_post(
    identity: &Identity,
    channel: &str,
    text: &str,
    sequence: u64,
) -> Result<AppendRequest, PostError> {
    let channel = py_strip(channel);
    if channel.is_empty() || channel.chars().count() > MAX_CHANNEL_CHARS {
        return Err(PostError::BadChannel);
    }
    if py_strip(text).is_empty() {
        return Err(PostError::Empty);
    }
    if text.len() > MAX_PUBLIC_MESSAGE_BYTES {
        return Err(PostError::TooLong);
    }
    if sequence == 0 {
        return Err(PostError::BadSequence);
    }
    let raw = Value::Object(vec![
        ("message".into(), Value::Str(text.to_string())),
        (
            "destination".into(),
            Value::Str(BROADCAST_DESTINATION.into()),
        ),
        ("channel".into(), Value::Str(channel.to_string())),
        ("priority".into(), Value::Str("normal".into())),
        ("ephemeral".into(), Value::Bool(false)),
    ]);
    let payload = normalize_for_append(MESSAGE_TYPE, &raw)?;
    let node_id = identity.node_id();
    let seq = sequence.to_string();
    let signed = signature_string_with_network(NETWORK_ID, MESSAGE_TYPE, &node_id, &seq, &payload);
    let signature = hex::encode(identity.sign(signed.as_bytes()).to_bytes());
    Ok(AppendRequest {
        event_type: MESSAGE_TYPE.into(),
        node_id,
        payload,
        signature,
        sequence,
        public_key: crate::b64::encode_std(identity.verifying_key().as_bytes()),
        public_key_algo: ALGO_ED25519.into(),
        protocol_version: PROTOCOL_VERSION.into(),
        network_id: NETWORK_ID.into(),
    })
}

/// Channel and text of a `message` payload (any payload: non-strings are rendered as Python
/// would, a missing or blank channel is [`DEFAULT_CHANNEL`]).
pub fn channel_and_text(payload: &Value) -> (String, String) {
    let text = payload
        .get("message")
        .map(Value::py_str)
        .unwrap_or_default();
    let channel = payload
        .get("channel")
        .map(Value::py_str)
        .map(|c| py_strip(&c).to_string())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| DEFAULT_CHANNEL.to_string());
    (channel, text)
}

/// Up and down votes, each voter counted once (their latest vote).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub up: u64,
    pub down: u64,
}

/// One abuse report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub event_id: String,
    pub reporter: String,
    pub reason: String,
}

/// Votes and reports on one target (a post or an author).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    pub votes: Tally,
    pub reports: Vec<Report>,
}

/// One post of a channel timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPost {
    pub event_id: String,
    pub key: Statement,
    /// Author node id.
    pub node_id: String,
    /// The relay's timestamp (UNIX seconds, 0 when absent).
    pub timestamp: f64,
    pub text: String,
    /// Came from a chain the caller verified.
    pub verified: bool,
    /// Votes and reports whose `target_id` is this post's event id.
    pub notes: Notes,
}

/// One channel: its posts in chain order.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub posts: Vec<ChannelPost>,
}

/// Every channel (sorted by name) and the notes on authors (votes/reports whose `target_id` is
/// a node id that posted). Notes on anything else are counted in `unlinked`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub channels: Vec<Channel>,
    pub authors: BTreeMap<String, Notes>,
    pub unlinked: u64,
    /// Highest `message` sequence per node (the next post must go above it).
    pub last_sequence: BTreeMap<String, u64>,
}

impl Board {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Is this statement on the chain (in any channel, whatever its event id)?
    pub fn contains(&self, key: &Statement) -> bool {
        self.channels
            .iter()
            .any(|c| c.posts.iter().any(|p| &p.key == key))
    }
}

enum Target {
    Post(usize, usize),
    Author(String),
}

/// Group `(event, verified)` pairs in chain order into a [`Board`]. Events of other types are
/// ignored; nothing here fails or panics, whatever the payloads hold.
pub fn group<'a>(events: impl IntoIterator<Item = (&'a ChainEvent, bool)>) -> Board {
    let mut board = Board::default();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_id: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    // Votes: (target, voter) → latest vote; reports kept in order; both linked at the end, so
    // a vote may come before the post it targets is known (it never does on one chain, but
    // events may be given in any order).
    let mut votes: BTreeMap<(String, String), bool> = BTreeMap::new();
    let mut reports: Vec<(String, Report)> = Vec::new();
    for (e, verified) in events {
        match e.event_type.as_str() {
            MESSAGE_TYPE => {
                let (name, text) = channel_and_text(&e.payload);
                let ci = *by_name.entry(name.clone()).or_insert_with(|| {
                    board.channels.push(Channel {
                        name,
                        posts: Vec::new(),
                    });
                    board.channels.len() - 1
                });
                let Some(ch) = board.channels.get_mut(ci) else {
                    continue;
                };
                by_id.insert(e.event_id.clone(), (ci, ch.posts.len()));
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
                    verified,
                    notes: Notes::default(),
                });
            }
            VOTE_TYPE => {
                let target = target_of(&e.payload);
                let up = e.payload.get("vote").and_then(Value::py_int);
                let up = match up.and_then(|v| v.to_i128()) {
                    Some(1) => true,
                    Some(-1) => false,
                    _ => continue,
                };
                votes.insert((target, e.node_id.clone()), up);
            }
            REPORT_TYPE => {
                let target = target_of(&e.payload);
                let reason = e
                    .payload
                    .get("reason")
                    .map(Value::py_str)
                    .unwrap_or_default();
                reports.push((
                    target,
                    Report {
                        event_id: e.event_id.clone(),
                        reporter: e.node_id.clone(),
                        reason,
                    },
                ));
            }
            _ => {}
        }
    }
    let resolve = |board: &Board, target: &str| -> Option<Target> {
        if let Some((c, p)) = by_id.get(target) {
            return Some(Target::Post(*c, *p));
        }
        board
            .last_sequence
            .contains_key(target)
            .then(|| Target::Author(target.to_string()))
    };
    let apply = |board: &mut Board, target: &str, f: &mut dyn FnMut(&mut Notes)| {
        let notes = match resolve(board, target) {
            Some(Target::Post(c, p)) => board
                .channels
                .get_mut(c)
                .and_then(|ch| ch.posts.get_mut(p))
                .map(|p| &mut p.notes),
            Some(Target::Author(a)) => Some(board.authors.entry(a).or_default()),
            None => None,
        };
        match notes {
            Some(n) => f(n),
            None => board.unlinked += 1,
        }
    };
    for ((target, _voter), up) in votes {
        apply(&mut board, &target, &mut |n| {
            if up {
                n.votes.up += 1
            } else {
                n.votes.down += 1
            }
        });
    }
    for (target, report) in reports {
        let mut report = Some(report);
        apply(&mut board, &target, &mut |n| {
            if let Some(r) = report.take() {
                n.reports.push(r)
            }
        });
    }
    board.channels.sort_by(|a, b| a.name.cmp(&b.name));
    board
}

fn target_of(p: &Value) -> String {
    p.get("target_id")
        .map(|v| py_strip(&v.py_str()).to_string())
        .unwrap_or_default()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
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
        let s =
            signature_string_with_network(NETWORK_ID, t, &e.node_id, &seq.to_string(), &e.payload);
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
}

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
///
/// A board grows by folding events into it (`board.extend(events)`, the [`Extend`] impl): any
/// split of a chain into consecutive chunks folds to the board [`group`] builds from all of it
/// at once, so a reader of a growing chain never rebuilds it (issue 16: during a 100k-event
/// first sync the app's one regroup over every event was its longest main-thread task).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    pub channels: Vec<Channel>,
    pub authors: BTreeMap<String, Notes>,
    pub unlinked: u64,
    /// Highest `message` sequence per node (the next post must go above it).
    pub last_sequence: BTreeMap<String, u64>,
    /// What folding later events needs: where each post is, and every target's votes.
    links: Links,
}

/// A board's index for folding more events in.
#[derive(Debug, Clone, Default, PartialEq)]
struct Links {
    /// Channel names by serial (first seen first): a post's place survives channels inserted
    /// before it in name order.
    names: Vec<String>,
    serials: BTreeMap<String, usize>,
    /// Event id → (channel serial, post index) of the last post with that id.
    by_id: BTreeMap<String, (usize, usize)>,
    /// Every vote or report target seen.
    targets: BTreeMap<String, TargetNotes>,
}

/// Where a target's notes are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spot {
    Post(usize, usize),
    Author,
    Unlinked,
}

#[derive(Debug, Clone, PartialEq)]
struct TargetNotes {
    /// Each voter's latest vote (up: true).
    voters: BTreeMap<String, bool>,
    spot: Spot,
    /// The notes while `spot` is `Unlinked` (otherwise they are on the post or author).
    parked: Notes,
}

impl Board {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.channels.get(i))
    }

    /// Is this statement on the chain (in any channel, whatever its event id)?
    pub fn contains(&self, key: &Statement) -> bool {
        self.channels
            .iter()
            .any(|c| c.posts.iter().any(|p| &p.key == key))
    }

    /// Fold one event in (events of other types are ignored; nothing fails or panics).
    fn fold(&mut self, e: &ChainEvent, verified: bool) {
        match e.event_type.as_str() {
            MESSAGE_TYPE => self.add_post(e, verified),
            VOTE_TYPE => {
                let up = e.payload.get("vote").and_then(Value::py_int);
                let up = match up.and_then(|v| v.to_i128()) {
                    Some(1) => true,
                    Some(-1) => false,
                    _ => return,
                };
                self.add_vote(target_of(&e.payload), &e.node_id, up);
            }
            REPORT_TYPE => {
                let reason = e
                    .payload
                    .get("reason")
                    .map(Value::py_str)
                    .unwrap_or_default();
                self.add_report(
                    target_of(&e.payload),
                    Report {
                        event_id: e.event_id.clone(),
                        reporter: e.node_id.clone(),
                        reason,
                    },
                );
            }
            _ => {}
        }
    }

    fn add_post(&mut self, e: &ChainEvent, verified: bool) {
        let (name, text) = channel_and_text(&e.payload);
        let serial = match self.links.serials.get(&name) {
            Some(s) => *s,
            None => {
                let s = self.links.names.len();
                if let Err(at) = self
                    .channels
                    .binary_search_by(|c| c.name.as_str().cmp(&name))
                {
                    self.channels.insert(
                        at,
                        Channel {
                            name: name.clone(),
                            posts: Vec::new(),
                        },
                    );
                }
                self.links.serials.insert(name.clone(), s);
                self.links.names.push(name);
                s
            }
        };
        let Some(ch) = self.position(serial).and_then(|i| self.channels.get_mut(i)) else {
            return;
        };
        let index = ch.posts.len();
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
        self.links.by_id.insert(e.event_id.clone(), (serial, index));
        let mut new_author = false;
        if let Some(seq) = e.sequence_value().to_u64() {
            let last = self
                .last_sequence
                .entry(e.node_id.clone())
                .or_insert_with(|| {
                    new_author = true;
                    0
                });
            *last = (*last).max(seq);
        }
        // Notes already given on this id (a vote before its post, or a duplicate id: the last
        // post with it has them) or on this node move to where they now belong.
        self.relink(&e.event_id);
        if new_author {
            self.relink(&e.node_id);
        }
    }

    fn add_vote(&mut self, target: String, voter: &str, up: bool) {
        let t = self.target(target.clone());
        let before = t.voters.insert(voter.to_string(), up);
        if before == Some(up) {
            return;
        }
        let unlinked = t.spot == Spot::Unlinked;
        if let Some(n) = self.notes_mut(&target) {
            match before {
                Some(true) => n.votes.up = n.votes.up.saturating_sub(1),
                Some(false) => n.votes.down = n.votes.down.saturating_sub(1),
                None => {}
            }
            if up {
                n.votes.up += 1
            } else {
                n.votes.down += 1
            }
        }
        if unlinked && before.is_none() {
            self.unlinked += 1;
        }
    }

    fn add_report(&mut self, target: String, report: Report) {
        let unlinked = self.target(target.clone()).spot == Spot::Unlinked;
        if let Some(n) = self.notes_mut(&target) {
            n.reports.push(report);
        }
        if unlinked {
            self.unlinked += 1;
        }
    }

    /// The channel position of a serial (`channels` is kept sorted by name).
    fn position(&self, serial: usize) -> Option<usize> {
        let name = self.links.names.get(serial)?;
        self.channels
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
    }

    /// Where notes on `target` belong now: the last post with that event id, else an author
    /// who posted, else nowhere.
    fn resolve(&self, target: &str) -> Spot {
        if let Some((c, p)) = self.links.by_id.get(target) {
            Spot::Post(*c, *p)
        } else if self.last_sequence.contains_key(target) {
            Spot::Author
        } else {
            Spot::Unlinked
        }
    }

    fn target(&mut self, target: String) -> &mut TargetNotes {
        let spot = self.resolve(&target);
        self.links
            .targets
            .entry(target)
            .or_insert_with(|| TargetNotes {
                voters: BTreeMap::new(),
                spot,
                parked: Notes::default(),
            })
    }

    /// The notes on a known target where they are now.
    fn notes_mut(&mut self, target: &str) -> Option<&mut Notes> {
        let t = self.links.targets.get_mut(target)?;
        match t.spot {
            Spot::Post(c, p) => {
                let name = self.links.names.get(c)?;
                let i = self
                    .channels
                    .binary_search_by(|ch| ch.name.as_str().cmp(name))
                    .ok()?;
                self.channels
                    .get_mut(i)?
                    .posts
                    .get_mut(p)
                    .map(|p| &mut p.notes)
            }
            Spot::Author => Some(self.authors.entry(target.to_string()).or_default()),
            Spot::Unlinked => Some(&mut t.parked),
        }
    }

    /// A known target's place may have changed (a post with its id, or its node's first
    /// post, came): move its notes there.
    fn relink(&mut self, target: &str) {
        let now = self.resolve(target);
        let Some(was) = self.links.targets.get(target).map(|t| t.spot) else {
            return;
        };
        if was == now {
            return;
        }
        let notes = match was {
            Spot::Author => self.authors.remove(target).unwrap_or_default(),
            _ => self
                .notes_mut(target)
                .map(std::mem::take)
                .unwrap_or_default(),
        };
        if was == Spot::Unlinked {
            self.unlinked = self.unlinked.saturating_sub(count(&notes));
        }
        if now == Spot::Unlinked {
            self.unlinked += count(&notes);
        }
        if let Some(t) = self.links.targets.get_mut(target) {
            t.spot = now;
        }
        if let Some(n) = self.notes_mut(target) {
            *n = notes;
        }
    }
}

/// Votes (one per voter) and reports in some notes: what they add to `unlinked` when nothing
/// they target is known.
fn count(n: &Notes) -> u64 {
    n.votes.up + n.votes.down + n.reports.len() as u64
}

impl<'a> Extend<(&'a ChainEvent, bool)> for Board {
    /// Fold `(event, verified)` pairs in chain order into the board: the same board as
    /// [`group`] over everything folded so far, in one go.
    fn extend<I: IntoIterator<Item = (&'a ChainEvent, bool)>>(&mut self, events: I) {
        for (e, verified) in events {
            self.fold(e, verified);
        }
    }
}

/// Group `(event, verified)` pairs in chain order into a [`Board`]: an empty board with every
/// event folded in. Events of other types are ignored; nothing here fails or panics, whatever
/// the payloads hold. A vote or report may come before the post it targets (never on one
/// chain, but events may be given in any order).
pub fn group<'a>(events: impl IntoIterator<Item = (&'a ChainEvent, bool)>) -> Board {
    let mut board = Board::default();
    board.extend(events);
    board
}

fn target_of(p: &Value) -> String {
    p.get("target_id")
        .map(|v| py_strip(&v.py_str()).to_string())
        .unwrap_or_default()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

//! The fork rule of the one chain: which of two branches from one fork point wins, and how the
//! losing relay re-links its pending events onto the winner so no appended event is lost.
//!
//! In Infonet/2 an author signs `network | type | node | sequence | payload` only; `prev_hash`,
//! `timestamp` and `event_id` belong to the relay that links the event. So an event can be moved
//! to another position of the chain with its author's signature still valid. The rule
//! (docs/protocol.md § Forks heal):
//!
//! * Two branches leave one fork point `F`. The branch whose **first** event has the smaller
//!   event id (lower-case hex, compared as text) wins. Every relay evaluates this on the same
//!   two ids, so all relays pick the same winner.
//! * The losing relay keeps its chain up to `F`, takes the winning branch, then re-links every
//!   event of its own branch that the winner does not already carry (same author statement:
//!   node, type, sequence, signature) onto the winner's head, in its own order. Re-linking sets
//!   `prev_hash` and recomputes `event_id`; the timestamp is kept, so two relays re-linking the
//!   same events onto the same head produce the same ids.
//! * Only **pending** events (after the last signed tree head, see [`crate::tree_head`]) may be
//!   re-linked: a fork below what a relay has signed is a split ([`ForkError::BelowSettled`]),
//!   refused and reported, never healed by rewriting.
//!
//! Sans-IO and pure: [`adopt`] verifies the adopted branch and each re-linked event with
//! [`crate::verify::ChainState`]; the relay stores the result only if it verifies.

use std::collections::HashSet;

use thiserror::Error;

use crate::event::ChainEvent;
use crate::verify::{ChainState, EventRejection, VerifyOptions};

/// Which branch of a fork wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Winner {
    /// Our branch stays; the other side adopts it.
    Ours,
    /// The other branch wins; we adopt it and re-link our pending events onto it.
    Theirs,
}

/// Why a fork cannot be resolved by the rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForkError {
    /// A branch is empty: there is no fork, one chain simply extends the other.
    #[error("no fork: one of the branches is empty")]
    NoFork,
    /// Both branches start with the same event: the fork point is later than given.
    #[error("no fork at this point: both branches start with event {0}")]
    SameFirstEvent(String),
    /// Our branch leaves the fork point below what we have signed (a split, not a fork).
    #[error(
        "fork at index {fork_at} is below this relay's signed tree head (size {settled}); \
         signed history is never rewritten"
    )]
    BelowSettled { fork_at: u64, settled: u64 },
    /// A branch event does not extend the event before it.
    #[error("branch event {index} does not extend the event before it")]
    Unlinked { index: usize },
}

/// The deterministic choice between two branches from one fork point, given the event ids of
/// their first events.
pub fn winner(ours_first: &str, theirs_first: &str) -> Winner {
    if theirs_first < ours_first {
        Winner::Theirs
    } else {
        Winner::Ours
    }
}

/// What an author signed: two events with the same key are the same statement, wherever they
/// are linked. (A second event with the same node, type domain and sequence but a different
/// signature is a different statement; the chain's sequence rule refuses one of them.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Statement {
    pub node_id: String,
    pub event_type: String,
    pub sequence: i128,
    pub signature: String,
}

impl Statement {
    /// The statement an event carries.
    pub fn of(evt: &ChainEvent) -> Statement {
        Statement {
            node_id: evt.node_id.clone(),
            event_type: evt.event_type.clone(),
            sequence: evt.sequence_int(),
            signature: evt.signature.to_ascii_lowercase(),
        }
    }
}

/// Re-link `events` one after another onto `onto` (a head hash): each gets the previous one's
/// id as `prev_hash` and its id recomputed; timestamps and everything the author signed are
/// kept. Deterministic: the same events onto the same head give the same ids on every relay.
pub fn relink(events: &[ChainEvent], onto: &str) -> Vec<ChainEvent> {
    let mut head = onto.to_string();
    let mut out = Vec::with_capacity(events.len());
    for evt in events {
        let mut moved = evt.clone();
        moved.prev_hash = head;
        moved.event_id = moved.computed_event_id();
        head = moved.event_id.clone();
        out.push(moved);
    }
    out
}

/// How to resolve one fork.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Our branch wins: keep it; the other side should adopt it (answer `forked`).
    Keep,
    /// Their branch wins: replace our events after the fork point by `theirs`, then re-link
    /// `keep` (our events the winner does not carry, in our order) onto its head with [`adopt`].
    Adopt {
        keep: Vec<ChainEvent>,
        /// Our events dropped because the winning branch already carries their statement.
        already_there: usize,
    },
}

/// Resolve the fork at index `fork_at` (the number of events both chains share) between our
/// events after it (`ours`) and theirs (`theirs`, their whole branch as far as we have it).
/// `settled` is the size of our last signed tree head: a fork below it is refused.
///
/// Both branches must be linked (each event's `prev_hash` is the previous event's id); the
/// caller verifies the result with the chain rules before storing it.
pub fn resolve(
    fork_at: u64,
    settled: u64,
    ours: &[ChainEvent],
    theirs: &[ChainEvent],
) -> Result<Resolution, ForkError> {
    let (Some(o), Some(t)) = (ours.first(), theirs.first()) else {
        return Err(ForkError::NoFork);
    };
    if o.event_id == t.event_id {
        return Err(ForkError::SameFirstEvent(o.event_id.clone()));
    }
    check_linked(ours)?;
    check_linked(theirs)?;
    if winner(&o.event_id, &t.event_id) == Winner::Ours {
        return Ok(Resolution::Keep);
    }
    if fork_at < settled {
        return Err(ForkError::BelowSettled { fork_at, settled });
    }
    let carried: HashSet<Statement> = theirs.iter().map(Statement::of).collect();
    let (keep, dropped): (Vec<&ChainEvent>, Vec<&ChainEvent>) = ours
        .iter()
        .partition(|e| !carried.contains(&Statement::of(e)));
    Ok(Resolution::Adopt {
        keep: keep.into_iter().cloned().collect(),
        already_there: dropped.len(),
    })
}

/// The chain after the fork point once their branch is adopted.
#[derive(Debug, Clone, PartialEq)]
pub struct Adopted {
    /// Their branch, then our kept events re-linked: what follows the fork point now.
    pub events: Vec<ChainEvent>,
    /// How many of `events` are ours, re-linked (the last ones).
    pub relinked: usize,
    /// Our events that no longer fit the winning branch (e.g. the author used the same
    /// sequence on both branches, or was revoked there), with the rule that refused them.
    pub dropped: Vec<(ChainEvent, EventRejection)>,
}

/// Their branch failed verification: nothing is adopted.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("their branch event {index} is invalid: {}", rejection.detail)]
pub struct AdoptError {
    pub index: usize,
    pub rejection: EventRejection,
}

/// Adopt their branch on `state` (the chain state at the fork point; scratch: discard it on
/// error): verify every event of `theirs` in full, then re-link each of `keep` onto the new head
/// one by one and verify it; an event of ours that fails is dropped (and reported) and the next
/// one links to the head before it, so every relay computes the same result.
pub fn adopt(
    state: &mut ChainState,
    theirs: &[ChainEvent],
    keep: &[ChainEvent],
    opts: &VerifyOptions,
) -> Result<Adopted, AdoptError> {
    let (accepted, rejection) = state.ingest_batch(theirs, opts);
    if let Some(rejection) = rejection {
        return Err(AdoptError {
            index: accepted,
            rejection,
        });
    }
    let mut events = theirs.to_vec();
    let mut dropped = Vec::new();
    let mut relinked = 0;
    for evt in keep {
        let mut moved = evt.clone();
        moved.prev_hash = state.head().to_string();
        moved.event_id = moved.computed_event_id();
        match state.ingest(&moved, opts) {
            Ok(()) => {
                events.push(moved);
                relinked += 1;
            }
            Err(r) => dropped.push((evt.clone(), r)),
        }
    }
    Ok(Adopted {
        events,
        relinked,
        dropped,
    })
}

fn check_linked(branch: &[ChainEvent]) -> Result<(), ForkError> {
    for (i, pair) in branch.windows(2).enumerate() {
        if pair[1].prev_hash != pair[0].event_id {
            return Err(ForkError::Unlinked { index: i + 1 });
        }
    }
    Ok(())
}

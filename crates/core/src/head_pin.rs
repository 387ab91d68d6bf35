//! The pin a peer or browser keeps per relay: the newest signed tree head it verified from that
//! relay, and the rule that accepts a new head only as a consistent extension of it. A rewrite
//! or an equivocation is refused and returned as [`Evidence`] anyone can re-check.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::rfc9162::{self, Hash};
use crate::tree_head::{SignedTreeHead, TreeHeadError, TreeHeadWire};

/// What a new head is, relative to the pinned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOutcome {
    /// The same head again (same size and root).
    Same,
    /// A larger tree that extends the pinned one (consistency proof verified): the pin moves.
    Extended,
    /// A smaller tree that the pinned one extends (proof verified): fine, the pin stays.
    Older,
}

/// Misbehaviour a pin found: two heads signed by one relay key that cannot both be true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// Two different roots signed for one size.
    Equivocation,
    /// A head whose tree does not extend (or is not extended by) the pinned one.
    Inconsistent,
    /// A larger tree signed with an earlier time than the pinned head.
    TimeRegression,
}

/// Both signed heads (and the proof offered, if any), kept so anyone can re-check the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub pinned: TreeHeadWire,
    pub offered: TreeHeadWire,
    /// The consistency proof the relay offered, hex (empty when none could apply).
    pub proof: Vec<String>,
}

/// Why a new head was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PinError {
    /// The head itself is invalid (format, signature, network, key).
    #[error("invalid tree head: {0}")]
    Invalid(#[from] TreeHeadError),
    /// Misbehaviour by the relay that signed both heads.
    #[error("relay misbehaviour: {:?}", .0.kind)]
    Misbehaviour(Box<Evidence>),
}

/// The newest verified head from one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadPin {
    pinned: SignedTreeHead,
}

impl HeadPin {
    /// Pin a first head (trust on first use; it must verify and be for `network_id`).
    pub fn first(sth: SignedTreeHead, network_id: &str) -> Result<HeadPin, PinError> {
        sth.verify()?;
        check_network(&sth, network_id)?;
        Ok(HeadPin { pinned: sth })
    }

    /// The pinned head.
    pub fn head(&self) -> &SignedTreeHead {
        &self.pinned
    }

    /// Check `new` (from the same relay) against the pin with the relay's consistency `proof`
    /// between the two sizes (from the smaller to the larger). Moves the pin forward on
    /// [`PinOutcome::Extended`]; leaves it unchanged otherwise.
    pub fn check(&mut self, new: SignedTreeHead, proof: &[Hash]) -> Result<PinOutcome, PinError> {
        new.verify()?;
        check_network(&new, &self.pinned.head.network_id)?;
        if new.head.relay_key != self.pinned.head.relay_key {
            return Err(TreeHeadError::OtherRelay.into());
        }
        let (old, cur) = (&self.pinned.head, &new.head);
        let misbehaviour = |kind| {
            PinError::Misbehaviour(Box::new(Evidence {
                kind,
                pinned: self.pinned.to_wire(),
                offered: new.to_wire(),
                proof: proof.iter().map(hex::encode).collect(),
            }))
        };
        if cur.size == old.size {
            return if cur.root == old.root {
                Ok(PinOutcome::Same)
            } else {
                Err(misbehaviour(EvidenceKind::Equivocation))
            };
        }
        let (small, large) = if cur.size > old.size {
            (old, cur)
        } else {
            (cur, old)
        };
        if large.timestamp_ms < small.timestamp_ms {
            return Err(misbehaviour(EvidenceKind::TimeRegression));
        }
        let proof_bytes: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
        let consistent = if small.size == 0 {
            small.root == rfc9162::empty_root() && proof.is_empty()
        } else {
            rfc9162::verify_consistency(
                small.size,
                large.size,
                &proof_bytes,
                &small.root,
                &large.root,
            )
            .is_ok()
        };
        if !consistent {
            return Err(misbehaviour(EvidenceKind::Inconsistent));
        }
        if cur.size > old.size {
            self.pinned = new;
            Ok(PinOutcome::Extended)
        } else {
            Ok(PinOutcome::Older)
        }
    }
}

fn check_network(sth: &SignedTreeHead, network_id: &str) -> Result<(), TreeHeadError> {
    if sth.head.network_id != network_id {
        return Err(TreeHeadError::Network {
            got: sth.head.network_id.clone(),
            want: network_id.to_string(),
        });
    }
    Ok(())
}

/// Re-check a piece of evidence from its own contents: both heads verify under one relay key
/// and conflict. Lets a third party (another peer, an operator) confirm a report.
///
/// Equivocation and time regression are self-contained proofs (two valid signatures that cannot
/// both be honest). For [`EvidenceKind::Inconsistent`] this confirms only that the proof the
/// relay offered fails; a third party holding the chain confirms it by computing both roots
/// ([`crate::tree_head::check_against_ids`]).
pub fn evidence_holds(e: &Evidence) -> bool {
    let (Ok(a), Ok(b)) = (
        SignedTreeHead::from_wire(&e.pinned),
        SignedTreeHead::from_wire(&e.offered),
    ) else {
        return false;
    };
    if a.head.relay_key != b.head.relay_key || a.head.network_id != b.head.network_id {
        return false;
    }
    let proof: Option<Vec<Hash>> = e
        .proof
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|v| <Hash>::try_from(v.as_slice()).ok())
        })
        .collect();
    let Some(proof) = proof else {
        return false;
    };
    let mut pin = HeadPin { pinned: a };
    matches!(pin.check(b, &proof), Err(PinError::Misbehaviour(found)) if found.kind == e.kind)
}

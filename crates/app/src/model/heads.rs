//! The browser's check of a relay's signed tree head against the pin it keeps for that relay
//! and the event ids it verified itself: verified, pending (beyond what it holds), or relay
//! misbehaviour with core's [`Evidence`]. Every rule is `postern_core`'s (`tree_head`, `head_pin`).
use postern_core::api::heads::TreeHeadResponse;
use postern_core::head_pin::{Evidence, EvidenceKind, HeadPin, PinError};
use postern_core::rfc9162::Hash;
use postern_core::tree_head::{self, SignedTreeHead, TreeHeadError, TreeHeadWire};
use serde::{Deserialize, Serialize};

/// What a tree-head check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeadState {
    /// The relay has not signed a head yet.
    #[default]
    None,
    /// The head's root is the root of our own verified ids of that size.
    Verified,
    /// The head covers more events than we verified (and, with a pin and a proof, extends it).
    Pending,
    /// The relay signed history that contradicts what it signed or showed before.
    Misbehaviour,
    /// The answer or the head is unreadable or invalid (nothing pinned).
    Invalid,
}

/// The verdict the worker returns: state, signed size, the pin to keep, evidence if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadVerdict {
    pub state: HeadState,
    /// Size of the head the relay offered (0 when none).
    pub size: u64,
    /// Events we verified when checking.
    pub verified: u64,
    /// Events on the relay's chain now (signed and pending).
    #[serde(default)]
    pub chain_size: u64,
    /// The pin to keep (moves forward only to a head verified against our ids).
    #[serde(default)]
    pub pin: Option<TreeHeadWire>,
    #[serde(default)]
    pub evidence: Option<Evidence>,
    #[serde(default)]
    pub detail: String,
}

/// What the browser keeps per relay key: the pin and every piece of evidence found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadRecord {
    #[serde(default)]
    pub pin: Option<TreeHeadWire>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
}

impl HeadRecord {
    /// Take in a verdict: the pin it keeps, its evidence (once). Returns whether it changed.
    pub fn absorb(&mut self, v: &HeadVerdict) -> bool {
        let before = self.clone();
        if v.pin.is_some() {
            self.pin.clone_from(&v.pin);
        }
        if let Some(e) = &v.evidence {
            if !self.evidence.contains(e) {
                self.evidence.push(e.clone());
            }
        }
        *self != before
    }
}

/// The relay key (hex) a tree-head answer names, to find the pin kept for it.
pub fn answer_relay_key(body: &str) -> Option<String> {
    let r: TreeHeadResponse = serde_json::from_str(body).ok()?;
    r.tree_head.map(|h| h.relay_key)
}

/// The size of the signed head in a tree-head answer (0: none).
pub fn answer_size(body: &str) -> u64 {
    serde_json::from_str::<TreeHeadResponse>(body)
        .ok()
        .and_then(|r| r.tree_head)
        .map_or(0, |h| h.size)
}

/// Whether a relay has signed any head this browser knows of: in its answer (`body`) or
/// pinned here (`pinned`, any key). Without one a fork heal cannot be told from a rewrite.
pub fn any_signed_head(body: &str, pinned: &[u64]) -> bool {
    !pinned.is_empty()
        || serde_json::from_str::<TreeHeadResponse>(body)
            .ok()
            .is_some_and(|r| r.tree_head.is_some())
}

/// The events a verified copy keeps whatever a relay answers when it follows a fork heal:
/// the relay's newest signed head (`answer_size`) and every head pinned in this browser, for
/// ANY relay key — a relay that hides its head or signs with a new key cannot lower it below
/// what it (or another relay of the network) signed before.
pub fn settled_bound(answer_size: u64, pinned: &[u64]) -> u64 {
    pinned.iter().copied().fold(answer_size, u64::max)
}

/// The sizes of the consistency proof needed from the relay: the head is beyond the ids we
/// hold and differs in size from the pin (`None`: no proof needed, or none possible).
pub fn proof_needed(body: &str, pin: Option<&TreeHeadWire>, held: u64) -> Option<(u64, u64)> {
    let head = serde_json::from_str::<TreeHeadResponse>(body)
        .ok()?
        .tree_head?;
    let pin = pin?;
    let (small, large) = (pin.size.min(head.size), pin.size.max(head.size));
    (large > held && small > 0 && small < large).then_some((small, large))
}

fn parse_proof(hexes: &[String]) -> Option<Vec<Hash>> {
    hexes
        .iter()
        .map(|h| {
            let v = hex_decode(h)?;
            <Hash>::try_from(v.as_slice()).ok()
        })
        .collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Check the relay's tree-head answer `body` against `pin` (the last head verified from that
/// relay) and `ids` (the event ids we verified, chain order). `relay_proof` is the relay's
/// consistency proof between the pin and the head (needed only when the larger of them is
/// beyond `ids`, see [`proof_needed`]).
pub fn check_head(
    body: &str,
    pin: Option<&TreeHeadWire>,
    ids: &[String],
    relay_proof: Option<&[String]>,
) -> HeadVerdict {
    let held = ids.len() as u64;
    let mut out = HeadVerdict {
        verified: held,
        pin: pin.cloned(),
        ..HeadVerdict::default()
    };
    let invalid = |mut out: HeadVerdict, detail: String| {
        out.state = HeadState::Invalid;
        out.detail = detail;
        out
    };
    let answer: TreeHeadResponse = match serde_json::from_str(body) {
        Ok(a) => a,
        Err(e) => return invalid(out, format!("unreadable tree-head answer: {e}")),
    };
    out.chain_size = answer.chain_size;
    let Some(wire) = answer.tree_head else {
        return out;
    };
    out.size = wire.size;
    let sth = match SignedTreeHead::from_wire(&wire) {
        Ok(s) => s,
        Err(e) => return invalid(out, e.to_string()),
    };
    // A pin that no longer parses (or is from another key) is no pin.
    let pinned = pin
        .and_then(|p| SignedTreeHead::from_wire(p).ok())
        .filter(|p| p.head.relay_key == sth.head.relay_key);
    if let Some(pinned) = pinned {
        let large = pinned.head.size.max(sth.head.size);
        let small = pinned.head.size.min(sth.head.size);
        // Within our ids we compute the proof ourselves; beyond them we need the relay's.
        let proof = if small == large || small == 0 {
            Some(Vec::new())
        } else if large <= held {
            usize::try_from(large)
                .ok()
                .and_then(|n| ids.get(..n))
                .and_then(|prefix| tree_head::consistency(prefix, small).ok())
        } else {
            relay_proof.and_then(parse_proof)
        };
        if let Some(proof) = proof {
            let network = pinned.head.network_id.clone();
            match HeadPin::first(pinned, &network).and_then(|mut p| p.check(sth.clone(), &proof)) {
                Ok(_) => {}
                Err(PinError::Misbehaviour(e)) => return misbehaviour(out, *e),
                Err(PinError::Invalid(e)) => return invalid(out, e.to_string()),
            }
        }
    }
    match tree_head::check_against_ids(&sth, ids) {
        Ok(()) => {
            out.state = HeadState::Verified;
            if pin.is_none_or(|p| p.relay_key != wire.relay_key || p.size < wire.size) {
                out.pin = Some(wire);
            }
            out
        }
        Err(TreeHeadError::BeyondHeld { .. }) => {
            out.state = HeadState::Pending;
            out
        }
        Err(e) => {
            // The relay signed a root that is not the root of the events it showed us.
            let pinned = match pin {
                Some(p) if p.relay_key == wire.relay_key => p.clone(),
                _ => wire.clone(),
            };
            let evidence = Evidence {
                kind: EvidenceKind::Inconsistent,
                pinned,
                offered: wire,
                proof: Vec::new(),
            };
            out.detail = e.to_string();
            misbehaviour(out, evidence)
        }
    }
}

fn misbehaviour(mut out: HeadVerdict, evidence: Evidence) -> HeadVerdict {
    out.state = HeadState::Misbehaviour;
    if out.detail.is_empty() {
        out.detail = format!("{:?}", evidence.kind).to_lowercase();
    }
    out.evidence = Some(evidence);
    out
}

/// What the chain sync view says about the signed head.
pub fn head_text(v: &HeadVerdict) -> String {
    match v.state {
        HeadState::None => "Signed head: none yet".into(),
        HeadState::Verified => {
            let pending = v.chain_size.saturating_sub(v.size);
            if pending == 0 {
                format!("Signed head: size {}, verified", v.size)
            } else {
                format!(
                    "Signed head: size {}, verified · pending: {pending} events not yet signed",
                    v.size
                )
            }
        }
        HeadState::Pending => format!(
            "Signed head: size {}, {} events beyond what this browser verified yet",
            v.size,
            v.size.saturating_sub(v.verified)
        ),
        HeadState::Misbehaviour => "Signed head: relay misbehaviour".into(),
        HeadState::Invalid => format!("Signed head: invalid ({})", v.detail),
    }
}

#[cfg(test)]
mod tests;

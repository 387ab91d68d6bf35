//! Private gates: stored records, invite codes, what a verified epoch chain means for me
//! (core's `verify_epoch_chain` + `GateKeyring`), opening posts, the queued-post record and the
//! trust rule for gates I was added to.
use std::rc::Rc;

use postern_core::gate::{
    verify_epoch_chain, AddEpochError, ChainError, Epoch, EpochRecord, GateId, GateKeyring,
    GateMessage, UnwrapError,
};
use postern_core::Identity;
use serde::{Deserialize, Serialize};

use super::contacts::Contact;

/// Invite code prefix: `postern-gate1.<gate_id>.<genesis_hash>`.
pub const INVITE_PREFIX: &str = "postern-gate1.";

/// A private gate this browser is in (or was in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGate {
    pub gate_id: String,
    /// Local label (never sent anywhere).
    pub name: String,
    /// Hex hash of the genesis epoch (from the invite code or our own genesis).
    pub genesis_hash: String,
    /// Cursor of the relay's message stream (`next_after`).
    #[serde(default)]
    pub after: u64,
    pub added_at: u64,
    /// The non-contact whose invitation I accepted to join (none for my own gates and for
    /// gates a contact added me to): counts against that inviter's invitation rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    /// Set when a relay served a chain that is not the pinned one or a strict extension of
    /// it; posting stays disabled while it stands (cleared by a later acceptable chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<ChainAlarm>,
    /// What the relay served of this gate that was not shown (see `model::gate_stream`).
    #[serde(default, skip_serializing_if = "HiddenCounts::is_zero")]
    pub hidden: HiddenCounts,
}

/// Messages a relay served for a gate that were hidden, by reason; kept with the gate and
/// said in plain words under its conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HiddenCounts {
    /// The same message served again under another seq.
    #[serde(default)]
    pub replayed: u64,
    /// A message whose author had already used its counter for another one.
    #[serde(default)]
    pub reused: u64,
    /// A message sealed under an epoch after that epoch had been replaced.
    #[serde(default)]
    pub stale: u64,
}

impl HiddenCounts {
    pub fn is_zero(&self) -> bool {
        *self == HiddenCounts::default()
    }
}

/// A relay served a gate chain that is not the pinned one or a strict extension of it. Stored
/// with the gate entry; while it stands posting and rotations are disabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainAlarm {
    /// `rollback` or `fork` (core's `ChainRelation::code`).
    pub kind: String,
    /// The sentence shown in the gate view.
    pub detail: String,
}

/// An opened, author-verified gate message. Identified by its `nonce` (see
/// `model::gate_stream`); `seq` is only the relay's order hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGateMessage {
    pub gate: String,
    pub seq: u64,
    pub epoch: u64,
    /// Authenticated author node id.
    pub sender: String,
    pub timestamp: u64,
    pub body: String,
    /// The message nonce (standard base64), its identity. Empty in records stored before it
    /// was kept (those are told apart by `seq`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// The author's signed per-gate counter; `None` for a legacy (uncounted) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<u64>,
    /// core's `StreamMark::code` given when the message arrived (`None`: stored before marks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// For a `gap` mark: how many earlier counters of this author had not arrived.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub missing: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A sealed gate post waiting for the relay (gate outbox). Only the sealed message is stored;
/// the text shown while queued is opened again with my keyring. The relay deduplicates a retry
/// by (gate, nonce), so a post is stored once however often it is sent.
#[derive(Clone, Serialize, Deserialize)]
pub struct QueuedPost {
    pub gate: String,
    pub message: GateMessage,
    pub queued_at: u64,
}

/// Decode stored queued posts (JSON), oldest first; undecodable records are skipped.
pub fn decode_outbox(records: &[String]) -> Vec<QueuedPost> {
    let mut v: Vec<QueuedPost> = records
        .iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    super::sort::sort_by(&mut v, |a, b| {
        (a.queued_at, &a.message.nonce).cmp(&(b.queued_at, &b.message.nonce))
    });
    v
}

pub fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn invite_code(gate_id: &str, genesis_hash: &str) -> String {
    format!("{INVITE_PREFIX}{gate_id}.{genesis_hash}")
}

/// Parse an invite code into (gate id, genesis hash hex).
pub fn parse_invite(code: &str) -> Result<(String, String), String> {
    let rest = code
        .trim()
        .strip_prefix(INVITE_PREFIX)
        .ok_or_else(|| format!("An invite code starts with {INVITE_PREFIX}"))?;
    let (gid, hash) = rest
        .split_once('.')
        .ok_or("The invite code is incomplete.")?;
    let gid = GateId::parse(gid).map_err(|e| e.to_string())?;
    if hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("The genesis hash in the invite code is malformed.".into());
    }
    Ok((gid.to_string(), hash.to_string()))
}

/// What a verified chain means for me.
pub struct Derived {
    pub epochs: Vec<Epoch>,
    pub keyring: GateKeyring,
    /// Epoch at which I was removed (first epoch without me after one with me).
    pub removed_at: Option<u64>,
}

impl Derived {
    pub fn head(&self) -> &Epoch {
        self.epochs.last().expect("verified chain is never empty")
    }
}

/// Verify a chain with core, check it is the gate of the invite, unlock my epoch keys.
pub fn derive(
    me: &Identity,
    gate_id: &str,
    genesis_hash: &str,
    records: &[EpochRecord],
) -> Result<Derived, String> {
    let state = verify_epoch_chain(records).map_err(|e| e.to_string())?;
    if state.gate().as_str() != gate_id {
        return Err(ChainError::WrongGate.to_string());
    }
    if hex32(state.genesis_hash()) != genesis_hash {
        return Err("the gate's genesis does not match the invite code".into());
    }
    let mut keyring = GateKeyring::new(state.gate().clone());
    let mut epochs = Vec::with_capacity(records.len());
    let mut was_member = false;
    let mut removed_at = None;
    for r in records {
        let e = r.verify().map_err(|e| e.to_string())?;
        match keyring.add_epoch(me, &e) {
            Ok(_) => {
                was_member = true;
                removed_at = None;
            }
            Err(AddEpochError::Unwrap(UnwrapError::NotAMember { epoch })) => {
                if was_member && removed_at.is_none() {
                    removed_at = Some(epoch);
                }
            }
            Err(e) => return Err(e.to_string()),
        }
        epochs.push(e);
    }
    Ok(Derived {
        epochs,
        keyring,
        removed_at,
    })
}

/// [`derive`] for a stored gate, shared; `None` when the chain does not verify.
pub fn derive_shared(
    me: &Identity,
    meta: &StoredGate,
    records: &[EpochRecord],
) -> Option<Rc<Derived>> {
    derive(me, &meta.gate_id, &meta.genesis_hash, records)
        .ok()
        .map(Rc::new)
}

/// Open one of my gate messages into its stored (verified) form.
pub fn opened(gate_id: &str, seq: u64, d: &Derived, m: &GateMessage) -> Option<StoredGateMessage> {
    let o = d.keyring.open(m).ok()?;
    Some(StoredGateMessage {
        gate: gate_id.to_string(),
        seq,
        epoch: o.epoch,
        sender: o.member_id.clone(),
        timestamp: o.timestamp,
        body: o.text().ok()?.to_string(),
        nonce: m.nonce.clone(),
        counter: o.counter,
        stream: None,
        missing: 0,
    })
}

/// What to do with a gate the relay lists for me that I have not joined (the trust rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateOffer {
    /// The member who added me is one of my contacts (or me): join without asking.
    AutoJoin { inviter: String },
    /// Show "<inviter> added you to gate X — Accept / Ignore"; join only on Accept.
    Ask { inviter: String },
    /// Nothing to offer: I am not in the current roster.
    Nothing,
}

/// The invitation rate rule (core `check_invite_rate`, per inviter and day): may another
/// invitation from the non-contact `inviter` be shown at `now_s`? Counts the gates I joined
/// on that inviter's invitation (`invited_by`, joined at `added_at`) and the invitations of
/// theirs already on screen (`pending`, counted as now). Beyond the rate the invitation is
/// dropped without showing it, so a stranger cannot bury a user in invitations.
pub fn may_show_invitation(
    gates: &[StoredGate],
    pending: usize,
    inviter: &str,
    now_s: u64,
) -> bool {
    let mut times: Vec<u64> = gates
        .iter()
        .filter(|g| g.invited_by.as_deref() == Some(inviter))
        .map(|g| g.added_at / 1000)
        .collect();
    times.extend(std::iter::repeat_n(now_s, pending));
    postern_core::gate::check_invite_rate(&times, now_s)
}

/// The trust rule for a gate I was added to. `epochs` is a chain core has verified, genesis
/// first. The inviter is the rotator of the epoch that added me (the first epoch of the latest
/// run of epochs listing me; for the genesis that is the founder). Auto-join iff the inviter is
/// one of my contacts (matched by node id, which core derives from the key that signed the
/// epoch) or myself; otherwise ask. A gate whose current roster lacks me is never offered.
pub fn gate_offer(contacts: &[Contact], me: &str, epochs: &[Epoch]) -> GateOffer {
    let Some(head) = epochs.last() else {
        return GateOffer::Nothing;
    };
    if !head.roster().contains(me) {
        return GateOffer::Nothing;
    }
    let mut inviter = head.rotator_id();
    for e in epochs.iter().rev() {
        if !e.roster().contains(me) {
            break;
        }
        inviter = e.rotator_id();
    }
    let inviter = inviter.to_string();
    if inviter == me || contacts.iter().any(|c| c.node_id == inviter) {
        GateOffer::AutoJoin { inviter }
    } else {
        GateOffer::Ask { inviter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::gate::{self, GateId, Reason, Role};
    use rand_core::OsRng;

    // Moved from tests/gates.rs (same assertions).
    fn contact(name: &str, id: &Identity) -> Contact {
        Contact {
            name: name.into(),
            node_id: id.node_id(),
            identity: id.public().to_string(),
            added_at: 1,
            verified: None,
            key_change: None,
        }
    }

    #[test]
    fn a_strangers_invitations_are_capped_per_day() {
        let day = postern_core::gate::INVITE_WINDOW_SECS;
        let now = 10 * day;
        let joined = |id: &str, by: Option<&str>, at_s: u64| StoredGate {
            gate_id: id.into(),
            name: id.into(),
            genesis_hash: String::new(),
            after: 0,
            added_at: at_s * 1000,
            invited_by: by.map(Into::into),
            alarm: None,
            hidden: Default::default(),
        };
        // Nothing yet: shown. Two joined today + one on screen = the daily three: no more.
        assert!(may_show_invitation(&[], 0, "mallory", now));
        let two = [
            joined("g1", Some("mallory"), now - 60),
            joined("g2", Some("mallory"), now - 3600),
        ];
        assert!(may_show_invitation(&two, 0, "mallory", now));
        assert!(!may_show_invitation(&two, 1, "mallory", now));
        // Per inviter: someone else's invitation still shows; and a day later hers do again.
        assert!(may_show_invitation(&two, 0, "trent", now));
        assert!(may_show_invitation(&two, 1, "mallory", now + day));
        // My own gates and a contact's (no invited_by) never count.
        let own = [joined("g3", None, now), joined("g4", None, now)];
        assert!(may_show_invitation(&own, 2, "mallory", now));
    }

    fn add(by: &Identity, prev: &Epoch, who: &Identity, t: u64) -> Epoch {
        let r = prev
            .roster()
            .with_member(who.public(), Role::Member)
            .unwrap();
        gate::rotate(by, prev, r, Reason::Join, t, &mut OsRng)
            .unwrap()
            .verify()
            .unwrap()
    }

    #[test]
    fn gate_trust_rule_auto_joins_only_from_contacts() {
        let [alice, bob, carol, mallory] = [(); 4].map(|_| Identity::generate(&mut OsRng));
        let gid = GateId::generate(&mut OsRng);
        let e1 = gate::create_genesis(&alice, &gid, 1, &mut OsRng)
            .unwrap()
            .verify()
            .unwrap();
        let e2 = add(&alice, &e1, &bob, 2);
        let chain = vec![e1.clone(), e2.clone()];
        let a = alice.node_id();

        // Bob has Alice as a contact: auto-join; without her: ask, naming Alice.
        assert_eq!(
            gate_offer(&[contact("Alice", &alice)], &bob.node_id(), &chain),
            GateOffer::AutoJoin { inviter: a.clone() }
        );
        assert_eq!(
            gate_offer(&[contact("Carol", &carol)], &bob.node_id(), &chain),
            GateOffer::Ask { inviter: a.clone() }
        );
        assert_eq!(
            gate_offer(&[], &bob.node_id(), &chain),
            GateOffer::Ask { inviter: a.clone() }
        );
        // A contact with the same name but another key does not count.
        assert_eq!(
            gate_offer(&[contact("Alice", &mallory)], &bob.node_id(), &chain),
            GateOffer::Ask { inviter: a.clone() }
        );
        // Not in the roster, or removed since: nothing is offered; an empty chain neither.
        assert_eq!(
            gate_offer(&[contact("Alice", &alice)], &carol.node_id(), &chain),
            GateOffer::Nothing
        );
        let kicked = gate::rotate(
            &alice,
            &e2,
            e2.roster().without_member(&bob.node_id()).unwrap(),
            Reason::Kick,
            3,
            &mut OsRng,
        )
        .unwrap()
        .verify()
        .unwrap();
        let chain3 = vec![e1.clone(), e2.clone(), kicked];
        assert_eq!(
            gate_offer(&[contact("Alice", &alice)], &bob.node_id(), &chain3),
            GateOffer::Nothing
        );
        assert_eq!(gate_offer(&[], &bob.node_id(), &[]), GateOffer::Nothing);

        // The inviter is whoever rotated me in, not the latest rotator: Bob promoted to admin adds
        // Carol; later Alice rotates again. For Carol, Bob is the inviter.
        let promoted = gate::rotate(
            &alice,
            &e2,
            e2.roster().with_member(bob.public(), Role::Admin).unwrap(),
            Reason::Rotate,
            3,
            &mut OsRng,
        )
        .unwrap()
        .verify()
        .unwrap();
        let e4 = add(&bob, &promoted, &carol, 4);
        let e5 = gate::rotate(
            &alice,
            &e4,
            e4.roster().clone(),
            Reason::Rotate,
            5,
            &mut OsRng,
        )
        .unwrap()
        .verify()
        .unwrap();
        let chain5 = vec![e1, e2, promoted, e4, e5];
        assert_eq!(
            gate_offer(&[contact("Bob", &bob)], &carol.node_id(), &chain5),
            GateOffer::AutoJoin {
                inviter: bob.node_id()
            }
        );
        assert_eq!(
            gate_offer(&[contact("Alice", &alice)], &carol.node_id(), &chain5),
            GateOffer::Ask {
                inviter: bob.node_id()
            }
        );
        // The founder finding their own gate again (e.g. a fresh device) joins.
        assert_eq!(
            gate_offer(&[], &a, &chain5),
            GateOffer::AutoJoin { inviter: a.clone() }
        );
    }
}

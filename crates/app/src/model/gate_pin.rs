//! A gate's pinned epoch chain against what a relay serves (core's `compare_chains`: only the
//! same chain or a strict extension is taken; a rollback or a fork is an alarm and the pinned
//! chain stays), queued posts after a rotation (re-sealed under the head, or dropped when I was
//! removed) and the display rule for posts sealed under a superseded epoch.
use super::gates::{ChainAlarm, Derived, QueuedPost};
use postern_core::gate::{compare_chains, ChainRelation};
use postern_core::Identity;
use rand_core::CryptoRngCore;

/// The epoch hashes of a verified chain, genesis first.
pub fn hashes(d: &Derived) -> Vec<[u8; 32]> {
    d.epochs.iter().map(|e| *e.hash()).collect()
}

/// Check a fetched, verified chain against the pinned hashes: `Ok` when it may replace the
/// pinned chain (first use, same, strict extension), the alarm otherwise.
pub fn check_pin(pinned: &[[u8; 32]], fetched: &Derived) -> Result<(), ChainAlarm> {
    let relation = compare_chains(pinned, &hashes(fetched));
    let detail = match relation {
        ChainRelation::Rollback {
            pinned_len,
            fetched_len,
        } => format!(
            "The relay rolled back this gate's history: it served a shorter chain ({fetched_len} \
             epochs, this browser has verified {pinned_len}). It may be hiding a removal or a \
             rotation. Posting is disabled; the verified chain is kept."
        ),
        ChainRelation::Fork { at } => format!(
            "The relay served a different history of this gate from epoch {at} on (a fork). \
             Someone who is no longer an admin may have signed it. Posting is disabled; the \
             verified chain is kept."
        ),
        _ => return Ok(()),
    };
    Err(ChainAlarm {
        kind: relation.code().to_string(),
        detail,
    })
}

/// What to do with a queued post once the verified head moved past the epoch it was sealed in.
pub enum Requeue {
    /// Sealed under the head (or nothing is known yet): send as is.
    Keep,
    /// Sealed under an older epoch: this copy replaces it (same text, time and counter, new
    /// nonce).
    Resealed(QueuedPost),
    /// I am no longer in the head's roster (removed at that epoch): the post is dropped.
    Dropped { removed_at: u64 },
    /// The old post cannot be opened any more: dropped.
    Unreadable,
}

/// The rule for one queued post of the gate `d` describes.
pub fn requeue(
    me: &Identity,
    d: &Derived,
    p: &QueuedPost,
    rng: &mut impl CryptoRngCore,
) -> Requeue {
    let head = d.head();
    if p.message.epoch >= head.number() {
        return Requeue::Keep;
    }
    if !head.roster().contains(&me.node_id()) {
        return Requeue::Dropped {
            removed_at: d.removed_at.unwrap_or(head.number()),
        };
    }
    let Ok(opened) = d.keyring.open(&p.message) else {
        return Requeue::Unreadable;
    };
    if opened.member_id != me.node_id() {
        return Requeue::Unreadable;
    }
    // The same counter: the post is the same message of mine, sealed anew.
    let sealed = match opened.counter {
        Some(c) => d
            .keyring
            .seal_counted(me, &opened.body[..], opened.timestamp, c, rng),
        None => d.keyring.seal(me, &opened.body[..], opened.timestamp, rng),
    };
    match sealed.ok() {
        Some(message) => Requeue::Resealed(QueuedPost {
            gate: p.gate.clone(),
            message,
            queued_at: p.queued_at,
        }),
        None => Requeue::Unreadable,
    }
}

/// A post sealed under epoch `epoch` with the author-signed `timestamp` is shown only if it
/// was sealed while that epoch was the head: under the head itself, or before the next epoch
/// was created. A post sealed under a superseded epoch after the rotation (an ex-member
/// holding the old key, or a relay injecting it) is never displayed.
pub fn sealed_while_current(d: &Derived, epoch: u64, timestamp: u64) -> bool {
    let next = epoch.saturating_add(1);
    match d.epochs.iter().find(|e| e.number() == next) {
        None => true,
        Some(e) => timestamp < e.created_at(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gates::{derive, hex32};
    use postern_core::gate::{self, EpochRecord, GateId, Reason, Role};
    use rand_core::OsRng;

    struct Fixture {
        alice: Identity,
        bob: Identity,
        gid: String,
        genesis: String,
        records: Vec<EpochRecord>,
    }

    /// Alice founds a gate, adds Bob (epoch 2) and rotates (epoch 3).
    fn fixture() -> Fixture {
        let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
        let gid = GateId::generate(&mut OsRng);
        let r1 = gate::create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
        let e1 = r1.verify().unwrap();
        let ros = e1.roster().with_member(bob.public(), Role::Member).unwrap();
        let r2 = gate::rotate(&alice, &e1, ros, Reason::Join, 20, &mut OsRng).unwrap();
        let e2 = r2.verify().unwrap();
        let r3 = gate::rotate(
            &alice,
            &e2,
            e2.roster().clone(),
            Reason::Rotate,
            30,
            &mut OsRng,
        )
        .unwrap();
        Fixture {
            gid: gid.to_string(),
            genesis: hex32(e1.hash()),
            alice,
            bob,
            records: vec![r1, r2, r3],
        }
    }

    fn derived(f: &Fixture, me: &Identity, n: usize) -> Derived {
        derive(me, &f.gid, &f.genesis, &f.records[..n]).unwrap()
    }

    #[test]
    fn pinned_chain_takes_only_strict_extensions() {
        let f = fixture();
        let full = derived(&f, &f.bob, 3);
        let pinned = hashes(&full);
        assert_eq!(check_pin(&[], &full), Ok(()));
        assert_eq!(check_pin(&pinned, &full), Ok(()));
        assert_eq!(check_pin(&pinned[..2], &full), Ok(()));
        // A relay serving the chain without its last epoch: a rollback.
        let short = derived(&f, &f.bob, 2);
        let alarm = check_pin(&pinned, &short).unwrap_err();
        assert_eq!(alarm.kind, "rollback");
        assert!(alarm.detail.contains("rolled back") && alarm.detail.contains("shorter"));
        // Another epoch 3 (same admin, another record): a fork at 3.
        let e2 = f.records[1].verify().unwrap();
        let other = gate::rotate(
            &f.alice,
            &e2,
            e2.roster().clone(),
            Reason::Rotate,
            31,
            &mut OsRng,
        )
        .unwrap();
        let forked = derive(
            &f.bob,
            &f.gid,
            &f.genesis,
            &[f.records[0].clone(), f.records[1].clone(), other],
        )
        .unwrap();
        let alarm = check_pin(&pinned, &forked).unwrap_err();
        assert_eq!(alarm.kind, "fork");
        assert!(alarm.detail.contains("epoch 3"));
    }

    #[test]
    fn queued_post_is_resealed_under_the_head_or_dropped_when_removed() {
        let f = fixture();
        let at2 = derived(&f, &f.bob, 2);
        let msg = at2.keyring.seal(&f.bob, b"hello", 25, &mut OsRng).unwrap();
        assert_eq!(msg.epoch, 2);
        let p = QueuedPost {
            gate: f.gid.clone(),
            message: msg,
            queued_at: 7,
        };
        assert!(matches!(
            requeue(&f.bob, &at2, &p, &mut OsRng),
            Requeue::Keep
        ));
        let at3 = derived(&f, &f.bob, 3);
        let Requeue::Resealed(q) = requeue(&f.bob, &at3, &p, &mut OsRng) else {
            panic!("a post sealed under epoch 2 is re-sealed once epoch 3 is the head");
        };
        assert_eq!(q.message.epoch, 3);
        assert_ne!(q.message.nonce, p.message.nonce);
        assert_eq!(q.queued_at, 7);
        let o = at3.keyring.open(&q.message).unwrap();
        assert_eq!((&o.body[..], o.timestamp), (&b"hello"[..], 25));
        assert_eq!(o.counter, None);
        // A counted post keeps its counter when re-sealed (never a new one, never reused).
        let counted = QueuedPost {
            message: at2
                .keyring
                .seal_counted(&f.bob, b"hello", 25, 7, &mut OsRng)
                .unwrap(),
            ..p.clone()
        };
        let Requeue::Resealed(q) = requeue(&f.bob, &at3, &counted, &mut OsRng) else {
            panic!("re-sealed");
        };
        assert_eq!(at3.keyring.open(&q.message).unwrap().counter, Some(7));
        // Bob removed at epoch 4: the post is dropped, never re-sealed.
        let e3 = f.records[2].verify().unwrap();
        let kick = gate::rotate(
            &f.alice,
            &e3,
            e3.roster().without_member(&f.bob.node_id()).unwrap(),
            Reason::Kick,
            40,
            &mut OsRng,
        )
        .unwrap();
        let mut recs = f.records.clone();
        recs.push(kick);
        let at4 = derive(&f.bob, &f.gid, &f.genesis, &recs).unwrap();
        assert!(matches!(
            requeue(&f.bob, &at4, &p, &mut OsRng),
            Requeue::Dropped { removed_at: 4 }
        ));
    }

    #[test]
    fn posts_sealed_after_their_epoch_was_superseded_are_not_shown() {
        let f = fixture();
        let d = derived(&f, &f.bob, 3);
        // Epoch 3 was created at t=30: an epoch-2 post from t=25 is history, from t=35 stale.
        assert!(sealed_while_current(&d, 2, 25));
        assert!(!sealed_while_current(&d, 2, 35));
        assert!(!sealed_while_current(&d, 2, 30));
        assert!(sealed_while_current(&d, 3, 1_000));
    }
}

//! Gate rules that protect members against a hostile relay or an ex-member: stale-epoch posts,
//! the pinned epoch chain and the cost caps. The relay and the app call these same functions.
use super::error::{GateCapError, MessageEpochError};
use super::limits::{
    INVITE_WINDOW_SECS, MAX_EPOCHS_PER_GATE, MAX_GATES_PER_MEMBER, MAX_MEMBERS_PER_GATE,
    MAX_STRANGER_INVITES_PER_WINDOW,
};

/// The message-epoch rule (relay, on deposit): a new message must be sealed for the gate's
/// current epoch. A message for an older epoch is refused ([`MessageEpochError::Stale`]): after a
/// kick the removed member still holds the old epoch's key, and a client that queued a post
/// before a rotation must re-seal it under the new epoch. A message for an epoch the relay
/// does not hold yet is [`MessageEpochError::Unknown`]. Idempotent retries of an already stored
/// message are answered before this rule (they are not new).
pub fn check_message_epoch(message_epoch: u64, head_epoch: u64) -> Result<(), MessageEpochError> {
    if message_epoch < head_epoch {
        return Err(MessageEpochError::Stale {
            epoch: message_epoch,
            head: head_epoch,
        });
    }
    if message_epoch > head_epoch {
        return Err(MessageEpochError::Unknown {
            epoch: message_epoch,
        });
    }
    Ok(())
}

/// How a freshly fetched epoch chain relates to the chain a client pinned earlier (both as
/// epoch hashes, genesis first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainRelation {
    /// Nothing pinned yet: trust on first use.
    First,
    /// The same chain.
    Same,
    /// The pinned chain plus `added` newer epochs: accept.
    Extension { added: usize },
    /// A strict prefix of the pinned chain: the relay hides epochs (e.g. a kick). Alarm.
    Rollback {
        pinned_len: usize,
        fetched_len: usize,
    },
    /// The chains differ at epoch number `at` (1-based): a different history. Alarm.
    Fork { at: u64 },
}

impl ChainRelation {
    /// True when the fetched chain may replace the pinned one.
    pub fn is_acceptable(&self) -> bool {
        matches!(
            self,
            ChainRelation::First | ChainRelation::Same | ChainRelation::Extension { .. }
        )
    }

    /// Stable code for storage and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            ChainRelation::First => "first",
            ChainRelation::Same => "same",
            ChainRelation::Extension { .. } => "extension",
            ChainRelation::Rollback { .. } => "rollback",
            ChainRelation::Fork { .. } => "fork",
        }
    }
}

/// Compare a fetched chain with the pinned one. Only an identical chain or a strict extension
/// is acceptable; a shorter chain (rollback) or any differing hash (fork) is an alarm, and the
/// client keeps its pinned chain.
pub fn compare_chains(pinned: &[[u8; 32]], fetched: &[[u8; 32]]) -> ChainRelation {
    if pinned.is_empty() {
        return ChainRelation::First;
    }
    for (i, (p, f)) in pinned.iter().zip(fetched).enumerate() {
        if p != f {
            return ChainRelation::Fork {
                at: u64::try_from(i).unwrap_or(u64::MAX).saturating_add(1),
            };
        }
    }
    match fetched.len().cmp(&pinned.len()) {
        std::cmp::Ordering::Less => ChainRelation::Rollback {
            pinned_len: pinned.len(),
            fetched_len: fetched.len(),
        },
        std::cmp::Ordering::Equal => ChainRelation::Same,
        std::cmp::Ordering::Greater => ChainRelation::Extension {
            added: fetched.len() - pinned.len(),
        },
    }
}

/// Check a new epoch against the gate cost caps before any signature work: `epoch` is its
/// number, `roster_len` its member count, and `added` lists each member the epoch adds (not in
/// the previous roster) with the number of gates the checker already has them in.
pub fn check_gate_epoch<'a>(
    epoch: u64,
    roster_len: usize,
    added: impl IntoIterator<Item = (&'a str, usize)>,
) -> Result<(), GateCapError> {
    if epoch > MAX_EPOCHS_PER_GATE {
        return Err(GateCapError::TooManyEpochs {
            cap: MAX_EPOCHS_PER_GATE,
        });
    }
    if roster_len > MAX_MEMBERS_PER_GATE {
        return Err(GateCapError::TooManyMembers {
            got: roster_len,
            cap: MAX_MEMBERS_PER_GATE,
        });
    }
    for (member, gates) in added {
        if gates >= MAX_GATES_PER_MEMBER {
            return Err(GateCapError::TooManyGates {
                member: member.to_string(),
                cap: MAX_GATES_PER_MEMBER,
            });
        }
    }
    Ok(())
}

/// The client's rate rule for invitations from non-contacts: given the times (seconds) of
/// the invitations already accepted from this inviter, may one more at `now` be shown?
pub fn check_invite_rate(accepted_at: &[u64], now: u64) -> bool {
    let since = now.saturating_sub(INVITE_WINDOW_SECS);
    accepted_at.iter().filter(|&&t| t > since).count() < MAX_STRANGER_INVITES_PER_WINDOW
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stale_epoch_refused() {
        assert_eq!(check_message_epoch(3, 3), Ok(()));
        assert_eq!(
            check_message_epoch(2, 3),
            Err(MessageEpochError::Stale { epoch: 2, head: 3 })
        );
        assert_eq!(
            check_message_epoch(4, 3),
            Err(MessageEpochError::Unknown { epoch: 4 })
        );
    }

    #[test]
    fn chain_relations() {
        let h = |b: u8| [b; 32];
        let pinned = [h(1), h(2), h(3)];
        assert_eq!(compare_chains(&[], &pinned), ChainRelation::First);
        assert_eq!(compare_chains(&pinned, &pinned), ChainRelation::Same);
        assert_eq!(
            compare_chains(&pinned, &[h(1), h(2), h(3), h(4)]),
            ChainRelation::Extension { added: 1 }
        );
        let rb = compare_chains(&pinned, &[h(1), h(2)]);
        assert_eq!(
            rb,
            ChainRelation::Rollback {
                pinned_len: 3,
                fetched_len: 2
            }
        );
        assert!(!rb.is_acceptable());
        let fork = compare_chains(&pinned, &[h(1), h(9), h(3), h(4)]);
        assert_eq!(fork, ChainRelation::Fork { at: 2 });
        assert!(!fork.is_acceptable());
        // A fork that is also shorter is still a fork.
        assert_eq!(
            compare_chains(&pinned, &[h(1), h(9)]),
            ChainRelation::Fork { at: 2 }
        );
        assert!(compare_chains(&pinned, &[h(1), h(2), h(3), h(4)]).is_acceptable());
    }

    #[test]
    fn gate_caps() {
        assert_eq!(check_gate_epoch(1, 1, []), Ok(()));
        assert_eq!(
            check_gate_epoch(MAX_EPOCHS_PER_GATE, MAX_MEMBERS_PER_GATE, [("!sb_a", 0)]),
            Ok(())
        );
        let e = check_gate_epoch(MAX_EPOCHS_PER_GATE + 1, 1, []).unwrap_err();
        assert_eq!(e.code(), "gate_too_many_epochs");
        let e = check_gate_epoch(2, MAX_MEMBERS_PER_GATE + 1, []).unwrap_err();
        assert_eq!(e.code(), "gate_too_many_members");
        let e = check_gate_epoch(2, 2, [("!sb_v", MAX_GATES_PER_MEMBER)]).unwrap_err();
        assert_eq!(
            e,
            GateCapError::TooManyGates {
                member: "!sb_v".into(),
                cap: MAX_GATES_PER_MEMBER
            }
        );
        assert!(e.to_string().contains("!sb_v"));
    }

    #[test]
    fn invite_rate() {
        let now = 10 * INVITE_WINDOW_SECS;
        assert!(check_invite_rate(&[], now));
        let recent = vec![now - 10; MAX_STRANGER_INVITES_PER_WINDOW];
        assert!(!check_invite_rate(&recent, now));
        let old = vec![now - INVITE_WINDOW_SECS - 1; MAX_STRANGER_INVITES_PER_WINDOW];
        assert!(check_invite_rate(&old, now));
    }
}

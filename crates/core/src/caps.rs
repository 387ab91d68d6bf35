//! DM spool caps: the one rule both the relay (on deposit and on replica acceptance) and the
//! client (to explain refusals) use, including the contacts / strangers budgets that keep an
//! anonymous flood from locking a mailbox owner out of their contacts' messages.
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default: unacknowledged messages per (sender_ref, recipient).
pub const DEFAULT_PER_SENDER_CAP: usize = 2;
/// Default: messages per recipient mailbox.
pub const DEFAULT_MAILBOX_CAP: usize = 64;
/// Default time to live of a spooled message.
pub const DEFAULT_TTL_SECS: u64 = 3600;
/// Default: messages from senders outside the owner's registered contact list (first contact,
/// anonymous deposits) per mailbox, counted apart from the contacts' budget (`mailbox_cap`).
pub const DEFAULT_STRANGER_CAP: usize = 8;
/// Most sender_refs in one owner's contact list (`dm.contacts`).
pub const MAX_CONTACT_REFS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolLimits {
    pub per_sender_cap: usize,
    pub mailbox_cap: usize,
    pub ttl_secs: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            per_sender_cap: DEFAULT_PER_SENDER_CAP,
            mailbox_cap: DEFAULT_MAILBOX_CAP,
            ttl_secs: DEFAULT_TTL_SECS,
        }
    }
}

/// What the spool currently holds for a deposit's recipient and sender (expired entries excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpoolState {
    /// The same msg_id is already stored (for this recipient).
    pub already_stored: bool,
    /// Messages in the recipient's mailbox.
    pub mailbox_len: usize,
    /// Unacknowledged messages from this sender_ref to this recipient.
    pub pair_len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepositDecision {
    /// Store it.
    Store,
    /// Already stored: accept idempotently, store nothing.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CapError {
    #[error(
        "recipient mailbox is full ({cap} messages); try again after they read their messages"
    )]
    MailboxFull { cap: usize },
    #[error("you already have {cap} unread messages waiting for this recipient; wait until they read them")]
    SenderCapReached { cap: usize },
}

impl CapError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CapError::MailboxFull { .. } => "mailbox_full",
            CapError::SenderCapReached { .. } => "sender_cap_reached",
        }
    }
}

/// Decide a deposit into a mailbox whose owner registered no contact list: one shared budget.
/// Idempotency is checked before caps, so a retry of a stored message is accepted rather than
/// refused.
pub fn check_deposit(limits: &SpoolLimits, state: SpoolState) -> Result<DepositDecision, CapError> {
    check_budgeted(
        limits,
        DEFAULT_STRANGER_CAP,
        BudgetedState {
            already_stored: state.already_stored,
            pair_len: state.pair_len,
            budget: Budget::Shared,
            budget_len: state.mailbox_len,
        },
    )
}

/// Which budget of a mailbox a deposit counts against, decided by the deposit's `sender_ref`
/// and the owner's contact list (the pairwise sender_refs of its contacts, registered with a
/// signed `dm.contacts` request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The owner registered no contact list: every message counts against `mailbox_cap`.
    Shared,
    /// The sender_ref is on the owner's contact list: `mailbox_cap`, counted over contact
    /// messages only, so no stranger can use it up.
    Contact,
    /// The sender_ref is not on the list (first contact, anonymous, junk): the small
    /// `stranger_cap`, counted over stranger messages only.
    Stranger,
}

impl Budget {
    /// The budget of a deposit from `sender_ref` given the owner's contact list (`None` = no
    /// list registered).
    pub fn of(sender_ref: &str, contacts: Option<&[String]>) -> Budget {
        match contacts {
            None => Budget::Shared,
            Some(list) if list.iter().any(|r| r == sender_ref) => Budget::Contact,
            Some(_) => Budget::Stranger,
        }
    }
}

/// What the spool holds for a deposit, by budget (expired entries excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetedState {
    /// The same msg_id is already stored (for this recipient).
    pub already_stored: bool,
    /// Unacknowledged messages from this sender_ref to this recipient.
    pub pair_len: usize,
    /// The budget this deposit counts against.
    pub budget: Budget,
    /// Messages in the recipient's mailbox counted against that budget (all of them for
    /// [`Budget::Shared`]).
    pub budget_len: usize,
}

/// Decide a deposit with the contacts / strangers budgets. A full stranger budget answers the
/// same `mailbox_full` as a full mailbox, so a depositor learns no more than before about
/// whether it is on the owner's list beyond whether its message got in.
pub fn check_budgeted(
    limits: &SpoolLimits,
    stranger_cap: usize,
    state: BudgetedState,
) -> Result<DepositDecision, CapError> {
    if state.already_stored {
        return Ok(DepositDecision::Duplicate);
    }
    if state.pair_len >= limits.per_sender_cap {
        return Err(CapError::SenderCapReached {
            cap: limits.per_sender_cap,
        });
    }
    let cap = match state.budget {
        Budget::Shared | Budget::Contact => limits.mailbox_cap,
        Budget::Stranger => stranger_cap,
    };
    if state.budget_len >= cap {
        return Err(CapError::MailboxFull { cap });
    }
    Ok(DepositDecision::Store)
}

/// Why a contact list is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ContactListError {
    #[error("a contact list holds at most {MAX_CONTACT_REFS} sender_refs")]
    TooMany,
    #[error("sender_refs must be 32 lower-case hex characters, sorted ascending, without repeats")]
    NotCanonical,
}

/// Check a contact list: at most [`MAX_CONTACT_REFS`] valid sender_refs, strictly ascending
/// (one byte form per list, so the signed params are unambiguous).
pub fn validate_contact_list(refs: &[String]) -> Result<(), ContactListError> {
    if refs.len() > MAX_CONTACT_REFS {
        return Err(ContactListError::TooMany);
    }
    let valid = |r: &String| {
        r.len() == crate::dm::SENDER_REF_BYTES * 2
            && r.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !refs.iter().all(valid) || !refs.windows(2).all(|w| w[0] < w[1]) {
        return Err(ContactListError::NotCanonical);
    }
    Ok(())
}

/// The canonical form of a contact list: sorted, deduplicated.
pub fn canonical_contact_list(mut refs: Vec<String>) -> Vec<String> {
    refs.sort();
    refs.dedup();
    refs
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn st(budget: Budget, budget_len: usize, pair_len: usize) -> BudgetedState {
        BudgetedState {
            already_stored: false,
            pair_len,
            budget,
            budget_len,
        }
    }

    /// A flood of anonymous deposits (each with a fresh random sender_ref) fills only the
    /// stranger budget: a contact still gets in, and a first contact is refused only while
    /// the flood lasts.
    #[test]
    fn stranger_flood_cannot_exhaust_the_contacts_budget() {
        let l = SpoolLimits::default();
        let contacts = vec!["aa".repeat(16), "bb".repeat(16)];
        let mut strangers = 0usize;
        let mut refused = 0usize;
        for i in 0..10_000u32 {
            let junk_ref = format!("{:032x}", 0x00c0_ffee_0000_u64 + u64::from(i));
            let b = Budget::of(&junk_ref, Some(&contacts));
            assert_eq!(b, Budget::Stranger);
            match check_budgeted(&l, DEFAULT_STRANGER_CAP, st(b, strangers, 0)) {
                Ok(d) => {
                    assert_eq!(d, DepositDecision::Store);
                    strangers += 1;
                }
                Err(e) => {
                    assert_eq!(e.code(), "mailbox_full");
                    refused += 1;
                }
            }
        }
        assert_eq!(strangers, DEFAULT_STRANGER_CAP);
        assert_eq!(refused, 10_000 - DEFAULT_STRANGER_CAP);
        let b = Budget::of(&contacts[1], Some(&contacts));
        assert_eq!(b, Budget::Contact);
        // The contacts' budget is untouched by the flood.
        assert_eq!(
            check_budgeted(&l, DEFAULT_STRANGER_CAP, st(b, 0, 0)),
            Ok(DepositDecision::Store)
        );
        // Contacts still have their own caps.
        assert_eq!(
            check_budgeted(&l, DEFAULT_STRANGER_CAP, st(Budget::Contact, 64, 0)),
            Err(CapError::MailboxFull { cap: 64 })
        );
        assert_eq!(
            check_budgeted(&l, DEFAULT_STRANGER_CAP, st(Budget::Contact, 0, 2)),
            Err(CapError::SenderCapReached { cap: 2 })
        );
        // No list registered: the old shared budget (what the flood used to exhaust).
        assert_eq!(Budget::of(&contacts[0], None), Budget::Shared);
    }

    #[test]
    fn contact_lists_are_canonical() {
        let a = "0a".repeat(16);
        let b = "0b".repeat(16);
        validate_contact_list(&[]).unwrap();
        validate_contact_list(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            validate_contact_list(&[b.clone(), a.clone()]),
            Err(ContactListError::NotCanonical)
        );
        assert_eq!(
            validate_contact_list(&[a.clone(), a.clone()]),
            Err(ContactListError::NotCanonical)
        );
        assert_eq!(
            validate_contact_list(&[a.to_ascii_uppercase()]),
            Err(ContactListError::NotCanonical)
        );
        assert_eq!(
            validate_contact_list(&["0a".repeat(15)]),
            Err(ContactListError::NotCanonical)
        );
        let many: Vec<String> = (0..=MAX_CONTACT_REFS)
            .map(|i| format!("{i:032x}"))
            .collect();
        assert_eq!(validate_contact_list(&many), Err(ContactListError::TooMany));
        assert_eq!(
            canonical_contact_list(vec![b.clone(), a.clone(), b.clone()]),
            vec![a, b]
        );
    }

    #[test]
    fn idempotency_before_caps() {
        let l = SpoolLimits::default();
        let full = SpoolState {
            already_stored: true,
            mailbox_len: 1000,
            pair_len: 1000,
        };
        assert_eq!(check_deposit(&l, full), Ok(DepositDecision::Duplicate));
        let pair = SpoolState {
            already_stored: false,
            mailbox_len: 2,
            pair_len: 2,
        };
        assert_eq!(
            check_deposit(&l, pair),
            Err(CapError::SenderCapReached { cap: 2 })
        );
        let mb = SpoolState {
            already_stored: false,
            mailbox_len: 64,
            pair_len: 0,
        };
        assert_eq!(
            check_deposit(&l, mb),
            Err(CapError::MailboxFull { cap: 64 })
        );
        assert_eq!(
            check_deposit(&l, SpoolState::default()),
            Ok(DepositDecision::Store)
        );
    }
}

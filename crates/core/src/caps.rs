//! DM spool caps: the one rule both the relay (on deposit and on replica acceptance) and the
//! client (to explain refusals) use.
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Default: unacknowledged messages per (sender_ref, recipient).
pub const DEFAULT_PER_SENDER_CAP: usize = 2;
/// Default: messages per recipient mailbox.
pub const DEFAULT_MAILBOX_CAP: usize = 64;
/// Default time to live of a spooled message.
pub const DEFAULT_TTL_SECS: u64 = 3600;

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

/// Decide a deposit. Idempotency is checked before caps, so a retry of a stored message is
/// accepted rather than refused.
pub fn check_deposit(limits: &SpoolLimits, state: SpoolState) -> Result<DepositDecision, CapError> {
    if state.already_stored {
        return Ok(DepositDecision::Duplicate);
    }
    if state.pair_len >= limits.per_sender_cap {
        return Err(CapError::SenderCapReached {
            cap: limits.per_sender_cap,
        });
    }
    if state.mailbox_len >= limits.mailbox_cap {
        return Err(CapError::MailboxFull {
            cap: limits.mailbox_cap,
        });
    }
    Ok(DepositDecision::Store)
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! Multi-tab protocol, pure part: this tab's role (the Web Lock state machine), the duties of
//! each role, and the messages the tabs of one profile exchange. The browser side (lock,
//! BroadcastChannel) is `platform::tabs`.
use serde::{Deserialize, Serialize};

/// This tab's part in the multi-tab protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The lock was requested; no answer yet. Runs no background writer.
    Pending,
    /// Holds the writer lock (or the browser has no Web Locks): runs every background writer.
    Leader,
    /// Another tab holds the lock; this one waits in the lock queue to take over.
    Follower,
    /// Gave the lock up for good (the database was upgraded by a newer tab): does nothing.
    Retired,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pending => "pending",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Retired => "retired",
        }
    }

    /// Text of the small indicator shown in the top bar.
    pub fn label(self) -> &'static str {
        match self {
            Role::Pending => "starting…",
            Role::Leader => "this tab syncs",
            Role::Follower => "another tab syncs",
            Role::Retired => "stopped",
        }
    }
}

/// What the lock manager told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockEvent {
    /// `navigator.locks` is missing: behave as leader.
    Unsupported,
    /// The lock was granted (first try or after waiting).
    Granted,
    /// Another tab holds the lock (the `ifAvailable` try got no lock).
    Unavailable,
    /// We released the lock on purpose.
    Released,
}

/// The role state machine.
pub fn next_role(current: Role, ev: LockEvent) -> Role {
    match (current, ev) {
        (Role::Retired, _) => Role::Retired,
        (_, LockEvent::Released) => Role::Retired,
        (_, LockEvent::Unsupported | LockEvent::Granted) => Role::Leader,
        // A late "unavailable" never demotes a leader.
        (Role::Leader, LockEvent::Unavailable) => Role::Leader,
        (_, LockEvent::Unavailable) => Role::Follower,
    }
}

/// Which background work a tab in `role` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duties {
    /// Register the DH key, poll + ack the mailbox.
    pub sync: bool,
    /// Deliver the outbox itself (otherwise: ask the leader with [`TabMsg::Drain`]).
    pub drain_outbox: bool,
    /// Forward user-triggered work to the leader.
    pub forward: bool,
}

pub fn duties(role: Role) -> Duties {
    let leader = role == Role::Leader;
    Duties {
        sync: leader,
        drain_outbox: leader,
        forward: matches!(role, Role::Follower | Role::Pending),
    }
}

/// Messages between the tabs of one profile (JSON over the BroadcastChannel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum TabMsg {
    /// Follower → leader: something was queued: re-read the outbox from IndexedDB and deliver
    /// it now.
    Drain,
    /// Follower → leader: "Check now" was pressed: re-read, deliver the outbox and poll now.
    Check,
    /// Any tab → the others: I wrote to IndexedDB (contacts, messages, delivery states): re-read.
    Changed,
    /// New follower → leader: send me your [`TabMsg::Status`].
    Hello,
    /// Leader → followers: relay state as the leader sees it.
    Status {
        /// `checking` / `online` / `offline`.
        relay: String,
        registered: bool,
        last_check: Option<u64>,
        error: Option<String>,
    },
}

impl TabMsg {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode a channel message; anything unexpected is ignored (`None`), never a panic.
    pub fn decode(s: &str) -> Option<TabMsg> {
        serde_json::from_str(s).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Moved from tests/tabs.rs (same assertions).
    #[test]
    fn role_state_machine() {
        use LockEvent::*;
        use Role::*;
        assert_eq!(next_role(Pending, Granted), Leader);
        assert_eq!(next_role(Pending, Unsupported), Leader);
        assert_eq!(next_role(Pending, Unavailable), Follower);
        // The leader tab closes: the waiting follower is granted the lock.
        assert_eq!(next_role(Follower, Granted), Leader);
        // A late "unavailable" never demotes a leader.
        assert_eq!(next_role(Leader, Unavailable), Leader);
        for r in [Pending, Leader, Follower] {
            assert_eq!(next_role(r, Released), Retired);
        }
        for e in [Granted, Unsupported, Unavailable, Released] {
            assert_eq!(next_role(Retired, e), Retired, "retired is final");
        }
    }

    #[test]
    fn only_the_leader_runs_background_writers() {
        let l = duties(Role::Leader);
        assert!(l.sync && l.drain_outbox && !l.forward);
        for r in [Role::Follower, Role::Pending] {
            let d = duties(r);
            assert!(!d.sync && !d.drain_outbox && d.forward, "{r:?}");
        }
        let d = duties(Role::Retired);
        assert!(!d.sync && !d.drain_outbox && !d.forward);
        assert_eq!(Role::Leader.label(), "this tab syncs");
        assert_eq!(Role::Follower.label(), "another tab syncs");
    }

    #[test]
    fn channel_messages_round_trip_and_garbage_is_ignored() {
        for m in [
            TabMsg::Drain,
            TabMsg::Check,
            TabMsg::Changed,
            TabMsg::Hello,
            TabMsg::Status {
                relay: "online".into(),
                registered: true,
                last_check: Some(12),
                error: None,
            },
        ] {
            assert_eq!(TabMsg::decode(&m.encode()), Some(m));
        }
        assert_eq!(TabMsg::decode(r#"{"t":"drain"}"#), Some(TabMsg::Drain));
        for bad in [
            "",
            "null",
            "{}",
            r#"{"t":"format_disk"}"#,
            r#"{"t":"status"}"#,
            "\u{0}",
        ] {
            assert_eq!(TabMsg::decode(bad), None, "{bad:?}");
        }
    }
}

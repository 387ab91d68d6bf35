//! Reducer part for multi-tab work (see `platform::tabs`): the leader runs register/poll/outbox;
//! followers re-read IndexedDB, mirror the leader's relay status and forward work to it.
use std::collections::HashSet;

use super::state::{DmState, Effect, RelayState, Snapshot};
use crate::model::messages::{merge_reload, Direction};
use crate::model::tabs::{duties, Role, TabMsg};

impl DmState {
    /// Leader: the status to tell the followers, when it changed since the last one.
    pub fn announce(&mut self) -> Option<TabMsg> {
        if self.role != Role::Leader {
            return None;
        }
        let status = TabMsg::Status {
            relay: self.relay.state.as_str().into(),
            registered: self.relay.registered,
            last_check: self.relay.last_check,
            error: self.relay.error.clone(),
        };
        if self.reload.announced.as_ref() == Some(&status) {
            return None;
        }
        self.reload.announced = Some(status.clone());
        Some(status)
    }

    pub(super) fn on_role(&mut self, r: Role) -> bool {
        if r == self.role {
            return false;
        }
        self.role = r;
        match r {
            Role::Leader => {
                // Take over: register, poll, and deliver whatever the others queued.
                self.relay.registering = false;
                self.relay.polling = false;
                self.outbox.flushing = false;
                self.reload.announced = None;
                self.start_register();
                self.start_reload(true);
            }
            Role::Follower => self.post(TabMsg::Hello),
            Role::Retired => self.fx(Effect::StopTimer),
            Role::Pending => {}
        }
        true
    }

    pub(super) fn on_tab(&mut self, m: TabMsg) -> bool {
        let leader = duties(self.role).sync;
        match m {
            // Followers re-read too: a Drain means another follower just queued something.
            TabMsg::Drain => self.start_reload(leader),
            TabMsg::Check => {
                self.reload.poll_after |= leader;
                self.start_reload(leader);
            }
            TabMsg::Changed => self.start_reload(false),
            TabMsg::Hello => {
                self.reload.announced = None;
                if let Some(status) = self.announce() {
                    self.post(status);
                }
            }
            TabMsg::Status {
                relay,
                registered,
                last_check,
                error,
            } => {
                if leader || self.db_closed {
                    return false;
                }
                self.relay.state = match relay.as_str() {
                    "online" => RelayState::Online,
                    "offline" => RelayState::Offline,
                    _ => RelayState::Checking,
                };
                self.relay.registered = registered;
                self.relay.last_check = last_check;
                self.relay.error = error;
                self.follow_last_composed();
                return true;
            }
        }
        false
    }

    /// Re-read contacts, messages and outbox from IndexedDB (another tab wrote); `drain`: then
    /// poll and deliver the outbox (leader only).
    pub(super) fn start_reload(&mut self, drain: bool) {
        if self.me.is_none() || self.db_closed {
            return;
        }
        self.reload.gen += 1;
        self.reload.drain_after |= drain;
        let gen = self.reload.gen;
        self.fx(Effect::Reload(gen));
    }

    pub(super) fn on_reloaded(&mut self, gen: u64, data: Result<Snapshot, String>) -> bool {
        if gen != self.reload.gen {
            // A newer reload is on its way (and carries the pending drain).
            return false;
        }
        match data {
            Ok((contacts, messages, outbox)) => {
                let added = contacts != self.contacts;
                self.contacts = contacts;
                if added {
                    // Another tab added or changed a contact: the leader tells the relay.
                    self.register_contacts();
                }
                let known: HashSet<String> = self.messages.iter().map(|m| m.key()).collect();
                let (messages, outbox) =
                    merge_reload(&self.messages, &self.outbox.entries, messages, outbox);
                for m in messages
                    .iter()
                    .filter(|m| m.direction == Direction::In && !known.contains(&m.key()))
                {
                    self.count_unread(&m.peer_node_id);
                    self.scroll_messages = true;
                }
                self.messages = messages;
                self.outbox.entries = outbox;
                self.follow_last_composed();
            }
            Err(e) => {
                if !self.db_closed {
                    self.inbox_note = Some(format!("Could not read browser storage ({e})."));
                }
            }
        }
        let poll = std::mem::take(&mut self.reload.poll_after);
        if std::mem::take(&mut self.reload.drain_after) && duties(self.role).sync {
            self.outbox.next_retry_ms = 0;
            if !self.relay.registered {
                self.start_register();
            } else if poll {
                self.start_poll();
            }
            self.start_flush();
        }
        true
    }
}

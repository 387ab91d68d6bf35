//! Reducer part for the relay link (leader tab): DH key registration, the 4 s tick, mailbox
//! polls and delivery-status checks of sent messages.
use postern_core::api::dm::{DeliveryState, MsgStatus};

use super::state::{DmState, Effect, Env, PollOutcome, RelayState, REREGISTER_EVERY_TICKS};
use crate::model::delivery::{self, RelayError};
use crate::model::messages::{message_key, sort_messages, Direction, OutState};
use crate::model::tabs::{duties, TabMsg};

impl DmState {
    pub(super) fn start_register(&mut self) {
        if self.me.is_none() || !duties(self.role).sync || self.relay.registering {
            return;
        }
        self.relay.registering = true;
        self.fx(Effect::Register);
    }

    pub(super) fn start_poll(&mut self) {
        if self.me.is_none() {
            return;
        }
        if !duties(self.role).sync {
            if duties(self.role).forward {
                self.post(TabMsg::Check);
            }
            return;
        }
        if self.relay.polling {
            return;
        }
        self.relay.polling = true;
        self.fx(Effect::Poll);
    }

    /// Register first if needed, else poll.
    pub(super) fn poll_or_register(&mut self) {
        if !self.relay.registered {
            self.start_register();
        } else {
            self.start_poll();
        }
    }

    /// The relay answered after being offline (or unknown): drain the outbox at once.
    pub(super) fn came_online(&mut self, was: RelayState) {
        if was != RelayState::Online && !self.outbox.entries.is_empty() {
            self.start_flush();
        }
    }

    /// The relay answered: online, no error shown, deliver what waited.
    fn relay_answered(&mut self) {
        let was = self.relay.state;
        self.relay.state = RelayState::Online;
        self.relay.error = None;
        if was != RelayState::Online {
            self.came_online(was);
        }
    }

    pub(super) fn on_registered(&mut self, r: Result<(), RelayError>) -> bool {
        self.relay.registering = false;
        match r {
            Ok(()) => {
                self.relay.registered = true;
                let was = self.relay.state;
                self.relay.state = RelayState::Online;
                self.relay.error = None;
                self.start_poll();
                self.register_contacts();
                self.came_online(was);
            }
            Err(e) => self.relay_failed(&e),
        }
        true
    }

    /// Leader: send the contact list to the relay (after registering, and whenever a contact
    /// is added or changes), so contacts' deposits use the contacts' budget of my mailbox.
    pub(super) fn register_contacts(&mut self) {
        if duties(self.role).sync && self.relay.registered {
            self.fx(Effect::RegisterContacts(self.contacts.clone()));
        }
    }

    pub(super) fn on_tick(&mut self, env: &Env) -> bool {
        if !duties(self.role).sync {
            return false;
        }
        self.relay.ticks = self.relay.ticks.wrapping_add(1);
        if !self.relay.registered || self.relay.ticks % REREGISTER_EVERY_TICKS == 0 {
            self.start_register();
        }
        if self.relay.registered {
            self.start_poll();
        }
        if !self.outbox.entries.is_empty()
            && !self.outbox.flushing
            && env.now_ms >= self.outbox.next_retry_ms
        {
            self.start_flush();
        }
        if !self.delivery.checking && env.now_ms >= self.delivery.next_ms {
            self.start_delivery_check();
        }
        false
    }

    /// Ask the relay which of our sent messages their recipients acknowledged (leader only; no
    /// request while nothing is unsettled).
    fn start_delivery_check(&mut self) {
        if !duties(self.role).sync || self.delivery.checking {
            return;
        }
        let queries = delivery::delivery_queries(&self.messages, &self.delivery.unknown);
        if queries.is_empty() {
            return;
        }
        self.delivery.checking = true;
        self.fx(Effect::CheckDelivery(queries));
    }

    pub(super) fn on_delivery_checked(
        &mut self,
        r: Result<Vec<(String, MsgStatus)>, RelayError>,
        env: &Env,
    ) -> bool {
        self.delivery.checking = false;
        let mut moved = false;
        for (peer, st) in r.unwrap_or_default() {
            let key = message_key(Direction::Out, &peer, &st.msg_id);
            match st.state {
                DeliveryState::Delivered => {
                    let found = self
                        .messages
                        .iter_mut()
                        .find(|m| m.key() == key && m.state == OutState::Sent);
                    if let Some(m) = found {
                        m.state = OutState::Delivered;
                        m.error = None;
                        let m = m.clone();
                        self.fx(Effect::Persist(m));
                        moved = true;
                    }
                }
                // Expired (or pruned) on the relay: it will never say more.
                DeliveryState::Unknown => {
                    self.delivery.unknown.insert(key);
                }
                DeliveryState::Pending => {}
            }
        }
        self.delivery.unchanged = if moved {
            0
        } else {
            self.delivery.unchanged + 1
        };
        self.delivery.next_ms =
            env.now_ms + 1000 * delivery::delivery_check_delay_s(self.delivery.unchanged);
        if moved {
            self.follow_last_composed();
        }
        moved
    }

    pub(super) fn on_polled(&mut self, r: Result<PollOutcome, RelayError>, env: &Env) -> bool {
        self.relay.polling = false;
        match r {
            Ok(out) => {
                self.relay_answered();
                self.relay.last_check = Some(env.now_secs());
                self.inbox_note = match (out.rejected, out.warning) {
                    (0, None) => None,
                    (0, Some(w)) => Some(w),
                    (n, w) => Some(format!(
                        "{n} message(s) failed verification and were discarded.{}",
                        w.map(|w| format!(" {w}")).unwrap_or_default()
                    )),
                };
                if !out.new_messages.is_empty() {
                    self.post(TabMsg::Changed);
                    self.delivery.unchanged = 0;
                    self.delivery.next_ms = 0;
                    for m in &out.new_messages {
                        self.observe_sender(m);
                    }
                    for m in out.new_messages {
                        self.count_unread(&m.peer_node_id);
                        if self.contact(&m.peer_node_id).is_none()
                            && self.view != super::state::View::All
                        {
                            *self.unread.entry(String::new()).or_default() += 1;
                        }
                        if !self.messages.iter().any(|x| x.key() == m.key()) {
                            self.messages.push(m);
                        }
                    }
                    sort_messages(&mut self.messages);
                    self.scroll_messages = true;
                }
            }
            Err(e) => self.relay_failed(&e),
        }
        true
    }
}

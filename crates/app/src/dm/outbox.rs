//! Reducer part for sending: compose → seal (core `dm::seal`) → queue (local copy + sealed
//! envelope, one IndexedDB transaction) → flush the outbox oldest first → settle each message
//! by the relay's answer (`model::delivery::settle_attempt`).
use std::str::FromStr;

use postern_core::PublicIdentity;

use super::state::{Attempt, DmState, Effect, Env, RelayState, StatusKind, View};
use crate::model::delivery::{self, Settled};
use crate::model::messages::{
    message_key, outbox_key, seal_text, sort_messages, OutState, OutboxEntry, StoredMessage,
};
use crate::model::tabs::{duties, TabMsg};
use crate::model::wording;

impl DmState {
    fn send_error(&mut self, text: impl Into<String>) -> bool {
        self.compose.status = Some((StatusKind::Error, text.into()));
        true
    }

    /// Seal the composed text for the selected contact and queue it.
    pub(super) fn send(&mut self, env: &Env) -> bool {
        if self.compose.sending {
            return false;
        }
        let Some(me) = env.identity else {
            return false;
        };
        let View::Contact(node) = &self.view else {
            return self.send_error("Choose a contact to write to first.");
        };
        let Some(contact) = self.contact(node).cloned() else {
            return self.send_error("Choose a contact to write to first.");
        };
        if self.compose.body.trim().is_empty() {
            return self.send_error("Type a message first.");
        }
        let recipient = match PublicIdentity::from_str(&contact.identity) {
            Ok(p) => p,
            Err(e) => {
                return self.send_error(format!("This contact's stored identity is invalid: {e}."))
            }
        };
        let (env_, local) = match seal_text(
            me,
            &recipient,
            &self.compose.body,
            env.now_secs(),
            env.now_ms,
        ) {
            Ok(x) => x,
            Err(e) => return self.send_error(wording::explain_seal_error(&e)),
        };
        // Sealed now; only the envelope waits in the outbox (the plaintext copy is the local
        // record every sent message has).
        let entry = OutboxEntry::for_local(&local, env_);
        self.compose.sending = true;
        self.compose.status = Some((StatusKind::Pending, "Sending…".into()));
        self.fx(Effect::Queue {
            name: contact.name,
            local,
            entry,
        });
        true
    }

    pub(super) fn on_queued(
        &mut self,
        name: String,
        local: StoredMessage,
        entry: OutboxEntry,
        warn: Option<String>,
    ) -> bool {
        self.compose.sending = false;
        self.compose.body.clear();
        self.compose.last = Some((local.msg_id.clone(), name, warn));
        if !self.messages.iter().any(|m| m.key() == local.key()) {
            self.messages.push(local);
            sort_messages(&mut self.messages);
        }
        if !self.outbox.entries.iter().any(|e| e.key() == entry.key()) {
            self.outbox.entries.push(entry);
        }
        self.scroll_messages = true;
        self.focus = Some("compose-body");
        if duties(self.role).drain_outbox {
            self.post(TabMsg::Changed);
        }
        self.start_flush();
        self.follow_last_composed();
        true
    }

    /// Ask the leader tab to poll and deliver the outbox now.
    fn forward_drain(&mut self) {
        if duties(self.role).forward {
            self.post(TabMsg::Drain);
        }
    }

    /// Deliver the outbox in order. Each envelope keeps its msg_id, so a retry of one the relay
    /// already holds is answered `duplicate: true`: delivery is exactly once.
    pub(super) fn start_flush(&mut self) {
        // Only the leader tab drains the outbox; others hand it the work (see `tabs`).
        if !duties(self.role).drain_outbox {
            if !self.outbox.entries.is_empty() {
                self.forward_drain();
            }
            return;
        }
        if self.outbox.flushing {
            self.outbox.flush_again = true;
            return;
        }
        if self.outbox.entries.is_empty() {
            return;
        }
        self.outbox.flushing = true;
        self.outbox.flush_again = false;
        let batch = self.outbox.entries.clone();
        self.fx(Effect::Flush(batch));
    }

    pub(super) fn on_flushed(&mut self, attempts: Vec<Attempt>, env: &Env) -> bool {
        self.outbox.flushing = false;
        let mut failed = false;
        let mut unreachable = false;
        let mut answered = false;
        for a in attempts {
            let key = message_key(
                crate::model::messages::Direction::Out,
                &a.peer_node_id,
                &a.msg_id,
            );
            let name = self.contact_name_of(&a.peer_node_id);
            let (mine, warning) = match &self.compose.last {
                Some((id, _, w)) if *id == a.msg_id => (true, w.clone()),
                Some((_, _, w)) => (false, w.clone()),
                None => (false, None),
            };
            let (state, error, status) =
                match delivery::settle_attempt(&a.result, &name, warning.as_deref()) {
                    Settled::StillQueued => {
                        unreachable = true;
                        failed = true;
                        // Still queued; nothing to persist.
                        if mine {
                            self.compose.status =
                                Some((StatusKind::Pending, wording::explain_queued()));
                        }
                        continue;
                    }
                    Settled::Answered {
                        state,
                        error,
                        status,
                        is_error,
                    } => {
                        answered = true;
                        if state == OutState::Sent {
                            self.delivery.unchanged = 0;
                            self.delivery.next_ms = 0;
                        } else if state == OutState::Queued {
                            failed = true;
                        }
                        let kind = if is_error {
                            StatusKind::Error
                        } else {
                            StatusKind::Ok
                        };
                        (state, error, (kind, status))
                    }
                };
            if state != OutState::Queued {
                let gone = outbox_key(&a.peer_node_id, &a.msg_id);
                self.outbox.entries.retain(|e| e.key() != gone);
            }
            if mine {
                self.compose.status = Some(status);
            }
            if let Some(m) = self.messages.iter_mut().find(|m| m.key() == key) {
                if m.state != state || m.error != error {
                    m.state = state;
                    m.error = error;
                    let m = m.clone();
                    self.fx(Effect::Persist(m));
                }
            }
        }
        if unreachable {
            self.relay.state = RelayState::Offline;
        } else if answered {
            self.relay.state = RelayState::Online;
        }
        if failed {
            self.outbox.failures += 1;
            self.outbox.next_retry_ms =
                env.now_ms + 1000 * delivery::outbox_retry_delay_s(self.outbox.failures, 0);
        } else {
            self.outbox.failures = 0;
            self.outbox.next_retry_ms = 0;
        }
        // Something was queued during this attempt: try it now (fails fast if the relay is
        // still down, and sets its status).
        if std::mem::take(&mut self.outbox.flush_again) {
            self.start_flush();
        }
        true
    }
}

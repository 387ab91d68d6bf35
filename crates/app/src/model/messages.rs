//! Direct messages: the stored message and outbox records, sealing/opening with core's `dm`,
//! display order and the multi-tab merge of in-memory and stored state.
use postern_core::dm::{self, DmEnvelope, DmError};
use postern_core::{Identity, PublicIdentity};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// Delivery state of an outgoing message (incoming messages are always `Sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutState {
    /// Sealed and waiting in the outbox for the relay to accept it.
    Queued,
    /// Accepted by the relay (records written before the outbox existed are sent ones).
    #[default]
    Sent,
    /// Refused for good by the relay (e.g. too large); no longer retried.
    Failed,
    /// The recipient's signed ack reached the relay (`POST /api/mesh/dm/status`).
    Delivered,
}

impl OutState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutState::Queued => "queued",
            OutState::Sent => "sent",
            OutState::Failed => "failed",
            OutState::Delivered => "delivered",
        }
    }
}

/// A message kept locally: an opened and verified incoming DM, or the plaintext of one we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub direction: Direction,
    pub msg_id: String,
    /// The other party: the authenticated sender (in) or the recipient (out).
    pub peer_node_id: String,
    /// Public identity string of the other party (lets the UI offer "add contact").
    pub peer_identity: String,
    /// Sender's timestamp (seconds) for incoming, send time for outgoing.
    pub timestamp: u64,
    /// Local order key: milliseconds when stored, incremented within one poll so that messages
    /// with equal (second-resolution) timestamps keep the relay's order.
    pub stored_at: u64,
    pub body: String,
    /// Delivery state (outgoing messages only; see [`OutState`]).
    #[serde(default)]
    pub state: OutState,
    /// Last relay refusal for a queued or failed outgoing message, shown next to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StoredMessage {
    /// Storage key: unique per direction, peer and msg_id.
    pub fn key(&self) -> String {
        message_key(self.direction, &self.peer_node_id, &self.msg_id)
    }
}

pub fn message_key(direction: Direction, peer_node_id: &str, msg_id: &str) -> String {
    format!("{}:{}:{}", direction.as_str(), peer_node_id, msg_id)
}

/// An outgoing message waiting for the relay: only the sealed envelope (what the relay will see
/// anyway). The plaintext copy lives in `messages` like every sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub msg_id: String,
    pub peer_node_id: String,
    pub envelope: DmEnvelope,
    /// Local order key (ms) so the outbox drains oldest first.
    pub queued_at: u64,
}

impl OutboxEntry {
    pub fn key(&self) -> String {
        outbox_key(&self.peer_node_id, &self.msg_id)
    }

    /// The outbox record of a freshly sealed message (only the envelope waits; the plaintext
    /// copy is the local record every sent message has).
    pub fn for_local(local: &StoredMessage, envelope: DmEnvelope) -> OutboxEntry {
        OutboxEntry {
            msg_id: local.msg_id.clone(),
            peer_node_id: local.peer_node_id.clone(),
            envelope,
            queued_at: local.stored_at,
        }
    }
}

pub fn outbox_key(peer_node_id: &str, msg_id: &str) -> String {
    format!("{peer_node_id}:{msg_id}")
}

/// Display order: by timestamp (seconds), then local order key, then msg_id.
pub fn sort_messages(ms: &mut [StoredMessage]) {
    super::sort::sort_by(ms, |a, b| {
        (a.timestamp, a.stored_at, &a.msg_id).cmp(&(b.timestamp, b.stored_at, &b.msg_id))
    });
}

/// Seal `text` for `recipient` (fresh msg_id, timestamp `now` in seconds) and build the local
/// copy of the sent message (`stored_at_ms`: local order key, see [`StoredMessage::stored_at`]).
pub fn seal_text(
    me: &Identity,
    recipient: &PublicIdentity,
    text: &str,
    now: u64,
    stored_at_ms: u64,
) -> Result<(DmEnvelope, StoredMessage), DmError> {
    let msg_id = dm::new_msg_id(&mut OsRng);
    let env = dm::seal(me, recipient, text.as_bytes(), &msg_id, now, &mut OsRng)?;
    let local = StoredMessage {
        direction: Direction::Out,
        msg_id,
        peer_node_id: recipient.node_id().to_string(),
        peer_identity: recipient.to_string(),
        timestamp: now,
        stored_at: stored_at_ms,
        body: text.to_string(),
        state: OutState::Queued,
        error: None,
    };
    Ok((env, local))
}

/// Open and verify an incoming envelope with core, producing the record to store.
pub fn open_envelope(
    me: &Identity,
    env: &DmEnvelope,
    stored_at_ms: u64,
) -> Result<StoredMessage, DmError> {
    let opened = dm::open(me, env)?;
    let body = opened.text()?.to_string();
    Ok(StoredMessage {
        direction: Direction::In,
        msg_id: opened.msg_id.clone(),
        peer_node_id: opened.sender.node_id().to_string(),
        peer_identity: opened.sender.to_string(),
        timestamp: opened.timestamp,
        stored_at: stored_at_ms,
        body,
        state: OutState::Sent,
        error: None,
    })
}

/// Merge what another tab's write left in IndexedDB with this tab's in-memory view.
///
/// Delivery states only move forward (`queued` → `sent` / `failed`), so a stored `queued` copy
/// never overrides a message this tab already settled (its write may still be in flight), and a
/// settled message's envelope is never put back into the outbox (no second send). Records this
/// tab could not persist are kept.
pub fn merge_reload(
    mem_messages: &[StoredMessage],
    mem_outbox: &[OutboxEntry],
    mut stored_messages: Vec<StoredMessage>,
    stored_outbox: Vec<OutboxEntry>,
) -> (Vec<StoredMessage>, Vec<OutboxEntry>) {
    use std::collections::HashMap;
    let mut index: HashMap<String, usize> = stored_messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.key(), i))
        .collect();
    for m in mem_messages {
        match index.get(&m.key()) {
            Some(&i) => {
                let s = &mut stored_messages[i];
                // States only move forward: queued → sent/failed → delivered.
                let newer = (s.state == OutState::Queued && m.state != OutState::Queued)
                    || (s.state == OutState::Sent && m.state == OutState::Delivered);
                if newer {
                    *s = m.clone();
                }
            }
            None => {
                index.insert(m.key(), stored_messages.len());
                stored_messages.push(m.clone());
            }
        }
    }
    let queued = |e: &OutboxEntry| {
        let key = message_key(Direction::Out, &e.peer_node_id, &e.msg_id);
        index
            .get(&key)
            .is_none_or(|&i| stored_messages[i].state == OutState::Queued)
    };
    let mut outbox: Vec<OutboxEntry> = stored_outbox.into_iter().filter(|e| queued(e)).collect();
    for e in mem_outbox {
        if !outbox.iter().any(|o| o.key() == e.key()) && queued(e) {
            outbox.push(e.clone());
        }
    }
    super::sort::sort_by(&mut outbox, |a, b| {
        (a.queued_at, &a.msg_id).cmp(&(b.queued_at, &b.msg_id))
    });
    sort_messages(&mut stored_messages);
    (stored_messages, outbox)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::dm::MAX_BODY_LEN;
    use rand_core::OsRng;

    // Moved from tests/browser.rs and tests/tabs.rs (same assertions).
    #[test]
    fn seal_and_open_in_the_browser() {
        let alice = Identity::generate(&mut OsRng);
        let bob = Identity::generate(&mut OsRng);
        let (env, local) = seal_text(&alice, &bob.public(), "hello bob", 100, 100_000).unwrap();
        assert_eq!(local.direction, Direction::Out);
        assert_eq!(local.peer_node_id, bob.node_id());
        assert_eq!(local.msg_id, env.msg_id);
        // The envelope does not carry the plaintext.
        assert!(!serde_json::to_string(&env).unwrap().contains("hello bob"));

        let opened = open_envelope(&bob, &env, 200).unwrap();
        assert_eq!(opened.direction, Direction::In);
        assert_eq!(opened.peer_node_id, alice.node_id());
        // The envelope carries the sender's keys, not its binding: the same keys as Alice's
        // (bound) identity, printed in the legacy unbound form.
        let sender: PublicIdentity = opened.peer_identity.parse().unwrap();
        assert_eq!(sender, alice.public());
        assert_eq!(opened.body, "hello bob");
        assert_eq!((opened.timestamp, opened.stored_at), (100, 200));
        assert_eq!(
            open_envelope(&alice, &env, 200).unwrap_err(),
            DmError::WrongRecipient
        );

        let big = "x".repeat(MAX_BODY_LEN + 1);
        let err = seal_text(&alice, &bob.public(), &big, 1, 1).unwrap_err();
        assert_eq!(err, DmError::BodyTooLarge(MAX_BODY_LEN + 1));
        assert!(crate::model::wording::explain_seal_error(&err).contains(&MAX_BODY_LEN.to_string()));
        assert!(seal_text(&alice, &bob.public(), &"x".repeat(MAX_BODY_LEN), 1, 1).is_ok());
    }

    fn queued(me: &Identity, body: &str, at: u64) -> (StoredMessage, OutboxEntry) {
        let bob = Identity::generate(&mut OsRng).public();
        let (env, local) = seal_text(me, &bob, body, at, at * 1000).unwrap();
        let entry = OutboxEntry {
            msg_id: local.msg_id.clone(),
            peer_node_id: local.peer_node_id.clone(),
            envelope: env,
            queued_at: local.stored_at,
        };
        (local, entry)
    }

    #[test]
    fn reload_merge_never_reverts_a_settled_message_nor_resends_it() {
        let me = Identity::generate(&mut OsRng);
        let (a, a_entry) = queued(&me, "a", 10);
        let (b, b_entry) = queued(&me, "b", 20);
        let (c, c_entry) = queued(&me, "c", 30);

        // This (leader) tab delivered `a` (its settle write may still be in flight) and holds `c`
        // in memory only (it could not be persisted). Another tab queued `b`.
        let mut a_sent = a.clone();
        a_sent.state = OutState::Sent;
        let mem_messages = vec![a_sent.clone(), c.clone()];
        let mem_outbox = vec![c_entry.clone()];
        let stored_messages = vec![b.clone(), a.clone()];
        let stored_outbox = vec![b_entry.clone(), a_entry.clone()];

        let (messages, outbox) =
            merge_reload(&mem_messages, &mem_outbox, stored_messages, stored_outbox);
        let state_of = |m: &StoredMessage| {
            messages
                .iter()
                .find(|x| x.key() == m.key())
                .map(|x| x.state)
        };
        assert_eq!(messages.len(), 3);
        assert_eq!(
            state_of(&a),
            Some(OutState::Sent),
            "a stale 'queued' never wins"
        );
        assert_eq!(state_of(&b), Some(OutState::Queued));
        assert_eq!(state_of(&c), Some(OutState::Queued));
        let keys: Vec<String> = outbox.iter().map(|e| e.key()).collect();
        assert_eq!(
            keys,
            vec![b_entry.key(), c_entry.key()],
            "a is not sent twice; oldest first"
        );

        // A state the other tab settled wins over this tab's queued copy.
        let mut b_failed = b.clone();
        b_failed.state = OutState::Failed;
        b_failed.error = Some("too large".into());
        let (messages, outbox) = merge_reload(
            std::slice::from_ref(&b),
            std::slice::from_ref(&b_entry),
            vec![b_failed.clone()],
            vec![],
        );
        assert_eq!(messages, vec![b_failed]);
        assert!(outbox.is_empty());

        // Reloading the same data twice changes nothing (no duplicated rows).
        let incoming = StoredMessage {
            direction: Direction::In,
            ..a.clone()
        };
        let stored = vec![incoming.clone(), a_sent.clone()];
        let (once, _) = merge_reload(&[], &[], stored.clone(), vec![]);
        let (twice, _) = merge_reload(&once, &[], stored, vec![]);
        assert_eq!(once, twice);
        assert_eq!(twice.len(), 2);
    }
}

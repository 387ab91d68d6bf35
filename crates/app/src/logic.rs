//! Non-UI logic of the app: glue between core's rules and what the UI shows. Every protocol rule
//! (parsing, sealing, opening, caps) is core's; this module only calls it and words the results.
use std::str::FromStr;

use postern_core::api::codes;
use postern_core::caps::{CapError, DEFAULT_MAILBOX_CAP, DEFAULT_PER_SENDER_CAP};
use postern_core::dm::{self, DmEnvelope, DmError, MAX_BODY_LEN};
use postern_core::identity::{IdentityError, NODE_ID_PREFIX};
use postern_core::{Identity, PublicIdentity};
use rand_core::OsRng;

use crate::relay::RelayError;
use crate::storage::{Contact, Direction, OutState, StoredMessage};

/// Longest contact name accepted.
pub const MAX_CONTACT_NAME_CHARS: usize = 64;

/// Short, human-checkable form of a node id: the first 8 hex chars, grouped `abcd-ef01`.
pub fn short_node_id(node_id: &str) -> String {
    let hex = node_id.strip_prefix(NODE_ID_PREFIX).unwrap_or(node_id);
    let head: String = hex.chars().take(8).collect();
    if head.len() == 8 {
        format!("{}-{}", &head[..4], &head[4..])
    } else {
        head
    }
}

/// Fingerprint of a public identity (core's `short_id`, grouped for reading aloud).
pub fn fingerprint(public: &PublicIdentity) -> String {
    short_node_id(public.node_id())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactError {
    EmptyName,
    NameTooLong,
    EmptyIdentity,
    Invalid(IdentityError),
    IsSelf,
    DuplicateName(String),
    DuplicateIdentity(String),
}

impl std::fmt::Display for ContactError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContactError::EmptyName => write!(f, "Give the contact a name."),
            ContactError::NameTooLong => {
                write!(
                    f,
                    "The name is too long (at most {MAX_CONTACT_NAME_CHARS} characters)."
                )
            }
            ContactError::EmptyIdentity => {
                write!(f, "Paste the contact's public identity (postern1.…).")
            }
            ContactError::Invalid(e) => write!(f, "That is not a valid Postern identity: {e}."),
            ContactError::IsSelf => write!(f, "That is your own identity."),
            ContactError::DuplicateName(n) => write!(f, "You already have a contact named “{n}”."),
            ContactError::DuplicateIdentity(n) => {
                write!(f, "This identity is already saved as “{n}”.")
            }
        }
    }
}

/// Validate the add-contact form with core's parser.
pub fn parse_contact(
    name: &str,
    identity: &str,
    me: &PublicIdentity,
    existing: &[Contact],
    now: u64,
) -> Result<Contact, ContactError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ContactError::EmptyName);
    }
    if name.chars().count() > MAX_CONTACT_NAME_CHARS {
        return Err(ContactError::NameTooLong);
    }
    if identity.trim().is_empty() {
        return Err(ContactError::EmptyIdentity);
    }
    let public = PublicIdentity::from_str(identity).map_err(ContactError::Invalid)?;
    if public.node_id() == me.node_id() {
        return Err(ContactError::IsSelf);
    }
    if let Some(c) = existing.iter().find(|c| c.node_id == public.node_id()) {
        return Err(ContactError::DuplicateIdentity(c.name.clone()));
    }
    if let Some(c) = existing.iter().find(|c| c.name.eq_ignore_ascii_case(name)) {
        return Err(ContactError::DuplicateName(c.name.clone()));
    }
    Ok(Contact {
        name: name.to_string(),
        node_id: public.node_id().to_string(),
        identity: public.to_string(),
        added_at: now,
    })
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

/// Wording for a body that fails before sealing.
pub fn explain_seal_error(e: &DmError) -> String {
    match e {
        DmError::BodyTooLarge(n) => format!(
            "Message too long: {n} bytes, the limit is {MAX_BODY_LEN} bytes. Shorten it and send again."
        ),
        other => format!("Could not seal the message: {other}."),
    }
}

/// Wording for a refused or failed deposit. `recipient` is the contact's name.
/// Never contains the word "sent": `#send-status` containing it means success.
pub fn explain_send_error(e: &RelayError, recipient: &str) -> String {
    match e {
        RelayError::Unreachable(_) => {
            "Relay unreachable: your message was not delivered. Check your connection and try again.".to_string()
        }
        RelayError::Api { code, detail, .. } => match code.as_str() {
            codes::RECIPIENT_UNKNOWN => format!(
                "{recipient} has not opened Postern on this relay yet, so the relay cannot accept \
                 messages for them. Ask them to open Postern, then send again."
            ),
            codes::SENDER_CAP_REACHED => {
                cap_text(detail, CapError::SenderCapReached { cap: DEFAULT_PER_SENDER_CAP })
            }
            codes::MAILBOX_FULL => cap_text(detail, CapError::MailboxFull { cap: DEFAULT_MAILBOX_CAP }),
            codes::PAYLOAD_TOO_LARGE => {
                format!("Message too large for the relay (limit {MAX_BODY_LEN} bytes of text).")
            }
            codes::RATE_LIMITED => "The relay is rate limiting; wait a moment and send again.".to_string(),
            _ => format!("The relay refused the message ({code}): {detail}"),
        },
        RelayError::BadResponse(d) => format!("Unexpected answer from the relay: {d}"),
    }
}

/// First retry delay of the outbox after a failed attempt (seconds); doubles per failure.
pub const OUTBOX_BACKOFF_BASE_S: u64 = 5;
/// Longest wait between outbox retries (seconds). Coming back online, "Check now" and a
/// successful poll retry at once regardless.
pub const OUTBOX_BACKOFF_CAP_S: u64 = 300;

/// Delay before the next outbox attempt after `consecutive_failures` failed ones, with core's
/// backoff rule (`retry_after_s` from a 429, 0 otherwise).
pub fn outbox_retry_delay_s(consecutive_failures: u64, retry_after_s: u64) -> u64 {
    postern_core::sync::failure_backoff_seconds(
        OUTBOX_BACKOFF_BASE_S,
        consecutive_failures,
        retry_after_s,
        OUTBOX_BACKOFF_CAP_S,
    )
}

/// First wait between delivery-status checks that changed nothing (seconds); doubles per
/// unchanged check up to [`DELIVERY_CHECK_CAP_S`]. A newly sent or received message resets it.
pub const DELIVERY_CHECK_BASE_S: u64 = 4;
pub const DELIVERY_CHECK_CAP_S: u64 = 120;

/// Delay before the next delivery-status check after `unchanged` checks in a row that moved
/// nothing to delivered (core's backoff rule).
pub fn delivery_check_delay_s(unchanged: u64) -> u64 {
    postern_core::sync::failure_backoff_seconds(
        DELIVERY_CHECK_BASE_S,
        unchanged,
        0,
        DELIVERY_CHECK_CAP_S,
    )
}

/// Status queries for our outgoing messages the relay accepted (`Sent`) but nobody has
/// acknowledged yet, except the keys in `skip` (the relay no longer knows them): per recipient,
/// at most [`postern_core::api::dm::MAX_STATUS_IDS`] ids each, each valid per core.
pub fn delivery_queries(
    messages: &[StoredMessage],
    skip: &std::collections::HashSet<String>,
) -> Vec<postern_core::api::dm::StatusRequest> {
    use postern_core::api::dm::{StatusRequest, MAX_STATUS_IDS};
    let mut by_peer: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for m in messages {
        if m.direction == Direction::Out
            && m.state == OutState::Sent
            && dm::is_valid_msg_id(&m.msg_id)
            && !skip.contains(&m.key())
        {
            let ids = by_peer.entry(&m.peer_node_id).or_default();
            if !ids.contains(&m.msg_id) {
                ids.push(m.msg_id.clone());
            }
        }
    }
    by_peer
        .into_iter()
        .flat_map(|(peer, ids)| {
            ids.chunks(MAX_STATUS_IDS)
                .map(|c| StatusRequest {
                    recipient_id: peer.to_string(),
                    msg_ids: c.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .filter(|q| q.validate().is_ok())
        .collect()
}

/// A refusal that retrying the same envelope can never fix (it stays refused): the message
/// leaves the outbox as failed. Everything else (unreachable, unknown recipient, caps, rate
/// limits, server errors) is retried later.
pub fn is_permanent_send_error(e: &RelayError) -> bool {
    match e {
        RelayError::Api { code, .. } => matches!(
            code.as_str(),
            codes::PAYLOAD_TOO_LARGE | codes::BAD_REQUEST | codes::UNSUPPORTED_MEDIA_TYPE
        ),
        _ => false,
    }
}

/// `#send-status` wording when a message was queued because the relay is unreachable.
/// Never contains the word "sent".
pub fn explain_queued() -> String {
    "Relay unreachable: your message is sealed and queued in this browser; it goes out \
     automatically when the relay is back."
        .to_string()
}

/// Prefer the relay's own explanation (it knows its configured caps); fall back to core's
/// wording with the default caps.
fn cap_text(detail: &str, fallback: CapError) -> String {
    let base = if detail.trim().is_empty() {
        fallback.to_string()
    } else {
        detail.trim().to_string()
    };
    let mut s = base;
    if let Some(first) = s.get(..1) {
        let upper = first.to_uppercase();
        s.replace_range(..1, &upper);
    }
    if !s.ends_with('.') {
        s.push('.');
    }
    format!("Not delivered: {s}")
}

/// The label for a node id: the contact name if known.
pub fn contact_name<'a>(contacts: &'a [Contact], node_id: &str) -> Option<&'a str> {
    contacts
        .iter()
        .find(|c| c.node_id == node_id)
        .map(|c| c.name.as_str())
}

/// Local time for a timestamp in seconds.
pub fn format_time(secs: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// ISO-8601 time for `<time datetime>`.
pub fn iso_time(secs: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    String::from(d.to_iso_string())
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

/// The trust rule for a gate I was added to. `epochs` is a chain core has verified, genesis
/// first. The inviter is the rotator of the epoch that added me (the first epoch of the latest
/// run of epochs listing me; for the genesis that is the founder). Auto-join iff the inviter is
/// one of my contacts (matched by node id, which core derives from the key that signed the
/// epoch) or myself; otherwise ask. A gate whose current roster lacks me is never offered.
pub fn gate_offer(
    contacts: &[Contact],
    me: &str,
    epochs: &[postern_core::gate::Epoch],
) -> GateOffer {
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

/// A gate post refusal that retrying the same sealed message can never fix: it leaves the gate
/// outbox. Unreachable, rate limits, unknown epoch/gate (the record may arrive later) and server
/// errors are retried; the relay deduplicates retries by (gate, nonce).
pub fn is_permanent_gate_post_error(e: &RelayError) -> bool {
    is_permanent_send_error(e)
        || matches!(e, RelayError::Api { code, .. } if code == postern_core::api::gate::codes::INVALID_MESSAGE)
}

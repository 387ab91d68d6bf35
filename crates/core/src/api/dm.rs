//! DM spool endpoints (Infonet's `/api/mesh/dm/*` namespace).
use serde::{Deserialize, Serialize};

use crate::auth::RequestAuth;
use crate::dm::DmEnvelope;

pub const PATH_REGISTER: &str = "/api/mesh/dm/register";
pub const PATH_PUBKEY: &str = "/api/mesh/dm/pubkey";
pub const PATH_SEND: &str = "/api/mesh/dm/send";
pub const PATH_POLL: &str = "/api/mesh/dm/poll";
pub const PATH_ACK: &str = "/api/mesh/dm/ack";
pub const PATH_CONTACTS: &str = "/api/mesh/dm/contacts";

/// `POST /api/mesh/dm/contacts`: replace the caller's contact list, the pairwise sender_refs
/// its contacts deposit under (signed, action `dm.contacts`, params = `auth::contacts_params`;
/// sorted, unique, ≤ `caps::MAX_CONTACT_REFS`). Deposits under a listed sender_ref count
/// against the contacts' budget, others against the small strangers' budget
/// (`caps::check_budgeted`), so an anonymous flood cannot fill the mailbox for contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactsRequest {
    pub auth: RequestAuth,
    pub sender_refs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactsResponse {
    pub ok: bool,
    /// sender_refs now on the list.
    pub count: u64,
}

/// `POST /api/mesh/dm/register`: publish the X25519 key of a node (signed, action `dm.register`,
/// params = the raw 32-byte DH key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub auth: RequestAuth,
    /// Standard base64 of the X25519 public key.
    pub dh_pub_key: String,
    /// Standard base64 of the identity's binding signature over its keys (identity v2,
    /// [`crate::identity::binding_message`]). The relay checks it when present and serves it
    /// from `pubkey`, so a contact added from a legacy string can be upgraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

impl RegisterRequest {
    /// The identity this request registers, checked: both keys valid and, when a binding is
    /// present, the owner's signature covering exactly these keys (else `BadBinding`). The
    /// relay refuses a request that fails this; the request's own signature is checked apart.
    pub fn identity(
        &self,
    ) -> Result<crate::identity::PublicIdentity, crate::identity::IdentityError> {
        keys_identity(
            &self.auth.public_key,
            &self.dh_pub_key,
            self.binding.as_deref(),
        )
    }
}

/// Build a public identity from base64 keys and an optional base64 binding signature.
fn keys_identity(
    public_key: &str,
    dh_pub_key: &str,
    binding: Option<&str>,
) -> Result<crate::identity::PublicIdentity, crate::identity::IdentityError> {
    use crate::identity::{IdentityError, PublicIdentity};
    let ed = crate::b64::decode_std_array::<32>(public_key)
        .map_err(|_| IdentityError::Malformed("public_key is not 32 bytes of base64"))?;
    let x = crate::b64::decode_std_array::<32>(dh_pub_key)
        .map_err(|_| IdentityError::Malformed("dh_pub_key is not 32 bytes of base64"))?;
    match binding {
        None => PublicIdentity::from_keys(&ed, x),
        Some(b) => {
            let sig = crate::b64::decode_std_array::<64>(b)
                .map_err(|_| IdentityError::Malformed("binding is not 64 bytes of base64"))?;
            PublicIdentity::from_bound_keys(&ed, x, &sig)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub ok: bool,
    pub node_id: String,
}

/// `GET /api/mesh/dm/pubkey?node_id=…`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubkeyQuery {
    pub node_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubkeyResponse {
    pub ok: bool,
    pub node_id: String,
    /// Standard base64 Ed25519 key.
    pub public_key: String,
    /// Standard base64 X25519 key.
    pub dh_pub_key: String,
    /// No longer sent (it told anyone when a node last opened the app); kept optional so
    /// clients reading an older relay still parse its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<u64>,
    /// The registered binding signature (identity v2), if the owner sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
}

impl PubkeyResponse {
    /// The identity this answer describes, checked: the node id must match the Ed25519 key and,
    /// when a binding is present, it must cover both keys (else `BadBinding`). Unbound when the
    /// relay has no binding. Never trust a relay's keys beyond this.
    pub fn identity(
        &self,
    ) -> Result<crate::identity::PublicIdentity, crate::identity::IdentityError> {
        use crate::identity::IdentityError;
        let id = keys_identity(&self.public_key, &self.dh_pub_key, self.binding.as_deref())?;
        if id.node_id() != self.node_id {
            return Err(IdentityError::NodeIdMismatch);
        }
        Ok(id)
    }
}

/// `POST /api/mesh/dm/send`: deposit a sealed envelope (no sender authentication; the envelope
/// does not reveal the sender).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub envelope: DmEnvelope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    pub ok: bool,
    pub msg_id: String,
    /// True when this msg_id was already stored (idempotent retry).
    pub duplicate: bool,
    pub expires_at: u64,
}

/// `POST /api/mesh/dm/poll`: list the caller's mailbox (signed, action `dm.poll`, params = the
/// decimal `limit`). Non-destructive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    pub auth: RequestAuth,
    pub limit: u32,
}

pub const MAX_POLL_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDm {
    pub envelope: DmEnvelope,
    pub received_at: u64,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponse {
    pub ok: bool,
    pub messages: Vec<StoredDm>,
    /// Messages in the mailbox in total (may exceed `messages.len()`).
    pub total: u64,
}

/// `POST /api/mesh/dm/ack`: remove messages from the caller's mailbox (signed, action `dm.ack`,
/// params = [`crate::auth::ack_params`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub auth: RequestAuth,
    pub msg_ids: Vec<String>,
}

pub const MAX_ACK_IDS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    pub ok: bool,
    pub removed: u64,
}

/// Params signed for a poll request.
pub fn poll_params(limit: u32) -> Vec<u8> {
    limit.to_string().into_bytes()
}

pub const PATH_DM_STATUS: &str = "/api/mesh/dm/status";

/// Most msg_ids in one delivery-status query.
pub const MAX_STATUS_IDS: usize = 100;

/// `POST /api/mesh/dm/status`: has the recipient acknowledged these messages? Unsigned: a
/// msg_id is 128 random bits chosen by the sender ([`crate::dm::new_msg_id`]), so knowing
/// `(recipient_id, msg_id)` is the capability. The answer never names a sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub recipient_id: String,
    pub msg_ids: Vec<String>,
}

/// Why a [`StatusRequest`] is refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusRequestError {
    #[error("recipient_id is not a valid node id")]
    BadRecipient,
    #[error("msg_ids must list 1..={MAX_STATUS_IDS} ids")]
    BadCount,
    #[error("msg_id must be 8..=128 characters of [A-Za-z0-9_.:-]")]
    BadMsgId,
    #[error("msg_ids must not repeat")]
    Duplicate,
}

impl StatusRequest {
    /// The checks the relay runs before answering (and a client before asking).
    pub fn validate(&self) -> Result<(), StatusRequestError> {
        crate::ids::NodeId::parse(&self.recipient_id)
            .map_err(|_| StatusRequestError::BadRecipient)?;
        if !(1..=MAX_STATUS_IDS).contains(&self.msg_ids.len()) {
            return Err(StatusRequestError::BadCount);
        }
        if !self
            .msg_ids
            .iter()
            .all(|id| crate::ids::MsgId::parse(id).is_ok())
        {
            return Err(StatusRequestError::BadMsgId);
        }
        let mut seen: Vec<&str> = self.msg_ids.iter().map(String::as_str).collect();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(StatusRequestError::Duplicate);
        }
        Ok(())
    }
}

/// What a relay knows of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Still spooled: not yet acknowledged by the recipient.
    Pending,
    /// The recipient's signed ack was seen (here or replicated from a peer).
    Delivered,
    /// Neither: never seen here, expired, or the ack's tombstone has been pruned.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgStatus {
    pub msg_id: String,
    pub state: DeliveryState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub ok: bool,
    /// One entry per requested id, in request order.
    pub statuses: Vec<MsgStatus>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod status_tests {
    use super::*;

    const R: &str = "!sb_0123456789abcdef0123456789abcdef";

    fn req(ids: &[&str]) -> StatusRequest {
        StatusRequest {
            recipient_id: R.into(),
            msg_ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn accepts_well_formed_queries() {
        assert_eq!(
            req(&["0123456789abcdef0123456789abcdef"]).validate(),
            Ok(())
        );
        let many: Vec<String> = (0..MAX_STATUS_IDS).map(|i| format!("msg-{i:04}")).collect();
        let r = StatusRequest {
            recipient_id: R.into(),
            msg_ids: many,
        };
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn rejects_bad_input() {
        let mut r = req(&["msg-0001"]);
        r.recipient_id = "!sb_XYZ".into();
        assert_eq!(r.validate(), Err(StatusRequestError::BadRecipient));
        assert_eq!(req(&[]).validate(), Err(StatusRequestError::BadCount));
        let many: Vec<String> = (0..=MAX_STATUS_IDS)
            .map(|i| format!("msg-{i:04}"))
            .collect();
        let r = StatusRequest {
            recipient_id: R.into(),
            msg_ids: many,
        };
        assert_eq!(r.validate(), Err(StatusRequestError::BadCount));
        assert_eq!(
            req(&["short"]).validate(),
            Err(StatusRequestError::BadMsgId)
        );
        assert_eq!(
            req(&["msg-0001", "bad id!!"]).validate(),
            Err(StatusRequestError::BadMsgId)
        );
        assert_eq!(
            req(&["msg-0001", "msg-0002", "msg-0001"]).validate(),
            Err(StatusRequestError::Duplicate)
        );
    }

    #[test]
    fn wire_shape() {
        let r: StatusRequest = serde_json::from_str(&format!(
            r#"{{"recipient_id":"{R}","msg_ids":["msg-0001"]}}"#
        ))
        .unwrap();
        assert_eq!(r, req(&["msg-0001"]));
        assert!(serde_json::from_str::<StatusRequest>(&format!(
            r#"{{"recipient_id":"{R}","msg_ids":[],"x":1}}"#
        ))
        .is_err());
        let resp = StatusResponse {
            ok: true,
            statuses: vec![
                MsgStatus {
                    msg_id: "a".into(),
                    state: DeliveryState::Pending,
                },
                MsgStatus {
                    msg_id: "b".into(),
                    state: DeliveryState::Delivered,
                },
                MsgStatus {
                    msg_id: "c".into(),
                    state: DeliveryState::Unknown,
                },
            ],
        };
        let s = serde_json::to_string(&resp).unwrap();
        assert!(
            s.contains(r#""state":"pending""#)
                && s.contains(r#""state":"delivered""#)
                && s.contains(r#""state":"unknown""#),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<StatusResponse>(&s).unwrap(), resp);
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn validate_never_panics(rid in ".{0,40}", ids in proptest::collection::vec(".{0,20}", 0..120)) {
            let _ = StatusRequest { recipient_id: rid, msg_ids: ids }.validate();
        }
    }
}

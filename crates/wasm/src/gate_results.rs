//! The plain objects the gate API (src/gate.rs) returns to JavaScript; see src/results.rs.
use postern_core::gate::{self, Role};
use serde::Serialize;
use tsify_next::Tsify;
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::results::bytes;

/// A member's role in a gate epoch.
#[derive(Serialize, Tsify, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum GateRole {
    Admin,
    Member,
}

impl From<Role> for GateRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => GateRole::Admin,
            Role::Member => GateRole::Member,
        }
    }
}

/// One roster member of a gate epoch.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct GateMember {
    pub member_id: String,
    pub role: GateRole,
    /// Public identity string (`postern1.…`).
    pub public_identity: String,
}

pub type GateMemberJs = <GateMember as Tsify>::JsType;

/// A gate message opened under an epoch key; the author is authenticated against the roster.
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
pub struct OpenedGateMessage {
    gate: String,
    epoch: f64,
    member_id: String,
    role: GateRole,
    /// The author's public identity string.
    author: String,
    timestamp: f64,
    #[serde(serialize_with = "bytes")]
    #[tsify(type = "Uint8Array")]
    body: Zeroizing<Vec<u8>>,
}

pub type OpenedGateMessageJs = <OpenedGateMessage as Tsify>::JsType;

impl From<gate::OpenedGateMessage> for OpenedGateMessage {
    fn from(m: gate::OpenedGateMessage) -> Self {
        OpenedGateMessage {
            gate: m.gate.to_string(),
            epoch: m.epoch as f64,
            member_id: m.member_id,
            role: m.role.into(),
            author: m.author.to_string(),
            timestamp: m.timestamp as f64,
            body: m.body,
        }
    }
}

/// Result of `GateKeyring.receive`.
#[derive(Serialize, Tsify)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum GateReceived {
    Opened { message: OpenedGateMessage },
    Pending { epoch: f64 },
}

pub type GateReceivedJs = <GateReceived as Tsify>::JsType;

impl From<gate::Received> for GateReceived {
    fn from(r: gate::Received) -> Self {
        match r {
            gate::Received::Opened(m) => GateReceived::Opened {
                message: (*m).into(),
            },
            gate::Received::Pending { epoch } => GateReceived::Pending {
                epoch: epoch as f64,
            },
        }
    }
}

/// A queued message processed when its epoch key arrived (`GateKeyring.addChain`).
#[derive(Serialize, Tsify)]
#[serde(rename_all = "camelCase")]
#[tsify(missing_as_null)]
pub struct GateDrained {
    /// The sealed message (gate_message payload JSON).
    pub message_json: String,
    pub opened: Option<OpenedGateMessage>,
    /// Error (with `code`) when it could not be opened.
    #[serde(with = "serde_wasm_bindgen::preserve")]
    #[tsify(type = "Error | null")]
    pub error: JsValue,
}

pub type GateDrainedJs = <GateDrained as Tsify>::JsType;

//! Plain-object helpers and the TypeScript shapes of the objects this crate returns.
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_SHAPES: &str = r#"
/** A DM opened by `Identity.openDm`; the sender is authenticated. */
export interface OpenedDm {
  /** The sender's public identity string (`postern1.…`). */
  sender: string;
  msgId: string;
  /** Seconds since the Unix epoch, as signed by the sender. */
  timestamp: number;
  body: Uint8Array;
}

/** First failure found by `verifyChain`. `reason` is core's stable snake_case `FailReason`. */
export interface ChainFailure {
  index: number;
  eventId: string;
  reason: string;
  detail: string;
}

/** Result of `verifyChain` (core's `ChainReport`). */
export interface ChainReport {
  valid: boolean;
  count: number;
  /** Event id of the last event when valid, else null. */
  head: string | null;
  /** Infonet Merkle root over all event ids when valid, else null. */
  merkleRoot: string | null;
  error: ChainFailure | null;
}

/** One roster member of a gate epoch. */
export interface GateMember {
  memberId: string;
  role: "admin" | "member";
  /** Public identity string (`postern1.…`). */
  publicIdentity: string;
}

/** A gate message opened under an epoch key; the author is authenticated against the roster. */
export interface OpenedGateMessage {
  gate: string;
  epoch: number;
  memberId: string;
  role: "admin" | "member";
  /** The author's public identity string. */
  author: string;
  timestamp: number;
  body: Uint8Array;
}

/** Result of `GateKeyring.receive`. */
export type GateReceived =
  | { status: "opened"; message: OpenedGateMessage }
  | { status: "pending"; epoch: number };

/** A queued message processed when its epoch key arrived (`GateKeyring.addChain`). */
export interface GateDrained {
  /** The sealed message (gate_message payload JSON). */
  messageJson: string;
  opened: OpenedGateMessage | null;
  /** Error (with `code`) when it could not be opened. */
  error: Error | null;
}

/** One step of an Infonet Merkle proof. */
export interface MerkleProofStep {
  hash: string;
  side: "left" | "right";
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "OpenedDm")]
    pub type OpenedDmJs;
    #[wasm_bindgen(typescript_type = "ChainReport")]
    pub type ChainReportJs;
    #[wasm_bindgen(typescript_type = "GateMember[]")]
    pub type GateMembersJs;
    #[wasm_bindgen(typescript_type = "OpenedGateMessage")]
    pub type OpenedGateMessageJs;
    #[wasm_bindgen(typescript_type = "GateReceived")]
    pub type GateReceivedJs;
    #[wasm_bindgen(typescript_type = "GateDrained[]")]
    pub type GateDrainedJs;
    #[wasm_bindgen(typescript_type = "MerkleProofStep[]")]
    pub type MerkleProofJs;
}

/// Builder for a plain JS object.
pub struct Obj(pub js_sys::Object);

impl Obj {
    pub fn new() -> Self {
        Obj(js_sys::Object::new())
    }

    pub fn set(self, key: &str, value: impl Into<JsValue>) -> Self {
        // Defining a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    pub fn into_js<T: JsCast>(self) -> T {
        self.0.unchecked_into()
    }
}

/// `string | null`.
pub fn opt_str(s: Option<&str>) -> JsValue {
    s.map(JsValue::from_str).unwrap_or(JsValue::NULL)
}

/// Copy bytes out of wasm memory into a fresh `Uint8Array` (one copy, no intermediate `Vec`).
pub fn bytes(b: &[u8]) -> js_sys::Uint8Array {
    js_sys::Uint8Array::from(b)
}

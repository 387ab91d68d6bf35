//! Identities and direct messages (`postern-dm/1`).
use postern_core::dm::{self, DmEnvelope};
use postern_core::identity::{Identity as CoreIdentity, PublicIdentity};
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

use crate::error::{dm_error, identity_error, js_error, to_u64};
use crate::results::{to_js, OpenedDm, OpenedDmJs};

/// A secret Postern identity (Ed25519 signing key + X25519 DH key) held inside wasm memory and
/// zeroized when freed. JS only ever sees the handle.
#[wasm_bindgen]
pub struct Identity {
    pub(crate) inner: CoreIdentity,
}

#[wasm_bindgen]
impl Identity {
    /// Generate a new identity from `crypto.getRandomValues`.
    #[wasm_bindgen]
    pub fn generate() -> Identity {
        Identity {
            inner: CoreIdentity::generate(&mut OsRng),
        }
    }

    /// Import a `postern-secret1.…` export. Throws `identity_invalid`.
    #[wasm_bindgen(js_name = importSecret)]
    pub fn import_secret(secret: &str) -> Result<Identity, JsValue> {
        CoreIdentity::import_secret(secret)
            .map(|inner| Identity { inner })
            .map_err(identity_error)
    }

    /// Export the secret keys (`postern-secret1.…`). Handle with care.
    #[wasm_bindgen(js_name = exportSecret)]
    pub fn export_secret(&self) -> String {
        self.inner.export_secret().to_string()
    }

    /// The node id (`!sb_` + 32 hex characters).
    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> String {
        self.inner.node_id()
    }

    /// The public identity string (`postern2.<node_id>.<ed25519>.<x25519>.<binding>`) to give
    /// to contacts and to add to gate rosters.
    #[wasm_bindgen(getter, js_name = publicIdentity)]
    pub fn public_identity(&self) -> String {
        self.inner.public().to_string()
    }

    /// Seal `body` (at most 3955 bytes) to `recipient` (a public identity string) as a
    /// `postern-dm/1` envelope. `timestamp` is UNIX seconds. Returns the envelope as JSON text.
    /// Throws `identity_invalid`, `dm_body_too_large`, `invalid_argument`.
    #[wasm_bindgen(js_name = sealDm)]
    pub fn seal_dm(&self, recipient: &str, body: &[u8], timestamp: f64) -> Result<String, JsValue> {
        let to: PublicIdentity = recipient.parse().map_err(identity_error)?;
        let timestamp = to_u64(timestamp.floor(), "timestamp")?;
        let msg_id = dm::new_msg_id(&mut OsRng);
        let env =
            dm::seal(&self.inner, &to, body, &msg_id, timestamp, &mut OsRng).map_err(dm_error)?;
        serde_json::to_string(&env).map_err(|e| js_error("internal", e))
    }

    /// Open an envelope (JSON text) addressed to this identity; the sender is authenticated.
    /// Throws `dm_envelope_invalid`, `dm_wrong_recipient`, `dm_decrypt`, `dm_bad_signature`, ….
    #[wasm_bindgen(js_name = openDm)]
    pub fn open_dm(&self, envelope_json: &str) -> Result<OpenedDmJs, JsValue> {
        let env: DmEnvelope =
            serde_json::from_str(envelope_json).map_err(|e| js_error("dm_envelope_invalid", e))?;
        let opened = dm::open(&self.inner, &env).map_err(dm_error)?;
        to_js(&OpenedDm::from(opened))
    }
}

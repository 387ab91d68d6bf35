//! postern-wasm: JavaScript bindings over postern-core.
//!
//! Errors are thrown as JS `Error`s whose `code` property is a stable string.
#![forbid(unsafe_code)]
use postern_core::dm::{self, DmEnvelope};
use postern_core::identity::{Identity as CoreIdentity, PublicIdentity};
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

fn js_error(code: &str, message: impl std::fmt::Display) -> JsValue {
    let err = js_sys::Error::new(&message.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

/// A secret identity held inside wasm memory (zeroized when freed).
#[wasm_bindgen]
pub struct Identity {
    inner: CoreIdentity,
}

#[wasm_bindgen]
impl Identity {
    /// Generate a new identity from `crypto.getRandomValues`.
    #[wasm_bindgen]
    pub fn generate() -> Identity {
        Identity { inner: CoreIdentity::generate(&mut OsRng) }
    }

    /// Import a `postern-secret1.…` export.
    #[wasm_bindgen(js_name = importSecret)]
    pub fn import_secret(secret: &str) -> Result<Identity, JsValue> {
        CoreIdentity::import_secret(secret)
            .map(|inner| Identity { inner })
            .map_err(|e| js_error("identity_invalid", e))
    }

    /// Export the secret keys (`postern-secret1.…`). Handle with care.
    #[wasm_bindgen(js_name = exportSecret)]
    pub fn export_secret(&self) -> String {
        self.inner.export_secret().to_string()
    }

    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> String {
        self.inner.node_id()
    }

    /// The public identity string to give to contacts.
    #[wasm_bindgen(getter, js_name = publicIdentity)]
    pub fn public_identity(&self) -> String {
        self.inner.public().to_string()
    }

    /// Seal `body` to `recipient` (a public identity string). Returns the envelope as JSON text.
    #[wasm_bindgen(js_name = sealDm)]
    pub fn seal_dm(&self, recipient: &str, body: &[u8], timestamp: f64) -> Result<String, JsValue> {
        let to: PublicIdentity = recipient.parse().map_err(|e| js_error("identity_invalid", e))?;
        let msg_id = dm::new_msg_id(&mut OsRng);
        let env = dm::seal(&self.inner, &to, body, &msg_id, timestamp.max(0.0) as u64, &mut OsRng)
            .map_err(|e| js_error("dm_seal_failed", e))?;
        serde_json::to_string(&env).map_err(|e| js_error("internal", e))
    }

    /// Open an envelope (JSON text). Returns `{sender, msgId, timestamp, body}`.
    #[wasm_bindgen(js_name = openDm)]
    pub fn open_dm(&self, envelope_json: &str) -> Result<OpenedDm, JsValue> {
        let env: DmEnvelope =
            serde_json::from_str(envelope_json).map_err(|e| js_error("dm_envelope_invalid", e))?;
        let opened = dm::open(&self.inner, &env).map_err(|e| js_error("dm_open_failed", e))?;
        Ok(OpenedDm {
            sender: opened.sender.to_string(),
            msg_id: opened.msg_id.clone(),
            timestamp: opened.timestamp as f64,
            body: opened.body.to_vec(),
        })
    }
}

/// An opened, sender-authenticated DM.
#[wasm_bindgen(getter_with_clone)]
pub struct OpenedDm {
    /// The sender's public identity string.
    pub sender: String,
    #[wasm_bindgen(js_name = msgId)]
    pub msg_id: String,
    pub timestamp: f64,
    pub body: Vec<u8>,
}

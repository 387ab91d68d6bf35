//! HTTP request/response types shared by the relay (server) and the app (client).
pub mod dm;
pub mod gate;
pub mod heads;
pub mod infonet;
pub mod peer;

use serde::{Deserialize, Serialize};

/// Body of every error response: `{ok:false, code, detail}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub ok: bool,
    /// Stable machine-readable code (see [`codes`]).
    pub code: String,
    /// Human-readable explanation.
    pub detail: String,
}

impl ErrorBody {
    pub fn new(code: &str, detail: impl Into<String>) -> Self {
        ErrorBody {
            ok: false,
            code: code.to_string(),
            detail: detail.into(),
        }
    }
}

/// Stable error codes.
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const REPLAYED_NONCE: &str = "replayed_nonce";
    pub const NOT_FOUND: &str = "not_found";
    pub const RECIPIENT_UNKNOWN: &str = "recipient_unknown";
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const MAILBOX_FULL: &str = "mailbox_full";
    pub const SENDER_CAP_REACHED: &str = "sender_cap_reached";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const REQUEST_TIMEOUT: &str = "request_timeout";
    pub const INTERNAL: &str = "internal";
}

pub const PATH_HEALTH: &str = "/api/health";

/// `GET /api/health`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    pub ok: bool,
    pub version: String,
}

/// Largest request body a relay accepts on the DM endpoints.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

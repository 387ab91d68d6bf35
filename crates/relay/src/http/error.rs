//! The HTTP error of the relay, `{ok:false, code, detail}` (a sync refusal with Shadowbroker's
//! members beside them), and the one place where every domain refusal (DM, gate, chain, sync,
//! storage, authentication, extractor rejections) is given its HTTP status and code.
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_core::api::gate::{codes as gcodes, peer_codes};
use postern_core::api::infonet::{codes as icodes, ErrorResponse};
use postern_core::api::peer::codes as pcodes;
use postern_core::api::{codes, ErrorBody, MAX_BODY_BYTES};
use postern_core::auth::AuthError;
use postern_core::gate::{ChainError, GateCapError};

use crate::service::chain::{Refusal, RefusalKind};
use crate::service::dm::DmError;
use crate::service::gate::GateFailure;
use crate::service::push_commit::Busy;
use crate::service::Internal;

/// An error answered as `{ok:false, code, detail}` with a 4xx (or 500 `internal`) status;
/// only the sync refusals (409, 426) add members (core's [`ErrorResponse`]).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    /// Boxed: the optional members would make every handler's `Result` large.
    body: Box<ErrorResponse>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorResponse::plain(ErrorBody::new(code, detail))),
        }
    }

    pub fn code(&self) -> &str {
        &self.body.error.code
    }

    /// 409 `head_mismatch`: a sync request's `expected_head` is not this relay's `head`
    /// (Shadowbroker's `head_hash` and `expected_head` beside Postern's members).
    pub fn head_mismatch(head: &str, expected: &str) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            body: Box::new(ErrorResponse::head_mismatch(head, expected)),
        }
    }

    /// 426 `unsupported_protocol_version`: a sync request for another protocol (Shadowbroker's
    /// `protocol_version`, the one this relay speaks, beside Postern's members).
    pub fn unsupported_protocol() -> Self {
        ApiError {
            status: StatusCode::UPGRADE_REQUIRED,
            body: Box::new(ErrorResponse::unsupported_protocol()),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, detail)
    }

    /// The body is JSON but not of the expected shape.
    pub fn wrong_shape(e: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::BAD_REQUEST,
            format!("request body does not match the expected shape: {e}"),
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint")
    }

    pub fn method_not_allowed(detail: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            detail,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal storage error",
        )
    }

    fn replayed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            codes::REPLAYED_NONCE,
            "this request nonce was already used; sign a fresh request",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

impl From<Internal> for ApiError {
    fn from(_: Internal) -> Self {
        ApiError::internal()
    }
}

impl From<Busy> for ApiError {
    fn from(e: Busy) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            pcodes::PEER_BUSY,
            e.to_string(),
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, e.to_string())
    }
}

impl From<DmError> for ApiError {
    fn from(e: DmError) -> Self {
        match e {
            DmError::BadRequest(d) => ApiError::bad_request(d),
            DmError::Replayed => ApiError::replayed(),
            DmError::RecipientUnknown => ApiError::new(
                StatusCode::NOT_FOUND,
                codes::RECIPIENT_UNKNOWN,
                e.to_string(),
            ),
            DmError::Cap(cap) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, cap.code(), cap.to_string())
            }
            DmError::Expired => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                pcodes::EXPIRED,
                e.to_string(),
            ),
            DmError::AckRefused { code, detail } => {
                let status = if code == codes::BAD_REQUEST {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::FORBIDDEN
                };
                ApiError::new(status, code, detail)
            }
            DmError::Internal(i) => i.into(),
        }
    }
}

impl From<GateFailure> for ApiError {
    fn from(e: GateFailure) -> Self {
        let detail = e.to_string();
        let (status, code) = match &e {
            GateFailure::BadRequest(_) => (StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
            GateFailure::Epoch(ChainError::ReplayedEpoch { .. }) => {
                (StatusCode::CONFLICT, gcodes::REPLAYED_EPOCH)
            }
            GateFailure::Epoch(ChainError::ForkedEpoch { .. }) => {
                (StatusCode::CONFLICT, gcodes::FORKED_EPOCH)
            }
            GateFailure::Epoch(_) => (StatusCode::UNPROCESSABLE_ENTITY, gcodes::INVALID_EPOCH),
            GateFailure::Cap(cap) => {
                let status = match cap {
                    GateCapError::TooManyMembers { .. } => StatusCode::BAD_REQUEST,
                    GateCapError::TooManyEpochs { .. } | GateCapError::TooManyGates { .. } => {
                        StatusCode::CONFLICT
                    }
                };
                (status, cap.code())
            }
            GateFailure::InvalidMessage(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, gcodes::INVALID_MESSAGE)
            }
            GateFailure::MessageTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, icodes::PAYLOAD_TOO_LARGE)
            }
            GateFailure::UnknownGate => (StatusCode::NOT_FOUND, gcodes::UNKNOWN_GATE),
            GateFailure::UnknownEpoch { .. } => (StatusCode::CONFLICT, gcodes::UNKNOWN_EPOCH),
            GateFailure::StaleEpoch { .. } => (StatusCode::CONFLICT, gcodes::STALE_EPOCH),
            GateFailure::NotAMember => (StatusCode::FORBIDDEN, gcodes::NOT_A_MEMBER),
            GateFailure::Replayed => return ApiError::replayed(),
            GateFailure::OneItem => (StatusCode::BAD_REQUEST, peer_codes::ONE_ITEM),
            GateFailure::ParkingFull => (StatusCode::SERVICE_UNAVAILABLE, peer_codes::PARKING_FULL),
            GateFailure::Internal(_) => return ApiError::internal(),
        };
        ApiError::new(status, code, detail)
    }
}

/// The HTTP status of a chain refusal.
pub fn refusal_status(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        RefusalKind::SpoolFull => StatusCode::TOO_MANY_REQUESTS,
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(refusal_status(r.kind), r.code, r.detail)
    }
}

/// Map a status from an extractor rejection to a stable code.
fn rejection(status: StatusCode, detail: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        _ => codes::BAD_REQUEST,
    };
    // Anything else an extractor can produce is the client's fault: keep it a 4xx.
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body exceeds {MAX_BODY_BYTES} bytes")
    } else {
        detail
    };
    ApiError::new(status, code, detail)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

//! Request handlers, one file per resource: parse the request, call the service, map the
//! answer. Rules live in the services and core; HTTP statuses of refusals in `http::error`.
use postern_core::api::HealthResponse;

use crate::http::extract::ApiJson;

pub mod dm;
pub mod gate;
pub mod heads;
pub mod infonet;
pub mod peer;

/// `GET /api/health`.
pub async fn health() -> ApiJson<HealthResponse> {
    ApiJson(HealthResponse {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

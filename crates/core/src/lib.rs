//! postern-core: the single source of truth for Postern's protocol rules.
//!
//! Sans-IO: every function takes bytes/values (plus an injected clock or RNG where needed) and
//! returns values or typed errors. No async, no networking, no web-sys. Builds for native targets
//! and for `wasm32-unknown-unknown`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod canonical;
pub mod chaingen;
pub mod cli;
pub mod event;
pub mod json;
pub mod merkle;
pub mod rfc9162;
pub mod schema;
pub mod signature;
pub mod sync;
pub mod verify;

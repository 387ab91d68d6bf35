//! postern-core: the single source of truth for Postern's protocol rules.
//!
//! Sans-IO: every function takes bytes/values (plus an injected clock or RNG where needed) and
//! returns values or typed errors. No async, no networking, no web-sys. Builds for native targets
//! and for `wasm32-unknown-unknown`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod auth;
pub mod b64;
pub mod caps;
pub mod dm;
pub mod gate;
pub mod identity;
pub mod labels;
pub mod pad;

pub use identity::{Identity, PublicIdentity};

//! Postern reference relay: the DM spool and the Infonet chain over HTTP (axum), backed by SQLite.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod chain;
pub mod dm_pull;
pub mod gate;
pub mod gate_peer;
pub mod infonet;
pub mod metrics;
pub mod peer;
pub mod ratelimit;
pub mod serve;
pub mod server;
pub mod store;
pub mod sync;

//! Postern reference relay: the DM spool over HTTP (axum) backed by SQLite.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod serve;
pub mod server;
pub mod store;

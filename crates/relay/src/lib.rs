//! Postern reference relay: the DM spool, private gates and the Infonet chain over HTTP (axum),
//! backed by SQLite, replicated between relays.
//!
//! Dependencies run one way: [`cli`] → [`http`] → [`handlers`] → [`service`] → [`store`];
//! [`replication`] (background workers) → [`service`] → [`store`]. [`clock`], [`metrics`] and
//! [`ratelimit`] are leaves.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod cli;
pub mod clock;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod ratelimit;
pub mod replication;
pub mod service;
pub mod store;

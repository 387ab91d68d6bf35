//! postern-core: the single source of truth for Postern's protocol rules.
//!
//! Sans-IO: every function takes bytes/values (plus an injected clock or RNG where needed) and
//! returns values or typed errors. No async, no networking, no web-sys. Builds for native targets
//! and for `wasm32-unknown-unknown`.
//!
//! Infonet/2 (Shadowbroker's signed event chain):
//! * [`json`] — exact JSON values (big ints, Python float repr), canonical rendering;
//! * [`canonical`] — payload normalisation, signed string, event id, node-id binding;
//! * [`event`] — [`event::ChainEvent`] and [`event::sign_event`];
//! * [`signature`] — Ed25519 (strict, batch-safe) and ECDSA P-256 verification;
//! * [`parallel`] — chain verification on several threads (native only); `chain_input` —
//!   `verify-chain` input parsed on several threads (native only);
//! * [`strict_batch`] — Ed25519 batch verification with `verify_strict`'s verdicts;
//! * [`schema`] — payload rules shared by relay and browser;
//! * [`verify`] — event/chain verification, locators, fork matching;
//! * [`public_view`] — the public view of the one chain (private events as link-only stubs);
//! * [`append`] — the reference's append order (normalise, then validate); [`pynum`] — Python
//!   `float()`/`int()` text rules; [`decfloat`] — decimal text → `f64` (std's result, smaller);
//! * [`channels`] — public channel timelines and the signed public post;
//! * [`merkle`] — the Infonet Merkle tree; [`rfc9162`] — RFC 9162 log proofs;
//! * [`fork`] — the fork rule (which branch wins, re-linking pending events);
//!   [`tree_head`] — relays' signed tree heads; [`head_pin`] — consistency pins and evidence;
//! * [`sync`] — sync scheduling; [`api`] — relay endpoint types; [`cli`] — `postern` subcommands;
//! * `chaingen` — deterministic valid-chain generator for tests and benches (feature `test-utils`).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod append;
pub mod auth;
pub mod b64;
pub mod canonical;
pub mod caps;
#[cfg(not(target_arch = "wasm32"))]
pub mod chain_input;
#[cfg(any(test, feature = "test-utils"))]
pub mod chaingen;
pub mod channels;
pub mod cli;
pub mod decfloat;
pub mod dm;
pub mod event;
pub mod fork;
pub mod gate;
pub mod head_pin;
pub mod identity;
pub mod ids;
pub mod json;
pub mod labels;
pub mod merkle;
pub mod pad;
#[cfg(not(target_arch = "wasm32"))]
pub mod parallel;
pub mod peer;
pub mod public_view;
pub mod pynum;
pub mod rfc9162;
pub mod safety;
pub mod schema;
pub mod signature;
pub mod strict_batch;
pub mod sync;
pub mod tree_head;
pub mod verify;
mod wire;

pub use channels::{build_post, request_statement, Board, Channel, ChannelPost};
pub use event::{sign_event, ChainEvent};
pub use fork::Statement;
pub use identity::{Identity, PublicIdentity};
pub use ids::{IdError, MsgId, NodeId};
pub use verify::{verify_chain, verify_event, ChainReport, FailReason, VerifyOptions};
pub mod backup;
pub mod lock;
pub mod vault;

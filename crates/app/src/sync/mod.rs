//! Infonet chain sync view: pages the relay's public chain into IndexedDB, verifies it with
//! core in a Web Worker running the lazily loaded `postern-worker` module, and lets you explore the events. The
//! pure part (worker protocol, ingest, meter, badge) is `model::chain`.
pub mod explorer;
mod fetch;
mod heads;
mod msg;
pub mod peers;
mod resume;
mod round;
pub mod view;
pub mod worker;

pub use view::{SyncSummary, SyncView};

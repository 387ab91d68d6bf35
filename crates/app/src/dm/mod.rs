//! Direct messaging: [`state`] (the `DmState` reducer, split by concern into `inbox`, `outbox`,
//! `scan` and `tabs`), [`effects`] (IndexedDB and relay I/O answering with actions) and [`view`].
mod inbox;
mod outbox;
pub mod safety;
mod scan;
mod tabs;

pub mod effects;
pub mod state;
pub mod view;

pub use state::{Action, DmState, Effect, Env};

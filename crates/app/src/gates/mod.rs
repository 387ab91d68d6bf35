//! Private gates: [`state`] (the `GatesState` reducer; background rounds in `rounds`),
//! [`effects`] (IndexedDB + signed relay I/O answering with actions), [`view`] (sidebar forms,
//! invitations and the conversation pane) and [`drawer`] (details). The root component runs
//! the reducer with the session's storage, identity and leadership; only the leader tab syncs
//! gates and drains the gate outbox, the others forward work over the tabs channel.
mod rounds;

pub mod drawer;
pub mod effects;
pub mod state;
pub mod view;

pub use state::{Action, Effect, Env, GatesState};

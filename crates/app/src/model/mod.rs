//! Pure model of the app (no web-sys, no wasm-bindgen): contacts, messages, delivery rules,
//! gates, tab roles, the passphrase lock, chain sync and its explorer detail, and the wording
//! shown to people. Builds on every target and is
//! tested natively (`cargo test -p postern-app`); every protocol rule is `postern_core`'s.
pub mod chain;
pub mod channels;
pub mod contacts;
pub mod delivery;
pub mod explore;
pub mod gate_pin;
pub mod gate_stream;
pub mod gates;
pub mod heads;
pub mod lock;
pub mod messages;
pub mod offload;
pub mod qr;
pub mod relay_error;
pub mod route;
pub mod safety;
pub mod sort;
pub mod tabs;
pub mod wording;

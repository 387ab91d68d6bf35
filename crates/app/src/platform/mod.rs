//! The browser platform: IndexedDB, the store key at rest, the relay HTTP client, multi-tab
//! lock and channel, DOM helpers, the camera, the clock and the lazily loaded worker module.
//! Depends on `model`, never on the UI.
pub mod camera;
pub mod clock;
pub mod dom;
pub mod hooks;
pub mod idb;
pub mod keystore;
pub mod relay_client;
pub mod route;
pub mod tabs;
pub mod worker;

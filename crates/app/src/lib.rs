//! Postern's browser UI (Yew). Wasm-only: on native targets this library is empty so that
//! `cargo test --workspace` still builds.
#![cfg(target_arch = "wasm32")]

pub mod app;
pub mod gates;
pub mod keystore;
pub mod logic;
pub mod relay;
pub mod settings;
pub mod storage;
pub mod sync;
pub mod tabs;

/// Mount the app on `<body>`. In the chain verification worker (same wasm module, no
/// `window`) this does nothing: the worker only calls `sync::worker::sync_worker_handle`.
pub fn run() {
    if web_sys::window().is_none() {
        return;
    }
    yew::Renderer::<app::App>::new().render();
}

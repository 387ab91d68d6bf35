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

/// Mount the app on `<body>`.
pub fn run() {
    yew::Renderer::<app::App>::new().render();
}

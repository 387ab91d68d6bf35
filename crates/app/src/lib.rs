//! Postern's browser UI (Yew). `model` (pure rules and wording) builds on every target and is
//! tested natively; the UI (`app` and its page frame `shell`, `channels`, `dm`, `gates`, `lock`,
//! `settings`, `sync`, the QR components `qr`), the shared `session`, one spawn path `task` and
//! the browser `platform` are wasm32 only. Dependencies run one way: views → state ← effects →
//! platform → model; a reducer (`state`) imports only `model` and core.
pub mod model;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod channels;
#[cfg(target_arch = "wasm32")]
pub mod dm;
#[cfg(target_arch = "wasm32")]
pub mod gates;
#[cfg(target_arch = "wasm32")]
pub mod lock;
#[cfg(target_arch = "wasm32")]
pub mod platform;
#[cfg(target_arch = "wasm32")]
pub mod qr;
#[cfg(target_arch = "wasm32")]
pub mod session;
#[cfg(target_arch = "wasm32")]
pub mod settings;
#[cfg(target_arch = "wasm32")]
pub mod shell;
#[cfg(target_arch = "wasm32")]
pub mod sync;
#[cfg(target_arch = "wasm32")]
pub mod task;

/// Mount the app on `<body>` (nothing without a `window`). The chain verifier and Argon2id run
/// in the second binary, `postern-worker` (`src/worker_main.rs`), loaded only when used.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    if web_sys::window().is_none() {
        return;
    }
    yew::Renderer::<app::App>::new().render();
}
